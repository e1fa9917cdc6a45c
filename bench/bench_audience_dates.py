"""Issue 8: the audience dates chain at federal scale — a year of daily member-list reads.

Member lists are read every day (each page when it is due), so `int_audience_page_dates` holds
one row per audience date and registered page, and `int_audience_scope_pages` five per row. This
benchmark writes the synthetic federal raw (bench/synthetic_federal.py), adds member-list rows
for the last `--audience-days` days (each page read every 7 days, on a weekday of its own, so
~1/7 of the pages a day), builds the two models in full, then appends one more day (snapshots
and that day's lists) and times the incremental build: the day's cost against a full rebuild,
which is what the models cost every day while they were tables.

The rows carry a 2-byte stand-in for the HLL blob: these models only test that one is there
(the unions, which parse them, are bench_audience_union.py's).

    .venv/bin/python bench/bench_audience_dates.py [--quick] [--keep]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
from synthetic_federal import END, write_federal_raw, write_snapshots  # bench/ is on sys.path

from gospulse.transform.run import DbtRunResult, run_dbt

SEED = 8
READ_EVERY_DAYS = 7
MODELS = ("int_audience_page_dates", "int_audience_scope_pages")
INCREMENTAL_TARGET_S = 60.0


def write_lists(con: duckdb.DuckDBPyConnection, first: date, last: date) -> int:
    """Member-list rows of every page due on each day in [first, last]; how many."""
    before = con.execute("select count(*) from raw.member_sketches").fetchone()[0]
    con.execute(
        f"""
        insert into raw.member_sketches
        select
            pages.network,
            pages.page_ref,
            days.day,
            case when hash(pages.page_ref, days.day) % 50 = 0 then 'hidden' else 'ok' end,
            500,
            500,
            16,
            case when hash(pages.page_ref, days.day) % 50 <> 0 then '\\x01\\x02'::blob end,
            null,
            null,
            null,
            'synthetic-' || days.day,
            now()::timestamp
        from (select distinct network, ref_value as page_ref from raw.registry_pages) as pages
        cross join (
            select cast(d as date) as day
            from range(date '{first}', date '{last}' + interval 1 day, interval 1 day) as t(d)
        ) as days
        where (hash(pages.page_ref) + (days.day - date '{first}')) % {READ_EVERY_DAYS} = 0
        """
    )
    con.execute("checkpoint")
    return con.execute("select count(*) from raw.member_sketches").fetchone()[0] - before


def model_times(result: DbtRunResult) -> str:
    times = {n.unique_id.split(".")[-1]: n.execution_time for n in result.nodes}
    return ", ".join(f"{m} {times[m]:.1f} s" for m in MODELS)


def timed(warehouse: Path, args: list[str]) -> tuple[float, DbtRunResult]:
    t0 = time.perf_counter()
    result = run_dbt(args, warehouse=warehouse)
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20,000 pages (10x smaller)")
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--days", type=int, default=730, help="days of daily snapshots")
    parser.add_argument("--audience-days", type=int, default=365)
    parser.add_argument("--keep", action="store_true", help="keep the warehouse")
    parser.add_argument("--memory-limit", default="6GB", help="DuckDB memory_limit for dbt")
    args = parser.parse_args()
    pages = args.pages or (20_000 if args.quick else 200_000)
    # the transform benchmark's setting: under the 8 GB target, the rest spills to disk
    os.environ["GOSPULSE_DUCKDB_MEMORY_LIMIT"] = args.memory_limit

    root = Path(tempfile.mkdtemp(prefix="bench_audience_dates_"))
    warehouse = root / "gospulse.duckdb"
    try:
        raw = write_federal_raw(warehouse, pages=pages, days=args.days, seed=SEED)
        first = END - timedelta(days=args.audience_days - 1)
        with duckdb.connect(str(warehouse)) as con:
            lists = write_lists(con, first, END)
        print(
            f"{platform.machine()}, {platform.python_version()}; {pages:,} pages x "
            f"{args.days} days ({raw['rows']:,} snapshot rows), {lists:,} member lists over "
            f"{args.audience_days} audience dates (each page every {READ_EVERY_DAYS} days); "
            f"load {os.getloadavg()[0]:.1f}, DuckDB memory_limit {args.memory_limit}"
        )
        # what the two models read (staging views, the registry snapshot), not timed
        parents = ["--select", f"+{MODELS[0]}", "--exclude", *MODELS]
        timed(warehouse, ["build", *parents, "--exclude-resource-type", "test", "unit_test"])
        full_s, full = timed(warehouse, ["run", "--select", *MODELS, "--full-refresh"])
        print(f"full build of both models (a day's cost as tables): {full_s:.1f} s dbt run")
        print(f"  {model_times(full)}")

        day = END + timedelta(days=1)
        with duckdb.connect(str(warehouse)) as con:
            write_snapshots(con, pages, args.days, END, SEED, append_days=1, appended=0)
            day_lists = write_lists(con, day, day)
        day_s, incremental = timed(warehouse, ["run", "--select", *MODELS])
        print(
            f"incremental day {day} ({day_lists:,} lists read): {day_s:.1f} s dbt run; "
            f"ratio to the full build {day_s / full_s:.2f}"
        )
        print(f"  {model_times(incremental)}")
        with duckdb.connect(str(warehouse), read_only=True) as con:
            rows = [
                con.execute(f"select count(*) from intermediate.{m}").fetchone()[0] for m in MODELS
            ]
        print(f"  rows: {rows[0]:,} page dates, {rows[1]:,} scope pages")
    finally:
        if args.keep:
            print(f"kept: {warehouse}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
