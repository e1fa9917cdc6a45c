"""Publishing the marts to a real Postgres (127.0.0.1:5432): the published copy, copied and swapped.

Each module run creates its own database (tests/pg_fixtures.py) and drops it afterwards. The
marts come from the session's built world (`built_world`, built by dbt once per session): two
copies of it are published to read-only copies with gospulse.serving.publish — copy A with real
HLL region sketches and awkward text added, copy B with rows taken away — and no dbt runs
here. The marts on Postgres must equal the published copy row for row, sketches byte for byte;
a failed publish keeps the live marts; a reader in another process looping over the marts while
A and B are published in turn must only ever see one complete publication.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from gospulse.audience.federal import national_unique
from gospulse.config.task_results import PostgresOutcome, PublishOutcome
from gospulse.orchestration import tasks
from gospulse.raw.sketches import HLL_LG_K, MemberHasher, PageAudience
from gospulse.serving.layout import published_path
from gospulse.serving.postgres import PgConfig, PublishError, publish_to_postgres
from gospulse.serving.publish import open_published, publish_marts, read_publication
from gospulse.serving.read_views import VIEW_NAMES as READ_VIEWS
from gospulse.transform.dbt_manifest import require_manifest
from tests.conftest import copy_warehouse
from tests.pg_fixtures import normalized_rows, pg_database, pg_query  # noqa: F401 — `pg`
from tests.warehouse_fixtures import LAST_DAY

pytestmark = pytest.mark.slow

READER = Path(__file__).with_name("pg_marts_reader.py")
AUDIENCE_MARTS = ("mart_audience", "mart_audience_overlaps", "mart_audience_region_sketches")
SECRET = b"test-secret-for-postgres-publish"
# three regions' members: 0..2999, 2000..4499 and 4000..4099, 4,500 people in all
REGION_MEMBERS = {42: range(0, 3000), 54: range(2000, 4500), 70: range(4000, 4100)}
# text COPY's CSV must carry exactly: quotes, the delimiter, a line break, the NULL marker
AWKWARD_TITLES = {"105": 'a "quoted", title\nover two lines', "107": "\\N", "101": ""}
# how Postgres names the type each DuckDB column type of the marts must arrive as
PG_TYPE_NAMES = {
    "VARCHAR": "text",
    "DATE": "date",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "TIMESTAMP": "timestamp without time zone",
    "DOUBLE": "double precision",
    "BLOB": "bytea",
}


def _add_region_sketches(warehouse: Path, day: date) -> None:
    """Real HLL sketches of three regions' overlapping member sets (the built world has none)."""
    hasher = MemberHasher(SECRET)
    rows = []
    for region, members in REGION_MEMBERS.items():
        audience = PageAudience(hasher)
        audience.add(members)
        hll = audience.hll
        rows.append(
            (
                day,
                region,
                "vk",
                1,
                hll.get_estimate(),
                hll.get_lower_bound(2),
                hll.get_upper_bound(2),
                HLL_LG_K,
                audience.hll_bytes(),
            )
        )
    con = duckdb.connect(str(warehouse))
    try:
        con.executemany(
            "insert into marts.mart_audience_region_sketches (audience_date, region_code, "
            "network, pages_unioned, unique_estimate, unique_lower, unique_upper, hll_lg_k, "
            "union_hll_sketch) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        for page_ref, title in AWKWARD_TITLES.items():
            con.execute(
                "update marts.mart_page_health set title = ? where page_ref = ?", [title, page_ref]
            )
    finally:
        con.close()


def _take_rows_away(warehouse: Path) -> None:
    """Copy B's difference: the last day of the daily series and one region's sketch gone."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "delete from intermediate.int_page_days_filled where snapshot_date = ?", [LAST_DAY]
        )
        con.execute("delete from marts.mart_audience_region_sketches where region_code = 70")
    finally:
        con.close()


def copy_tables(copy: Path) -> dict[str, list[tuple[str, str]]]:
    """The published copy's marts and their (column, DuckDB type), in the table's order."""
    con = open_published(copy)
    try:
        rows = con.execute(
            "select table_name, column_name, data_type from duckdb_columns() "
            "where database_name = current_database() and schema_name = 'marts' "
            "order by table_name, column_index"
        ).fetchall()
    finally:
        con.close()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, duck_type in rows:
        tables.setdefault(table, []).append((column, duck_type))
    return tables


def copy_rows(copy: Path, table: str) -> list[tuple]:
    con = open_published(copy)
    try:
        return normalized_rows(con.execute(f'select * from marts."{table}"').fetchall())
    finally:
        con.close()


def pg_rows(pg: PgConfig, table: str) -> list[tuple]:
    return normalized_rows(pg_query(pg, f'select * from marts."{table}"'))


def live_state(pg: PgConfig) -> tuple[list[tuple], dict[str, int]]:
    """publish_info and every live mart's row count: what a failed publish must not change."""
    info = pg_query(pg, "select run_id, snapshot_date, mart, row_count from marts.publish_info")
    counts = {m: pg_query(pg, f'select count(*) from marts."{m}"')[0][0] for _, _, m, _ in info}
    return sorted(info), counts


LIVE_TABLES = "select table_name from information_schema.tables where table_schema = 'marts'"


def side_schemas(pg: PgConfig) -> set[str]:
    rows = pg_query(pg, "select nspname from pg_namespace where nspname like 'marts\\_\\_%'")
    return {name for (name,) in rows}


def _leave_a_side_schema(pg: PgConfig) -> None:
    """What a publisher that died between filling marts__next and its swap leaves behind."""
    con = pg.connect()
    try:
        with con.cursor() as cur:
            cur.execute("create schema marts__next")
            cur.execute("create table marts__next.leftover as select 1 as n")
        con.commit()
    finally:
        con.close()


@pytest.fixture(scope="module")
def world(
    built_world: Path, pg: PgConfig, tmp_path_factory: pytest.TempPathFactory
) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("pg_publish")
    warehouse_a = copy_warehouse(built_world, root / "a")
    _add_region_sketches(warehouse_a, LAST_DAY)
    a = publish_marts(warehouse_a, run_id="run-a", snapshot_date=LAST_DAY)
    warehouse_b = copy_warehouse(warehouse_a, root / "b")
    _take_rows_away(warehouse_b)
    b = publish_marts(warehouse_b, run_id="run-b", snapshot_date=LAST_DAY - timedelta(days=1))
    first = publish_to_postgres(a.path, pg)
    return SimpleNamespace(warehouse_a=warehouse_a, a=a.path, b=b.path, first=first)


@pytest.fixture
def on_a(world: SimpleNamespace, pg: PgConfig) -> SimpleNamespace:
    """Copy A is the live publication (a test before may have left B live)."""
    if {r for (r,) in pg_query(pg, "select run_id from marts.publish_info")} != {"run-a"}:
        publish_to_postgres(world.a, pg)
    return world


def test_marts_on_postgres_equal_the_published_copy(on_a, pg):
    tables = copy_tables(on_a.a)
    assert {"mart_page_daily", "mart_audience_region_sketches"} <= set(tables)
    live = {t for (t,) in pg_query(pg, LIVE_TABLES)}
    assert live == set(tables) | {"publish_info"}
    total = 0
    for table, columns in tables.items():
        arrived = pg_query(
            pg,
            "select attname, format_type(atttypid, atttypmod) from pg_attribute "
            "where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
            [f'marts."{table}"'],
        )
        assert arrived == [(c, PG_TYPE_NAMES[t]) for c, t in columns], table
        rows = copy_rows(on_a.a, table)
        assert pg_rows(pg, table) == rows, table
        total += len(rows)
    assert total > 2000  # not a comparison of empty tables
    # the ranking is a view there as here, over the copied tables, with the same rows
    assert "mart_growth_ranking" in tables
    assert pg_query(
        pg, "select relkind from pg_class where oid = 'marts.mart_growth_ranking'::regclass"
    ) == [("v",)]
    # the awkward text arrived as it was, not as NULL, and not cut at the line break
    titles = dict(pg_query(pg, "select page_ref, title from marts.mart_page_health"))
    assert {ref: titles[ref] for ref in AWKWARD_TITLES} == AWKWARD_TITLES


def test_descriptions_reach_postgres(on_a, pg):
    """dbt's descriptions of the marts and their columns travel with the copy."""
    con = open_published(on_a.a)
    try:
        (described,) = con.execute(
            "select comment from duckdb_tables() where database_name = current_database() "
            "and table_name = 'mart_page_daily'"
        ).fetchone()
        (column,) = con.execute(
            "select comment from duckdb_columns() where database_name = current_database() "
            "and table_name = 'mart_page_daily' and column_name = 'members_count'"
        ).fetchone()
    finally:
        con.close()
    assert described and "daily series" in described and column
    assert pg_query(
        pg,
        "select obj_description('marts.mart_page_daily'::regclass, 'pg_class'), "
        "col_description('marts.mart_page_daily'::regclass, "
        "(select attnum from pg_attribute where attrelid = 'marts.mart_page_daily'::regclass "
        "and attname = 'members_count'))",
    ) == [(described, column)]


def test_publish_info_names_the_run_and_matches_the_live_marts(on_a, pg):
    con = open_published(on_a.a)
    try:
        publication = read_publication(con)
    finally:
        con.close()
    info = pg_query(pg, "select run_id, snapshot_date, mart, row_count from marts.publish_info")
    assert {(r, d) for r, d, _, _ in info} == {("run-a", LAST_DAY)}
    recorded = {mart: n for _, _, mart, n in info}
    assert recorded == publication["row_counts"] == on_a.first.mart_rows
    for mart, n in recorded.items():
        assert pg_query(pg, f'select count(*) from marts."{mart}"') == [(n,)], mart
    assert on_a.first.run_id == "run-a" and on_a.first.snapshot_date == LAST_DAY
    assert on_a.first.describe() == (
        f"published run run-a ({LAST_DAY}) to Postgres: {len(recorded)} marts, "
        f"{sum(recorded.values()):,} rows"
    )
    # only the marts are written: no raw, staging or intermediate tables, no side schema left
    schemas = pg_query(
        pg,
        "select nspname from pg_namespace "
        "where nspname not like 'pg\\_%' and nspname <> 'information_schema'",
    )
    assert {s for (s,) in schemas} == {"public", "marts"}
    (comment,) = pg_query(pg, "select obj_description('marts.publish_info'::regclass, 'pg_class')")
    assert comment[0] and "row count" in comment[0]


def test_audience_sketches_arrive_byte_for_byte_and_merge_alike(on_a, pg):
    for mart in AUDIENCE_MARTS:
        assert pg_rows(pg, mart) == copy_rows(on_a.a, mart), mart
    query = (
        "select union_hll_sketch from marts.mart_audience_region_sketches "
        "where network = 'vk' order by region_code"
    )
    con = open_published(on_a.a)
    try:
        duck = [bytes(b) for (b,) in con.execute(query).fetchall()]
    finally:
        con.close()
    postgres = [bytes(b) for (b,) in pg_query(pg, query)]
    assert postgres == duck and len(duck) == len(REGION_MEMBERS)
    merged = national_unique(postgres)
    assert merged == national_unique(duck)
    # the three regions overlap: 4,500 people, not the 5,600 memberships
    assert merged.lower <= 4500 <= merged.upper and abs(merged.value - 4500) < 4500 * 0.02


def test_a_mart_type_without_a_postgres_type_is_refused_before_anything_changes(on_a, pg, tmp_path):
    before = live_state(pg)
    warehouse = tmp_path / "interval.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts")
    con.execute(
        "create table marts.mart_waits as "
        "select range as n, to_days(range::integer) as waited from range(5)"
    )
    con.close()
    copy = publish_marts(warehouse, run_id="run-interval", snapshot_date=LAST_DAY)
    with pytest.raises(
        PublishError, match=r"marts\.mart_waits\.waited: no Postgres type .*INTERVAL"
    ):
        publish_to_postgres(copy.path, pg)
    assert live_state(pg) == before
    assert side_schemas(pg) == set()


