"""One bad value loses one page, never the batch or the day, and every failure is recorded.

The real VK client against the loopback emulator, which answers chosen pages with absurd
members_count values (as a broken or hostile API might), or stops knowing the token mid-run.
"""

from __future__ import annotations

from datetime import date

import pytest

from emulators.vk.server import Faults, VkEmulator
from emulators.vk.world import World
from extractors.base import checked_count
from extractors.vk.client import VkClient
from extractors.vk.extract import VkExtractor, plan_batches
from gospulse.extract.pipeline import extract_network, extract_vk, valid_snapshot
from gospulse.raw.warehouse import SnapshotRow, connect
from gospulse.registry.pages import validate_registry

DAY = date(2026, 3, 1)
TOKEN = "bad-values-token"
ABSURD = {"huge": 10**30, "negative": -5, "bool": True, "fraction": 1.5, "text": "12"}


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=3, start=DAY, n_pages=40)


@pytest.fixture(scope="module")
def registry(world, tmp_path_factory):
    path = tmp_path_factory.mktemp("registry") / "42.csv"
    world.write_registry(path)
    return validate_registry(path)


def live_pages(world: World) -> list[int]:
    """Ids of pages that answer groups.getById with a count that day."""
    return [p.id for p in world.pages if world.state_on(p, DAY).deactivated is None]


def stored(warehouse) -> dict[str, tuple]:
    with connect(warehouse, read_only=True) as con:
        rows = con.execute(
            "select page_ref, members_count, status, error from raw.page_snapshots"
        ).fetchall()
    return {ref: (count, status, error) for ref, count, status, error in rows}


def test_absurd_counts_become_error_rows_and_the_rest_of_the_batch_loads(world, registry, tmp_path):
    victims = dict(zip(ABSURD, live_pages(world), strict=False))
    assert len(victims) == len(ABSURD)
    with VkEmulator(world, rate_limit=1000, tokens={TOKEN}) as emulator:
        emulator.set_date(DAY)
        emulator.faults = Faults(page_values={victims[k]: v for k, v in ABSURD.items()})
        client = VkClient(TOKEN, base_url=emulator.base_url, requests_per_second=1000)
        summary = extract_vk(DAY, registry=registry, warehouse=tmp_path / "w.duckdb", client=client)
    rows = stored(tmp_path / "w.duckdb")
    assert summary.status == "partial"  # loaded, not rejected by the gate for five pages
    assert len(rows) == len(registry.pages)
    for kind, page_id in victims.items():
        count, status, error = rows[str(page_id)]
        assert (count, status) == (None, "error"), kind
        assert f"members_count {ABSURD[kind]!r}" in error and "is not a count" in error, error
    others = [r for ref, r in rows.items() if int(ref) not in victims.values()]
    assert sum(status == "ok" for _, status, _ in others) >= len(registry.pages) - 10
    assert all(count is None or count >= 0 for count, _, _ in rows.values())
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        assert con.execute("select status, pages_failed from raw.extract_runs").fetchall() == [
            ("partial", summary.pages_failed)
        ]


class SmallBatches(VkExtractor):
    """The VK extractor with batches of 25 ids (one id per groups.getById call)."""

    def plan_batches(self, page_refs):
        return plan_batches(page_refs, ids_per_call=1)


def test_a_token_revoked_mid_run_leaves_error_rows_and_a_run_record(world, registry, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    with VkEmulator(world, rate_limit=1000, tokens={TOKEN}) as emulator:
        emulator.set_date(DAY)
        client = VkClient(TOKEN, base_url=emulator.base_url, requests_per_second=1000)

        def revoke_after_the_first_batch(done: int, total: int) -> None:
            assert total > 1, "the test needs more than one batch"
            emulator.tokens.discard(TOKEN)

        summary = extract_network(
            "vk",
            DAY,
            registry=registry,
            warehouse=warehouse,
            extractor=SmallBatches(client),
            progress=revoke_after_the_first_batch,
        )
    rows = stored(warehouse)
    assert len(rows) == len(registry.pages)  # every known page has a row
    # the second batch failed on the token, so the run is refused as a day (the raw gate's
    # error share), and every page's row says why
    assert summary.status == "rejected" and "batches without result: [1]" in summary.message
    assert {status for _, status, _ in rows.values()} == {"error"}
    revoked = [e for *_, e in rows.values() if "produced no result: VkAuthError" in e]
    assert len(revoked) == 15, revoked[:2]
    assert all("rejected by the raw gate" in e for *_, e in rows.values())
    with connect(warehouse, read_only=True) as con:
        assert con.execute("select status from raw.extract_runs").fetchall() == [("rejected",)]


@pytest.mark.parametrize(
    ("value", "ok"),
    [(0, True), (12, True), (2**63 - 1, True), (2**63, False), (-1, False), (True, False),
     (1.0, False), ("12", False), (None, False)],
)  # fmt: skip
def test_only_a_json_integer_in_range_is_a_count(value, ok):
    count, error = checked_count(value, "members_count")
    assert (count == value and error is None) if ok else (count is None and error), (value, error)


def test_a_row_that_is_not_a_snapshot_is_stored_as_its_pages_error():
    def row(count, status):
        return SnapshotRow("vk", "1", DAY, count, status)

    assert valid_snapshot(row(5, "ok")) == row(5, "ok")
    assert valid_snapshot(row(None, "deleted")) == row(None, "deleted")
    assert valid_snapshot(row(700, "closed")) == row(700, "closed")
    for bad, why in (
        (row(-5, "ok"), "members_count -5 is not a count"),
        (row(None, "ok"), "members_count None is not a count"),
        (row(3, "exploded"), "unknown status 'exploded'"),
        (row(2.5, "closed"), "members_count 2.5 is not a count"),
    ):
        fixed = valid_snapshot(bad)
        assert (fixed.members_count, fixed.status) == (None, "error")
        assert fixed.error.startswith(why), fixed.error
