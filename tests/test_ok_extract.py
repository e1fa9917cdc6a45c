"""The OK client and extractor against the loopback emulator: signatures, statuses, faults."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import date, timedelta

import pytest

from emulators.networld import NetworkWorld
from emulators.ok.server import Faults, OkEmulator
from emulators.vk.world import World
from extractors.base import NetworkExtractor
from extractors.ok.client import OkAuthError, OkClient, ok_client_from_env, session_secret
from extractors.ok.extract import IDS_PER_CALL, OkExtractor
from extractors.ok.records import group_status

# real request rates against a real clock: run alone, after the parallel tests (Makefile)
pytestmark = pytest.mark.timing

START = date(2026, 3, 1)
APP_KEY = "CBATESTAPPKEY"
APP_SECRET = "test-app-secret-value"
TOKEN = "test-session-token-value"
UNKNOWN_ID = "99999999999999"


@pytest.fixture(scope="module")
def world() -> NetworkWorld:
    return NetworkWorld(World(seed=7, start=START, n_pages=300), "ok")


@pytest.fixture
def emulator(world):
    with OkEmulator(
        world, rate_limit=1000, app_key=APP_KEY, app_secret=APP_SECRET, tokens={TOKEN}
    ) as emu:
        yield emu


def client_for(emulator: OkEmulator, **kw) -> OkClient:
    kw.setdefault("requests_per_second", 500.0)
    kw.setdefault("sleep", lambda seconds: None)  # backoff is not what these tests measure
    return OkClient(
        APP_KEY, TOKEN, application_secret_key=APP_SECRET, base_url=emulator.base_url, **kw
    )


def by_ref(rows):
    return {r.page_ref: r for r in rows}


def test_signature_matches_oks_published_example() -> None:
    # the worked example of the aiookru docs: application key, secret and token as published
    token = "-s-84W-s3egarWUsbkq-IWTucuedzTKT8VUXIA.s4Xx8IW7"
    secret = "ABC123DEF456GHI789JKL123"
    client = OkClient("ABCDEFGHIGKLMNOPK", token, application_secret_key=secret)
    params = client.signed_params("events.get", {})
    key = hashlib.md5((token + secret).encode()).hexdigest()
    assert key == "b1a2b89707a94624c43afae67d59274c" == session_secret(token, secret)
    expected = hashlib.md5(
        ("application_key=ABCDEFGHIGKLMNOPK" + "format=json" + "method=events.get" + key).encode()
    ).hexdigest()
    assert params["sig"] == expected == "232c8eb921951c4dba9b72606f9ddb4c"
    assert params["access_token"] == token
    # a session secret given directly signs the same way
    direct = OkClient("ABCDEFGHIGKLMNOPK", token, session_secret_key=key)
    assert direct.signed_params("events.get", {})["sig"] == expected


def test_wrong_secret_fails_fast(emulator) -> None:
    bad = OkClient(APP_KEY, TOKEN, application_secret_key="wrong", base_url=emulator.base_url)
    with pytest.raises(OkAuthError, match=r"\[104\] PARAM_SIGNATURE"):
        OkExtractor(bad).fetch_batch(["1"], START, None, {})
    assert bad.stats.retries == 0 and bad.stats.requests == 1
    stranger = OkClient(
        APP_KEY, "other-token", application_secret_key=APP_SECRET, base_url=emulator.base_url
    )
    with pytest.raises(OkAuthError, match=r"\[103\]"):
        OkExtractor(stranger).resolve(["somebody"])
    with pytest.raises(OkAuthError, match="OK_APP_SECRET"):
        OkClient(APP_KEY, TOKEN)


def test_client_from_env_and_overrides(monkeypatch, emulator) -> None:
    monkeypatch.setenv("OK_APP_KEY", APP_KEY)
    monkeypatch.setenv("OK_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("OK_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("GOSPULSE_OK_API_URL", f"http://127.0.0.1:{emulator.port}/")
    monkeypatch.setenv("GOSPULSE_OK_RPS", "100")
    client = ok_client_from_env()
    assert client.url == emulator.base_url
    assert OkExtractor(client).resolve(["1234"])[0].page_ref == "1234"
    page = emulator.world.pages[0]
    assert client.call("group.getInfo", {"uids": str(page.id), "fields": "uid"}) == [
        {"uid": str(page.id)}
    ]
    # an Airflow connection's values win over the environment
    secret = session_secret(TOKEN, APP_SECRET)
    monkeypatch.delenv("OK_APP_SECRET")
    over = ok_client_from_env(session_secret_key=secret, base_url=emulator.base_url)
    assert over.call("group.getInfo", {"uids": str(page.id), "fields": "uid"})[0]["uid"]


def test_resolution_of_short_names(emulator, world) -> None:
    named = [p for p in world.pages if p.username][:5]
    names = [p.username for p in named] + ["no_such_group_anywhere", str(named[0].id)]
    got = OkExtractor(client_for(emulator)).resolve(names)
    assert [r.screen_name for r in got] == names
    assert [r.page_ref for r in got[:5]] == [str(p.id) for p in named]
    assert {r.status for r in got[:5]} == {"ok"}
    assert got[5].status == "not_found" and got[5].page_ref is None
    assert "NOT_FOUND" in got[5].error
    assert got[6].page_ref == str(named[0].id)


def test_a_full_day_matches_the_world(emulator, world) -> None:
    extractor: NetworkExtractor = OkExtractor(client_for(emulator))
    assert extractor.network == "ok"
    # day 0: registry short names resolved once; ids kept from then on
    emulator.set_date(START)
    names = [p.username for p in world.pages if "/group/" not in p.registry_ref]
    resolved = extractor.resolve(names)
    assert {r.status for r in resolved} == {"ok"}
    ids = {r.page_ref for r in resolved} | {
        p.registry_ref.rsplit("/", 1)[1] for p in world.pages if "/group/" in p.registry_ref
    }
    day = START + timedelta(days=59)
    emulator.set_date(day)
    batches = extractor.plan_batches([*ids, UNKNOWN_ID, UNKNOWN_ID])
    rows = {}
    requests = 0
    for batch in batches:
        result = extractor.fetch_batch(batch, day, "run-1", {})
        assert [r.page_ref for r in result.rows] == batch
        rows.update(by_ref(result.rows))
        requests += result.requests
    assert len(rows) == len(world.pages) + 1
    assert requests == -(-(len(world.pages) + 1) // IDS_PER_CALL)
    seen = set()
    for page in world.pages:
        state = world.state_on(page, day)
        row = rows[str(page.id)]
        assert row.network == "ok" and row.snapshot_date == day and row.run_id == "run-1"
        assert row.status == state.status, page.id
        seen.add(state.status)
        if state.status in ("ok", "closed"):
            assert row.members_count == state.members_count
            assert row.screen_name == state.username and row.page_name == state.name
        else:
            assert row.members_count is None  # never a 0 for a group that is gone
    assert {"ok", "deleted", "banned", "closed"} <= seen
    renamed = [e for e in world.events if e.kind == "renamed" and e.day <= day]
    assert renamed
    for event in renamed:  # resolved on day 0 under the old name, still the same group
        assert rows[str(event.page_id)].screen_name == event.new_username
        assert rows[str(event.page_id)].members_count is not None
    assert (rows[UNKNOWN_ID].status, rows[UNKNOWN_ID].members_count) == ("not_found", None)
    assert extractor.counters()["rate_limited"] == 0


def test_one_bad_id_is_isolated_by_bisection(emulator, world) -> None:
    ids = [str(p.id) for p in world.pages[:IDS_PER_CALL]]
    broken = world.pages[37].id
    emulator.faults = Faults(page_errors={broken: 456})
    extractor = OkExtractor(client_for(emulator))
    result = extractor.fetch_batch([*ids, "not-a-number"], START, None, {})
    rows = by_ref(result.rows)
    assert (rows[str(broken)].status, rows[str(broken)].members_count) == ("error", None)
    assert "[456] GROUP_RESTRICTION" in rows[str(broken)].error
    assert rows["not-a-number"].status == "not_found"  # 100 PARAM for that id alone
    others = [r for ref, r in rows.items() if ref not in (str(broken), "not-a-number")]
    assert len(others) == IDS_PER_CALL - 1
    assert all(r.status != "error" and r.members_count is not None for r in others)
    assert result.requests < 2 * 8 + 2  # halving, not one request per id


def test_rate_limit_errors_are_retried_and_counted(world) -> None:
    with OkEmulator(world, rate_limit=10, app_key=APP_KEY, app_secret=APP_SECRET) as emu:
        # real backoff here: the server's window has to pass before a retry can succeed
        greedy = client_for(
            emu, requests_per_second=100.0, max_retries=10, sleep=time.sleep, backoff_seconds=0.05
        )
        extractor = OkExtractor(greedy)
        pages = world.pages[:15]
        resolved = extractor.resolve([p.username for p in pages])
        assert [r.page_ref for r in resolved] == [str(p.id) for p in pages]
        assert greedy.stats.rate_limited > 0
        assert greedy.stats.rate_limited == emu.stats.rate_limited
        assert greedy.stats.retries >= greedy.stats.rate_limited
        assert extractor.counters()["rate_limited"] == greedy.stats.rate_limited
        assert emu.stats.max_in_window <= 10

        emu.reset_stats()
        polite = client_for(emu, requests_per_second=10.0)
        for _ in range(22):
            polite.call("url.getInfo", {"url": f"https://ok.ru/group/{world.pages[0].id}"})
        assert polite.stats.rate_limited == 0 and emu.stats.rate_limited == 0
        assert polite.stats.wait_seconds > 1.0


def test_5xx_and_service_errors_are_retried(emulator, world) -> None:
    emulator.faults = Faults(http_error_rate=0.4, api_error_rate=0.3, seed=5)
    client = client_for(emulator, max_retries=10)
    ids = [str(p.id) for p in world.pages]
    extractor = OkExtractor(client)
    resolved = extractor.resolve([p.username for p in world.pages[:20]])
    assert [r.page_ref for r in resolved] == [str(p.id) for p in world.pages[:20]]
    result = extractor.fetch_batch(ids, START, None, {})
    http_5xx = sum(n for kind, n in client.stats.errors.items() if kind.startswith("http_5"))
    assert http_5xx > 0 and client.stats.errors.get("api_2", 0) > 0
    assert client.stats.retries == sum(client.stats.errors.values())
    truth = {str(p.id): world.state_on(p, START) for p in world.pages}
    for row in result.rows:
        assert row.status == truth[row.page_ref].status
        if row.status == "ok":
            assert row.members_count == truth[row.page_ref].members_count


def test_api_down_records_errors_with_a_clear_message(emulator, world) -> None:
    ids = [str(p.id) for p in world.pages]
    emulator.faults = Faults(down=True)
    client = client_for(emulator, max_retries=2)
    result = OkExtractor(client).fetch_batch(ids, START, None, {})
    assert [r.page_ref for r in result.rows] == ids
    assert {r.status for r in result.rows} == {"error"}
    assert all(r.members_count is None for r in result.rows)
    assert "HTTP 503" in result.rows[0].error and "after 3 attempts" in result.rows[0].error
    # retries are spent once; the rest of the batch is not hammered
    assert result.requests == 3
    names = [p.username for p in world.pages[:5]]
    resolved = OkExtractor(client).resolve(names)
    assert {r.status for r in resolved} == {"error"} and "HTTP 503" in resolved[4].error
    assert client.stats.requests == 6
    unreachable = OkClient(
        APP_KEY,
        TOKEN,
        application_secret_key=APP_SECRET,
        base_url="http://127.0.0.1:9/fb.do",
        max_retries=1,
        sleep=lambda s: None,
        timeout=2,
    )
    extractor = OkExtractor(unreachable)
    rows = extractor.fetch_batch(ids[:3], START, None, {}).rows
    assert {r.status for r in rows} == {"error"} and "ConnectionError" in rows[0].error
    assert extractor.resolve(["somename"])[0].status == "error"


def test_secrets_are_never_logged(emulator, world, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    emulator.faults = Faults(http_error_rate=0.3, api_error_rate=0.3, seed=1)
    client = client_for(emulator, max_retries=10)
    extractor = OkExtractor(client)
    extractor.resolve([p.username for p in world.pages[:5]])
    extractor.fetch_batch([str(p.id) for p in world.pages], START, None, {})
    emulator.faults = Faults()
    bad = OkClient(APP_KEY, TOKEN, application_secret_key="wrong", base_url=emulator.base_url)
    with pytest.raises(OkAuthError) as err:
        bad.call("url.getInfo", {"url": "https://ok.ru/x"})
    assert client.stats.retries > 0 and "retry" in caplog.text
    secrets = (TOKEN, APP_SECRET, session_secret(TOKEN, APP_SECRET))
    for text in (caplog.text, str(err.value), repr(client), str(client.stats)):
        for secret in secrets:
            assert secret not in text


def test_status_mapping_from_group_fields() -> None:
    assert group_status({"access_type": "OPEN", "status": "ACTIVE"}) == "ok"
    assert group_status({"access_type": "SECRET"}) == "closed"
    assert group_status({"private": True}) == "closed"
    assert group_status({"blocked": True, "access_type": "CLOSED"}) == "banned"
    assert group_status({"status": "DELETED"}) == "deleted"


def test_a_call_refused_for_every_id_stops_the_batch(emulator, world) -> None:
    # what a field name OK does not accept would look like: 100 PARAM whatever the ids
    emulator.faults = Faults(api_error_rate=1.0, api_error_codes=(100,))
    ids = [str(p.id) for p in world.pages]
    result = OkExtractor(client_for(emulator)).fetch_batch(ids, START, None, {})
    assert {r.status for r in result.rows} == {"error"}  # not a wave of not_found
    assert "refused every id" in result.rows[-1].error
    assert result.requests == 2 * IDS_PER_CALL - 1  # one chunk halved down, no more


def test_slow_responses_time_out_and_are_recorded(emulator, world) -> None:
    emulator.faults = Faults(delay=0.3)
    slow = client_for(emulator, timeout=0.1, max_retries=1)
    ids = [str(p.id) for p in world.pages[:3]]
    rows = OkExtractor(slow).fetch_batch(ids, START, None, {}).rows
    assert {r.status for r in rows} == {"error"} and "ReadTimeout" in rows[0].error
    assert slow.stats.errors == {"ReadTimeout": 2}
    time.sleep(0.4)  # the last delayed answer is still on its way
    assert emulator.stats.abandoned >= 1
