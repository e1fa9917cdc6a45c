{#-
    For each page whose member list was read with fields, and each month: the read that
    opens the month (the latest at or before the day before it) and the one that closes it
    (the latest at or before its last day, or the latest snapshot date in a month still
    running), each at most audience_max_age_days old, and the page's latest read of all, which
    tells who was deactivated since. A month without both reads has no row.
-#}
{%- set max_age = var('audience_max_age_days') | int -%}
with reads as (
    select
        lists.network,
        lists.page_ref,
        lists.snapshot_date,
        lists.members_count,
        attributes.region_code,
        attributes.members_deactivated,
        attributes.members_in_region,
        attributes.members_elsewhere,
        attributes.members_city_unknown
    from {{ ref('stg_raw__member_sketches') }} as lists
    inner join {{ ref('stg_raw__member_attributes') }} as attributes
        on attributes.network = lists.network
        and attributes.page_ref = lists.page_ref
        and attributes.snapshot_date = lists.snapshot_date
    where lists.list_status = 'ok' and lists.theta_sketch is not null
),

months as (
    select distinct
        month_start,
        least(month_end, last_snapshot_date) as period_end,
        {{ add_days('month_start', -1) }} as base_day
    from {{ ref('int_calendar_days') }}
),

latest_reads as (
    select network, page_ref, max(snapshot_date) as read_latest_date
    from reads
    group by network, page_ref
),

page_months as (
    select latest_reads.*, months.*
    from latest_reads
    cross join months
),

opened as (
    select page_months.*, reads.snapshot_date as read_start_date
    from page_months
    asof inner join reads
        on reads.network = page_months.network
        and reads.page_ref = page_months.page_ref
        and reads.snapshot_date <= page_months.base_day
),

closed as (
    select opened.*, reads.snapshot_date as read_end_date
    from opened
    asof inner join reads
        on reads.network = opened.network
        and reads.page_ref = opened.page_ref
        and reads.snapshot_date <= opened.period_end
)

select
    closed.network,
    closed.page_ref,
    closed.month_start as period_start,
    closed.period_end,
    closed.read_start_date,
    closed.read_end_date,
    closed.read_latest_date,
    read_end.region_code,
    read_start.members_count as members_start,
    read_end.members_count as members_end,
    read_start.members_in_region as in_region_start,
    read_end.members_in_region as in_region_end,
    read_start.members_elsewhere as elsewhere_start,
    read_end.members_elsewhere as elsewhere_end,
    read_end.members_city_unknown as city_unknown_end
from closed
inner join reads as read_start
    on read_start.network = closed.network
    and read_start.page_ref = closed.page_ref
    and read_start.snapshot_date = closed.read_start_date
inner join reads as read_end
    on read_end.network = closed.network
    and read_end.page_ref = closed.page_ref
    and read_end.snapshot_date = closed.read_end_date
where closed.read_start_date >= {{ add_days('closed.base_day', -max_age) }}
    and closed.read_end_date >= {{ add_days('closed.period_end', -max_age) }}
    and closed.read_end_date > closed.read_start_date
