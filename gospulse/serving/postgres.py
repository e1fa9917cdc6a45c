"""Publish the marts to Postgres for BI tools: copy the published marts, then swap atomically.

The marts are built once, on DuckDB. publish_to_postgres reads the published read-only copy
(gospulse.serving.publish: every mart in schema `marts`, and `meta.publication` naming the run,
its snapshot date and each mart's row count), creates every mart in the Postgres side schema
`marts__next` and fills it with COPY (one transaction), records the run in
`marts__next.publish_info`, checks each table's row count against the publication, and swaps
`marts__next` in for `marts` in one transaction. A BI reader therefore sees either the previous
complete publication or the new one, never a mix; a failure anywhere leaves the live `marts`
as they were and drops `marts__next`. Nothing else is written to Postgres.

BI roles get their rights from `alter default privileges` for the publishing role
(deploy/postgres/init-databases.sh): every publication swaps in a new schema and new tables, so
grants on today's objects would not survive the next one.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from gospulse.config import settings
from gospulse.serving.publish import MARTS_SCHEMA, open_published, read_publication
from gospulse.serving.publish import PublishError as CopyError
from gospulse.serving.read_views import ReadView, default_read_views

log = logging.getLogger(__name__)

NEXT_SUFFIX = "__next"
OLD_SUFFIX = "__old"
PUBLISH_INFO_TABLE = "publish_info"
# the swap gives up a lock attempt before Postgres' deadlock_timeout (1 s) would pick a victim
LOCK_TIMEOUT = "500ms"
SWAP_ATTEMPTS = 120
# one publisher per database at a time (a session advisory lock): two would share marts__next
PUBLISH_LOCK_KEY = 0x6770_5F70_7562  # "gp_pub"
# Postgres cuts identifiers longer than this many bytes, which would rename a mart or column
PG_MAX_IDENTIFIER = 63
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
    """Where the BI Postgres lives; read from GOSPULSE_PG_*."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = field(default="", repr=False)
    dbname: str = "gospulse"

    @classmethod
    def from_env(cls) -> PgConfig:
        """GOSPULSE_PG_HOST, _PORT, _USER, _PASSWORD, _DBNAME, with the defaults above."""
        return cls(
            host=settings.read("GOSPULSE_PG_HOST"),
            port=settings.read("GOSPULSE_PG_PORT"),
            user=settings.read("GOSPULSE_PG_USER"),
            password=settings.read("GOSPULSE_PG_PASSWORD"),
            dbname=settings.read("GOSPULSE_PG_DBNAME"),
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

    def describe(self) -> str:
        """user@host:port/dbname, for logs and errors (never the password)."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


@dataclass(frozen=True)
class PublishResult:
    """What one publish did: the run it copied and each mart's row count on Postgres."""

    run_id: str
    snapshot_date: date
    mart_rows: dict[str, int]

    def describe(self) -> str:
        """One line for logs."""
        return (
            f"published run {self.run_id} ({self.snapshot_date}) to Postgres: "
            f"{len(self.mart_rows)} marts, {sum(self.mart_rows.values()):,} rows"
        )


@dataclass(frozen=True)
class _Mart:
    """One table of the published copy's schema marts, with its Postgres column types."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (name, Postgres type) in the table's order
    rows: int  # as the publication records it
    # the descriptions dbt wrote (persist_docs) and the published copy carries
    comment: str | None = None
    column_comments: tuple[tuple[str, str], ...] = ()


@contextmanager
def _pg(config: PgConfig) -> Iterator[psycopg2.extensions.connection]:
    try:
        con = config.connect()
    except psycopg2.OperationalError as exc:
        raise PublishError(f"cannot connect to Postgres {config.describe()}: {exc}") from exc
    try:
        con.set_client_encoding("UTF8")  # the CSV DuckDB writes is UTF-8
        yield con
    finally:
        con.close()


def _duck_ident(name: str) -> str:
    """A DuckDB identifier, quoted (names come from the published copy's catalog)."""
    return '"' + name.replace('"', '""') + '"'


def _duck_literal(text: str) -> str:
    """A DuckDB string literal, for COPY's file name (a path of ours, not bindable)."""
    return "'" + text.replace("'", "''") + "'"


def _check_identifier(name: str, what: str) -> None:
    if not name or len(name.encode("utf-8")) > PG_MAX_IDENTIFIER:
        raise PublishError(f"{what}: a Postgres identifier holds 1 to {PG_MAX_IDENTIFIER} bytes")


def _published_marts(duck: duckdb.DuckDBPyConnection, counts: dict[str, int]) -> list[_Mart]:
    """Every table of the copy's schema marts with mapped column types, checked against the
    publication's row counts; a PublishError names the first table or column that cannot go."""
    # tables only: the views computed when read are created on Postgres over the copied tables
    rows = duck.execute(
        "select table_name, column_name, data_type, comment from duckdb_columns() "
        "where database_name = current_database() and schema_name = ? and table_name in ("
        " select table_name from duckdb_tables() "
        " where database_name = current_database() and schema_name = ?) "
        "order by table_name, column_index",
        [MARTS_SCHEMA, MARTS_SCHEMA],
    ).fetchall()
    columns: dict[str, list[tuple[str, str]]] = {}
    column_comments: dict[str, list[tuple[str, str]]] = {}
    for table, column, duck_type, comment in rows:
        where = f"{MARTS_SCHEMA}.{table}.{column}"
        if duck_type not in _PG_TYPES:
            raise PublishError(f"{where}: no Postgres type for DuckDB {duck_type}")
        _check_identifier(table, f"{MARTS_SCHEMA}.{table}")
        _check_identifier(column, where)
        columns.setdefault(table, []).append((column, _PG_TYPES[duck_type]))
        if comment:
            column_comments.setdefault(table, []).append((column, comment))
    if not columns:
        raise PublishError(f"the published copy has no tables in schema {MARTS_SCHEMA!r}")
    if PUBLISH_INFO_TABLE in columns:
        raise PublishError(
            f"{MARTS_SCHEMA}.{PUBLISH_INFO_TABLE}: a mart of that name would collide with the "
            "publication record on Postgres"
        )
    if set(columns) != set(counts):
        unrecorded = sorted(set(columns) - set(counts))
        missing = sorted(set(counts) - set(columns))
        raise PublishError(
            "the published copy's marts differ from its publication record "
            f"(tables without a recorded count: {unrecorded}; recorded but missing: {missing})"
        )
    comments = dict(
        duck.execute(
            "select table_name, comment from duckdb_tables() "
            "where database_name = current_database() and schema_name = ?",
            [MARTS_SCHEMA],
        ).fetchall()
    )
    return [
        _Mart(
            name,
            tuple(cols),
            int(counts[name]),
            comments.get(name) or None,
            tuple(column_comments.get(name, ())),
        )
        for name, cols in columns.items()
    ]


def _export_csv(duck: duckdb.DuckDBPyConnection, mart: _Mart, path: Path) -> None:
    """The mart as CSV in Postgres COPY's format (bytea as \\x hex, NULL as \\N)."""
    select = ", ".join(
        f"case when {_duck_ident(name)} is null then null "
        f"else '\\x' || lower(hex({_duck_ident(name)})) end"
        if pg_type == "bytea"
        else _duck_ident(name)
        for name, pg_type in mart.columns
    )
    table = f"{_duck_ident(MARTS_SCHEMA)}.{_duck_ident(mart.name)}"
    duck.execute(
        f"copy (select {select} from {table}) to {_duck_literal(str(path))} "
        f"(format csv, header false, nullstr {_duck_literal(_NULL)})"
    )


def _drop_schema(cur: psycopg2.extensions.cursor, schema: str) -> None:
    cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


def _copy_mart(
    cur: psycopg2.extensions.cursor, duck: duckdb.DuckDBPyConnection, mart: _Mart, folder: Path
) -> int:
    """Create marts__next.<mart> and COPY the published rows in; the rows Postgres now holds."""
    table = sql.Identifier(MARTS_SCHEMA + NEXT_SUFFIX, mart.name)
    cur.execute(
        sql.SQL("create table {} ({})").format(
            table,
            sql.SQL(", ").join(
                # the type is one of _PG_TYPES' values, never text from the copy
                sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type))
                for name, pg_type in mart.columns
            ),
        )
    )
    # one file at a time, deleted after its COPY: disk holds at most one mart's CSV
    path = folder / f"{uuid.uuid4().hex}.csv"
    try:
        _export_csv(duck, mart, path)
        with open(path, "rb") as data:
            cur.copy_expert(
                sql.SQL("copy {} ({}) from stdin with (format csv, null {})")
                .format(
                    table,
                    sql.SQL(", ").join(sql.Identifier(name) for name, _ in mart.columns),
                    sql.Literal(_NULL),
                )
                .as_string(cur),
                data,
            )
    finally:
        path.unlink(missing_ok=True)
    if mart.comment:
        cur.execute(sql.SQL("comment on table {} is %s").format(table), [mart.comment])
    for name, comment in mart.column_comments:
        column = sql.Identifier(MARTS_SCHEMA + NEXT_SUFFIX, mart.name, name)
        cur.execute(sql.SQL("comment on column {} is %s").format(column), [comment])
    cur.execute(sql.SQL("select count(*) from {}").format(table))
    counted = cur.fetchone()
    assert counted is not None  # count(*) always answers one row
    return counted[0]


