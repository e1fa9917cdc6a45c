"""The `gospulse` command: every pipeline step without Airflow, one module per command group.

Each group module registers its commands with `add_commands(subparsers)`: `pipeline` (the
steps, run by hand), `analysts` (report, top, incidents), `postgres`, `api`, `federal`,
`airflow` (set-up), `population` (territories' population) and `tools` (Telegram login, the
demo, settings). Beside them, deploy_init is the docker compose deployment's one-off set-up
step (`python -m gospulse.cli.deploy_init`). This package is the outermost layer: it may import
any part of gospulse, and nothing in gospulse imports it.
"""

from __future__ import annotations

import argparse
import logging
import sys

from gospulse.config import settings
from gospulse.registry.pages import RegistryFileError

DESCRIPTION = "The `gospulse` command: every pipeline step without Airflow."


def build_parser() -> argparse.ArgumentParser:
    from gospulse.cli import airflow, analysts, api, federal, pipeline, population, postgres, tools

    parser = argparse.ArgumentParser(prog="gospulse", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (pipeline, analysts, tools, postgres, api, federal, airflow, population):
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from gospulse.cli import tools

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.func is not tools.cmd_settings:  # which reports the bad values itself
            settings.check()
        return args.func(args)
    except settings.SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RegistryFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 — one clear line for users; -v shows the trace
        if args.verbose:
            raise
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
