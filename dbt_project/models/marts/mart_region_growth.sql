{#-
    Totals per region, network and calendar month, with month-over-month change. Growth is
    summed over comparable pages only (known at both the previous month end and this month end).
-#}
with page_growth as (
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
        page_growth.members_end,
        page_growth.members_start is not null
            and page_growth.members_end is not null as is_comparable
    from months
    inner join registered_pages
        on registered_pages.registered_on = months.month_end
    left join page_growth
        on page_growth.network = registered_pages.network
        and page_growth.page_ref = registered_pages.page_ref
        and page_growth.period_start = months.month_start
),

region_month_totals as (
    select
        region_code,
        network,
        month_start,
        month_end,
        is_complete,
        cast(count(*) as bigint) as pages_total,
        cast(sum(case when members_end is not null then 1 else 0 end) as bigint) as pages_known,
        cast(sum(case when is_comparable then 1 else 0 end) as bigint) as pages_comparable,
        cast(sum(members_end) as bigint) as members_total,
        cast(sum(case when is_comparable then members_start end) as bigint)
            as comparable_members_start,
        cast(sum(case when is_comparable then members_end end) as bigint)
            as comparable_members_end
    from month_pages
    group by region_code, network, month_start, month_end, is_complete
),

region_month_growth as (
    select
        region_month_totals.*,
        {{ growth_measures('comparable_members_start', 'comparable_members_end') }}
    from region_month_totals
),

with_previous_month as (
    select
        current_month.*,
        previous_month.growth as prev_month_growth,
        current_month.growth - previous_month.growth as growth_change
    from region_month_growth as current_month
    left join region_month_growth as previous_month
        on previous_month.region_code = current_month.region_code
        and previous_month.network = current_month.network
        and previous_month.month_start
            = cast({{ dbt.dateadd('month', -1, 'current_month.month_start') }} as date)
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
from with_previous_month
