"""The audience marts on Postgres: the Python models' rows are loaded as raw tables and the SQL
marts on top of them must equal DuckDB's, sketches byte for byte.

The world is tests/test_audience_marts.py's (known member ID sets, real sketches).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from gospulse import transform
from gospulse.audience.federal import national_unique
from gospulse.serving.postgres import PgConfig, PublishError, publish_to_postgres
from gospulse.warehouse import connect
from tests.pg_fixtures import normalized_rows, pg_database, pg_query  # noqa: F401 — `pg`
from tests.test_audience_marts import AUDIENCE_MARTS, write_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(pg: PgConfig, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    warehouse = write_world(tmp_path_factory.mktemp("pg_audience") / "gospulse.duckdb")
    duck = transform.build(warehouse)
    published = publish_to_postgres(warehouse, pg)
    return SimpleNamespace(warehouse=warehouse, duck=duck, published=published)


# when each build wrote a mart's rows: differs between the DuckDB and the Postgres build
BUILD_STATE_COLUMNS = {"built_at", "scope_pages_built_at", "unions_built_at"}


def test_audience_marts_equal_duckdb(world, pg):
    assert world.published.raw_rows["audience_unions"] > 10
    assert world.published.raw_rows["audience_page_overlaps"] > 0
    with connect(world.warehouse, read_only=True) as con:
        for mart in AUDIENCE_MARTS:
            columns = ", ".join(
                name
                for (name,) in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                    [mart],
                ).fetchall()
                if name not in BUILD_STATE_COLUMNS
            )
            duck = normalized_rows(con.execute(f"select {columns} from marts.{mart}").fetchall())
            postgres = normalized_rows(pg_query(pg, f"select {columns} from marts.{mart}"))
            assert duck, mart
            assert postgres == duck, mart


def test_national_unique_from_postgres_sketches_matches_duckdb(world, pg):
    query = "select union_hll_sketch from marts.mart_audience_region_sketches where network = 'vk'"
    with connect(world.warehouse, read_only=True) as con:
        duck = [bytes(b) for (b,) in con.execute(query).fetchall()]
    postgres = [bytes(b) for (b,) in pg_query(pg, query)]
    assert sorted(postgres) == sorted(duck) and duck
    assert national_unique(postgres) == national_unique(duck)


def test_publish_needs_the_duckdb_build_first(pg, tmp_path: Path):
    fresh = write_world(tmp_path / "gospulse.duckdb")  # raw tables only, never built
    with pytest.raises(PublishError, match="no table intermediate.int_audience_unions.*build"):
        publish_to_postgres(fresh, pg)
