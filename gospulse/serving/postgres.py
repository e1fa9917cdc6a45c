"""Publish the marts to Postgres for BI tools: sync the raw tables, build, then swap atomically.

The pipeline's warehouse stays DuckDB. publish_to_postgres copies its raw tables into Postgres
schema `raw` (one transaction, COPY), runs `dbt build --target postgres` into side schemas
(`staging__next`, `intermediate__next`, `marts__next`), records what it built in
`marts__next.publish_info`, and swaps the side schemas in for the live ones in one transaction.
A BI reader therefore sees either the previous complete build or the new one, never a mix, and
a failed build leaves the live schemas as they were. The registry snapshot (SCD2 history) lives
in the fixed schema `snapshots`, never in a side schema, so its history survives every run.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from gospulse import transform
from gospulse.warehouse import connect

# the raw tables dbt's sources read (models/staging/raw/_raw__sources.yml)
RAW_TABLES = ("page_snapshots", "page_refs", "registry_pages", "member_sketches", "extract_runs")
# dbt-postgres cannot run the two dbt Python models of the audience: their rows, computed by the
# DuckDB build with gospulse.audience, are loaded as raw tables that Postgres-only models read
# raw tables looked up by page and day (members_on, the member-list sketches): indexed so that
# Postgres can probe a page's few candidate days instead of scanning its whole history
PAGE_DAY_INDEXED = ("page_snapshots", "member_sketches")
DERIVED_TABLES = {
    "audience_unions": "intermediate.int_audience_unions",
    "audience_page_overlaps": "intermediate.int_audience_page_overlaps",
}
# schemas dbt builds models into; each is built as <name>__next and swapped in
SWAPPED_SCHEMAS = ("staging", "intermediate", "marts")
NEXT_SUFFIX = "__next"
OLD_SUFFIX = "__old"
PUBLISH_INFO_TABLE = "publish_info"
# the swap gives up a lock attempt before Postgres' deadlock_timeout (1 s) would pick a victim
LOCK_TIMEOUT = "500ms"
SWAP_ATTEMPTS = 120
# DuckDB column types and the Postgres types that hold the same values
_PG_TYPES = {
    "VARCHAR": "text",
    "DATE": "date",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "TIMESTAMP": "timestamp",
    "DOUBLE": "double precision",
    "BLOB": "bytea",
}
_NULL = "\\N"


class PublishError(RuntimeError):
    """Publishing to Postgres failed; the live marts were left as they were."""


@dataclass(frozen=True)
class PgConfig:
    """Where the BI Postgres lives; read from GOSPULSE_PG_* like dbt_project/profiles.yml."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = field(default="", repr=False)
    dbname: str = "gospulse"

    @classmethod
    def from_env(cls) -> PgConfig:
        """GOSPULSE_PG_HOST, _PORT, _USER, _PASSWORD, _DBNAME, with the profile's defaults."""
        env = os.environ
        port = env.get("GOSPULSE_PG_PORT", "5432")
        if not port.isdigit():
            raise ValueError(f"GOSPULSE_PG_PORT must be a port number, got {port!r}")
        return cls(
            host=env.get("GOSPULSE_PG_HOST", cls.host),
            port=int(port),
            user=env.get("GOSPULSE_PG_USER", cls.user),
            password=env.get("GOSPULSE_PG_PASSWORD", ""),
            dbname=env.get("GOSPULSE_PG_DBNAME", cls.dbname),
        )

    def connect(self) -> psycopg2.extensions.connection:
        """A new psycopg2 connection (the caller closes it)."""
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=self.dbname,
            application_name="gospulse-publish",
        )

    def dbt_env(self) -> dict[str, str]:
        """The variables profiles.yml's postgres output reads, for the dbt subprocess."""
        return {
            "GOSPULSE_PG_HOST": self.host,
            "GOSPULSE_PG_PORT": str(self.port),
            "GOSPULSE_PG_USER": self.user,
            "GOSPULSE_PG_PASSWORD": self.password,
            "GOSPULSE_PG_DBNAME": self.dbname,
        }

    def describe(self) -> str:
        """host:port/dbname as user, for logs and errors (never the password)."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


@dataclass(frozen=True)
class PublishResult:
    """What one publish did: the rows synced per raw table, the dbt build and the run id."""

    run_id: str
    raw_rows: dict[str, int]
    mart_rows: dict[str, int]
    dbt: transform.DbtRunResult
    # the raw gate's verdict per network (expectations.raw_batch.GateResult), when one ran
    gate: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for logs."""
        raw = ", ".join(f"{t} {n}" for t, n in self.raw_rows.items())
        return f"published run {self.run_id} to Postgres: raw {raw}; {self.dbt.summary()}"


