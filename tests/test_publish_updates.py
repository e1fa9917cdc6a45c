"""A day's publication updates the previous copy with the keys the build rewrote instead of
copying all history again, and always ends equal to a copy made whole."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from gospulse.serving import publish
from gospulse.serving.publish import open_published, publish_marts
from tests.conftest import published_contents

FIRST_BUILD = datetime(2025, 3, 3, 1, 0)


def _warehouse(path: Path) -> Path:
    """Marts as dbt leaves them: an incremental daily mart whose rows carry the build that last
    wrote their day (built_at, and a build-state high-water mark), and a small whole mart."""
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute(
        "create or replace table marts.mart_page_daily as "
        "select 'vk' as network, 'p' || page as page_ref, "
        "date '2025-03-01' + cast(day as integer) as snapshot_date, "
        "100 * page + day as members_count, "
        "cast(? as timestamp) as filled_built_at, cast(? as timestamp) as built_at "
        "from range(3) as pages(page), range(3) as days(day)",
        [FIRST_BUILD, FIRST_BUILD],
    )
    con.execute("create or replace table marts.mart_flagship_compliance as select 1 as pages")
    con.close()
    return path


def _rebuild_days(path: Path, days: list[date], built_at: datetime, delta: int = 1) -> None:
    """What an incremental build does to the daily mart: delete+insert of whole days."""
    con = duckdb.connect(str(path))
    con.execute(
        "create temp table rebuilt as select network, page_ref, d as snapshot_date, "
        "100 * page + ? + (d - date '2025-03-01') as members_count, "
        "cast(? as timestamp) as filled_built_at, cast(? as timestamp) as built_at "
        "from (select unnest(?::date[]) as d), "
        "(select range as page, 'vk' as network, 'p' || range as page_ref from range(3))",
        [delta, built_at, built_at, days],
    )
    con.execute(
        "delete from marts.mart_page_daily where snapshot_date in "
        "(select snapshot_date from rebuilt)"
    )
    con.execute("insert into marts.mart_page_daily by name select * from rebuilt")
    con.execute("update marts.mart_flagship_compliance set pages = pages + 1")
    con.close()


def _publish(warehouse: Path, run: int, target: Path | None = None) -> publish.Publication:
    return publish_marts(
        warehouse, run_id=f"r{run}", snapshot_date=date(2025, 3, run), target=target
    )


def _updates_in_a_row(path: Path) -> int:
    con = open_published(path)
    try:
        return con.execute("select updates_in_a_row from meta.publication").fetchone()[0]
    finally:
        con.close()


def _assert_equals_a_whole_copy(warehouse: Path, published: Path, tmp_path: Path) -> None:
    whole = _publish(warehouse, 28, target=tmp_path / "whole" / "marts.duckdb")
    assert whole.updated == ()
    assert published_contents(published) == published_contents(whole.path)


def test_a_day_updates_the_previous_copy_and_equals_a_whole_copy(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "w.duckdb")
    first = _publish(warehouse, 1)
    assert first.updated == ()
    # the build rewrites the last day (a late snapshot) and adds the next one
    _rebuild_days(warehouse, [date(2025, 3, 3), date(2025, 3, 4)], datetime(2025, 3, 4, 1))
    second = _publish(warehouse, 2)
    assert second.updated == ("mart_page_daily",)
    assert second.row_counts == {"mart_page_daily": 12, "mart_flagship_compliance": 1}
    assert _updates_in_a_row(second.path) == 1
    _assert_equals_a_whole_copy(warehouse, second.path, tmp_path)
    # no build-state column reaches the copy, updated or not
    con = open_published(second.path)
    try:
        columns = [
            c
            for (c,) in con.execute(
                "select column_name from duckdb_columns() where database_name = 'published' "
                "and table_name = 'mart_page_daily' order by column_index"
            ).fetchall()
        ]
    finally:
        con.close()
    assert columns == ["network", "page_ref", "snapshot_date", "members_count"]


def _published_then_edited(tmp_path: Path, edit: str) -> Path:
    """A warehouse published once, then changed by `edit` (SQL of the test's own)."""
    warehouse = _warehouse(tmp_path / "w.duckdb")
    _publish(warehouse, 1)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(edit)
    return warehouse


def test_a_full_refresh_that_lost_days_leaves_them_out_of_the_copy(tmp_path: Path) -> None:
    # a --full-refresh after the first day's raw rows were deleted: every row is new
    warehouse = _published_then_edited(
        tmp_path,
        "create or replace table marts.mart_page_daily as select * exclude (built_at), "
        "timestamp '2025-03-05 01:00' as built_at from marts.mart_page_daily "
        "where snapshot_date > date '2025-03-01'",
    )
    second = _publish(warehouse, 2)
    assert second.updated == ("mart_page_daily",)
    assert second.row_counts["mart_page_daily"] == 6
    _assert_equals_a_whole_copy(warehouse, second.path, tmp_path)


def test_rows_changed_without_a_new_built_at_are_copied_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a hand edit the build never made: a row gone from a day no build rewrote
    warehouse = _published_then_edited(
        tmp_path,
        "delete from marts.mart_page_daily where page_ref = 'p1' "
        "and snapshot_date = date '2025-03-02'",
    )
    with caplog.at_level(logging.WARNING, logger=publish.__name__):
        second = _publish(warehouse, 2)
    assert second.updated == ()
    assert "mart_page_daily: the updated copy's rows differ" in caplog.text
    _assert_equals_a_whole_copy(warehouse, second.path, tmp_path)


def test_new_columns_another_warehouse_and_every_nth_publication_copy_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish, "FULL_COPY_EVERY", 3)
    warehouse = _warehouse(tmp_path / "w.duckdb")
    target = tmp_path / "published" / "marts.duckdb"
    assert _publish(warehouse, 1, target).updated == ()
    updated = []
    for run, day in enumerate([date(2025, 3, 4), date(2025, 3, 5), date(2025, 3, 6)], start=2):
        _rebuild_days(warehouse, [day], datetime(2025, 3, 10 + run, 2))
        updated.append(_publish(warehouse, run, target).updated)
    # two updates in a row, then a whole copy, and the count starts again
    assert updated == [("mart_page_daily",), ("mart_page_daily",), ()]
    assert _updates_in_a_row(target) == 0

    con = duckdb.connect(str(warehouse))
    con.execute("alter table marts.mart_page_daily add column is_carried boolean")
    con.close()
    _rebuild_days(warehouse, [date(2025, 3, 7)], datetime(2025, 3, 20, 2))
    assert _publish(warehouse, 5, target).updated == ()
    _assert_equals_a_whole_copy(warehouse, target, tmp_path)

    other = _warehouse(tmp_path / "other.duckdb")
    _rebuild_days(other, [date(2025, 3, 7)], datetime(2025, 3, 7, 3), delta=5)
    from_other = _publish(other, 6, target)
    assert from_other.updated == ()
    assert published_contents(target) == published_contents(
        _publish(other, 7, tmp_path / "o" / "m.duckdb").path
    )


