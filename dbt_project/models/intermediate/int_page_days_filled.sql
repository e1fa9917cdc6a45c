{#-
    One row per registered page and day from its first snapshot to the latest snapshot date,
    with members_on(page, day) (see the members_on macro) and that day's own status.
-#}
with snapshots as (
    select network, page_ref, snapshot_date, members_count, status
    from {{ ref('stg_raw__page_snapshots') }}
),

registered_pages as (
    select distinct network, page_ref
    from {{ ref('int_registry_pages_resolved') }}
    where page_ref is not null
),

calendar_days as (
    select date_day from {{ ref('int_calendar_days') }}
),

page_first_snapshots as (
    select
        snapshots.network,
        snapshots.page_ref,
        min(snapshots.snapshot_date) as first_snapshot_date
    from snapshots
    inner join registered_pages
        on registered_pages.network = snapshots.network
        and registered_pages.page_ref = snapshots.page_ref
    group by snapshots.network, snapshots.page_ref
),

page_days as (
    select
        page_first_snapshots.network,
        page_first_snapshots.page_ref,
        calendar_days.date_day as as_of_date
    from page_first_snapshots
    inner join calendar_days
        on calendar_days.date_day >= page_first_snapshots.first_snapshot_date
),

members as (
    {{ members_on('page_days', 'snapshots') }}
),

filled_days as (
    select
        members.network,
        members.page_ref,
        members.as_of_date as snapshot_date,
        members.members_count,
        members.value_date,
        coalesce(members.value_date < members.as_of_date, false) as is_carried,
        coalesce(day_snapshots.status, 'missing') as status,
        members.members_count is not null as is_known
    from members
    left join snapshots as day_snapshots
        on day_snapshots.network = members.network
        and day_snapshots.page_ref = members.page_ref
        and day_snapshots.snapshot_date = members.as_of_date
)

select * from filled_days
