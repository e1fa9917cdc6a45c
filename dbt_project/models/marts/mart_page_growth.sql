{#-
    Growth per page and period (day, ISO week, calendar month). Each period is measured from
    members_on(period_start - 1 day) to members_on(period_end), so consecutive periods chain.
-#}
with page_days as (
    select * from {{ ref('int_page_days_filled') }}
),

calendar_days as (
    select * from {{ ref('int_calendar_days') }}
),

page_periods as (
    select distinct
        page_days.network,
        page_days.page_ref,
        'day' as period_type,
        calendar_days.date_day as period_start,
        calendar_days.date_day as natural_end,
        calendar_days.last_snapshot_date
    from page_days
    inner join calendar_days on calendar_days.date_day = page_days.snapshot_date

    union all

    select distinct
        page_days.network,
        page_days.page_ref,
        'week' as period_type,
        calendar_days.week_start as period_start,
        calendar_days.week_end as natural_end,
        calendar_days.last_snapshot_date
    from page_days
    inner join calendar_days on calendar_days.date_day = page_days.snapshot_date

    union all

    select distinct
        page_days.network,
        page_days.page_ref,
        'month' as period_type,
        calendar_days.month_start as period_start,
        calendar_days.month_end as natural_end,
        calendar_days.last_snapshot_date
    from page_days
    inner join calendar_days on calendar_days.date_day = page_days.snapshot_date
),

bounded_periods as (
    select
        network,
        page_ref,
        period_type,
        period_start,
        case
            when natural_end > last_snapshot_date then last_snapshot_date
            else natural_end
        end as period_end,
        natural_end <= last_snapshot_date as is_complete,
        {{ add_days('period_start', -1) }} as base_date
    from page_periods
),

measured_periods as (
    select
        bounded_periods.*,
        start_day.members_count as members_start,
        end_day.members_count as members_end
    from bounded_periods
    left join page_days as start_day
        on start_day.network = bounded_periods.network
        and start_day.page_ref = bounded_periods.page_ref
        and start_day.snapshot_date = bounded_periods.base_date
    left join page_days as end_day
        on end_day.network = bounded_periods.network
        and end_day.page_ref = bounded_periods.page_ref
        and end_day.snapshot_date = bounded_periods.period_end
)

select
    network,
    page_ref,
    period_type,
    period_start,
    period_end,
    is_complete,
    base_date,
    members_start,
    members_end,
    {{ growth_measures('members_start', 'members_end') }},
    members_start is not null as start_known,
    members_end is not null as end_known
from measured_periods
