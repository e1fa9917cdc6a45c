"""The public t.me preview source: count parsing, page kinds, and runs against the emulator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from emulators.networld import NetworkWorld
from emulators.telegram.server import Faults, TelegramEmulator
from emulators.vk.world import World
from extractors.base import PageAddress
from extractors.telegram.preview import (
    TelegramPreviewExtractor,
    parse_count,
    parse_preview,
    preview_extractor_from_env,
)
from extractors.vk.session import WINDOW_MARGIN_S

NBSP, THIN = "\u00a0", "\u202f"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12 345 subscribers", (12345, "channel")),
        ("\n            11 005 186 subscribers\n          ", (11005186, "channel")),
        (f"12{NBSP}345 subscribers", (12345, "channel")),
        ("12&nbsp;345 subscribers", (12345, "channel")),
        (f"1{THIN}234{THIN}567 subscribers", (1234567, "channel")),
        ("1,234 subscribers", (1234, "channel")),
        ("1 subscriber", (1, "channel")),
        ("987 subscribers", (987, "channel")),
        ("1.2K subscribers", (1200, "channel")),
        ("12.3K subscribers", (12300, "channel")),
        ("3M subscribers", (3_000_000, "channel")),
        ("1.05M subscribers", (1_050_000, "channel")),
        ("12 345 подписчиков", (12345, "channel")),
        ("3 подписчика", (3, "channel")),
        ("21 подписчик", (21, "channel")),
        ("12,3 тыс. подписчиков", (12300, "channel")),
        ("2 410 members, 37 online", (2410, "group")),
        ("15 121 members, 3 314 online", (15121, "group")),
        ("1 204 участника", (1204, "group")),
        ("8 705 765 monthly users", (8705765, "bot")),
        ("@durov", None),
        ("", None),
    ],
)
def test_count_formats(text, expected):
    assert parse_count(text) == expected


CHANNEL = """<div class="tgme_page_photo"><a href="tg://resolve?domain=kuzbass_gov"><img
class="tgme_page_photo_image" src="https://cdn4.telesco.pe/file/x.jpg"></a></div>
<div class="tgme_page_title"><span dir="auto">Правительство Кузбасса</span><i class="verified-icon"></i></div>
<div class="tgme_page_extra">
  48 512 subscribers
</div>
<div class="tgme_page_description" dir="auto">Официальный канал</div>
<div class="tgme_page_action"><a class="tgme_action_button_new shine" href="tg://resolve?domain=kuzbass_gov">View in Telegram</a></div>
<div class="tgme_page_context_link_wrap"><a href="/s/kuzbass_gov" class="tgme_page_context_link">Preview channel</a></div>"""  # noqa: E501
GROUP = """<div class="tgme_page_title"><span dir="auto">Чат жителей</span></div>
<div class="tgme_page_extra">1 234 members, 56 online</div>"""
USER = """<div class="tgme_page_title"><span dir="auto">Some Person</span></div>
<div class="tgme_page_extra">@some_person</div>
<div class="tgme_page_action"><a class="tgme_action_button_new shine" href="tg://resolve?domain=some_person">Send Message</a></div>"""  # noqa: E501
BOT = """<div class="tgme_page_title"><span dir="auto">BotFather</span><i class="verified-icon"></i></div>
<div class="tgme_page_extra">@BotFather</div>
<div class="tgme_page_extra">8 705 765 monthly users</div>
<div class="tgme_page_action"><a class="tgme_action_button_new shine" href="tg://resolve?domain=BotFather">Start Bot</a></div>"""  # noqa: E501
MISSING = """<title>Telegram: Contact @nobody_here</title>
<meta property="og:title" content="Telegram: Contact @nobody_here">
<div class="tgme_page_icon"><i class="tgme_icon_user"></i></div>
<div class="tgme_page_description">If you have <strong>Telegram</strong>, you can contact <a class="tgme_username_link" href="tg://resolve?domain=nobody_here">@nobody_here</a> right away.</div>"""  # noqa: E501
FEED = """<div class="tgme_header_info"><div class="tgme_header_title">Минздрав Кузбасса</div>
<div class="tgme_header_counter">12.5K subscribers</div></div>"""
BLOCKED = """<div class="tgme_page_title"><span dir="auto">Канал</span></div>
<div class="tgme_page_description" dir="auto">This channel can&#39;t be displayed because it violated Telegram&#39;s Terms of Service.</div>"""  # noqa: E501


