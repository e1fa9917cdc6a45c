"""Member lists through the real vk_api into sketches: accuracy, statuses, privacy, cadence."""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import date, timedelta

import pytest

from emulators.vk.profiles import KUZBASS_REGION_ID
from emulators.vk.server import Faults, VkEmulator
from emulators.vk.world import World
from extractors.vk.client import VkClient
from gospulse.audience.collect import AudienceConfig, collect_vk_audience
from gospulse.extract.pipeline import extract_vk
from gospulse.raw.sketches import (
    HLL_LG_K,
    MemberHasher,
    MissingAudienceSecret,
    estimate,
    hasher_from_env,
    hll_from_bytes,
    theta_from_bytes,
    union_hll,
)
from gospulse.raw.warehouse import connect
from gospulse.registry.pages import validate_registry

START = date(2026, 2, 1)
TOKEN = "audience-token"
HASHER = MemberHasher(b"test-audience-secret-0001")


@pytest.fixture(scope="module")
def world():
    return World(seed=9, start=START, n_pages=200)


@pytest.fixture(scope="module")
def registry(world, tmp_path_factory):
    path = tmp_path_factory.mktemp("reg") / "42.csv"
    world.write_registry(path)
    return validate_registry(path)


@pytest.fixture(scope="module")
def local(world, registry):
    """The registry without its big pages (the regional ones, up to a third of a million
    members), for the reads that ask for user objects: the emulator builds and serialises each
    one."""
    small = {str(p.id) for p in world.pages if world.state_on(p, START).members_count < 20_000}
    pages = [p for p in registry.pages if p.ref.kind != "id" or p.ref.value in small]
    names = {p.screen_name for p in world.pages if str(p.id) not in small}
    pages = [p for p in pages if p.ref.value not in names]
    assert len(registry.pages) - len(pages) == len(world.pages) - len(small) == 3
    return replace(registry, pages=pages)


def registered(world, registry, day=START):
    """The world's pages the registry lists whose member lists can be read on `day`."""
    refs = {p.ref.value for p in registry.pages}
    return [
        p
        for p in world.pages
        if world.members_readable(p, day) and (str(p.id) in refs or p.screen_name in refs)
    ]


@pytest.fixture
def emulator(world):
    # the rate limit is tested elsewhere; here it would only make the suite wait
    with VkEmulator(world, rate_limit=25.0, tokens={TOKEN}) as emu:
        yield emu


@pytest.fixture
def client(emulator):
    return VkClient(
        TOKEN, base_url=emulator.base_url, backoff_seconds=0.05, requests_per_second=25.0
    )


def sketches(warehouse, d):
    with connect(warehouse, read_only=True) as con:
        return {
            ref: (status, members, read, hll, theta)
            for ref, status, members, read, hll, theta in con.execute(
                "select page_ref, status, members_count, members_read, hll_sketch, theta_sketch "
                "from raw.member_sketches where snapshot_date = ?",
                [d],
            ).fetchall()
        }


def extract_and_collect(world, registry, emulator, client, warehouse, d, config=None):
    emulator.set_date(d)
    extract_vk(d, registry=registry, warehouse=warehouse, client=client)
    return collect_vk_audience(
        d,
        registry=registry,
        warehouse=warehouse,
        client=client,
        hasher=HASHER,
        config=config or AudienceConfig(),
    )