def test_a_copy_failing_midway_keeps_the_live_marts_and_drops_the_side_schema(on_a, pg, tmp_path):
    """A text with a NUL character: DuckDB holds it, Postgres refuses it in the middle of the
    COPY of mart_page_health, after the marts before it were copied into marts__next. A
    marts__next left by a publisher that died before its swap goes too."""
    before = live_state(pg)
    _leave_a_side_schema(pg)
    warehouse = copy_warehouse(on_a.warehouse_a, tmp_path / "nul")
    con = duckdb.connect(str(warehouse))
    con.execute(
        "update marts.mart_page_health set title = 'a' || chr(0) || 'b' where page_ref = '105'"
    )
    con.close()
    copy = publish_marts(warehouse, run_id="run-nul", snapshot_date=LAST_DAY)
    with pytest.raises(
        PublishError, match=r"live marts were kept: marts\.mart_page_health: .*0x00"
    ):
        publish_to_postgres(copy.path, pg)
    assert live_state(pg) == before
    assert side_schemas(pg) == set()


def test_row_counts_that_differ_from_the_publication_are_refused(on_a, pg, tmp_path):
    """A published copy that lost a row after its publication record was written."""
    before = live_state(pg)
    damaged = tmp_path / "damaged.duckdb"
    shutil.copyfile(on_a.a, damaged)
    con = duckdb.connect(str(damaged))
    (n,) = con.execute("select count(*) from marts.mart_page_daily").fetchone()
    con.execute(
        "delete from marts.mart_page_daily "
        "where rowid = (select min(rowid) from marts.mart_page_daily)"
    )
    con.close()
    with pytest.raises(
        PublishError, match=rf"marts\.mart_page_daily: {n - 1} rows on Postgres, {n} published"
    ):
        publish_to_postgres(damaged, pg)
    assert live_state(pg) == before
    assert side_schemas(pg) == set()


