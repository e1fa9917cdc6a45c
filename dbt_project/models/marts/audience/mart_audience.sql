{#-
    Subscriptions vs unique subscribers per audience date, scope and network, with coverage.
    network = 'all' rows bound the cross-network unique audience without inventing a number:
    the people reached on several networks are unknown (no shared key between networks), so
    the union lies between the largest network's unique audience and the sum of all networks'.

    Incremental by audience date: a build recomputes the dates whose scope pages or unions were
    rebuilt since the ones this mart read (their built_at newer than the scope_pages_built_at /
    unions_built_at kept here) and dates int_audience_scope_pages no longer holds, and replaces
    them whole (strategy replace_days, markers NULL in scope_type).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_days',
        unique_key='audience_date',
        day_marker_column='scope_type',
        on_schema_change='fail',
    )
}}
with all_scope_pages as not materialized (
    select * from {{ ref('int_audience_scope_pages') }}
),

all_unions as not materialized (
    select * from {{ ref('int_audience_unions') }}
),

{% if is_incremental() %}
rebuilt_dates as (
    {{ audience_dates_rebuilt_upstream('all_scope_pages', 'page_dates_built_at',
        'select max(scope_pages_built_at) from ' ~ this) }}

    union

    -- a date's unions go only with its sketched scope pages, so the scope pages' dates suffice
    {{ audience_dates_rebuilt_upstream('all_unions', 'built_at',
        'select max(unions_built_at) from ' ~ this, with_gone=false) }}
),

scope_pages as (
    select all_scope_pages.*
    from all_scope_pages
    inner join rebuilt_dates on rebuilt_dates.audience_date = all_scope_pages.audience_date
),

unions as (
    select all_unions.*
    from all_unions
    inner join rebuilt_dates on rebuilt_dates.audience_date = all_unions.audience_date
),
{% else %}
scope_pages as (
    select * from all_scope_pages
),

unions as (
    select * from all_unions
),
{% endif %}

date_built_at as (
    select
        scope_dates.audience_date,
        scope_dates.scope_pages_built_at,
        union_dates.unions_built_at
    from (
        select audience_date, max(page_dates_built_at) as scope_pages_built_at
        from scope_pages
        group by audience_date
    ) as scope_dates
    left join (
        select audience_date, max(built_at) as unions_built_at
        from unions
        group by audience_date
    ) as union_dates
        on union_dates.audience_date = scope_dates.audience_date
),

network_totals as (
    select
        audience_date,
        scope_type,
        scope_value,
        region_code,
        network,
        cast(count(*) as bigint) as pages_total,
        cast(sum(case when has_sketch then 1 else 0 end) as bigint) as pages_with_sketch,
        cast(sum(case when audience_status = 'hidden' then 1 else 0 end) as bigint)
            as pages_hidden,
        cast(sum(case when audience_status = 'over_budget' then 1 else 0 end) as bigint)
            as pages_over_budget,
        cast(
            sum(
                case
                    when audience_status not in ('sketched', 'hidden', 'over_budget') then 1
                    else 0
                end
            ) as bigint
        ) as pages_unread,
        cast(sum(members_count) as bigint) as subscriptions,
        cast(coalesce(sum(case when has_sketch then members_count end), 0) as bigint)
            as subscriptions_covered
    from scope_pages
    group by audience_date, scope_type, scope_value, region_code, network
),

network_audience as (
    select
        network_totals.*,
        unions.unique_estimate,
        unions.unique_lower,
        unions.unique_upper
    from network_totals
    left join unions
        on unions.audience_date = network_totals.audience_date
        and unions.scope_type = network_totals.scope_type
        and unions.scope_value = network_totals.scope_value
        and unions.region_code = network_totals.region_code
        and unions.network = network_totals.network
),

{#- max(lower) and sum(upper) skip networks without sketches: they add no covered page -#}
all_networks as (
    select
        audience_date,
        scope_type,
        scope_value,
        region_code,
        'all' as network,
        cast(sum(pages_total) as bigint) as pages_total,
        cast(sum(pages_with_sketch) as bigint) as pages_with_sketch,
        cast(sum(pages_hidden) as bigint) as pages_hidden,
        cast(sum(pages_over_budget) as bigint) as pages_over_budget,
        cast(sum(pages_unread) as bigint) as pages_unread,
        cast(sum(subscriptions) as bigint) as subscriptions,
        cast(sum(subscriptions_covered) as bigint) as subscriptions_covered,
        cast(null as double precision) as unique_estimate,
        max(unique_lower) as unique_lower,
        sum(unique_upper) as unique_upper
    from network_audience
    group by audience_date, scope_type, scope_value, region_code
),

scope_audience as (
    select * from network_audience
    union all
    select * from all_networks
)

select
    audience_date,
    -- the contract (and the stored table) says varchar: the literal is cast to it
    cast(scope_type as varchar) as scope_type,
    scope_value,
    region_code,
    network,
    pages_total,
    pages_with_sketch,
    pages_hidden,
    pages_over_budget,
    pages_unread,
    subscriptions,
    subscriptions_covered,
    case
        when subscriptions > 0
            then cast(subscriptions_covered as double precision) / subscriptions
    end as coverage,
    cast(unique_estimate as double precision) as unique_estimate,
    cast(unique_lower as double precision) as unique_lower,
    cast(unique_upper as double precision) as unique_upper,
    case
        when unique_estimate > 0
            then cast(subscriptions_covered as double precision) / unique_estimate
    end as duplication_factor,
    date_built_at.scope_pages_built_at,
    date_built_at.unions_built_at,
    {{ build_started_at() }} as built_at
from scope_audience
inner join date_built_at using (audience_date)
{%- if is_incremental() %}

union all

-- one marker per recomputed date (not stored): the date is replaced even if no scope is left
select
    audience_date,
    {%- for _ in range(18) %}
    null,
    {%- endfor %}
    null
from rebuilt_dates
{%- endif %}
