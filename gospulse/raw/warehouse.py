"""The DuckDB warehouse: raw schema DDL, connections and idempotent loaders.

Raw tables are the only thing Python writes; dbt reads them as sources. Every loader replaces
whole keys inside one transaction, so a rerun of a date leaves exactly one row per
(network, page_ref, snapshot_date).
"""

from __future__ import annotations

import base64
import csv
import fcntl
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from datetime import date, datetime
from pathlib import Path

import duckdb

from gospulse.config import settings

log = logging.getLogger(__name__)

STATUSES = ("ok", "deleted", "banned", "closed", "not_found", "renamed", "error")

RAW_DDL = """
create schema if not exists raw;

-- one row per (network, page_ref, snapshot_date); page_ref is the network's stable id.
-- Every write goes through merge_incoming, which refuses an incoming key twice and replaces
-- stored keys in one transaction; there is no PRIMARY KEY: keeping its index up costs more
-- than the load itself (history imports, reruns), and dbt's raw uniqueness test checks the
-- stored rows
create table if not exists raw.page_snapshots (
    network        varchar not null,
    page_ref       varchar not null,
    snapshot_date  date    not null,
    members_count  bigint,
    status         varchar not null,
    screen_name    varchar,
    page_name      varchar,
    is_verified    boolean,
    error          varchar,
    source         varchar not null,
    run_id         varchar,
    loaded_at      timestamp not null
);

-- how registry references (screen names, URLs) map to stable ids; resolved once, kept
create table if not exists raw.page_refs (
    network        varchar not null,
    ref_kind       varchar not null,
    ref_value      varchar not null,
    page_ref       varchar,
    status         varchar not null,
    resolved_at    timestamp not null,
    access_key     varchar,             -- what the network needs beside the id (Telegram)
    primary key (network, ref_kind, ref_value)
);
alter table raw.page_refs add column if not exists access_key varchar;

-- the registry as last loaded; dbt snapshots it into SCD2 history
create table if not exists raw.registry_pages (
    network        varchar not null,
    registry_ref   varchar not null,
    ref_kind       varchar not null,
    ref_value      varchar not null,
    title          varchar not null,
    organization   varchar,
    region_code    integer not null,
    municipality   varchar,
    sector         varchar not null,
    is_flagship    boolean not null,
    source_file    varchar not null,
    source_line    integer not null,
    loaded_at      timestamp not null,
    primary key (network, ref_kind, ref_value)
);
-- the page's territory as an OKTMO code, when the registry gives one
alter table raw.registry_pages add column if not exists oktmo varchar;

-- resident population per territory and year (gospulse population import); one region's rows
-- of one year are replaced together
create table if not exists raw.population (
    region_code    integer not null,
    oktmo          varchar not null,
    name           varchar not null,
    level          varchar not null,   -- region, municipality or settlement
    parent_oktmo   varchar,
    population     bigint  not null,
    year           integer not null,
    source_file    varchar not null,
    source_line    integer not null,
    loaded_at      timestamp not null,
    primary key (oktmo, year)
);

-- per-page member-list sketches (keyed hashes of IDs, never IDs); one row per page and date
create table if not exists raw.member_sketches (
    network         varchar not null,
    page_ref        varchar not null,
    snapshot_date   date    not null,
    status          varchar not null,   -- ok, hidden, over_budget, not_found, error
    members_count   bigint,             -- the list size VK reported while we read it
    members_read    bigint  not null,   -- IDs folded into the sketches
    hll_lg_k        integer,
    hll_sketch      blob,
    theta_lg_k      integer,
    theta_sketch    blob,
    error           varchar,
    run_id          varchar,
    loaded_at       timestamp not null,
    primary key (network, page_ref, snapshot_date)
);

-- what a member list read with its members' fields says about them, counted, never per
-- person: deactivated accounts (a count, and their keyed hashes in a theta sketch so that a
-- later read can tell which new members were deactivated since) and where members live
-- (cities of the page's region, elsewhere, none shown); one row per ok read with fields
create table if not exists raw.member_attributes (
    network                 varchar not null,
    page_ref                varchar not null,
    snapshot_date           date    not null,
    region_code             integer not null,
    members_deactivated     bigint  not null,
    deactivated_theta_lg_k  integer not null,
    deactivated_theta       blob    not null,
    members_in_region       bigint  not null,
    members_elsewhere       bigint  not null,
    members_city_unknown    bigint  not null,   -- no city shown (deactivated accounts too)
    run_id                  varchar,
    loaded_at               timestamp not null,
    primary key (network, page_ref, snapshot_date)
);

-- the members of a read list per city of the page's region (raw.member_attributes' in_region)
create table if not exists raw.member_city_counts (
    network        varchar not null,
    page_ref       varchar not null,
    snapshot_date  date    not null,
    city_id        bigint  not null,
    members        bigint  not null,
    loaded_at      timestamp not null,
    primary key (network, page_ref, snapshot_date, city_id)
);

-- a region's cities as VK lists them, resolved once through VK's database methods and kept
create table if not exists raw.vk_region_cities (
    region_code    integer not null,
    vk_region_id   bigint  not null,
    region_title   varchar not null,
    city_id        bigint  not null,
    city_title     varchar not null,
    resolved_at    timestamp not null,
    primary key (region_code, city_id)
);

-- what each extraction run asked, got and retried
create table if not exists raw.extract_runs (
    run_id           varchar primary key,
    network          varchar not null,
    snapshot_date    date not null,
    started_at       timestamp not null,
    finished_at      timestamp,
    pages_requested  integer not null,
    pages_ok         integer not null,
    pages_unavailable integer not null,
    pages_failed     integer not null,
    requests         integer not null,
    retries          integer not null,
    rate_limited     integer not null,
    wait_seconds     double not null,
    status           varchar not null,
    message          varchar,
    pages_deferred   integer not null default 0
);
alter table raw.extract_runs add column if not exists pages_deferred integer default 0;
-- true when the run's extractor talked to an emulator on this machine (the demo, the tests)
alter table raw.extract_runs add column if not exists simulated boolean default false;

-- the one-time migrations (gospulse.raw.warehouse.MIGRATIONS) this warehouse has had
create table if not exists raw.warehouse_migrations (
    name     varchar primary key,
    done_at  timestamp not null
);
"""


