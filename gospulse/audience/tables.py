"""Python rows into a DuckDB temp table in one statement, for the dbt Python models."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import duckdb

from gospulse.raw.warehouse import bulk_insert


def temp_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: Sequence[tuple[str, str]],
    rows: Iterable[Sequence[object]],
) -> duckdb.DuckDBPyRelation:
    """Create (or replace) temp table `name` with (column, type) `columns`, filled with `rows`."""
    con.execute(
        f"create or replace temp table {name} ("
        + ", ".join(f"{column} {typ}" for column, typ in columns)
        + ")"
    )
    bulk_insert(con, name, rows)
    return con.table(name)
