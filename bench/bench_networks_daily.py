"""Benchmark: requests and wall time of the daily count per network of the demo region.

Each network runs through the real pipeline (gospulse.extract.pipeline.extract_network), the real
extractor and its loopback emulator at production pacing: VK 3 requests/s per token (25 calls
x 500 ids per execute), Telegram 1 request/s (the emulator's assumed flood limits:
resolveUsername 30 and getFullChannel 120 per 60 s), OK 3 requests/s (100 ids per call). The
first day resolves the registry's names and keeps them; later days only count. Every figure is
set beside the minimum the network's limits allow.

    .venv/bin/python bench/bench_networks_daily.py [--quick] [--networks vk,tg,ok]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from emulators.networld import NetworkWorld
from emulators.ok.server import OkEmulator
from emulators.telegram.server import DEFAULT_FLOOD_LIMITS, RESOLVE, TelegramEmulator
from emulators.vk.server import VkEmulator
from emulators.vk.world import World
from extractors.base import NetworkExtractor, Resolution
from extractors.ok.client import OkClient
from extractors.ok.extract import IDS_PER_CALL as OK_IDS_PER_CALL
from extractors.ok.extract import OkExtractor
from extractors.telegram.client import (
    DEFAULT_MAX_FLOOD_WAIT,
    DEFAULT_RPS,
    TelegramCaller,
    loopback_client,
)
from extractors.telegram.extract import TelegramExtractor
from extractors.telegram.loopback import LoopbackSender
from extractors.vk.client import CALLS_PER_EXECUTE, VkClient
from extractors.vk.extract import IDS_PER_CALL as VK_IDS_PER_CALL
from extractors.vk.extract import VkExtractor
from gospulse.extract.pipeline import RunSummary, extract_network, read_registry

REGISTRY = Path(__file__).resolve().parent.parent / "registry" / "demo_42_kuzbass.csv"
FIRST_DAY = date(2026, 2, 1)  # a month after the world's start, so its events have happened
VK_RATE = OK_RATE = 3.0
VK_TOKEN = OK_TOKEN = "bench-token"
OK_APP_KEY, OK_APP_SECRET = "CBABENCHAPPKEY", "bench-app-secret"


@dataclass(frozen=True)
class Network:
    """A network's pace and packing, from which its minimum requests and time follow."""

    name: str
    rate: float  # our requests per second
    ids_per_request: int  # pages counted by one request
    names_per_request: int  # names resolved by one request
    later_days: int  # daily counts after the first day (the full run)
    resolve_budget: tuple[int, float] | None = None  # (calls, seconds) on top of the pace

    def count_minimum(self, pages: int) -> tuple[int, float]:
        requests = math.ceil(pages / self.ids_per_request)
        return requests, requests / self.rate

    def resolve_minimum(self, names: int) -> tuple[int, float]:
        requests = math.ceil(names / self.names_per_request)
        seconds = requests / self.rate
        if self.resolve_budget and requests:
            calls, window = self.resolve_budget
            # one budget per window, each spent at our pace; the last window's share finishes it
            windows = math.ceil(requests / calls) - 1
            seconds = max(seconds, windows * window + (requests - windows * calls) / self.rate)
        return requests, seconds


NETWORKS = {
    "vk": Network("vk", VK_RATE, VK_IDS_PER_CALL * CALLS_PER_EXECUTE, CALLS_PER_EXECUTE, 3),
    "tg": Network("tg", DEFAULT_RPS, 1, 1, 2, DEFAULT_FLOOD_LIMITS[RESOLVE]),
    "ok": Network("ok", OK_RATE, OK_IDS_PER_CALL, 1, 3),
}


