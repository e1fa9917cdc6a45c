{#-
    Weekly and monthly growth ranks of registered pages within scopes (region, municipality,
    sector, flagship pages of the region), each within its region and network, and once more
    across all networks (ranking_network 'all'). Attributes come from the registry version valid
    at the period end; ranking is the shared rank_pages macro.
-#}
{%- set page_columns = [
    'period_type', 'period_start', 'period_end', 'is_complete', 'network', 'region_code',
    'page_ref', 'is_resolved', 'registry_ref', 'title', 'organization', 'municipality', 'sector',
    'is_flagship', 'members_start', 'members_end', 'growth', 'growth_pct'
] -%}

with page_growth as (
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

registered_pages as (
    {{ registry_as_of('registry', 'periods', 'period_end') }}
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
        page_growth.growth_pct
    from periods
    inner join registered_pages
        on registered_pages.registered_on = periods.period_end
    left join page_growth
        on page_growth.network = registered_pages.network
        and page_growth.page_ref = registered_pages.page_ref
        and page_growth.period_type = periods.period_type
        and page_growth.period_start = periods.period_start
),

scoped_pages as (
    {{ scope_fanout('period_pages', page_columns) }}
),

network_scoped_pages as (
    select scoped_pages.*, scoped_pages.network as ranking_network
    from scoped_pages

    union all

    select scoped_pages.*, 'all' as ranking_network
    from scoped_pages
),

ranked_pages as (
    {{ rank_pages('network_scoped_pages', ['period_type', 'period_start', 'ranking_network',
        'region_code', 'scope_type', 'scope_value']) }}
)

select
    period_type,
    period_start,
    period_end,
    is_complete,
    scope_type,
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
    exclusion_reason,
    rank_abs,
    is_pct_ranked,
    pct_exclusion_reason,
    rank_pct
from ranked_pages
