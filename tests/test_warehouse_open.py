"""Opening the warehouse for writing: each one-time migration runs once and is recorded, and
writers no Airflow pool orders take the lock file beside the warehouse one at a time."""

from __future__ import annotations

import duckdb

from gospulse.raw.warehouse import MIGRATIONS, connect


def test_each_migration_runs_once_per_warehouse_and_is_recorded(tmp_path):
    """A new warehouse records every migration on its first open; later opens read that record
    and no longer inspect the catalog, so a table of the old shape made afterwards is left be."""
    warehouse = tmp_path / "new.duckdb"
    with connect(warehouse) as con:
        pass
    with duckdb.connect(str(warehouse)) as con:
        recorded = [n for (n,) in con.sql("select name from raw.warehouse_migrations").fetchall()]
        con.execute("create schema marts")
        con.execute("create table marts.mart_growth_ranking as select 1 as rank_abs")
    assert sorted(recorded) == sorted(name for name, _ in MIGRATIONS)
    with connect(warehouse) as con:
        (kept,) = con.execute("select count(*) from marts.mart_growth_ranking").fetchone()
    assert kept == 1


def test_page_days_built_with_registry_copies_lose_those_columns_once(tmp_path, caplog):
    """A warehouse whose page days carry the registry's title and reference (an earlier release)
    keeps every row and every other column, so its next build goes on incrementally."""
    import logging

    warehouse = tmp_path / "old.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema intermediate")
        con.execute(
            "create table intermediate.int_dq_page_days as select 'vk' as network, "
            "'Школа' as title, '1' as registry_ref, 42 as region_code, 7 as z"
        )
    with caplog.at_level(logging.INFO, logger="gospulse.raw.warehouse"), connect(warehouse) as con:
        rows = con.execute("select * from intermediate.int_dq_page_days").fetchall()
        columns = [
            c
            for (c,) in con.execute(
                "select column_name from (describe intermediate.int_dq_page_days)"
            ).fetchall()
        ]
    assert rows == [("vk", 42, 7)] and columns == ["network", "region_code", "z"]
    assert "dropping column registry_ref" in caplog.text and "dropping column title" in caplog.text


def test_the_writer_lock_lets_one_holder_in_at_a_time(tmp_path):
    import threading
    import time

    from gospulse.raw.warehouse import writer_lock

    warehouse = tmp_path / "gospulse.duckdb"
    order = []

    def second():
        with writer_lock(warehouse):
            order.append("second in")

    with writer_lock(warehouse):
        waiting = threading.Thread(target=second)
        waiting.start()
        time.sleep(0.3)
        order.append("first out")
    waiting.join(timeout=10)
    assert order == ["first out", "second in"]
