"""A throw-away database on the local Postgres (127.0.0.1:5432, user postgres) for tests."""

from __future__ import annotations

import math
import os
import uuid
from decimal import Decimal

import psycopg2
import pytest

from gospulse.serving.postgres import PgConfig


def _admin() -> psycopg2.extensions.connection:
    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    con.autocommit = True
    return con


@pytest.fixture(scope="module", name="pg")
def pg_database() -> PgConfig:
    """A fresh database on the local Postgres, dropped after the module."""
    try:
        admin = _admin()
    except psycopg2.OperationalError as exc:
        # .ci/run starts Postgres: in CI an unreachable server is a failure, not a skip
        if os.environ.get("CI"):
            raise RuntimeError(f"CI: Postgres at 127.0.0.1:5432 is unreachable: {exc}") from exc
        pytest.skip(f"Postgres at 127.0.0.1:5432 is unreachable: {exc}")
    name = f"gospulse_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    try:
        yield PgConfig(dbname=name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


def pg_query(config: PgConfig, query: str, params: list | None = None) -> list[tuple]:
    """Rows of one query on a new connection."""
    con = config.connect()
    try:
        with con.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        con.close()


def _normalize(value: object) -> object:
    """Values both adapters agree on: numbers as floats rounded to 6 decimals, bytes as bytes."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, Decimal | float) and not (isinstance(value, float) and math.isnan(value)):
        return round(float(value), 6)
    return value


def normalized_rows(rows: list[tuple]) -> list[tuple]:
    """Rows with normalized values, sorted, for comparing DuckDB and Postgres tables."""
    return sorted((tuple(_normalize(v) for v in row) for row in rows), key=repr)
