{#-
    TOP-N pages by growth over any range: growth = members_on(end_date) - members_on(start_date).
    Built from the same macros as mart_growth_ranking (registry_as_of, members_on,
    growth_measures, rank_pages), so a calendar month asked as (month_start - 1, month_end)
    gives the mart's ranks.

    start_date, end_date  ISO dates (yyyy-mm-dd), start_date < end_date
    region_code, sector, municipality, network, flagship_only   filters (None = all); network
               'all' ranks pages of every network together (otherwise ranks are per network)
    by         'abs' (growth) or 'pct' (growth %, needs members_start >= min_members_for_pct)
    n          how many ranks per network
    excluded   false: the ranked TOP-N; true: the pages left out for the same filters, with
               exclusion_reason (unresolved, unknown_start, unknown_end, ...)
    Registry attributes are those valid at end_date; ranks are per network.
-#}
{% macro growth_ranking(start_date, end_date, region_code=none, sector=none, municipality=none,
        network=none, flagship_only=false, by='abs', n=10, excluded=false) -%}
    {%- if by not in ('abs', 'pct') -%}
        {{ exceptions.raise_compiler_error("growth_ranking: by must be 'abs' or 'pct', got " ~ by) }}
    {%- endif -%}
    {%- set top_n = n | int -%}
    {%- if top_n <= 0 -%}
        {{ exceptions.raise_compiler_error("growth_ranking: n must be positive, got " ~ n) }}
    {%- endif -%}
    {%- set start_day = modules.datetime.date.fromisoformat(start_date | string) -%}
    {%- set end_day = modules.datetime.date.fromisoformat(end_date | string) -%}
    {%- if start_day >= end_day -%}
        {{ exceptions.raise_compiler_error("growth_ranking: start_date must be before end_date") }}
    {%- endif -%}
    {%- set rank_column = 'rank_abs' if by == 'abs' else 'rank_pct' -%}
    {%- set ranked_flag = 'is_ranked' if by == 'abs' else 'is_pct_ranked' -%}
    {%- set reason_column = 'exclusion_reason' if by == 'abs' else 'pct_exclusion_reason' -%}

with registry as (
    select * from {{ ref('int_registry_pages_resolved') }}
),

snapshots as (
    select network, page_ref, snapshot_date, members_count, status
    from {{ ref('stg_raw__page_snapshots') }}
),

range_ends as (
    select {{ date_literal(end_day) }} as end_date
),

registered_pages as (
    {{ registry_as_of('registry', 'range_ends', 'end_date') }}
),

selected_pages as (
    select *
    from registered_pages
    where 1 = 1
    {%- if region_code is not none %}
        and region_code = {{ region_code | int }}
    {%- endif %}
    {%- if sector is not none %}
        and sector = '{{ dbt.escape_single_quotes(sector) }}'
    {%- endif %}
    {%- if municipality is not none %}
        and municipality = '{{ dbt.escape_single_quotes(municipality) }}'
    {%- endif %}
    {%- if network is not none and network != 'all' %}
        and network = '{{ dbt.escape_single_quotes(network) }}'
    {%- endif %}
    {%- if flagship_only %}
        and is_flagship
    {%- endif %}
),

asks as (
    select network, page_ref, {{ date_literal(start_day) }} as as_of_date
    from selected_pages
    where page_ref is not null

    union all

    select network, page_ref, {{ date_literal(end_day) }} as as_of_date
    from selected_pages
    where page_ref is not null
),

members as (
    {{ members_on('asks', 'snapshots') }}
),

candidates as (
    select
        selected_pages.network,
        selected_pages.page_ref,
        selected_pages.is_resolved,
        selected_pages.registry_ref,
        selected_pages.title,
        selected_pages.region_code,
        selected_pages.municipality,
        selected_pages.sector,
        selected_pages.is_flagship,
        start_members.members_count as members_start,
        end_members.members_count as members_end,
        {{ growth_measures('start_members.members_count', 'end_members.members_count') }}
    from selected_pages
    left join members as start_members
        on start_members.network = selected_pages.network
        and start_members.page_ref = selected_pages.page_ref
        and start_members.as_of_date = {{ date_literal(start_day) }}
    left join members as end_members
        on end_members.network = selected_pages.network
        and end_members.page_ref = selected_pages.page_ref
        and end_members.as_of_date = {{ date_literal(end_day) }}
),

ranked_pages as (
    {{ rank_pages('candidates', [] if network == 'all' else ['network']) }}
)

{% if excluded %}
select
    network,
    page_ref,
    registry_ref,
    title,
    region_code,
    municipality,
    sector,
    is_flagship,
    members_start,
    members_end,
    growth,
    growth_pct,
    {{ reason_column }} as exclusion_reason
from ranked_pages
where not {{ ranked_flag }}
order by network, registry_ref
{% else %}
select
    {{ rank_column }} as rank,
    network,
    page_ref,
    registry_ref,
    title,
    region_code,
    municipality,
    sector,
    is_flagship,
    members_start,
    members_end,
    growth,
    growth_pct
from ranked_pages
where {{ ranked_flag }}
    and {{ rank_column }} <= {{ top_n }}
order by {{ '' if network == 'all' else 'network, ' }}{{ rank_column }}
{% endif %}
{%- endmacro %}