def _fill_side_schema(
    con: psycopg2.extensions.connection,
    duck: duckdb.DuckDBPyConnection,
    marts: list[_Mart],
    publication: dict,
) -> dict[str, int]:
    """marts__next with every mart and publish_info, in one transaction; each mart's rows."""
    schema = MARTS_SCHEMA + NEXT_SUFFIX
    counts: dict[str, int] = {}
    current = schema
    try:
        with con.cursor() as cur, tempfile.TemporaryDirectory(prefix="gospulse-pg-") as folder:
            _drop_schema(cur, schema)
            cur.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
            for mart in marts:
                current = f"{MARTS_SCHEMA}.{mart.name}"
                counts[mart.name] = _copy_mart(cur, duck, mart, Path(folder))
            for view in _published_views(duck):
                current = f"{MARTS_SCHEMA}.{view.name}"
                _create_view(cur, schema, view)
            current = f"{MARTS_SCHEMA}.{PUBLISH_INFO_TABLE}"
            _write_publish_info(cur, schema, publication, counts)
    except (psycopg2.Error, duckdb.Error) as exc:
        con.rollback()
        raise PublishError(f"{current}: {str(exc).strip()}") from exc
    wrong = [
        f"{MARTS_SCHEMA}.{m.name}: {counts[m.name]} rows on Postgres, {m.rows} published"
        for m in marts
        if counts[m.name] != m.rows
    ]
    if wrong:
        con.rollback()
        raise PublishError("row counts differ from the publication: " + "; ".join(wrong))
    con.commit()
    return counts


