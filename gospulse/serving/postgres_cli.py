"""`gospulse publish-postgres`: the Postgres half of serving, for cli.py to register.

from gospulse.serving import postgres_cli
postgres_cli.add_commands(sub)
"""

from __future__ import annotations

import argparse
import sys
from datetime import date


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `publish-postgres` on the gospulse command's subparsers."""
    p = subparsers.add_parser(
        "publish-postgres",
        help="copy raw to Postgres (GOSPULSE_PG_*), build the marts there and swap them in",
    )
    p.add_argument(
        "--date",
        type=date.fromisoformat,
        help="gate this snapshot date of raw.page_snapshots on Postgres before building",
    )
    p.set_defaults(func=cmd_publish_postgres)


def cmd_publish_postgres(args: argparse.Namespace) -> int:
    """Publish the warehouse's marts to Postgres; a PublishError is cli.main's error line."""
    from gospulse.serving.postgres import PgConfig, publish_to_postgres
    from gospulse.warehouse import warehouse_path

    config = PgConfig.from_env()
    result = publish_to_postgres(warehouse_path(), config, snapshot_date=args.date)
    print(result.describe())
    for network, gate in sorted(result.gate.items()):
        print(f"  {network}: {gate.describe()}", file=sys.stderr)
    return 0
