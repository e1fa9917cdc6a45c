"""Held load of the HTTP API at a fixed concurrency, beside the same queries run on DuckDB alone.

The dbt fixture world of tests/warehouse_fixtures.py (or --warehouse) is published, `gospulse
api serve` runs as its own process on 127.0.0.1 with the rate limit out of the way, and
--clients threads send --requests JSON page requests back to back, cycling through a fixed mix
of filtered and region-scoped reads. An answer is an error unless it is 200 and its total and
row count equal the floor's. The floor: each request's query written by hand (the count and
the page) and run in this process on the same published copy, by as many threads, each with
its own cursor. Both are printed side by side: requests/s held, median and p95 latency, errors.

    .venv/bin/python bench/bench_api_load.py [--clients 4] [--requests 2000] [--warehouse W]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
from api_world import api_serving, percentile, published_world

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gospulse.serving.publish import open_published  # noqa: E402

WARMUP = 20


@dataclass(frozen=True)
class Read:
    """One kind of request and the query it asks, written by hand for the floor."""

    label: str
    path: str
    params: dict
    token: str
    table: str
    where: str
    args: list
    limit: int

    def floor(self, cur) -> tuple[int, int]:
        """The count and the page, as the API answers them (every column orders the page)."""
        total = cur.execute(f"select count(*) from {self.table} {self.where}", self.args)
        total = total.fetchone()[0]
        rows = cur.execute(
            f"select * from {self.table} {self.where} order by all nulls first limit ?",
            [*self.args, self.limit],
        ).fetchall()
        return total, len(rows)


MIX = [
    # the ranking is computed when read, for the periods asked: one month
    Read("ranking of a month, 100 rows", "/marts/mart_growth_ranking",
         {"from": "2025-02-01", "to": "2025-02-28"}, "all", "marts.mart_growth_ranking",
         "where period_start >= ? and period_end <= ?", [date(2025, 2, 1), date(2025, 2, 28)],
         100),
    Read("ranking of a month, region 42 + sector", "/marts/mart_growth_ranking",
         {"region": 42, "sector": "health", "from": "2025-02-01", "to": "2025-02-28"}, "all",
         "marts.mart_growth_ranking",
         "where region_code = ? and sector = ? and period_start >= ? and period_end <= ?",
         [42, "health", date(2025, 2, 1), date(2025, 2, 28)], 100),
    Read("page daily, token of 42, 500 rows", "/marts/mart_page_daily", {"limit": 500},
         "scoped", "marts.mart_page_daily",
         "where (network, page_ref) in (select network, page_ref from marts.mart_page_health "
         "where region_code = ?)", [42], 500),
    Read("region growth from a month", "/marts/mart_region_growth", {"from": "2025-02-01"},
         "all", "marts.mart_region_growth", "where month_start >= ?", [date(2025, 2, 1)], 100),
    Read("page growth in January, 1000 rows", "/marts/mart_page_growth",
         {"from": "2025-01-01", "to": "2025-01-31", "limit": 1000}, "all",
         "marts.mart_page_growth", "where period_start >= ? and period_end <= ?",
         [date(2025, 1, 1), date(2025, 1, 31)], 1000),
]  # fmt: skip


def _run(clients: int, requests: int, one: Callable[[int, object], str | None], state) -> dict:
    """`requests` calls of one(n, per-thread state) from `clients` threads, back to back."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        with state() as own:
            for n in counter:
                started = time.perf_counter()
                try:
                    wrong = one(n, own)
                except Exception as exc:  # a failed request is counted, not fatal
                    wrong = repr(exc)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if wrong:
                        errors.append(wrong)

    wall = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - wall
    return {
        "n": len(latencies),
        "rate": len(latencies) / wall,
        "median": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "errors": errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warehouse", type=Path, help="an already built warehouse to publish")
    args = parser.parse_args()
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, {date.today()}; load average before "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )

    with tempfile.TemporaryDirectory(prefix="gospulse-bench-load-") as tmp:
        tmp_path = Path(tmp)
        target, tokens = published_world(tmp_path, args.warehouse)

        # the floor first: its answers are what every API answer is checked against
        con = open_published(target)

        @contextmanager
        def cursor() -> Iterator:
            cur = con.cursor()
            try:
                cur.execute("use published")  # a cursor starts in memory, as in the reader
                yield cur
            finally:
                cur.close()

        with cursor() as cur:
            expected = [read.floor(cur) for read in MIX]

        def direct(n: int, cur) -> str | None:
            read = MIX[n % len(MIX)]
            got = read.floor(cur)
            return None if got == expected[n % len(MIX)] else f"{read.label}: {got}"

        _run(args.clients, WARMUP, direct, cursor)
        floor = _run(args.clients, args.requests, direct, cursor)
        con.close()

        with api_serving(target, tmp_path / "tokens.json") as base:

            def over_http(n: int, client: httpx.Client) -> str | None:
                read = MIX[n % len(MIX)]
                r = client.get(
                    read.path,
                    params=read.params,
                    headers={"Authorization": f"Bearer {tokens[read.token]}"},
                )
                if r.status_code != 200:
                    return f"{read.label}: {r.status_code} {r.text[:200]}"
                body = r.json()
                got = (body["total"], len(body["rows"]))
                return None if got == expected[n % len(MIX)] else f"{read.label}: {got}"

            def http_client() -> httpx.Client:
                return httpx.Client(base_url=base, timeout=30)

            _run(args.clients, WARMUP, over_http, http_client)
            api = _run(args.clients, args.requests, over_http, http_client)

    print(
        f"{args.requests} requests, {args.clients} clients; load average after "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    print(f"{'':24} {'per second':>11} {'median ms':>10} {'p95 ms':>8} {'errors':>7}")
    for label, run in (("API over HTTP", api), ("DuckDB floor", floor)):
        print(
            f"{label:24} {run['rate']:11.1f} {1000 * run['median']:10.2f} "
            f"{1000 * run['p95']:8.2f} {len(run['errors']):7d}"
        )
    print(
        f"{'ratio API / floor':24} {api['rate'] / floor['rate']:11.3f} "
        f"{api['median'] / floor['median']:10.1f} {api['p95'] / floor['p95']:8.1f}"
    )
    for error in (api["errors"] + floor["errors"])[:5]:
        print("error:", error)
    return 1 if api["errors"] or floor["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
