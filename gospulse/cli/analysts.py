"""`gospulse report`, `top` and `incidents`: what analysts read, from the published copy."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from gospulse.cli.common import parse_date
from gospulse.serving.spreadsheet import write_csv, write_excel_csv

TOP_LABELS_RU = {
    "rank": "Место",
    "network": "Соцсеть",
    "page_ref": "Страница",
    "title": "Название",
    "members_start": "Подписчиков в начале",
    "members_end": "Подписчиков в конце",
    "growth": "Прирост",
    "growth_pct": "Прирост, %",
    "quality": "Качество прироста",
    "quality_reason": "Почему",
}


def add_period_arguments(parser: argparse.ArgumentParser) -> None:
    """--month YYYY-MM, or --start D1 --end D2: the days D1..D2, both included."""
    parser.add_argument("--month", help="a calendar month, YYYY-MM")
    parser.add_argument("--start", type=parse_date, help="the period's first day (included)")
    parser.add_argument("--end", type=parse_date, help="the period's last day (included)")


def period_of(args: argparse.Namespace):
    """The period the arguments name (gospulse.config.periods: one meaning of a period
    everywhere)."""
    from gospulse.config.periods import Period, parse_month

    if args.month is not None:
        if args.start is not None or args.end is not None:
            raise ValueError("give --month or --start and --end, not both")
        return parse_month(args.month)
    if args.start is None or args.end is None:
        raise ValueError("give --month YYYY-MM, or --start and --end")
    return Period(args.start, args.end)


def cmd_report(args: argparse.Namespace) -> int:
    from gospulse.raw.warehouse import warehouse_path
    from gospulse.report.html import lead
    from gospulse.report.writer import write_report

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
    from gospulse.serving.ranking import ranking_settings

    print(lead(files.data, ranking_settings()["flagship_min_members"]))
    for path in (files.html, files.xlsx, *files.charts.values()):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    from gospulse.raw.warehouse import warehouse_path
    from gospulse.report.words import QUALITY_MARKS, quality_reason
    from gospulse.serving.ranking import RANK_KEYS, top_pages

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
        with_quality=args.quality,
    )
    columns = (*RANK_KEYS, "quality", "quality_reason") if args.quality else RANK_KEYS
    rows = [
        {c: r[c] for c in RANK_KEYS}
        | (
            {
                # a page whose member lists are not read with fields has no mark
                "quality": QUALITY_MARKS[r["quality"]["quality_mark"]] if r["quality"] else "",
                "quality_reason": quality_reason(r["quality"]),
            }
            if args.quality
            else {}
        )
        for r in result.rows
    ]
    if args.format == "csv" and args.excel:
        sys.stdout.flush()
        write_excel_csv(
            sys.stdout.buffer,
            [TOP_LABELS_RU[c] for c in columns],
            ([r[c] for c in columns] for r in rows),
        )
    elif args.format == "csv":
        write_csv(sys.stdout, columns, ([r[c] for c in columns] for r in rows))
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
    """A plain aligned text table of the TOP rows (their keys in order are the columns)."""
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

    columns = list(rows[0])
    table = [[cell(k, r[k]) for k in columns] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(columns)]
    widths[3] = min(widths[3], 60)
    lines = ["  ".join(h.ljust(w) for h, w in zip(columns, widths, strict=True))]
    for row in table:
        row[3] = row[3][:60]
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def cmd_incidents(args: argparse.Namespace) -> int:
    from gospulse.quality.alerts import load_incidents
    from gospulse.raw.warehouse import warehouse_path

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


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register this group's commands on the gospulse command's subparsers."""
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
    p.add_argument(
        "--quality",
        action="store_true",
        help="mark each VK page's growth (mart_growth_quality): suspect when many new members "
        "were later deactivated, nonresident when most came from other regions; says why",
    )
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
    p.add_argument("--since", type=parse_date, help="only incidents seen on or after this date")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_incidents)
