"""groups.getMembers in the VK emulator and the synthetic population behind it."""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pytest
import vk_api
from vk_api.requests_pool import VkRequestsPool, vk_request_one_param_pool
from vk_api.tools import VkTools

from emulators.vk.audience import USER_ID_BASE, USER_ID_TOP, Permutation
from emulators.vk.server import Faults, VkEmulator
from emulators.vk.world import World
from extractors.vk.session import SlidingWindowLimiter, VkEndpointSession


@pytest.fixture(scope="module")
def world() -> World:
    return World(n_pages=300)


@pytest.fixture(scope="module")
def region() -> World:
    return World(seed=42)


@pytest.fixture
def emulator(world):
    with VkEmulator(world, rate_limit=1000) as emu:
        yield emu


def make_vk(emulator: VkEmulator) -> vk_api.VkApi:
    vk = vk_api.VkApi(
        token="t",
        api_version="5.199",
        session=VkEndpointSession(emulator.base_url, SlidingWindowLimiter(10_000)),
    )
    vk.RPS_DELAY = 0
    return vk


def readable(world: World, low: int, high: int):
    """A page with an open, visible list of low..high members on the world's start date."""
    evented = {e.page_id for e in world.events}
    return next(
        p
        for p in world.pages
        if low <= world.state_on(p, world.start).members_count <= high
        and not world.members_hidden(p)
        and p.id not in evented
    )


def members(world: World, page, day) -> set[int]:
    return set(world.members(page, day).tolist())


def test_response_shape_and_id_order(emulator, world) -> None:
    page = readable(world, 2_000, 5_000)
    api = make_vk(emulator).get_api()
    reply = api.groups.getMembers(group_id=page.id, count=20)
    assert reply.keys() == {"count", "items"}  # groups_getMembers_response
    assert reply["count"] == world.state_on(page, world.start).members_count
    items = reply["items"]
    assert len(items) == 20 and all(type(i) is int and i > 0 for i in items)
    assert items == sorted(items)  # sort=id_asc is the default
    by_name = api.groups.getMembers(group_id=page.screen_name or page.default_screen_name)
    assert len(by_name["items"]) == 1000 and by_name["items"][:20] == items
    desc = api.groups.getMembers(group_id=page.id, sort="id_desc", count=20)["items"]
    assert desc == sorted(members(world, page, world.start), reverse=True)[:20]
    joined = api.groups.getMembers(group_id=page.id, sort="time_asc", count=20)["items"]
    assert joined == world.members(page, world.start)[:20].tolist()


def test_paging_returns_each_member_once(emulator, world) -> None:
    page = readable(world, 2_500, 9_000)
    api = make_vk(emulator).get_api()
    expected = world.state_on(page, world.start).members_count
    seen: list[int] = []
    for offset in range(0, expected + 1000, 1000):
        reply = api.groups.getMembers(group_id=page.id, offset=offset, count=1000)
        assert reply["count"] == expected
        seen += reply["items"]
    assert len(seen) == expected == len(set(seen))
    assert set(seen) == members(world, page, world.start)
    past = api.groups.getMembers(group_id=page.id, offset=expected + 5)
    assert past == {"count": expected, "items": []}
    capped = api.groups.getMembers(group_id=page.id, count=5000)["items"]
    assert len(capped) == 1000


def test_members_follow_the_clock(emulator, world) -> None:
    api = make_vk(emulator).get_api()
    page = readable(world, 5_000, 50_000)
    later = world.start + timedelta(days=60)
    before, after = members(world, page, world.start), members(world, page, later)
    assert len(after) > len(before) and before < after  # growth only adds people
    emulator.set_date(later)
    assert api.groups.getMembers(group_id=page.id)["count"] == len(after)
    drop = next(e for e in world.events if e.kind == "drop")
    page = world.by_id[drop.page_id]
    kept, left = members(world, page, drop.day), members(world, page, drop.day - timedelta(1))
    assert kept < left and len(kept) == world.state_on(page, drop.day).members_count


def test_hidden_closed_and_deactivated_give_15(emulator, world) -> None:
    vk = make_vk(emulator)
    hidden = next(p for p in world.pages if world.members_hidden(p))
    cases = [(hidden.id, "Access denied: group hide members")]
    for kind, message in [
        ("closed", "Access denied: group hide members"),
        ("banned", "Access denied: group is blocked"),
        ("deleted", "Access denied: group is deleted"),
    ]:
        event = next(e for e in world.events if e.kind == kind)
        emulator.set_date(event.day - timedelta(days=1))
        assert vk.method("groups.getMembers", {"group_id": event.page_id, "count": 1})["count"]
        emulator.set_date(max(e.day for e in world.events))
        cases.append((event.page_id, message))
    for group_id, message in cases:
        with pytest.raises(vk_api.ApiError) as err:
            vk.method("groups.getMembers", {"group_id": group_id})
        assert (err.value.code, err.value.error["error_msg"]) == (15, message)


