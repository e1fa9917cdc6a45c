"""A fast synthetic federal warehouse: registry and daily snapshots written by DuckDB SQL.

Issue 8's transform benchmark needs ~146 M snapshot rows (200,000 pages x 2 years); a Python
loop or the emulator would take hours, so rows are generated inside DuckDB from hashes of
(page, day): deterministic for a seed, no state between days. The shape follows what the
pipeline stores (gospulse/raw/warehouse.py RAW_DDL): every registered page has a row every day, a
small share of days failed (status error, NULL count), a few pages deleted for good, counts
with a trend, weekly seasonality and noise. Mean size is set so 200,000 pages hold ~115 M
subscriptions, the federal figure.

    .venv/bin/python bench/synthetic_federal.py WAREHOUSE [--pages 200000] [--days 730]
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from gospulse.config.regions import REGIONS
from gospulse.raw.warehouse import RAW_DDL
from gospulse.registry.pages import SECTORS

END = date(2026, 10, 31)
MEAN_MEMBERS = 575  # 115 M subscriptions / 200,000 pages
DAYS_PER_INSERT = 30  # bounds DuckDB's memory per statement


def network_of(i: str, all_vk: bool) -> str:
    """SQL for page i's network: 60 % VK, 15 % Telegram, 25 % OK, or all VK (audience bench)."""
    if all_vk:
        return "'vk'"
    return f"case when {i} % 20 < 12 then 'vk' when {i} % 20 < 15 then 'tg' else 'ok' end"


def write_registry(
    con: duckdb.DuckDBPyConnection, pages: int, seed: int, *, all_vk: bool = False
) -> None:
    """raw.registry_pages: pages spread over every region, 40 municipalities each, by id."""
    regions = sorted(REGIONS)
    con.execute("delete from raw.registry_pages")
    con.execute(
        f"""
        insert into raw.registry_pages by name
        select
            network,
            page_ref as registry_ref,
            'id' as ref_kind,
            page_ref as ref_value,
            'Синтетическая страница ' || i as title,
            'org-' || (i // 3) as organization,
            region_code,
            region_code || '-m' || (hash(i, {seed}, 'm') % 40) as municipality,
            sectors[1 + (hash(i, {seed}, 's') % {len(SECTORS)})::int] as sector,
            hash(i, {seed}, 'f') % 1000 < 65 as is_flagship,
            'synthetic_federal.csv' as source_file,
            (i + 2)::integer as source_line,
            now()::timestamp as loaded_at
        from (
            select
                i,
                {network_of("i", all_vk)} as network,
                (10000000 + i)::varchar as page_ref,
                regions[1 + (hash(i, {seed}, 'r') % {len(regions)})::int] as region_code,
                ? as sectors
            from (select ? as regions), range({pages}) as t(i)
        )
        """,
        [list(SECTORS), regions],
    )


def write_snapshots(
    con: duckdb.DuckDBPyConnection,
    pages: int,
    days: int,
    end: date,
    seed: int,
    *,
    all_vk: bool = False,
    append_days: int = 0,
    appended: int = 0,
) -> None:
    """raw.page_snapshots for every page and day in [end - days + 1, end].

    With append_days, the table is kept and only the append_days days after `end` + appended
    are added, continuing the same series (the transform benchmark's incremental day).
    """
    start = end - timedelta(days=days - 1)
    if append_days:
        day_range = range(days + appended, days + appended + append_days)
    else:
        con.execute("delete from raw.page_snapshots")
        day_range = range(0, days)
    for first in range(day_range.start, day_range.stop, DAYS_PER_INSERT):
        last = min(day_range.stop, first + DAYS_PER_INSERT)
        con.execute(
            f"""
            insert into raw.page_snapshots
            with pages as (
                select
                    i,
                    (10000000 + i)::varchar as page_ref,
                    {network_of("i", all_vk)} as network,
                    -- heavy-tailed sizes: exp of a uniform, scaled to the mean
                    exp(7.0 * ((hash(i, {seed}, 'b') % 1000000) / 1000000.0))
                        * {MEAN_MEMBERS} / 157.0 as base,
                    ((hash(i, {seed}, 't') % 2001)::bigint - 600) / 1000000.0 as trend,
                    -- 0.5 % of pages are deleted on some day and stay so
                    case when hash(i, {seed}, 'd') % 200 = 0
                        then (hash(i, {seed}, 'dd') % {days})::int end as deleted_day
                from range({pages}) as t(i)
            ),
            days as (select d from range({first}, {last}) as t(d))
            select
                network,
                page_ref,
                (date '{start}' + d::int) as snapshot_date,
                case when status = 'ok' then greatest(0, round(
                    base * (1 + trend * d)
                    * (1 + 0.002 * ((dayofweek(date '{start}' + d::int) + 3) % 7 - 3) / 3)
                    + ((hash(i, d, {seed}) % 1001)::bigint - 500) / 500.0 * sqrt(base) * 0.3
                ))::bigint end as members_count,
                status,
                'p' || page_ref as screen_name,
                'Синтетическая страница ' || i as page_name,
                true as is_verified,
                case when status = 'error' then 'synthetic: request failed' end as error,
                'synthetic' as source,
                network || '-' || (date '{start}' + d::int) as run_id,
                now()::timestamp as loaded_at
            from (
                select
                    *,
                    case
                        when deleted_day is not null and d >= deleted_day then 'deleted'
                        when hash(i, d, {seed}, 'e') % 1000 < 2 then 'error'
                        else 'ok'
                    end as status
                from pages, days
            )
            """
        )


def write_federal_raw(
    warehouse: Path, *, pages: int = 200_000, days: int = 730, end: date = END, seed: int = 8
) -> dict:
    """Create (or replace) the raw schema's registry and snapshots; return counts and timings."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(RAW_DDL)
        t0 = time.perf_counter()
        write_registry(con, pages, seed)
        write_snapshots(con, pages, days, end, seed)
        con.execute("checkpoint")
        counts = raw_counts(con, end)
    finally:
        con.close()
    return {**counts, "seconds": time.perf_counter() - t0}


def raw_counts(con: duckdb.DuckDBPyConnection, end: date = END) -> dict:
    """Snapshot rows, and subscriptions on the last day, of a synthetic raw warehouse."""
    rows, subscriptions = con.execute(
        "select count(*), sum(members_count) filter (where snapshot_date = ?) "
        "from raw.page_snapshots",
        [end],
    ).fetchone()
    return {"rows": rows, "subscriptions_last_day": subscriptions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--pages", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=730)
    args = parser.parse_args()
    result = write_federal_raw(args.warehouse, pages=args.pages, days=args.days)
    print(
        f"{result['rows']:,} snapshot rows, {result['subscriptions_last_day']:,} subscriptions "
        f"on the last day, {result['seconds']:.0f} s"
    )


if __name__ == "__main__":
    main()