def test_reader_sees_only_complete_publications_during_publishes(world, pg, tmp_path):
    """Copies A and B published in turn while another process reads the marts in a loop."""
    # the tables, each with its count in publish_info (the ranking view has none)
    marts = sorted(set(copy_tables(world.a)) - set(READ_VIEWS))
    stop, report = tmp_path / "stop", tmp_path / "reader.json"
    reader = subprocess.Popen(
        [sys.executable, str(READER), json.dumps(asdict(pg)), ",".join(marts), str(stop)]
        + [str(report)],
    )
    results = []
    try:
        time.sleep(1.0)
        for copy in (world.b, world.a) * 4:
            results.append(publish_to_postgres(copy, pg))
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        stop.touch()
        assert reader.wait(timeout=60) == 0
    seen = json.loads(report.read_text(encoding="utf-8"))
    assert seen["errors"] == []
    assert seen["mismatches"] == []
    assert seen["reads"] >= 20
    assert set(seen["run_ids"]) == {"run-a", "run-b"}
    a, b = results[-1].mart_rows, results[-2].mart_rows
    assert b["mart_page_daily"] < a["mart_page_daily"]
    assert b["mart_audience_region_sketches"] == a["mart_audience_region_sketches"] - 1
    assert pg_rows(pg, "mart_page_daily") == copy_rows(world.a, "mart_page_daily")
    assert side_schemas(pg) == set()


