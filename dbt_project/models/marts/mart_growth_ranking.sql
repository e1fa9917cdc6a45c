{#-
    Weekly and monthly growth ranks of registered pages within scopes (region, municipality,
    sector, flagship pages of the region), each within its region and network, and once more
    across all networks (ranking_network 'all'). Attributes come from the registry version valid
    at the period end; ranking is the shared rank_pages macro.

    Incremental (delete+insert of whole periods): a build re-ranks the periods mart_page_growth
    rewrote since (rows built after the newest growth_built_at kept here: built_at only grows,
    so no grouping of the ranked rows per period is needed) and,
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
{#- the columns ranking reads; the registry's wide text columns join back afterwards, so the
    ranking's two sorts carry only these (less to sort and spill; BENCHMARKS.md has the figures) -#}
{%- set rank_columns = [
    'period_type', 'period_start', 'network', 'region_code', 'page_ref', 'is_resolved',
    'registry_ref', 'members_start', 'members_end', 'growth', 'growth_pct'
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

{% if is_incremental() %}
-- what the last build saw: growth rows built after it, registry versions loaded, closed or
-- resolved after it (column-wide maxima, no grouping of the ranked rows)
ranked_high_water as (
    {{ built_high_water() }}
),

regrown_periods as (
    select distinct page_growth.period_type, page_growth.period_start
    from page_growth
    cross join ranked_high_water
    where ranked_high_water.growth_high_water is null
        or page_growth.built_at > ranked_high_water.growth_high_water
),

registry_change as (
    {{ registry_changed_from('registry', 'ranked_high_water') }}
),

periods_to_build as (
    select periods.*
    from periods
    cross join registry_change
    left join regrown_periods
        on regrown_periods.period_type = periods.period_type
        and regrown_periods.period_start = periods.period_start
    where regrown_periods.period_start is not null
        or periods.period_end >= registry_change.changed_from
),
{% else %}
periods_to_build as (
    select * from periods
),
{% endif %}

growth_periods as (
    select page_growth.period_type, page_growth.period_start,
        max(page_growth.built_at) as growth_built_at
    from page_growth
    inner join periods_to_build
        on periods_to_build.period_type = page_growth.period_type
        and periods_to_build.period_start = page_growth.period_start
    group by page_growth.period_type, page_growth.period_start
),

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
    {{ scope_fanout('period_pages', rank_columns) }}
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

{#- the incremental build's new rows must have the varchar types the contract created the
    table with (dbt refuses changed column types): literals are cast to them -#}
select
    cast(ranked_pages.period_type as varchar) as period_type,
    ranked_pages.period_start,
    period_pages.period_end,
    period_pages.is_complete,
    cast(ranked_pages.scope_type as varchar) as scope_type,
    ranked_pages.scope_value,
    ranked_pages.ranking_network,
    ranked_pages.network,
    ranked_pages.region_code,
    ranked_pages.page_ref,
    ranked_pages.registry_ref,
    period_pages.title,
    period_pages.organization,
    period_pages.municipality,
    period_pages.sector,
    period_pages.is_flagship,
    ranked_pages.members_start,
    ranked_pages.members_end,
    ranked_pages.growth,
    ranked_pages.growth_pct,
    ranked_pages.is_ranked,
    cast(ranked_pages.exclusion_reason as varchar) as exclusion_reason,
    ranked_pages.rank_abs,
    ranked_pages.is_pct_ranked,
    cast(ranked_pages.pct_exclusion_reason as varchar) as pct_exclusion_reason,
    ranked_pages.rank_pct,
    period_pages.growth_built_at,
    registry_seen.registry_seen_at,
    {{ build_started_at() }} as built_at
from ranked_pages
-- one registry version per page, network and period (registry_as_of)
inner join period_pages
    on period_pages.period_type = ranked_pages.period_type
    and period_pages.period_start = ranked_pages.period_start
    and period_pages.network = ranked_pages.network
    and period_pages.registry_ref = ranked_pages.registry_ref
cross join registry_seen
