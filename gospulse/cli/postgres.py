"""`gospulse publish-postgres`: the Postgres half of serving."""

from __future__ import annotations

import argparse


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `publish-postgres` on the gospulse command's subparsers."""
    p = subparsers.add_parser(
        "publish-postgres",
        help="copy the published marts to Postgres (GOSPULSE_PG_*) and swap them in",
    )
    p.set_defaults(func=cmd_publish_postgres)


def cmd_publish_postgres(args: argparse.Namespace) -> int:
    """Publish the current published copy's marts; a PublishError is cli.main's error line."""
    from gospulse.raw.warehouse import warehouse_path
    from gospulse.serving.layout import published_path
    from gospulse.serving.postgres import PgConfig, publish_to_postgres

    result = publish_to_postgres(published_path(warehouse_path()), PgConfig.from_env())
    print(result.describe())
    return 0
