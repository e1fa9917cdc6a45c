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
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gospulse import transform  # noqa: E402
from gospulse.api.tokens import TokenStore  # noqa: E402
from gospulse.serving.publish import publish_marts  # noqa: E402

SERVE = (
    "import argparse, sys\n"
    "from gospulse.api.commands import add_commands\n"
    "p = argparse.ArgumentParser(); add_commands(p.add_subparsers(dest='c'))\n"
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
)
# (label, path, params, token key)
MIX = [
    ("ranking json 100", "/marts/mart_growth_ranking", {"limit": 100}, "all"),
    ("ranking json region+sector", "/marts/mart_growth_ranking", {"region": 42}, "scoped"),
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warehouse", type=Path, help="an already built warehouse to publish")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gospulse-bench-api-") as tmp:
        tmp_path = Path(tmp)
        if args.warehouse:
            warehouse = args.warehouse
        else:
            from tests.warehouse_fixtures import build_world

            warehouse = build_world(tmp_path / "gospulse.duckdb")
            print(transform.build(warehouse).describe())
        target = tmp_path / "published" / "gospulse_marts.duckdb"
        pub = publish_marts(warehouse, run_id="bench", snapshot_date=date.today(), target=target)
        print(f"published {sum(pub.row_counts.values())} rows in {len(pub.row_counts)} marts")
        store = TokenStore(tmp_path / "tokens.json")
        tokens = {"all": store.add("bench", "*")[0], "scoped": store.add("bench42", "42")[0]}

        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE, "api", "serve", "--port", str(port)]
            + ["--published", str(target), "--tokens", str(tmp_path / "tokens.json")]
            + ["--rate", "1000000", "--burst", "1000000"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{base}/health", timeout=2).raise_for_status()
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("api serve did not come up") from None
                    time.sleep(0.2)

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
        finally:
            server.terminate()
            server.wait(timeout=10)

    every = [v for values in latencies.values() for v in values]
    print(
        f"{len(every)} requests, {args.clients} clients, {wall:.1f} s, "
        f"{len(every) / wall:.0f} req/s, {len(failures)} failures"
    )
    print(f"{'request':32} {'n':>5} {'p50 ms':>8} {'p99 ms':>8}")
    for label, values in latencies.items():
        print(
            f"{label:32} {len(values):5d} {1000 * statistics.median(values):8.1f} "
            f"{1000 * _percentile(values, 0.99):8.1f}"
        )
    print(
        f"{'all':32} {len(every):5d} {1000 * statistics.median(every):8.1f} "
        f"{1000 * _percentile(every, 0.99):8.1f}"
    )
    for failure in failures[:5]:
        print("failure:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
