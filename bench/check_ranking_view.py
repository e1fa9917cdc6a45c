"""Check: the ranking view gives the rows the stored mart_growth_ranking held.

Takes a warehouse built by a release that still stored `marts.mart_growth_ranking` (dbt wrote
it, with every week and month ranked), opens it read-only (a gospulse writer would drop the
stored table on open), creates the view of gospulse.serving.read_views over the same
mart_page_growth and mart_registry_versions, and compares every row and column, the build-state
columns aside. Then times the view for all history and for one month of one region.

    .venv/bin/python bench/check_ranking_view.py <warehouse.duckdb>
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import duckdb

from gospulse.serving.ranking import ranking_settings
from gospulse.serving.read_views import read_views


def median_seconds(con: duckdb.DuckDBPyConnection, sql: str, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        con.execute(sql).fetchall()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("warehouse", type=Path)
    args = parser.parse_args()
    con = duckdb.connect()
    path = str(args.warehouse.resolve()).replace("'", "''")
    con.execute(f"attach '{path}' as w (read_only)")
    settings = ranking_settings()
    (view,) = read_views(
        "w.marts",
        min_members_for_abs=settings["min_members_for_abs"],
        min_members_for_pct=settings["min_members_for_pct"],
    )
    con.execute(f"create temp view ranking as {view.sql}")
    columns = ", ".join(
        f'"{c}"'
        for (c,) in con.execute(
            "select column_name from duckdb_columns() where table_name = 'ranking' "
            "order by column_index"
        ).fetchall()
    )
    stored = "w.marts.mart_growth_ranking"
    (rows,) = con.execute(f"select count(*) from {stored}").fetchone()
    (differing,) = con.execute(
        f"select count(*) from ((select {columns} from ranking except all "
        f"select {columns} from {stored}) union all (select {columns} from {stored} "
        f"except all select {columns} from ranking))"
    ).fetchone()
    print(
        f"stored rows {rows:,}; rows differing between the view and the stored table: {differing}"
    )
    (month,) = con.execute(
        "select max(period_start) from w.marts.mart_page_growth where period_type = 'month'"
    ).fetchone()
    (region,) = con.execute(
        "select min(region_code) from w.marts.mart_registry_versions"
    ).fetchone()
    everything = median_seconds(con, "select count(*) from ranking")
    one = median_seconds(
        con,
        f"select * from ranking where period_type = 'month' and period_start = DATE '{month}' "
        f"and region_code = {int(region)} order by rank_abs",
    )
    print(
        f"view, all history: {everything:.2f} s; "
        f"one month ({month}) of region {region}: {one:.3f} s"
    )
    return 0 if differing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
