"""The audience marts on a real DuckDB file: sketches from known ID sets, real `dbt build`.

Every page's members are a known set of integers, so the exact unions and intersections are
computed here and the sketch estimates are checked against them. dbt builds the world twice
(determinism) and once more with a small overlap_top_pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from gospulse.audience.federal import RegionSketch, export_region_sketches, national_unique
from gospulse.audience.overlap import SketchUnavailable, page_overlap
from gospulse.cli import main
from gospulse.raw.sketches import HLL_LG_K, HLL_TYPE, MemberHasher, PageAudience
from gospulse.raw.warehouse import SnapshotRow, connect, replace_member_sketches, replace_snapshots
from gospulse.transform import run as transform

pytestmark = pytest.mark.slow

HASHER = MemberHasher(b"test-secret-key-16b")
DAY = date(2025, 3, 10)  # the latest audience date
FIRST_DAY = DAY - timedelta(days=12)
REGISTRY_LOADED_AT = datetime(2025, 1, 5, 8, 0)
AUDIENCE_MARTS = ("mart_audience", "mart_audience_overlaps", "mart_audience_region_sketches")


@dataclass(frozen=True)
class Page:
    """A page of the world: registry attributes, its members and its member-list history."""

    network: str
    page_ref: str
    region_code: int
    municipality: str
    sector: str
    is_flagship: bool
    organization: str
    members: frozenset[int] = frozenset()
    members_count: int | None = None  # the page's count when it is not len(members)
    # (days before DAY, status) of the rows in raw.member_sketches
    lists: tuple[tuple[int, str], ...] = ((0, "ok"),)
    screen_name: str | None = None
    hll_lg_k: int = HLL_LG_K  # 14 for a sketch stored before page sketches went to 16
    oktmo: str | None = None  # the registry's territory code, when it gives one

    @property
    def count(self) -> int:
        return self.members_count if self.members_count is not None else len(self.members)


def ids(*ranges: range) -> frozenset[int]:
    return frozenset(i for r in ranges for i in r)


PAGES = {
    "201": Page("vk", "201", 42, "kemerovo", "health", True, "Минздрав", ids(range(0, 3000))),
    # registered by screen name; its list is read weekly: the sketch is exactly 7 days old
    "202": Page(
        "vk",
        "202",
        42,
        "kemerovo",
        "education",
        False,
        "Школа",
        ids(range(2000, 4500)),
        lists=((7, "ok"),),
        screen_name="kuz_school",
    ),
    # the big pair: 20 000 and 25 000 members, 10 000 shared (theta in estimation mode)
    "203": Page(
        "vk", "203", 42, "novokuznetsk", "health", True, "Больница", ids(range(10_000, 30_000))
    ),
    # the registry places it in a settlement of one of the two municipalities named Novokuznetsk
    "204": Page(
        "vk",
        "204",
        42,
        "novokuznetsk",
        "culture",
        False,
        "Театр",
        ids(range(20_000, 45_000)),
        oktmo="32631101",
    ),
    "205": Page(
        "vk",
        "205",
        42,
        "kemerovo",
        "health",
        False,
        "Минздрав",
        members_count=800,
        lists=((0, "hidden"),),
    ),
    "206": Page(
        "vk",
        "206",
        42,
        "kemerovo",
        "culture",
        False,
        "Филармония",
        members_count=5_000_000,
        lists=((0, "over_budget"),),
    ),
    # its only sketch is 8 days old on DAY: too old to count
    "207": Page(
        "vk",
        "207",
        42,
        "novokuznetsk",
        "sport",
        False,
        "Спорт",
        ids(range(100_000, 100_700)),
        lists=((8, "ok"),),
    ),
    "301": Page(
        "vk", "301", 54, "novosibirsk", "health", True, "Минздрав НСО", ids(range(1000, 6000))
    ),
    # a second network; person p is p on both networks, so the cross-network union is known
    "9001": Page(
        "ok", "9001", 42, "kemerovo", "health", False, "Минздрав", ids(range(40_000, 50_000))
    ),
    # region 70's pages: a new lg_k 16 page in HLL mode, then two sketched at lg_k 14 before the
    # change, one in HLL mode and one small (coupon mode); in page order, datasketches 5.2.0's
    # union of the three came out as the small page alone (gospulse.raw.sketches.merge_hll)
    "701": Page(
        "vk", "701", 70, "tomsk", "health", False, "Облздрав", ids(range(200_000, 210_000))
    ),
    "702": Page(
        "vk",
        "702",
        70,
        "tomsk",
        "health",
        False,
        "Облздрав",
        ids(range(300_000, 303_000)),
        hll_lg_k=14,
    ),
    "703": Page(
        "vk",
        "703",
        70,
        "tomsk",
        "health",
        False,
        "Облздрав",
        ids(range(400_000, 400_200)),
        hll_lg_k=14,
    ),
}
VK_42 = ("201", "202", "203", "204")  # the vk pages of region 42 with a usable sketch on DAY

# made-up population tables (oktmo, name, level, parent, population): Kemerovo resolves by the
# registry's name, two municipalities bear the name Novokuznetsk (ambiguous: none is taken),
# region 54 lacks a municipality the registry names, region 70 has no table
POPULATION = {
    42: [
        ("32000000", "Кемеровская область — Кузбасс", "region", None, 100_000),
        ("32701000", "Kemerovo", "municipality", "32000000", 40_000),
        ("32731000", "Novokuznetsk", "municipality", "32000000", 30_000),
        ("32631000", "Novokuznetsk", "municipality", "32000000", 60_000),
        ("32631101", "Посёлок", "settlement", "32631000", 50_000),
    ],
    54: [("50000000", "Новосибирская область", "region", None, 50_000)],
}
POPULATION_YEAR = 2025


def union_of(*refs: str) -> int:
    return len(frozenset().union(*(PAGES[r].members for r in refs)))


def write_world(warehouse: Path) -> Path:
    """Registry, daily snapshots and member-list sketches of PAGES."""
    snapshots, sketches = [], []
    for page in PAGES.values():
        d = FIRST_DAY
        while d <= DAY:
            snapshots.append(SnapshotRow(page.network, page.page_ref, d, page.count, "ok"))
            d += timedelta(days=1)
        for days_before, status in page.lists:
            hll = theta = None
            read = 0
            if status == "ok":
                audience = PageAudience(HASHER, hll_lg_k=page.hll_lg_k)
                audience.add(sorted(page.members))
                hll, theta, read = audience.hll_bytes(), audience.theta_bytes(), len(page.members)
            sketches.append(
                (page.network, page.page_ref, DAY - timedelta(days=days_before), status,
                 page.count, read, page.hll_lg_k if hll else None, hll,
                 12 if theta else None, theta, None, "run-1")
            )  # fmt: skip
    with connect(warehouse) as con:
        replace_snapshots(con, snapshots)
        replace_member_sketches(con, sketches)
        for line, page in enumerate(PAGES.values(), start=2):
            kind, value = (
                ("screen_name", page.screen_name) if page.screen_name else ("id", page.page_ref)
            )
            registry_ref = f"https://vk.com/{value}" if page.screen_name else value
            con.execute(
                "insert into raw.registry_pages values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [page.network, registry_ref, kind, value, f"Page {page.page_ref}",
                 page.organization, page.region_code, page.municipality, page.sector,
                 page.is_flagship, "registry/fixture.csv", line, REGISTRY_LOADED_AT,
                 page.oktmo],
            )  # fmt: skip
            if page.screen_name:
                con.execute(
                    "insert into raw.page_refs values (?,?,?,?,?,?,null)",
                    [page.network, kind, value, page.page_ref, "ok", REGISTRY_LOADED_AT],
                )
        con.execute(
            "insert into raw.page_refs values ('vk', 'screen_name', 'ghost_page', null, "
            "'not_found', ?, null)",
            [REGISTRY_LOADED_AT],
        )
        for region, territories in POPULATION.items():
            for line, (oktmo, name, level, parent, population) in enumerate(territories, 2):
                con.execute(
                    "insert into raw.population values (?,?,?,?,?,?,?,?,?,?)",
                    [region, oktmo, name, level, parent, population, POPULATION_YEAR,
                     "population.csv", line, REGISTRY_LOADED_AT],
                )  # fmt: skip
    return warehouse


def read_marts(warehouse: Path) -> dict[str, list[tuple]]:
    with connect(warehouse, read_only=True) as con:
        return {
            m: sorted(con.execute(f"select * from marts.{m}").fetchall(), key=repr)
            for m in AUDIENCE_MARTS
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    warehouse = write_world(tmp_path_factory.mktemp("audience") / "gospulse.duckdb")
    first = transform.build(warehouse)
    marts_first = read_marts(warehouse)
    second = transform.build(warehouse)
    marts_second = read_marts(warehouse)
    return SimpleNamespace(
        warehouse=warehouse, first=first, second=second, marts_first=marts_first,
        marts_second=marts_second,
    )  # fmt: skip


def audience_row(
    world: SimpleNamespace,
    scope_type: str,
    scope_value: str,
    network: str,
    audience_date: date = DAY,
    region_code: int = 42,
) -> dict:
    with connect(world.warehouse, read_only=True) as con:
        cursor = con.execute(
            "select * from marts.mart_audience where audience_date = ? and scope_type = ? "
            "and scope_value = ? and network = ? and region_code = ?",
            [audience_date, scope_type, scope_value, network, region_code],
        )
        rows = cursor.fetchall()
        names = [c[0] for c in cursor.description]
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


def assert_within_bounds(row: dict, exact: int) -> None:
    assert row["unique_lower"] <= exact <= row["unique_upper"], (exact, row)
    assert row["unique_lower"] <= row["unique_estimate"] <= row["unique_upper"]


# --- build --------------------------------------------------------------------------------


def test_build_passes_every_test_and_is_deterministic(world):
    for result in (world.first, world.second):
        assert result.success and result.tests_failed == 0
        assert result.count("test", "pass") >= 10
    assert world.marts_first == world.marts_second
    assert all(world.marts_first[m] for m in AUDIENCE_MARTS)


# --- mart_audience ------------------------------------------------------------------------


def test_region_union_is_within_bounds_of_the_exact_union(world):
    row = audience_row(world, "region", "42", "vk")
    assert_within_bounds(row, union_of(*VK_42))
    assert row["unique_estimate"] == pytest.approx(union_of(*VK_42), rel=0.03)
    # 201 and 202 share 1000 members, 203 and 204 share 10 000
    assert union_of(*VK_42) == 39_500


@pytest.mark.parametrize(
    ("scope_type", "scope_value", "refs"),
    [
        ("municipality", "kemerovo", ("201", "202")),
        ("municipality", "novokuznetsk", ("203", "204")),
        ("sector", "health", ("201", "203")),
        ("flagship", "42", ("201", "203")),
        ("organization", "Минздрав", ("201",)),
    ],
)
def test_every_scope_is_the_union_of_its_sketched_pages(world, scope_type, scope_value, refs):
    row = audience_row(world, scope_type, scope_value, "vk")
    assert row["region_code"] == 42
    assert row["pages_with_sketch"] == len(refs)
    assert_within_bounds(row, union_of(*refs))


def test_a_region_of_older_lg_k_14_and_new_lg_k_16_page_sketches_is_their_whole_union(world):
    row = audience_row(world, "region", "70", "vk", region_code=70)
    assert row["pages_with_sketch"] == 3
    assert_within_bounds(row, union_of("701", "702", "703"))
    assert row["unique_estimate"] == pytest.approx(13_200, rel=0.03)


def test_hidden_and_over_budget_pages_are_counted_and_reduce_coverage(world):
    row = audience_row(world, "region", "42", "vk")
    counts = {
        r: PAGES[r].count for r in PAGES if PAGES[r].network == "vk" and PAGES[r].region_code == 42
    }
    covered = sum(counts[r] for r in VK_42)
    assert row["pages_total"] == 7
    assert (row["pages_with_sketch"], row["pages_hidden"], row["pages_over_budget"]) == (4, 1, 1)
    assert row["pages_unread"] == 1  # 207: its only sketch is too old
    assert row["subscriptions"] == sum(counts.values()) == 5_052_000
    assert row["subscriptions_covered"] == covered == 50_500
    assert row["coverage"] == pytest.approx(covered / sum(counts.values()))
    assert row["duplication_factor"] == pytest.approx(covered / row["unique_estimate"])
    # the organization of 201 also runs the hidden page 205
    org = audience_row(world, "organization", "Минздрав", "vk")
    assert (org["pages_total"], org["pages_hidden"]) == (2, 1)
    assert org["coverage"] == pytest.approx(3000 / 3800)


def test_sketches_older_than_the_age_window_are_not_used(world):
    # on DAY, 202's sketch is exactly 7 days old (used), 207's is 8 days old (not used)
    with connect(world.warehouse, read_only=True) as con:
        statuses = dict(
            con.execute(
                "select page_ref, audience_status from intermediate.int_audience_page_dates "
                "where audience_date = ? and network = 'vk' and region_code = 42",
                [DAY],
            ).fetchall()
        )
    assert statuses == {
        "201": "sketched",
        "202": "sketched",
        "203": "sketched",
        "204": "sketched",
        "205": "hidden",
        "206": "over_budget",
        "207": "not_read",
    }
    # on its own list date, 207 counts (every sketch date is an audience date)
    row = audience_row(world, "municipality", "novokuznetsk", "vk", DAY - timedelta(days=8))
    assert row["pages_with_sketch"] == 1
    assert_within_bounds(row, union_of("207"))


def test_all_networks_rows_are_bounds_not_an_estimate(world):
    vk = audience_row(world, "region", "42", "vk")
    ok = audience_row(world, "region", "42", "ok")
    both = audience_row(world, "region", "42", "all")
    assert_within_bounds(ok, union_of("9001"))
    assert both["unique_estimate"] is None and both["duplication_factor"] is None
    assert both["unique_lower"] == max(vk["unique_lower"], ok["unique_lower"])
    assert both["unique_upper"] == pytest.approx(vk["unique_upper"] + ok["unique_upper"])
    # person p is p on both networks: the true cross-network unique lies within the bounds
    exact = union_of(*VK_42, "9001")
    assert both["unique_lower"] <= exact <= both["unique_upper"]
    assert both["subscriptions"] == vk["subscriptions"] + ok["subscriptions"]
    assert both["pages_total"] == vk["pages_total"] + ok["pages_total"] == 8


# --- reach --------------------------------------------------------------------------------


def reach_rows(warehouse: Path, audience_date: date = DAY, network: str = "vk") -> dict[str, dict]:
    """mart_reach of one date and network, by OKTMO code."""
    with connect(warehouse, read_only=True) as con:
        cursor = con.execute(
            "select * from marts.mart_reach where audience_date = ? and network = ?",
            [audience_date, network],
        )
        names = [c[0] for c in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    by_oktmo = {r["oktmo"]: r for r in rows}
    assert len(by_oktmo) == len(rows)
    return by_oktmo


def test_pages_find_their_territory_by_code_or_by_a_name_borne_once(world):
    with connect(world.warehouse, read_only=True) as con:
        found = {
            ref: rest
            for ref, *rest in con.execute(
                "select ref_value, territory_source, municipality_oktmo, settlement_oktmo "
                "from intermediate.int_registry_pages_resolved where network = 'vk'"
            ).fetchall()
        }
    assert found["201"] == ["name", "32701000", None]
    assert found["kuz_school"] == ["name", "32701000", None]  # 202, by screen name
    assert found["203"] == ["ambiguous", None, None]
    assert found["204"] == ["registry", "32631000", "32631101"]
    assert found["301"] == ["unmatched", None, None]
    assert found["701"] == ["unmatched", None, None]  # region 70 has no population table


def test_the_names_that_found_no_territory_are_listed(world, capsys):
    assert main(["population", "names", "--warehouse", str(world.warehouse)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "region 42: 'novokuznetsk' (2 pages): several municipalities bear this name "
        "(32631000 Novokuznetsk; 32731000 Novokuznetsk)",
        "region 54: 'novosibirsk' (1 pages): no municipality of the region's population table "
        "bears this name",
        "region 70: 'tomsk' (3 pages): no municipality of the region's population table bears "
        "this name",
    ]
    assert err.startswith("3 municipality names found no territory")
    assert main(["population", "names", "--region", "42", "--warehouse", str(world.warehouse)])
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_reach_is_the_unique_audience_over_the_population_within_the_sketch_bounds(world):
    rows = reach_rows(world.warehouse)
    expected = {  # oktmo: (level, pages with a sketch, exact unique people, population)
        "32000000": ("region", ("201", "202", "203", "204"), 100_000),
        "32701000": ("municipality", ("201", "202"), 40_000),
        "32631000": ("municipality", ("204",), 60_000),
        "32631101": ("settlement", ("204",), 50_000),
        "50000000": ("region", ("301",), 50_000),
    }
    assert rows.keys() == expected.keys()
    for oktmo, (level, refs, population) in expected.items():
        row = rows[oktmo]
        assert (row["territory_level"], row["population"], row["population_year"]) == (
            level, population, POPULATION_YEAR
        ), oktmo  # fmt: skip
        assert row["pages_with_sketch"] == len(refs), oktmo
        exact = union_of(*refs) / population
        assert row["reach_lower"] <= exact <= row["reach_upper"], (oktmo, exact, row)
        assert row["reach"] == pytest.approx(row["unique_estimate"] / population)
        assert row["subscriptions_per_resident"] == pytest.approx(row["subscriptions"] / population)
    # the region's row is its scope in mart_audience, divided
    region = audience_row(world, "region", "42", "vk")
    assert rows["32000000"]["coverage"] == region["coverage"]
    assert rows["32000000"]["subscriptions"] == region["subscriptions"]
    assert rows["32000000"]["territory_name"] == "Кемеровская область — Кузбасс"


def test_reach_of_every_network_together_is_bounds_only(world):
    both = reach_rows(world.warehouse, network="all")["32000000"]
    exact = union_of(*VK_42, "9001") / 100_000
    assert both["reach"] is None
    assert both["reach_lower"] <= exact <= both["reach_upper"]


def test_the_api_serves_reach_to_the_regions_tokens_only(world, tmp_path):
    from fastapi.testclient import TestClient

    from gospulse.api.app import create_app
    from gospulse.api.tokens import TokenStore
    from gospulse.serving.publish import publish_marts
    from tests.conftest import copy_warehouse

    published = publish_marts(
        copy_warehouse(world.warehouse, tmp_path), run_id="r", snapshot_date=DAY
    )
    store = TokenStore(tmp_path / "tokens.json")
    kuzbass, _ = store.add("kuzbass", "42")
    client = TestClient(create_app(published.path, store))
    answer = client.get(
        "/marts/mart_reach",
        params={"from": DAY.isoformat(), "to": DAY.isoformat(), "network": "vk", "limit": 100},
        headers={"Authorization": f"Bearer {kuzbass}"},
    )
    assert answer.status_code == 200, answer.text
    served = {r["oktmo"]: r for r in answer.json()["rows"]}
    stored = reach_rows(world.warehouse)
    assert served.keys() == {k for k, r in stored.items() if r["region_code"] == 42}
    assert served["32701000"]["reach"] == pytest.approx(stored["32701000"]["reach"])
    refused = client.get(
        "/marts/mart_reach", params={"region": 50}, headers={"Authorization": f"Bearer {kuzbass}"}
    )
    assert refused.status_code == 403


# --- overlaps -------------------------------------------------------------------------------


def overlap_rows(warehouse: Path) -> list[dict]:
    with connect(warehouse, read_only=True) as con:
        cursor = con.execute(
            "select * from marts.mart_audience_overlaps where region_code = 42 and network = 'vk' "
            "order by pair_rank"
        )
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_overlap_pairs_rank_by_shared_members(world):
    rows = overlap_rows(world.warehouse)
    # pairs with nothing in common are left out
    assert [(r["page_ref_a"], r["page_ref_b"]) for r in rows] == [("204", "203"), ("201", "202")]
    big, small = rows
    assert {r["audience_date"] for r in rows} == {DAY}
    # the big pair is estimated: the exact intersection is within the bounds
    assert big["shared_lower"] <= 10_000 <= big["shared_upper"]
    assert big["shared_estimate"] == pytest.approx(10_000, rel=0.05)
    # below 4096 members theta is exact
    assert (small["audience_a"], small["audience_b"], small["shared_estimate"]) == (
        3000,
        2500,
        1000,
    )
    assert small["share_of_a"] == pytest.approx(1000 / 3000)
    assert small["share_of_b"] == pytest.approx(1000 / 2500)
    assert small["jaccard"] == pytest.approx(1000 / 4500)
    assert (small["registry_ref_b"], small["title_b"]) == ("https://vk.com/kuz_school", "Page 202")


def test_page_overlap_by_screen_name_url_and_id(world):
    by_id = page_overlap("201", "202", warehouse=world.warehouse)
    by_name = page_overlap("club201", "https://vk.com/kuz_school", warehouse=world.warehouse)
    assert by_name == by_id
    assert (by_id.page_a, by_id.page_b) == ("201", "202")
    assert (by_id.sketch_date_a, by_id.sketch_date_b) == (DAY, DAY - timedelta(days=7))
    assert (by_id.audience_a.value, by_id.audience_b.value, by_id.shared.value) == (
        3000,
        2500,
        1000,
    )
    assert by_id.share_of_a == pytest.approx(1 / 3)
    assert by_id.share_of_b == pytest.approx(0.4)
    big = page_overlap("kuz_school", "204", warehouse=world.warehouse)
    assert big.shared.value == 0
    estimated = page_overlap("203", "204", as_of=DAY, warehouse=world.warehouse)
    assert estimated.shared.lower <= 10_000 <= estimated.shared.upper


def test_page_overlap_errors_name_the_page(world):
    cases = [
        (("201", "205"), {}, "'205'.*hidden"),
        (("206", "201"), {}, "'206'.*over_budget"),
        (("201", "999"), {}, "'999'.*no member-list sketch"),
        (("201", "ghost_page"), {}, "'ghost_page'.*not resolved"),
        (("201", "unknown_name"), {}, "'unknown_name'.*not resolved"),
        (("201", "vk.com/wall-1_2"), {}, "not a page reference"),
        # as of DAY with a 6-day window, 202's week-old list is too old
        (("201", "kuz_school"), {"as_of": DAY, "max_age_days": 6}, "'kuz_school'.*no member"),
    ]
    for (ref_a, ref_b), kwargs, message in cases:
        with pytest.raises(SketchUnavailable, match=message):
            page_overlap(ref_a, ref_b, warehouse=world.warehouse, **kwargs)


# --- federal export -----------------------------------------------------------------------


def test_region_sketches_export_and_merge_nationally(world):
    exported = export_region_sketches(world.warehouse, network="vk")
    assert [(s.region_code, s.network, s.audience_date, s.lg_k) for s in exported] == [
        (42, "vk", DAY, HLL_LG_K),
        (54, "vk", DAY, HLL_LG_K),
        (70, "vk", DAY, 14),  # a union is as precise as its least precise HLL-mode page
    ]
    assert [RegionSketch.from_bytes(s.to_bytes()) for s in exported] == exported
    # region 42's sketch is the mart's union
    region = audience_row(world, "region", "42", "vk")
    assert exported[0].estimate().value == pytest.approx(region["unique_estimate"])
    national = national_unique(s.to_bytes() for s in exported)
    exact = union_of(*VK_42, "301", "701", "702", "703")
    assert national.lower <= exact <= national.upper
    regions_sum = sum(
        audience_row(world, "region", str(code), "vk", region_code=code)["unique_estimate"]
        for code in (42, 54, 70)
    )
    assert national.value < regions_sum  # regions 42 and 54 share people: the merge is no sum
    assert export_region_sketches(world.warehouse, audience_date=date(2020, 1, 1)) == []


# --- last: rebuilds the overlap models with other vars ---------------------------------------


def test_overlaps_only_pair_the_largest_pages(world):
    transform.run_dbt(
        ["build", "--select", "int_audience_overlap_pages+"],
        warehouse=world.warehouse,
        vars={"overlap_top_pages": 3},
    )
    # 202 is the 4th largest page with a sketch: its pair with 201 is gone
    pairs = [(r["page_ref_a"], r["page_ref_b"]) for r in overlap_rows(world.warehouse)]
    assert pairs == [("204", "203")]


# --- last: changes the world's member lists ---------------------------------------------------


AUDIENCE_INCREMENTALS = {  # incremental audience model: the columns that key its rows
    "int_audience_page_dates": ("audience_date", "network", "page_key"),
    "int_audience_scope_pages": (
        "audience_date", "scope_type", "scope_value", "region_code", "network", "page_key"
    ),
    "int_audience_unions": ("audience_date", "scope_type", "scope_value", "region_code", "network"),
    "mart_audience": ("audience_date", "scope_type", "scope_value", "region_code", "network"),
}  # fmt: skip


def model_rows(warehouse: Path, model: str) -> dict[tuple, dict]:
    """An incremental audience model's rows by their key."""
    with connect(warehouse, read_only=True) as con:
        schema = "marts" if model.startswith("mart_") else "intermediate"
        cursor = con.execute(f"select * from {schema}.{model}")
        names = [c[0] for c in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    by_key = {tuple(r[c] for c in AUDIENCE_INCREMENTALS[model]): r for r in rows}
    assert len(by_key) == len(rows), model
    return by_key


def union_rows(warehouse: Path) -> dict[tuple, dict]:
    """int_audience_unions by (date, scope_type, scope_value, region_code, network)."""
    return model_rows(warehouse, "int_audience_unions")


def of_date(rows: dict[tuple, dict], day: date) -> dict[tuple, dict]:
    return {k: v for k, v in rows.items() if k[0] == day}


BUILD_STATE = (  # build state: when and from which loads a row was built
    "built_at",
    "page_dates_built_at",
    "scope_pages_built_at",
    "unions_built_at",
    "lists_seen_at",
    "snapshots_seen_at",
    "snapshots_through",
    "registry_seen_at",
)


def without_built_at(rows: dict[tuple, dict]) -> dict[tuple, dict]:
    return {k: {c: v for c, v in r.items() if c not in BUILD_STATE} for k, r in rows.items()}


def rebuild_audience(warehouse: Path) -> dict[str, dict[tuple, dict]]:
    """An incremental build of the audience chain, each model checked against a full refresh;
    the incremental rows of each model."""
    # the registry's snapshot and the models, in one dbt process
    transform.run_dbt(
        ["build", "--select", "+mart_audience", "--resource-type", "model", "snapshot"],
        warehouse=warehouse,
    )
    incremental = {m: model_rows(warehouse, m) for m in AUDIENCE_INCREMENTALS}
    transform.run_dbt(
        ["run", "--select", *AUDIENCE_INCREMENTALS, "--full-refresh"], warehouse=warehouse
    )
    for model, rows in incremental.items():
        assert without_built_at(model_rows(warehouse, model)) == without_built_at(rows), model
    return incremental


def rebuild_unions(warehouse: Path) -> dict[tuple, dict]:
    return rebuild_audience(warehouse)["int_audience_unions"]


def test_unions_merge_again_only_the_audience_dates_whose_inputs_changed(world):
    week_before, eight_before = DAY - timedelta(days=7), DAY - timedelta(days=8)
    before = union_rows(world.warehouse)
    assert {k[0] for k in before} == {eight_before, week_before, DAY}

    # 203's list of DAY is read again and has grown: only DAY's unions change
    grown = PageAudience(HASHER)
    grown.add(range(10_000, 60_000))
    with connect(world.warehouse) as con:
        replace_member_sketches(
            con,
            [("vk", "203", DAY, "ok", 50_000, 50_000, HLL_LG_K, grown.hll_bytes(), 12,
              grown.theta_bytes(), None, "run-2")],
        )  # fmt: skip
    after = rebuild_unions(world.warehouse)
    for day in (eight_before, week_before):
        assert of_date(after, day) == of_date(before, day)  # not merged again: same built_at
    assert all(r["built_at"] > before[k]["built_at"] for k, r in of_date(after, DAY).items())
    region = after[(DAY, "region", "42", 42, "vk")]
    assert (
        region["inputs_fingerprint"]
        != before[(DAY, "region", "42", 42, "vk")]["inputs_fingerprint"]
    )
    assert region["unique_lower"] <= len(ids(range(0, 4500), range(10_000, 60_000)))
    assert len(ids(range(0, 4500), range(10_000, 60_000))) <= region["unique_upper"]

    # 207's only list, 8 days before DAY, turns out hidden: that date has no sketched page left
    # and loses its rows; a week before DAY, 207's list was inside the age window: merged again
    with connect(world.warehouse) as con:
        replace_member_sketches(
            con,
            [("vk", "207", eight_before, "hidden", 700, 0, None, None, None, None, None,
              "run-2")],
        )  # fmt: skip
    before = union_rows(world.warehouse)  # the full refresh's rows
    after = rebuild_unions(world.warehouse)
    assert of_date(after, eight_before) == {}
    assert of_date(after, DAY) == of_date(before, DAY)
    region_week = after[(week_before, "region", "42", 42, "vk")]
    assert before[(week_before, "region", "42", 42, "vk")]["pages_unioned"] == 2
    assert region_week["pages_unioned"] == 1  # 202 alone
    assert region_week["built_at"] > before[(week_before, "region", "42", 42, "vk")]["built_at"]
    # 207 was novokuznetsk's only page sketched then: the scope's row goes with it
    assert (week_before, "municipality", "novokuznetsk", 42, "vk") in before
    assert (week_before, "municipality", "novokuznetsk", 42, "vk") not in after


def test_audience_dates_are_recomputed_only_when_their_inputs_change(world):
    week_before, eight_before = DAY - timedelta(days=7), DAY - timedelta(days=8)
    chain = ("int_audience_page_dates", "int_audience_scope_pages", "mart_audience")
    before = {m: model_rows(world.warehouse, m) for m in chain}
    assert {k[0] for k in before["int_audience_page_dates"]} == {eight_before, week_before, DAY}

    # nothing loaded since the last build: no date is recomputed
    transform.run_dbt(["run", "--select", *chain], warehouse=world.warehouse)
    assert {m: model_rows(world.warehouse, m) for m in chain} == before

    # 202's snapshot of a week before DAY is re-read with another count: that date alone
    # (DAY is more than max_carry_days later, eight days before is earlier)
    with connect(world.warehouse) as con:
        replace_snapshots(con, [SnapshotRow("vk", "202", week_before, 999, "ok")])
    after = rebuild_audience(world.warehouse)
    for model in chain:
        for day in (eight_before, DAY):
            assert of_date(after[model], day) == of_date(before[model], day), (model, day)
        built_at = "page_dates_built_at" if model == "int_audience_scope_pages" else "built_at"
        assert all(
            r[built_at] > before[model][k][built_at]
            for k, r in of_date(after[model], week_before).items()
        ), model
    assert after["int_audience_page_dates"][(week_before, "vk", "202")]["members_count"] == 999

    # page 201 moves to another sector from two days before DAY: DAY's rows follow it
    before = {m: model_rows(world.warehouse, m) for m in chain}  # the full refresh's rows
    changed_at = datetime.combine(DAY - timedelta(days=2), datetime.min.time())
    with connect(world.warehouse) as con:
        con.execute(
            "update raw.registry_pages set sector = 'sport', loaded_at = ? where ref_value = '201'",
            [changed_at],
        )
    after = rebuild_audience(world.warehouse)
    for model in chain:
        for day in (eight_before, week_before):
            assert of_date(after[model], day) == of_date(before[model], day), (model, day)
    scopes = after["int_audience_scope_pages"]
    assert (DAY, "sector", "sport", 42, "vk", "201") in scopes
    assert (week_before, "sector", "health", 42, "vk", "201") in scopes
    assert (DAY, "sector", "health", 42, "vk", "201") not in scopes

    # the unions merged again with nothing else changed (a release changing the HLL settings
    # does that): the mart recomputes every date that has unions (eight days before DAY has
    # none since 207's list turned hidden in the test above)
    before = model_rows(world.warehouse, "mart_audience")
    transform.run_dbt(
        ["run", "--select", "int_audience_unions", "--full-refresh"], warehouse=world.warehouse
    )
    assert {k[0] for k in union_rows(world.warehouse)} == {week_before, DAY}
    transform.run_dbt(["run", "--select", "mart_audience"], warehouse=world.warehouse)
    after = model_rows(world.warehouse, "mart_audience")
    assert without_built_at(after) == without_built_at(before)
    assert of_date(after, eight_before) == of_date(before, eight_before)
    for day in (week_before, DAY):
        assert all(r["built_at"] > before[k]["built_at"] for k, r in of_date(after, day).items())


def test_unions_merged_with_other_hll_settings_are_all_merged_again(world):
    # as a release changing the HLL settings finds them: every stored row other settings'
    with connect(world.warehouse) as con:
        con.execute(
            "update intermediate.int_audience_unions "
            "set hll_settings = '12:HLL_8', inputs_fingerprint = inputs_fingerprint + 1"
        )
    before = union_rows(world.warehouse)
    transform.run_dbt(["run", "--select", "int_audience_unions"], warehouse=world.warehouse)
    after = union_rows(world.warehouse)
    assert after.keys() == before.keys()
    for key, row in after.items():
        assert row["hll_settings"] == f"{HLL_LG_K}:{HLL_TYPE.name}", key
        assert row["built_at"] > before[key]["built_at"], key
        assert row["inputs_fingerprint"] == before[key]["inputs_fingerprint"] - 1, key


def test_a_population_import_places_the_pages_again_on_every_audience_date(world):
    # the table of a later import names only one municipality Novokuznetsk: page 203 resolves
    # to it by name, on every date, and the incremental build equals a full refresh
    with connect(world.warehouse) as con:
        con.execute(
            "update raw.population set name = 'Новокузнецкий муниципальный округ', "
            "loaded_at = current_timestamp where oktmo = '32731000'"
        )
        con.execute("update raw.population set loaded_at = current_timestamp")
    rebuild_audience(world.warehouse)
    with connect(world.warehouse) as con:
        (source,) = con.execute(
            "select territory_source from intermediate.int_registry_pages_resolved "
            "where ref_value = '203'"
        ).fetchone()
    assert source == "name"
    # 203 and 207 (by name) and 204 (by its settlement's code); a week before DAY none of
    # them had a list read yet, but all are in the territory
    week_before = reach_rows(world.warehouse, DAY - timedelta(days=7))["32631000"]
    assert (week_before["pages_total"], week_before["pages_with_sketch"]) == (3, 0)
    today = reach_rows(world.warehouse)["32631000"]
    assert (today["pages_total"], today["pages_with_sketch"]) == (3, 2)
    # 203's list of DAY was read again with 50 000 members by an earlier test
    exact = len(ids(range(10_000, 60_000)) | PAGES["204"].members) / 60_000
    assert today["reach_lower"] <= exact <= today["reach_upper"]
