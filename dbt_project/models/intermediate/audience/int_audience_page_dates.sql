{#-
    One row per audience date and registered page (registry as of that date): the page's
    members_on(page, date), the member-list sketch that counts for it (the latest ok sketch at
    or before the date, at most var audience_max_age_days old) and its audience_status.
    Audience dates are the distinct snapshot dates of the member-list sketches.

    Incremental by audience date: lists are read every day (each page when it is due), so a
    year holds ~365 audience dates of every registered page, and rebuilding them all daily
    grows without bound. A build recomputes only the dates whose inputs may have changed since
    the last build's high-water marks (stored on every row): a member list loaded since
    (dates from its snapshot date to audience_max_age_days after), a snapshot loaded since
    (dates from its day to max_carry_days after), a registry version loaded, closed or
    resolved since (dates from the day it applies), a population import of a region (every
    date: its pages' territories may resolve differently), and every date after the latest snapshot
    day the last build saw. Each recomputed date is replaced whole (strategy replace_days,
    markers NULL in network). Raw rows deleted by hand need a --full-refresh, as for the other
    incremental models.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_days',
        unique_key='audience_date',
        day_marker_column='network',
        on_schema_change='fail',
    )
}}
{%- set max_age = var('audience_max_age_days') | int -%}

with member_lists as (
    select
        network,
        page_ref,
        snapshot_date,
        list_status,
        members_count,
        members_read,
        list_status = 'ok' and hll_sketch is not null as has_sketch,
        loaded_at
    from {{ ref('stg_raw__member_sketches') }}
),

registry as (
    select * from {{ ref('int_registry_pages_resolved') }}
),

registry_seen as (
    {{ registry_seen_at('registry') }}
),

all_audience_dates as (
    select distinct snapshot_date as audience_date
    from member_lists
),

{% if is_incremental() %}
built_bounds as (
    select
        max(lists_seen_at) as lists_high_water,
        max(snapshots_seen_at) as snapshots_high_water,
        max(snapshots_through) as snapshots_through,
        max(registry_seen_at) as registry_high_water
    from {{ this }}
),

-- the marks compared as scalars (loaded_at is never NULL): DuckDB then skips the row groups
-- of older loads, where a mark joined in read every load time of raw
lists_loaded_since as (
    select distinct member_lists.snapshot_date
    from member_lists
    where member_lists.loaded_at > (
        select coalesce(lists_high_water, cast('1900-01-01' as timestamp)) from built_bounds
    )
),

snapshots_loaded_since as (
    select distinct raw_snapshots.snapshot_date
    from {{ ref('stg_raw__page_snapshots') }} as raw_snapshots
    where raw_snapshots.loaded_at > (
        select coalesce(snapshots_high_water, cast('1900-01-01' as timestamp))
        from built_bounds
    )
),

{#- the first day a registry version loaded, closed or resolved since applies to (a page
    resolved since: its first version, valid from the beginning) -#}
registry_changed_from as (
    select
        min(
            case
                when built_bounds.registry_high_water is null then cast('1900-01-01' as date)
                when registry.page_resolved_at > built_bounds.registry_high_water
                    then cast('1900-01-01' as date)
                -- population imported since: the page's territory may resolve differently
                when registry.territory_resolved_at > built_bounds.registry_high_water
                    then cast('1900-01-01' as date)
                when registry.version_loaded_at > built_bounds.registry_high_water
                    then registry.valid_from
                else registry.valid_to
            end
        ) as changed_from
    from registry
    cross join built_bounds
    where built_bounds.registry_high_water is null
        or registry.version_loaded_at > built_bounds.registry_high_water
        or registry.version_ended_at > built_bounds.registry_high_water
        or registry.page_resolved_at > built_bounds.registry_high_water
        or registry.territory_resolved_at > built_bounds.registry_high_water
),

audience_dates as (
    select all_audience_dates.audience_date
    from all_audience_dates
    where exists (
        select 1
        from lists_loaded_since
        where all_audience_dates.audience_date between lists_loaded_since.snapshot_date
            and {{ add_days('lists_loaded_since.snapshot_date', max_age) }}
    )
    or exists (
        select 1
        from snapshots_loaded_since
        where all_audience_dates.audience_date between snapshots_loaded_since.snapshot_date
            and {{ add_days('snapshots_loaded_since.snapshot_date', var('max_carry_days')) }}
    )
    or all_audience_dates.audience_date >= (select changed_from from registry_changed_from)
    -- days raw showed none of before, whenever loaded (a guard: such rows are normally also
    -- loaded after the high-water mark)
    or all_audience_dates.audience_date > (select snapshots_through from built_bounds)
),
{% else %}
audience_dates as (
    select audience_date from all_audience_dates
),
{% endif %}