def test_daily_task_publishes_the_copy_the_run_published(world, pg, monkeypatch):
    monkeypatch.setenv("GOSPULSE_PG_DBNAME", pg.dbname)
    published = PublishOutcome(published=True, path=str(world.b), run_id="run-b")
    monkeypatch.delenv(tasks.POSTGRES_SWITCH, raising=False)
    assert tasks.publish_postgres(published, "2025-03-09T20:00:00+00:00").enabled is False
    monkeypatch.setenv(tasks.POSTGRES_SWITCH, "1")
    held = PublishOutcome(published=False, reason="marts held")
    assert tasks.publish_postgres(held, "2025-03-09T20:00:00+00:00") == PostgresOutcome(
        enabled=True, published=False, reason="marts held"
    )
    _leave_a_side_schema(pg)  # replaced, never swapped in
    done = tasks.publish_postgres(published, "2025-03-09T20:00:00+00:00")
    assert done.published and done.summary and "run run-b" in done.summary
    assert {r for (r,) in pg_query(pg, "select run_id from marts.publish_info")} == {"run-b"}
    assert "leftover" not in {t for (t,) in pg_query(pg, LIVE_TABLES)}
    assert side_schemas(pg) == set()


def test_unreachable_postgres_is_a_clear_error(world):
    with pytest.raises(PublishError, match="cannot connect to Postgres .*:1/nowhere"):
        publish_to_postgres(world.a, PgConfig(port=1, dbname="nowhere"))


