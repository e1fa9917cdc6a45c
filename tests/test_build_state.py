"""Build state (built_at, …_built_at, registry_seen_at) stays in the warehouse: the published
copy, and so the API and Postgres, and every bundle leave it out; lineage such as
source_loaded_at is kept. No dbt: a hand-made marts schema."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from gospulse.serving.bundle import write_bundle
from gospulse.serving.publish import is_build_state, open_published, publish_marts

DAY = date(2025, 1, 31)
STAMP = datetime(2025, 2, 1, 6, 0)


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "gospulse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.mart_region_growth as select 42 as region_code, "
            "DATE '2025-01-01' as month_start, 310 as growth, "
            "?::timestamp as growth_built_at, ?::timestamp as registry_seen_at, "
            "?::timestamp as built_at",
            [STAMP, STAMP, STAMP],
        )
        con.execute(
            "create table marts.mart_page_daily as select 'vk' as network, '1' as page_ref, "
            "?::date as snapshot_date, 1000 as members_count, "
            "?::timestamp as source_loaded_at, ?::timestamp as filled_built_at, "
            "?::timestamp as built_at",
            [DAY, STAMP, STAMP, STAMP],
        )
        con.execute(
            "create table marts.mart_page_health as select 'vk' as network, '1' as page_ref, "
            "42 as region_code"
        )
        con.execute("comment on column marts.mart_page_daily.built_at is 'build state'")
    return path


def columns(con, table: str) -> list[str]:
    return [
        c
        for (c,) in con.execute(
            "select column_name from duckdb_columns() where table_name = ? order by column_index",
            [table],
        ).fetchall()
    ]


@pytest.mark.parametrize(
    ("column", "state"),
    [
        ("built_at", True),
        ("filled_built_at", True),
        ("registry_seen_at", True),
        ("source_loaded_at", False),
        ("end_loaded_at", False),
        ("built_atlas", False),
    ],
)
def test_which_columns_are_build_state(column, state):
    assert is_build_state(column) is state


def test_the_published_copy_has_no_build_state_and_keeps_lineage(warehouse):
    published = publish_marts(warehouse, run_id="r", snapshot_date=DAY).path
    con = open_published(published)
    try:
        assert columns(con, "mart_region_growth") == ["region_code", "month_start", "growth"]
        assert columns(con, "mart_page_daily") == [
            "network",
            "page_ref",
            "snapshot_date",
            "members_count",
            "source_loaded_at",
        ]
        assert con.execute("select growth from marts.mart_region_growth").fetchall() == [(310,)]
    finally:
        con.close()
    # the warehouse keeps it for its next incremental build
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert "filled_built_at" in columns(con, "mart_page_daily")


def test_a_bundle_from_the_warehouse_leaves_build_state_out(warehouse, tmp_path):
    info = write_bundle(
        warehouse, tmp_path / "bundles", region_code=42, snapshot_date=DAY, run_id="r"
    )
    files = {f["mart"]: f for f in info.manifest["files"] if f["kind"] == "mart"}
    for mart, entry in files.items():
        names = [c["name"] for c in entry["columns"]]
        assert not [n for n in names if is_build_state(n)], mart
        parquet = info.path / entry["name"]
        with duckdb.connect() as con:
            held = [
                d[0]
                for d in con.execute(
                    "select * from read_parquet(?, hive_partitioning = false) limit 0",
                    [str(parquet)],
                ).description
            ]
        assert held == names, mart
    assert [c["name"] for c in files["mart_page_daily"]["columns"]][-2:] == [
        "source_loaded_at",
        "region_code",
    ]
