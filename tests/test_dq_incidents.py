"""Data-quality incidents on a real warehouse: the VK world's events, injected faults, quiet days.

A 100-page World (seed 7) over 90 days. Its own events (deleted, banned, closed, renamed, drops,
jumps) fall in days 3-57; on top, a big page loses 32 % on day 50 (a hacked page), a quiet page
cannot be read on days 40-45 (stale) and the whole extraction fails on days 58-60 (an outage).
Days 61-89 are fault-free: an incident first seen there is a false alarm.

The real extractor (extract_vk against the loopback emulator, raw GX gate included) runs on the
first day and on every fault day. The other days are written from the same World through the
extractor's own record function (snapshot_from_group), which keeps the file fast; a test checks
that both paths store the same rows for a real day.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from emulators.vk.direct import snapshot_rows
from emulators.vk.server import Faults, VkEmulator
from emulators.vk.world import Page, PageState, World
from extractors.vk.client import VkClient
from gospulse.extract.pipeline import extract_vk, load_registry_into_warehouse
from gospulse.raw.warehouse import SnapshotRow, connect, replace_snapshots
from gospulse.registry.pages import validate_registry
from gospulse.transform import run as transform

pytestmark = pytest.mark.slow

START = date(2026, 1, 1)
DAYS = 90
TOKEN = "dq-token"
STALE_DAYS = range(40, 46)
HACK_DAY = 50
HACK_FACTOR = 0.68
OUTAGE_DAYS = range(58, 61)
QUIET_FROM = 61
EVENT_RULES = {
    "deleted": ("status_change", "warning"),
    "banned": ("status_change", "critical"),
    "closed": ("status_change", "warning"),
    "renamed": ("renamed", "info"),
    "drop": ("drop_dod", "warning"),
    "jump": ("jump", "warning"),
}


class HackedWorld(World):
    """The World with one extra fault: a page that loses subscribers from a given day on."""

    hacked_id: int | None = None
    hacked_from: date | None = None

    def state_on(self, page: Page, d: date) -> PageState:
        state = super().state_on(page, d)
        if page.id == self.hacked_id and d >= self.hacked_from:
            return replace(state, members_count=round(state.members_count * HACK_FACTOR))
        return state


def day(n: int) -> date:
    return START + timedelta(days=n)


def world_rows(world: World, d: date) -> list[SnapshotRow]:
    return snapshot_rows(world, d)


def stored_rows(warehouse: Path, d: date) -> set[tuple]:
    with connect(warehouse, read_only=True) as con:
        return set(
            con.execute(
                "select page_ref, members_count, status, screen_name, page_name "
                "from raw.page_snapshots where snapshot_date = ?",
                [d],
            ).fetchall()
        )


def records(warehouse: Path, sql: str) -> list[SimpleNamespace]:
    """The rows of a query as namespaces with the column names as attributes."""
    with connect(warehouse, read_only=True) as con:
        con.execute(sql)
        columns = [c[0] for c in con.description]
        return [SimpleNamespace(**dict(zip(columns, r, strict=True))) for r in con.fetchall()]


@pytest.fixture(scope="module")
def dq(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    tmp = tmp_path_factory.mktemp("dq")
    world = HackedWorld(seed=7, start=START, n_pages=100)
    event_ids = {e.page_id for e in world.events}
    undersized = {p.id for p in world.pages if p.flagship and p.base_members <= 500}
    quiet = [p for p in world.pages if p.id not in event_ids | undersized]
    hacked = max(quiet, key=lambda p: p.base_members)
    stale = next(p for p in quiet if not p.flagship and p is not hacked)
    world.hacked_id, world.hacked_from = hacked.id, day(HACK_DAY)

    world.write_registry(tmp / "42.csv")
    registry = validate_registry(tmp / "42.csv")
    warehouse = tmp / "gospulse.duckdb"
    with VkEmulator(world, rate_limit=1000.0, tokens={TOKEN}) as emulator:
        client = VkClient(TOKEN, base_url=emulator.base_url, requests_per_second=1000)
        dead = VkClient(TOKEN, base_url="http://127.0.0.1:9/method/", max_retries=0, timeout=2)
        for n in range(DAYS):
            d = day(n)
            if n in OUTAGE_DAYS:
                extract_vk(d, registry=registry, warehouse=warehouse, client=dead)
            elif n == 0 or n == HACK_DAY or n in STALE_DAYS:
                emulator.set_date(d)
                emulator.faults = Faults(page_errors={stale.id: 15} if n in STALE_DAYS else {})
                extract_vk(d, registry=registry, warehouse=warehouse, client=client)
            else:
                with connect(warehouse) as con:
                    replace_snapshots(con, world_rows(world, d))
        load_registry_into_warehouse(registry, warehouse)
    result = transform.build(warehouse)
    incidents = records(warehouse, "select * from marts.mart_dq_incidents")
    health = {h.page_ref: h for h in records(warehouse, "select * from marts.mart_page_health")}
    return SimpleNamespace(
        world=world,
        warehouse=warehouse,
        result=result,
        incidents=incidents,
        health=health,
        hacked=hacked,
        stale=stale,
        undersized=undersized,
        quiet=[p for p in quiet if p is not hacked and p is not stale],
    )


def page_incidents(dq: SimpleNamespace, page_id: int, rule: str | None = None) -> list:
    return [
        i
        for i in dq.incidents
        if i.scope_type == "page" and i.page_ref == str(page_id) and rule in (None, i.rule)
    ]


def is_explained(dq: SimpleNamespace, incident: SimpleNamespace) -> bool:
    """Whether the world's ground truth or an injected fault accounts for the incident."""
    if incident.scope_type == "region":
        # the outage, and the hacked page, which is big enough to move the region's total
        return (incident.rule, incident.first_seen) in (
            ("region_pages_missing", day(OUTAGE_DAYS[0])),
            ("region_drop", day(HACK_DAY)),
        )
    page_id = int(incident.page_ref)
    for event in dq.world.events:
        if event.page_id == page_id and abs((incident.first_seen - event.day).days) <= 1:
            rule = EVENT_RULES[event.kind][0]
            if incident.rule == rule or (
                rule in ("drop_dod", "jump") and incident.rule == "zscore"
            ):
                return True
    return (
        (page_id in dq.undersized and incident.rule == "flagship_under_min")
        or (page_id == dq.stale.id and incident.rule == "stale")
        or (page_id == dq.hacked.id and incident.first_seen == day(HACK_DAY))
    )


