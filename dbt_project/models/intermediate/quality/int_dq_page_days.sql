{#-
    The daily facts every data-quality rule reads: one row per page and day the page was
    registered (registry as of that day), with members_on today and yesterday, whether each
    value is fresh (an ok snapshot of that very day), the last ok date, the page's effective
    status (the latest status other than error/missing, carried over fetch failures) and the
    screen names of this and the previous ok snapshot. Windows only: no self-join over history.
-#}
with page_days as (
    select network, page_ref, snapshot_date, members_count, is_carried, is_known, status
    from {{ ref('int_page_days_filled') }}
),

snapshots as (
    select network, page_ref, snapshot_date, status, screen_name
    from {{ ref('stg_raw__page_snapshots') }}
),

registry as (
    select * from {{ ref('int_registry_pages_resolved') }}
),

calendar_days as (
    select date_day from {{ ref('int_calendar_days') }}
),

registered_pages as (
    {{ registry_as_of('registry', 'calendar_days', 'date_day') }}
),

ok_screen_names as (
    select
        network,
        page_ref,
        snapshot_date,
        screen_name,
        lag(screen_name) over (
            partition by network, page_ref order by snapshot_date
        ) as previous_screen_name,
        lag(snapshot_date) over (
            partition by network, page_ref order by snapshot_date
        ) as previous_ok_date
    from snapshots
    where status = 'ok'
),

page_histories as (
    select
        network,
        page_ref,
        snapshot_date,
        status,
        members_count,
        status = 'ok' and is_known and not is_carried as is_fresh,
        lag(members_count) over page_order as members_prev,
        coalesce(
            lag(case when status = 'ok' and is_known and not is_carried then 1 else 0 end)
                over page_order = 1,
            false
        ) as is_prev_fresh,
        min(snapshot_date) over (partition by network, page_ref) as first_snapshot_date,
        max(case when status = 'ok' then snapshot_date end) over page_history as last_ok_date,
        max(case when status not in ('error', 'missing') then snapshot_date end)
            over page_history as last_status_date
    from page_days
    window
        page_order as (partition by network, page_ref order by snapshot_date),
        page_history as (
            partition by network, page_ref order by snapshot_date
            rows between unbounded preceding and current row
        )
),

page_day_facts as (
    select
        page_histories.network,
        page_histories.page_ref,
        page_histories.snapshot_date,
        page_histories.status,
        coalesce(status_days.status, page_histories.status) as effective_status,
        page_histories.members_count,
        page_histories.is_fresh,
        page_histories.members_prev,
        page_histories.is_prev_fresh,
        page_histories.last_ok_date,
        case
            when page_histories.last_ok_date is not null
                then {{ dbt.datediff('page_histories.last_ok_date',
                    'page_histories.snapshot_date', 'day') }}
            else {{ dbt.datediff('page_histories.first_snapshot_date',
                'page_histories.snapshot_date', 'day') }} + 1
        end as days_without_ok,
        ok_screen_names.screen_name,
        ok_screen_names.previous_screen_name,
        ok_screen_names.previous_ok_date
    from page_histories
    left join page_histories as status_days
        on status_days.network = page_histories.network
        and status_days.page_ref = page_histories.page_ref
        and status_days.snapshot_date = page_histories.last_status_date
    left join ok_screen_names
        on ok_screen_names.network = page_histories.network
        and ok_screen_names.page_ref = page_histories.page_ref
        and ok_screen_names.snapshot_date = page_histories.snapshot_date
),

registered_page_days as (
    select
        page_day_facts.*,
        registered_pages.registry_ref,
        registered_pages.title,
        registered_pages.region_code,
        coalesce(registered_pages.is_flagship, false) as is_flagship
    from page_day_facts
    inner join registered_pages
        on registered_pages.registered_on = page_day_facts.snapshot_date
        and registered_pages.network = page_day_facts.network
        and registered_pages.page_ref = page_day_facts.page_ref
)

select * from registered_page_days
