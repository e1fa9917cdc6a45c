"""The published read-only copy of the marts: atomic swap, failures keep the old copy, and a
reader in another process looping over it during real dbt builds only ever sees complete runs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from gospulse.config.task_results import BuildVerdict, PublishOutcome
from gospulse.raw.warehouse import connect, replace_snapshots
from gospulse.serving.layout import published_path
from gospulse.serving.publish import (
    INCREMENTAL_KEYS,
    TEMP_PREFIX,
    TEMP_SUFFIX,
    PublishError,
    open_published,
    publish_after_build,
    publish_marts,
    read_publication,
)
from gospulse.transform import run as transform
from tests.conftest import copy_warehouse, published_contents
from tests.warehouse_fixtures import LAST_DAY, snapshot_rows


def _tiny_warehouse(path: Path, rows: int, *, view: bool = False) -> Path:
    """A warehouse with a raw table and a marts table of `rows` rows (no dbt needed), and with
    `view` a mart dbt made a view, naming its table with the warehouse's catalog as dbt does."""
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists raw")
    con.execute("create or replace table raw.secret as select 'personal' as id")
    con.execute("create schema if not exists marts")
    con.execute(f"create or replace table marts.mart_x as select range as n from range({rows})")
    if view:
        con.execute(
            f'create or replace view marts.mart_v as select n from "{path.stem}".marts.mart_x '
            "where n % 2 = 0"
        )
    con.close()
    return path


def test_publish_copies_only_marts_with_a_publication_record(tmp_path: Path) -> None:
    warehouse = _tiny_warehouse(tmp_path / "w.duckdb", 7, view=True)
    pub = publish_marts(warehouse, run_id="r1", snapshot_date=date(2025, 3, 1), dbt_summary="ok")
    assert pub.path == published_path(warehouse)
    # the view dbt made is published as a table: readers never need the warehouse
    assert pub.row_counts == {"mart_x": 7, "mart_v": 4}
    con = open_published(pub.path)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = 'published' order by 1, 2"
        ).fetchall()
        assert tables == [
            ("marts", "mart_v"),
            ("marts", "mart_x"),
            ("meta", "publication"),
            ("meta", "published_tables"),
        ]
        meta = read_publication(con)
        assert (meta["run_id"], meta["snapshot_date"], meta["dbt_summary"]) == (
            "r1",
            date(2025, 3, 1),
            "ok",
        )
        assert meta["row_counts"] == {"mart_v": 4, "mart_x": 7}
        assert con.execute("select count(*) from marts.mart_x").fetchone() == (7,)
    finally:
        con.close()
    assert not list(pub.path.parent.glob(f"*{TEMP_SUFFIX}*"))
    assert not pub.path.with_name(pub.path.name + ".wal").exists()


def test_a_failed_publish_keeps_the_previous_copy_and_cleans_up(tmp_path: Path) -> None:
    warehouse = _tiny_warehouse(tmp_path / "w.duckdb", 3)
    first = publish_marts(warehouse, run_id="r1", snapshot_date=date(2025, 3, 1))
    # a leftover of a publisher that died mid-copy
    leftover = first.path.parent / f"{TEMP_PREFIX}999-dead{TEMP_SUFFIX}"
    leftover.write_bytes(b"half a file")

    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(PublishError, match="no tables in schema 'marts'"):
        publish_marts(empty, run_id="r2", snapshot_date=date(2025, 3, 2), target=first.path)
    assert not leftover.exists()
    assert not list(first.path.parent.glob(f"*{TEMP_SUFFIX}*"))
    con = open_published(first.path)
    try:
        assert read_publication(con)["run_id"] == "r1"
    finally:
        con.close()

    with pytest.raises(FileNotFoundError, match="missing.duckdb"):
        publish_marts(tmp_path / "missing.duckdb", run_id="r3", snapshot_date=date(2025, 3, 3))


def test_a_reader_holding_the_old_copy_neither_blocks_the_swap_nor_sees_it(tmp_path: Path) -> None:
    warehouse = _tiny_warehouse(tmp_path / "w.duckdb", 3)
    publish_marts(warehouse, run_id="r1", snapshot_date=date(2025, 3, 1))
    held = open_published(published_path(warehouse))
    try:
        _tiny_warehouse(warehouse, 5)
        publish_marts(warehouse, run_id="r2", snapshot_date=date(2025, 3, 2))
        # the held connection keeps the old inode, a new one sees the new run
        assert held.execute("select count(*) from marts.mart_x").fetchone() == (3,)
        fresh = open_published(published_path(warehouse))
        try:
            assert read_publication(fresh)["run_id"] == "r2"
            assert fresh.execute("select count(*) from marts.mart_x").fetchone() == (5,)
        finally:
            fresh.close()
    finally:
        held.close()


def test_open_published_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.duckdb"):
        open_published(tmp_path / "nope.duckdb")


READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from gospulse.serving.publish import open_published, read_publication

    path, stop, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    with out.open("w") as log:
        while not stop.exists():
            if not path.exists():
                time.sleep(0.01)
                continue
            try:
                con = open_published(path)
                try:
                    meta = read_publication(con)
                    seen = {
                        t: con.execute(f'select count(*) from marts."{t}"').fetchone()[0]
                        for t in meta["row_counts"]
                    }
                    tables = sorted(
                        r[0] for r in con.execute(
                            "select table_name from duckdb_tables() "
                            "where database_name = 'published' and schema_name = 'marts'"
                        ).fetchall()
                    )
                finally:
                    con.close()
                log.write(json.dumps({
                    "run_id": meta["run_id"], "expected": meta["row_counts"], "seen": seen,
                    "tables": tables,
                }) + "\\n")
            except Exception as exc:
                log.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\\n")
            log.flush()
    """
)


def _add_day(warehouse: Path, day: date) -> None:
    """One more daily snapshot of every page still fetched, so each run's row counts differ."""
    rows = [
        replace(r, snapshot_date=day, members_count=(r.members_count or 0) + 1)
        for r in snapshot_rows()
        if r.snapshot_date == LAST_DAY
    ]
    with connect(warehouse) as con:
        replace_snapshots(con, rows)


@pytest.mark.slow
def test_reader_in_another_process_only_sees_complete_runs_during_builds(
    built_world: Path, tmp_path: Path
) -> None:
    warehouse = copy_warehouse(built_world, tmp_path)
    target = published_path(warehouse)
    stop, out = tmp_path / "stop", tmp_path / "reads.jsonl"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(target), str(stop), str(out)],
        cwd=Path(__file__).resolve().parent.parent,
        stderr=subprocess.PIPE,
        text=True,
    )
    published: dict[str, dict[str, int]] = {}
    updated: list[tuple[str, ...]] = []
    try:
        for n in range(3):
            # the first run is the world as built; the next two build while the reader reads
            if n:
                _add_day(warehouse, LAST_DAY + timedelta(days=n))
                result = transform.build(warehouse)
                assert result.success, result.output
            run_id = f"run-{n:03d}"
            pub = publish_marts(
                warehouse,
                run_id=run_id,
                snapshot_date=LAST_DAY + timedelta(days=n),
                dbt_summary=result.summary() if n else None,
            )
            published[run_id] = pub.row_counts
            updated.append(pub.updated)
            time.sleep(0.5)  # let the reader see this run before the next build
    finally:
        stop.touch()
        _, stderr = reader.communicate(timeout=60)
    assert reader.returncode == 0, stderr

    reads = [json.loads(line) for line in out.read_text().splitlines()]
    errors = [r["error"] for r in reads if "error" in r]
    assert errors == []
    assert len(reads) > 20
    # the runs really differ, so a mix of two runs would show up as a count mismatch
    assert len({json.dumps(c, sort_keys=True) for c in published.values()}) == 3
    run_ids = [r["run_id"] for r in reads]
    assert run_ids == sorted(run_ids), "the reader saw an older run after a newer one"
    assert set(run_ids) >= {"run-001", "run-002"}
    for r in reads:
        assert r["seen"] == r["expected"] == published[r["run_id"]]
        assert r["tables"] == sorted(published[r["run_id"]])

    # the builds' days updated the previous copy, which ends equal to a copy made whole
    assert updated[0] == ()
    # (the world reads no member lists: its empty mart_audience and mart_reach have no
    # built_at to go by)
    assert published["run-002"]["mart_audience"] == published["run-002"]["mart_reach"] == 0
    assert (
        updated[1]
        == updated[2]
        == tuple(sorted(set(INCREMENTAL_KEYS) - {"mart_audience", "mart_reach"}))
    )
    whole = publish_marts(
        warehouse, run_id="whole", snapshot_date=LAST_DAY, target=tmp_path / "whole" / "m.duckdb"
    )
    assert whole.updated == ()
    assert published_contents(target) == published_contents(whole.path)


def test_publish_after_build_skips_held_builds_and_keeps_the_old_copy(tmp_path: Path) -> None:
    warehouse = _tiny_warehouse(tmp_path / "w.duckdb", 4)
    done = publish_after_build(
        BuildVerdict(summary="dbt build: ok"),
        warehouse,
        run_id="r1",
        snapshot_date=date(2025, 3, 1),
    )
    assert done.to_xcom() == {
        "published": True,
        "path": str(published_path(warehouse)),
        "run_id": "r1",
        "snapshot_date": "2025-03-01",
        "tables": 1,
        "rows": 4,
    }
    assert PublishOutcome.from_xcom(done.to_xcom()) == done
    _tiny_warehouse(warehouse, 9)
    held = publish_after_build(
        BuildVerdict(held="vk: gate rejected"),
        warehouse,
        run_id="r2",
        snapshot_date=date(2025, 3, 2),
    )
    assert held.to_xcom() == {"published": False, "reason": "vk: gate rejected"}
    assert publish_after_build(
        None, warehouse, run_id="r3", snapshot_date=date(2025, 3, 3)
    ) == PublishOutcome(published=False, reason="marts were not rebuilt")
    con = open_published(published_path(warehouse))
    try:
        meta = read_publication(con)
        assert (meta["run_id"], meta["dbt_summary"], meta["row_counts"]) == (
            "r1",
            "dbt build: ok",
            {"mart_x": 4},
        )
    finally:
        con.close()
