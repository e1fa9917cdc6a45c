"""`gospulse report` for one month of a region, beside a hand-written DuckDB floor.

The published copy of bench_top.py (--pages pages × --days days, one region) plus empty
incident and audience marts; then, --repeats times each:
- floor: the month's figures written by hand on the same file: the region's growth summed
  over the pages known on both days, the same for the month before, and the TOP-10;
- report: gospulse.report.writer.write_report, the whole `gospulse report --month`: every
  total and split, both TOPs, the daily line of two months, flagships, the four charts, the
  HTML and the XLSX.
Target (issue 33): under 10 s for a 3,000-page region.

    .venv/bin/python bench/bench_report.py [--pages 3000] [--days 730] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
from bench_top import FLOOR_SQL, LAST, write_world  # noqa: E402

from gospulse.config.periods import month_period  # noqa: E402
from gospulse.report.writer import write_report  # noqa: E402
from gospulse.serving.layout import published_path  # noqa: E402
from gospulse.serving.publish import open_published, publish_marts  # noqa: E402

TARGET_SECONDS = 10.0
MONTH = month_period(LAST.year, LAST.month)

GROWTH_SQL = """
select sum(e.members_count - s.members_count)
from marts.mart_page_daily s
join marts.mart_page_daily e
  on e.network = s.network and e.page_ref = s.page_ref and e.snapshot_date = $end_date
where s.snapshot_date = $start_date
"""


def add_empty_marts(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create table marts.mart_dq_incidents (region_code integer, first_seen date, "
            "last_seen date, severity varchar, rule varchar, scope_type varchar, "
            "network varchar, title varchar, detail varchar, status varchar)"
        )
        con.execute(
            "create table marts.mart_audience (audience_date date, scope_type varchar, "
            "scope_value varchar, network varchar, unique_estimate double, "
            "unique_lower double, unique_upper double, subscriptions bigint, coverage double)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        warehouse = Path(tmp) / "gospulse.duckdb"
        write_world(warehouse, args.pages, args.days, publish=False)
        add_empty_marts(warehouse)
        publish_marts(warehouse, run_id="bench", snapshot_date=LAST)
        published = published_path(warehouse)
        previous = MONTH.previous()

        def floor() -> None:
            con = open_published(published)
            try:
                for period in (MONTH, previous):
                    days = {"start_date": period.base_day, "end_date": period.last}
                    con.execute(GROWTH_SQL, days).fetchall()
                days = {"start_date": MONTH.base_day, "end_date": MONTH.last}
                con.execute(FLOOR_SQL, days).fetchall()
            finally:
                con.close()

        def report() -> None:
            files = write_report(warehouse, 42, MONTH, Path(tmp) / "out")
            assert len(files.data.top_all) == 10

        runs: dict[str, list[float]] = {"floor": [], "report": []}
        for _ in range(args.repeats):
            for name, fn in (("floor", floor), ("report", report)):
                started = time.perf_counter()
                fn()
                runs[name].append(time.perf_counter() - started)
        floor_s, report_s = (statistics.median(runs[k]) for k in ("floor", "report"))
        verdict = "PASS" if report_s < TARGET_SECONDS else "FAIL"
        print(
            f"{args.pages:,} pages × {args.days} days, month {MONTH.first:%Y-%m}, median of "
            f"{args.repeats}: floor {floor_s:.3f} s, report {report_s:.2f} s "
            f"(ratio {report_s / floor_s:.0f}; target < {TARGET_SECONDS:.0f} s: {verdict})"
        )


if __name__ == "__main__":
    main()
