"""False alarms and recall of the data-quality rules on a simulated region.

The demo region's World (2,884 VK pages, seed 42) over --days days: its events (deletions, bans,
closures, renames, drops, jumps) all fall in the first 60 days, so every incident first seen
after day 60 is a false alarm. Day 0 goes through the real extractor against the loopback
emulator (which resolves the registry's screen names); the other days are written through the
extractor's record function (emulators.vk.direct). Then `dbt build` runs once and
mart_dq_incidents is scored:

- false alarms: new incidents per 1,000 page-days on the fault-free days (target < 1);
- recall: world events with an incident of the expected rule on the event's day (target 100 %).

On top of the World's events, --waves quiet pages (2,000-20,000 subscribers, not flagships,
no event of their own) get a wave on a day after day 60: their count steps by 4 % (up or down)
and stays there, too little for drop_dod or jump, so only the z-score rule can catch it (its
expected rule). Half of them first get a glitch 5-24 days before the wave: the count 25 % low
for one day (a bad read), which puts two large changes into the wave's training. The glitch's
days are injected faults, not fault-free days; the wave must still be caught.

    .venv/bin/python bench/bench_dq_alarms.py [--days 90] [--pages 2884]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulators.vk.direct import snapshot_rows  # noqa: E402
from emulators.vk.server import VkEmulator  # noqa: E402
from emulators.vk.world import EVENT_WINDOW_DAYS, World  # noqa: E402
from extractors.vk.client import VkClient  # noqa: E402
from gospulse.extract.pipeline import extract_vk, load_registry_into_warehouse  # noqa: E402
from gospulse.raw.warehouse import connect, replace_snapshots  # noqa: E402
from gospulse.registry.pages import validate_registry  # noqa: E402
from gospulse.transform import run as transform  # noqa: E402

START = date(2026, 1, 1)
# the rule each kind of world event must raise on its day
EXPECTED_RULE = {
    "deleted": "status_change",
    "banned": "status_change",
    "closed": "status_change",
    "renamed": "renamed",
    "drop": "drop_dod",
    "jump": "jump",
    "wave": "zscore",
}
WAVE_STEP = 0.04
GLITCH_DROP = 0.25


@dataclass(frozen=True)
class Injected:
    """A wave injected on a quiet page, with the glitch before it, if any."""

    page_id: int
    kind: str  # "wave": what recall counts
    day: date
    glitch_day: date | None

    def offset(self, members: int, d: date) -> int:
        """What the injection adds to the page's count on d (its own count that day)."""
        step = round(members * WAVE_STEP) * (1 if self.page_id % 2 else -1) if d >= self.day else 0
        glitch = -round(members * GLITCH_DROP) if d == self.glitch_day else 0
        return step + glitch

    def days(self) -> set[date]:
        """The days it moves a change: the wave's, the glitch's and the day after it."""
        if self.glitch_day is None:
            return {self.day}
        return {self.day, self.glitch_day, self.glitch_day + timedelta(days=1)}


def inject_waves(world: World, days: int, count: int) -> list[Injected]:
    rng = random.Random(7)
    busy = {e.page_id for e in world.events}
    quiet = [
        p for p in world.pages
        if 2000 <= p.base_members <= 20000 and not p.flagship and p.id not in busy
    ]  # fmt: skip
    waves = []
    for n, page in enumerate(rng.sample(quiet, count)):
        day = START + timedelta(days=rng.randint(EVENT_WINDOW_DAYS + 2, days - 3))
        glitch = day - timedelta(days=rng.randint(5, 24)) if n % 2 else None
        waves.append(Injected(page.id, "wave", day, glitch))
    return waves


def with_waves(rows: list, waves: dict[str, Injected], d: date) -> list:
    return [
        replace(row, members_count=row.members_count + waves[row.page_ref].offset(
            row.members_count, d))
        if row.page_ref in waves and row.members_count is not None else row
        for row in rows
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--pages", type=int, default=2884)
    parser.add_argument("--waves", type=int, default=20)
    args = parser.parse_args(argv)
    if args.days <= EVENT_WINDOW_DAYS + 7:
        parser.error(f"--days must exceed {EVENT_WINDOW_DAYS + 7} to leave fault-free days")
    world = World(seed=42, start=START, n_pages=args.pages)
    waves = inject_waves(world, args.days, args.waves)
    by_page = {str(w.page_id): w for w in waves}
    with tempfile.TemporaryDirectory(prefix="gospulse-bench-dq-") as tmp:
        warehouse = Path(tmp) / "gospulse.duckdb"
        world.write_registry(Path(tmp) / "42.csv")
        registry = validate_registry(Path(tmp) / "42.csv")
        started = time.monotonic()
        with VkEmulator(world, rate_limit=100.0, tokens={"bench"}) as emulator:
            emulator.set_date(START)
            client = VkClient("bench", base_url=emulator.base_url, requests_per_second=100.0)
            first = extract_vk(START, registry=registry, warehouse=warehouse, client=client)
            print(first.describe())
        with connect(warehouse) as con:
            for n in range(1, args.days):
                d = START + timedelta(days=n)
                replace_snapshots(con, with_waves(snapshot_rows(world, d), by_page, d))
        load_registry_into_warehouse(registry, warehouse)
        loaded = time.monotonic() - started
        started = time.monotonic()
        result = transform.build(warehouse)
        built = time.monotonic() - started
        with connect(warehouse, read_only=True) as con:
            incidents = con.execute(
                "select scope_type, page_ref, rule, severity, first_seen "
                "from marts.mart_dq_incidents"
            ).fetchall()
    quiet_from = START + timedelta(days=EVENT_WINDOW_DAYS)
    quiet_days = args.days - EVENT_WINDOW_DAYS
    injected_days = {(str(w.page_id), d) for w in waves for d in w.days()}
    false_alarms = [
        i for i in incidents if i[4] >= quiet_from and (i[1], i[4]) not in injected_days
    ]
    events = [*world.events, *waves]
    caught = [
        e
        for e in events
        if any(
            i[0] == "page" and i[1] == str(e.page_id) and i[2] == EXPECTED_RULE[e.kind]
            and i[4] == e.day
            for i in incidents
        )
    ]  # fmt: skip
    fault_free_days = len(world.pages) * quiet_days - len(
        {(p, d) for p, d in injected_days if d >= quiet_from}
    )
    per_1000 = 1000 * len(false_alarms) / fault_free_days
    print(f"{len(world.pages)} pages x {args.days} days; dbt build {built:.0f} s "
          f"({result.describe()}); history written in {loaded:.0f} s")  # fmt: skip
    print(f"incidents: {len(incidents)}; by rule: {_count(i[2] for i in incidents)}")
    print(
        f"false alarms: {len(false_alarms)} new incidents over {fault_free_days:,} "
        f"fault-free page-days = {per_1000:.2f} per 1,000 (target < 1) "
        f"{_count(i[2] for i in false_alarms)}"
    )
    print(
        f"recall: {len(caught)}/{len(events)} world events and waves caught on their day with "
        f"the expected rule = {len(caught) / len(events):.0%} (target 100 %); waves "
        f"{sum(e in caught for e in waves)}/{len(waves)}, after a glitch "
        f"{sum(e in caught for e in waves if e.glitch_day)}/{sum(1 for e in waves if e.glitch_day)}"
    )
    for incident in false_alarms[:10]:
        print(f"false alarm: {incident}")
    missed = [e for e in events if e not in caught]
    if missed:
        print(f"missed: {missed}")
    return 0 if per_1000 < 1 and not missed else 1


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return dict(sorted(counts.items()))


if __name__ == "__main__":
    sys.exit(main())
