"""`gospulse federal pull` and `gospulse bundle`."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from gospulse.config import settings
from gospulse.federal.run import FEDERAL_WAREHOUSE_ENV, federal_warehouse_path, run_federal_pull


def cmd_federal_pull(args: argparse.Namespace) -> int:
    """Exit 0 when every region loaded or was unchanged, 1 when any bundle was rejected."""
    from gospulse.federal.pull import SOURCES_ENV, parse_sources

    sources = parse_sources(args.sources or settings.read(SOURCES_ENV))
    summary = run_federal_pull(sources, Path(args.warehouse or federal_warehouse_path()))
    for line in summary.lines:
        print(line)
    return 1 if summary.rejected else 0


def cmd_bundle(args: argparse.Namespace) -> int:
    """Write one region's export bundle from a warehouse's marts."""
    from gospulse.raw.warehouse import warehouse_path
    from gospulse.serving.bundle import write_bundle
    from gospulse.serving.layout import bundle_root

    warehouse = Path(args.warehouse) if args.warehouse else warehouse_path()
    root = Path(args.root) if args.root else bundle_root(warehouse)
    info = write_bundle(
        warehouse,
        root,
        region_code=args.region,
        snapshot_date=args.date or date.today(),
        run_id=args.run_id,
    )
    rows = sum(f["rows"] for f in info.manifest["files"] if f["kind"] == "mart")
    print(f"bundle {info.path}: {len(info.manifest['files'])} files, {rows} mart rows")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `federal pull` and `bundle` on the main parser's subparsers."""
    federal = subparsers.add_parser("federal", help="federal roll-up of regions' bundles")
    fsub = federal.add_subparsers(dest="federal_command", required=True)
    p = fsub.add_parser("pull", help="pull, verify and load the latest bundles; build marts")
    p.add_argument(
        "--from",
        dest="sources",
        help="bundle roots (paths, http(s)://, s3://), comma-separated; "
        "default $GOSPULSE_FEDERAL_SOURCES",
    )
    p.add_argument("--warehouse", help=f"federal DuckDB file (default ${FEDERAL_WAREHOUSE_ENV} "
                   "or data/federal.duckdb)")  # fmt: skip
    p.set_defaults(func=cmd_federal_pull)

    b = subparsers.add_parser("bundle", help="write this region's export bundle")
    b.add_argument("--region", type=int, required=True, help="region code, e.g. 42")
    b.add_argument("--date", type=date.fromisoformat, help="snapshot date (default today)")
    b.add_argument("--warehouse", help="DuckDB file with the marts (default the warehouse)")
    b.add_argument("--root", help="bundle root (default $GOSPULSE_BUNDLE_DIR or next to it)")
    b.add_argument("--run-id", default="manual", help="written into the bundle id")
    b.set_defaults(func=cmd_bundle)
