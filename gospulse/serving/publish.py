"""Publish a read-only copy of the marts that BI tools and the API read while the pipeline writes.

The copy is built in a new file next to the target and moved onto it with os.replace, which is
atomic on POSIX: a reader opens either the previous complete copy or the new complete one, and a
reader that already holds the old file keeps its inode. The publisher never opens the published
file itself, so a reader's DuckDB lock can never block it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from gospulse.serving.layout import published_path

log = logging.getLogger(__name__)

MARTS_SCHEMA = "marts"
META_SCHEMA = "meta"
TEMP_PREFIX = ".marts-"
TEMP_SUFFIX = ".duckdb.tmp"
LOCK_FILE = ".publish.lock"


class PublishError(RuntimeError):
    """Publishing failed; the previous published copy is untouched."""


@dataclass(frozen=True)
class Publication:
    """What one publication holds: where it went, which run, and each table's row count."""

    path: Path
    run_id: str
    snapshot_date: date
    published_at: datetime
    row_counts: dict[str, int]


def is_build_state(column: str) -> bool:
    """Whether a mart column is build state: what an incremental model wrote for its own next
    build (`built_at`, `…_built_at`, `registry_seen_at`). It stays in the warehouse and never
    reaches a reader: the published copy, the API, Postgres and bundles leave it out."""
    return column == "built_at" or column.endswith("_built_at") or column == "registry_seen_at"


def public_columns(con: duckdb.DuckDBPyConnection, database: str, table: str) -> list[str]:
    """The columns of marts.<table> in `database` a reader gets, in table order."""
    return [
        column
        for (column,) in con.execute(
            "select column_name from duckdb_columns() where database_name = ? "
            "and schema_name = ? and table_name = ? order by column_index",
            [database, MARTS_SCHEMA, table],
        ).fetchall()
        if not is_build_state(column)
    ]


