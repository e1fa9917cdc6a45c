"""Latency of the read-only HTTP API at p50/p99 under a bounded loopback load.

A warehouse (the dbt fixture world of tests/warehouse_fixtures.py, built and published here, or
an existing warehouse given with --warehouse) is published, `gospulse api serve` runs as its own
process on 127.0.0.1, and --clients threads send --requests requests in total, cycling through a
fixed mix (JSON pages of several marts, a region-scoped token, CSV, Parquet, the mart list).
The per-token rate limit is raised out of the way: this measures serving, not throttling.

    .venv/bin/python bench/bench_api_latency.py [--clients 4] [--requests 2000] [--warehouse W]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from api_world import api_serving, percentile, published_world

# (label, path, params, token key)
MIX = [
    # the ranking is computed when read, for the periods asked: one month
    (
        "ranking json 100, a month",
        "/marts/mart_growth_ranking",
        {"limit": 100, "from": "2025-02-01", "to": "2025-02-28"},
        "all",
    ),
    (
        "ranking json region, a month",
        "/marts/mart_growth_ranking",
        {"region": 42, "from": "2025-02-01", "to": "2025-02-28"},
        "scoped",
    ),
    ("page_daily json scoped", "/marts/mart_page_daily", {"limit": 500}, "scoped"),
    ("region_growth csv", "/marts/mart_region_growth", {"format": "csv"}, "all"),
    (
        "page_growth parquet 1000",
        "/marts/mart_page_growth",
        {"format": "parquet", "limit": 1000},
        "all",
    ),
    ("mart list", "/marts", {}, "all"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warehouse", type=Path, help="an already built warehouse to publish")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gospulse-bench-api-") as tmp:
        tmp_path = Path(tmp)
        target, tokens = published_world(tmp_path, args.warehouse)
        with api_serving(target, tmp_path / "tokens.json") as base:
            latencies: dict[str, list[float]] = {label: [] for label, *_ in MIX}
            failures: list[str] = []
            lock = threading.Lock()
            counter = iter(range(args.requests))

            def worker() -> None:
                with httpx.Client(base_url=base, timeout=30) as client:
                    for n in counter:
                        label, path, params, key = MIX[n % len(MIX)]
                        headers = {"Authorization": f"Bearer {tokens[key]}"}
                        started = time.perf_counter()
                        r = client.get(path, params=params, headers=headers)
                        elapsed = time.perf_counter() - started
                        with lock:
                            if r.status_code != 200:
                                failures.append(f"{label}: {r.status_code} {r.text[:200]}")
                            latencies[label].append(elapsed)

            wall = time.perf_counter()
            threads = [threading.Thread(target=worker) for _ in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - wall

    every = [v for values in latencies.values() for v in values]
    print(
        f"{len(every)} requests, {args.clients} clients, {wall:.1f} s, "
        f"{len(every) / wall:.0f} req/s, {len(failures)} failures"
    )
    print(f"{'request':32} {'n':>5} {'p50 ms':>8} {'p99 ms':>8}")
    for label, values in latencies.items():
        print(
            f"{label:32} {len(values):5d} {1000 * statistics.median(values):8.1f} "
            f"{1000 * percentile(values, 0.99):8.1f}"
        )
    print(
        f"{'all':32} {len(every):5d} {1000 * statistics.median(every):8.1f} "
        f"{1000 * percentile(every, 0.99):8.1f}"
    )
    for failure in failures[:5]:
        print("failure:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
