"""Benchmark: member IDs read per second against the API limit, and peak memory of the reader.

The emulator runs in its own process (3 requests/s per token, 25 x 1000 ids per execute), so
the reader's peak RSS is measured alone. Each region size runs in a fresh child process: peak
memory flat across sizes means the lists are streamed, not held.

    .venv/bin/python bench/bench_vk_audience.py [--scales 0.22 2.2] [--fields both|on|off]

Scale 1 is the 2,884-page demo region (4.6 M subscriptions); 2.2 gives ~10 M. `--fields both`
reads each scale twice, as lists of ids and as user objects (`fields=city`, the members'
attributes counted), and prints the ratio of their rates: the requests are the same, each
answer about ten times the bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

DAY = date(2026, 1, 15)
TOKEN = "bench-audience-token"
RATE = 3.0
LIMIT_IDS_PER_S = RATE * 25 * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child(scale: float, fields: bool) -> dict:
    from emulators.vk.world import World
    from extractors.vk.client import VkClient
    from extractors.vk.members import ListRequest, read_member_lists
    from gospulse.audience.collect import AudienceConfig, collect_vk_audience
    from gospulse.extract.pipeline import extract_vk
    from gospulse.raw.sketches import MemberHasher
    from gospulse.raw.warehouse import connect
    from gospulse.registry.pages import validate_registry

    work = Path(tempfile.mkdtemp(prefix="gospulse-bench-audience-"))
    World(seed=42).write_registry(work / "42.csv")  # the registry is the same at any scale
    registry = validate_registry(work / "42.csv")
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulators.vk.server",
            "--port",
            str(port),
            "--date",
            str(DAY),
            "--members-scale",
            str(scale),
            "--rate-limit",
            str(RATE),
            "--token",
            TOKEN,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        server.stdout.readline()  # the emulator prints its URL once it listens
        base = f"http://127.0.0.1:{port}/method/"
        client = VkClient(TOKEN, base_url=base, requests_per_second=RATE)
        warehouse = work / "w.duckdb"
        extract_vk(DAY, registry=registry, warehouse=warehouse, client=client)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        hasher = MemberHasher(b"benchmark-secret-key-0001")
        started = time.perf_counter()
        summary = collect_vk_audience(
            DAY,
            registry=registry,
            warehouse=warehouse,
            client=client,
            hasher=hasher,
            config=AudienceConfig(max_members=10_000_000, member_fields=fields),
        )
        wall = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with connect(warehouse, read_only=True) as con:
            counts = [
                m
                for (m,) in con.execute(
                    "select members_count from raw.member_sketches where snapshot_date = ? "
                    "and status in ('ok', 'hidden')",
                    [DAY],
                ).fetchall()
            ]
            big_ref, big_members = con.execute(
                "select page_ref, members_count from raw.member_sketches where status = 'ok' "
                "order by members_count desc limit 1"
            ).fetchone()
            home = frozenset(
                c for (c,) in con.execute("select city_id from raw.vk_region_cities").fetchall()
            )
        # one getMembers call carries one page: lists under 1000 leave the rest of it empty
        calls = sum(max(1, math.ceil((m or 0) / 1000)) for m in counts)
        min_requests = math.ceil(calls / 25)
        time.sleep(1.1)
        t0 = time.perf_counter()
        before = client.stats.requests
        request = ListRequest(big_ref, big_members, home if fields else None)
        big = list(read_member_lists(client, [request], hasher))
        big_wall = time.perf_counter() - t0
        big_requests = client.stats.requests - before
    finally:
        server.terminate()
        server.wait(10)
    return {
        "scale": scale,
        "fields": fields,
        "members_read": summary.members_read,
        "lists": summary.pages_ok,
        "hidden": summary.pages_hidden,
        "requests": summary.requests,
        "min_requests": min_requests,
        "calls": calls,
        "big_members": big[0].members_read,
        "big_requests": big_requests,
        "big_ids_per_s": big[0].members_read / big_wall,
        "wall_s": wall,
        "ids_per_s": summary.members_read / wall,
        "peak_rss_mb": peak / 1024,
        "rss_before_read_mb": rss_before / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.22, 2.2])
    parser.add_argument("--fields", choices=("both", "on", "off"), default="both")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--child-fields", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, bool(args.child_fields))))
        return
    print(f"limit: {RATE:g} requests/s x 25 calls x 1000 ids = {LIMIT_IDS_PER_S:,.0f} ids/s")
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.fields]
    for scale in args.scales:
        rates = {}
        for fields in modes:
            rates[fields] = run_child(scale, fields)
        if len(rates) == 2:
            print(
                f"scale {scale:g}: with fields {rates[True]:,.0f} ids/s against "
                f"{rates[False]:,.0f} without = {rates[True] / rates[False]:.2f}"
            )


def run_child(scale: float, fields: bool) -> float:
    """One scale read in a child process; prints its figures and returns its ids/s."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(scale), "--child-fields", str(int(fields))],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    rate = r["requests"] / r["wall_s"]
    fill = r["members_read"] / (r["calls"] * 1000)
    print(
        f"scale {scale:g}, fields {'on' if fields else 'off'}: "
        f"{r['members_read']:,} member ids from {r['lists']:,} lists "
        f"({r['hidden']} hidden), {r['wall_s']:.1f} s\n"
        f"  requests {r['requests']} vs minimum {r['min_requests']} for these list sizes "
        f"({r['requests'] / r['min_requests']:.2f}x); {rate:.2f} requests/s = "
        f"{rate / RATE:.1%} of the limit\n"
        f"  {r['ids_per_s']:,.0f} ids/s = {r['ids_per_s'] / LIMIT_IDS_PER_S:.1%} of "
        f"{LIMIT_IDS_PER_S:,.0f}: calls are {fill:.1%} full (a call reads one page)\n"
        f"  largest list alone: {r['big_members']:,} ids in {r['big_requests']} requests, "
        f"{r['big_ids_per_s']:,.0f} ids/s = {r['big_ids_per_s'] / LIMIT_IDS_PER_S:.1%} "
        f"of the limit\n"
        f"  peak RSS {r['peak_rss_mb']:.0f} MB "
        f"(before reading {r['rss_before_read_mb']:.0f} MB)"
    )
    return r["ids_per_s"]


if __name__ == "__main__":
    main()