@contextmanager
def _pg(config: PgConfig) -> Iterator[psycopg2.extensions.connection]:
    try:
        con = config.connect()
    except psycopg2.OperationalError as exc:
        raise PublishError(f"cannot connect to Postgres {config.describe()}: {exc}") from exc
    try:
        yield con
    finally:
        con.close()


def _raw_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    schema, name = table.split(".")
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    if not rows:
        hint = "" if schema == "raw" else ": run the DuckDB build (gospulse build) first"
        raise PublishError(f"warehouse has no table {table}{hint}")
    columns = []
    for name, duck_type in rows:
        if duck_type not in _PG_TYPES:
            raise PublishError(f"{table}.{name}: no Postgres type for DuckDB {duck_type}")
        columns.append((name, _PG_TYPES[duck_type]))
    return columns


def _raw_csv(con: duckdb.DuckDBPyConnection, table: str, columns: list[tuple[str, str]]) -> str:
    """The table as CSV text in Postgres COPY's format (bytea as \\x hex, NULL as \\N)."""
    select = ", ".join(
        f"case when {name} is null then null else '\\x' || lower(hex({name})) end as {name}"
        if pg_type == "bytea"
        else name
        for name, pg_type in columns
    )
    # DuckDB writes CSV to a file; a private temp folder keeps concurrent publishes apart
    with tempfile.TemporaryDirectory(prefix="gospulse-pg-") as folder:
        path = Path(folder) / "table.csv"
        con.execute(
            f"copy (select {select} from {table}) to '{path}' "
            f"(format csv, header false, nullstr '{_NULL}')"
        )
        return path.read_text(encoding="utf-8")


def sync_raw(warehouse: Path, config: PgConfig) -> dict[str, int]:
    """Replace Postgres schema raw's tables with the warehouse's, in one transaction (COPY).

    Besides the raw tables, the rows of the DuckDB build's two audience Python models are
    copied (DERIVED_TABLES), so the warehouse must have been built with dbt first.

    Tables are created when missing and gain columns the warehouse has gained; rows are
    replaced with DELETE (not TRUNCATE) so a concurrent reader keeps its consistent view.
    """
    exports: dict[str, tuple[list[tuple[str, str]], str]] = {}
    with connect(warehouse, read_only=True) as duck:
        sources = {t: f"raw.{t}" for t in RAW_TABLES} | DERIVED_TABLES
        for table, source in sources.items():
            columns = _raw_columns(duck, source)
            exports[table] = (columns, _raw_csv(duck, source, columns))
    counts: dict[str, int] = {}
    with _pg(config) as con:
        try:
            with con.cursor() as cur:
                cur.execute("create schema if not exists raw")
                for table, (columns, data) in exports.items():
                    ident = sql.Identifier("raw", table)
                    cur.execute(
                        sql.SQL("create table if not exists {} ({})").format(
                            ident,
                            sql.SQL(", ").join(
                                sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t))
                                for n, t in columns
                            ),
                        )
                    )
                    for name, pg_type in columns:
                        cur.execute(
                            sql.SQL("alter table {} add column if not exists {} {}").format(
                                ident, sql.Identifier(name), sql.SQL(pg_type)
                            )
                        )
                    cur.execute(sql.SQL("delete from {}").format(ident))
                    cur.copy_expert(
                        sql.SQL("copy {} ({}) from stdin with (format csv, null {})")
                        .format(
                            ident,
                            sql.SQL(", ").join(sql.Identifier(n) for n, _ in columns),
                            sql.Literal(_NULL),
                        )
                        .as_string(cur),
                        io.StringIO(data),
                    )
                    counts[table] = cur.rowcount
                    if table in PAGE_DAY_INDEXED:
                        cur.execute(
                            sql.SQL(
                                "create index if not exists {} on {} "
                                "(network, page_ref, snapshot_date)"
                            ).format(sql.Identifier(f"{table}_page_day"), ident)
                        )
                    # fresh statistics: the planner's row estimates decide hash join or nested loop
                    cur.execute(sql.SQL("analyze {}").format(ident))
            con.commit()
        except psycopg2.Error as exc:
            con.rollback()
            raise PublishError(
                f"copying raw tables to Postgres {config.describe()}: {exc}"
            ) from exc
    return counts


