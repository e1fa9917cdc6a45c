"""Profile: the z-score's window implementation (macro dq_change_scores) alone, on dense pages.

A first build spends about half of each int_dq_page_days step in this macro's windows. Here
the macro runs by itself on a synthetic table of dense page days (one row per page and day,
one change in ten NULL as a stale day), every change scored, beside a hand-written plain
rolling z (the floor), so that two versions of the macro compare without building a
warehouse: point GOSPULSE_DBT_PROJECT_DIR at another checkout's dbt_project to compile that
one. Prints the wall time of each run, their median, and the
CPU seconds DuckDB's profiler gives the window operators (summed over threads), run by run.

    .venv/bin/python bench/profile_change_scores.py WORK_DIR --pages 20000 --days 120
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gospulse.transform.run import compile_inline  # noqa: E402

# every fresh change scored; an earlier checkout's macro took a table of the days to score:
# --macro-call "{{ dq_change_scores('page_changes', 'scored') }}"
MACRO_CALL = "{{ dq_change_scores('page_changes') }}"
# the floor: a plain rolling z (mean and standard deviation of the 28 training days, no
# weekday, no median), written by hand; the project's robust seasonal z is measured against it
FLOOR_SQL = """
select network, page_ref, snapshot_date,
       (change - avg(change) over training) / nullif(stddev_samp(change) over training, 0) as z
from page_changes
window training as (partition by network, page_ref order by snapshot_date
                    rows between 29 preceding and 2 preceding)
"""


def write_dense_changes(warehouse: Path, pages: int, days: int) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            f"""
            create table page_changes as
            select 'vk' as network, 'page-' || page as page_ref,
                date '2025-01-01' + cast(day as integer) as snapshot_date,
                case when hash(page, day, 'stale') % 10 = 0 then null
                    else cast(hash(page, day) % 60 as integer) - 20 end as change
            from range({pages}) as pages(page), range({days}) as days(day)
            """
        )
        con.execute("create table scored as select * from page_changes where change is not null")


def window_seconds(node: dict) -> float:
    own = node.get("operator_timing", 0.0) if node.get("operator_type") == "WINDOW" else 0.0
    return own + sum(window_seconds(child) for child in node.get("children", []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work_dir", type=Path, help="where the table goes (reused if there)")
    parser.add_argument("--pages", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit", default="3GB")
    parser.add_argument("--macro-call", default=MACRO_CALL)
    args = parser.parse_args()

    args.work_dir.mkdir(parents=True, exist_ok=True)
    warehouse = args.work_dir / f"changes_{args.pages}x{args.days}.duckdb"
    if not warehouse.exists():
        write_dense_changes(warehouse, args.pages, args.days)
    sql = compile_inline({"scores": args.macro_call}, warehouse)["scores"]
    profile = args.work_dir / "profile.json"
    walls, windows = [], []
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"set memory_limit = '{args.memory_limit}'")
        con.execute("pragma enable_profiling = 'json'")
        con.execute(f"pragma profiling_output = '{profile}'")
        for _ in range(args.repeat):
            started = time.perf_counter()
            con.execute(f"create or replace temp table scores as {sql}")
            walls.append(time.perf_counter() - started)
            windows.append(window_seconds(json.loads(profile.read_text())))
        (rows,) = con.execute("select count(*) from scores").fetchone()
        floors = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            con.execute(f"create or replace temp table floor_scores as {FLOOR_SQL}")
            floors.append(time.perf_counter() - started)
    finally:
        con.close()
    project = os.environ.get("GOSPULSE_DBT_PROJECT_DIR", "this checkout")
    print(
        f"{project}: {args.pages:,} pages x {args.days} days, {rows:,} scores; "
        f"wall {', '.join(f'{w:.1f}' for w in walls)} s (median {statistics.median(walls):.1f}); "
        f"window operators' CPU {', '.join(f'{w:.1f}' for w in windows)} s; "
        f"floor (plain rolling z) median {statistics.median(floors):.1f} s, ratio "
        f"{statistics.median(walls) / statistics.median(floors):.1f}"
    )


if __name__ == "__main__":
    main()
