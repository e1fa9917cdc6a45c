"""Import historical snapshots: network, page_ref, snapshot_date, members_count, status.

Past counts cannot be re-fetched from the networks, so imports are how history enters the warehouse.
The file is read by DuckDB's CSV reader (rows it cannot split into the header's columns are kept
aside as rejects) and checked row by row in SQL; each bad row is reported with its line and reason
and never stored, the good rows are stored in one transaction, replacing the same keys. Files come
as offices save them (gospulse.registry.office_files): UTF-8 or cp1251, `,` `;` or tab, Russian
headers, XLSX.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
from duckdb.sqltypes import VARCHAR

from gospulse.raw.warehouse import STATUSES, WriteResult, connect, merge_incoming
from gospulse.registry.office_files import (
    MAX_FIELD_BYTES,
    EngineCopy,
    TableFileError,
    canonical_header,
    engine_copy,
    scratch_dir,
)
from gospulse.registry.pages import (
    NETWORK_ALIASES,
    NETWORKS,
    BadReference,
    RowError,
    normalize_network,
    normalize_ref,
)

COLUMNS = ("network", "page_ref", "snapshot_date", "members_count", "status")
ALIASES = {
    "network": ("сеть", "соцсеть", "социальная сеть"),
    "page_ref": ("ссылка", "страница", "адрес", "id страницы"),
    "snapshot_date": ("дата", "дата среза", "date"),
    "members_count": ("подписчики", "число подписчиков", "количество подписчиков", "members"),
    "status": ("статус", "состояние"),
}
EARLIEST_DATE = date(2000, 1, 1)
# a line this long is refused whole; a shorter line with one field over MAX_FIELD_BYTES is
# refused by the field check, so either way it is one bad row and the reading goes on
MAX_LINE_BYTES = 1 << 20
BIGINT_MAX = 2**63 - 1
# bad rows located and listed one by one; beyond this they are only counted
MAX_LISTED = 1000
# statuses without a count: a count written beside them is dropped, as before
_NO_COUNT = ("deleted", "banned", "not_found", "error")
_REJECT_REASONS = {
    "TOO MANY COLUMNS": "more columns than the header's {n}",
    "MISSING COLUMNS": "fewer columns than the header's {n}",
    "LINE SIZE OVER MAXIMUM": f"line longer than {MAX_LINE_BYTES // 1024} KB",
    "UNQUOTED VALUE": "a quote inside an unquoted field",
    "INVALID UNICODE": "not valid text in the file's encoding",
}


@dataclass
class ImportResult:
    stored_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    bad_rows: int = 0
    written: WriteResult | None = None
    ignored_columns: list[str] = field(default_factory=list)


def import_history(
    path: Path,
    warehouse: Path,
    *,
    allow_unregistered: bool = False,
    today: date | None = None,
) -> ImportResult:
    """Check a history file row by row and store its good rows; bad rows are returned with
    their lines, never stored. Raises ValueError (naming the file) when the file as a whole
    cannot be read: missing, not a table, no usable header."""
    path = Path(path)
    latest = (today or date.today()) + timedelta(days=1)
    with scratch_dir() as tmp, connect(warehouse) as con:
        copy = engine_copy(path, Path(tmp))
        header = _read_header(path, copy)
        n = len(header.names)
        _read_into_src(con, copy, n)
        _resolve_refs(con, header)
        _register_networks(con)
        _register_pages(con)
        bad = _check_rows(con, header, allow_unregistered, latest)
        con.execute("drop table _src")  # _checked holds all that is read from here on
        rejects = con.execute(
            "select distinct line, error_type from _rejects order by line"
        ).fetchall()
        result = ImportResult(bad_rows=bad + len(rejects), ignored_columns=header.ignored)
        result.errors = _locate(path, copy, n, con, rejects)
        row = con.execute("select count(*) from _checked where reason is null").fetchone()
        assert row is not None
        result.stored_rows = row[0]
        result.written = _store(con)
    return result


def _read_header(path: Path, copy: EngineCopy):
    with open(copy.path, encoding="utf-8-sig", newline="") as fh:
        first = next(csv.reader(fh, delimiter=copy.separator), None)
    if not first:
        raise TableFileError(f"{path}: empty file, expected a header {','.join(COLUMNS)}")
    return canonical_header(
        path, first, ALIASES, COLUMNS, separator=copy.separator, encoding=copy.encoding
    )


def _read_into_src(con: duckdb.DuckDBPyConnection, copy: EngineCopy, n: int) -> None:
    # positional column names of our own: no text from the file becomes SQL
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n)) + "}"
    con.execute("drop table if exists _rejects; drop table if exists _reject_scans")
    # _src's rowid numbers the rows read (see _check_rows): the file's order must be kept
    con.execute("set preserve_insertion_order = true")
    try:
        con.execute(
            f"""
            create or replace temp table _src as
            select *
            from read_csv(
                $path, header = true, auto_detect = false, delim = $sep, quote = '"',
                escape = '"', columns = {columns}, strict_mode = true,
                max_line_size = {MAX_LINE_BYTES}, store_rejects = true,
                rejects_table = '_rejects', rejects_scan = '_reject_scans'
            )
            """,
            {"path": str(copy.path), "sep": copy.separator},
        )
    except duckdb.Error as exc:
        raise TableFileError(f"{copy.path}: cannot be read as CSV ({type(exc).__name__})") from None


def _resolve_refs(con: duckdb.DuckDBPyConnection, header) -> None:
    """Each distinct (network, reference) written, normalised once in Python (URLs, names)."""
    net, ref = header.position("network"), header.position("page_ref")
    resolved = {
        (n, v): page_ref
        for n, v, page_ref in con.execute(
            "select network, ref_value, page_ref from raw.page_refs "
            "where ref_kind = 'screen_name' and page_ref is not null"
        ).fetchall()
    }

    def answer(written_net: str, written_ref: str) -> str:
        """'=<id>' for a page, '!<reason>' for a bad reference, '' for an unknown network."""
        network = normalize_network(written_net)
        if network not in NETWORKS:
            return ""
        try:
            parsed = normalize_ref(network, written_ref)
        except BadReference as exc:
            return f"!malformed page reference: {exc}"
        if parsed.kind == "id":
            return "=" + parsed.value
        if (network, parsed.value) in resolved:
            return "=" + resolved[(network, parsed.value)]
        return (
            f"!page {_shown(written_ref)} is not resolved to an id yet: "
            "use the numeric id or run an extract first"
        )

    # a Python function over the distinct references only: a page's rows share one call
    con.create_function(
        "_gospulse_page_ref", answer, [VARCHAR, VARCHAR], VARCHAR, side_effects=False
    )
    try:
        con.execute(
            f"""
            create or replace temp table _refs as
            select written_network, written_ref,
                   case when answer like '=%' then answer[2:] end as page_ref,
                   case when answer like '!%' then answer[2:] end as reason
            from (
                select written_network, written_ref,
                       _gospulse_page_ref(written_network, written_ref) as answer
                from (select distinct coalesce(c{net}, '') as written_network,
                                      coalesce(c{ref}, '') as written_ref
                      from _src)
            )
            """
        )
    finally:
        con.remove_function("_gospulse_page_ref")


def _register_networks(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create or replace temp table _networks (written varchar, network varchar)")
    names = [(n, n) for n in NETWORKS] + list(NETWORK_ALIASES.items())
    con.executemany("insert into _networks values (?, ?)", names)


def _register_pages(con: duckdb.DuckDBPyConnection) -> None:
    """The pages of the registry loaded into the warehouse, by stable id."""
    con.execute(
        """
        create or replace temp table _registered as
        select network, ref_value as page_ref from raw.registry_pages where ref_kind = 'id'
        union
        select g.network, r.page_ref
        from raw.registry_pages g
        join raw.page_refs r
          on r.network = g.network and r.ref_kind = g.ref_kind and r.ref_value = g.ref_value
        where g.ref_kind = 'screen_name' and r.page_ref is not null
        """
    )


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


_MESSAGES = {
    "too_long": f"a field longer than {MAX_FIELD_BYTES // 1024} KB",
    "network": f"unknown network '{{}}' (expected one of {', '.join(NETWORKS)})",
    "date": "bad snapshot_date '{}' (use YYYY-MM-DD or DD.MM.YYYY)",
    "date_range": "snapshot_date {} outside {}..{}",
    "status": f"unknown status '{{}}' (expected one of {', '.join(STATUSES)})",
    "count": f"members_count must be a whole number from 0 to {BIGINT_MAX}, got '{{}}'",
    "unregistered": "page {} {} is in no registry loaded into the warehouse (load the "
    "registry first; a page it lists by screen name is known by id after an extract; or "
    "import with --allow-unregistered)",
}


def _check_rows(
    con: duckdb.DuckDBPyConnection, header, allow_unregistered: bool, latest: date
) -> int:
    """Fill _checked: every row read, typed, with why it is refused (NULL when it is not);
    returns how many are refused."""
    n = len(header.names)
    col = {name: f"c{header.position(name)}" for name in COLUMNS}
    too_long = " or ".join(f"strlen(coalesce(c{i}, '')) > $max_field" for i in range(n))
    con.execute(
        f"""
        create or replace temp table _checked as
        with typed as (
            select
                -- the row's place among the rows read: DuckDB keeps the file's order in
                -- _src (preserve_insertion_order), so a new table's rowid is that place; the
                -- reader keeps it in parallel, where `with ordinality` reads on one thread
                s.rowid + 1 as record,
                coalesce(s.{col["network"]}, '') as written_network,
                coalesce(s.{col["page_ref"]}, '') as written_ref,
                trim(coalesce(s.{col["snapshot_date"]}, '')) as written_date,
                -- thousands written with spaces, as Russian Excel shows them
                regexp_replace(
                    coalesce(s.{col["members_count"]}, ''), '[\\s\\x{{00a0}}\\x{{202f}}]', '', 'g'
                ) as written_count,
                lower(trim(coalesce(s.{col["status"]}, ''))) as status,
                ({too_long}) as too_long
            from _src s
        ),
        parsed as (
            select
                t.*,
                nw.network,
                r.page_ref,
                r.reason as ref_reason,
                coalesce(
                    try_strptime(t.written_date, '%Y-%m-%d'),
                    try_strptime(t.written_date, '%d.%m.%Y')
                )::date as snapshot_date,
                case when regexp_full_match(t.written_count, '[0-9]{{1,19}}')
                     then try_cast(t.written_count as bigint) end as members_count
            from typed t
            left join _networks nw on nw.written = lower(trim(t.written_network))
            left join _refs r
              on r.written_network = t.written_network and r.written_ref = t.written_ref
        ),
        judged as (
            select
                p.*,
                case when p.too_long then $too_long else concat_ws('; ',
                    case when p.network is null
                         then format($network, left(p.written_network, 40))
                         else p.ref_reason end,
                    case when p.snapshot_date is null
                         then format($date, left(p.written_date, 40))
                         when p.snapshot_date < $earliest or p.snapshot_date > $latest
                         then format($date_range, strftime(p.snapshot_date, '%Y-%m-%d'),
                                     strftime($earliest, '%Y-%m-%d'),
                                     strftime($latest, '%Y-%m-%d')) end,
                    case when p.status = '' then 'missing status'
                         when not list_contains($statuses, p.status)
                         then format($status, left(p.status, 40)) end,
                    case when p.written_count <> '' and p.members_count is null
                         then format($count, left(p.written_count, 40))
                         when p.status = 'ok' and p.written_count = ''
                         then 'status ok needs a members_count' end,
                    case when not $allow_unregistered and p.page_ref is not null
                              and not exists (
                                  select 1 from _registered g
                                  where g.network = p.network and g.page_ref = p.page_ref)
                         then format($unregistered, p.network, p.page_ref) end
                ) end as problems
            from parsed p
        )
        select
            record, network, page_ref, snapshot_date,
            case when list_contains($no_count, status) then null else members_count end
                as members_count,
            status,
            nullif(problems, '') as reason,
            null::bigint as first_record
        from judged
        """,
        {
            **_MESSAGES,
            "max_field": MAX_FIELD_BYTES,
            "earliest": EARLIEST_DATE,
            "latest": latest,
            "allow_unregistered": allow_unregistered,
            "statuses": list(STATUSES),
            "no_count": list(_NO_COUNT),
        },
    )
    # a key written twice: the later lines are refused, naming the first. The pages with a
    # day written twice are found by a bitmap of each page's days (a group per page, not per
    # row: checked dates lie between EARLIEST_DATE and latest); only their rows are grouped by
    # key. Grouped, not windowed, as a window would sort every row of the file
    con.execute(
        """
        create or replace temp table _doubled_pages as
        select network, page_ref
        from _checked where reason is null
        group by network, page_ref
        having count(*) > bit_count(
            bitstring_agg(date_diff('day', $earliest, snapshot_date), 0, $span)
        )
        """,
        {"earliest": EARLIEST_DATE, "span": (latest - EARLIEST_DATE).days},
    )
    con.execute(
        """
        create or replace temp table _doubled as
        select c.network, c.page_ref, c.snapshot_date, min(c.record) as first_record
        from _checked c
        semi join _doubled_pages p on p.network = c.network and p.page_ref = c.page_ref
        where c.reason is null
        group by c.network, c.page_ref, c.snapshot_date
        having count(*) > 1
        """
    )
    row = con.execute("select count(*) from _doubled").fetchone()
    assert row is not None
    if row[0]:
        con.execute(
            """
            update _checked set reason = 'duplicate', first_record = d.first_record
            from _doubled d
            where _checked.reason is null and _checked.network = d.network
              and _checked.page_ref = d.page_ref and _checked.snapshot_date = d.snapshot_date
              and _checked.record > d.first_record
            """
        )
    row = con.execute("select count(*) from _checked where reason is not null").fetchone()
    assert row is not None
    return row[0]


def _locate(
    path: Path,
    copy: EngineCopy,
    n_columns: int,
    con: duckdb.DuckDBPyConnection,
    rejects: list[tuple[int, str]],
) -> list[RowError]:
    """The bad rows (the first MAX_LISTED) with the file's line numbers.

    DuckDB numbers a rejected record by its place among the file's records (the header and
    blank lines included) and a read row by its place among the rows read; one pass of the
    csv module over the same text, which splits records the same way, turns both into the
    line each record starts on. Only files with bad rows pay for the pass.
    """
    bad = con.execute(
        "select record, reason, first_record from _checked where reason is not null "
        "order by record limit ?",
        [MAX_LISTED],
    ).fetchall()
    rejects = rejects[:MAX_LISTED]
    if not bad and not rejects:
        return []
    wanted_rows = {r for r, _, _ in bad} | {f for _, reason, f in bad if reason == "duplicate"}
    rejected = {record: kind for record, kind in rejects}
    row_line: dict[int, int] = {}
    record_line: dict[int, int] = {}
    with open(copy.path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=copy.separator)
        record, row, start = 0, 0, 1
        try:
            for values in reader:
                record += 1
                if record in rejected:
                    record_line[record] = start
                elif record > 1 and values:
                    row += 1
                    if row in wanted_rows:
                        row_line[row] = start
                if len(row_line) == len(wanted_rows) and len(record_line) == len(rejected):
                    break
                start = reader.line_num + 1
        except csv.Error:
            pass  # lines found so far stand; the rest are named by record below
    errors = [
        RowError(
            record_line.get(record, record),
            _REJECT_REASONS.get(kind, "cannot be split into the header's columns").format(
                n=n_columns
            ),
        )
        for record, kind in rejects
    ]
    for record, reason, first in bad:
        if reason == "duplicate":
            reason = f"duplicate of line {row_line.get(first, first)}"
        errors.append(RowError(row_line.get(record, record), reason))
    return sorted(errors, key=lambda e: e.line)


def _store(con: duckdb.DuckDBPyConnection) -> WriteResult:
    con.execute("begin transaction")
    try:
        # a view, not a copy of the good rows: a first load inserts straight from _checked.
        # A view takes no parameters; the load time is ours, written as a literal
        loaded_at = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
        con.execute(
            f"""
            create or replace temp view _incoming as
            select network, page_ref, snapshot_date, members_count, status,
                   null::varchar as screen_name, null::varchar as page_name,
                   null::boolean as is_verified, null::varchar as error,
                   'import' as source, null::varchar as run_id,
                   timestamp '{loaded_at}' as loaded_at
            from _checked where reason is null
            """
        )
        result = merge_incoming(con, keys_checked=True)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return result
