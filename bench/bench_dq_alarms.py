"""False alarms and recall of the data-quality rules on a simulated region.

The demo region's World (2,884 VK pages, seed 42) over --days days: its events (deletions, bans,
closures, renames, drops, jumps) all fall in the first 60 days, so every incident first seen
after day 60 is a false alarm. Day 0 goes through the real extractor against the loopback
emulator (which resolves the registry's screen names); the other days are written through the
extractor's record function (emulators.vk.direct). Then `dbt build` runs once and
mart_dq_incidents is scored:

- false alarms: new incidents per 1,000 page-days on the fault-free days (target < 1);
- recall: world events with an incident of the expected rule on the event's day (target 100 %).

    .venv/bin/python bench/bench_dq_alarms.py [--days 90] [--pages 2884]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulators.vk.direct import snapshot_rows  # noqa: E402
from emulators.vk.server import VkEmulator  # noqa: E402
from emulators.vk.world import EVENT_WINDOW_DAYS, World  # noqa: E402
from extractors.vk.client import VkClient  # noqa: E402
from gospulse import transform  # noqa: E402
from gospulse.pipeline import extract_vk, load_registry_into_warehouse  # noqa: E402
from gospulse.registry import validate_registry  # noqa: E402
from gospulse.warehouse import connect, replace_snapshots  # noqa: E402

START = date(2026, 1, 1)
# the rule each kind of world event must raise on its day
EXPECTED_RULE = {
    "deleted": "status_change",
    "banned": "status_change",
    "closed": "status_change",
    "renamed": "renamed",
    "drop": "drop_dod",
    "jump": "jump",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--pages", type=int, default=2884)
    args = parser.parse_args(argv)
    if args.days <= EVENT_WINDOW_DAYS + 7:
        parser.error(f"--days must exceed {EVENT_WINDOW_DAYS + 7} to leave fault-free days")
    world = World(seed=42, start=START, n_pages=args.pages)
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
                replace_snapshots(con, snapshot_rows(world, START + timedelta(days=n)))
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
    false_alarms = [i for i in incidents if i[4] >= quiet_from]
    caught = [
        e
        for e in world.events
        if any(
            i[0] == "page" and i[1] == str(e.page_id) and i[2] == EXPECTED_RULE[e.kind]
            and i[4] == e.day
            for i in incidents
        )
    ]  # fmt: skip
    per_1000 = 1000 * len(false_alarms) / (len(world.pages) * quiet_days)
    print(f"{len(world.pages)} pages x {args.days} days; dbt build {built:.0f} s "
          f"({result.describe()}); history written in {loaded:.0f} s")  # fmt: skip
    print(f"incidents: {len(incidents)}; by rule: {_count(i[2] for i in incidents)}")
    print(
        f"false alarms: {len(false_alarms)} new incidents over {len(world.pages) * quiet_days:,} "
        f"fault-free page-days = {per_1000:.2f} per 1,000 (target < 1) "
        f"{_count(i[2] for i in false_alarms)}"
    )
    print(
        f"recall: {len(caught)}/{len(world.events)} world events caught on their day with the "
        f"expected rule = {len(caught) / len(world.events):.0%} (target 100 %)"
    )
    return 0 if per_1000 < 1 and len(caught) == len(world.events) else 1


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return dict(sorted(counts.items()))


if __name__ == "__main__":
    sys.exit(main())
