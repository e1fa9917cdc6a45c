"""The rows the VK extractor would store for a World's day, without the HTTP round trip.

Benchmarks and long simulated histories write days this way; it goes through the extractor's
own record function (snapshot_from_group), and a test checks it matches a real extraction.
"""

from __future__ import annotations

from datetime import date

from emulators.vk.world import World
from extractors.vk.records import snapshot_from_group


def snapshot_rows(world: World, d: date) -> list:
    """What the extractor stores for every page on d (its SnapshotRows), from
    groups.getById-shaped objects."""
    rows = []
    for page in world.pages:
        state = world.state_on(page, d)
        group = {
            "id": page.id,
            "name": "DELETED" if state.deactivated == "deleted" else state.name,
            "screen_name": state.screen_name,
            "is_closed": state.is_closed,
            "verified": int(page.verified),
        }
        if state.deactivated:
            group["deactivated"] = state.deactivated
        else:
            group["members_count"] = state.members_count
        rows.append(snapshot_from_group(group, d, run_id=f"direct-{d}"))
    return rows
