{#-
    Flagship pages (registry as of the latest snapshot date) that break the flagship rules on
    that date: broken (latest status deleted/banned/closed/not_found/error), unknown (no ok value
    within max_carry_days), under_min_members (members_on <= flagship_min_members), or
    unresolved (the registry reference does not resolve to a page).
-#}
with registry as (
    select * from {{ ref('int_registry_pages_resolved') }}
),

as_of as (
    select max(date_day) as as_of_date
    from {{ ref('int_calendar_days') }}
),

registered_pages as (
    {{ registry_as_of('registry', 'as_of', 'as_of_date') }}
),

flagship_pages as (
    select * from registered_pages where is_flagship
),

-- only what the checks need: the as-of day of the daily series and the flagships' own
-- snapshots (a small share of the pages), not every page's whole history each day
page_days as (
    select filled.*
    from {{ ref('int_page_days_filled') }} as filled
    where filled.snapshot_date = (select as_of_date from as_of)
),

snapshots as (
    select
        raw_snapshots.network, raw_snapshots.page_ref, raw_snapshots.snapshot_date,
        raw_snapshots.status
    from {{ ref('stg_raw__page_snapshots') }} as raw_snapshots
    inner join flagship_pages
        on flagship_pages.network = raw_snapshots.network
        and flagship_pages.page_ref = raw_snapshots.page_ref
),

latest_statuses as (
    select network, page_ref, status
    from (
        select
            snapshots.network,
            snapshots.page_ref,
            snapshots.status,
            row_number() over (
                partition by snapshots.network, snapshots.page_ref
                order by snapshots.snapshot_date desc
            ) as recency
        from snapshots
        inner join as_of on as_of.as_of_date >= snapshots.snapshot_date
    ) as ranked_snapshots
    where recency = 1
),

last_ok_dates as (
    select
        snapshots.network,
        snapshots.page_ref,
        max(snapshots.snapshot_date) as last_ok_date
    from snapshots
    inner join as_of on as_of.as_of_date >= snapshots.snapshot_date
    where snapshots.status = 'ok'
    group by snapshots.network, snapshots.page_ref
),

checked_flagships as (
    select
        flagship_pages.registered_on as as_of_date,
        flagship_pages.network,
        flagship_pages.page_ref,
        flagship_pages.registry_ref,
        flagship_pages.title,
        flagship_pages.organization,
        flagship_pages.region_code,
        flagship_pages.municipality,
        as_of_day.members_count,
        coalesce(latest_statuses.status, 'missing') as status,
        last_ok_dates.last_ok_date,
        case
            when not flagship_pages.is_resolved then 'unresolved'
            when latest_statuses.status in ('deleted', 'banned', 'closed', 'not_found', 'error')
                then 'broken'
            when as_of_day.members_count is null then 'unknown'
            when as_of_day.members_count <= {{ var('flagship_min_members') }}
                then 'under_min_members'
        end as reason
    from flagship_pages
    left join page_days as as_of_day
        on as_of_day.network = flagship_pages.network
        and as_of_day.page_ref = flagship_pages.page_ref
        and as_of_day.snapshot_date = flagship_pages.registered_on
    left join latest_statuses
        on latest_statuses.network = flagship_pages.network
        and latest_statuses.page_ref = flagship_pages.page_ref
    left join last_ok_dates
        on last_ok_dates.network = flagship_pages.network
        and last_ok_dates.page_ref = flagship_pages.page_ref
)

select
    as_of_date,
    network,
    page_ref,
    registry_ref,
    title,
    organization,
    region_code,
    municipality,
    members_count,
    status,
    last_ok_date,
    reason
from checked_flagships
where reason is not null
