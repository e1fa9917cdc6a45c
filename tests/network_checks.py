"""Checks of what a run stored against the emulated world it read."""

from __future__ import annotations

from datetime import date


def assert_counts_as_emulated(con, world, network: str, day: date) -> None:
    """Every page the emulated network answered ok that day is stored with its count."""
    stored = dict(
        con.execute(
            "select page_ref, members_count from raw.page_snapshots "
            "where network = ? and snapshot_date = ? and status = 'ok'",
            [network, day],
        ).fetchall()
    )
    for page in world.pages:
        state = world.state_on(page, day)
        if state.status == "ok":
            assert stored[str(page.id)] == state.members_count, (network, page.id)