def _published_views(duck: duckdb.DuckDBPyConnection) -> list[ReadView]:
    """The views computed when read that the published copy holds, as Postgres will have them
    (in the side schema: Postgres binds a view to its tables, so it follows the swap)."""
    held = {
        name
        for (name,) in duck.execute(
            "select view_name from duckdb_views() "
            "where database_name = current_database() and schema_name = ?",
            [MARTS_SCHEMA],
        ).fetchall()
    }
    return [v for v in default_read_views(MARTS_SCHEMA + NEXT_SUFFIX) if v.name in held]


def _create_view(cur: psycopg2.extensions.cursor, schema: str, view: ReadView) -> None:
    name = sql.Identifier(schema, view.name)
    # the SQL text is ours (serving.read_views, schema names ours), never the copy's
    cur.execute(sql.SQL("create view {} as ").format(name) + sql.SQL(view.sql))
    cur.execute(sql.SQL("comment on view {} is %s").format(name), [view.comment])


def _write_publish_info(
    cur: psycopg2.extensions.cursor, schema: str, publication: dict, counts: dict[str, int]
) -> None:
    info = sql.Identifier(schema, PUBLISH_INFO_TABLE)
    cur.execute(
        sql.SQL(
            "create table {} (run_id text not null, published_at timestamp not null, "
            "snapshot_date date not null, mart text not null, row_count bigint not null, "
            "primary key (mart))"
        ).format(info)
    )
    published_at = datetime.now(UTC).replace(tzinfo=None)
    cur.executemany(
        sql.SQL("insert into {} values (%s, %s, %s, %s, %s)").format(info),
        [
            (publication["run_id"], published_at, publication["snapshot_date"], mart, n)
            for mart, n in counts.items()
        ],
    )
    cur.execute(
        sql.SQL("comment on table {} is %s").format(info),
        [
            "Which pipeline run (and snapshot date) these marts come from, when they were "
            "copied to Postgres (UTC), and each mart's row count."
        ],
    )


