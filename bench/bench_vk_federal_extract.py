"""Benchmark: a federal daily VK count (200,000 pages) against the API limit, 1 and 4 tokens.

The real pipeline (plan, fetch, load into DuckDB: extract_network's steps) and the real vk_api
client (through VkClientPool) run against the loopback emulator, which enforces 3 requests/s per
token and answers error 6 beyond it. The emulator runs in its own process, as VK would: in this
process it would share one interpreter lock with the client. Page ids are already resolved (the
registry holds ids), as on any day after the first. The minimum is ceil(pages / 12,500)
requests (25 groups.getById calls of 500 ids per execute) and requests ÷ (3 × tokens) seconds.

    .venv/bin/python bench/bench_vk_federal_extract.py            # 200,000 pages
    .venv/bin/python bench/bench_vk_federal_extract.py --quick    # 20,000 pages (make bench)
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import requests

from emulators.vk.world import World
from extractors.vk.client import VkClient
from extractors.vk.extract import VkExtractor
from extractors.vk.pool import VkClientPool
from extractors.vk.records import GROUP_FIELDS
from gospulse.extract.pipeline import fetch_batch, load_batches, plan_extract
from gospulse.registry.pages import HEADER, load_registry

RATE = 3.0
START = date(2026, 1, 1)
SEED = 2026
IDS_PER_REQUEST = 500 * 25


def write_id_registry(world: World, path: Path) -> None:
    """The world's registry with every page by its id (names resolved on an earlier day)."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HEADER, lineterminator="\n")
        writer.writeheader()
        for row, page in zip(world.registry_rows(), _pages_in_registry_order(world), strict=True):
            writer.writerow({**row, "page_ref": str(page.id)})


def _pages_in_registry_order(world: World):
    return sorted(world.pages, key=lambda p: (p.municipality, p.sector, p.name))


class EmulatorProcess:
    """`python -m emulators.vk.server` in a subprocess, driven through its admin endpoints."""

    def __init__(self, pages: int, tokens: list[str]):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        args = [sys.executable, "-m", "emulators.vk.server", "--port", str(port)]
        args += ["--seed", str(SEED), "--start", START.isoformat(), "--n-pages", str(pages)]
        args += ["--rate-limit", str(RATE)]
        for token in tokens:
            args += ["--token", token]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # printed once the world is served
        if "VK emulator" not in line:
            self.proc.kill()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.root = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.root}/method/"

    def state(self, **state) -> None:
        requests.post(f"{self.root}/_emulator/state", json=state, timeout=30).raise_for_status()

    def stats(self) -> dict:
        answer = requests.get(f"{self.root}/_emulator/stats", timeout=30)
        answer.raise_for_status()
        return answer.json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def service_seconds(emulator: EmulatorProcess, token: str, registry) -> float:
    """How long the emulator takes to answer one full execute (12,500 ids) alone: median of 3."""
    ids = [p.ref.value for p in registry.pages][:IDS_PER_REQUEST]
    client = VkClient(token, base_url=emulator.base_url, requests_per_second=RATE)
    params = [
        {"group_ids": ",".join(ids[i : i + 500]), "fields": GROUP_FIELDS}
        for i in range(0, len(ids), 500)
    ]
    times = []
    for _ in range(3):
        time.sleep(0.4)
        t0 = time.perf_counter()
        client.execute_calls("groups.getById", params)
        times.append(time.perf_counter() - t0)
    client.close()
    return statistics.median(times)


def run(tokens: int, pages: int, repeat: int, registry, tmp: Path) -> dict:
    names = [f"bench-token-{i}" for i in range(tokens)]
    warehouse = tmp / f"w{tokens}.duckdb"
    walls, fetch_walls, requests_sent, limited = [], [], [], 0
    emulator = EmulatorProcess(pages, names)
    try:
        service = service_seconds(emulator, names[0], registry)
        for i in range(repeat + 1):  # the first day warms the warehouse file up, not timed
            day = START + timedelta(days=i)
            emulator.state(date=day.isoformat(), reset_stats=True)
            time.sleep(1.1)  # the previous day's requests leave the token windows
            pool = VkClientPool(names, base_url=emulator.base_url, requests_per_second=RATE)
            extractor = VkExtractor(pool)
            # extract_network's three steps, so the fetch (the part the API limits) is timed
            t0 = time.perf_counter()
            plan = plan_extract("vk", day, registry, warehouse, extractor)
            t1 = time.perf_counter()
            for index in range(len(plan.batches)):
                fetch_batch(plan, index, extractor)
            t2 = time.perf_counter()
            summary = load_batches(plan)
            wall = time.perf_counter() - t0
            pool.close()
            assert summary.pages_requested == pages, summary.describe()
            assert summary.pages_failed == 0, summary.describe()
            stats = emulator.stats()
            if i == 0:
                continue
            walls.append(wall)
            fetch_walls.append(t2 - t1)
            requests_sent.append(stats["requests_total"])
            limited += stats["rate_limited"]
    finally:
        emulator.stop()
    minimum = math.ceil(pages / IDS_PER_REQUEST)
    return {
        "tokens": tokens,
        "requests": statistics.median(requests_sent),
        "minimum": minimum,
        "wall": statistics.median(walls),
        "fetch": statistics.median(fetch_walls),
        "fetch_runs": fetch_walls,
        "floor": minimum / (RATE * tokens),
        # the emulator answers one request at a time (one interpreter): its own floor
        "service": service,
        "server_floor": minimum * service,
        "rate_limited": limited,
        "runs": walls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="20,000 pages (10x smaller)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tokens", default="1,4")
    args = parser.parse_args()
    pages = 20_000 if args.quick else args.pages

    t0 = time.perf_counter()
    world = World(seed=SEED, start=START, n_pages=pages)
    tmp = Path(tempfile.mkdtemp(prefix="gospulse-bench-fed-"))
    write_id_registry(world, tmp / "registry.csv")
    registry = load_registry([tmp / "registry.csv"])
    assert not registry.errors, registry.errors[:3]
    print(f"world and registry of {pages:,} pages: {time.perf_counter() - t0:.1f} s")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}; "
        f"emulator limit {RATE:g} requests/s per token"
    )
    for tokens in (int(t) for t in args.tokens.split(",")):
        r = run(tokens, pages, args.repeat, registry, tmp)
        bound = max(r["floor"], r["server_floor"])
        print(
            f"{tokens} token(s): requests {r['requests']:g} (minimum {r['minimum']}, "
            f"{r['requests'] / r['minimum']:.2f}x, target <= 1.05x); "
            f"fetch {r['fetch']:.2f} s (runs {', '.join(f'{w:.2f}' for w in r['fetch_runs'])}) "
            f"vs requests/rate {r['floor']:.2f} s ({r['fetch'] / r['floor']:.2f}x, target "
            f"<= 1.10x) and vs the emulator's own floor {r['server_floor']:.2f} s "
            f"({r['service']:.2f} s per full request; {r['fetch'] / bound:.2f}x the larger); "
            f"whole extract {r['wall']:.2f} s (runs {', '.join(f'{w:.2f}' for w in r['runs'])}); "
            f"error-6 answers {r['rate_limited']}"
        )


if __name__ == "__main__":
    main()
