"""Benchmark: requests and wall time of one daily VK snapshot of the 2,884-page demo region.

Runs the real extractor against the loopback emulator at its enforced 3 requests/s, and
compares with the minimum possible number of requests (ceil(pages / (500 x 25))) and with a
client that sends one groups.getById call per page (measured on a sample, extrapolated).

    .venv/bin/python bench/bench_vk_daily.py [--repeat 5] [--naive-sample 30]
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from emulators.vk.server import VkEmulator
from emulators.vk.world import World
from extractors.vk.client import VkClient
from extractors.vk.records import GROUP_FIELDS
from gospulse.extract.pipeline import extract_vk, read_registry

REGISTRY = Path(__file__).resolve().parent.parent / "registry" / "demo_42_kuzbass.csv"
RATE = 3.0
TOKEN = "bench-token"
START = date(2026, 1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="daily snapshots to time")
    parser.add_argument("--naive-sample", type=int, default=30, help="pages for the naive client")
    args = parser.parse_args()

    registry = read_registry(REGISTRY)
    vk_pages = [p for p in registry.pages if p.network == "vk"]
    world = World(seed=42, start=START)
    warehouse = Path(tempfile.mkdtemp(prefix="gospulse-bench-")) / "bench.duckdb"
    with VkEmulator(world, rate_limit=RATE, tokens={TOKEN}) as emulator:
        client = VkClient(TOKEN, base_url=emulator.base_url, requests_per_second=RATE)
        t0 = time.perf_counter()
        first = extract_vk(START, registry=registry, warehouse=warehouse, client=client)
        first_wall = time.perf_counter() - t0

        walls, requests = [], []
        for i in range(1, args.repeat + 1):
            d = START + timedelta(days=i)
            emulator.set_date(d)
            before = emulator.stats.requests_total
            t0 = time.perf_counter()
            summary = extract_vk(d, registry=registry, warehouse=warehouse, client=client)
            walls.append(time.perf_counter() - t0)
            requests.append(emulator.stats.requests_total - before)
            assert summary.pages_requested >= len(world.pages), summary.describe()

        # one plain groups.getById per page, through the same limiter
        naive = VkClient(TOKEN, base_url=emulator.base_url, requests_per_second=RATE)
        sample = [str(p.id) for p in world.pages[: args.naive_sample]]
        time.sleep(1.1)  # let the previous requests leave the emulator's window
        stamps = []
        for ref in sample:
            naive.call("groups.getById", {"group_ids": ref, "fields": GROUP_FIELDS})
            stamps.append(time.perf_counter())
        # steady state: the first `RATE` requests of a fresh window go out at once
        burst = int(RATE)
        naive_per_request = (stamps[-1] - stamps[burst - 1]) / (len(stamps) - burst)
        rate_limited = emulator.stats.rate_limited

    pages = len(vk_pages)
    minimum = math.ceil(pages / (500 * 25))
    median_wall = statistics.median(walls)
    median_requests = statistics.median(requests)
    naive_wall = naive_per_request * pages
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, emulator rate limit {RATE:g} req/s per token"
    )
    print(f"pages registered (vk): {pages}; pages in the world: {len(world.pages)}")
    names = sum(p.ref.kind == "screen_name" for p in vk_pages)
    print(
        f"first day (resolves {names} screen names once, 25 per execute): "
        f"{first.requests} requests, {first_wall:.1f} s"
    )
    print(
        f"daily snapshot, median of {len(walls)}: {median_requests:g} requests, "
        f"{median_wall:.2f} s wall (runs: {', '.join(f'{w:.2f}' for w in walls)})"
    )
    print(
        f"minimum possible requests: ceil({pages} / (500 x 25)) = {minimum}; "
        f"ratio {median_requests / minimum:.2f}x"
    )
    print(
        f"one-call-per-page client: {pages} requests, measured {naive_per_request * 1000:.0f} ms "
        f"per request on {len(sample)} pages -> {naive_wall:.0f} s for the region "
        f"({naive_wall / median_wall:.0f}x our wall time, {pages / median_requests:.0f}x requests)"
    )
    print(f"error 6 (rate limited) answers seen by the emulator: {rate_limited}")


if __name__ == "__main__":
    main()
