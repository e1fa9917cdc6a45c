{#-
    Subscriptions vs unique subscribers per audience date, scope and network, with coverage.
    network = 'all' rows bound the cross-network unique audience without inventing a number:
    the people reached on several networks are unknown (no shared key between networks), so
    the union lies between the largest network's unique audience and the sum of all networks'.
-#}
with scope_pages as (
    select * from {{ ref('int_audience_scope_pages') }}
),

unions as (
    select * from {{ ref('int_audience_unions' if target.type == 'duckdb' else 'int_audience_unions_pg') }}
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
    scope_type,
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
    end as duplication_factor
from scope_audience