@dataclass(frozen=True)
class SnapshotRow:
    """One page's state on one date, as stored in raw.page_snapshots."""

    network: str
    page_ref: str
    snapshot_date: date
    members_count: int | None
    status: str
    screen_name: str | None = None
    page_name: str | None = None
    is_verified: bool | None = None
    error: str | None = None
    source: str = "api"
    run_id: str | None = None


@dataclass(frozen=True)
class ExtractRun:
    """Counters of one extraction run, as stored in raw.extract_runs."""

    run_id: str
    network: str
    snapshot_date: date
    started_at: datetime
    finished_at: datetime | None
    pages_requested: int
    pages_ok: int
    pages_unavailable: int
    pages_failed: int
    requests: int
    retries: int
    rate_limited: int
    wait_seconds: float
    status: str
    message: str | None = None
    pages_deferred: int = 0
    simulated: bool = False


def warehouse_path() -> Path:
    """The warehouse file from GOSPULSE_WAREHOUSE, or the default under ./warehouse/."""
    return Path(settings.read("GOSPULSE_WAREHOUSE"))


@contextmanager
def connect(
    path: Path | str | None = None, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (creating the raw schema when writable) and close it afterwards."""
    path = Path(path) if path is not None else warehouse_path()
    if read_only and not path.exists():
        raise FileNotFoundError(
            f"warehouse {path} does not exist yet: run an extract or build first"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        if not read_only:
            con.execute(RAW_DDL)
            _migrate(con)
        yield con
    finally:
        con.close()


@contextmanager
def writer_lock(path: Path) -> Iterator[None]:
    """Hold `<warehouse>.lock` beside the warehouse file exclusively, waiting for it.

    For writers that no Airflow pool can order: a dbt model or test task that runs dbt for its
    own node (cosmos does that after a clear) waits in no pool, and two of them at once would
    both open the file. The lock is advisory and per host, as the DuckDB file is.
    """
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _drop_snapshot_key(con: duckdb.DuckDBPyConnection) -> None:
    """Once, on a warehouse made before raw.page_snapshots lost its PRIMARY KEY: rebuild the
    table without it (DuckDB cannot drop a constraint), rows and types unchanged."""
    row = con.execute(
        "select count(*) from duckdb_constraints() where database_name = current_database() "
        "and schema_name = 'raw' and table_name = 'page_snapshots' "
        "and constraint_type = 'PRIMARY KEY'"
    ).fetchone()
    assert row is not None
    (keyed,) = row
    if not keyed:
        return
    log.info("raw.page_snapshots: rebuilding without its primary key index (once)")
    con.execute("begin transaction")
    try:
        con.execute("alter table raw.page_snapshots rename to page_snapshots_keyed")
        con.execute(RAW_DDL)
        con.execute(
            "insert into raw.page_snapshots select * from raw.page_snapshots_keyed "
            "order by snapshot_date, network, page_ref"
        )
        con.execute("drop table raw.page_snapshots_keyed")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _retire_stored_rankings(con: duckdb.DuckDBPyConnection) -> None:
    """Once, on a warehouse built before rankings were computed when read: drop the stored
    marts.mart_growth_ranking (the publisher now creates a view of that name) and the day rows
    of marts.mart_page_growth (a day's growth is read from mart_page_daily)."""
    tables = {
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() "
            "and schema_name = 'marts' "
            "and table_name in ('mart_growth_ranking', 'mart_page_growth')"
        ).fetchall()
    }
    if "mart_growth_ranking" in tables:
        log.info("marts.mart_growth_ranking: dropping the stored rankings (ranked when read now)")
        con.execute("drop table marts.mart_growth_ranking")
    if "mart_page_growth" in tables:
        # 'day' sorts before 'month' and 'week': row groups without one are skipped by their
        # min/max, so this costs next to nothing once the rows are gone
        held = con.execute(
            "select 1 from marts.mart_page_growth where period_type = 'day' limit 1"
        ).fetchone()
        if held:
            log.info("marts.mart_page_growth: deleting its day rows (weeks and months only)")
            con.execute("delete from marts.mart_page_growth where period_type = 'day'")


def _retire_median_change_scores(con: duckdb.DuckDBPyConnection) -> None:
    """Once, on a warehouse built before the change score's scale was a capped mean absolute
    deviation (its column `mad` then): drop intermediate.int_dq_page_days, so that the next
    build scores all history with one detector, and the rules and incidents built from it
    follow (they rebuild the days it rewrote). Raw and the registry's history are untouched."""
    row = con.execute(
        "select count(*) from duckdb_columns() where database_name = current_database() "
        "and schema_name = 'intermediate' and table_name = 'int_dq_page_days' "
        "and column_name = 'mad'"
    ).fetchone()
    assert row is not None
    (held,) = row
    if held:
        log.info(
            "intermediate.int_dq_page_days: dropping the change scores of the earlier detector "
            "(the next build scores all history again)"
        )
        con.execute("drop table intermediate.int_dq_page_days")


def _territories_in_registry_history(con: duckdb.DuckDBPyConnection) -> None:
    """Once, on a warehouse built before pages had territories: give the registry's history
    (the dbt snapshot) the oktmo column the snapshot now compares, and drop
    intermediate.int_audience_page_dates, which lacks the territory columns, so that the next
    build recomputes every audience date with them (the models after it follow the dates it
    rewrote). Raw, the registry's versions and the member-list sketches are untouched."""
    tables = {
        (schema, name)
        for schema, name in con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = current_database() and ("
            "(schema_name = 'snapshots' and table_name = 'snap_registry_pages') "
            "or (schema_name = 'intermediate' and table_name = 'int_audience_page_dates'))"
        ).fetchall()
    }
    if ("snapshots", "snap_registry_pages") in tables:
        con.execute(
            "alter table snapshots.snap_registry_pages add column if not exists oktmo varchar"
        )
    if ("intermediate", "int_audience_page_dates") in tables:
        row = con.execute(
            "select count(*) from duckdb_columns() where database_name = current_database() "
            "and schema_name = 'intermediate' and table_name = 'int_audience_page_dates' "
            "and column_name = 'municipality_oktmo'"
        ).fetchone()
        assert row is not None
        (has_territory,) = row
        if not has_territory:
            log.info(
                "intermediate.int_audience_page_dates: dropping it to add territories "
                "(the next build recomputes every audience date)"
            )
            con.execute("drop table intermediate.int_audience_page_dates")


def _page_days_without_registry_copies(con: duckdb.DuckDBPyConnection) -> None:
    """Once, on a warehouse built when every page day carried its registry title and reference:
    drop those two columns from intermediate.int_dq_page_days (the signals now take them from
    the registry for the days a rule fires). Every other column and row stays as built, so the
    next build goes on incrementally; dbt would otherwise stop on the changed schema."""
    found = {
        column
        for (column,) in con.execute(
            "select column_name from duckdb_columns() where database_name = current_database() "
            "and schema_name = 'intermediate' and table_name = 'int_dq_page_days' "
            "and column_name in ('title', 'registry_ref')"
        ).fetchall()
    }
    for column in sorted(found):
        log.info(
            "intermediate.int_dq_page_days: dropping column %s (read from the registry)", column
        )
        con.execute(f"alter table intermediate.int_dq_page_days drop column {column}")


# one-time changes to a warehouse made by an earlier release, by name, in the order they run;
# a name is never reused, and a new migration goes at the end
MIGRATIONS = (
    ("raw.page_snapshots without primary key", _drop_snapshot_key),
    ("rankings computed when read", _retire_stored_rankings),
    ("change scores by capped mean deviation", _retire_median_change_scores),
    ("territories in the registry's history", _territories_in_registry_history),
    ("page days without registry copies", _page_days_without_registry_copies),
)


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Run each migration this warehouse has not had, and record it: every open after the
    first reads one small table instead of inspecting the catalog for each migration. A new
    warehouse runs them too (each finds nothing to change)."""
    done = {name for (name,) in con.execute("select name from raw.warehouse_migrations").fetchall()}
    for name, migration in MIGRATIONS:
        if name not in done:
            migration(con)
            con.execute(
                "insert into raw.warehouse_migrations values (?, current_timestamp)", [name]
            )


@dataclass(frozen=True)
class WriteResult:
    """How many rows a load wrote, and how many failed fetches it did not let replace good rows."""

    written: int
    kept_existing: int


_NULL = "\\N"


def _csv_cell(value: object) -> object:
    if value is None:
        return _NULL
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def bulk_insert(
    con: duckdb.DuckDBPyConnection, table: str, rows: Iterable[Sequence[object]]
) -> int:
    """Insert rows (in the table's column order) through a temporary CSV file.

    DuckDB's executemany converts Python values one by one and probes for optional modules on
    each, which costs seconds for a few thousand rows; a CSV read is a single vectorised scan.
    BLOB columns travel through the CSV as base64 and are decoded by DuckDB.
    """
    columns = [(name, typ.upper()) for name, typ, *_ in con.execute(f"describe {table}").fetchall()]
    fd, path = tempfile.mkstemp(prefix="gospulse-", suffix=".csv")
    written = 0
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            for row in rows:
                if len(row) != len(columns):
                    raise ValueError(f"{table}: row of {len(row)} values, {len(columns)} columns")
                out.writerow([_csv_cell(v) for v in row])
                written += 1
        if written:
            types = ", ".join(
                f"'{name}': '{'VARCHAR' if typ == 'BLOB' else typ}'" for name, typ in columns
            )
            select = ", ".join(
                f"from_base64({name})" if typ == "BLOB" else name for name, typ in columns
            )
            con.execute(
                f"insert into {table} select {select} from read_csv(?, header = false, "
                f"nullstr = '{_NULL}', quote = '\"', escape = '\"', columns = {{{types}}})",
                [path],
            )
    finally:
        os.unlink(path)
    return written


def replace_snapshots(
    con: duckdb.DuckDBPyConnection,
    rows: Sequence[SnapshotRow],
    *,
    replace_dates: Iterable[date] = (),
) -> WriteResult:
    """Write snapshot rows in one transaction, replacing the same keys.

    With replace_dates, the (network, date) partitions of the rows' networks are cleared of pages
    not in `rows`, so a rerun also drops pages no longer registered. A row with status 'error'
    never replaces a stored row that is not an error: a failed rerun loses nothing.
    """
    loaded_at = datetime.now()
    con.execute("begin transaction")
    try:
        con.execute(
            "create or replace temp table _incoming as select * from raw.page_snapshots limit 0"
        )
        bulk_insert(con, "_incoming", [(*astuple(r), loaded_at) for r in rows])
        result = merge_incoming(con, replace_dates=replace_dates)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return result


def merge_incoming(
    con: duckdb.DuckDBPyConnection,
    *,
    replace_dates: Iterable[date] = (),
    keys_checked: bool = False,
) -> WriteResult:
    """Merge the temp table (or view) `_incoming` (raw.page_snapshots' columns) into
    raw.page_snapshots, inside the caller's transaction, with replace_snapshots' rules; drops
    `_incoming`.

    A key twice in `_incoming` is a ValueError, unless the caller already refused such rows
    (keys_checked: the history import does, naming their lines)."""
    if not keys_checked:
        doubled = con.execute(
            "select network, page_ref, snapshot_date from _incoming "
            "group by all having count(*) > 1 limit 3"
        ).fetchall()
        if doubled:
            raise ValueError(f"rows to store hold a page's day more than once, e.g. {doubled}")
    replace_dates = sorted(set(replace_dates))
    networks = (
        [n for (n,) in con.execute("select distinct network from _incoming order by 1").fetchall()]
        if replace_dates
        else []
    )
    for d in replace_dates:
        for net in networks:
            con.execute(
                """
                delete from raw.page_snapshots s
                where s.network = ? and s.snapshot_date = ?
                  and not exists (select 1 from _incoming i
                                  where i.network = s.network and i.page_ref = s.page_ref
                                    and i.snapshot_date = s.snapshot_date)
                """,
                [net, d],
            )
    # a first load (a history import into an empty range) has no stored row to keep or
    # replace: the two joins of every incoming row against raw are skipped
    row = con.execute(
        """
        select exists (
            select 1 from raw.page_snapshots s, (
                select min(snapshot_date) as first, max(snapshot_date) as last from _incoming
            ) i
            where s.snapshot_date between i.first and i.last
        )
        """
    ).fetchone()
    assert row is not None
    (overlaps,) = row
    kept = 0
    if overlaps:
        _materialize_incoming(con)
        row = con.execute(
            """
            delete from _incoming i using raw.page_snapshots s
            where s.network = i.network and s.page_ref = i.page_ref
              and s.snapshot_date = i.snapshot_date
              and i.status = 'error' and s.status <> 'error'
            """
        ).fetchone()
        assert row is not None
        kept = row[0]
        con.execute(
            """
            delete from raw.page_snapshots s using _incoming i
            where s.network = i.network and s.page_ref = i.page_ref
              and s.snapshot_date = i.snapshot_date
            """
        )
    row = con.execute("insert into raw.page_snapshots select * from _incoming").fetchone()
    assert row is not None
    written = row[0]
    con.execute(f"drop {'view' if _incoming_is_view(con) else 'table'} _incoming")
    return WriteResult(written=written, kept_existing=kept)


def _incoming_is_view(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "select count(*) from duckdb_views() where view_name = '_incoming' and temporary"
    ).fetchone()
    assert row is not None
    (views,) = row
    return bool(views)


def _materialize_incoming(con: duckdb.DuckDBPyConnection) -> None:
    """`_incoming` as a table: the merge deletes from it the rows it keeps. A caller may hand
    over a view (the history import does, over its checked rows) and save a copy of every row
    when nothing stored overlaps."""
    if _incoming_is_view(con):
        con.execute("create temp table _incoming_rows as select * from _incoming")
        con.execute("drop view _incoming")
        con.execute("alter table _incoming_rows rename to _incoming")


def record_run(con: duckdb.DuckDBPyConnection, run: ExtractRun) -> None:
    """Insert or replace one extraction run's counters."""
    cols = [f.name for f in fields(ExtractRun)]
    con.execute(
        f"insert or replace into raw.extract_runs ({', '.join(cols)}) "
        f"values ({', '.join('?' for _ in cols)})",
        list(astuple(run)),
    )


def replace_member_sketches(
    con: duckdb.DuckDBPyConnection, rows: Sequence[Sequence[object]]
) -> int:
    """Write raw.member_sketches rows (its column order, blobs as bytes), replacing same keys.

    As with snapshots, an 'error' row does not replace a stored row that is not an error.
    """
    return replace_member_reads(con, rows)


def replace_member_reads(
    con: duckdb.DuckDBPyConnection,
    sketches: Sequence[Sequence[object]],
    attributes: Sequence[Sequence[object]] = (),
    city_counts: Sequence[Sequence[object]] = (),
) -> int:
    """Write member-list reads in one transaction: raw.member_sketches rows, and for the ok
    reads with fields their raw.member_attributes and raw.member_city_counts rows (each in its
    table's column order without loaded_at). A key whose sketch row is replaced loses its
    earlier attributes; an 'error' row replaces nothing that is not an error."""
    if not sketches:
        return 0
    loaded_at = datetime.now()
    rows = sketches
    con.execute("begin transaction")
    try:
        con.execute(
            "create or replace temp table _sketches as select * from raw.member_sketches limit 0"
        )
        bulk_insert(con, "_sketches", [(*row, loaded_at) for row in rows])
        # a failed re-read never replaces a list already read that day
        con.execute(
            """
            delete from _sketches i using raw.member_sketches s
            where s.network = i.network and s.page_ref = i.page_ref
              and s.snapshot_date = i.snapshot_date and i.status = 'error' and s.status <> 'error'
            """
        )
        con.execute(
            """
            delete from raw.member_sketches s using _sketches i
            where s.network = i.network and s.page_ref = i.page_ref
              and s.snapshot_date = i.snapshot_date
            """
        )
        con.execute("insert into raw.member_sketches select * from _sketches")
        for table in ("member_attributes", "member_city_counts"):
            con.execute(
                f"delete from raw.{table} s using _sketches i where s.network = i.network "
                "and s.page_ref = i.page_ref and s.snapshot_date = i.snapshot_date"
            )
        if attributes:
            bulk_insert(con, "raw.member_attributes", [(*r, loaded_at) for r in attributes])
        if city_counts:
            bulk_insert(con, "raw.member_city_counts", [(*r, loaded_at) for r in city_counts])
        con.execute("drop table _sketches")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return len(rows)
