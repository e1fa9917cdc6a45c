"""Incremental builds on a real Postgres (127.0.0.1:5432): the same schema built twice in a row.

The models are portable SQL that a federal warehouse may run on Postgres, where every daily
build after the first is incremental. publish_to_postgres always builds fresh side schemas, so
this is the only test of that path: a first `dbt build --target postgres`, then a new day and a
rerun of an old day (other counts, one page deleted that day, one not returned), then a second
build on the same schema. Every incremental model must have taken its incremental branch,
passed its data tests and contracts on Postgres, and hold exactly the rows a DuckDB build of
the same raw data holds (tests/test_incremental_models.py shows those equal a --full-refresh).
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from gospulse import transform
from gospulse.serving.postgres import PgConfig, sync_raw
from gospulse.warehouse import SnapshotRow, connect
from tests.pg_fixtures import (
    normalized_rows,
    pg_database,  # noqa: F401 — the `pg` fixture
    pg_query,
)
from tests.test_incremental_models import (
    FIRST_DAY,
    INCREMENTAL_MODELS,
    PAGES,
    day_rows,
    extract_day,
    write_registry,
)

pytestmark = pytest.mark.slow

DAYS = 30
# what a build saw, not what it computed: differs between two builds of the same data
BUILD_STATE_COLUMNS = {
    "built_at",
    "growth_built_at",
    "registry_seen_at",
    "page_days_built_at",
    "filled_built_at",
    "first_changed_at",
    "loaded_through",
    "seen_through",
}


def build_on_postgres(warehouse: Path, pg: PgConfig, *, tests: bool) -> transform.DbtRunResult:
    """raw synced from the warehouse, then `dbt build --target postgres` on the live schemas."""
    sync_raw(warehouse, pg)
    args = ["build"] if tests else ["build", "--exclude-resource-type", "test", "unit_test"]
    return transform.run_dbt(args, warehouse=warehouse, target="postgres", env=pg.dbt_env())


def model_columns(warehouse: Path, model: str) -> str:
    schema, table = model.split(".")
    with connect(warehouse, read_only=True) as con:
        names = [
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
        ]
    return ", ".join(n for n in names if n not in BUILD_STATE_COLUMNS)


def test_a_second_build_on_the_same_postgres_schema_is_incremental_and_right(tmp_path, pg):
    warehouse = tmp_path / "w.duckdb"
    write_registry(
        warehouse, {ref: region for ref, (region, _, _) in PAGES.items()}, flagships={"201"}
    )
    for n in range(DAYS):
        d = FIRST_DAY + timedelta(n)
        extract_day(warehouse, day_rows(d, PAGES), d)
    transform.build(warehouse)  # sync_raw copies the audience models' rows from DuckDB
    first = build_on_postgres(warehouse, pg, tests=False)
    assert first.models > 20

    # a new day, and a rerun of an old day: other counts, 202 deleted, 206 not returned
    new_day = FIRST_DAY + timedelta(DAYS)
    extract_day(warehouse, day_rows(new_day, PAGES), new_day)
    rerun_day = FIRST_DAY + timedelta(11)
    rerun = [
        SnapshotRow("vk", "202", rerun_day, None, "deleted", source="api")
        if r.page_ref == "202"
        else r
        for r in day_rows(rerun_day, PAGES, shift=400)
        if r.page_ref != "206"
    ]
    extract_day(warehouse, rerun, rerun_day)
    transform.build(warehouse)

    second = build_on_postgres(warehouse, pg, tests=True)
    assert second.tests_passed > 90 and second.tests_failed == 0
    for model in INCREMENTAL_MODELS:
        name = model.split(".")[1]
        node = next(n for n in second.nodes if n.unique_id == f"model.gospulse.{name}")
        assert "high_water" in (node.compiled_code or ""), f"{name} was not built incrementally"

    # the DuckDB side, rebuilt from raw on a copy: what the Postgres schema must now hold
    full = tmp_path / "full" / "w.duckdb"
    full.parent.mkdir()
    shutil.copy2(warehouse, full)
    transform.build(full, full_refresh=True)
    for model in INCREMENTAL_MODELS:
        columns = model_columns(full, model)
        with connect(full, read_only=True) as con:
            expected = normalized_rows(con.execute(f"select {columns} from {model}").fetchall())
        got = normalized_rows(pg_query(pg, f"select {columns} from {model}"))
        assert expected, f"{model} is empty"
        missing = list((Counter(expected) - Counter(got)).elements())
        extra = list((Counter(got) - Counter(expected)).elements())
        assert not missing and not extra, (
            f"{model} on Postgres after an incremental build: {len(got)} rows, "
            f"{len(expected)} expected; missing e.g. {missing[:3]}, extra e.g. {extra[:3]}"
        )
