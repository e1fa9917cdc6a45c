{#-
    Weekly and monthly growth ranks of registered pages within scopes (region, municipality,
    sector, flagship pages of the region), each within its region and network, and once more
    across all networks (ranking_network 'all'). Attributes come from the registry version valid
    at the period end; ranking is the shared rank_pages macro.

    Incremental (delete+insert of whole periods): a build re-ranks the periods mart_page_growth
    rewrote since (its built_at per period differs from the growth_built_at kept here) and,
    when the registry changed since registry_seen_at, the periods ending on or after the first
    day the change applies to (every period for a newly listed or newly resolved page: its
    first registry version counts since the beginning of time). A new day rewrites the current week and month
    in mart_page_growth, so they are always re-ranked.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['period_type', 'period_start'],
        on_schema_change='fail',
    )
}}
{%- set page_columns = [
    'period_type', 'period_start', 'period_end', 'is_complete', 'network', 'region_code',
    'page_ref', 'is_resolved', 'registry_ref', 'title', 'organization', 'municipality', 'sector',
    'is_flagship', 'members_start', 'members_end', 'growth', 'growth_pct', 'growth_built_at'
] -%}

with page_growth as not materialized (
    select * from {{ ref('mart_page_growth') }}
    where period_type in ('week', 'month')
),

registry as (
    select * from {{ ref('int_registry_pages_resolved') }}
),

calendar_days as (
    select * from {{ ref('int_calendar_days') }}
),

periods as (
    select distinct
        'week' as period_type,
        week_start as period_start,
        case when week_end > last_snapshot_date then last_snapshot_date else week_end end
            as period_end,
        week_end <= last_snapshot_date as is_complete
    from calendar_days

    union all

    select distinct
        'month' as period_type,
        month_start as period_start,
        case when month_end > last_snapshot_date then last_snapshot_date else month_end end
            as period_end,
        month_end <= last_snapshot_date as is_complete
    from calendar_days
),

registry_seen as (
    {{ registry_seen_at('registry') }}
),

growth_periods as (
    select period_type, period_start, max(built_at) as growth_built_at
    from page_growth
    group by period_type, period_start
),

{% if is_incremental() %}
built_periods as (
    select
        period_type,
        period_start,
        max(growth_built_at) as growth_built_at,
        max(registry_seen_at) as registry_seen_at
    from {{ this }}
    group by period_type, period_start
),

registry_changes as (
    select min(
        case
            when registry.version_number = 1 then cast('1900-01-01' as date)
            else registry.valid_from
        end
    ) as changed_from
    from registry
    cross join (select max(registry_seen_at) as high_water from built_periods) as built
    where built.high_water is null or registry.version_loaded_at > built.high_water

    union all

    select min(registry.valid_to)
    from registry
    cross join (select max(registry_seen_at) as high_water from built_periods) as built
    where registry.version_ended_at > built.high_water

    union all

    -- a screen name resolved since: its page_ref changes in every period it is listed in
    select min(cast('1900-01-01' as date))
    from registry
    cross join (select max(registry_seen_at) as high_water from built_periods) as built
    where registry.page_resolved_at > built.high_water
),

periods_to_build as (
    select periods.*
    from periods
    cross join (select min(changed_from) as changed_from from registry_changes) as registry_change
    left join growth_periods
        on growth_periods.period_type = periods.period_type
        and growth_periods.period_start = periods.period_start
    left join built_periods
        on built_periods.period_type = periods.period_type
        and built_periods.period_start = periods.period_start
    where built_periods.period_start is null
        or growth_periods.growth_built_at is distinct from built_periods.growth_built_at
        or periods.period_end >= registry_change.changed_from
),
{% else %}
periods_to_build as (
    select * from periods
),
{% endif %}

registered_pages as (
    {{ registry_as_of('registry', 'periods_to_build', 'period_end') }}
),

period_pages as (
    select
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.is_complete,
        registered_pages.network,
        registered_pages.region_code,
        registered_pages.page_ref,
        registered_pages.is_resolved,
        registered_pages.registry_ref,
        registered_pages.title,
        registered_pages.organization,
        registered_pages.municipality,
        registered_pages.sector,
        registered_pages.is_flagship,
        page_growth.members_start,
        page_growth.members_end,
        page_growth.growth,
        page_growth.growth_pct,
        growth_periods.growth_built_at
    from periods_to_build as periods
    inner join registered_pages
        on registered_pages.registered_on = periods.period_end
    left join growth_periods
        on growth_periods.period_type = periods.period_type
        and growth_periods.period_start = periods.period_start
    left join page_growth
        on page_growth.network = registered_pages.network
        and page_growth.page_ref = registered_pages.page_ref
        and page_growth.period_type = periods.period_type
        and page_growth.period_start = periods.period_start
),

scoped_pages as (
    {{ scope_fanout('period_pages', page_columns) }}
),

-- every row twice, ranked within its own network and across all networks: one read of
-- scoped_pages (read twice, both engines would write its whole fan-out out first)
network_scoped_pages as (
    select
        scoped_pages.*,
        case when across.all_networks then 'all' else scoped_pages.network end
            as ranking_network
    from scoped_pages
    cross join (select false as all_networks union all select true) as across
),

ranked_pages as (
    {{ rank_pages('network_scoped_pages', ['period_type', 'period_start', 'ranking_network',
        'region_code', 'scope_type', 'scope_value']) }}
)

{#- literals are text on Postgres, and the incremental build's new rows must have the varchar
    types the contract created the table with (dbt refuses changed column types) -#}
select
    cast(period_type as varchar) as period_type,
    period_start,
    period_end,
    is_complete,
    cast(scope_type as varchar) as scope_type,
    scope_value,
    ranking_network,
    network,
    region_code,
    page_ref,
    registry_ref,
    title,
    organization,
    municipality,
    sector,
    is_flagship,
    members_start,
    members_end,
    growth,
    growth_pct,
    is_ranked,
    cast(exclusion_reason as varchar) as exclusion_reason,
    rank_abs,
    is_pct_ranked,
    cast(pct_exclusion_reason as varchar) as pct_exclusion_reason,
    rank_pct,
    growth_built_at,
    registry_seen.registry_seen_at,
    {{ build_started_at() }} as built_at
from ranked_pages
cross join registry_seen
