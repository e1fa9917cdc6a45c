"""The read-time ranking's rules on a hand-made published copy (no dbt): the boundaries of
the minimums, every exclusion reason, networks ranked apart or together, a page listed twice,
the registry as of the range's end. tests/test_ranking.py holds it equal to
mart_growth_ranking on the dbt-built world."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from gospulse.serving.publish import publish_marts
from gospulse.serving.ranking import ranking_settings, top_pages
from tests.warehouse_fixtures import REGISTRY_VERSIONS_DDL

START, END = date(2026, 10, 31), date(2026, 11, 30)
MIN_PCT = ranking_settings()["min_members_for_pct"]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "gospulse.duckdb"
    # (network, page_ref, members at START, members at END); None: no row that day
    counts = [
        ("vk", "1", MIN_PCT, MIN_PCT + 50),  # exactly the % minimum: ranked by %
        ("vk", "2", MIN_PCT - 1, MIN_PCT + 500),  # one under: absolute rank only
        ("vk", "3", 0, 40),  # zero start: no %
        ("vk", "4", None, 70),  # unknown start
        ("vk", "5", 300, None),  # unknown end
        ("vk", "6", None, None),
        ("tg", "7", 1000, 1200),
        ("ok", "8", 5000, 5030),
        ("vk", "9", 400, 480),  # moved to region 54 on Nov 15: not in region 42 on END
    ]
    # (network, page_ref, page_key, ref_kind, ref_value, region, valid_from, valid_to)
    versions = [
        ("vk", "1", "1", "id", "1", 42, date(1900, 1, 1), None),
        # the same page listed again by screen name: counted once, as the id entry
        ("vk", "1", "1", "screen_name", "one", 42, date(1900, 1, 1), None),
        ("vk", "2", "2", "id", "2", 42, date(1900, 1, 1), None),
        ("vk", "3", "3", "id", "3", 42, date(1900, 1, 1), None),
        ("vk", "4", "4", "id", "4", 42, date(1900, 1, 1), None),
        ("vk", "5", "5", "id", "5", 42, date(1900, 1, 1), None),
        ("vk", "6", "6", "id", "6", 42, date(1900, 1, 1), None),
        ("tg", "7", "7", "id", "7", 42, date(1900, 1, 1), None),
        ("ok", "8", "8", "id", "8", 42, date(1900, 1, 1), None),
        ("vk", "9", "9", "id", "9", 42, date(1900, 1, 1), date(2026, 11, 15)),
        ("vk", "9", "9", "id", "9", 54, date(2026, 11, 15), None),
        ("vk", None, "screen_name:ghost", "screen_name", "ghost", 42, date(1900, 1, 1), None),
    ]
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.mart_page_daily (network varchar, page_ref varchar, "
            "snapshot_date date, members_count bigint)"
        )
        for network, ref, first, last in counts:
            for day, value in ((START, first), (END, last)):
                if value is not None:
                    con.execute(
                        "insert into marts.mart_page_daily values (?, ?, ?, ?)",
                        [network, ref, day, value],
                    )
        con.execute(REGISTRY_VERSIONS_DDL)
        for network, ref, key, kind, value, region, valid_from, valid_to in versions:
            con.execute(
                "insert into marts.mart_registry_versions values "
                "(?, ?, ?, ?, ?, ?, ?, ?, null, ?, null, 'health', ?, ?, ?)",
                [
                    network,
                    ref,
                    key,
                    value,
                    kind,
                    value,
                    ref is not None,
                    f"Страница {value}",
                    region,
                    value in ("1", "7"),
                    valid_from,
                    valid_to,
                ],
            )
    publish_marts(path, run_id="rules", snapshot_date=END)
    return path


def ranked(result):
    return [(r["network"], r["page_ref"], r["rank"]) for r in result.rows]


def reasons(result):
    return sorted((e["page_ref"], e["reason"]) for e in result.excluded)


def test_absolute_ranks_per_network_and_every_exclusion_reason(warehouse):
    result = top_pages(START, END, region_code=42, warehouse=warehouse)
    assert ranked(result) == [
        ("ok", "8", 1),
        ("tg", "7", 1),
        ("vk", "2", 1),
        ("vk", "1", 2),
        ("vk", "3", 3),
    ]
    assert reasons(result) == [
        ("4", "unknown_start"),
        ("5", "unknown_end"),
        ("6", "unknown_start_and_end"),
        ("ghost", "unresolved"),
    ]


def test_percent_ranks_start_at_the_minimum_and_need_a_start(warehouse):
    result = top_pages(START, END, region_code=42, network="vk", by="pct", warehouse=warehouse)
    assert ranked(result) == [("vk", "1", 1)]
    assert dict(reasons(result))["2"] == "below_min_members_for_pct"
    assert dict(reasons(result))["3"] == "below_min_members_for_pct"


def test_all_networks_rank_together_and_n_cuts_each_ranking(warehouse):
    together = top_pages(START, END, region_code=42, network="all", n=2, warehouse=warehouse)
    assert ranked(together) == [("vk", "2", 1), ("tg", "7", 2)]
    apart = top_pages(START, END, region_code=42, n=1, warehouse=warehouse)
    assert ranked(apart) == [("ok", "8", 1), ("tg", "7", 1), ("vk", "2", 1)]


def test_the_registry_is_taken_as_of_the_end(warehouse):
    assert "9" not in {
        r["page_ref"] for r in top_pages(START, END, region_code=42, warehouse=warehouse).rows
    }
    region_54 = top_pages(START, END, region_code=54, warehouse=warehouse)
    assert ranked(region_54) == [("vk", "9", 1)]
    before_the_move = top_pages(START, date(2026, 11, 14), region_code=54, warehouse=warehouse)
    assert before_the_move.rows == [] and before_the_move.excluded == []


def test_flagships_only(warehouse):
    flagships = top_pages(START, END, flagship_only=True, warehouse=warehouse)
    assert ranked(flagships) == [("tg", "7", 1), ("vk", "1", 1)]
