"""`gospulse telegram login`, `demo` and `settings`."""

from __future__ import annotations

import argparse
import sys

from gospulse.config import settings


def cmd_telegram_login(args: argparse.Namespace) -> int:

    from extractors.telegram.login import create_session_string

    api_id = args.api_id or settings.read("TG_API_ID")
    api_hash = settings.read("TG_API_HASH")
    if not api_id or not api_hash:
        print("set TG_API_ID and TG_API_HASH (from my.telegram.org) first", file=sys.stderr)
        return 2
    session = create_session_string(int(api_id), api_hash, args.phone)
    print(
        "Telegram session created. Store it as TG_SESSION or in the `telegram` Airflow "
        'connection\'s extra {"session": ...}; it grants access to the account, keep it secret:',
        file=sys.stderr,
    )
    print(session)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import importlib

    # the demo and the emulators live beside the package, in a source checkout: not in the
    # wheel, and never imported by gospulse but here
    try:
        demo = importlib.import_module("demo.run")
    except ModuleNotFoundError as missing:
        if missing.name not in ("demo", "emulators"):
            raise
        print(
            "error: `gospulse demo` runs from a source checkout of gospulse (the demo and the "
            "network emulators are not part of the installed package)",
            file=sys.stderr,
        )
        return 2
    return demo.run_demo(days=args.days, with_airflow=not args.skip_airflow)


def cmd_settings(args: argparse.Namespace) -> int:
    if args.markdown:
        print(settings.markdown(), end="")
        return 0
    for name, value in settings.described():
        print(f"{name}={value}")
    found = settings.problems()
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register this group's commands on the gospulse command's subparsers."""
    tg = sub.add_parser("telegram", help="Telegram commands").add_subparsers(
        dest="telegram_command", required=True
    )
    p = tg.add_parser("login", help="log in once and print a session string for TG_SESSION")
    p.add_argument("--api-id", help="api_id from my.telegram.org (default: TG_API_ID)")
    p.add_argument("--phone", help="the account's phone number (asked when omitted)")
    p.set_defaults(func=cmd_telegram_login)

    p = sub.add_parser("demo", help="a simulated region end to end (emulated VK, Telegram, OK)")
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--skip-airflow", action="store_true", help="do not run the Airflow DAG")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("settings", help="check the settings set in the environment and list them")
    p.add_argument(
        "--markdown", action="store_true", help="print docs/configuration.md from the table"
    )
    p.set_defaults(func=cmd_settings)