def test_build_passes_every_data_test(dq):
    assert dq.result.success, dq.result.describe()
    assert dq.result.tests_failed == 0
    assert dq.result.count("test", "pass") >= 25


def test_direct_rows_are_what_the_extractor_stores(dq):
    # day 0 went through extract_vk and the emulator; the direct path must agree with it
    direct = {
        (r.page_ref, r.members_count, r.status, r.screen_name, r.page_name)
        for r in world_rows(dq.world, START)
    }
    assert stored_rows(dq.warehouse, START) == direct


@pytest.mark.parametrize("kind", sorted(EVENT_RULES))
def test_each_world_event_is_caught_the_same_morning(dq, kind):
    rule, severity = EVENT_RULES[kind]
    events = [e for e in dq.world.events if e.kind == kind]
    assert events
    for event in events:
        found = page_incidents(dq, event.page_id, rule)
        assert len(found) == 1, (event, found)
        incident = found[0]
        assert incident.first_seen == event.day, (event, incident)
        assert incident.severity == severity, (event, incident)
        if rule == "status_change":
            # the page stays broken: one incident from that morning to the last day, open
            assert incident.last_seen == day(DAYS - 1)
            assert incident.signal_days == DAYS - (event.day - START).days
            assert incident.status == "open"
            assert event.kind in incident.title
        else:
            assert incident.signal_days == 1 and incident.status == "closed"


def test_drop_on_a_big_page_is_critical(dq):
    (incident,) = page_incidents(dq, dq.hacked.id)
    assert incident.rule == "drop_dod" and incident.severity == "critical"
    assert incident.first_seen == incident.last_seen == day(HACK_DAY)
    assert incident.current_value < incident.expected_low
    # the region's largest page: its loss also moves the region's total that day
    (regional,) = [i for i in dq.incidents if i.rule == "region_drop"]
    assert (regional.first_seen, regional.last_seen) == (day(HACK_DAY), day(HACK_DAY))
    assert regional.severity == "critical" and regional.region_code == 42


