{#-
    Totals per region, network and calendar month, with month-over-month change; network 'all'
    sums every network (subscriptions, not people). The arithmetic is monthly_totals, shared
    with mart_organization_growth.
    Incremental (delete+insert of whole months, months_to_build): a build rewrites the months
    from the first one mart_page_growth or the registry changed, to the newest.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['month_start'],
        on_schema_change='fail',
    )
}}

with page_growth as not materialized (
    select * from {{ ref('mart_page_growth') }}
    where period_type = 'month'
),

registry as (
    select * from {{ ref('int_registry_pages_resolved') }}
),

calendar_days as (
    select * from {{ ref('int_calendar_days') }}
),

months as (
    select distinct
        month_start,
        case when month_end > last_snapshot_date then last_snapshot_date else month_end end
            as month_end,
        month_end <= last_snapshot_date as is_complete
    from calendar_days
),

-- incrementally: the months from the first changed one on, and the month before it
months_to_build as (
    {{ months_to_build('months', 'page_growth', 'registry') }}
),

registry_seen as (
    {{ registry_seen_at('registry') }}
),

month_growth_built as (
    select page_growth.period_start as built_month_start,
        max(page_growth.built_at) as growth_built_at
    from page_growth
    inner join months_to_build
        on months_to_build.month_start = page_growth.period_start
    where months_to_build.is_rebuilt
    group by page_growth.period_start
),

registered_pages as (
    {{ registry_as_of('registry', 'months_to_build', 'month_end') }}
),

month_pages as (
    select
        months.month_start,
        months.month_end,
        months.is_complete,
        registered_pages.region_code,
        registered_pages.network,
        registered_pages.page_ref,
        page_growth.members_start,
        page_growth.members_end
    from months_to_build as months
    inner join registered_pages
        on registered_pages.registered_on = months.month_end
    left join page_growth
        on page_growth.network = registered_pages.network
        and page_growth.page_ref = registered_pages.page_ref
        and page_growth.period_start = months.month_start
),

region_months as (
    {{ monthly_totals('month_pages', ['region_code']) }}
)

select
    region_code,
    network,
    month_start,
    month_end,
    is_complete,
    pages_total,
    pages_known,
    pages_comparable,
    members_total,
    comparable_members_start,
    growth,
    growth_pct,
    prev_month_growth,
    growth_change,
    month_growth_built.growth_built_at,
    registry_seen.registry_seen_at,
    {{ build_started_at() }} as built_at
from region_months
left join month_growth_built
    on month_growth_built.built_month_start = region_months.month_start
cross join registry_seen
where region_months.month_start in (select month_start from months_to_build where is_rebuilt)
