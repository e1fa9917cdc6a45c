"""The Telegram emulator on the wire (raw TL bytes, admin endpoints, pages, CLI) and the login."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
import requests
from telethon import errors
from telethon.extensions import BinaryReader
from telethon.tl import functions, types

from emulators.networld import NetworkWorld
from emulators.telegram.server import GET_FULL_CHANNEL, RESOLVE, TelegramEmulator
from emulators.vk.world import World
from extractors.telegram.client import TelegramConfigError
from extractors.telegram.login import create_session_string, validate_login_args
from extractors.telegram.loopback import decode_answer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def world():
    return NetworkWorld(World(seed=7, n_pages=200), "tg")


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def emulator(world, clock):
    with TelegramEmulator(world, clock=clock) as emu:
        yield emu


def post(emulator, request) -> requests.Response:
    return requests.post(f"{emulator.base_url}/tl", data=bytes(request), timeout=5)


def test_tl_bytes_in_and_out(world, emulator):
    page = world.pages[0]
    wrapped = functions.InvokeWithoutUpdatesRequest(
        functions.contacts.ResolveUsernameRequest(page.username)
    )
    response = post(emulator, wrapped)
    assert response.status_code == 200
    resolved = BinaryReader(response.content).tgread_object()
    assert isinstance(resolved, types.contacts.ResolvedPeer)
    channel = resolved.chats[0]
    assert (channel.id, channel.username, channel.broadcast) == (page.id, page.username, True)
    request = functions.channels.GetFullChannelRequest(
        types.InputChannel(channel.id, channel.access_hash)
    )
    full = decode_answer(post(emulator, request).content, request)
    state = world.state_on(page, emulator.date)
    assert full.full_chat.participants_count == state.members_count
    assert full.chats[0].title == state.name
    wrong = functions.channels.GetFullChannelRequest(types.InputChannel(page.id, 42))
    answer = BinaryReader(post(emulator, wrong).content).tgread_object()
    assert (answer.error_code, answer.error_message) == (400, "CHANNEL_INVALID")
    with pytest.raises(errors.ChannelInvalidError):
        decode_answer(post(emulator, wrong).content, wrong)
    assert requests.post(f"{emulator.base_url}/tl", data=b"junk", timeout=5).status_code == 400
    stats = requests.get(f"{emulator.base_url}/_emulator/stats", timeout=5).json()
    assert stats["by_method"] == {RESOLVE: 1, GET_FULL_CHANNEL: 3}
    assert stats["rpc_errors"] == {"CHANNEL_INVALID": 2}


def test_private_and_deleted_channels_answer_channel_private(world, emulator):
    day = world.start + timedelta(days=60)
    emulator.set_date(day)
    gone = [p for p in world.pages if world.state_on(p, day).status in ("closed", "deleted")]
    assert len(gone) == 4
    for page in gone:
        request = functions.channels.GetFullChannelRequest(
            types.InputChannel(page.id, emulator.access_hash(page.id))
        )
        answer = BinaryReader(post(emulator, request).content).tgread_object()
        assert (answer.error_code, answer.error_message) == (406, "CHANNEL_PRIVATE")
        old_name = functions.contacts.ResolveUsernameRequest(page.username)
        with pytest.raises(errors.UsernameNotOccupiedError):
            decode_answer(post(emulator, old_name).content, old_name)


def test_flood_budget_per_method(world, emulator, clock):
    emulator.flood_limits = {RESOLVE: (2, 60.0), GET_FULL_CHANNEL: (5, 60.0)}
    resolve = functions.contacts.ResolveUsernameRequest(world.pages[0].username)
    for _ in range(2):
        assert isinstance(decode_answer(post(emulator, resolve).content, resolve), types.TLObject)
    clock.now = 15.0
    with pytest.raises(errors.FloodWaitError) as err:
        decode_answer(post(emulator, resolve).content, resolve)
    assert err.value.seconds == 45  # until the oldest call leaves the 60 s window
    page = world.pages[1]
    full = functions.channels.GetFullChannelRequest(
        types.InputChannel(page.id, emulator.access_hash(page.id))
    )
    for _ in range(5):  # the other method still has its own budget
        decode_answer(post(emulator, full).content, full)
    clock.now = 61.0
    decode_answer(post(emulator, resolve).content, resolve)
    assert emulator.stats.flood_waits == 1


def test_admin_state_and_faults(emulator, world):
    url = f"{emulator.base_url}/_emulator/state"
    day = world.start + timedelta(days=3)
    state = requests.post(
        url,
        json={"date": day.isoformat(), "faults": {"down": "500"}, "preview_format": "ru"},
        timeout=5,
    ).json()
    assert state["date"] == day.isoformat() and state["faults"]["down"] == "500"
    assert emulator.date == day and emulator.preview_format == "ru"
    assert post(emulator, functions.contacts.ResolveUsernameRequest("abcde")).status_code == 500
    requests.post(url, json={"faults": {"down": "drop"}}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        post(emulator, functions.contacts.ResolveUsernameRequest("abcde"))
    requests.post(url, json={"faults": {}, "reset_stats": True}, timeout=5)
    assert requests.get(url, timeout=5).json()["faults"]["down"] is None
    assert requests.post(url, json={"date": "2000-01-01"}, timeout=5).status_code == 400
    assert requests.post(url, json={"preview_format": "x"}, timeout=5).status_code == 400


def test_pages_and_feed_redirects(world, emulator):
    page = world.pages[0]
    html = requests.get(f"{emulator.base_url}/{page.username}", timeout=5).text
    assert 'class="tgme_page_extra"' in html and "Preview channel" in html
    feed = requests.get(f"{emulator.base_url}/s/{page.username}", timeout=5).text
    assert 'class="tgme_header_counter"' in feed
    user = requests.get(f"{emulator.base_url}/s/ivan_petrov_nkz", timeout=5, allow_redirects=False)
    assert (user.status_code, user.headers["Location"]) == (302, "/ivan_petrov_nkz")
    missing = requests.get(f"{emulator.base_url}/nobody_here_at_all", timeout=5).text
    assert "you can contact" in missing and "tgme_page_extra" not in missing
    assert requests.get(f"{emulator.base_url}/a/b/c", timeout=5).status_code == 404


def test_cli_serves_a_world():
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulators.telegram.server", "--port", "0", "--n-pages", "200"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("Telegram emulator: ")
        base = line.split()[-1]
        state = requests.get(f"{base}/_emulator/state", timeout=5).json()
        assert state["flood_limits"][RESOLVE] == [30, 60.0]
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.mark.parametrize(
    ("api_id", "api_hash", "phone", "message"),
    [
        ("abc", "0" * 32, None, "api_id must be the number"),
        ("-5", "0" * 32, None, "positive"),
        ("12345", "not-a-hash-secret", None, "32 hex digits"),
        ("12345", "0" * 32, "call me", "international format"),
    ],
)
def test_login_arguments_are_checked_before_any_network(api_id, api_hash, phone, message):
    printed = []
    with pytest.raises(TelegramConfigError, match=message) as err:
        create_session_string(api_id, api_hash, phone, input=pytest.fail, output=printed.append)
    assert printed == []  # nothing was started
    assert api_hash not in str(err.value)


def test_login_argument_normalisation():
    assert (
        validate_login_args("12345", "0123456789abcdef0123456789ABCDEF", "+7 900 123-45-67")
        == 12345
    )
