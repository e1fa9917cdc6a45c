"""The MTProto extractor (real telethon) against the Telegram emulator: statuses, flood, faults."""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import pytest
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from emulators.networld import NetworkWorld
from emulators.telegram.server import GET_FULL_CHANNEL, RESOLVE, Faults, TelegramEmulator
from emulators.vk.world import World
from extractors.base import PageAddress
from extractors.telegram.client import (
    TelegramAuthError,
    TelegramCaller,
    TelegramConfigError,
    loopback_client,
    telegram_client_from_env,
)
from extractors.telegram.extract import (
    TelegramExtractor,
    source_from_env,
    telegram_extractor_from_env,
)
from extractors.telegram.loopback import InProcessSender, LoopbackSender
from extractors.telegram.preview import TelegramPreviewExtractor
from extractors.vk.session import WINDOW_MARGIN_S
from gospulse.extract.pipeline import extract_network
from gospulse.raw.warehouse import connect
from gospulse.registry.pages import HEADER, validate_registry

API_HASH = "0123456789abcdef0123456789abcdef"


class FakeTime:
    """A clock that moves only when slept on, shared by client and emulator."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def world():
    return NetworkWorld(World(seed=7, n_pages=200), "tg")


@pytest.fixture
def day(world):
    return world.start + timedelta(days=60)  # every event of the world has happened


@pytest.fixture
def fake():
    return FakeTime()


@pytest.fixture
def emulator(world, fake):
    return TelegramEmulator(world, clock=fake.clock)


def extractor_for(emulator, fake, *, rps=1000.0, max_flood_wait=60.0, batch_size=10):
    caller = TelegramCaller(
        loopback_client(InProcessSender(emulator.handle_tl)),
        requests_per_second=rps,
        max_flood_wait=max_flood_wait,
        sleep=fake.sleep,
        clock=fake.clock,
    )
    return TelegramExtractor(caller, batch_size=batch_size)


def resolve_all(extractor, world):
    resolutions = extractor.resolve([p.username for p in world.pages])
    assert {r.status for r in resolutions} == {"ok"}
    return {r.page_ref: PageAddress(r.screen_name, r.access_key) for r in resolutions}


def fetch_all(extractor, addresses, d):
    rows, results = {}, []
    for batch in extractor.plan_batches(addresses):
        result = extractor.fetch_batch(batch, d, "run-1", addresses)
        assert [r.page_ref for r in result.rows] == batch  # one row per ref, in order
        rows.update({r.page_ref: r for r in result.rows})
        results.append(result)
    return rows, results


def test_resolution_of_channels_users_bots_and_free_names(world, emulator, fake):
    extractor = extractor_for(emulator, fake)
    page = world.pages[0]
    got = extractor.resolve(
        [page.username, "ivan_petrov_nkz", "gosuslugi42_bot", "nobody_has_this", "ab"]
    )
    channel, user, bot, free, invalid = got
    assert (channel.status, channel.page_ref) == ("ok", str(page.id))
    assert channel.access_key == str(emulator.access_hash(page.id))
    assert (user.status, user.page_ref) == ("not_found", None)
    assert "user account, not a channel" in user.error
    assert bot.status == "not_found" and "bot" in bot.error
    assert free.status == "not_found" and "USERNAME_NOT_OCCUPIED" in free.error
    assert invalid.status == "not_found" and "USERNAME_INVALID" in invalid.error
    assert extractor.counters()["requests"] == 5
    assert emulator.stats.by_method[RESOLVE] == 5


def test_counts_statuses_and_renames_match_the_world(world, emulator, fake, day):
    extractor = extractor_for(emulator, fake, batch_size=10)
    addresses = resolve_all(extractor, world)  # on the first day, before any event
    emulator.set_date(day)
    rows, results = fetch_all(extractor, addresses, day)
    assert len(results) == 4 and len(rows) == len(world.pages)
    assert sum(r.requests for r in results) == len(world.pages)
    seen = set()
    for page in world.pages:
        state = world.state_on(page, day)
        row = rows[str(page.id)]
        seen.add(state.status)
        if state.status == "ok":
            assert (row.status, row.members_count) == ("ok", state.members_count)
            assert row.screen_name == state.username and row.page_name == state.name
            assert row.is_verified == page.flagship
        elif state.status == "banned":
            assert (row.status, row.members_count) == ("banned", None)
            assert "terms" in row.error
        else:
            # Telegram answers CHANNEL_PRIVATE for a private and a deleted channel alike
            assert (row.status, row.members_count) == ("closed", None), page.id
            assert "CHANNEL_PRIVATE" in row.error
    assert seen == {"ok", "banned", "closed", "deleted"}
    renamed = [e for e in world.events if e.kind == "renamed"]
    assert renamed
    for event in renamed:  # resolved under the old name, counted under the new one
        row = rows[str(event.page_id)]
        assert (row.status, row.screen_name) == ("ok", event.new_username)
        assert row.members_count is not None


def test_wrong_access_hash_and_id_only_pages(world, emulator, fake):
    extractor = extractor_for(emulator, fake)
    page, other = world.pages[0], world.pages[1]
    addresses = {
        str(page.id): PageAddress(page.username, str(emulator.access_hash(page.id) + 1)),
        str(other.id): PageAddress(None, None),  # registered by numeric id only
    }
    result = extractor.fetch_batch(list(addresses), world.start, None, addresses)
    wrong, id_only = result.rows
    assert (wrong.status, wrong.members_count) == ("not_found", None)
    assert "CHANNEL_INVALID" in wrong.error and "re-resolve" in wrong.error
    assert (id_only.status, id_only.members_count) == ("error", None)
    assert "register the channel's @username" in id_only.error
    assert result.requests == 1  # the id-only page is not asked at all


def test_short_flood_wait_is_waited_retried_and_counted(world, emulator, fake):
    extractor = extractor_for(emulator, fake)
    addresses = resolve_all(extractor, world)
    emulator.reset_stats()
    emulator.faults = Faults(flood_wait=7, flood_wait_calls=2, flood_methods=(GET_FULL_CHANNEL,))
    batch = extractor.plan_batches(addresses)[0]
    result = extractor.fetch_batch(batch, world.start, None, addresses)
    assert {r.status for r in result.rows} == {"ok"}
    assert (result.rate_limited, result.retries, result.deferred) == (2, 2, 0)
    assert result.requests == len(batch) + 2
    assert result.wait_seconds >= 14
    assert fake.slept.count(7) == 2
    assert emulator.stats.flood_waits == 2


def test_long_flood_wait_defers_the_rest_of_the_batch(world, fake):
    emulator = TelegramEmulator(
        world, clock=fake.clock, flood_limits={RESOLVE: (100, 60.0), GET_FULL_CHANNEL: (4, 3600.0)}
    )
    extractor = extractor_for(emulator, fake, batch_size=12)
    addresses = resolve_all(extractor, world)
    first, second = extractor.plan_batches(addresses)[:2]
    result = extractor.fetch_batch(first, world.start, "run-1", addresses)
    statuses = [r.status for r in result.rows]
    assert statuses == ["ok"] * 4 + ["error"] * 8
    assert result.deferred == 8 and result.rate_limited == 1
    for row in result.rows[4:]:
        assert row.members_count is None
        assert row.error.startswith("deferred: FLOOD_WAIT 3600 s")
    assert 3600 not in fake.slept  # never slept on a wait above the maximum
    # the next batch in this process is deferred without asking Telegram again
    asked = emulator.stats.by_method[GET_FULL_CHANNEL]
    again = extractor.fetch_batch(second, world.start, "run-1", addresses)
    assert again.deferred == len(second)
    assert emulator.stats.by_method[GET_FULL_CHANNEL] == asked


def test_resolution_budget_is_tighter_and_waited_out(world, fake):
    emulator = TelegramEmulator(world, clock=fake.clock, flood_limits={RESOLVE: (3, 60.0)})
    extractor = extractor_for(emulator, fake)
    names = [p.username for p in world.pages[:8]]
    resolutions = extractor.resolve(names)
    assert [r.status for r in resolutions] == ["ok"] * 8
    counters = extractor.counters()
    assert counters["rate_limited"] == emulator.stats.flood_waits == 2
    assert counters["requests"] == 10
    assert all(0 < s <= 60 for s in fake.slept)


def test_requests_are_paced_at_the_configured_rate(world, emulator, fake):
    extractor = extractor_for(emulator, fake, rps=1.0)
    extractor.resolve([p.username for p in world.pages[:5]])
    # five request starts at one per second: four waits of about a second each
    waited = extractor.counters()["wait_seconds"]
    assert waited == pytest.approx(4 * (1 + WINDOW_MARGIN_S), abs=0.01)


def test_http_round_trip_gives_the_same_rows_as_in_process(world, fake, day):
    with TelegramEmulator(world, clock=fake.clock) as emulator:
        emulator.set_date(day)
        client = telegram_client_from_env(api_url=emulator.base_url)
        assert isinstance(client._sender, LoopbackSender)
        over_http = TelegramExtractor(
            TelegramCaller(client, requests_per_second=1000, sleep=fake.sleep, clock=fake.clock),
            batch_size=20,
        )
        in_process = extractor_for(emulator, fake, batch_size=20)
        names = [world.state_on(p, day).username for p in world.pages]
        names = [n for n in names if n]
        got_http = over_http.resolve(names)
        assert got_http == in_process.resolve(names)
        addresses = {r.page_ref: PageAddress(r.screen_name, r.access_key) for r in got_http}
        rows_http, _ = fetch_all(over_http, addresses, day)
        rows_local, _ = fetch_all(in_process, addresses, day)
        assert rows_http == rows_local
        assert any(r.status == "banned" for r in rows_http.values())
        over_http.close()
        in_process.close()


def test_emulator_down_turns_every_page_into_a_clear_error(world, fake):
    with TelegramEmulator(world, clock=fake.clock) as emulator:
        in_process = extractor_for(emulator, fake)
        addresses = resolve_all(in_process, world)
        batch = in_process.plan_batches(addresses)[0]
        emulator.faults = Faults(down="500")
        client = loopback_client(LoopbackSender(emulator.base_url, sleep=fake.sleep))
        extractor = TelegramExtractor(TelegramCaller(client, requests_per_second=1000))
        result = extractor.fetch_batch(batch, world.start, None, addresses)
        assert {(r.status, r.members_count) for r in result.rows} == {("error", None)}
        assert "unavailable after 4 attempts (HTTP 500)" in result.rows[0].error
        assert all(r.error == result.rows[0].error for r in result.rows)
        assert result.requests == 1 and result.retries == 3  # the rest is not hammered
        assert emulator.stats.http_faults == 4
    # and with nothing listening at all
    dead = loopback_client(LoopbackSender(emulator.base_url, sleep=fake.sleep, max_retries=1))
    result = TelegramExtractor(TelegramCaller(dead, requests_per_second=1000)).fetch_batch(
        batch, world.start, None, addresses
    )
    assert {r.status for r in result.rows} == {"error"}
    assert "ConnectionError" in result.rows[0].error


def test_slow_answers_time_out_into_errors(world, fake):
    with TelegramEmulator(world, clock=fake.clock) as emulator:
        addresses = resolve_all(extractor_for(emulator, fake), world)
        emulator.faults = Faults(delay=0.4)
        sender = LoopbackSender(emulator.base_url, timeout=0.1, max_retries=1, sleep=fake.sleep)
        extractor = TelegramExtractor(TelegramCaller(loopback_client(sender)))
        ref = str(world.pages[0].id)
        (row,) = extractor.fetch_batch([ref], world.start, None, addresses).rows
        extractor.close()
        assert (row.status, row.members_count) == ("error", None)
        assert "unavailable after 2 attempts (ReadTimeout)" in row.error


def test_a_revoked_session_stops_the_run(world, emulator, fake):
    extractor = extractor_for(emulator, fake)
    addresses = resolve_all(extractor, world)
    emulator.faults = Faults(page_errors={world.pages[0].id: "AUTH_KEY_UNREGISTERED"})
    with pytest.raises(TelegramAuthError, match="gospulse telegram login"):
        extractor.fetch_batch([str(world.pages[0].id)], world.start, None, addresses)


def test_secrets_never_reach_logs_rows_or_errors(world, emulator, fake, caplog, monkeypatch):
    session = StringSession()
    session.set_dc(2, "149.154.167.51", 443)
    session.auth_key = AuthKey(os.urandom(256))
    secret_session = session.save()
    caplog.set_level(logging.DEBUG)
    client = telegram_client_from_env(api_id="123456", api_hash=API_HASH, session=secret_session)
    assert client.api_hash == API_HASH  # really handed to telethon
    client._sender = InProcessSender(emulator.handle_tl)  # no network in tests
    emulator.faults = Faults(flood_wait=5, flood_wait_calls=1)
    caller = TelegramCaller(client, requests_per_second=1000, sleep=fake.sleep, clock=fake.clock)
    extractor = TelegramExtractor(caller)
    addresses = resolve_all(extractor, world)
    rows, _ = fetch_all(extractor, addresses, world.start)
    extractor.close()
    monkeypatch.delenv("TG_API_ID", raising=False)
    monkeypatch.delenv("GOSPULSE_TG_API_URL", raising=False)
    messages = []
    for kwargs in (
        {"api_id": "1", "api_hash": API_HASH},  # no session
        {"api_id": "1", "api_hash": API_HASH, "session": secret_session[:-5] + "!!!!!"},
    ):
        with pytest.raises(TelegramConfigError) as err:
            telegram_client_from_env(**kwargs)
        messages.append(str(err.value))
    assert "TG_SESSION" in messages[0] and "gospulse telegram login" in messages[0]
    text = caplog.text + repr(rows) + repr(extractor.counters()) + " ".join(messages)
    assert "FLOOD_WAIT" in caplog.text  # the log did capture the run
    for secret in (API_HASH, secret_session, secret_session[:40]):
        assert secret not in text


def test_source_choice_and_factory(monkeypatch, world):
    for name in ("TG_API_ID", "TG_API_HASH", "TG_SESSION", "GOSPULSE_TG_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GOSPULSE_TG_SOURCE", raising=False)
    assert source_from_env() == "preview"
    extractor = telegram_extractor_from_env()
    assert isinstance(extractor, TelegramPreviewExtractor)
    extractor.close()
    assert source_from_env(api_id="12345") == "mtproto"
    with pytest.raises(TelegramConfigError, match="TG_API_HASH, TG_SESSION"):
        telegram_extractor_from_env(api_id="12345")
    monkeypatch.setenv("GOSPULSE_TG_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GOSPULSE_TG_RPS", "5")
    extractor = telegram_extractor_from_env()
    assert isinstance(extractor, TelegramExtractor)
    assert isinstance(extractor.caller.client._sender, LoopbackSender)
    extractor.close()
    monkeypatch.setenv("GOSPULSE_TG_SOURCE", "preview")
    assert source_from_env() == "preview"
    monkeypatch.setenv("GOSPULSE_TG_SOURCE", "bot_api")
    with pytest.raises(TelegramConfigError, match="GOSPULSE_TG_SOURCE"):
        source_from_env()
    monkeypatch.setenv("GOSPULSE_TG_SOURCE", "mtproto")
    monkeypatch.setenv("GOSPULSE_TG_RPS", "fast")
    with pytest.raises(TelegramConfigError, match="GOSPULSE_TG_RPS='fast': expected a number"):
        telegram_extractor_from_env()


def test_pipeline_run_over_http(world, day, tmp_path, fake):
    registry_path = tmp_path / "42_tg.csv"
    rows = world.registry_rows()
    extra = [
        {**rows[0], "page_ref": "@ivan_petrov_nkz", "title": "Не канал"},
        {**rows[0], "page_ref": "1234567890", "title": "Только id"},
    ]
    lines = [",".join(HEADER)] + [",".join(f'"{r[h]}"' for h in HEADER) for r in rows + extra]
    registry_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    registry = validate_registry(registry_path)
    assert registry.ok, registry.errors[:3]
    warehouse = tmp_path / "w.duckdb"
    with TelegramEmulator(world, clock=fake.clock) as emulator:
        client = telegram_client_from_env(api_url=emulator.base_url)
        caller = TelegramCaller(
            client, requests_per_second=1000, sleep=fake.sleep, clock=fake.clock
        )
        extractor = TelegramExtractor(caller)
        extract_network(
            "tg", world.start, registry=registry, warehouse=warehouse, extractor=extractor
        )
        emulator.set_date(day)
        summary = extract_network(
            "tg", day, registry=registry, warehouse=warehouse, extractor=extractor
        )
        extractor.close()
    with connect(warehouse, read_only=True) as con:
        got = dict(
            con.execute(
                "select page_ref, status from raw.page_snapshots where snapshot_date = ?", [day]
            ).fetchall()
        )
    assert len(got) == len(world.pages) + 1  # the id-only page is recorded, as an error
    assert got["1234567890"] == "error"
    assert summary.unresolved == 1 and "ivan_petrov_nkz" in summary.message
    for page in world.pages:
        status = world.state_on(page, day).status
        assert got[str(page.id)] == {"deleted": "closed"}.get(status, status)