class Timed:
    """The real extractor, noting the requests and seconds spent resolving and fetching."""

    def __init__(self, inner: NetworkExtractor) -> None:
        self.inner = inner
        self.network = inner.network
        self.reset()

    def reset(self) -> None:
        self.resolve_requests, self.resolve_seconds, self.fetch_seconds = 0, 0.0, 0.0

    def counters(self) -> dict[str, float]:
        return self.inner.counters()

    def resolve(self, names: Sequence[str]) -> list[Resolution]:
        before, t0 = self.inner.counters()["requests"], time.perf_counter()
        try:
            return self.inner.resolve(names)
        finally:
            self.resolve_seconds += time.perf_counter() - t0
            self.resolve_requests += int(self.inner.counters()["requests"] - before)

    def plan_batches(self, page_refs):
        return self.inner.plan_batches(page_refs)

    def fetch_batch(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.inner.fetch_batch(*args, **kwargs)
        finally:
            self.fetch_seconds += time.perf_counter() - t0

    def close(self) -> None:
        self.inner.close()


@dataclass
class Rig:
    """A running emulator and the extractor pointed at it, with the emulator's own counters."""

    emulator: VkEmulator | TelegramEmulator | OkEmulator
    extractor: Timed
    served: Callable[[], int]  # requests the emulator answered
    limit_hits: Callable[[], int]  # answers saying the pace was too fast (error 6/8, FLOOD_WAIT)
    limit_name: str
    notes: Callable[[], str]


@contextmanager
def vk_rig(world: World) -> Iterator[Rig]:
    with VkEmulator(world, rate_limit=VK_RATE, tokens={VK_TOKEN}) as emu:
        client = VkClient(VK_TOKEN, base_url=emu.base_url, requests_per_second=VK_RATE)
        yield Rig(
            emu,
            Timed(VkExtractor(client)),
            served=lambda: emu.stats.requests_total,
            limit_hits=lambda: emu.stats.rate_limited,
            limit_name="error-6 answers",
            notes=lambda: f"by method {dict(emu.stats.by_method)}",
        )


@contextmanager
def tg_rig(world: World) -> Iterator[Rig]:
    with TelegramEmulator(NetworkWorld(world, "tg")) as emu:
        # what telegram_extractor_from_env builds with GOSPULSE_TG_API_URL set and the defaults
        caller = TelegramCaller(
            loopback_client(LoopbackSender(emu.base_url)),
            requests_per_second=DEFAULT_RPS,
            max_flood_wait=DEFAULT_MAX_FLOOD_WAIT,
        )
        extractor = Timed(TelegramExtractor(caller))
        try:
            yield Rig(
                emu,
                extractor,
                served=lambda: emu.stats.requests_total,
                limit_hits=lambda: emu.stats.flood_waits,
                limit_name="FLOOD_WAIT answers",
                notes=lambda: (
                    f"by method {dict(emu.stats.by_method)}, "
                    f"flood wait seconds {emu.stats.flood_wait_seconds}, "
                    f"limits {emu.flood_limits}"
                ),
            )
        finally:
            extractor.close()


@contextmanager
def ok_rig(world: World) -> Iterator[Rig]:
    net = NetworkWorld(world, "ok")
    with OkEmulator(
        net, rate_limit=OK_RATE, app_key=OK_APP_KEY, app_secret=OK_APP_SECRET, tokens={OK_TOKEN}
    ) as emu:
        client = OkClient(
            OK_APP_KEY,
            OK_TOKEN,
            application_secret_key=OK_APP_SECRET,
            base_url=emu.base_url,
            requests_per_second=OK_RATE,
        )
        yield Rig(
            emu,
            Timed(OkExtractor(client)),
            served=lambda: emu.stats.requests_total,
            limit_hits=lambda: emu.stats.rate_limited,
            limit_name="error-8 answers",
            notes=lambda: (
                f"by method {dict(emu.stats.by_method)}, "
                f"most requests of the token in any 1 s window {emu.stats.max_in_window}"
            ),
        )


RIGS = {"vk": vk_rig, "tg": tg_rig, "ok": ok_rig}


@dataclass
class Day:
    """One day's extraction of one network, as the pipeline and the emulator saw it."""

    day: date
    summary: RunSummary
    wall: float
    fetch_seconds: float
    resolve_requests: int
    resolve_seconds: float
    served: int
    limit_hits: int

    @property
    def count_requests(self) -> int:
        return self.summary.requests - self.resolve_requests


def run_day(rig: Rig, network: str, day: date, registry, warehouse: Path) -> Day:
    rig.emulator.set_date(day)
    rig.extractor.reset()
    served, hits = rig.served(), rig.limit_hits()
    t0 = time.perf_counter()
    summary = extract_network(
        network, day, registry=registry, warehouse=warehouse, extractor=rig.extractor
    )
    wall = time.perf_counter() - t0
    return Day(
        day,
        summary,
        wall,
        rig.extractor.fetch_seconds,
        rig.extractor.resolve_requests,
        rig.extractor.resolve_seconds,
        rig.served() - served,
        rig.limit_hits() - hits,
    )


def describe_day(d: Day, label: str) -> str:
    s = d.summary
    return (
        f"  {label} {d.day}: {s.requests} requests ({d.resolve_requests} resolving in "
        f"{d.resolve_seconds:.1f} s, {d.count_requests} counting in {d.fetch_seconds:.1f} s), "
        f"{d.wall:.1f} s wall; emulator served {d.served}, {d.limit_hits} limit answers; "
        f"client: {s.retries} retries, {s.rate_limited} rate-limited, "
        f"{s.wait_seconds:.1f} s waited; {s.status}: {s.pages_ok} ok, "
        f"{s.pages_unavailable} unavailable, {s.pages_failed} failed, {s.unresolved} unresolved"
    )


def bench_network(
    name: str, world: World, registry, warehouse: Path, later_days: int
) -> tuple[str, list[str]]:
    """Run one network; returns its markdown table row and the lines printed about it."""
    net = NETWORKS[name]
    pages = [p for p in registry.pages if p.network == name]
    names = len({p.ref.value for p in pages if p.ref.kind == "screen_name"})
    started = time.perf_counter()
    with RIGS[name](world) as rig:
        first = run_day(rig, name, FIRST_DAY, registry, warehouse)
        print(describe_day(first, "first day"), flush=True)
        later = []
        for i in range(1, later_days + 1):
            later.append(run_day(rig, name, FIRST_DAY + timedelta(days=i), registry, warehouse))
            print(describe_day(later[-1], "daily    "), flush=True)
        notes = rig.notes()
        total_hits = rig.limit_hits()
        limit_name = rig.limit_name
    elapsed = time.perf_counter() - started

    res_min, res_min_s = net.resolve_minimum(names)
    cnt_min, cnt_min_s = net.count_minimum(len(pages))
    daily_requests = statistics.median(d.summary.requests for d in later)
    daily_count = statistics.median(d.count_requests for d in later)
    daily_resolve = statistics.median(d.resolve_requests for d in later)
    daily_wall = statistics.median(d.wall for d in later)
    daily_fetch = statistics.median(d.fetch_seconds for d in later)
    daily_hits = sum(d.limit_hits for d in later)
    first_min_s = res_min_s + cnt_min_s
    lines = [
        f"{name}: {len(pages)} pages registered, {names} by name; "
        f"pace {net.rate:g} requests/s; {elapsed:.0f} s for the network",
        f"  first day: resolving {first.resolve_requests} requests (minimum {res_min}, "
        f"{first.resolve_requests / res_min:.2f}x) in {first.resolve_seconds:.1f} s "
        f"(minimum {res_min_s:.1f} s, {first.resolve_seconds / res_min_s:.2f}x); whole day "
        f"{first.summary.requests} requests (minimum {res_min + cnt_min}) in {first.wall:.1f} s "
        f"(minimum {first_min_s:.1f} s, {first.wall / first_min_s:.2f}x); "
        f"{first.summary.unresolved} names left unresolved ({first.summary.message[:300]})",
        f"  daily, median of {len(later)}: {daily_requests:g} requests = {daily_count:g} "
        f"counting (minimum {cnt_min}, {daily_count / cnt_min:.2f}x) + {daily_resolve:g} "
        f"re-resolving names left unresolved; {daily_wall:.2f} s wall, of which "
        f"{daily_fetch:.2f} s counting through the API (minimum {cnt_min_s:.2f} s, wall "
        f"{daily_wall / cnt_min_s:.2f}x; runs {', '.join(f'{d.wall:.2f}' for d in later)} s)",
        f"  emulator: {total_hits} {limit_name} in all ({first.limit_hits} on the first day, "
        f"{daily_hits} on later days); {notes}",
    ]
    row = (
        f"| {name} | {len(pages):,} ({names:,}) "
        f"| {first.resolve_requests} / {res_min} "
        f"| {first.resolve_seconds:.1f} s / {res_min_s:.1f} s "
        f"| {first.summary.requests} in {first.wall:.1f} s / {first_min_s:.1f} s "
        f"| {daily_count:g} / {cnt_min} ({daily_count / cnt_min:.2f}×) + {daily_resolve:g} "
        f"| {daily_wall:.2f} s (API {daily_fetch:.2f} s) / {cnt_min_s:.2f} s "
        f"({daily_wall / cnt_min_s:.2f}×) "
        f"| {first.limit_hits} / {daily_hits} |"
    )
    return row, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one later day per network")
    parser.add_argument(
        "--networks", default="vk,tg,ok", help="comma-separated, from vk, tg, ok (default all)"
    )
    args = parser.parse_args()
    chosen = [n.strip() for n in args.networks.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(NETWORKS))
    if unknown:
        parser.error(f"unknown networks {unknown}; choose from {', '.join(NETWORKS)}")

    started = time.perf_counter()
    registry = read_registry(REGISTRY)
    world = World(seed=42)
    warehouse = Path(tempfile.mkdtemp(prefix="gospulse-bench-")) / "bench.duckdb"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}; "
        f"world starts {world.start}, first day {FIRST_DAY}",
        flush=True,
    )
    rows = []
    for name in chosen:
        later_days = 1 if args.quick else NETWORKS[name].later_days
        row, lines = bench_network(name, world, registry, warehouse, later_days)
        rows.append(row)
        print("\n".join(lines), flush=True)
    print(
        "\n| network | pages (by name) | first day: resolving requests / minimum "
        "| resolving time / minimum | first day in all / minimum time "
        "| daily counting requests / minimum + re-resolving | daily wall, median / minimum "
        "| limit answers first day / later days |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
