"""The real extractor (vk_api) against the loopback emulator: statuses, faults, limits, reruns."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from emulators.vk.server import Faults, VkEmulator
from emulators.vk.world import World
from extractors.vk.client import VkClient
from extractors.vk.records import group_status
from gospulse.extract.pipeline import extract_vk
from gospulse.raw.warehouse import connect
from gospulse.registry.pages import HEADER, validate_registry

# real request rates against a real clock: run alone, after the parallel tests (Makefile)
pytestmark = pytest.mark.timing

START = date(2026, 3, 1)
TOKEN = "test-token"


@pytest.fixture(scope="module")
def world():
    return World(seed=7, start=START, n_pages=300)


@pytest.fixture(scope="module")
def registry(world, tmp_path_factory):
    path = tmp_path_factory.mktemp("registry") / "42_test.csv"
    rows = world.registry_rows()
    extra = [
        # a screen name nobody has, and an id VK does not know: both must be reported
        {**rows[0], "page_ref": "no_such_page_anywhere", "title": "Пропавшая страница"},
        {**rows[0], "page_ref": "999999999", "title": "Несуществующий id"},
    ]
    lines = [",".join(HEADER)]
    for r in rows + extra:
        lines.append(",".join(f'"{r[h]}"' for h in HEADER))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = validate_registry(path)
    assert result.ok, result.errors[:3]
    return result


@pytest.fixture
def emulator(world):
    with VkEmulator(world, rate_limit=3.0, tokens={TOKEN}) as emu:
        yield emu


def client_for(emulator, **kw):
    kw.setdefault("backoff_seconds", 0.05)
    return VkClient(TOKEN, base_url=emulator.base_url, **kw)


def stored(warehouse, d):
    with connect(warehouse, read_only=True) as con:
        return {
            ref: (members, status, screen)
            for ref, members, status, screen in con.execute(
                "select page_ref, members_count, status, screen_name from raw.page_snapshots "
                "where snapshot_date = ?",
                [d],
            ).fetchall()
        }


def expected_status(world, page, d):
    state = world.state_on(page, d)
    return group_status({"deactivated": state.deactivated, "is_closed": state.is_closed}), state


def test_statuses_and_counts_match_the_world(world, registry, emulator, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    day0, day = START, START + timedelta(days=59)
    emulator.set_date(day0)
    # one client per token: its limiter is what keeps the token under VK's allowance
    client = client_for(emulator)
    extract_vk(day0, registry=registry, warehouse=warehouse, client=client)
    emulator.set_date(day)
    before = client.stats.requests
    summary = extract_vk(day, registry=registry, warehouse=warehouse, client=client)
    rows = stored(warehouse, day)
    assert len(rows) == len(world.pages) + 1  # every page plus the unknown id, exactly once
    kinds = {e.kind for e in world.events}
    assert {"deleted", "banned", "closed", "renamed"} <= kinds
    for page in world.pages:
        status, state = expected_status(world, page, day)
        members, got_status, screen = rows[str(page.id)]
        assert got_status == status, page.id
        if status in ("ok", "closed"):
            assert members == state.members_count
        else:
            assert members is None  # never a 0 for a page that is gone
        if status == "ok":
            assert screen == state.screen_name
    renamed = [e for e in world.events if e.kind == "renamed" and e.day <= day]
    for e in renamed:  # resolved on day 0 under the old name, still the same page after
        assert rows[str(e.page_id)][2] == e.new_screen_name
        assert rows[str(e.page_id)][1] is not None
    assert rows["999999999"] == (None, "not_found", None)
    # an unknown name is reported on every run until the registry is fixed
    assert summary.unresolved == 1
    assert "no_such_page_anywhere (not_found)" in summary.message
    with connect(warehouse, read_only=True) as con:
        assert con.execute(
            "select status from raw.page_refs where ref_value = 'no_such_page_anywhere'"
        ).fetchone() == ("not_found",)
        runs = con.execute(
            "select status, pages_ok, pages_unavailable, pages_failed, requests "
            "from raw.extract_runs "
            "where snapshot_date = ?",
            [day],
        ).fetchall()
    assert runs == [("success", summary.pages_ok, summary.pages_unavailable, 0, 1)]
    # 300 ids fit one groups.getById call: one execute for the day; the dead name is not asked
    # again within the re-resolve period (the next test)
    assert client.stats.requests - before == 1
    assert client.stats.rate_limited == 0


def test_faults_are_retried_and_every_page_still_gets_its_row(world, registry, emulator, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    extract_vk(START, registry=registry, warehouse=warehouse, client=client_for(emulator))
    day = START + timedelta(days=10)
    emulator.set_date(day)
    emulator.faults = Faults(api_error_rate=0.3, http_error_rate=0.3, seed=3)
    client = client_for(emulator, requests_per_second=3.0, max_retries=8)
    summary = extract_vk(day, registry=registry, warehouse=warehouse, client=client)
    emulator.faults = Faults()
    assert client.stats.retries > 0
    assert summary.retries == client.stats.retries
    rows = stored(warehouse, day)
    for page in world.pages:
        status, state = expected_status(world, page, day)
        assert rows[str(page.id)][1] == status
        if status == "ok":
            assert rows[str(page.id)][0] == state.members_count


def test_one_broken_page_does_not_fail_the_run(world, registry, emulator, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    # a page referenced by id, so the error hits groups.getById, not the name resolution
    broken = next(p.id for p in world.pages if p.page_ref == str(p.id))
    emulator.faults = Faults(page_errors={broken: 15})
    summary = extract_vk(START, registry=registry, warehouse=warehouse, client=client_for(emulator))
    rows = stored(warehouse, START)
    assert summary.status == "partial"
    assert summary.pages_failed >= 1
    assert rows[str(broken)][:2] == (None, "error")
    assert "[15]" in (summary.message or "")
    assert [ref for ref, r in rows.items() if r[1] == "error"] == [str(broken)]


def test_auth_error_fails_fast_with_a_clear_message(emulator, registry, tmp_path):
    client = VkClient("wrong-token", base_url=emulator.base_url, backoff_seconds=0.05)
    summary = extract_vk(START, registry=registry, warehouse=tmp_path / "w.duckdb", client=client)
    # recorded, not raised: every page has an error row naming the refused token
    assert summary.status == "failed"
    assert "VkAuthError: VK rejected the access token" in summary.message
    rows = stored(tmp_path / "w.duckdb", START)
    assert {status for _, status, _ in rows.values()} == {"error"}
    assert len(rows) == summary.pages_requested > 0
    assert client.stats.retries == 0
    assert "wrong-token" not in str(client.stats) + summary.message


def test_unreachable_api_records_errors_and_keeps_earlier_good_data(
    world, registry, emulator, tmp_path
):
    warehouse = tmp_path / "w.duckdb"
    extract_vk(START, registry=registry, warehouse=warehouse, client=client_for(emulator))
    good = stored(warehouse, START)
    dead = VkClient(
        TOKEN, base_url="http://127.0.0.1:9/method/", max_retries=1, backoff_seconds=0.01, timeout=2
    )
    summary = extract_vk(START, registry=registry, warehouse=warehouse, client=dead)
    assert summary.status == "failed"
    assert summary.kept_existing == len(good)
    assert stored(warehouse, START) == good  # a failed rerun lost nothing
    other_day = START + timedelta(days=1)
    summary = extract_vk(other_day, registry=registry, warehouse=warehouse, client=dead)
    rows = stored(warehouse, other_day)
    assert {status for _, status, _ in rows.values()} == {"error"}
    assert all(members is None for members, _, _ in rows.values())


def test_rerun_of_a_date_replaces_it(world, registry, emulator, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    for _ in range(2):
        extract_vk(START, registry=registry, warehouse=warehouse, client=client_for(emulator))
    with connect(warehouse, read_only=True) as con:
        n, distinct = con.execute(
            "select count(*), count(distinct (network, page_ref, snapshot_date)) "
            "from raw.page_snapshots"
        ).fetchone()
        assert n == distinct == len(world.pages) + 1
        assert con.execute("select count(*) from raw.extract_runs").fetchone() == (2,)


def test_client_at_its_limit_is_never_rate_limited(emulator):
    client = client_for(emulator, requests_per_second=3.0)
    for _ in range(10):
        client.execute_calls("utils.resolveScreenName", [{"screen_name": "durov"}])
    assert client.stats.rate_limited == 0
    assert emulator.stats.rate_limited == 0


def test_a_client_over_the_limit_is_told_and_retries(emulator):
    client = client_for(emulator, requests_per_second=50.0, max_retries=10)
    for _ in range(12):
        client.execute_calls("utils.resolveScreenName", [{"screen_name": "durov"}])
    assert client.stats.rate_limited > 0
    assert emulator.stats.rate_limited == client.stats.rate_limited


def test_slow_responses_time_out_and_are_retried_then_recorded(world, registry, emulator, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    extract_vk(START, registry=registry, warehouse=warehouse, client=client_for(emulator))
    emulator.faults = Faults(delay=1.5)
    slow = client_for(emulator, timeout=0.5, max_retries=2)
    day = START + timedelta(days=1)
    summary = extract_vk(day, registry=registry, warehouse=warehouse, client=slow)
    emulator.faults = Faults()
    time.sleep(1.6)  # the last delayed answer is still on its way
    assert emulator.stats.abandoned >= 1
    # first try and two retries for the batch; the registry's dead name is not asked again
    assert slow.stats.errors.get("ReadTimeout", 0) == 3
    assert summary.status == "failed"
    rows = stored(warehouse, day)
    assert {status for _, status, _ in rows.values()} == {"error"}
    assert all(members is None for members, _, _ in rows.values())
    assert "ReadTimeout" in summary.message


def test_a_dead_name_is_asked_again_only_after_the_reresolve_period(
    world, registry, emulator, tmp_path, monkeypatch
):
    warehouse = tmp_path / "w.duckdb"
    client = client_for(emulator)

    def asked_at():
        with connect(warehouse, read_only=True) as con:
            return con.execute(
                "select status, resolved_at from raw.page_refs "
                "where ref_value = 'no_such_page_anywhere'"
            ).fetchone()

    emulator.set_date(START)
    extract_vk(START, registry=registry, warehouse=warehouse, client=client)
    first = asked_at()
    assert first[0] == "not_found"
    emulator.set_date(START + timedelta(days=1))
    summary = extract_vk(
        START + timedelta(days=1), registry=registry, warehouse=warehouse, client=client
    )
    # not asked again (the stored answer is untouched) yet still reported as unresolved
    assert asked_at() == first
    assert summary.unresolved == 1
    assert "no_such_page_anywhere (not_found)" in summary.message

    monkeypatch.setenv("GOSPULSE_RERESOLVE_DAYS", "0")
    extract_vk(START + timedelta(days=1), registry=registry, warehouse=warehouse, client=client)
    again = asked_at()
    assert again[0] == "not_found" and again[1] > first[1]

    # a setting that is not a number of days fails the run with a message naming it,
    # recorded as the day's error rows rather than raised past the run record
    monkeypatch.setenv("GOSPULSE_RERESOLVE_DAYS", "weekly")
    failed = extract_vk(
        START + timedelta(days=2), registry=registry, warehouse=warehouse, client=client
    )
    assert failed.status == "failed" and failed.pages_ok == 0
    assert "GOSPULSE_RERESOLVE_DAYS='weekly'" in failed.message