def test_unknown_and_bad_params(emulator) -> None:
    vk = make_vk(emulator)
    for params, code, message in [
        ({"group_id": 1}, 125, "Invalid group id"),
        ({"group_id": "no_such_page_here"}, 100, "group_id not domain"),
        ({}, 100, "group_id is undefined"),
        ({"group_id": 1, "offset": -1}, 100, "offset should be positive"),
        ({"group_id": 1, "sort": "random"}, 100, "sort should be one of"),
    ]:
        with pytest.raises(vk_api.ApiError) as err:
            vk.method("groups.getMembers", params)
        assert err.value.code == code and message in err.value.error["error_msg"]


def test_vk_tools_get_all_reads_a_whole_list(emulator, world) -> None:
    page = readable(world, 26_000, 120_000)  # more than one execute of 25 x 1000
    vk = make_vk(emulator)
    result = VkTools(vk).get_all("groups.getMembers", 1000, {"group_id": page.id})
    assert result["count"] == world.state_on(page, world.start).members_count
    assert sorted(result["items"]) == sorted(world.members(page, world.start).tolist())
    assert emulator.stats.by_method["execute"] >= 2


def test_request_pools(emulator, world) -> None:
    vk = make_vk(emulator)
    open_page = readable(world, 100, 1_000)
    hidden = next(p for p in world.pages if world.members_hidden(p))
    ids = [open_page.id, hidden.id, 1]
    result, errors = vk_request_one_param_pool(
        vk, "groups.getMembers", "group_id", ids, default_values={"count": 1000}
    )
    assert set(result[open_page.id]["items"]) == members(world, open_page, world.start)
    assert {k: e["error_code"] for k, e in errors.items()} == {hidden.id: 15, 1: 125}
    with VkRequestsPool(vk) as pool:
        first = pool.method("groups.getMembers", {"group_id": open_page.id, "count": 3})
        failed = pool.method("groups.getMembers", {"group_id": hidden.id})
    assert len(first.result["items"]) == 3 and not failed.ok


def test_rate_limit_and_faults_apply(world) -> None:
    page = readable(world, 100, 1_000)
    with VkEmulator(world, rate_limit=2, window=5.0) as emu:
        vk = make_vk(emu)
        call = f"API.groups.getMembers({{group_id: {page.id}, count: 10}})"
        assert len(vk.method("execute", {"code": f"return [{call},{call}];"})) == 2
        emu.faults = Faults(api_error_rate=1.0, api_error_codes=(10,))
        raw = vk.method("execute", {"code": f"return [{call}];"}, raw=True)
        assert raw["response"] == [False] and raw["execute_errors"][0]["error_code"] == 10
        emu.faults = Faults()
        del vk.error_handlers[6]  # see the error instead of vk_api's sleep-and-retry
        with pytest.raises(vk_api.ApiError) as err:
            vk.method("groups.getMembers", {"group_id": page.id})
        assert err.value.code == 6
        assert emu.stats.api_calls_in_execute == 3


def test_execute_of_25_calls_is_cheap(world) -> None:
    page = max(world.pages, key=lambda p: p.base_members)
    emu = VkEmulator(world, rate_limit=10**6)  # handle() only: no HTTP needed
    calls = ",".join(
        f"API.groups.getMembers({{group_id: {page.id}, offset: {i * 1000}, count: 1000}})"
        for i in range(25)
    )
    params = {"access_token": "t", "v": "5.199", "code": f"return [{calls}];"}
    emu.handle("execute", params)  # the first call sorts and caches the page's list
    cpu = []
    for _ in range(3):
        started = time.process_time()
        status, body = emu.handle("execute", params)
        cpu.append(time.process_time() - started)
        assert status == 200 and sum(len(r["items"]) for r in body["response"]) == 25_000
    assert sorted(cpu)[1] < 0.1, cpu


def test_user_ids_and_local_structure(world) -> None:
    page = next(
        p
        for p in world.pages
        if p.municipality and world.state_on(p, world.start).members_count > 3_000
    )
    ids = world.members(page, world.start)
    assert len(np.unique(ids)) == ids.size
    assert USER_ID_BASE <= ids.min() and ids.max() < USER_ID_TOP
    assert np.diff(np.sort(ids)).min() > 1  # spread out, not 1..N
    local = np.mean([world.audience.home(int(i)) == page.municipality for i in ids])
    assert 0.75 <= local <= 0.85


