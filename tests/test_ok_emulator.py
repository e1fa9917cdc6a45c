"""The OK emulator over raw HTTP: signatures, error bodies, payload shapes, limits, admin, CLI."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import timedelta

import pytest
import requests

from emulators.networld import NetworkWorld
from emulators.ok.server import MAX_UIDS, Faults, OkEmulator
from emulators.vk.world import World

# real request rates against a real clock: run alone, after the parallel tests (Makefile)
pytestmark = pytest.mark.timing

APP_KEY = "CBATESTAPPKEY"
APP_SECRET = "test-app-secret"
TOKEN = "test-session-token"


@pytest.fixture(scope="module")
def world() -> NetworkWorld:
    return NetworkWorld(World(seed=7, n_pages=300), "ok")


@pytest.fixture
def emulator(world):
    with OkEmulator(
        world, rate_limit=1000, app_key=APP_KEY, app_secret=APP_SECRET, tokens={TOKEN}
    ) as emu:
        yield emu


def signed(method: str, token: str = TOKEN, secret: str = APP_SECRET, **params: str) -> dict:
    """Parameters signed by hand, written out independently of the client under test."""
    params.update(application_key=APP_KEY, format="json", method=method)
    pairs = "".join(k + "=" + params[k] for k in sorted(params))
    key = hashlib.md5((token + secret).encode()).hexdigest() if token else secret
    params["sig"] = hashlib.md5((pairs + key).encode()).hexdigest()
    if token:
        params["access_token"] = token
    return params


def post(emulator: OkEmulator, params: dict) -> requests.Response:
    return requests.post(emulator.base_url, data=params, timeout=10)


def quiet_page(world: NetworkWorld):
    evented = {e.page_id for e in world.events}
    return next(p for p in world.pages if p.id not in evented)


def event_page(world: NetworkWorld, kind: str):
    return world.by_id[next(e.page_id for e in world.events if e.kind == kind)]


def test_group_get_info_is_an_array_of_requested_fields(emulator, world) -> None:
    page = quiet_page(world)
    body = post(
        emulator,
        signed("group.getInfo", uids=str(page.id), fields="uid,name,shortname,members_count"),
    ).json()
    assert isinstance(body, list) and len(body) == 1
    state = world.state_on(page, emulator.date)
    assert body[0] == {
        "uid": str(page.id),
        "name": state.name,
        "shortname": state.username,
        "members_count": state.members_count,
    }
    only_name = post(emulator, signed("group.getInfo", uids=str(page.id), fields="name")).json()
    assert only_name == [{"uid": str(page.id), "name": state.name}]


def test_statuses_as_the_fields_show_them(emulator, world) -> None:
    day = world.start + timedelta(days=60)
    emulator.set_date(day)
    fields = "uid,members_count,access_type,status,blocked"
    kinds = ("deleted", "banned", "closed")
    pages = {kind: event_page(world, kind) for kind in kinds}
    uids = ",".join(str(p.id) for p in pages.values())
    body = post(emulator, signed("group.getInfo", uids=uids, fields=fields)).json()
    by_uid = {g["uid"]: g for g in body}
    deleted, banned, closed = (by_uid[str(pages[k].id)] for k in kinds)
    assert deleted["status"] == "DELETED" and "members_count" not in deleted
    assert banned["status"] == "BLOCKED" and banned["blocked"] is True
    assert "members_count" not in banned
    assert closed["access_type"] == "CLOSED"
    assert closed["members_count"] == world.state_on(pages["closed"], day).members_count


def test_unknown_ids_are_left_out_and_bad_ids_fail_the_call(emulator, world) -> None:
    page = quiet_page(world)
    uids = f"{page.id},99999999999999"
    body = post(emulator, signed("group.getInfo", uids=uids, fields="uid")).json()
    assert body == [{"uid": str(page.id)}]
    bad = post(emulator, signed("group.getInfo", uids=f"{page.id},abc", fields="uid"))
    assert bad.status_code == 200
    assert bad.headers["invocation-error"] == "100"
    assert bad.json()["error_code"] == 100 and bad.json()["error_msg"].startswith("PARAM : ")
    too_many = ",".join(str(p.id) for p in world.pages[: MAX_UIDS + 1])
    body = post(emulator, signed("group.getInfo", uids=too_many, fields="uid")).json()
    assert body["error_code"] == 100


def test_url_get_info_resolves_short_names_and_group_links(emulator, world) -> None:
    page = quiet_page(world)
    for url in (f"https://ok.ru/{page.username}", f"https://ok.ru/group/{page.id}"):
        body = post(emulator, signed("url.getInfo", url=url)).json()
        assert body == {"objectId": page.id, "objectIdStr": str(page.id), "type": "GROUP"}
    missing = post(emulator, signed("url.getInfo", url="https://ok.ru/nobody_has_this")).json()
    assert missing == {
        "error_code": 300,
        "error_msg": "NOT_FOUND : Requested information is not found",
        "error_data": None,
    }


def test_get_works_like_post(emulator, world) -> None:
    page = quiet_page(world)
    params = signed("group.getInfo", uids=str(page.id), fields="uid")
    assert requests.get(emulator.base_url, params=params, timeout=10).json() == [
        {"uid": str(page.id)}
    ]


def test_credentials_are_checked_with_oks_errors(emulator, world) -> None:
    page = quiet_page(world)
    good = signed("group.getInfo", uids=str(page.id), fields="uid")
    wrong_sig = {**good, "sig": "0" * 32}
    body = post(emulator, wrong_sig).json()
    assert body == {
        "error_code": 104,
        "error_msg": "PARAM_SIGNATURE : Invalid signature",
        "error_data": None,
    }
    no_sig = {k: v for k, v in good.items() if k != "sig"}
    assert post(emulator, no_sig).json()["error_msg"] == "PARAM_SIGNATURE : No signature specified"
    wrong_secret = signed("group.getInfo", secret="not-the-secret", uids=str(page.id), fields="uid")
    assert post(emulator, wrong_secret).json()["error_code"] == 104
    assert post(emulator, {**good, "application_key": "other"}).json()["error_code"] == 101
    stranger = signed("group.getInfo", token="stranger", uids=str(page.id), fields="uid")
    assert post(emulator, stranger).json()["error_code"] == 103
    # a tampered parameter breaks the signature
    assert post(emulator, {**good, "uids": str(world.pages[1].id)}).json()["error_code"] == 104
    # group.getInfo needs no session: the application secret signs it
    sessionless = signed("group.getInfo", token="", uids=str(page.id), fields="uid")
    assert post(emulator, sessionless).json() == [{"uid": str(page.id)}]
    assert post(emulator, signed("group.nope")).json()["error_code"] == 3


def test_rate_limit_per_token_answers_flood_blocked(world) -> None:
    with OkEmulator(world, rate_limit=3, app_key=APP_KEY, app_secret=APP_SECRET) as emu:
        codes = [
            post(emu, signed("url.getInfo", url="https://ok.ru/x1")).json()["error_code"]
            for _ in range(5)
        ]
        # another token has its own window
        other = post(emu, signed("url.getInfo", token="t2", url="https://ok.ru/x1")).json()
        stats = emu.stats
    assert codes == [300, 300, 300, 8, 8]
    assert other["error_code"] == 300
    assert stats.rate_limited == 2 and stats.max_in_window == 3
    assert TOKEN not in str(stats.to_dict())  # tokens show only as hash prefixes


def test_faults_down_5xx_and_page_errors(emulator, world) -> None:
    page = quiet_page(world)
    params = signed("group.getInfo", uids=str(page.id), fields="uid")
    emulator.faults = Faults(down=True)
    down = post(emulator, params)
    assert down.status_code == 503 and "html" in down.headers["Content-Type"]
    emulator.faults = Faults(http_error_rate=1.0, http_error_codes=(502,))
    assert post(emulator, params).status_code == 502
    emulator.faults = Faults(api_error_rate=1.0, api_error_codes=(2,))
    assert post(emulator, params).json()["error_msg"].startswith("SERVICE : ")
    emulator.faults = Faults(page_errors={page.id: 456})
    assert post(emulator, params).json()["error_code"] == 456
    emulator.faults = Faults()
    assert post(emulator, params).json() == [{"uid": str(page.id)}]
    stats = emulator.stats
    assert stats.http_faults == 2 and stats.api_faults == 1
    assert stats.by_error[456] == 1


def test_admin_endpoints(emulator, world) -> None:
    day = world.start + timedelta(days=3)
    state = {"date": day.isoformat(), "faults": {"page_errors": {"1": 160}}}
    reply = requests.post(emulator.admin_url + "state", json=state, timeout=5).json()
    assert reply["date"] == day.isoformat() and reply["faults"]["page_errors"] == {"1": 160}
    assert emulator.date == day
    bad = requests.post(emulator.admin_url + "state", json={"date": "1999-01-01"}, timeout=5)
    assert bad.status_code == 400
    requests.post(emulator.admin_url + "state", json={"faults": {}, "reset_stats": True})
    post(emulator, signed("url.getInfo", url="https://ok.ru/x"))
    stats = requests.get(emulator.admin_url + "stats", timeout=5).json()
    assert stats["requests_total"] == 1 and stats["by_method"] == {"url.getInfo": 1}


def test_cli_serves_until_killed() -> None:
    cmd = [sys.executable, "-m", "emulators.ok.server", "--port", "0", "--date", "2026-01-15"]
    proc = subprocess.Popen(
        [*cmd, "--n-pages", "50", "--rate-limit", "5"], stdout=subprocess.PIPE, text=True
    )
    try:
        base_url = proc.stdout.readline().split()[-1]
        admin = base_url.replace("/fb.do", "/_emulator/")
        assert requests.get(admin + "state", timeout=5).json()["date"] == "2026-01-15"
        body = requests.post(base_url, data={"method": "group.getInfo"}, timeout=5).json()
        assert body["error_code"] == 101
    finally:
        proc.terminate()
        proc.wait(timeout=10)
