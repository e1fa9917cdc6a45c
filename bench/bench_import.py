"""History import beside a bare DuckDB read of the same file (target: within 3×).

Writes a history CSV of --pages registered VK pages × --days days (ids, ISO dates, every tenth
count written with a space between thousands, as Excel shows them), then, --repeats times
each, in alternation on fresh warehouses:
- the floor: `create table as select * from read_csv(...)` with the five columns typed, the
  least a load of that file into DuckDB does;
- `import_history`: the same file through DuckDB's reader with rejects, the per-row checks in
  SQL and the merge into raw.page_snapshots (what `gospulse import-snapshots` runs).
Prints medians and their ratio.

    .venv/bin/python bench/bench_import.py [--pages 2000] [--days 730] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from gospulse.raw.history_import import import_history  # noqa: E402
from gospulse.raw.warehouse import connect  # noqa: E402

TARGET_RATIO = 3.0
LAST = date(2026, 11, 30)


def write_history(path: Path, pages: int, days: int) -> int:
    first = LAST - timedelta(days=days - 1)
    with duckdb.connect() as con:
        con.execute(
            """
            copy (
                select 'vk' as network, (100000 + p)::varchar as page_ref,
                       strftime(d, '%Y-%m-%d') as snapshot_date,
                       case when p % 10 = 0
                            then replace(format('{:,}', 1000 + p * 3 + i), ',', ' ')
                            else (1000 + p * 3 + i)::varchar end as members_count,
                       'ok' as status
                from range($pages) t(p),
                     (select d::date as d, row_number() over (order by d) as i
                      from range($first, $last + interval 1 day, interval 1 day) s(d))
            ) to $path (header, delimiter ',')
            """,
            {"pages": pages, "first": first, "last": LAST, "path": str(path)},
        )
    return pages * days


def register(warehouse: Path, pages: int) -> None:
    with connect(warehouse) as con:
        con.execute(
            """
            insert into raw.registry_pages
            select 'vk', (100000 + p)::varchar, 'id', (100000 + p)::varchar, 'Страница', null,
                   42, null, 'health', false, 'bench.csv', p + 2, $now, null
            from range($pages) t(p)
            """,
            {"pages": pages, "now": datetime.now()},
        )


def floor_seconds(path: Path, warehouse: Path) -> float:
    started = time.perf_counter()
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            """
            create table history as select * from read_csv($path, header = true,
                columns = {'network': 'VARCHAR', 'page_ref': 'VARCHAR',
                           'snapshot_date': 'DATE', 'members_count': 'VARCHAR',
                           'status': 'VARCHAR'})
            """,
            {"path": str(path)},
        )
    return time.perf_counter() - started


def import_seconds(path: Path, warehouse: Path, pages: int) -> tuple[float, int]:
    register(warehouse, pages)
    started = time.perf_counter()
    result = import_history(path, warehouse, today=LAST)
    elapsed = time.perf_counter() - started
    if result.bad_rows:
        raise SystemExit(f"the generated file has bad rows: {result.errors[:3]}")
    return elapsed, result.written.written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        root = Path(tmp)
        csv = root / "history.csv"
        rows = write_history(csv, args.pages, args.days)
        size = csv.stat().st_size / 2**20
        print(f"history: {rows:,} rows, {size:.0f} MiB ({args.pages} pages × {args.days} days)")
        floors, imports = [], []
        for run in range(args.repeats):
            floors.append(floor_seconds(csv, root / f"floor-{run}.duckdb"))
            seconds, written = import_seconds(csv, root / f"import-{run}.duckdb", args.pages)
            if written != rows:
                raise SystemExit(f"stored {written} rows of {rows}")
            imports.append(seconds)
            print(f"run {run + 1}: floor {floors[-1]:.2f} s, import {imports[-1]:.2f} s")
        floor, imported = statistics.median(floors), statistics.median(imports)
        ratio = imported / floor
        print(
            f"median: floor (read_csv into a table) {floor:.2f} s, "
            f"import_history {imported:.2f} s, "
            f"ratio {ratio:.2f} (target ≤ {TARGET_RATIO}): "
            + ("PASS" if ratio <= TARGET_RATIO else "FAIL")
        )


if __name__ == "__main__":
    main()
