{#-
    Per region, network and day, what the region-level rules compare: pages registered, pages
    readable (not known to be deleted/banned/closed/not found), readable pages with no fresh ok
    snapshot that day, and subscriptions of the pages known on both this day and the day
    before. network 'all' sums every network, only for regions with more than one network that
    day (otherwise it would repeat the single network's rows).

    Incremental: a day's rows depend only on that day's int_dq_page_days rows, so a build
    recomputes exactly the days int_dq_page_days rewrote since the build this model last read
    (built_at newer than the page_days_built_at kept here) and replaces them whole (strategy
    replace_days: a day that lost every region, e.g. its pages unregistered, is cleared by its
    marker row, region_code NULL).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_days',
        unique_key='snapshot_date',
        day_marker_column='region_code',
        on_schema_change='fail',
    )
}}
{%- set broken = dq_setting('status_change', 'statuses') -%}
with rebuilt_page_days as not materialized (
    select *
    from {{ ref('int_dq_page_days') }}
    {%- if is_incremental() %}
    where built_at > (
        select coalesce(max(page_days_built_at), cast('1900-01-01' as timestamp)) as high_water
        from {{ this }}
    )
    {%- endif %}
),

page_days as (
    select
        region_code,
        network,
        snapshot_date,
        is_fresh,
        members_count,
        members_prev,
        effective_status not in {{ dq_string_list(broken) }} as is_readable,
        built_at
    from rebuilt_page_days
    where region_code is not null
),

-- each network's day first, then 'all' from those few rows: one pass over the page days, where
-- a copy of every page day under 'all' doubled what was grouped
network_days as (
    select
        region_code,
        network,
        snapshot_date,
        cast(count(*) as integer) as pages_registered,
        cast(sum(case when is_readable then 1 else 0 end) as integer) as pages_readable,
        cast(sum(case when is_readable and not is_fresh then 1 else 0 end) as integer)
            as pages_missing,
        cast(sum(case when members_count is not null and members_prev is not null
            then members_count end) as bigint) as members_comparable,
        cast(sum(case when members_count is not null and members_prev is not null
            then members_prev end) as bigint) as members_prev_comparable,
        max(built_at) as page_days_built_at
    from page_days
    group by region_code, network, snapshot_date
),

region_days as (
    select * from network_days

    union all

    select
        region_code,
        'all' as network,
        snapshot_date,
        cast(sum(pages_registered) as integer) as pages_registered,
        cast(sum(pages_readable) as integer) as pages_readable,
        cast(sum(pages_missing) as integer) as pages_missing,
        cast(sum(members_comparable) as bigint) as members_comparable,
        cast(sum(members_prev_comparable) as bigint) as members_prev_comparable,
        max(page_days_built_at) as page_days_built_at
    from network_days
    group by region_code, snapshot_date
    having count(*) > 1
)

select
    region_code,
    network,
    snapshot_date,
    pages_registered,
    pages_readable,
    pages_missing,
    members_comparable,
    members_prev_comparable,
    page_days_built_at
from region_days
{%- if is_incremental() %}

union all

-- one marker per recomputed day (not stored): the day is replaced even if no region is left
select null, null, snapshot_date, null, null, null, null, null, null
from (select distinct snapshot_date from rebuilt_page_days) as rebuilt_days
{%- endif %}
