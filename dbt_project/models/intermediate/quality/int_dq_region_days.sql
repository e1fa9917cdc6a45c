{#-
    Per region, network and day, what the region-level rules compare: pages registered, pages
    readable (not known to be deleted/banned/closed/not found), readable pages with no fresh ok
    snapshot that day, and subscriptions of the pages known on both this day and the day
    before. network 'all' sums every network, only for regions with more than one network that
    day (otherwise it would repeat the single network's rows).
-#}
{%- set broken = dq_setting('status_change', 'statuses') -%}
with page_days as (
    select
        region_code,
        network,
        snapshot_date,
        is_fresh,
        members_count,
        members_prev,
        effective_status not in {{ dq_string_list(broken) }} as is_readable
    from {{ ref('int_dq_page_days') }}
    where region_code is not null
),

page_days_with_all as (
    select region_code, network, network as page_network, snapshot_date, is_fresh,
        members_count, members_prev, is_readable
    from page_days

    union all

    select region_code, 'all' as network, network as page_network, snapshot_date, is_fresh,
        members_count, members_prev, is_readable
    from page_days
),

region_days as (
    select
        region_code,
        network,
        snapshot_date,
        count(distinct page_network) as networks,
        cast(count(*) as integer) as pages_registered,
        cast(sum(case when is_readable then 1 else 0 end) as integer) as pages_readable,
        cast(sum(case when is_readable and not is_fresh then 1 else 0 end) as integer)
            as pages_missing,
        cast(sum(case when members_count is not null and members_prev is not null
            then members_count end) as bigint) as members_comparable,
        cast(sum(case when members_count is not null and members_prev is not null
            then members_prev end) as bigint) as members_prev_comparable
    from page_days_with_all
    group by region_code, network, snapshot_date
)

select
    region_code,
    network,
    snapshot_date,
    pages_registered,
    pages_readable,
    pages_missing,
    members_comparable,
    members_prev_comparable
from region_days
where network <> 'all' or networks > 1
