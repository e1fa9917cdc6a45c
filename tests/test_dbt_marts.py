"""The dbt marts on a real DuckDB file: a fixture world, real `dbt build`, values checked by hand.

The world (tests/warehouse_fixtures.py) comes built once per session (`built_world`); this
module rebuilds a copy of it (must be identical) and builds it again after a registry change.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from gospulse.config.dbt_project import project_dir
from gospulse.raw.warehouse import connect
from gospulse.serving.publish import open_published, publish_marts
from gospulse.transform import run as transform
from tests.conftest import copy_warehouse
from tests.warehouse_fixtures import PAGES, write_registry

pytestmark = pytest.mark.slow

MARTS = (
    "mart_page_daily",
    "mart_page_growth",
    "mart_region_growth",
    "mart_flagship_compliance",
)
REGISTRY_CHANGED_AT = datetime(2025, 2, 15, 6, 0)


def read_marts(warehouse: Path) -> dict[str, list[tuple]]:
    """Every mart's rows, sorted, for exact comparison between builds."""
    with connect(warehouse, read_only=True) as con:
        return {
            m: sorted(con.execute(f"select * from marts.{m}").fetchall(), key=repr) for m in MARTS
        }


@pytest.fixture(scope="module")
def world(built_world: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    warehouse = copy_warehouse(built_world, tmp_path_factory.mktemp("marts"))
    marts_first = read_marts(built_world)
    second = transform.build(warehouse)
    marts_second = read_marts(warehouse)

    # the second registry load: 103 moves to sport with a new title, 108 leaves the registry
    changed = {k: p for k, p in PAGES.items() if k != "108"}
    changed["103"] = dataclasses.replace(PAGES["103"], sector="sport", title="Спорт Новокузнецка")
    write_registry(warehouse, changed, loaded_at=REGISTRY_CHANGED_AT)
    third = transform.build(warehouse)
    (last_day,) = query(SimpleNamespace(warehouse=warehouse), LAST_DAY)[0]
    published = publish_marts(warehouse, run_id="third", snapshot_date=last_day).path
    return SimpleNamespace(
        warehouse=warehouse,
        published=published,
        second=second,
        third=third,
        marts_first=marts_first,
        marts_second=marts_second,
    )


def query(world: SimpleNamespace, sql: str, params: list | None = None) -> list[tuple]:
    with connect(world.warehouse, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


LAST_DAY = "select max(snapshot_date) from raw.page_snapshots"


def ranked(world: SimpleNamespace, sql: str, params: list | None = None) -> list[tuple]:
    """A query of the published copy of the third build, where the ranking view is."""
    con = open_published(world.published)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def one(world: SimpleNamespace, sql: str, params: list | None = None) -> tuple:
    rows = query(world, sql, params)
    assert len(rows) == 1, rows
    return rows[0]


# --- build mechanics -----------------------------------------------------------------------


def _project_counts() -> tuple[int, int]:
    """Models (SQL and Python files) and unit tests (named test_*) declared in the project."""
    models_dir = project_dir() / "models"
    models = [p for p in models_dir.rglob("*") if p.suffix in (".sql", ".py")]
    unit_tests = [
        line
        for yml in models_dir.rglob("*.yml")
        for line in yml.read_text(encoding="utf-8").splitlines()
        if re.match(r"^  - name: test_", line)
    ]
    return len(models), len(unit_tests)


def test_build_runs_every_model_and_data_test_but_no_unit_test(world):
    models, unit_tests = _project_counts()
    assert models >= 22 and unit_tests >= 11  # the counts below are not vacuous
    for result in (world.second, world.third):
        assert result.success
        assert result.tests_failed == 0
        assert result.snapshots == 1
        assert result.models == models
        assert result.count("unit_test") == 0
        assert result.count("test", "pass") >= 25
    assert world.third.describe().startswith(
        f"dbt build --exclude-resource-type unit_test: {models} models, 1 snapshots"
    )


def test_unit_tests_run_on_their_own_and_pass(world):
    """CI runs the unit tests (the builds leave them out): every one declared passes."""
    _, unit_tests = _project_counts()
    result = transform.run_unit_tests(world.warehouse)
    assert result.count("unit_test", "pass") == unit_tests
    assert result.count("model") == result.count("test") == 0


def test_a_copy_of_the_built_world_skips_dbts_full_parse(built_world, tmp_path):
    # the session's world was parsed once when it was built; its copies reuse that parse
    copy = copy_warehouse(built_world, tmp_path / "copy")
    transform.run_dbt(["compile", "--inline", "select 1"], warehouse=copy)
    log = (transform.dbt_state_dir(copy) / "logs" / "dbt.log").read_text(encoding="utf-8")
    assert "Unable to do partial parsing" not in log
    assert "Partial parsing enabled" in log
    # a copy under another name is another profile to dbt: a full parse, as expected
    other = copy_warehouse(built_world, tmp_path / "other", name="other.duckdb")
    transform.run_dbt(["compile", "--inline", "select 1"], warehouse=other)
    log = (transform.dbt_state_dir(other) / "logs" / "dbt.log").read_text(encoding="utf-8")
    assert "Unable to do partial parsing because profile has changed" in log


def test_dbt_state_lives_next_to_the_warehouse(world):
    state = transform.dbt_state_dir(world.warehouse)
    assert state.parent == world.warehouse.parent.resolve()
    assert (state / "target" / transform.NODE_RESULTS).exists()
    assert (state / "logs" / "dbt.log").exists()


def test_rebuild_is_idempotent(world):
    assert world.marts_first == world.marts_second
    assert all(world.marts_first[m] for m in MARTS)


def test_failing_dbt_command_raises_with_output(world):
    with pytest.raises(transform.DbtError) as error:
        transform.run_dbt(
            ["compile", "--inline", "select * from {{ ref('no_such_model') }}"],
            warehouse=world.warehouse,
        )
    assert "no_such_model" in str(error.value)
    assert error.value.returncode != 0


# --- mart_page_daily: members_on --------------------------------------------------------------


DAILY = (
    "select members_count, value_date, is_carried, status, is_known from marts.mart_page_daily "
    "where page_ref = ? and snapshot_date = ?"
)


def test_members_on_carries_up_to_three_days_then_unknown(world):
    # 102 has no rows Jan 28–31: Jan 30 carries Jan 27 (3 days), Jan 31 is unknown (4 days)
    assert one(world, DAILY, ["102", date(2025, 1, 27)]) == (
        2270,
        date(2025, 1, 27),
        False,
        "ok",
        True,
    )
    assert one(world, DAILY, ["102", date(2025, 1, 30)]) == (
        2270,
        date(2025, 1, 27),
        True,
        "missing",
        True,
    )
    assert one(world, DAILY, ["102", date(2025, 1, 31)]) == (None, None, False, "missing", False)
    assert one(world, DAILY, ["102", date(2025, 2, 28)]) == (
        2560,
        date(2025, 2, 25),
        True,
        "missing",
        True,
    )


def test_members_on_ignores_non_ok_statuses(world):
    # 101's fetch failed on Feb 10: the value is Feb 9's, never 0
    assert one(world, DAILY, ["101", date(2025, 2, 10)]) == (
        1400,
        date(2025, 2, 9),
        True,
        "error",
        True,
    )
    # 106 is deleted from Feb 21: carried to Feb 23, unknown from Feb 24
    assert one(world, DAILY, ["106", date(2025, 2, 23)]) == (
        5000,
        date(2025, 2, 20),
        True,
        "deleted",
        True,
    )
    assert one(world, DAILY, ["106", date(2025, 2, 24)]) == (None, None, False, "deleted", False)


def test_daily_series_spans_first_snapshot_to_latest_date(world):
    rows = query(
        world,
        "select page_ref, count(*), min(snapshot_date), max(snapshot_date) "
        "from marts.mart_page_daily group by page_ref order by page_ref",
    )
    # every resolved page, Dec 25 .. Mar 10 (76 days), even 107 that stops on Mar 5
    assert [r[0] for r in rows] == ["101", "102", "103", "104", "105", "106", "107", "108", "110"]
    assert {r[1:] for r in rows} == {(76, date(2024, 12, 25), date(2025, 3, 10))}


# --- mart_page_growth -----------------------------------------------------------------------

GROWTH = (
    "select period_end, is_complete, members_start, members_end, growth, growth_pct "
    "from marts.mart_page_growth where page_ref = ? and period_type = ? and period_start = ?"
)


def test_month_growth_chains_through_month_ends(world):
    jan = one(world, GROWTH, ["101", "month", date(2025, 1, 1)])
    feb = one(world, GROWTH, ["101", "month", date(2025, 2, 1)])
    assert jan == (date(2025, 1, 31), True, 1000, 1310, 310, pytest.approx(31.0))
    assert feb == (date(2025, 2, 28), True, 1310, 1590, 280, pytest.approx(280 / 1310 * 100))
    # the current month is capped at the latest snapshot date
    assert one(world, GROWTH, ["101", "month", date(2025, 3, 1)]) == (
        date(2025, 3, 10),
        False,
        1590,
        1690,
        100,
        pytest.approx(100 / 1590 * 100),
    )
    # no day rows: a day's growth is the difference of two days of mart_page_daily, and the
    # month's is that of its last day and the month before's
    assert query(world, "select distinct period_type from marts.mart_page_growth order by 1") == [
        ("month",),
        ("week",),
    ]
    (month_from_days,) = one(
        world,
        "select max(members_count) filter (snapshot_date = '2025-02-28') "
        "- max(members_count) filter (snapshot_date = '2025-01-31') "
        "from marts.mart_page_daily where page_ref = '101'",
    )
    assert month_from_days == 280


def test_week_growth_is_iso_monday_to_sunday(world):
    # week Mon Jan 6 – Sun Jan 12, measured from Sun Jan 5
    assert one(world, GROWTH, ["101", "week", date(2025, 1, 6)]) == (
        date(2025, 1, 12),
        True,
        1050,
        1120,
        70,
        pytest.approx(70 / 1050 * 100),
    )


def test_growth_with_unknown_start_or_end_is_null(world):
    assert one(world, GROWTH, ["102", "month", date(2025, 1, 1)])[2:] == (2000, None, None, None)
    assert one(world, GROWTH, ["102", "month", date(2025, 2, 1)])[2:] == (None, 2560, None, None)
    # December starts before the first snapshot
    assert one(world, GROWTH, ["101", "month", date(2024, 12, 1)])[2:] == (None, 1000, None, None)


# --- mart_growth_ranking --------------------------------------------------------------------

RANKING = (
    "select registry_ref, rank_abs, rank_pct, exclusion_reason, pct_exclusion_reason "
    "from marts.mart_growth_ranking where period_type = ? and period_start = ? "
    "and scope_type = ? and scope_value = ? and ranking_network = network "
    "order by rank_abs nulls last, registry_ref"
)


def test_region_ranking_with_tie_and_exclusions(world):
    rows = ranked(world, RANKING, ["month", date(2025, 1, 1), "region", "42"])
    assert rows == [
        # 103 and 104 tie on growth (310) and % (62): page_ref decides; 101 also +310 but 31 %
        ("103", 1, 1, None, None),
        ("104", 2, 2, None, None),
        ("101", 3, 3, None, None),
        ("105", 4, None, None, "below_min_members_for_pct"),  # starts at 90 < 100
        ("106", 5, 4, None, None),  # 106, 107, 108 all +0: page_ref decides
        ("107", 6, 5, None, None),
        ("108", 7, 6, None, None),
        ("https://vk.com/ghost_page", None, None, "unresolved", "unresolved"),
        ("https://vk.com/kuzbass_health", None, None, "unknown_end", "unknown_end"),
    ]
    assert ranked(world, RANKING, ["month", date(2025, 1, 1), "region", "54"]) == [
        ("110", 1, 1, None, None)
    ]


def test_flagship_and_municipality_scopes(world):
    flagship = ranked(world, RANKING, ["month", date(2025, 2, 1), "flagship", "42"])
    assert flagship == [
        ("101", 1, 2, None, None),  # +280 is 21.4 %
        ("105", 2, 1, None, None),  # +28 is 23.1 %: 121 at Jan 31 is enough for a % rank
        ("107", 3, 3, None, None),
        ("106", None, None, "unknown_end", "unknown_end"),
        ("https://vk.com/ghost_page", None, None, "unresolved", "unresolved"),
    ]
    novokuznetsk = ranked(
        world, RANKING, ["month", date(2025, 1, 1), "municipality", "novokuznetsk"]
    )
    assert [r[:2] for r in novokuznetsk] == [("103", 1), ("104", 2), ("108", 3)]


def test_registry_change_creates_a_version_used_from_its_load_date(world):
    versions = query(
        world,
        "select title, sector, dbt_valid_from, dbt_valid_to from snapshots.snap_registry_pages "
        "where ref_value = '103' order by dbt_valid_from",
    )
    assert [(v[0], v[1]) for v in versions] == [
        ("Администрация Новокузнецка", "administration"),
        ("Спорт Новокузнецка", "sport"),
    ]
    assert versions[0][3] == versions[1][2] == REGISTRY_CHANGED_AT
    assert versions[1][3] is None

    attrs = (
        "select period_start, title, sector from marts.mart_growth_ranking "
        "where registry_ref = '103' and scope_type = 'region' and ranking_network = 'vk' "
        "and period_type = ? "
        "and period_start in (?, ?) order by period_start"
    )
    assert ranked(world, attrs, ["month", date(2025, 1, 1), date(2025, 2, 1)]) == [
        (date(2025, 1, 1), "Администрация Новокузнецка", "administration"),
        (date(2025, 2, 1), "Спорт Новокузнецка", "sport"),
    ]
    # the week ending Sun Feb 9 is before the change, the week ending Feb 16 after it
    assert ranked(world, attrs, ["week", date(2025, 2, 3), date(2025, 2, 10)]) == [
        (date(2025, 2, 3), "Администрация Новокузнецка", "administration"),
        (date(2025, 2, 10), "Спорт Новокузнецка", "sport"),
    ]
    sport = ranked(world, RANKING, ["month", date(2025, 2, 1), "sector", "sport"])
    assert [r[:2] for r in sport] == [("103", 1), ("108", 2)]


def test_page_leaving_the_registry_is_invalidated(world):
    (valid_to,) = one(
        world,
        "select dbt_valid_to from snapshots.snap_registry_pages where ref_value = '108'",
    )
    assert valid_to is not None  # dated by the build that noticed the removal
    assert one(
        world,
        "select is_current, valid_from from intermediate.int_registry_pages_resolved "
        "where ref_value = '108'",
    ) == (False, date(1900, 1, 1))
    # still registered for the fixture's past periods, so its history stays in the marts
    assert one(world, DAILY, ["108", date(2025, 3, 10)])[0] == 700


# --- mart_region_growth ---------------------------------------------------------------------


def test_region_month_over_month(world):
    rows = query(
        world,
        "select month_start, month_end, is_complete, pages_total, pages_known, pages_comparable, "
        "members_total, growth, growth_pct, prev_month_growth, growth_change "
        "from marts.mart_region_growth where region_code = 42 and network = 'vk' "
        "order by month_start",
    )
    dec, jan, feb, mar = rows
    # December: nothing before Dec 25, so no growth at all
    assert dec[3:8] == (9, 8, 0, 2000 + 1000 + 500 + 500 + 90 + 5000 + 800 + 700, None)
    # January: 102 unknown at Jan 31, ghost unresolved; +310 ×3 +31 over the comparable pages
    assert jan == (
        date(2025, 1, 1),
        date(2025, 1, 31),
        True,
        9,
        7,
        7,
        1310 + 810 + 810 + 121 + 5000 + 800 + 700,
        961,
        pytest.approx(961 / 8590 * 100),
        None,
        None,
    )
    # February: 102 known at the end only, 106 deleted; 868 is 93 less than January
    assert feb == (
        date(2025, 2, 1),
        date(2025, 2, 28),
        True,
        9,
        7,
        6,
        1590 + 2560 + 1090 + 1090 + 149 + 800 + 700,
        868,
        pytest.approx(868 / 4551 * 100),
        961,
        -93,
    )
    assert mar[1:3] == (date(2025, 3, 10), False)
    assert mar[9] == 868


# --- mart_flagship_compliance ---------------------------------------------------------------


def test_flagship_compliance_reasons(world):
    rows = query(
        world,
        "select as_of_date, registry_ref, members_count, status, last_ok_date, reason "
        "from marts.mart_flagship_compliance order by registry_ref",
    )
    assert rows == [
        (date(2025, 3, 10), "105", 159, "ok", date(2025, 3, 10), "under_min_members"),
        (date(2025, 3, 10), "106", None, "deleted", date(2025, 2, 20), "broken"),
        (date(2025, 3, 10), "107", None, "ok", date(2025, 3, 5), "unknown"),
        (date(2025, 3, 10), "https://vk.com/ghost_page", None, "missing", None, "unresolved"),
    ]
