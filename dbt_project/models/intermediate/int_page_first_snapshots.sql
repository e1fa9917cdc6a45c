{#-
    Each page's first snapshot date in raw (any status, registered or not): one row per network
    and page. int_page_days_filled starts a page's days there; grouping all of raw per page for
    it on every build read 146 M rows at federal size.

    Incremental (delete+insert by page): raw rows are only ever added (a rerun reloads its day),
    so a page's first day can only move earlier, and only through rows the last build did not
    see: rows loaded after its high-water mark (loaded_through: a new day, a rerun, imported
    history) or of days after the last day it saw (seen_through: a guard, as such rows are
    normally also loaded after the mark). The pages of those rows are
    rewritten with the earlier of their new rows' first day and the one kept. first_changed_at
    is when the first day last changed (the build's start): int_page_days_filled compares it
    with its own built_at to find the pages whose days it must redo.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['network', 'page_ref'],
        on_schema_change='fail',
    )
}}
with snapshots as not materialized (
    select network, page_ref, snapshot_date, loaded_at
    from {{ ref('stg_raw__page_snapshots') }}
),

{% if is_incremental() %}
high_water as (
    select max(loaded_through) as loaded_through, max(seen_through) as seen_through
    from {{ this }}
),

{#- each mark a scalar compared alone, so that DuckDB skips the row groups of raw's older loads
    and days (a condition joined from high_water read all of raw); a row matching both is
    read twice, which neither the min() nor the max() below minds -#}
new_rows as (
    select snapshots.*
    from snapshots
    where snapshots.loaded_at > (
        select coalesce(loaded_through, cast('1900-01-01' as timestamp)) from high_water
    )

    union all

    select snapshots.*
    from snapshots
    where snapshots.snapshot_date > (
        select coalesce(seen_through, cast('1900-01-01' as date)) from high_water
    )
),
{% else %}
new_rows as (
    select * from snapshots
),
{% endif %}

new_firsts as (
    select network, page_ref, min(snapshot_date) as first_snapshot_date
    from new_rows
    group by network, page_ref
),

{% if is_incremental() %}
page_firsts as (
    select
        new_firsts.network,
        new_firsts.page_ref,
        case
            when kept.first_snapshot_date <= new_firsts.first_snapshot_date
                then kept.first_snapshot_date
            else new_firsts.first_snapshot_date
        end as first_snapshot_date,
        case
            when kept.first_snapshot_date <= new_firsts.first_snapshot_date
                then kept.first_changed_at
            else {{ build_started_at() }}
        end as first_changed_at
    from new_firsts
    left join {{ this }} as kept
        on kept.network = new_firsts.network
        and kept.page_ref = new_firsts.page_ref
),

-- the high-water marks only grow, also when the new rows are older than the kept mark
-- (greatest skips a NULL on DuckDB and Postgres alike)
marks as (
    select
        greatest(high_water.loaded_through, new_marks.loaded_through) as loaded_through,
        greatest(high_water.seen_through, new_marks.seen_through) as seen_through
    from high_water
    cross join (
        select max(loaded_at) as loaded_through, max(snapshot_date) as seen_through
        from new_rows
    ) as new_marks
),
{% else %}
page_firsts as (
    select
        network,
        page_ref,
        first_snapshot_date,
        {{ build_started_at() }} as first_changed_at
    from new_firsts
),

marks as (
    select max(loaded_at) as loaded_through, max(snapshot_date) as seen_through
    from new_rows
),
{% endif %}

page_first_snapshots as (
    select
        page_firsts.network,
        page_firsts.page_ref,
        page_firsts.first_snapshot_date,
        page_firsts.first_changed_at,
        marks.loaded_through,
        marks.seen_through,
        {{ build_started_at() }} as built_at
    from page_firsts
    cross join marks
)

select * from page_first_snapshots
