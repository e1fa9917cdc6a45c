"""The ranking view (serving.read_views) on hand-made tables, no dbt: ties, every exclusion,
the registry as of the period's end, networks ranked apart and together, a page listed twice,
and the period filter reaching below the ranking's windows."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from gospulse.serving.read_views import read_views
from tests.warehouse_fixtures import REGISTRY_VERSIONS_DDL

NEVER = date(1900, 1, 1)
JAN, WEEK = date(2025, 1, 1), date(2025, 1, 27)
JAN_END, WEEK_END = date(2025, 1, 31), date(2025, 2, 2)


def marts(growth: list[tuple], versions: list[tuple]) -> duckdb.DuckDBPyConnection:
    """An in-memory copy with the two tables the view reads and the view itself.

    growth:   (network, page_ref, period_type, members_start, members_end)
    versions: (network, page_ref, registry_ref, page_key, ref_kind, region, sector, flagship,
               valid_from, valid_to); page_ref None is an unresolved entry
    """
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.mart_page_growth (network varchar, page_ref varchar, "
        "period_type varchar, period_start date, period_end date, is_complete boolean, "
        "members_start bigint, members_end bigint, growth bigint, growth_pct double)"
    )
    for network, ref, kind, first, last in growth:
        start, end = (JAN, JAN_END) if kind == "month" else (WEEK, WEEK_END)
        grown = None if first is None or last is None else last - first
        pct = 100.0 * grown / first if grown is not None and first else None
        con.execute(
            "insert into marts.mart_page_growth values (?, ?, ?, ?, ?, true, ?, ?, ?, ?)",
            [network, ref, kind, start, end, first, last, grown, pct],
        )
    con.execute(REGISTRY_VERSIONS_DDL)
    for network, ref, registry_ref, key, kind, region, sector, flag, since, until in versions:
        con.execute(
            "insert into marts.mart_registry_versions values "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null, ?, ?, ?, ?)",
            [
                network,
                ref,
                key,
                registry_ref,
                kind,
                registry_ref,
                ref is not None,
                f"title {registry_ref}",
                f"org {registry_ref}",
                region,
                sector,
                flag,
                since,
                until,
            ],
        )
    (view,) = read_views("marts", min_members_for_abs=0, min_members_for_pct=100)
    con.execute(f"create view marts.{view.name} as {view.sql}")
    return con


def ranks(con, where: str = "true") -> list[tuple]:
    return con.execute(
        "select period_type, ranking_network, scope_type, scope_value, registry_ref, rank_abs, "
        "rank_pct, exclusion_reason, pct_exclusion_reason from marts.mart_growth_ranking "
        f"where {where} order by period_type, ranking_network, scope_type, scope_value, "
        "rank_abs nulls last, registry_ref"
    ).fetchall()


def registered(ref, sector="a", *, until=None, since=NEVER, flagship=False, region=42):
    return ("vk", ref, ref, ref, "id", region, sector, flagship, since, until)


def test_ties_exclusions_and_the_registry_on_the_periods_last_day():
    """Page 4 grows most but starts under min_members_for_pct: absolute rank 1, no % rank.
    Pages 1 and 3 tie on growth and % and are ordered by page_ref. Page 6 (unknown end) and the
    unresolved page are listed unranked. Page 7 is registered only from Feb 1: it is in the week
    ending Feb 2 but not in January; pages leaving on Feb 1 are not in that week."""
    feb = date(2025, 2, 1)
    con = marts(
        [
            ("vk", "1", "month", 100, 150),
            ("vk", "2", "month", 200, 240),
            ("vk", "3", "month", 100, 150),
            ("vk", "4", "month", 99, 199),
            ("vk", "5", "month", 100, 130),
            ("vk", "6", "month", 300, None),
            ("vk", "1", "week", 150, 160),  # page 1 left on Feb 1: not in the week
        ],
        [
            *(registered(r, until=feb) for r in ("1", "2", "3", "4", "5")),
            registered("6", "b", until=feb),
            (
                "vk",
                None,
                "vk.com/ghost",
                "screen_name:ghost",
                "screen_name",
                42,
                "b",
                False,
                NEVER,
                feb,
            ),
            registered("7", "b", since=feb),
        ],
    )
    month = [
        ("4", 1, None, None, "below_min_members_for_pct"),
        ("1", 2, 1, None, None),
        ("3", 3, 2, None, None),
        ("2", 4, 4, None, None),
        ("5", 5, 3, None, None),
    ]
    unknown_end = ("6", None, None, "unknown_end", "unknown_end")
    ghost = ("vk.com/ghost", None, None, "unresolved", "unresolved")
    seven = ("7", None, None, "unknown_start_and_end", "unknown_start_and_end")
    expected = []
    for network in ("all", "vk"):
        expected += [("month", network, "region", "42", *r) for r in (*month, unknown_end, ghost)]
        expected += [("month", network, "sector", "a", *r) for r in month]
        expected += [("month", network, "sector", "b", *r) for r in (unknown_end, ghost)]
    for network in ("all", "vk"):
        expected += [
            ("week", network, scope, value, *seven)
            for scope, value in (("region", "42"), ("sector", "b"))
        ]
    assert ranks(con) == sorted(
        expected, key=lambda r: (r[0], r[1], r[2], r[3], r[5] is None, r[5] or 0, r[4])
    )


def test_networks_ranked_apart_and_together():
    """One organisation's VK page, Telegram channel and OK group: each is first in its own
    network, and the 'all' ranking orders them by growth across networks."""
    con = marts(
        [
            ("vk", "1", "month", 1000, 1050),
            ("tg", "1", "month", 400, 480),
            ("ok", "9", "month", 100, 110),
        ],
        [
            ("vk", "1", "1", "1", "id", 42, "a", True, NEVER, None),
            ("tg", "1", "@org", "screen_name:org", "screen_name", 42, "a", False, NEVER, None),
            ("ok", "9", "9", "9", "id", 42, "a", False, NEVER, None),
        ],
    )
    got = con.execute(
        "select ranking_network, network, registry_ref, rank_abs, rank_pct "
        "from marts.mart_growth_ranking where scope_type = 'region' "
        "order by ranking_network, rank_abs"
    ).fetchall()
    assert got == [
        ("all", "tg", "@org", 1, 1),
        ("all", "vk", "1", 2, 3),
        ("all", "ok", "9", 3, 2),
        ("ok", "ok", "9", 1, 1),
        ("tg", "tg", "@org", 1, 1),
        ("vk", "vk", "1", 1, 1),
    ]
    # the flagship scope holds the flagship VK page only, ranked alone
    assert ranks(con, "scope_type = 'flagship'") == [
        ("month", "all", "flagship", "42", "1", 1, 1, None, None),
        ("month", "vk", "flagship", "42", "1", 1, 1, None, None),
    ]


def test_a_page_listed_by_id_and_by_screen_name_is_ranked_once():
    con = marts(
        [("vk", "1", "month", 100, 150), ("vk", "2", "month", 100, 120)],
        [
            registered("1"),
            ("vk", "1", "vk.com/one", "1", "screen_name", 42, "a", False, NEVER, None),
            registered("2"),
        ],
    )
    assert [r[4:6] for r in ranks(con, "scope_type = 'region' and ranking_network = 'vk'")] == [
        ("1", 1),
        ("2", 2),
    ]


def test_a_period_and_region_filter_ranks_only_what_is_asked():
    """The filter passes below the ranking's windows: the plan reads mart_page_growth for the
    one period, and the ranks are those of the whole view."""
    con = marts(
        [
            ("vk", "1", "month", 100, 150),
            ("vk", "2", "month", 100, 120),
            ("vk", "1", "week", 150, 151),
            ("vk", "2", "week", 120, 130),
        ],
        [registered("1"), registered("2"), registered("3", region=54)],
    )
    where = "period_type = 'week' and period_start = DATE '2025-01-27' and region_code = 42"
    con.execute("create table everything as select * from marts.mart_growth_ranking")
    asked = f"select * from marts.mart_growth_ranking where {where} order by all"
    assert (
        con.execute(asked).fetchall()
        == con.execute(f"select * from everything where {where} order by all").fetchall()
    )
    assert len(con.execute(asked).fetchall()) == 8  # 2 pages x region, sector x vk, all
    scans = growth_scans(con, asked)
    assert len(scans) == 2  # the periods and the pages' growth
    assert all("period_start='2025-01-27'" in scan for scan in scans), scans


def growth_scans(con, query: str) -> list[str]:
    """The filters of every scan of mart_page_growth in the plan of `query`."""
    import json

    (_, plan), *_ = con.execute(f"explain (format json) {query}").fetchall()
    found: list[str] = []

    def walk(node: dict) -> None:
        info = node.get("extra_info", {})
        if node.get("name") == "SEQ_SCAN" and "mart_page_growth" in str(info.get("Table")):
            found.append(str(info.get("Filters", "")))
        for child in node.get("children", []):
            walk(child)

    for root in json.loads(plan):
        walk(root)
    return found


@pytest.mark.parametrize(("abs_min", "pct_min"), [(True, 1), (0, "1; drop table x")])
def test_the_minimums_must_be_integers(abs_min, pct_min):
    with pytest.raises(TypeError, match="must be an int"):
        read_views("marts", min_members_for_abs=abs_min, min_members_for_pct=pct_min)


def test_a_warehouse_with_stored_rankings_drops_them_once_on_open(tmp_path, caplog):
    """A warehouse built before rankings were computed when read: its first writer drops the
    stored table (the publisher creates a view of that name) and mart_page_growth's day rows."""
    import logging

    from gospulse.raw.warehouse import connect

    path = tmp_path / "gospulse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.mart_growth_ranking as select 1 as rank_abs")
        con.execute(
            "create table marts.mart_page_growth as select * from (values "
            "('day', DATE '2025-01-05'), ('week', DATE '2024-12-30'), "
            "('month', DATE '2025-01-01')) as t(period_type, period_start)"
        )
    with caplog.at_level(logging.INFO, logger="gospulse.raw.warehouse"), connect(path) as con:
        pass
    assert "dropping the stored rankings" in caplog.text and "day rows" in caplog.text
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {t for (t,) in con.execute("select table_name from duckdb_tables()").fetchall()}
        kept = con.execute("select period_type from marts.mart_page_growth order by 1").fetchall()
    assert "mart_growth_ranking" not in tables
    assert kept == [("month",), ("week",)]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gospulse.raw.warehouse"), connect(path):
        pass
    assert "stored rankings" not in caplog.text and "day rows" not in caplog.text


def test_a_warehouse_without_the_views_inputs_publishes_without_the_view(tmp_path, caplog):
    import logging

    from gospulse.serving.publish import open_published, publish_marts

    path = tmp_path / "gospulse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.mart_page_growth as select 1 as n")
    with caplog.at_level(logging.WARNING, logger="gospulse.serving.publish"):
        published = publish_marts(path, run_id="partial", snapshot_date=date(2025, 1, 31))
    assert "not publishing view mart_growth_ranking" in caplog.text
    assert "mart_registry_versions" in caplog.text
    con = open_published(published.path)
    try:
        views = con.execute("select view_name from duckdb_views() where not internal").fetchall()
    finally:
        con.close()
    assert views == []