def _drop_schemas(cur: psycopg2.extensions.cursor, suffix: str) -> None:
    for schema in SWAPPED_SCHEMAS:
        cur.execute(
            sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema + suffix))
        )


def _mart_tables(cur: psycopg2.extensions.cursor, schema: str) -> list[str]:
    cur.execute(
        "select table_name from information_schema.tables "
        "where table_schema = %s and table_type = 'BASE TABLE' and table_name <> %s "
        "order by table_name",
        [schema, PUBLISH_INFO_TABLE],
    )
    return [name for (name,) in cur.fetchall()]


def _record_build(con: psycopg2.extensions.connection, run_id: str) -> dict[str, int]:
    """Write <marts>__next.publish_info: the run id and every mart's row count at build time."""
    schema = "marts" + NEXT_SUFFIX
    published_at = datetime.now(UTC).replace(tzinfo=None)
    with con.cursor() as cur:
        counts = {}
        for table in _mart_tables(cur, schema):
            cur.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table)))
            counts[table] = cur.fetchone()[0]
        info = sql.Identifier(schema, PUBLISH_INFO_TABLE)
        cur.execute(
            sql.SQL(
                "create table {} (run_id text not null, published_at timestamp not null, "
                "mart text not null, row_count bigint not null, primary key (mart))"
            ).format(info)
        )
        cur.executemany(
            sql.SQL("insert into {} values (%s, %s, %s, %s)").format(info),
            [(run_id, published_at, mart, n) for mart, n in counts.items()],
        )
        cur.execute(
            sql.SQL("comment on table {} is %s").format(info),
            ["Which publish run built these marts, and each mart's row count at that time."],
        )
    con.commit()
    return counts