def _quote(identifier: str) -> str:
    """A DuckDB identifier; table names come from the catalog, never from a request."""
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A SQL string literal where DuckDB takes no bound parameters (ATTACH, COMMENT ON); the
    text is ours (a path, a dbt description), never a request's."""
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def _publish_lock(directory: Path) -> Iterator[None]:
    """One publisher per target at a time, so a temp file is only ever cleaned by its owner."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _clean_temp_files(directory: Path) -> None:
    """Remove the leftovers of publishers that died mid-copy (we hold the lock, none is live)."""
    for leftover in directory.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}*"):
        log.warning("removing unfinished publication %s", leftover)
        leftover.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable: the directory entry must reach the disk, not only the file."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_comments(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """The descriptions of a mart and its columns (dbt's persist_docs) from the attached `src`
    onto its copy, so that BI tools reading the copy, or Postgres after it, show them."""
    table = f"{MARTS_SCHEMA}.{_quote(name)}"
    (comment,) = con.execute(
        "select comment from duckdb_tables() "
        "where database_name = 'src' and schema_name = ? and table_name = ?",
        [MARTS_SCHEMA, name],
    ).fetchone()
    if comment:
        con.execute(f"comment on table {table} is {_literal(comment)}")
    columns = con.execute(
        "select column_name, comment from duckdb_columns() "
        "where database_name = 'src' and schema_name = ? and table_name = ? "
        "and coalesce(comment, '') <> '' order by column_index",
        [MARTS_SCHEMA, name],
    ).fetchall()
    for column, text in columns:
        if is_build_state(column):
            continue
        con.execute(f"comment on column {table}.{_quote(column)} is {_literal(text)}")


def _copy_marts(
    warehouse: Path,
    temp: Path,
    *,
    run_id: str,
    snapshot_date: date,
    published_at: datetime,
    dbt_summary: str | None,
) -> dict[str, int]:
    """Copy every marts table of the warehouse into a new file with its publication record, and
    create the views computed when read over them."""
    con = duckdb.connect(str(temp))
    try:
        con.execute(f"attach {_literal(str(warehouse))} as src (read_only)")
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() "
                "where database_name = 'src' and schema_name = ? order by table_name",
                [MARTS_SCHEMA],
            ).fetchall()
        ]
        if not tables:
            raise PublishError(
                f"{warehouse} has no tables in schema {MARTS_SCHEMA!r}: run dbt build first"
            )
        con.execute(f"create schema {MARTS_SCHEMA}")
        con.execute(f"create schema {META_SCHEMA}")
        counts: dict[str, int] = {}
        for name in tables:
            table = f"{MARTS_SCHEMA}.{_quote(name)}"
            columns = ", ".join(_quote(c) for c in public_columns(con, "src", name))
            con.execute(f"create table {table} as select {columns} from src.{table}")
            _copy_comments(con, name)
            counts[name] = con.execute(f"select count(*) from {table}").fetchone()[0]
        simulated = _simulated(con)
        con.execute("detach src")
        _create_read_views(con, set(tables))
        con.execute(
            f"create table {META_SCHEMA}.publication ("
            " run_id varchar not null, snapshot_date date not null,"
            " published_at timestamptz not null, source_warehouse varchar not null,"
            " dbt_summary varchar, row_counts json not null, simulated boolean not null)"
        )
        con.execute(
            f"insert into {META_SCHEMA}.publication values (?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                snapshot_date,
                published_at,
                str(warehouse),
                dbt_summary,
                json.dumps(counts, sort_keys=True),
                simulated,
            ],
        )
        con.execute(
            f"create table {META_SCHEMA}.published_tables ("
            " table_name varchar primary key, row_count bigint not null)"
        )
        con.executemany(
            f"insert into {META_SCHEMA}.published_tables values (?, ?)", list(counts.items())
        )
        # everything into the main file: the published copy must be complete without a WAL
        con.execute("checkpoint")
    finally:
        con.close()
    wal = temp.with_name(temp.name + ".wal")
    if wal.exists():
        raise PublishError(f"{temp} still has a write-ahead log after checkpoint and close")
    return counts


def _create_read_views(con: duckdb.DuckDBPyConnection, tables: set[str]) -> None:
    """The marts computed when read (serving.read_views) over the tables just copied; a view
    whose tables the warehouse does not have (a partial build) is left out, and said so."""
    from gospulse.serving.read_views import default_read_views

    for view in default_read_views(MARTS_SCHEMA):
        missing = sorted(view.inputs - tables)
        if missing:
            log.warning("not publishing view %s: the warehouse has no %s", view.name, missing)
            continue
        name = f"{MARTS_SCHEMA}.{_quote(view.name)}"
        con.execute(f"create view {name} as {view.sql}")
        con.execute(f"comment on view {name} is {_literal(view.comment)}")


def publish_marts(
    warehouse: Path | str,
    *,
    run_id: str,
    snapshot_date: date,
    dbt_summary: str | None = None,
    target: Path | str | None = None,
) -> Publication:
    """Copy the warehouse's marts into a new file and atomically swap it onto the published path.

    The warehouse must not be held by a writer at this moment (the pipeline calls this after its
    dbt build). On any failure the previous published copy stays as it was.
    """
    warehouse = Path(warehouse).resolve()
    if not warehouse.is_file():
        raise FileNotFoundError(f"warehouse {warehouse} does not exist: nothing to publish")
    destination = Path(target) if target is not None else published_path(warehouse)
    directory = destination.parent
    published_at = datetime.now(UTC)
    with _publish_lock(directory):
        _clean_temp_files(directory)
        temp = directory / f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}{TEMP_SUFFIX}"
        try:
            counts = _copy_marts(
                warehouse,
                temp,
                run_id=run_id,
                snapshot_date=snapshot_date,
                published_at=published_at,
                dbt_summary=dbt_summary,
            )
            with open(temp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(temp, destination)
            _fsync_dir(directory)
        except BaseException:
            temp.unlink(missing_ok=True)
            temp.with_name(temp.name + ".wal").unlink(missing_ok=True)
            raise
    log.info("published %d mart tables of run %s to %s", len(counts), run_id, destination)
    return Publication(destination, run_id, snapshot_date, published_at, counts)


def open_published(path: Path | str) -> duckdb.DuckDBPyConnection:
    """Open a published copy read-only; the caller closes it.

    The file is attached to a private in-memory database rather than opened with
    duckdb.connect(path): DuckDB caches instances by path within a process, and a cached instance
    would keep serving the replaced inode after a swap. Tables are reachable as marts.<name>.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no published marts at {path}: run a build and publish first")
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach {_literal(str(path))} as published (read_only)")
        con.execute("use published")
    except BaseException:
        con.close()
        raise
    return con


def _simulated(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any extraction run of the attached warehouse `src` talked to an emulator."""
    (known,) = con.execute(
        "select count(*) from duckdb_columns() where database_name = 'src' "
        "and schema_name = 'raw' and table_name = 'extract_runs' and column_name = 'simulated'"
    ).fetchone()
    if not known:
        return False
    (simulated,) = con.execute(
        "select coalesce(bool_or(simulated), false) from src.raw.extract_runs"
    ).fetchone()
    return bool(simulated)


def is_simulated(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether an open published copy holds data from the networks' emulators; copies made
    before the flag existed say no."""
    (known,) = con.execute(
        f"select count(*) from duckdb_columns() where schema_name = '{META_SCHEMA}' "
        "and table_name = 'publication' and column_name = 'simulated'"
    ).fetchone()
    if not known:
        return False
    query = f"select bool_or(simulated) from {META_SCHEMA}.publication"
    (simulated,) = con.execute(query).fetchone()
    return bool(simulated)


def read_publication(con: duckdb.DuckDBPyConnection) -> dict:
    """The publication record of an open published copy, with row counts as a dict."""
    row = con.execute(
        f"select run_id, snapshot_date, published_at, dbt_summary, row_counts "
        f"from {META_SCHEMA}.publication"
    ).fetchone()
    if row is None:
        raise PublishError("published copy has an empty meta.publication")
    run_id, snapshot, published_at, summary, counts = row
    return {
        "run_id": run_id,
        "snapshot_date": snapshot,
        "published_at": published_at,
        "dbt_summary": summary,
        "row_counts": json.loads(counts),
    }


def publish_after_build(
    build: dict | None, warehouse: Path | str, *, run_id: str, snapshot_date: date
) -> dict:
    """The DAG step after build_marts: publish only a build that ran, say why not otherwise.

    `build` is build_marts' return value ({"summary": ...}, or {"summary": None} with "held"
    or "failed" saying why); a held or failed build leaves the previous publication in place.
    Returns JSON-able facts.
    """
    if not build or not build.get("summary"):
        build = build or {}
        reason = build.get("held") or build.get("failed") or "marts were not rebuilt"
        log.warning("publication kept at the previous run: %s", reason)
        return {"published": False, "reason": reason}
    pub = publish_marts(
        warehouse, run_id=run_id, snapshot_date=snapshot_date, dbt_summary=build["summary"]
    )
    return {
        "published": True,
        "path": str(pub.path),
        "run_id": run_id,
        "snapshot_date": snapshot_date.isoformat(),
        "tables": len(pub.row_counts),
        "rows": sum(pub.row_counts.values()),
    }
