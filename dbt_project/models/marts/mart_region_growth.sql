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

{{ rebuilt_months_with_build_state('region_months', ['region_code'], 'months_to_build',
    'page_growth', 'registry') }}