@pytest.mark.parametrize(
    ("html", "kind", "members", "title", "verified"),
    [
        (CHANNEL, "channel", 48512, "Правительство Кузбасса", True),
        (GROUP, "group", 1234, "Чат жителей", False),
        (USER, "user", None, "Some Person", False),
        (BOT, "bot", None, "BotFather", True),
        (MISSING, "missing", None, None, None),
        (FEED, "channel", 12500, None, None),
        (BLOCKED, "blocked", None, "Канал", False),
        ("<html><body>Rate limit page</body></html>", "unknown", None, None, None),
    ],
)
def test_page_kinds(html, kind, members, title, verified):
    page = parse_preview(html)
    assert (page.kind, page.members, page.title, page.verified) == (
        kind,
        members,
        title,
        verified,
    )


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def world():
    return NetworkWorld(World(seed=7, n_pages=200), "tg")


@pytest.fixture(scope="module")
def emulator(world):
    with TelegramEmulator(world) as emu:
        yield emu


def preview_for(emulator, fake, **kw):
    kw.setdefault("requests_per_second", 1000.0)
    return TelegramPreviewExtractor(emulator.base_url, sleep=fake.sleep, clock=fake.clock, **kw)


def run(extractor, names, d):
    resolutions = extractor.resolve(names)
    assert extractor.counters()["requests"] == 0  # resolving asks nothing
    addresses = {r.page_ref: PageAddress(r.screen_name, None) for r in resolutions}
    rows = {}
    for batch in extractor.plan_batches(addresses):
        result = extractor.fetch_batch(batch, d, "run-1", addresses)
        assert [r.page_ref for r in result.rows] == batch
        rows.update({r.page_ref: r for r in result.rows})
    return rows


@pytest.mark.parametrize("fmt", ["spaced", "plain", "nbsp", "thin", "ru", "abbrev"])
def test_preview_run_against_the_emulator(world, emulator, fmt):
    fake = FakeTime()
    day = world.start + timedelta(days=60)
    emulator.set_date(day)
    emulator.preview_format = fmt
    try:
        extractor = preview_for(emulator, fake, batch_size=15)
        names = [p.username for p in world.pages] + ["ivan_petrov_nkz", "gosuslugi42_bot"]
        rows = run(extractor, [f"@{n.upper()}" for n in names], day)
    finally:
        emulator.preview_format = "spaced"
    assert len(rows) == len(names)
    for page in world.pages:
        state = world.state_on(page, day)
        row = rows[page.username]
        assert row.source == "preview" and row.screen_name == page.username
        renamed = state.username not in (None, page.username)
        if state.status == "ok" and not renamed:
            assert row.status == "ok" and row.page_name == state.name
            if fmt == "abbrev" and state.members_count >= 1000:
                assert row.members_count == pytest.approx(state.members_count, rel=0.05)
            else:
                assert row.members_count == state.members_count
        elif state.status == "banned":
            assert (row.status, row.members_count) == ("banned", None)
        else:  # deleted, private or renamed: the old name shows the "contact" page
            assert (row.status, row.members_count) == ("not_found", None), page.id
    assert "user account" in rows["ivan_petrov_nkz"].error
    assert "bot" in rows["gosuslugi42_bot"].error
    assert extractor.counters()["requests"] == len(names)


def test_http_errors_are_retried_then_recorded(world, emulator):
    fake = FakeTime()
    emulator.faults = Faults(down="503")
    try:
        extractor = preview_for(emulator, fake, max_retries=2)
        result = extractor.fetch_batch([world.pages[0].username], world.start, None, {})
    finally:
        emulator.faults = Faults()
    (row,) = result.rows
    assert (row.status, row.members_count) == ("error", None)
    assert "HTTP 503 after 3 attempts" in row.error
    assert (result.requests, result.retries) == (3, 2)
    dead = TelegramPreviewExtractor("http://127.0.0.1:9", max_retries=0, timeout=2)
    (row,) = dead.fetch_batch(["kuzbass_gov"], world.start, None, {}).rows
    assert row.status == "error" and "ConnectionError" in row.error


def test_numeric_ids_cannot_be_read_and_pacing_holds(world, emulator):
    fake = FakeTime()
    extractor = preview_for(emulator, fake, requests_per_second=1.0)
    refs = ["1453209133"] + [p.username for p in world.pages[:3]]
    result = extractor.fetch_batch(refs, world.start, None, {})
    assert result.rows[0].status == "error" and "@username" in result.rows[0].error
    assert result.requests == 3
    assert result.wait_seconds == pytest.approx(2 * (1 + WINDOW_MARGIN_S), abs=0.01)


def test_preview_from_env(monkeypatch):
    monkeypatch.setenv("GOSPULSE_TG_PREVIEW_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("GOSPULSE_TG_PREVIEW_RPS", "2")
    extractor = preview_extractor_from_env()
    assert extractor.base_url == "http://127.0.0.1:9"
    extractor.close()