def test_estimates_agree_with_the_worlds_exact_counts(world, registry, emulator, client, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    ids_only = AudienceConfig(member_fields=False)
    summary = extract_and_collect(world, registry, emulator, client, warehouse, START, ids_only)
    rows = sketches(warehouse, START)
    readable = [p for p in world.pages if world.members_readable(p, START)]
    assert summary.pages_ok == len(readable)
    for page in readable:
        status, members, read, hll, _ = rows[str(page.id)]
        exact = world.state_on(page, START).members_count
        assert (status, members, read) == ("ok", exact, exact)
        # HLL's exact modes keep 26-bit coupons: a rare collision can lose a member, which
        # the mode's bounds do not cover; 3 standard errors otherwise
        est = estimate(hll_from_bytes(hll))
        assert abs(est.value - exact) <= max(2, 3 * 1.04 / 2 ** (HLL_LG_K / 2) * exact), page.id
    union = estimate(union_hll(rows[str(p.id)][3] for p in readable))
    exact_union = world.exact_unique(readable, START)
    assert union.lower <= exact_union <= union.upper
    # calls are packed across pages: one execute carries 25 calls of 1000 ids
    # a hidden list is only known to be hidden once asked: one call each
    asked = [
        p
        for p in world.pages
        if world.state_on(p, START).deactivated is None and not world.state_on(p, START).is_closed
    ]
    calls = sum(max(1, math.ceil(world.state_on(p, START).members_count / 1000)) for p in asked)
    assert summary.requests == math.ceil(calls / 25)


def test_members_attributes_are_counted_as_the_world_shows_them(
    world, local, emulator, client, tmp_path
):
    warehouse = tmp_path / "w.duckdb"
    summary = extract_and_collect(world, local, emulator, client, warehouse, START)
    readable = registered(world, local)
    assert summary.lists_with_attributes == len(readable)
    # on the first day only, the region's cities: one database.getRegions, one getCities
    assert emulator.stats.by_method["database.getRegions"] == 1
    home = {c["id"] for c in emulator.profiles.region_cities(KUZBASS_REGION_ID)}
    with connect(warehouse, read_only=True) as con:
        kept = con.execute("select region_code, city_id from raw.vk_region_cities").fetchall()
        stored = {
            ref: rest
            for ref, *rest in con.execute(
                "select page_ref, region_code, members_deactivated, deactivated_theta, "
                "members_in_region, members_elsewhere, members_city_unknown "
                "from raw.member_attributes where snapshot_date = ?",
                [START],
            ).fetchall()
        }
        cities = con.execute(
            "select page_ref, city_id, members from raw.member_city_counts where snapshot_date = ?",
            [START],
        ).fetchall()
    assert sorted(kept) == sorted((42, c) for c in home)
    by_city: dict[str, dict[int, int]] = {}
    for ref, city, members in cities:
        by_city.setdefault(ref, {})[city] = members
    assert stored.keys() == {str(p.id) for p in readable}
    for page in readable:
        users = emulator.profiles.users(world.members(page, START).tolist(), {"city"}, START)
        gone = sum(1 for u in users if u.get("deactivated"))
        shown = [u["city"]["id"] for u in users if "city" in u]
        exact_cities = {c: shown.count(c) for c in set(shown) if c in home}
        region, deactivated, theta, in_region, elsewhere, unknown = stored[str(page.id)]
        assert region == 42
        assert (deactivated, in_region, elsewhere, unknown) == (
            gone,
            sum(exact_cities.values()),
            sum(1 for c in shown if c not in home),
            len(users) - len(shown),
        ), page.id
        assert by_city.get(str(page.id), {}) == exact_cities, page.id
        sketch = theta_from_bytes(theta)
        assert sketch.get_lower_bound(2) <= gone <= sketch.get_upper_bound(2), page.id
    # the world's people: some deactivated, some elsewhere, some without a city, most at home
    totals = [sum(v[i] for v in stored.values()) for i in (1, 3, 4, 5)]
    assert all(totals) and totals[1] > totals[2]

    # a day later the cities are known: no database call
    summary = extract_and_collect(
        world, local, emulator, client, warehouse, START + timedelta(days=1)
    )
    assert summary.lists_with_attributes > 0
    assert emulator.stats.by_method["database.getCities"] == 1


def test_hidden_closed_and_over_budget_pages_get_a_status(
    world, registry, emulator, client, tmp_path
):
    warehouse = tmp_path / "w.duckdb"
    day = START + timedelta(days=59)  # after the world's closures and deletions
    big = max(world.pages, key=lambda p: world.state_on(p, day).members_count)
    budget = world.state_on(big, day).members_count - 1
    summary = extract_and_collect(
        world,
        registry,
        emulator,
        client,
        warehouse,
        day,
        AudienceConfig(max_members=budget, member_fields=False),
    )
    rows = sketches(warehouse, day)
    with connect(warehouse, read_only=True) as con:
        # pages counted today (a page renamed before its first resolution is not)
        counted = {
            r
            for (r,) in con.execute(
                "select page_ref from raw.page_snapshots where snapshot_date = ? and status = 'ok'",
                [day],
            ).fetchall()
        }
    hidden = [p for p in world.pages if world.members_hidden(p) and str(p.id) in counted]
    assert hidden, "the world should hide some lists"
    for page in hidden:
        assert rows[str(page.id)][0] == "hidden"
        assert rows[str(page.id)][3] is None  # no sketch for a list we could not read
    closed = [e.page_id for e in world.events if e.kind == "closed" and e.day <= day]
    for page_id in closed:
        assert rows[str(page_id)][0] == "hidden"
    assert rows[str(big.id)][:3] == ("over_budget", budget + 1, 0)
    gone = [e.page_id for e in world.events if e.kind in ("deleted", "banned") and e.day <= day]
    assert all(str(g) not in rows for g in gone)  # nothing to read, no row
    assert summary.pages_over_budget >= 1 and summary.pages_hidden >= len(hidden)


def ids_in_bytes(ids: list[int], blob: bytes) -> set[int]:
    """The ids found in blob as decimal text or as a 4- or 8-byte integer of either byte
    order, at any offset: one pass per form instead of a search per id."""
    import re

    import numpy as np

    wanted = set(ids)
    found = {int(n) for n in re.findall(rb"\d+", blob) if len(n) < 20 and int(n) in wanted}
    for width, kind in ((4, "u4"), (8, "u8")):
        for order in ("<", ">"):
            for offset in range(width):
                usable = (len(blob) - offset) // width * width
                values = np.frombuffer(
                    blob, dtype=order + kind, count=usable // width, offset=offset
                )
                hits = values[np.isin(values, np.array(ids, dtype=kind))]
                found |= {int(v) for v in hits}
    return found


def test_the_id_scan_finds_ids_written_in_any_form():
    ids = [123456789, 987654, 4_000_000_001]
    blob = b"x" + b"id=123456789;" + (987654).to_bytes(8, "big") + b"\x00" * 3
    blob += (4_000_000_001).to_bytes(4, "little") + b"tail"
    assert ids_in_bytes(ids, blob) == set(ids)
    assert ids_in_bytes([5, 7], blob) == set()


def test_no_member_id_reaches_the_warehouse_or_the_logs(
    world, local, emulator, client, tmp_path, caplog
):
    warehouse = tmp_path / "w.duckdb"
    caplog.set_level(logging.DEBUG)
    summary = extract_and_collect(world, local, emulator, client, warehouse, START)
    assert summary.lists_with_attributes == summary.pages_ok > 0
    readable = registered(world, local)
    known = [int(i) for p in readable[:20] for i in world.members(p, START)[:50]]
    assert len(known) > 200
    blob = warehouse.read_bytes()
    wal = warehouse.with_suffix(".duckdb.wal")
    if wal.exists():
        blob += wal.read_bytes()
    assert not ids_in_bytes(known, blob)
    logs = caplog.text + "".join(
        p.read_text(errors="replace")
        for p in tmp_path.rglob("*")
        if p.is_file() and p.suffix in (".log", ".json")
    )
    assert not any(str(member_id) in logs for member_id in known)
    # the lists were read as user objects: their names never travel further than the reader
    for word in ("DELETED", "Смирнова", "Соколов"):
        assert word.encode() not in blob and word not in logs, word


def test_sketches_are_deterministic_and_keyed(world, registry, emulator, client, tmp_path):
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    ids_only = AudienceConfig(member_fields=False)
    extract_and_collect(world, registry, emulator, client, a, START, ids_only)
    extract_and_collect(world, registry, emulator, client, b, START, ids_only)
    assert sketches(a, START) == sketches(b, START)
    page = next(p for p in world.pages if world.members_readable(p, START))
    ids = [int(i) for i in world.members(page, START)]
    other = MemberHasher(b"another-secret-key-000")
    assert [HASHER(i) for i in ids[:5]] != [other(i) for i in ids[:5]]


def test_cadence_rereads_small_lists_daily_and_big_ones_weekly(
    world, registry, emulator, client, tmp_path
):
    warehouse = tmp_path / "w.duckdb"
    config = AudienceConfig(
        cadence_days=1, big_page_members=5_000, big_page_cadence_days=7, member_fields=False
    )
    extract_and_collect(world, registry, emulator, client, warehouse, START, config)
    day2 = START + timedelta(days=1)
    summary = extract_and_collect(world, registry, emulator, client, warehouse, day2, config)
    rows = sketches(warehouse, day2)
    big = [
        p
        for p in world.pages
        if world.members_readable(p, day2) and world.state_on(p, day2).members_count >= 5_000
    ]
    assert big and summary.pages_not_due == len(big)
    assert all(str(p.id) not in rows for p in big)
    small = [
        p
        for p in world.pages
        if world.members_readable(p, day2) and world.state_on(p, day2).members_count < 5_000
    ]
    assert all(rows[str(p.id)][0] == "ok" for p in small)


def test_a_failed_reread_keeps_the_days_good_sketches(world, local, emulator, client, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    extract_and_collect(world, local, emulator, client, warehouse, START)
    good = sketches(warehouse, START)
    good_attributes = attribute_rows(warehouse)
    assert good_attributes
    emulator.faults = Faults(api_error_rate=1.0, api_error_codes=(10,))
    failing = VkClient(
        TOKEN,
        base_url=emulator.base_url,
        max_retries=1,
        backoff_seconds=0.01,
        requests_per_second=25.0,
    )
    summary = collect_vk_audience(
        START,
        registry=local,
        warehouse=warehouse,
        client=failing,
        hasher=HASHER,
        config=AudienceConfig(),
    )
    emulator.faults = Faults()
    assert summary.pages_failed > 0 and summary.pages_ok == 0
    assert sketches(warehouse, START) == good
    assert attribute_rows(warehouse) == good_attributes


def attribute_rows(warehouse):
    with connect(warehouse, read_only=True) as con:
        return sorted(
            con.execute("select * exclude (loaded_at) from raw.member_attributes").fetchall()
        ) + sorted(
            con.execute("select * exclude (loaded_at) from raw.member_city_counts").fetchall()
        )


def test_audience_needs_the_days_snapshot_and_a_secret(registry, client, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="extract that date"):
        collect_vk_audience(
            START, registry=registry, warehouse=tmp_path / "w.duckdb", client=client, hasher=HASHER
        )
    monkeypatch.delenv("GOSPULSE_AUDIENCE_SECRET", raising=False)
    with pytest.raises(MissingAudienceSecret, match="GOSPULSE_AUDIENCE_SECRET"):
        hasher_from_env()
    with pytest.raises(MissingAudienceSecret):
        hasher_from_env("short")


def test_an_absurd_member_object_fails_its_page_alone(world, local, emulator, client, tmp_path):
    readable = registered(world, local)
    broken = readable[0]
    get_members = emulator._methods["groups.getMembers"]

    def with_a_bad_object(params):
        answer = get_members(params)
        if params.get("group_id") == str(broken.id) and params.get("fields"):
            answer["items"][0] = {**answer["items"][0], "city": {"id": "Кемерово"}}
        return answer

    emulator.register_method("groups.getMembers", with_a_bad_object)
    warehouse = tmp_path / "w.duckdb"
    try:
        summary = extract_and_collect(world, local, emulator, client, warehouse, START)
    finally:
        emulator.register_method("groups.getMembers", get_members)
    with connect(warehouse, read_only=True) as con:
        status, error = con.execute(
            "select status, error from raw.member_sketches where page_ref = ?", [str(broken.id)]
        ).fetchone()
        attributes = con.execute("select count(*) from raw.member_attributes").fetchone()[0]
    assert (status, error) == (
        "error",
        "unexpected getMembers item: a city id of type str or not positive",
    )
    assert summary.pages_ok == attributes == len(readable) - 1


def test_a_region_vk_does_not_list_is_read_without_attributes(client):
    from extractors.vk.cities import RegionNotFound, find_region, region_cities, region_query

    assert region_query("Кемеровская область — Кузбасс") == "Кемеровская"
    assert region_query("Республика Саха (Якутия)") == "Саха"
    assert find_region(client, "Кемеровская область — Кузбасс") == (
        KUZBASS_REGION_ID,
        "Кемеровская область",
    )
    with pytest.raises(RegionNotFound, match="'Республика Тыва'.*none"):
        find_region(client, "Республика Тыва")
    assert region_cities(client, "Томская область").cities == {7_000_001: "Томск"}