def test_region_duplication_factor(region) -> None:
    day = region.start
    subscriptions = sum(region.state_on(p, day).members_count for p in region.pages)
    unique = region.exact_unique(region.pages, day)
    assert 2.3 <= subscriptions / unique <= 2.7
    hidden = len(region.audience.hidden) / len(region.pages)
    assert 0.02 <= hidden <= 0.04
    main = max(
        (p for p in region.pages if not p.municipality and p.sector == "government"),
        key=lambda p: p.base_members,
    )
    assert not region.members_hidden(main)


def test_exact_counts_match_brute_force() -> None:
    small = World(n_pages=60)
    day = small.start + timedelta(days=10)
    sets = {p.id: members(small, p, day) for p in small.pages}
    assert small.exact_unique(small.pages, day) == len(set().union(*sets.values()))
    some = small.pages[5:25]
    assert small.exact_unique(some, day) == len(set().union(*(sets[p.id] for p in some)))
    a, b = small.pages[0], small.pages[7]
    assert small.exact_overlap(a, b, day) == len(sets[a.id] & sets[b.id]) > 0


def test_population_is_deterministic(world) -> None:
    again = World(n_pages=300)
    day = world.start + timedelta(days=3)
    for page in world.pages[::37]:
        assert np.array_equal(world.members(page, day), again.members(page, day))
    assert again.audience.hidden == world.audience.hidden
    other = World(seed=7, n_pages=300)
    assert not np.array_equal(
        other.members(other.pages[0], day), world.members(world.pages[0], day)
    )


def test_permutation_is_a_bijection() -> None:
    for n in (1, 2, 3, 1000, 65_537):
        image = Permutation(n, key=n * 31)(np.arange(n))
        assert np.array_equal(np.sort(image), np.arange(n))


def test_members_scale_keeps_the_registry(world) -> None:
    big = World(n_pages=300, members_scale=2.0)
    assert big.registry_csv() == world.registry_csv() and big.events == world.events
    page = world.pages[3]
    ratio = (
        big.state_on(big.by_id[page.id], world.start).members_count
        / world.state_on(page, world.start).members_count
    )
    assert 1.9 <= ratio <= 2.1


def test_waves_join_a_page_and_show_as_bought_or_from_elsewhere():
    world = World(n_pages=60)
    page = readable(world, 500, 3000)
    day = world.start + timedelta(days=5)
    before = world.state_on(page, day).members_count
    bought = world.add_wave(page, day, 400, "bought", deactivated_on=day + timedelta(days=3))
    away = world.add_wave(page, day + timedelta(days=1), 300, "nonresident")
    with pytest.raises(ValueError, match="bought or nonresident"):
        world.add_wave(page, day, 10, "organic")
    with VkEmulator(world, rate_limit=1000) as emulator:
        vk = make_vk(emulator).get_api()
        for on, joined in (
            (day - timedelta(days=1), 0),
            (day, 400),
            (day + timedelta(days=2), 700),
        ):
            emulator.set_date(on)
            count = world.state_on(page, on).members_count
            got = []
            for offset in range(0, count, 1000):
                got += vk.groups.getMembers(group_id=page.id, offset=offset, count=1000)["items"]
            assert got == sorted(got) and len(got) == count and set(got) == members(world, page, on)
            assert sum(1 for i in got if i >= bought.first_id) == joined
        # the wave is on top of the page's own members
        assert world.state_on(page, day).members_count == before + 400

        def users(on):
            emulator.set_date(on)
            count = world.state_on(page, on).members_count
            return [
                u
                for offset in range(0, count, 1000)
                for u in vk.groups.getMembers(
                    group_id=page.id, offset=offset, count=1000, fields="city"
                )["items"]
                if u["id"] >= bought.first_id
            ]

        wave_day = users(day + timedelta(days=2))
        assert not any("deactivated" in u for u in wave_day)
        later = {u["id"]: u for u in users(day + timedelta(days=3))}
        assert all(
            later[i].get("deactivated") == "banned"
            for i in range(bought.first_id, bought.first_id + 400)
        )
        from_elsewhere = [later[i] for i in range(away.first_id, away.first_id + 300)]
        assert all(u["city"]["id"] in (1, 99, 7_000_001) for u in from_elsewhere)
