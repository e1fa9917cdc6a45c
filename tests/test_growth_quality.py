"""mart_growth_quality on a real DuckDB file and a real `dbt build`: pages whose member lists
are known sets, read at the end of February and in March, with a wave of bought subscribers
(deactivated by the latest read), a wave from outside the region, and ordinary growth. The
marks must name the waves, and the sketch estimates bound the exact new and deactivated
members."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from gospulse.quality.alerts import Incident, load_incidents, notify_new_incidents
from gospulse.raw.sketches import THETA_LG_K, MemberAttributes, MemberHasher, PageAudience
from gospulse.raw.warehouse import SnapshotRow, connect, replace_member_reads, replace_snapshots
from gospulse.transform import run as transform

pytestmark = pytest.mark.slow

HASHER = MemberHasher(b"growth-quality-test-secret")
OPENING, CLOSING, LATEST = date(2025, 2, 27), date(2025, 3, 8), date(2025, 3, 10)
HOME = frozenset({4_200_001, 4_200_002})
ELSEWHERE = 1


def ids(*ranges: range) -> list[int]:
    return sorted({i for r in ranges for i in r})


# page: (members at OPENING, members at CLOSING (= LATEST), deactivated by LATEST,
#        members who show a city elsewhere at OPENING / CLOSING), all known sets
PAGES = {
    # 1 500 bought in March, 1 200 of them banned by the latest read
    "bought": (
        ids(range(0, 5000)),
        ids(range(0, 5000), range(100_000, 101_500)),
        ids(range(0, 40), range(100_000, 101_200)),
        ids(range(0, 400)),
        ids(range(0, 400)),
    ),
    # 800 joined in March, 700 of them show a city outside the region
    "nonresident": (
        ids(range(10_000, 13_000)),
        ids(range(10_000, 13_000), range(200_000, 200_800)),
        ids(range(10_000, 10_020)),
        ids(range(10_000, 10_200)),
        ids(range(10_000, 10_200), range(200_000, 200_700)),
    ),
    # ordinary growth: 300 new, a few deactivated, a few from elsewhere
    "ordinary": (
        ids(range(20_000, 24_000)),
        ids(range(20_000, 24_000), range(300_000, 300_300)),
        ids(range(20_000, 20_030), range(300_000, 300_005)),
        ids(range(20_000, 20_300)),
        ids(range(20_000, 20_300), range(300_000, 300_030)),
    ),
}
PAGE_REFS = {"bought": "501", "nonresident": "502", "ordinary": "503"}


def read(page: str, members: list[int], deactivated: list[int], elsewhere: list[int], day: date):
    """The rows a read with fields leaves for a page: as gospulse.audience.collect writes them."""
    ref = PAGE_REFS[page]
    audience = PageAudience(HASHER)
    audience.add(members)
    attributes = MemberAttributes(HASHER, HOME)
    gone, away = set(deactivated), set(elsewhere)
    for member in members:
        city = None if member in gone else (ELSEWHERE if member in away else 4_200_001)
        attributes.add(member, member in gone, city)
    sketch = ("vk", ref, day, "ok", len(members), len(members), 16, audience.hll_bytes(),
              THETA_LG_K, audience.theta_bytes(), None, "run")  # fmt: skip
    row = ("vk", ref, day, 42, attributes.deactivated, THETA_LG_K,
           attributes.deactivated_theta_bytes(), attributes.in_region, attributes.elsewhere,
           attributes.city_unknown, "run")  # fmt: skip
    cities = [("vk", ref, day, c, n) for c, n in sorted(attributes.by_city.items())]
    return sketch, row, cities


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("quality") / "gospulse.duckdb"
    snapshots = []
    sketches, attributes, cities = [], [], []
    for page, (opening, closing, deactivated, away_then, away_now) in PAGES.items():
        ref = PAGE_REFS[page]
        day = OPENING - timedelta(days=5)
        while day <= LATEST:
            count = len(opening) if day <= OPENING else len(closing)
            snapshots.append(SnapshotRow("vk", ref, day, count, "ok"))
            day += timedelta(days=1)
        # nobody was deactivated yet at the opening read
        for members, gone, away, when in (
            (opening, [], away_then, OPENING),
            (closing, [], away_now, CLOSING),
            (closing, deactivated, away_now, LATEST),
        ):
            s, a, c = read(page, members, gone, away, when)
            sketches.append(s)
            attributes.append(a)
            cities.extend(c)
    with connect(path) as con:
        replace_snapshots(con, snapshots)
        replace_member_reads(con, sketches, attributes, cities)
        for line, ref in enumerate(PAGE_REFS.values(), start=2):
            con.execute(
                "insert into raw.registry_pages values ('vk', ?, 'id', ?, ?, null, 42, null, "
                "'health', false, 'registry.csv', ?, ?, null)",
                [ref, ref, f"Страница {ref}", line, datetime(2025, 1, 1)],
            )
    result = transform.build(path)
    assert result.success, result.describe()
    return path


def quality(warehouse: Path) -> dict[str, dict]:
    with connect(warehouse, read_only=True) as con:
        cursor = con.execute(
            "select * from marts.mart_growth_quality where period_start = '2025-03-01'"
        )
        names = [c[0] for c in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    by_ref = {PAGE_REFS[p]: p for p in PAGE_REFS}
    return {by_ref[r["page_ref"]]: r for r in rows}


def test_the_marks_name_the_waves(warehouse):
    assert {page: r["quality_mark"] for page, r in quality(warehouse).items()} == {
        "bought": "suspect_growth",
        "nonresident": "nonresident_growth",
        "ordinary": "ok",
    }


@pytest.mark.parametrize("page", list(PAGES))
def test_new_and_deactivated_members_lie_within_the_sketch_bounds(warehouse, page):
    opening, closing, deactivated, away_then, away_now = PAGES[page]
    new = set(closing) - set(opening)
    row = quality(warehouse)[page]
    assert (row["read_start_date"], row["read_end_date"], row["read_latest_date"]) == (
        OPENING, LATEST, LATEST,
    )  # fmt: skip
    assert row["new_members_lower"] <= len(new) <= row["new_members_upper"]
    gone = len(new & set(deactivated))
    assert row["new_deactivated_lower"] <= gone <= row["new_deactivated_upper"]
    assert row["net_growth"] == len(closing) - len(opening)
    # a deactivated account shows no city
    assert row["nonresidents_growth"] == len(set(away_now) - set(deactivated)) - len(away_then)


def test_the_marked_months_are_open_incidents_sent_once(warehouse):
    """The marks reach mart_dq_incidents and the alert channels: one incident per page, rule and
    month, keyed by the month so a later read does not page anyone again."""

    class Recorder:
        channel = "recorder"

        def __init__(self) -> None:
            self.sent: list[list[Incident]] = []

        def send(self, subject: str, incidents) -> None:
            self.sent.append(list(incidents))

    growth_rules = {"suspect_growth", "nonresident_growth"}
    marked = [i for i in load_incidents(warehouse) if i.rule in growth_rules]
    by_ref = {PAGE_REFS[p]: p for p in PAGE_REFS}
    assert {(by_ref[i.page_ref], i.rule) for i in marked} == {
        ("bought", "suspect_growth"),
        ("nonresident", "nonresident_growth"),
    }
    for incident in marked:
        assert (incident.first_seen, incident.last_seen) == (date(2025, 3, 1), LATEST)
        assert incident.status == "open" and incident.severity == "warning"
        assert incident.title.startswith(f"Страница {incident.page_ref}: ")
    bought = next(i for i in marked if i.rule == "suspect_growth")
    assert bought.current_value == pytest.approx(1200 / 1500, abs=0.08)

    recorder = Recorder()
    notify_new_incidents(warehouse, [recorder])
    notify_new_incidents(warehouse, [recorder])
    assert len(recorder.sent) == 1  # the second run found nothing new
    sent = {(i.page_ref, i.rule) for i in recorder.sent[0]}
    assert {(i.page_ref, i.rule) for i in marked} <= sent
