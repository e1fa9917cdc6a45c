"""raw.page_snapshots without a key index: one row per page and day is kept by the one write
path (merge_incoming), and a warehouse made with the old PRIMARY KEY is rebuilt once."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from gospulse.raw.warehouse import RAW_DDL, SnapshotRow, connect, replace_snapshots

DAY = date(2026, 7, 1)


def rows(path):
    with connect(path, read_only=True) as con:
        return con.execute(
            "select network, page_ref, snapshot_date, members_count, status "
            "from raw.page_snapshots order by all"
        ).fetchall()


def test_a_page_day_written_twice_in_one_load_is_refused_and_nothing_is_stored(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    with connect(warehouse) as con:
        replace_snapshots(con, [SnapshotRow("vk", "1", DAY, 10, "ok")])
        with pytest.raises(ValueError, match="more than once.*'vk', '2'"):
            replace_snapshots(
                con,
                [
                    SnapshotRow("vk", "1", DAY, 11, "ok"),
                    SnapshotRow("vk", "2", DAY, 20, "ok"),
                    SnapshotRow("vk", "2", DAY, 21, "ok"),
                ],
            )
    assert rows(warehouse) == [("vk", "1", DAY, 10, "ok")]


def test_reloads_replace_a_page_day_and_never_duplicate_it(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    with connect(warehouse) as con:
        for count in (10, 11, 12):
            replace_snapshots(con, [SnapshotRow("vk", "1", DAY, count, "ok")])
        replace_snapshots(con, [SnapshotRow("vk", "1", DAY, None, "error", error="down")])
    assert rows(warehouse) == [("vk", "1", DAY, 12, "ok")]


def test_a_warehouse_with_the_old_primary_key_is_rebuilt_without_it_once(tmp_path):
    warehouse = tmp_path / "old.duckdb"
    keyed = RAW_DDL.replace(
        "    loaded_at      timestamp not null\n);",
        "    loaded_at      timestamp not null,\n"
        "    primary key (network, page_ref, snapshot_date)\n);",
        1,
    )
    assert keyed != RAW_DDL
    with duckdb.connect(str(warehouse)) as con:
        con.execute(keyed)
        # a dbt staging view over the table survives the rebuild
        con.execute("create schema staging")
        con.execute("create view staging.snapshots as select * from raw.page_snapshots")
        con.execute(
            "insert into raw.page_snapshots (network, page_ref, snapshot_date, members_count, "
            "status, source, loaded_at) values ('vk', '1', ?, 5, 'ok', 'api', now())",
            [DAY],
        )

    def constraints(con):
        return sorted(
            kind
            for (kind,) in con.execute(
                "select constraint_type from duckdb_constraints() "
                "where schema_name = 'raw' and table_name = 'page_snapshots'"
            ).fetchall()
        )

    with connect(warehouse) as con:
        assert "PRIMARY KEY" not in constraints(con)
        assert constraints(con).count("NOT NULL") == 6
        assert con.execute("select count(*) from staging.snapshots").fetchone()[0] == 1
    assert rows(warehouse) == [("vk", "1", DAY, 5, "ok")]
