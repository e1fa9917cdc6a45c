"""Publishing the marts to a real Postgres (127.0.0.1:5432): dbt on Postgres, swap, readers.

Each module run creates its own database and drops it afterwards. The fixture world of
tests/warehouse_fixtures.py is built with dbt on DuckDB and published to Postgres; the marts must
match row for row. A second process reads the Postgres marts in a loop while two publishes with
different data run: it must never fail and never see a build other than a complete one.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from gospulse import transform
from gospulse.serving.postgres import (
    PgConfig,
    PublishError,
    publish_to_postgres,
)
from gospulse.warehouse import SnapshotRow, connect, replace_snapshots
from tests.pg_fixtures import normalized_rows as _rows
from tests.pg_fixtures import pg_database, pg_query  # noqa: F401 — the `pg` fixture
from tests.warehouse_fixtures import LAST_DAY, PAGES, build_world, write_registry

pytestmark = pytest.mark.slow

# the marts of the fixture world (tests/test_postgres_audience.py compares the audience marts)
MARTS = (
    "mart_page_daily",
    "mart_page_growth",
    "mart_growth_ranking",
    "mart_region_growth",
    "mart_organization_growth",
    "mart_flagship_compliance",
    "mart_dq_incidents",
    "mart_page_health",
)
READER = Path(__file__).with_name("pg_marts_reader.py")


# when and from which registry load each build wrote its rows: differs between two builds
BUILD_STATE_COLUMNS = {"built_at", "growth_built_at", "registry_seen_at", "filled_built_at"}


def mart_columns(warehouse: Path) -> dict[str, str]:
    """Each mart's columns but the build state, as a select list (DuckDB's order)."""
    with connect(warehouse, read_only=True) as con:
        return {
            m: ", ".join(
                name
                for (name,) in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                    [m],
                ).fetchall()
                if name not in BUILD_STATE_COLUMNS
            )
            for m in MARTS
        }


def duckdb_marts(warehouse: Path) -> dict[str, list[tuple]]:
    columns = mart_columns(warehouse)
    with connect(warehouse, read_only=True) as con:
        return {
            m: _rows(con.execute(f"select {columns[m]} from marts.{m}").fetchall()) for m in MARTS
        }


def pg_marts(config: PgConfig, warehouse: Path) -> dict[str, list[tuple]]:
    columns = mart_columns(warehouse)
    return {m: _rows(pg_query(config, f"select {columns[m]} from marts.{m}")) for m in MARTS}


@pytest.fixture(scope="module")
def world(pg: PgConfig, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    warehouse = build_world(tmp_path_factory.mktemp("pg") / "gospulse.duckdb")
    duck = transform.build(warehouse)
    first = publish_to_postgres(warehouse, pg, snapshot_date=LAST_DAY)
    return SimpleNamespace(warehouse=warehouse, duck=duck, first=first)


def test_dbt_build_on_postgres_passes_every_test(world):
    result = world.first.dbt
    assert result.success and result.tests_failed == 0
    assert result.snapshots == 1
    # the same models: the two audience Python models are replaced by Postgres-only SQL models
    assert result.models == world.duck.models
    models = {n.unique_id for n in result.nodes if n.resource_type == "model"}
    assert {"model.gospulse.int_audience_unions_pg", "model.gospulse.mart_audience"} <= models
    assert "model.gospulse.int_audience_unions" not in models

    # every data and unit test DuckDB runs, except the Python models' tests and the unit tests
    # whose given rows stand in for a Python model
    def duck_only(uid: str) -> bool:
        return uid.startswith("unit_test.gospulse.mart_audience") or any(
            f"{m}_" in uid or uid.endswith(m)
            for m in ("int_audience_unions", "int_audience_page_overlaps")
        )

    def pg_only(uid: str) -> bool:
        return "_pg_" in uid or uid.endswith("_pg")

    tests = ("test", "unit_test")
    expected = {n.unique_id for n in world.duck.nodes if n.resource_type in tests}
    expected = {u for u in expected if not duck_only(u)}
    ran = {n.unique_id for n in result.nodes if n.resource_type in tests}
    assert {u for u in ran if not pg_only(u)} == expected and len(expected) >= 90
    assert {u for u in ran if pg_only(u)}  # the stand-ins are tested too
    assert all(n.status == "pass" for n in result.nodes if n.unique_id in ran)


def test_raw_tables_are_copied_exactly(world, pg):
    with connect(world.warehouse, read_only=True) as con:
        for table in ("page_snapshots", "page_refs", "registry_pages", "extract_runs"):
            duck_rows = _rows(con.execute(f"select * from raw.{table}").fetchall())
            assert _rows(pg_query(pg, f"select * from raw.{table}")) == duck_rows, table
            assert world.first.raw_rows[table] == len(duck_rows)


def test_postgres_marts_equal_duckdb_marts(world, pg):
    duck, postgres = duckdb_marts(world.warehouse), pg_marts(pg, world.warehouse)
    assert sum(len(rows) for rows in duck.values()) > 500  # not a comparison of empty tables
    for mart in MARTS:
        assert len(postgres[mart]) == len(duck[mart]), mart
        for pg_row, duck_row in zip(postgres[mart], duck[mart], strict=True):
            assert pg_row == duck_row, mart


def test_publish_info_matches_the_live_marts_and_no_side_schema_is_left(world, pg):
    info = dict(pg_query(pg, "select mart, row_count from marts.publish_info"))
    run_ids = {r for (r,) in pg_query(pg, "select distinct run_id from marts.publish_info")}
    assert run_ids == {world.first.run_id}
    assert set(MARTS) <= set(info)
    for mart in MARTS:
        assert pg_query(pg, f"select count(*) from marts.{mart}")[0][0] == info[mart] > 0
    schemas = {s for (s,) in pg_query(pg, "select nspname from pg_namespace")}
    assert {"raw", "staging", "intermediate", "marts", "snapshots"} <= schemas
    assert not {s for s in schemas if s.endswith(("__next", "__old"))}


def test_failed_build_keeps_the_live_marts(world, pg, tmp_path):
    before = pg_marts(pg, world.warehouse)
    broken = tmp_path / "broken.duckdb"
    shutil.copy(world.warehouse, broken)
    with connect(broken) as con:
        # a status the source's accepted_values test rejects: dbt build fails
        con.execute(
            "insert into raw.page_snapshots (network, page_ref, snapshot_date, members_count, "
            "status, source, loaded_at) values ('vk', '101', date '2025-03-11', 5, 'bogus', "
            "'test', now())"
        )
    with pytest.raises(PublishError, match="live marts were kept") as failure:
        publish_to_postgres(broken, pg)
    assert "accepted_values" in str(failure.value)
    assert pg_marts(pg, world.warehouse) == before
    assert {r for (r,) in pg_query(pg, "select run_id from marts.publish_info")} == {
        world.first.run_id
    }


def _more_days(warehouse: Path, extra_days: int) -> None:
    """Add daily snapshots after LAST_DAY, so the next build has more rows in every series."""
    rows = []
    for page in PAGES.values():
        if page.page_ref is None or page.last_day != LAST_DAY:
            continue
        for n in range(1, extra_days + 1):
            d = LAST_DAY + timedelta(days=n)
            rows.append(SnapshotRow("vk", page.page_ref, d, page.members(d), "ok", source="t"))
    with connect(warehouse) as con:
        replace_snapshots(con, rows)


def test_reader_sees_only_complete_builds_during_publishes(world, pg, tmp_path):
    """Two publishes with different data while another process reads the marts in a loop."""
    stop = tmp_path / "stop"
    report = tmp_path / "reader.json"
    reader = subprocess.Popen(
        [sys.executable, str(READER), json.dumps(dataclasses.asdict(pg)), ",".join(MARTS)]
        + [str(stop), str(report)],
    )
    try:
        time.sleep(1.0)
        # publish reads only the raw tables: no DuckDB build is needed between publishes
        _more_days(world.warehouse, 3)
        second = publish_to_postgres(world.warehouse, pg)
        # second data change: 103 changes sector, 108 leaves the registry, two more days
        changed = {k: p for k, p in PAGES.items() if k != "108"}
        changed["103"] = dataclasses.replace(PAGES["103"], sector="sport")
        write_registry(world.warehouse, changed, loaded_at=datetime(2025, 3, 12, 6, 0))
        _more_days(world.warehouse, 5)
        transform.build(world.warehouse)
        third = publish_to_postgres(world.warehouse, pg)
        time.sleep(1.0)
    finally:
        stop.touch()
        assert reader.wait(timeout=60) == 0
    seen = json.loads(report.read_text(encoding="utf-8"))
    assert seen["errors"] == []
    assert seen["mismatches"] == []
    assert seen["reads"] >= 20
    runs = {world.first.run_id, second.run_id, third.run_id}
    assert set(seen["run_ids"]) <= runs
    # the reader saw the state before and after: at least the first and the last build
    assert {world.first.run_id, third.run_id} <= set(seen["run_ids"])
    # the two publishes changed the data: the daily series grew
    assert third.mart_rows["mart_page_daily"] > second.mart_rows["mart_page_daily"]
    assert second.mart_rows["mart_page_daily"] > world.first.mart_rows["mart_page_daily"]
    assert pg_marts(pg, world.warehouse) == duckdb_marts(world.warehouse)


def test_registry_history_persists_across_publishes(world, pg):
    """The snapshot lives in a fixed schema: the registry change of the previous test is history."""
    versions = pg_query(
        pg,
        "select ref_value, sector, dbt_valid_to is null from snapshots.snap_registry_pages "
        "where ref_value in ('103', '108') order by ref_value, dbt_valid_from",
    )
    assert versions == [
        ("103", "administration", False),
        ("103", "sport", True),
        ("108", "sport", False),
    ]


def test_unreachable_postgres_is_a_clear_error(world):
    with pytest.raises(PublishError, match="cannot connect to Postgres .*:1/"):
        publish_to_postgres(world.warehouse, PgConfig(port=1, dbname="nowhere"))


def test_config_from_env(monkeypatch):
    monkeypatch.setenv("GOSPULSE_PG_HOST", "db.example")
    monkeypatch.setenv("GOSPULSE_PG_PORT", "6543")
    monkeypatch.setenv("GOSPULSE_PG_PASSWORD", "s3cret")
    monkeypatch.setenv("GOSPULSE_PG_DBNAME", "bi")
    config = PgConfig.from_env()
    assert (config.host, config.port, config.dbname, config.user) == (
        "db.example",
        6543,
        "bi",
        "postgres",
    )
    assert "s3cret" not in repr(config) and "s3cret" not in config.describe()
    assert config.dbt_env()["GOSPULSE_PG_PASSWORD"] == "s3cret"
    monkeypatch.setenv("GOSPULSE_PG_PORT", "abc")
    with pytest.raises(ValueError, match="GOSPULSE_PG_PORT"):
        PgConfig.from_env()


def _exposures(target_dir: Path) -> dict[str, list[str]]:
    manifest = json.loads((target_dir / "manifest.json").read_text(encoding="utf-8"))
    return {
        e["name"]: e["depends_on"]["nodes"]
        for e in manifest["exposures"].values()
        if e["type"] == "dashboard"
    }


def test_dashboards_are_exposures_on_the_marts(world):
    duck = _exposures(world.duck.target_dir)
    postgres = _exposures(world.first.dbt.target_dir)
    assert set(duck) == {
        "region_growth_dashboard",
        "flagship_compliance_dashboard",
        "data_quality_dashboard",
        "audience_dashboard",
    }
    assert set(postgres) == set(duck)
    for name, nodes in duck.items():
        assert nodes and all(n.startswith("model.gospulse.mart_") for n in nodes), name
    assert "model.gospulse.mart_flagship_compliance" in duck["flagship_compliance_dashboard"]


def test_raw_gate_on_postgres_passes_the_good_day(world):
    assert set(world.first.gate) == {"vk"}
    assert world.first.gate["vk"].success and world.first.gate["vk"].checked == 6


def test_raw_gate_on_postgres_refuses_a_bad_day(world, pg, tmp_path):
    before = pg_marts(pg, world.warehouse)
    info = pg_query(pg, "select run_id, mart, row_count from marts.publish_info order by mart")
    bad = tmp_path / "bad.duckdb"
    shutil.copy(world.warehouse, bad)
    day = LAST_DAY + timedelta(days=20)
    refs = ["101", "103", "104", "105", "110"]
    rows = [SnapshotRow("vk", ref, day, None, "error", error="timeout") for ref in refs[:3]]
    rows += [SnapshotRow("vk", ref, day, 1000, "ok") for ref in refs[3:]]
    with connect(bad) as con:
        replace_snapshots(con, rows)
    # 3 of 5 pages failed: more than the 20 % the suite allows; dbt alone would accept the day
    with pytest.raises(PublishError, match=r"raw gate .* rejected .*3 of 5 pages failed"):
        publish_to_postgres(bad, pg, snapshot_date=day)
    assert pg_marts(pg, world.warehouse) == before
    assert pg_query(pg, "select run_id, mart, row_count from marts.publish_info order by mart") == (
        info
    )


def test_cli_command_reports_an_unreachable_postgres(world, monkeypatch, capsys):
    import argparse

    from gospulse.serving.postgres_cli import add_commands

    parser = argparse.ArgumentParser(prog="gospulse")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["publish-postgres", "--date", "2025-03-10"])
    assert args.date.isoformat() == "2025-03-10"
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(world.warehouse))
    monkeypatch.setenv("GOSPULSE_PG_PORT", "1")
    with pytest.raises(PublishError, match="cannot connect to Postgres postgres@127.0.0.1:1/"):
        args.func(args)