def swap_in(con: psycopg2.extensions.connection, *, attempts: int = SWAP_ATTEMPTS) -> None:
    """Rename live → __old, __next → live and drop __old, for every schema, in ONE transaction.

    The transaction first takes every live relation's lock with a lock_timeout shorter than
    Postgres' deadlock_timeout: a reader holding one mart while asking for another makes the
    swap back off and retry, instead of a deadlock that could abort the reader.
    """
    for attempt in range(1, attempts + 1):
        try:
            with con.cursor() as cur:
                cur.execute(
                    sql.SQL("set local lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT))
                )
                for schema in SWAPPED_SCHEMAS:
                    if not _schema_exists(cur, schema + NEXT_SUFFIX):
                        raise PublishError(f"no schema {schema + NEXT_SUFFIX} to swap in")
                cur.execute(
                    "select quote_ident(n.nspname) || '.' || quote_ident(c.relname) "
                    "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                    "where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'p') "
                    "order by n.nspname, c.relname",
                    [list(SWAPPED_SCHEMAS)],
                )
                live = [name for (name,) in cur.fetchall()]
                if live:
                    cur.execute(f"lock table {', '.join(live)} in access exclusive mode")
                _drop_schemas(cur, OLD_SUFFIX)
                for schema in SWAPPED_SCHEMAS:
                    if _schema_exists(cur, schema):
                        cur.execute(
                            sql.SQL("alter schema {} rename to {}").format(
                                sql.Identifier(schema), sql.Identifier(schema + OLD_SUFFIX)
                            )
                        )
                    cur.execute(
                        sql.SQL("alter schema {} rename to {}").format(
                            sql.Identifier(schema + NEXT_SUFFIX), sql.Identifier(schema)
                        )
                    )
                _drop_schemas(cur, OLD_SUFFIX)
            con.commit()
            return
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.DeadlockDetected) as exc:
            con.rollback()
            if attempt == attempts:
                raise PublishError(
                    f"could not swap the new marts in after {attempts} attempts: readers kept "
                    f"the live marts locked ({exc}); the live marts were kept"
                ) from exc
            # readers hold locks for one query; give them a moment before trying again
            time.sleep(min(0.05 * attempt, 1.0))


def _schema_exists(cur: psycopg2.extensions.cursor, schema: str) -> bool:
    cur.execute("select 1 from pg_namespace where nspname = %s", [schema])
    return cur.fetchone() is not None


def build_next(
    warehouse: Path, config: PgConfig, *, vars: dict | None = None
) -> transform.DbtRunResult:
    """`dbt build --target postgres` into the __next side schemas (dropped first)."""
    with _pg(config) as con:
        with con.cursor() as cur:
            _drop_schemas(cur, NEXT_SUFFIX)
        con.commit()
    try:
        return transform.run_dbt(
            ["build"],
            warehouse=warehouse,
            vars={**(vars or {}), "schema_suffix": NEXT_SUFFIX},
            target="postgres",
            env=config.dbt_env(),
        )
    except transform.DbtError as exc:
        raise PublishError(
            f"dbt build on Postgres {config.describe()} failed; the live marts were kept\n{exc}"
        ) from exc


def publish_to_postgres(
    warehouse: Path,
    config: PgConfig | None = None,
    *,
    snapshot_date: date | None = None,
    vars: dict | None = None,
) -> PublishResult:
    """Sync raw, gate the day, build into side schemas and swap them in.

    With snapshot_date, the synced day of raw.page_snapshots must pass the raw batch gate
    (GX on Postgres, gospulse.serving.postgres_gate) before anything is built; the live marts
    change only when the gate and the whole dbt build succeed.
    """
    config = config or PgConfig.from_env()
    warehouse = Path(warehouse)
    run_id = uuid.uuid4().hex
    raw_rows = sync_raw(warehouse, config)
    gate: dict[str, Any] = {}
    if snapshot_date is not None:
        from gospulse.serving.postgres_gate import expected_rows, validate_synced_day

        gate = validate_synced_day(config, snapshot_date, expected_rows(warehouse, snapshot_date))
        failed = {n: g for n, g in gate.items() if not g.success}
        if failed:
            reasons = "; ".join(f"{n}: {g.describe()}" for n, g in failed.items())
            raise PublishError(
                f"raw gate on Postgres {config.describe()} rejected {snapshot_date}: {reasons}; "
                "nothing was built and the live marts were kept"
            )
    result = build_next(warehouse, config, vars=vars)
    with _pg(config) as con:
        try:
            mart_rows = _record_build(con, run_id)
            swap_in(con)
        except psycopg2.Error as exc:
            con.rollback()
            raise PublishError(
                f"swapping the new marts in on Postgres {config.describe()} failed; "
                f"the live marts were kept: {exc}"
            ) from exc
    return PublishResult(
        run_id=run_id, raw_rows=raw_rows, mart_rows=mart_rows, dbt=result, gate=gate
    )
