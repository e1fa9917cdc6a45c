"""`gospulse airflow pools`: Airflow's set-up, run after `airflow db migrate`."""

from __future__ import annotations

import argparse

from gospulse.orchestration.pools import sync_pools


def cmd_pools(args: argparse.Namespace) -> int:
    for spec in sync_pools():
        print(f"{spec.name}\t{spec.slots}\t{spec.description}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """`gospulse airflow pools`."""
    group = sub.add_parser("airflow", help="Airflow set-up commands").add_subparsers(
        dest="airflow_command", required=True
    )
    p = group.add_parser("pools", help="create/update every pool the DAGs need (idempotent)")
    p.set_defaults(func=cmd_pools)