def swap_in(con: psycopg2.extensions.connection, *, attempts: int = SWAP_ATTEMPTS) -> None:
    """Rename marts → marts__old, marts__next → marts and drop marts__old, in ONE transaction.

    The transaction first takes every live mart's lock with a lock_timeout shorter than
    Postgres' deadlock_timeout: a reader holding one mart while asking for another makes the
    swap back off and retry, instead of a deadlock that could abort the reader.
    """
    live, side, old = MARTS_SCHEMA, MARTS_SCHEMA + NEXT_SUFFIX, MARTS_SCHEMA + OLD_SUFFIX
    for attempt in range(1, attempts + 1):
        try:
            with con.cursor() as cur:
                cur.execute(
                    sql.SQL("set local lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT))
                )
                if not _schema_exists(cur, side):
                    raise PublishError(f"no schema {side} to swap in")
                cur.execute(
                    "select c.relname from pg_class c "
                    "join pg_namespace n on n.oid = c.relnamespace "
                    "where n.nspname = %s and c.relkind in ('r', 'v', 'm', 'p') "
                    "order by c.relname",
                    [live],
                )
                relations = [sql.Identifier(live, name) for (name,) in cur.fetchall()]
                if relations:
                    cur.execute(
                        sql.SQL("lock table {} in access exclusive mode").format(
                            sql.SQL(", ").join(relations)
                        )
                    )
                _drop_schema(cur, old)
                if _schema_exists(cur, live):
                    cur.execute(
                        sql.SQL("alter schema {} rename to {}").format(
                            sql.Identifier(live), sql.Identifier(old)
                        )
                    )
                cur.execute(
                    sql.SQL("alter schema {} rename to {}").format(
                        sql.Identifier(side), sql.Identifier(live)
                    )
                )
                _drop_schema(cur, old)
            con.commit()
            return
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.DeadlockDetected) as exc:
            con.rollback()
            if attempt == attempts:
                raise PublishError(
                    f"could not swap the new marts in after {attempts} attempts: readers kept "
                    f"the live marts locked ({str(exc).strip()})"
                ) from exc
            # readers hold locks for one query; give them a moment before trying again
            time.sleep(min(0.05 * attempt, 1.0))


def _schema_exists(cur: psycopg2.extensions.cursor, schema: str) -> bool:
    cur.execute("select 1 from pg_namespace where nspname = %s", [schema])
    return cur.fetchone() is not None


def _drop_side_schema(con: psycopg2.extensions.connection) -> None:
    """After a failure: marts__next goes (best effort; the next publish drops it anyway)."""
    try:
        con.rollback()
        with con.cursor() as cur:
            _drop_schema(cur, MARTS_SCHEMA + NEXT_SUFFIX)
        con.commit()
    except psycopg2.Error as exc:
        log.warning("could not drop %s after a failed publish: %s", MARTS_SCHEMA + NEXT_SUFFIX, exc)


def publish_to_postgres(published: Path | str, config: PgConfig | None = None) -> PublishResult:
    """Copy every mart of the published copy to Postgres and swap them in for the live marts.

    `published` is the read-only copy gospulse.serving.publish wrote
    (gospulse.serving.layout.published_path(warehouse)). The live schema `marts` changes only
    when every mart was copied and its row count matches the publication.
    """
    config = config or PgConfig.from_env()
    path = Path(published)
    if not path.is_file():
        raise PublishError(
            f"no published marts at {path}: run `gospulse build` first (it publishes them)"
        )
    try:
        duck = open_published(path)
    except duckdb.Error as exc:
        raise PublishError(f"{path} is not a readable published copy: {exc}") from exc
    try:
        try:
            publication = read_publication(duck)
        except (duckdb.Error, CopyError) as exc:
            raise PublishError(
                f"{path} has no publication record (meta.publication): {exc}"
            ) from exc
        try:
            marts = _published_marts(duck, publication["row_counts"])
        except PublishError as exc:
            raise PublishError(f"{exc}; nothing was published, the live marts were kept") from exc
        with _pg(config) as con:
            try:
                with con.cursor() as cur:
                    cur.execute("select pg_advisory_lock(%s)", [PUBLISH_LOCK_KEY])
                con.commit()
                counts = _fill_side_schema(con, duck, marts, publication)
                swap_in(con)
            except psycopg2.Error as exc:
                _drop_side_schema(con)
                raise PublishError(
                    f"publishing to Postgres {config.describe()} failed; the live marts were "
                    f"kept: {str(exc).strip()}"
                ) from exc
            except PublishError as exc:
                _drop_side_schema(con)
                raise PublishError(
                    f"publishing to Postgres {config.describe()} failed; the live marts were "
                    f"kept: {exc}"
                ) from exc
            except BaseException:
                _drop_side_schema(con)
                raise
    finally:
        duck.close()
    result = PublishResult(publication["run_id"], publication["snapshot_date"], counts)
    log.info("%s", result.describe())
    return result