def test_unreadable_page_is_one_stale_incident(dq):
    # unreadable on days 40-45: three days without an ok snapshot from day 42
    (incident,) = page_incidents(dq, dq.stale.id)
    assert (incident.rule, incident.severity) == ("stale", "warning")
    assert (incident.first_seen, incident.last_seen) == (day(42), day(45))
    assert incident.signal_days == 4 and incident.status == "closed"
    assert incident.current_value == 6 and incident.expected_high == 2


def test_failed_extraction_is_one_region_incident_not_a_page_storm(dq):
    missing = [i for i in dq.incidents if i.rule == "region_pages_missing"]
    assert [(i.scope_type, i.severity, i.network, i.region_code) for i in missing] == [
        ("region", "critical", "vk", 42)
    ]
    first, last = day(OUTAGE_DAYS[0]), day(OUTAGE_DAYS[-1])
    assert (missing[0].first_seen, missing[0].last_seen) == (first, last)
    # day 60 is each page's third day without data: the region incident speaks for them
    assert not [i for i in dq.incidents if i.rule == "stale" and i.last_seen >= first]


def test_quiet_pages_raise_nothing(dq):
    assert len(dq.quiet) > 50
    for page in dq.quiet:
        assert page_incidents(dq, page.id) == [], page
        assert dq.health[str(page.id)].health == "ok"


def test_false_alarms_and_recall(dq):
    pages = len(dq.world.pages)
    quiet_days = DAYS - QUIET_FROM
    new_in_quiet_stretch = [i for i in dq.incidents if i.first_seen >= day(QUIET_FROM)]
    unexplained = [i for i in dq.incidents if not is_explained(dq, i)]
    caught = [
        e
        for e in dq.world.events
        if any(
            i.first_seen == e.day and i.rule == EVENT_RULES[e.kind][0]
            for i in page_incidents(dq, e.page_id)
        )
    ]
    per_1000 = 1000 * len(new_in_quiet_stretch) / (pages * quiet_days)
    print(
        f"\nDQ: {len(dq.incidents)} incidents; recall {len(caught)}/{len(dq.world.events)}; "
        f"{len(unexplained)} unexplained over {pages * DAYS} page-days; "
        f"{per_1000:.2f} new incidents per 1,000 page-days on the fault-free days"
    )
    assert per_1000 < 1.0, new_in_quiet_stretch
    assert unexplained == []
    assert len(caught) == len(dq.world.events)


def test_page_health_shows_open_incidents(dq):
    banned = next(e for e in dq.world.events if e.kind == "banned")
    page = dq.health[str(banned.page_id)]
    assert (page.status, page.effective_status, page.health) == ("banned", "banned", "critical")
    assert page.open_rules == "status_change" and page.members_count is None
    assert page.last_ok_date == banned.day - timedelta(days=1)
    for page_id in dq.undersized:
        page = dq.health[str(page_id)]
        assert (page.health, page.open_rules) == ("warning", "flagship_under_min")
    stale = dq.health[str(dq.stale.id)]
    assert (stale.status, stale.days_without_ok, stale.health) == ("ok", 0, "ok")


def test_open_incidents_are_listed_and_sent_once(dq, capsys, monkeypatch):
    from gospulse.cli import main
    from gospulse.quality.alerts import WebhookNotifier, load_incidents, notify_new_incidents
    from tests.alert_receivers import HttpReceiver

    open_incidents = load_incidents(dq.warehouse, open_only=True)
    assert open_incidents and all(i.status == "open" for i in open_incidents)
    hook = HttpReceiver()
    try:
        first = notify_new_incidents(dq.warehouse, [WebhookNotifier(hook.url)])
        again = notify_new_incidents(dq.warehouse, [WebhookNotifier(hook.url)])
    finally:
        hook.close()
    assert first.sent == {"webhook": len(open_incidents)} and again.sent == {}
    posted = hook.requests[0][1]["incidents"]
    assert sorted((i["rule"], str(i["page_ref"])) for i in posted) == sorted(
        (i.rule, str(i.page_ref)) for i in open_incidents
    )
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(dq.warehouse))
    assert main(["incidents", "--open"]) == 0
    out = capsys.readouterr()
    assert f"{len(open_incidents)} incidents open" in out.err
    assert out.out.count("open ") == len(open_incidents)