carry_dates as (
    select distinct {{ add_days('audience_dates.audience_date', '-carry_days.days_back') }}
        as carry_date
    from audience_dates
    cross join (
        {% for days_back in range(var('max_carry_days') | int + 1) -%}
        select {{ days_back }} as days_back{{ ' union all ' if not loop.last }}
        {% endfor -%}
    ) as carry_days
),

{#- members_on reads raw twice: inlined (not a copy of every snapshot, 146 M rows at federal
    size, which a CTE read twice would be), and only the days an audience date can carry from -#}
snapshots as not materialized (
    select network, page_ref, snapshot_date, members_count, status
    from {{ ref('stg_raw__page_snapshots') }}
    where snapshot_date in (select carry_date from carry_dates)
),

registered_pages as (
    {{ registry_as_of('registry', 'audience_dates', 'audience_date') }}
),

asks as (
    select network, page_ref, registered_on as as_of_date
    from registered_pages
    where page_ref is not null
),

members as (
    {{ members_on('asks', 'snapshots') }}
),

{#- every member-list row inside a page's age window, newest first: any status, and ok only -#}
lists_in_window as (
    select
        asks.network,
        asks.page_ref,
        asks.as_of_date,
        member_lists.snapshot_date,
        member_lists.list_status,
        member_lists.members_count,
        member_lists.members_read,
        member_lists.has_sketch,
        row_number() over (
            partition by asks.network, asks.page_ref, asks.as_of_date
            order by member_lists.snapshot_date desc
        ) as list_recency,
        row_number() over (
            partition by asks.network, asks.page_ref, asks.as_of_date, member_lists.has_sketch
            order by member_lists.snapshot_date desc
        ) as sketch_recency
    from asks
    inner join member_lists
        on member_lists.network = asks.network
        and member_lists.page_ref = asks.page_ref
        and member_lists.snapshot_date <= asks.as_of_date
        and member_lists.snapshot_date >= {{ add_days('asks.as_of_date', -max_age) }}
),

latest_lists as (
    select * from lists_in_window where list_recency = 1
),

latest_sketches as (
    select * from lists_in_window where has_sketch and sketch_recency = 1
),

page_dates as (
    select
        registered_pages.registered_on as audience_date,
        registered_pages.network,
        registered_pages.page_key,
        registered_pages.page_ref,
        registered_pages.is_resolved,
        registered_pages.registry_ref,
        registered_pages.title,
        registered_pages.organization,
        registered_pages.region_code,
        registered_pages.municipality,
        registered_pages.municipality_oktmo,
        registered_pages.settlement_oktmo,
        registered_pages.sector,
        registered_pages.is_flagship,
        members.members_count,
        members.value_date as members_value_date,
        latest_sketches.snapshot_date as sketch_date,
        latest_sketches.members_count as sketch_members_count,
        latest_sketches.members_read as sketch_members_read,
        latest_lists.snapshot_date as list_date,
        latest_lists.list_status,
        latest_sketches.snapshot_date is not null as has_sketch,
        case
            when not registered_pages.is_resolved then 'unresolved'
            when latest_sketches.snapshot_date is not null then 'sketched'
            when latest_lists.list_status in ('hidden', 'over_budget', 'not_found', 'error')
                then latest_lists.list_status
            else 'not_read'
        end as audience_status
    from registered_pages
    left join members
        on members.network = registered_pages.network
        and members.page_ref = registered_pages.page_ref
        and members.as_of_date = registered_pages.registered_on
    left join latest_lists
        on latest_lists.network = registered_pages.network
        and latest_lists.page_ref = registered_pages.page_ref
        and latest_lists.as_of_date = registered_pages.registered_on
    left join latest_sketches
        on latest_sketches.network = registered_pages.network
        and latest_sketches.page_ref = registered_pages.page_ref
        and latest_sketches.as_of_date = registered_pages.registered_on
)

select
    page_dates.*,
    high_water.lists_seen_at,
    high_water.snapshots_seen_at,
    high_water.snapshots_through,
    registry_seen.registry_seen_at,
    {{ build_started_at() }} as built_at
from page_dates
cross join (
    select
        (select max(loaded_at) from member_lists) as lists_seen_at,
        (select max(loaded_at) from {{ ref('stg_raw__page_snapshots') }}) as snapshots_seen_at,
        (select max(snapshot_date) from {{ ref('stg_raw__page_snapshots') }}) as snapshots_through
) as high_water
cross join registry_seen
{%- if is_incremental() %}

union all

-- one marker per recomputed date (not stored): the date is replaced even if no page is left
select
    audience_date,
    {%- for _ in range(22) %}
    null,
    {%- endfor %}
    null, null, null, null, null
from audience_dates
{%- endif %}