def test_a_missing_or_unpublished_copy_is_refused(pg, tmp_path):
    with pytest.raises(PublishError, match=r"no published marts at .*run `gospulse build` first"):
        publish_to_postgres(tmp_path / "published" / "gospulse_marts.duckdb", pg)
    # a warehouse is not a published copy: it has marts but no publication record
    warehouse = tmp_path / "gospulse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts")
    con.execute("create table marts.mart_x as select 1 as n")
    con.close()
    with pytest.raises(PublishError, match=r"has no publication record \(meta\.publication\)"):
        publish_to_postgres(warehouse, pg)


def test_config_from_env(monkeypatch):
    monkeypatch.setenv("GOSPULSE_PG_HOST", "db.example")
    monkeypatch.setenv("GOSPULSE_PG_PORT", "6543")
    monkeypatch.setenv("GOSPULSE_PG_PASSWORD", "s3cret")
    monkeypatch.setenv("GOSPULSE_PG_DBNAME", "bi")
    config = PgConfig.from_env()
    assert (config.host, config.port, config.dbname, config.user, config.password) == (
        "db.example",
        6543,
        "bi",
        "postgres",
        "s3cret",
    )
    assert "s3cret" not in repr(config) and "s3cret" not in config.describe()
    monkeypatch.setenv("GOSPULSE_PG_PORT", "abc")
    with pytest.raises(ValueError, match="GOSPULSE_PG_PORT"):
        PgConfig.from_env()


def test_cli_publishes_the_current_copy_and_reports_errors(
    world, pg, monkeypatch, capsys, tmp_path
):
    from gospulse.cli import main

    assert published_path(world.warehouse_a) == world.a
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(world.warehouse_a))
    monkeypatch.setenv("GOSPULSE_PG_DBNAME", pg.dbname)
    assert main(["publish-postgres"]) == 0
    assert capsys.readouterr().out.startswith(f"published run run-a ({LAST_DAY}) to Postgres: ")
    assert {r for (r,) in pg_query(pg, "select run_id from marts.publish_info")} == {"run-a"}
    monkeypatch.setenv("GOSPULSE_PG_PORT", "1")
    assert main(["publish-postgres"]) == 1
    assert f"cannot connect to Postgres postgres@127.0.0.1:1/{pg.dbname}" in capsys.readouterr().err
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(tmp_path / "never_built.duckdb"))
    assert main(["publish-postgres"]) == 1
    assert "run `gospulse build` first" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the day comes from the copy: no --date any more
        main(["publish-postgres", "--date", "2025-03-10"])


def test_dashboards_are_exposures_on_marts_that_reach_postgres(on_a, pg, built_world):
    # the project's manifest (`gospulse dbt manifest`): builds write no JSON artifacts
    manifest = json.loads(require_manifest().read_text(encoding="utf-8"))
    dashboards = {
        e["name"]: e["depends_on"]["nodes"]
        for e in manifest["exposures"].values()
        if e["type"] == "dashboard"
    }
    assert set(dashboards) == {
        "region_growth_dashboard",
        "flagship_compliance_dashboard",
        "data_quality_dashboard",
        "audience_dashboard",
    }
    live = {t for (t,) in pg_query(pg, LIVE_TABLES)}
    for name, nodes in dashboards.items():
        assert nodes and all(n.startswith("model.gospulse.mart_") for n in nodes), name
        assert {n.split(".")[-1] for n in nodes} <= live, name
    assert "model.gospulse.mart_flagship_compliance" in dashboards["flagship_compliance_dashboard"]
