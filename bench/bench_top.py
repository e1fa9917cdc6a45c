"""`gospulse top` for one month on a published copy, beside a hand-written DuckDB floor.

Writes a published copy with --pages registered pages (VK, Telegram, OK in turn, one region,
ten sectors, a tenth flagships) × --days days of marts.mart_page_daily and their
mart_registry_versions, then times, --repeats times each:
- floor: the least query that answers the question, written by hand on the same file: the two
  days' counts joined, growth, a row_number per network, the first ten;
- top_pages: gospulse.serving.ranking.top_pages in this process (opens the copy, checks the filters,
  runs its one query: registry as of the end, every exclusion reason);
- cli: the whole `gospulse top` command as a user runs it (a new Python process).
Targets (issue 32): under 1 s at region size, under 3 s at federal size (200,000 pages).

    .venv/bin/python bench/bench_top.py [--pages 3000] [--days 730] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from gospulse.serving.layout import published_path  # noqa: E402
from gospulse.serving.publish import open_published, publish_marts  # noqa: E402
from gospulse.serving.ranking import top_pages  # noqa: E402

LAST = date(2026, 11, 30)
MONTH_START, MONTH_END = date(2026, 10, 31), date(2026, 11, 30)
SECTORS = ("health", "education", "culture", "sport", "transport", "government", "other",
           "youth policy", "social protection", "culture")  # fmt: skip

FLOOR_SQL = """
select network, page_ref, growth from (
    select s.network, s.page_ref, e.members_count - s.members_count as growth,
           row_number() over (partition by s.network
                              order by e.members_count - s.members_count desc) as rank
    from marts.mart_page_daily s
    join marts.mart_page_daily e
      on e.network = s.network and e.page_ref = s.page_ref and e.snapshot_date = $end_date
    where s.snapshot_date = $start_date
) where rank <= 10
"""


def write_world(warehouse: Path, pages: int, days: int, *, publish: bool = True) -> None:
    first = LAST - timedelta(days=days - 1)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute(
            """
            create table marts.mart_page_daily as
            select ['vk', 'tg', 'ok'][1 + p % 3] as network, p::varchar as page_ref,
                   d::date as snapshot_date,
                   (1000 + p % 5000 + i * (p % 7))::bigint as members_count,
                   'ok' as status
            from range($pages) t(p),
                 (select d, row_number() over (order by d) as i
                  from range($first, $last + interval 1 day, interval 1 day) s(d))
            order by snapshot_date
            """,
            {"pages": pages, "first": first, "last": LAST},
        )
        con.execute(
            """
            create table marts.mart_registry_versions as
            select ['vk', 'tg', 'ok'][1 + p % 3] as network, p::varchar as page_ref,
                   p::varchar as page_key, p::varchar as registry_ref, 'id' as ref_kind,
                   p::varchar as ref_value, true as is_resolved, 'Страница ' || p as title,
                   null::varchar as organization, 42 as region_code,
                   'municipality ' || (p % 30) as municipality,
                   $sectors[1 + p % 10] as sector, p % 10 = 0 as is_flagship,
                   date '1900-01-01' as valid_from, null::date as valid_to
            from range($pages) t(p)
            """,
            {"pages": pages, "sectors": list(SECTORS)},
        )
    if publish:
        publish_marts(warehouse, run_id="bench", snapshot_date=LAST)


def timed(fn, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    target = 1.0 if args.pages <= 10_000 else 3.0
    with tempfile.TemporaryDirectory(prefix="bench-top-") as tmp:
        warehouse = Path(tmp) / "gospulse.duckdb"
        started = time.perf_counter()
        write_world(warehouse, args.pages, args.days)
        written = time.perf_counter() - started
        print(
            f"published copy: {args.pages:,} pages × {args.days} days = "
            f"{args.pages * args.days:,} page-days, written in {written:.0f} s"
        )
        published = published_path(warehouse)

        def floor() -> None:
            con = open_published(published)
            try:
                con.execute(
                    FLOOR_SQL, {"start_date": MONTH_START, "end_date": MONTH_END}
                ).fetchall()
            finally:
                con.close()

        def in_process() -> None:
            result = top_pages(MONTH_START, MONTH_END, region_code=42, warehouse=warehouse)
            assert len(result.rows) == 30, len(result.rows)

        command = [
            str(Path(sys.executable).parent / "gospulse"),
            "top", "--start", str(MONTH_START), "--end", str(MONTH_END), "--region", "42",
        ]  # fmt: skip
        env = {**os.environ, "GOSPULSE_WAREHOUSE": str(warehouse)}

        def cli() -> None:
            subprocess.run(command, env=env, check=True, capture_output=True)

        floor_s, top_s, cli_s = (timed(f, args.repeats) for f in (floor, in_process, cli))
        print(f"median of {args.repeats}: floor {floor_s:.3f} s, top_pages {top_s:.3f} s "
              f"(ratio {top_s / floor_s:.1f}), gospulse top command {cli_s:.2f} s "
              f"(target < {target:.0f} s: {'PASS' if cli_s < target else 'FAIL'})")  # fmt: skip


if __name__ == "__main__":
    main()
