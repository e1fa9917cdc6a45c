"""False alarms and recall of the growth-quality marks (mart_growth_quality) on a simulated
region whose member lists are read every day with their members' fields.

The demo region's World (seed 42), --pages pages at --scale of their subscribers, over --days
days from 2026-01-01. Day 0 goes through the real VK extractor against the loopback emulator
(which resolves the registry's screen names); every day's counts are then written through the
extractor's record function (emulators.vk.direct), and every day's member lists are read by the
real reader (gospulse.audience.collect, `fields=city`) from the emulator. On top of the World,
--waves quiet pages get a wave of bought accounts (VK bans them WAVE_BAN_DAYS later) and as many
a wave of people from other regions, each of WAVE_SHARE of the page's members (at least
WAVE_MIN), on a day of the second month or later. `dbt build` then runs once and:

- false alarms: marks on the page-months without a wave, per 1,000 page-days of those months
  (target < 1);
- recall: the waves' months marked with their expected mark (target 100 %).

    .venv/bin/python bench/bench_growth_quality.py [--days 75] [--pages 600] [--waves 10]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulators.vk.direct import snapshot_rows  # noqa: E402
from emulators.vk.server import VkEmulator  # noqa: E402
from emulators.vk.world import Wave, World  # noqa: E402
from extractors.vk.client import VkClient  # noqa: E402
from gospulse.audience.collect import AudienceConfig, collect_vk_audience  # noqa: E402
from gospulse.extract.pipeline import extract_vk, load_registry_into_warehouse  # noqa: E402
from gospulse.raw.sketches import MemberHasher  # noqa: E402
from gospulse.raw.warehouse import connect, replace_snapshots  # noqa: E402
from gospulse.registry.pages import validate_registry  # noqa: E402
from gospulse.transform import run as transform  # noqa: E402

START = date(2026, 1, 1)
WAVE_SHARE = 0.2
WAVE_MIN = 300
WAVE_BAN_DAYS = 7
EXPECTED_MARK = {"bought": "suspect_growth", "nonresident": "nonresident_growth"}
HASHER = MemberHasher(b"bench-growth-quality-secret")


def inject(world: World, days: int, count: int) -> list[Wave]:
    """`count` bought and `count` nonresident waves on quiet, readable pages, each within a
    month after the first whose opening and closing reads both exist."""
    rng = random.Random(11)
    busy = {e.page_id for e in world.events}
    quiet = [
        p
        for p in world.pages
        if p.id not in busy and not world.members_hidden(p) and p.base_members >= 200
    ]
    waves = []
    last = START + timedelta(days=days - WAVE_BAN_DAYS - 2)
    for n, page in enumerate(rng.sample(quiet, 2 * count)):
        day = START + timedelta(days=rng.randint(32, (last - START).days))
        members = world.state_on(page, day).members_count
        size = max(WAVE_MIN, round(members * WAVE_SHARE))
        if n % 2:
            waves.append(world.add_wave(page, day, size, "nonresident"))
        else:
            ban = day + timedelta(days=WAVE_BAN_DAYS)
            waves.append(world.add_wave(page, day, size, "bought", deactivated_on=ban))
    return waves


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=75)
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--scale", type=float, default=0.3, help="members_scale of the World")
    parser.add_argument("--waves", type=int, default=10, help="of each kind")
    args = parser.parse_args(argv)
    if args.days < 45:
        parser.error("--days must leave a second month (45 or more)")
    world = World(seed=42, start=START, n_pages=args.pages, members_scale=args.scale)
    waves = inject(world, args.days, args.waves)
    config = AudienceConfig(cadence_days=1, big_page_cadence_days=1, max_members=10_000_000)
    with tempfile.TemporaryDirectory(prefix="gospulse-bench-quality-") as tmp:
        warehouse = Path(tmp) / "gospulse.duckdb"
        world.write_registry(Path(tmp) / "42.csv")
        registry = validate_registry(Path(tmp) / "42.csv")
        started = time.monotonic()
        members_read = requests = 0
        with VkEmulator(world, rate_limit=100.0, tokens={"bench"}) as emulator:
            emulator.set_date(START)
            client = VkClient("bench", base_url=emulator.base_url, requests_per_second=100.0)
            first = extract_vk(START, registry=registry, warehouse=warehouse, client=client)
            print(first.describe())
            for n in range(args.days):
                d = START + timedelta(days=n)
                emulator.set_date(d)
                if n:
                    with connect(warehouse) as con:
                        replace_snapshots(con, snapshot_rows(world, d))
                summary = collect_vk_audience(
                    d, registry=registry, warehouse=warehouse, client=client, hasher=HASHER,
                    config=config,
                )  # fmt: skip
                members_read += summary.members_read
                requests += summary.requests
        load_registry_into_warehouse(registry, warehouse)
        loaded = time.monotonic() - started
        started = time.monotonic()
        result = transform.build(warehouse)
        built = time.monotonic() - started
        with connect(warehouse, read_only=True) as con:
            months = con.execute(
                "select page_ref, period_start, period_end, quality_mark, new_members, "
                "new_deactivated, nonresidents_growth from marts.mart_growth_quality"
            ).fetchall()
    wave_months = {(str(w.page_id), w.day.replace(day=1)): w for w in waves}
    clean = [m for m in months if (m[0], m[1]) not in wave_months]
    false_marks = [m for m in clean if m[3] != "ok"]
    page_days = sum((m[2] - m[1]).days + 1 for m in clean)
    per_1000 = 1000 * len(false_marks) / page_days if page_days else float("nan")
    marks = {(m[0], m[1]): m for m in months}
    caught = [
        w
        for key, w in wave_months.items()
        if key in marks and marks[key][3] == EXPECTED_MARK[w.kind]
    ]
    print(
        f"{len(world.pages)} pages x {args.days} days (members x{args.scale:g}): member lists "
        f"read daily with fields, {members_read:,} members in {requests:,} requests, "
        f"{loaded:.0f} s; dbt build {built:.0f} s ({result.describe()})"
    )
    print(
        f"false alarms: {len(false_marks)} marks on {len(clean):,} page-months without a wave "
        f"({page_days:,} page-days) = {per_1000:.2f} per 1,000 page-days (target < 1)"
    )
    print(
        f"recall: {len(caught)}/{len(waves)} waves marked as expected = "
        f"{len(caught) / len(waves):.0%} (target 100 %): bought "
        f"{sum(w.kind == 'bought' for w in caught)}/{args.waves}, nonresident "
        f"{sum(w.kind == 'nonresident' for w in caught)}/{args.waves}"
    )
    for m in false_marks[:10]:
        print(f"false alarm: {m}")
    for key, w in wave_months.items():
        if w not in caught:
            print(f"missed: {w} -> {marks.get(key)}")
    return 0 if per_1000 < 1 and len(caught) == len(waves) else 1


if __name__ == "__main__":
    sys.exit(main())
