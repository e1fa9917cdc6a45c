"""Publish a read-only copy of the marts that BI tools and the API read while the pipeline writes.

The copy is built in a new file next to the target and moved onto it with os.replace, which is
atomic on POSIX: a reader opens either the previous complete copy or the new complete one, and a
reader that already holds the old file keeps its inode. The publisher never opens the published
file itself, so a reader's DuckDB lock can never block it.

A day's publication does not copy all history again. When the previous copy came from the same
warehouse, it is copied as a file and only what the build rewrote is replaced in it: for each
incremental mart, the keys (days, weeks, months) whose rows carry a `built_at` newer than the
one the previous copy recorded. A mart whose columns changed, a new mart, a small mart rebuilt
whole, and every FULL_COPY_EVERY-th publication are copied whole, so deleted rows never pile
up in the file and any drift heals.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from gospulse.config.task_results import BuildVerdict, PublishOutcome
from gospulse.serving.layout import published_path

log = logging.getLogger(__name__)

MARTS_SCHEMA = "marts"
META_SCHEMA = "meta"
TEMP_PREFIX = ".marts-"
TEMP_SUFFIX = ".duckdb.tmp"
LOCK_FILE = ".publish.lock"
BUILT_AT = "built_at"
# the unique_key of each incremental mart's dbt config (tests/test_publish_updates.py holds them
# equal):
# a build rewrites a key's rows whole, all with that build's built_at
INCREMENTAL_KEYS: dict[str, tuple[str, ...]] = {
    "mart_page_daily": ("snapshot_date",),
    "mart_page_growth": ("period_type", "period_start"),
    "mart_region_growth": ("month_start",),
    "mart_organization_growth": ("month_start",),
    "mart_audience": ("audience_date",),
    "mart_reach": ("audience_date",),
}
# publications in a row that update the previous copy before one copies every mart whole again
FULL_COPY_EVERY = 30


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
    # the marts updated in the previous copy by the keys the build rewrote; all others were
    # copied whole
    updated: tuple[str, ...] = ()


def is_build_state(column: str) -> bool:
    """Whether a mart column is build state: what an incremental model wrote for its own next
    build (`built_at`, `…_built_at`, `registry_seen_at`). It stays in the warehouse and never
    reaches a reader: the published copy, the API, Postgres and bundles leave it out."""
    return column == "built_at" or column.endswith("_built_at") or column == "registry_seen_at"


def public_columns(con: duckdb.DuckDBPyConnection, database: str, table: str) -> list[str]:
    """The columns of marts.<table> in `database` a reader gets, in table order."""
    return [column for column, _ in _column_types(con, database, table)]


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


def _copy_comments(con: duckdb.DuckDBPyConnection, src: str, name: str) -> None:
    """The descriptions of a mart and its columns (dbt's persist_docs) from the attached
    warehouse `src` onto its copy, so that BI tools reading the copy, or Postgres after it,
    show them."""
    table = f"{MARTS_SCHEMA}.{_quote(name)}"
    row = con.execute(
        "select comment from duckdb_tables() "
        "where database_name = ? and schema_name = ? and table_name = ? "
        "union all select comment from duckdb_views() "
        "where database_name = ? and schema_name = ? and view_name = ?",
        [src, MARTS_SCHEMA, name, src, MARTS_SCHEMA, name],
    ).fetchone()
    assert row is not None  # name is one of src's marts, a table or a view
    (comment,) = row
    if comment:
        con.execute(f"comment on table {table} is {_literal(comment)}")
    columns = con.execute(
        "select column_name, comment from duckdb_columns() "
        "where database_name = ? and schema_name = ? and table_name = ? "
        "and coalesce(comment, '') <> '' order by column_index",
        [src, MARTS_SCHEMA, name],
    ).fetchall()
    for column, text in columns:
        if is_build_state(column):
            continue
        con.execute(f"comment on column {table}.{_quote(column)} is {_literal(text)}")


def _column_types(con: duckdb.DuckDBPyConnection, database: str, table: str) -> list[tuple]:
    """The columns of marts.<table> in `database` a reader gets, with their types, in table
    order."""
    return [
        (column, data_type)
        for column, data_type in con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = ? "
            "and schema_name = ? and table_name = ? order by column_index",
            [database, MARTS_SCHEMA, table],
        ).fetchall()
        if not is_build_state(column)
    ]


def _has_column(
    con: duckdb.DuckDBPyConnection, database: str, schema: str, table: str, column: str
) -> bool:
    row = con.execute(
        "select count(*) from duckdb_columns() where database_name = ? and schema_name = ? "
        "and table_name = ? and column_name = ?",
        [database, schema, table, column],
    ).fetchone()
    assert row is not None
    (found,) = row
    return bool(found)


def _previous_state(
    con: duckdb.DuckDBPyConnection, warehouse: Path
) -> tuple[dict[str, datetime | None], int] | None:
    """What the copy open in `con` (the previous publication, copied as a file) recorded: each
    mart's newest built_at and how many publications in a row updated it. None when it cannot be
    updated: it came from another warehouse, predates these records, or is due a whole copy."""
    row = con.execute("select current_database()").fetchone()
    assert row is not None
    here = row[0]
    if not (
        _has_column(con, here, META_SCHEMA, "publication", "updates_in_a_row")
        and _has_column(con, here, META_SCHEMA, "published_tables", "built_through")
    ):
        return None
    row = con.execute(
        f"select source_warehouse, updates_in_a_row from {META_SCHEMA}.publication"
    ).fetchone()
    assert row is not None  # every publication writes its one row
    source, updates = row
    if source != str(warehouse) or updates + 1 >= FULL_COPY_EVERY:
        return None
    built = dict(
        con.execute(
            f"select table_name, built_through from {META_SCHEMA}.published_tables"
        ).fetchall()
    )
    return built, updates


def _newest_built_at(
    con: duckdb.DuckDBPyConnection, src: str, name: str, since: datetime | None = None
) -> datetime | None:
    """The newest built_at of src's marts.<name> (None when the mart has no such column); with
    `since`, read only the rows built after it (their row groups' min/max skip the rest), and
    `since` itself when there are none."""
    if not _has_column(con, src, MARTS_SCHEMA, name, BUILT_AT):
        return None
    table = f"{_quote(src)}.{MARTS_SCHEMA}.{_quote(name)}"
    if since is None:
        row = con.execute(f"select max({BUILT_AT}) from {table}").fetchone()
        assert row is not None
        return row[0]
    row = con.execute(
        f"select max({BUILT_AT}) from {table} where {BUILT_AT} > ?", [since]
    ).fetchone()
    assert row is not None
    (newest,) = row
    return newest or since


def _copy_whole(con: duckdb.DuckDBPyConnection, src: str, name: str) -> None:
    table = f"{MARTS_SCHEMA}.{_quote(name)}"
    columns = ", ".join(_quote(c) for c in public_columns(con, src, name))
    con.execute(f"create or replace table {table} as select {columns} from {_quote(src)}.{table}")


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"select count(*) from {table}").fetchone()
    assert row is not None
    return row[0]


def _update_rebuilt_keys(
    con: duckdb.DuckDBPyConnection,
    src: str,
    name: str,
    keys: tuple[str, ...],
    built_through: datetime,
) -> bool:
    """Replace in the copy's marts.<name> the keys whose rows src rewrote after built_through,
    and drop the keys src no longer holds. False when the row counts still differ after that
    (the copy is then not to be trusted for this mart)."""
    table = f"{MARTS_SCHEMA}.{_quote(name)}"
    columns = ", ".join(_quote(c) for c in public_columns(con, src, name))
    key_list = ", ".join(_quote(k) for k in keys)
    matches = " and ".join(f"old.{_quote(k)} = rebuilt.{_quote(k)}" for k in keys)
    con.execute(
        f"create or replace temp table rebuilt as select distinct {key_list} "
        f"from {_quote(src)}.{table} where {BUILT_AT} > ?",
        [built_through],
    )
    con.execute(f"delete from {table} as old using rebuilt where {matches}")
    con.execute(
        f"insert into {table} ({columns}) select {columns} from {_quote(src)}.{table} "
        f"where {BUILT_AT} > ?",
        [built_through],
    )
    source_rows = _count(con, f"{_quote(src)}.{table}")
    if _count(con, table) != source_rows:
        # keys a full refresh left out of src: gone from the copy too
        kept = " and ".join(f"old.{_quote(k)} = kept.{_quote(k)}" for k in keys)
        con.execute(
            f"delete from {table} as old where not exists (select 1 from "
            f"(select distinct {key_list} from {_quote(src)}.{table}) as kept where {kept})"
        )
    return _count(con, table) == source_rows


def _write_marts(
    con: duckdb.DuckDBPyConnection,
    src: str,
    tables: list[str],
    previous: dict[str, datetime | None],
) -> tuple[tuple[str, ...], dict[str, datetime | None]]:
    """Bring the copy's marts to those of the attached warehouse `src`: update the incremental
    marts the previous copy holds with the same columns, copy every other mart whole, drop the
    marts src no longer has. Returns the marts updated in place, and each mart's newest
    built_at (what the next publication updates from)."""
    row = con.execute("select current_database()").fetchone()
    assert row is not None
    here = row[0]
    held = {
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = ? and schema_name = ?",
            [here, MARTS_SCHEMA],
        ).fetchall()
    }
    updated, built = [], {}
    for name in tables:
        built_through = previous.get(name)
        keys = INCREMENTAL_KEYS.get(name)
        if (
            keys is not None
            and built_through is not None
            and name in held
            and _column_types(con, here, name) == _column_types(con, src, name)
            and _has_column(con, src, MARTS_SCHEMA, name, BUILT_AT)
        ):
            if _update_rebuilt_keys(con, src, name, keys, built_through):
                updated.append(name)
                built[name] = _newest_built_at(con, src, name, since=built_through)
                continue
            log.warning(
                "%s: the updated copy's rows differ from the warehouse's; copying it whole", name
            )
        _copy_whole(con, src, name)
        built[name] = _newest_built_at(con, src, name)
    for gone in sorted(held - set(tables)):
        con.execute(f"drop table {MARTS_SCHEMA}.{_quote(gone)}")
    return tuple(updated), built


def _attach_warehouse(con: duckdb.DuckDBPyConnection, warehouse: Path) -> str:
    """Attach the warehouse read-only under the catalog name dbt-duckdb built it under (DuckDB
    names a file's catalog after it): the marts dbt materialised as views name their tables
    with that catalog. Returns the name."""
    before = {
        name for (name,) in con.execute("select database_name from duckdb_databases()").fetchall()
    }
    try:
        con.execute(f"attach {_literal(str(warehouse))} (read_only)")
    except duckdb.Error as exc:
        raise PublishError(f"cannot attach {warehouse} to publish it: {exc}") from exc
    [src] = {
        name for (name,) in con.execute("select database_name from duckdb_databases()").fetchall()
    } - before
    if src in (MARTS_SCHEMA, META_SCHEMA):
        raise PublishError(
            f"{warehouse}: a warehouse file named {src!r} reads as the schema of that name; "
            "rename the file to publish it"
        )
    return src


def _marts_of(con: duckdb.DuckDBPyConnection, src: str) -> list[str]:
    """The marts of the attached warehouse: its tables and views in schema marts, by name."""
    return [
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = ? and schema_name = ? "
            "union all select view_name from duckdb_views() where database_name = ? "
            "and schema_name = ? and not internal order by 1",
            [src, MARTS_SCHEMA, src, MARTS_SCHEMA],
        ).fetchall()
    ]


def _copy_marts(
    warehouse: Path,
    temp: Path,
    *,
    previous_copy: Path | None,
    run_id: str,
    snapshot_date: date,
    published_at: datetime,
    dbt_summary: str | None,
) -> tuple[dict[str, int], tuple[str, ...]]:
    """Write the marts of the warehouse into `temp` with their publication record and the views
    computed when read over them: by updating a file copy of `previous_copy` where it allows,
    else from nothing. Returns each mart's row count and the marts updated in place."""
    state = None
    if previous_copy is not None and previous_copy.is_file():
        shutil.copyfile(previous_copy, temp)
        con = duckdb.connect(str(temp))
        try:
            state = _previous_state(con, warehouse)
        except BaseException:
            con.close()
            raise
        if state is None:
            con.close()
            temp.unlink()
            log.info("copying every mart whole: the previous copy cannot be updated")
    if state is None:
        con = duckdb.connect(str(temp))
    try:
        src = _attach_warehouse(con, warehouse)
        tables = _marts_of(con, src)
        if not tables:
            raise PublishError(
                f"{warehouse} has no tables in schema {MARTS_SCHEMA!r}: run dbt build first"
            )
        con.execute(f"create schema if not exists {MARTS_SCHEMA}")
        con.execute(f"create schema if not exists {META_SCHEMA}")
        row = con.execute("select current_database()").fetchone()
        assert row is not None
        here = row[0]
        for (view,) in con.execute(
            "select view_name from duckdb_views() where database_name = ? and schema_name = ?",
            [here, MARTS_SCHEMA],
        ).fetchall():
            con.execute(f"drop view {MARTS_SCHEMA}.{_quote(view)}")
        updated, built = _write_marts(con, src, tables, state[0] if state else {})
        counts: dict[str, int] = {}
        for name in tables:
            _copy_comments(con, src, name)
            counts[name] = _count(con, f"{MARTS_SCHEMA}.{_quote(name)}")
        simulated = _simulated(con, src)
        con.execute(f"detach {_quote(src)}")
        _create_read_views(con, set(tables))
        updates_in_a_row = state[1] + 1 if state and updated else 0
        con.execute(
            f"create or replace table {META_SCHEMA}.publication ("
            " run_id varchar not null, snapshot_date date not null,"
            " published_at timestamptz not null, source_warehouse varchar not null,"
            " dbt_summary varchar, row_counts json not null, simulated boolean not null,"
            " updates_in_a_row integer not null)"
        )
        con.execute(
            f"insert into {META_SCHEMA}.publication values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                snapshot_date,
                published_at,
                str(warehouse),
                dbt_summary,
                json.dumps(counts, sort_keys=True),
                simulated,
                updates_in_a_row,
            ],
        )
        con.execute(
            f"create or replace table {META_SCHEMA}.published_tables ("
            " table_name varchar primary key, row_count bigint not null,"
            " built_through timestamp)"
        )
        con.executemany(
            f"insert into {META_SCHEMA}.published_tables values (?, ?, ?)",
            [(name, counts[name], built[name]) for name in tables],
        )
        # everything into the main file: the published copy must be complete without a WAL
        con.execute("checkpoint")
    finally:
        con.close()
    wal = temp.with_name(temp.name + ".wal")
    if wal.exists():
        raise PublishError(f"{temp} still has a write-ahead log after checkpoint and close")
    return counts, updated


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
            counts, updated = _copy_marts(
                warehouse,
                temp,
                previous_copy=destination,
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
    log.info(
        "published %d mart tables of run %s to %s (%d updated in the previous copy)",
        len(counts),
        run_id,
        destination,
        len(updated),
    )
    return Publication(destination, run_id, snapshot_date, published_at, counts, updated)


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


def _simulated(con: duckdb.DuckDBPyConnection, src: str) -> bool:
    """Whether any extraction run of the attached warehouse `src` talked to an emulator."""
    row = con.execute(
        "select count(*) from duckdb_columns() where database_name = ? "
        "and schema_name = 'raw' and table_name = 'extract_runs' and column_name = 'simulated'",
        [src],
    ).fetchone()
    assert row is not None
    (known,) = row
    if not known:
        return False
    row = con.execute(
        f"select coalesce(bool_or(simulated), false) from {_quote(src)}.raw.extract_runs"
    ).fetchone()
    assert row is not None
    (simulated,) = row
    return bool(simulated)


def is_simulated(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether an open published copy holds data from the networks' emulators; copies made
    before the flag existed say no."""
    row = con.execute(
        f"select count(*) from duckdb_columns() where schema_name = '{META_SCHEMA}' "
        "and table_name = 'publication' and column_name = 'simulated'"
    ).fetchone()
    assert row is not None
    (known,) = row
    if not known:
        return False
    query = f"select bool_or(simulated) from {META_SCHEMA}.publication"
    row = con.execute(query).fetchone()
    assert row is not None
    (simulated,) = row
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
    build: BuildVerdict | None, warehouse: Path | str, *, run_id: str, snapshot_date: date
) -> PublishOutcome:
    """The DAG step after build_marts: publish only a build that ran, say why not otherwise.

    A held or failed build (or none: build_marts did not finish) leaves the previous
    publication in place.
    """
    if build is None or not build.built:
        reason = build.why_not_built if build else "marts were not rebuilt"
        log.warning("publication kept at the previous run: %s", reason)
        return PublishOutcome(published=False, reason=reason)
    pub = publish_marts(
        warehouse, run_id=run_id, snapshot_date=snapshot_date, dbt_summary=build.summary
    )
    return PublishOutcome(
        published=True,
        path=str(pub.path),
        run_id=run_id,
        snapshot_date=snapshot_date.isoformat(),
        tables=len(pub.row_counts),
        rows=sum(pub.row_counts.values()),
    )
