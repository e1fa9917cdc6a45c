{#-
    Totals per region, network and calendar month, with month-over-month change; network 'all'
    sums every network (subscriptions, not people). The arithmetic is monthly_totals, shared
    with mart_organization_growth.
-#}
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

registered_pages as (
    {{ registry_as_of('registry', 'months', 'month_end') }}
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
    from months
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
    growth_change
from region_months
