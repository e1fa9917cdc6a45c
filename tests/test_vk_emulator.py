"""The HTTP emulator driven by the real vk_api library: payloads, statuses, limits, faults."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

import pytest
import requests
import vk_api

from emulators.vk.server import Faults, VkEmulator
from emulators.vk.world import World
from extractors.vk.session import SlidingWindowLimiter, VkEndpointSession

# real request rates against a real clock: run alone, after the parallel tests (Makefile)
pytestmark = pytest.mark.timing

TOKEN = "good-token"


@pytest.fixture(scope="module")
def world() -> World:
    return World(n_pages=300)


@pytest.fixture
def emulator(world):
    with VkEmulator(world, rate_limit=1000, tokens={TOKEN, "other"}) as emu:
        yield emu


def make_vk(emulator: VkEmulator, token: str = TOKEN) -> vk_api.VkApi:
    vk = vk_api.VkApi(
        token=token,
        api_version="5.199",
        session=VkEndpointSession(emulator.base_url, SlidingWindowLimiter(10_000)),
    )
    vk.RPS_DELAY = 0
    return vk


def event(world: World, kind: str):
    return next(e for e in world.events if e.kind == kind)


def test_get_by_id_shape_and_requested_fields(emulator, world) -> None:
    api = make_vk(emulator).get_api()
    evented = {e.page_id for e in world.events}
    page = next(p for p in world.pages if p.screen_name and p.id not in evented)
    plain = api.groups.getById(group_ids=str(page.id))
    assert plain.keys() == {"groups", "profiles"}
    group = plain["groups"][0]
    assert {
        "id",
        "name",
        "screen_name",
        "is_closed",
        "type",
        "photo_50",
        "photo_100",
        "photo_200",
    } <= group.keys()
    assert "members_count" not in group and "verified" not in group
    full = api.groups.getById(group_id=page.screen_name, fields="members_count,verified")
    group = full["groups"][0]
    assert group["id"] == page.id and group["screen_name"] == page.screen_name
    assert group["members_count"] == world.state_on(page, emulator.date).members_count
    assert group["verified"] == int(page.verified)
    assert group["is_closed"] == 0 and "deactivated" not in group


def test_get_by_id_many_refs_and_unknowns(emulator, world) -> None:
    api = make_vk(emulator).get_api()
    pages = world.pages[:5]
    refs = [
        str(pages[0].id),
        pages[1].default_screen_name,
        f"public{pages[2].id}",
        str(pages[3].id),
    ]
    refs += [str(pages[0].id), "1"]  # duplicate and an unknown numeric id
    groups = api.groups.getById(group_ids=",".join(refs))["groups"]
    assert [g["id"] for g in groups] == [p.id for p in pages[:4]]
    with pytest.raises(vk_api.ApiError) as err:
        api.groups.getById(group_ids=f"{pages[0].id},definitely_not_a_page")
    assert err.value.code == 100
    with pytest.raises(vk_api.ApiError) as err:
        api.groups.getById(group_ids=",".join(str(p.id) for p in world.pages[:1] * 501))
    assert err.value.code == 100


@pytest.mark.parametrize("kind", ["deleted", "banned"])
def test_deactivated_pages_follow_the_clock(emulator, world, kind: str) -> None:
    ev = event(world, kind)
    api = make_vk(emulator).get_api()
    emulator.set_date(ev.day - timedelta(days=1))
    before = api.groups.getById(group_id=ev.page_id, fields="members_count")["groups"][0]
    assert "deactivated" not in before and before["members_count"] > 0
    emulator.set_date(ev.day)
    after = api.groups.getById(group_id=ev.page_id, fields="members_count")["groups"][0]
    assert after["deactivated"] == kind and "members_count" not in after
    assert (after["name"] == "DELETED") == (kind == "deleted")


def test_closed_page(emulator, world) -> None:
    ev = event(world, "closed")
    api = make_vk(emulator).get_api()
    emulator.set_date(ev.day)
    group = api.groups.getById(group_id=ev.page_id, fields="members_count")["groups"][0]
    assert group["is_closed"] == ev.is_closed and group["members_count"] > 0


def test_renamed_page_old_name_stops_resolving(emulator, world) -> None:
    ev = event(world, "renamed")
    api = make_vk(emulator).get_api()
    emulator.set_date(ev.day - timedelta(days=1))
    assert api.utils.resolveScreenName(screen_name=ev.old_screen_name) == {
        "object_id": ev.page_id,
        "type": "group",
    }
    assert api.utils.resolveScreenName(screen_name=ev.new_screen_name) == []
    emulator.set_date(ev.day)
    assert api.utils.resolveScreenName(screen_name=ev.old_screen_name) == []
    assert api.utils.resolveScreenName(screen_name=ev.new_screen_name)["object_id"] == ev.page_id
    group = api.groups.getById(group_id=ev.page_id)["groups"][0]
    assert group["screen_name"] == ev.new_screen_name
    with pytest.raises(vk_api.ApiError):
        api.groups.getById(group_id=ev.old_screen_name)


def test_resolve_club_and_unknown(emulator, world) -> None:
    api = make_vk(emulator).get_api()
    page = world.pages[7]
    assert api.utils.resolveScreenName(screen_name=f"club{page.id}")["object_id"] == page.id
    assert api.utils.resolveScreenName(screen_name="no_such_name_anywhere") == []


def test_auth_errors(emulator) -> None:
    with pytest.raises(vk_api.ApiError) as err:
        make_vk(emulator, token="stolen").method("groups.getById", {"group_id": 1})
    assert err.value.code == 5
    assert err.value.error["error_msg"] == "User authorization failed: invalid access_token (4)."
    params = {"group_id": 1, "v": "5.199"}
    body = requests.post(emulator.base_url + "groups.getById", data=params).json()
    assert body["error"]["error_code"] == 5
    assert {"key": "method", "value": "groups.getById"} in body["error"]["request_params"]


def test_version_and_method_errors(emulator) -> None:
    url = emulator.base_url
    no_v = requests.get(url + "groups.getById", params={"access_token": TOKEN}).json()
    assert no_v["error"]["error_code"] == 8
    unknown = requests.post(url + "groups.nope", data={"access_token": TOKEN, "v": "5.199"}).json()
    assert unknown["error"] == {
        "error_code": 3,
        "error_msg": "Unknown method passed",
        "request_params": [
            {"key": "v", "value": "5.199"},
            {"key": "method", "value": "groups.nope"},
            {"key": "oauth", "value": "1"},
        ],
    }


def test_sliding_window_rate_limit(world) -> None:
    with VkEmulator(world, rate_limit=3, window=0.3) as emu:
        params = {"access_token": "a", "v": "5.199", "screen_name": "x"}

        def call(token: str = "a") -> dict:
            url = emu.base_url + "utils.resolveScreenName"
            return requests.post(url, data={**params, "access_token": token}).json()

        assert [call().get("error") for _ in range(3)] == [None] * 3
        limited = call()["error"]
        assert limited["error_code"] == 6 and limited["error_msg"] == "Too many requests per second"
        assert "error" not in call("b")  # limits are per token
        time.sleep(0.35)
        assert "error" not in call()
        stats = emu.stats
        assert stats.rate_limited == 1 and stats.by_token["a"] == 5


def test_hammering_vk_api_gets_error_6(world) -> None:
    with VkEmulator(world, rate_limit=3, window=1.0) as emu:
        vk = make_vk(emu, token="any")
        del vk.error_handlers[6]  # vk_api would sleep and retry; we want to see the error
        with pytest.raises(vk_api.ApiError) as err:
            for _ in range(10):
                vk.method("utils.resolveScreenName", {"screen_name": "x"})
        assert err.value.code == 6
        assert emu.stats.rate_limited == 1


def test_execute_counts_once_for_rate_limit(world) -> None:
    with VkEmulator(world, rate_limit=2, window=5.0) as emu:
        vk = make_vk(emu, token="any")
        code = (
            "return [" + ",".join(["API.utils.resolveScreenName({screen_name: 'x'})"] * 25) + "];"
        )
        assert vk.method("execute", {"code": code}) == [[]] * 25
        assert vk.method("execute", {"code": code}) == [[]] * 25
        stats = emu.stats
        assert stats.requests_total == 2 and stats.api_calls_in_execute == 50
        assert stats.rate_limited == 0


def test_http_faults(emulator) -> None:
    emulator.faults = Faults(http_error_rate=1.0, http_error_codes=(502,))
    with pytest.raises(vk_api.ApiHttpError) as err:
        make_vk(emulator).method("groups.getById", {"group_id": 1})
    assert err.value.response.status_code == 502
    assert emulator.stats.http_faults == 1


@pytest.mark.parametrize("code", [9, 10])
def test_api_faults(emulator, world, code: int) -> None:
    emulator.faults = Faults(api_error_rate=1.0, api_error_codes=(code,))
    vk = make_vk(emulator)
    with pytest.raises(vk_api.ApiError) as err:
        vk.method("groups.getById", {"group_id": world.pages[0].id})
    assert err.value.code == code
    raw = vk.method(
        "execute", {"code": "return [API.utils.resolveScreenName({screen_name: 'x'})];"}, raw=True
    )
    assert raw["response"] == [False]
    assert raw["execute_errors"][0]["error_code"] == code


def test_faults_are_deterministic(world) -> None:
    def outcomes() -> list[int]:
        with VkEmulator(world, rate_limit=1000) as emu:
            emu.faults = Faults(api_error_rate=0.5, api_error_codes=(1, 10), seed=7)
            vk = make_vk(emu, token="t")
            codes = []
            for _ in range(12):
                try:
                    vk.method("utils.resolveScreenName", {"screen_name": "x"})
                    codes.append(0)
                except vk_api.ApiError as exc:
                    codes.append(exc.code)
            return codes

    first = outcomes()
    assert first == outcomes() and 0 in first and set(first) - {0}


def test_page_forced_error_and_delay(emulator, world) -> None:
    page = world.pages[3]
    emulator.faults = Faults(page_errors={page.id: 15}, delay=0.05)
    api = make_vk(emulator).get_api()
    started = time.monotonic()
    with pytest.raises(vk_api.ApiError) as err:
        api.groups.getById(group_ids=f"{world.pages[2].id},{page.id}")
    assert err.value.code == 15 and time.monotonic() - started >= 0.05
    assert api.groups.getById(group_id=world.pages[2].id)["groups"]


def test_admin_endpoints(emulator, world) -> None:
    day = world.start + timedelta(days=20)
    state = {"date": day.isoformat(), "faults": {"http_error_rate": 0.25, "page_errors": {"5": 9}}}
    reply = requests.post(emulator.admin_url + "state", json=state).json()
    assert reply["date"] == day.isoformat() and reply["faults"]["page_errors"] == {"5": 9}
    assert emulator.date == day and emulator.faults.page_errors == {5: 9}
    assert requests.get(emulator.admin_url + "state").json()["date"] == day.isoformat()
    bad = requests.post(emulator.admin_url + "state", json={"date": "1999-01-01"})
    assert bad.status_code == 400
    requests.post(emulator.admin_url + "state", json={"faults": {}, "reset_stats": True})
    make_vk(emulator).method("utils.resolveScreenName", {"screen_name": "x"})
    stats = requests.get(emulator.admin_url + "stats").json()
    assert stats["requests_total"] == 1
    assert stats["by_method"] == {"utils.resolveScreenName": 1}
    assert stats["by_token"] == {TOKEN: 1}


def test_execute_sees_args(emulator) -> None:
    vk = make_vk(emulator)
    assert (
        vk.method("execute", {"code": "return Args.name + '!';", "name": "kuzbass"}) == "kuzbass!"
    )


def test_cli_serves_until_killed() -> None:
    cmd = [sys.executable, "-m", "emulators.vk.server", "--port", "0", "--date", "2026-01-15"]
    proc = subprocess.Popen([*cmd, "--n-pages", "50"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        base_url = line.split()[-1]
        admin = base_url.replace("/method/", "/_emulator/")
        assert requests.get(admin + "state", timeout=5).json()["date"] == "2026-01-15"
        body = requests.post(base_url + "utils.resolveScreenName", data={"v": "5.199"}).json()
        assert body["error"]["error_code"] == 5
    finally:
        proc.terminate()
        proc.wait(timeout=10)