def test_the_incremental_keys_are_the_marts_dbt_unique_keys() -> None:
    """Each incremental mart's key is its dbt unique_key; a mart dbt makes a view over one
    incremental model (mart_page_daily; mart_reach, which divides mart_audience's rows by
    small tables of population) has that model's; a view over tables only
    (mart_registry_versions) has none: it is copied whole, as the table marts are."""
    from gospulse.transform.dbt_manifest import require_manifest

    nodes = json.loads(require_manifest().read_text())["nodes"]

    def unique_key(node: dict) -> tuple[str, ...]:
        key = node["config"]["unique_key"]
        return tuple([key] if isinstance(key, str) else key)

    keys = {}
    views_of_tables = set()
    for node in nodes.values():
        if node["resource_type"] != "model" or not node["schema"].endswith("marts"):
            continue
        materialized = node["config"]["materialized"]
        if materialized == "incremental":
            keys[node["name"]] = unique_key(node)
        elif materialized == "view":
            incremental = [
                parent
                for parent in node["depends_on"]["nodes"]
                if nodes[parent]["config"]["materialized"] == "incremental"
            ]
            if incremental:
                [parent] = incremental
                keys[node["name"]] = unique_key(nodes[parent])
            else:
                views_of_tables.add(node["name"])
    assert keys == publish.INCREMENTAL_KEYS
    assert views_of_tables == {"mart_registry_versions"}


def test_a_warehouse_named_like_a_schema_is_refused_by_name(tmp_path: Path) -> None:
    # the warehouse is attached under its own name, which dbt's views use for their tables
    warehouse = _warehouse(tmp_path / "w.duckdb").rename(tmp_path / "marts.duckdb")
    with pytest.raises(publish.PublishError, match=r"marts\.duckdb.*rename the file"):
        _publish(warehouse, 1, tmp_path / "out" / "m.duckdb")
    assert not (tmp_path / "out" / "m.duckdb").exists()
