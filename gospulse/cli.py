"""The `gospulse` command: every pipeline step without Airflow."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from gospulse.registry import RegistryFileError, registry_paths, validate_registry
from gospulse.spreadsheet import write_csv, write_excel_csv


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def cmd_registry_validate(args: argparse.Namespace) -> int:
    bad = 0
    for path in registry_paths(args.path):
        result = validate_registry(path)
        for err in result.errors:
            print(f"{path}:{err.line}: {err.reason}")
        bad += len(result.errors)
        print(
            f"{path}: {len(result.pages)} valid pages, {len(result.errors)} bad rows",
            file=sys.stderr,
        )
    return 1 if bad else 0


def cmd_extract(args: argparse.Namespace) -> int:
    from gospulse.networks import NETWORK_NAMES, NetworkConfigError, extractor_for, parse_networks
    from gospulse.pipeline import extract_network, read_registry
    from gospulse.warehouse import warehouse_path

    try:
        networks = parse_networks(args.networks)
    except NetworkConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    registry = read_registry(args.registry)
    if registry.errors:
        print(
            f"registry: {len(registry.errors)} bad rows skipped (see `gospulse registry validate`)",
            file=sys.stderr,
        )
    failed = []
    for network in networks:
        if not any(p.network == network for p in registry.pages):
            print(f"{network}: no pages registered, skipped")
            continue
        # one network's outage or missing credentials is reported; the others still run
        try:
            extractor = extractor_for(network)
            try:
                summary = extract_network(
                    network,
                    args.date,
                    registry=registry,
                    warehouse=warehouse_path(),
                    extractor=extractor,
                )
            finally:
                extractor.close()
        except Exception as exc:  # noqa: BLE001 — reported with the network's name, exit 1
            print(f"{network}: {NETWORK_NAMES[network]} extraction failed: {exc}", file=sys.stderr)
            failed.append(network)
            continue
        print(summary.describe())
        if summary.status in ("failed", "rejected"):
            failed.append(network)
    return 1 if failed else 0


def cmd_incidents(args: argparse.Namespace) -> int:
    from gospulse.alerts import load_incidents
    from gospulse.warehouse import warehouse_path

    incidents = load_incidents(warehouse_path(), open_only=args.open, since=args.since)
    if args.format == "json":
        from dataclasses import asdict

        rows = [{**asdict(i), "key": i.key} for i in incidents]
        print(json.dumps(rows, ensure_ascii=False, default=str, indent=2))
        return 0
    for incident in incidents:
        print(f"{incident.status:<6} {incident.line()}")
    print(
        f"{len(incidents)} incidents"
        + (" open" if args.open else "")
        + (f" seen since {args.since}" if args.since else ""),
        file=sys.stderr,
    )
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from gospulse.transform import generate_docs
    from gospulse.warehouse import warehouse_path

    target = generate_docs(warehouse_path())
    print(f"dbt docs written to {target} (open index.html)")
    return 0


def cmd_dbt_manifest(args: argparse.Namespace) -> int:
    from gospulse.dbt_manifest import manifest_nodes, write_manifest

    path = write_manifest(Path(args.output) if args.output else None)
    print(f"dbt manifest written to {path} ({len(manifest_nodes(path))} models and snapshots)")
    return 0


def cmd_telegram_login(args: argparse.Namespace) -> int:
    import os

    from extractors.telegram.login import create_session_string

    api_id = args.api_id or os.environ.get("TG_API_ID")
    api_hash = os.environ.get("TG_API_HASH")
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


def cmd_audience(args: argparse.Namespace) -> int:
    from gospulse.audience.collect import collect_vk_audience
    from gospulse.audience.sketches import hasher_from_env
    from gospulse.pipeline import read_registry, vk_client_from_env
    from gospulse.warehouse import warehouse_path

    summary = collect_vk_audience(
        args.date,
        registry=read_registry(args.registry),
        warehouse=warehouse_path(),
        client=vk_client_from_env(),
        hasher=hasher_from_env(),
    )
    print(summary.describe())
    return 0 if summary.pages_failed == 0 else 1


def cmd_overlap(args: argparse.Namespace) -> int:
    from gospulse.audience.overlap import page_overlap
    from gospulse.warehouse import warehouse_path

    result = page_overlap(
        args.page_a, args.page_b, network=args.network, as_of=args.date, warehouse=warehouse_path()
    )
    print(result.describe())
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from gospulse.history_import import import_history
    from gospulse.warehouse import warehouse_path

    try:
        result = import_history(
            Path(args.path), warehouse_path(), allow_unregistered=args.allow_unregistered
        )
    except ValueError as exc:  # the file as a whole: missing, not a table, no usable header
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for err in result.errors:
        print(f"{args.path}:{err.line}: {err.reason}")
    unlisted = result.bad_rows - len(result.errors)
    if unlisted:
        print(f"{args.path}: {unlisted} more bad rows not listed")
    if result.ignored_columns:
        print(
            f"{args.path}: columns not imported: {', '.join(result.ignored_columns)}",
            file=sys.stderr,
        )
    written = result.written.written if result.written else 0
    kept = result.written.kept_existing if result.written else 0
    print(
        f"imported {written} snapshots, {result.bad_rows} bad rows rejected"
        + (f", {kept} error rows not stored over good data" if kept else ""),
        file=sys.stderr,
    )
    return 1 if result.bad_rows else 0


def cmd_build(args: argparse.Namespace) -> int:
    from gospulse.pipeline import load_registry_into_warehouse, read_registry
    from gospulse.transform import build, build_in_chunks
    from gospulse.warehouse import warehouse_path

    if args.chunk_days is not None and not args.full_refresh:
        print("error: --chunk-days goes with --full-refresh (a first build)", file=sys.stderr)
        return 2
    registry = read_registry(args.registry)
    loaded = load_registry_into_warehouse(registry, warehouse_path())
    print(
        f"registry: {loaded} pages loaded, {len(registry.errors)} bad rows skipped", file=sys.stderr
    )
    vars = {"test_all_history": True} if args.test_all_history else None
    if args.chunk_days is not None:
        chunks = build_in_chunks(warehouse_path(), chunk_days=args.chunk_days, vars=vars)
        for through, chunk in chunks[:-1]:
            print(f"through {through}: {chunk.summary()}", file=sys.stderr)
        result = chunks[-1][1]
    else:
        result = build(warehouse_path(), full_refresh=args.full_refresh, vars=vars)
    print(result.describe())
    published = publish_built(warehouse_path(), result.summary())
    print(f"published read-only copy: {published}", file=sys.stderr)
    return 0


def cmd_dbt_unit_tests(args: argparse.Namespace) -> int:
    from gospulse.transform import run_unit_tests
    from gospulse.warehouse import warehouse_path

    print(run_unit_tests(warehouse_path()).describe())
    return 0


def publish_built(warehouse: Path, dbt_summary: str) -> Path:
    """After a CLI build: swap the read-only copy of the marts in, dated by the newest data."""
    from gospulse.serving.publish import publish_marts
    from gospulse.warehouse import connect

    with connect(warehouse, read_only=True) as con:
        (newest,) = con.execute("select max(snapshot_date) from raw.page_snapshots").fetchone()
    publication = publish_marts(
        warehouse,
        run_id=f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S}",
        snapshot_date=newest or date.today(),
        dbt_summary=dbt_summary,
    )
    return publication.path


TOP_LABELS_RU = {
    "rank": "Место",
    "network": "Соцсеть",
    "page_ref": "Страница",
    "title": "Название",
    "members_start": "Подписчиков в начале",
    "members_end": "Подписчиков в конце",
    "growth": "Прирост",
    "growth_pct": "Прирост, %",
}


def add_period_arguments(parser: argparse.ArgumentParser) -> None:
    """--month YYYY-MM, or --start D1 --end D2: the days D1..D2, both included."""
    parser.add_argument("--month", help="a calendar month, YYYY-MM")
    parser.add_argument("--start", type=_date, help="the period's first day (included)")
    parser.add_argument("--end", type=_date, help="the period's last day (included)")


def period_of(args: argparse.Namespace):
    """The period the arguments name (gospulse.periods: one meaning of a period everywhere)."""
    from gospulse.periods import Period, parse_month

    if args.month is not None:
        if args.start is not None or args.end is not None:
            raise ValueError("give --month or --start and --end, not both")
        return parse_month(args.month)
    if args.start is None or args.end is None:
        raise ValueError("give --month YYYY-MM, or --start and --end")
    return Period(args.start, args.end)


def cmd_report(args: argparse.Namespace) -> int:
    from gospulse.report.html import lead
    from gospulse.report.writer import write_report
    from gospulse.warehouse import warehouse_path

    try:
        period = period_of(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = write_report(
        warehouse_path(),
        args.region,
        period,
        Path(args.out),
        sector=args.sector,
        municipality=args.municipality,
        simulated=args.simulated,
    )
    from gospulse.ranking import ranking_settings

    print(lead(files.data, ranking_settings()["flagship_min_members"]))
    for path in (files.html, files.xlsx, *files.charts.values()):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    from gospulse.ranking import RANK_KEYS as TOP_COLUMNS
    from gospulse.ranking import top_pages
    from gospulse.warehouse import warehouse_path

    if args.excel and args.format != "csv":
        print("error: --excel goes with --format csv", file=sys.stderr)
        return 2
    try:
        period = period_of(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = top_pages(
        period.base_day,
        period.last,
        n=args.n,
        region_code=args.region,
        sector=args.sector,
        municipality=args.municipality,
        network=args.network,
        flagship_only=args.flagship_only,
        by=args.by,
        warehouse=warehouse_path(),
    )
    rows = [{c: r[c] for c in TOP_COLUMNS} for r in result.rows]
    if args.format == "csv" and args.excel:
        sys.stdout.flush()
        write_excel_csv(
            sys.stdout.buffer,
            [TOP_LABELS_RU[c] for c in TOP_COLUMNS],
            ([r[c] for c in TOP_COLUMNS] for r in rows),
        )
    elif args.format == "csv":
        write_csv(sys.stdout, TOP_COLUMNS, ([r[c] for c in TOP_COLUMNS] for r in rows))
    elif args.format == "json":
        print(
            json.dumps(
                {"rows": rows, "excluded": result.excluded},
                ensure_ascii=False,
                default=str,
                indent=2,
            )
        )
    else:
        print(format_table(rows))
    if result.excluded and args.format != "json":
        reasons = Counter(e["reason"] for e in result.excluded)
        by_reason = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
        print(
            f"{len(result.excluded)} pages excluded: {by_reason} (use --format json to list them)",
            file=sys.stderr,
        )
    return 0


def format_table(rows: list[dict]) -> str:
    from gospulse.ranking import RANK_KEYS as TOP_COLUMNS

    """A plain aligned text table of the TOP rows."""
    if not rows:
        return "(no pages with known growth in this period)"

    def cell(key: str, value) -> str:
        if value is None:
            return "—"
        if key == "growth_pct":
            return f"{value:+.1f}%"
        if key == "growth":
            return f"{value:+,}".replace(",", " ")
        if isinstance(value, int):
            return f"{value:,}".replace(",", " ")
        return str(value)

    table = [[cell(k, r[k]) for k in TOP_COLUMNS] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(TOP_COLUMNS)]
    widths[3] = min(widths[3], 60)
    lines = ["  ".join(h.ljust(w) for h, w in zip(TOP_COLUMNS, widths, strict=True))]
    for row in table:
        row[3] = row[3][:60]
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    from gospulse.demo import run_demo

    return run_demo(days=args.days, with_airflow=not args.skip_airflow)


def cmd_settings(args: argparse.Namespace) -> int:
    from gospulse import settings

    if args.markdown:
        print(settings.markdown(), end="")
        return 0
    for name, value in settings.described():
        print(f"{name}={value}")
    found = settings.problems()
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gospulse", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    reg = sub.add_parser("registry", help="registry commands").add_subparsers(
        dest="sub", required=True
    )
    p = reg.add_parser("validate", help="validate a registry CSV (or a folder of them)")
    p.add_argument("path")
    p.set_defaults(func=cmd_registry_validate)

    p = sub.add_parser("extract", help="take one day's snapshot of every registered page")
    p.add_argument("--date", type=_date, required=True)
    p.add_argument("--registry", help="registry CSV or folder (default: GOSPULSE_REGISTRY)")
    p.add_argument(
        "--networks", default="vk,tg,ok", help="comma-separated networks: vk, tg, ok (all)"
    )
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("audience", help="read the due member lists of a day into sketches")
    p.add_argument("--date", type=_date, required=True)
    p.add_argument("--registry", help="registry CSV or folder (default: GOSPULSE_REGISTRY)")
    p.set_defaults(func=cmd_audience)

    p = sub.add_parser("overlap", help="how much of page A's audience also follows page B")
    p.add_argument("page_a", help="id, screen name or URL as in the registry")
    p.add_argument("page_b")
    p.add_argument("--date", type=_date, help="latest sketches at or before this date")
    p.add_argument("--network", default="vk")
    p.set_defaults(func=cmd_overlap)

    p = sub.add_parser(
        "import-snapshots",
        help="load historical snapshots from a CSV or XLSX file (bad rows listed by line)",
    )
    p.add_argument("path")
    p.add_argument(
        "--allow-unregistered",
        action="store_true",
        help="also store pages that no registry loaded into the warehouse lists "
        "(otherwise each such row is reported and skipped)",
    )
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("build", help="load the current registry and run dbt build")
    p.add_argument("--registry", help="registry CSV or folder (default: GOSPULSE_REGISTRY)")
    p.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental models from raw (once after an upgrade that changes "
        "their columns; the registry's history is kept)",
    )
    p.add_argument(
        "--chunk-days",
        type=int,
        metavar="N",
        help="with --full-refresh: build the history N snapshot days at a time (a federal "
        "warehouse's first build: each step holds N days, not years)",
    )
    p.add_argument(
        "--test-all-history",
        action="store_true",
        help="test every day's rows for uniqueness and accepted values, not only what this "
        "build rewrote (an audit; on a federal warehouse it adds minutes)",
    )
    p.set_defaults(func=cmd_build)

    p = sub.add_parser(
        "report",
        help="the analyst's report for a region and a month or period: report.html, "
        "report.xlsx and the charts, in Russian",
    )
    p.add_argument("--region", type=int, required=True)
    add_period_arguments(p)
    p.add_argument("--out", required=True, help="the folder to write into")
    p.add_argument("--sector")
    p.add_argument("--municipality")
    p.add_argument(
        "--simulated",
        action="store_true",
        help="say on the report that the data is simulated (the demo's emulators)",
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "top",
        help="TOP-N pages by growth over a month or any period (growth = members_on(last day) "
        "- members_on(the day before the first))",
    )
    add_period_arguments(p)
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--region", type=int)
    p.add_argument("--sector")
    p.add_argument("--municipality")
    p.add_argument(
        "--network",
        choices=("vk", "tg", "ok", "all"),
        help="one network, or 'all' to rank every network together (default: ranks per network)",
    )
    p.add_argument("--flagship-only", action="store_true")
    p.add_argument("--by", choices=("abs", "pct"), default="abs")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument(
        "--excel",
        action="store_true",
        help="with --format csv: for Russian Excel (Russian headers, `;`, decimal comma, "
        "UTF-8 with a byte-order mark)",
    )
    p.set_defaults(func=cmd_top)

    p = sub.add_parser("incidents", help="data-quality incidents from the marts")
    p.add_argument("--open", action="store_true", help="only incidents still open")
    p.add_argument("--since", type=_date, help="only incidents seen on or after this date")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_incidents)

    p = sub.add_parser("docs", help="build the dbt docs site next to the warehouse")
    p.set_defaults(func=cmd_docs)

    dbt = sub.add_parser("dbt", help="dbt project commands").add_subparsers(
        dest="dbt_command", required=True
    )
    p = dbt.add_parser("manifest", help="run dbt parse and write the manifest the DAG renders")
    p.add_argument("--output", help="manifest file (default: GOSPULSE_DBT_MANIFEST)")
    p.set_defaults(func=cmd_dbt_manifest)
    p = dbt.add_parser(
        "unit-tests",
        help="run the dbt unit tests (given/expect rows; builds leave them out) on the warehouse",
    )
    p.set_defaults(func=cmd_dbt_unit_tests)

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

    from gospulse.airflow_pools import add_commands as add_airflow_commands
    from gospulse.api.commands import add_commands as add_api_commands
    from gospulse.federal.cli import add_commands as add_federal_commands
    from gospulse.serving import postgres_cli

    postgres_cli.add_commands(sub)
    add_api_commands(sub)
    add_federal_commands(sub)
    add_airflow_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
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
