{#-
    Reach: each territory's audience (mart_audience, scopes region and territory) divided by
    its resident population, per audience date and network. A territory is a region (its
    population row of level region) or an OKTMO code pages count in (municipality, settlement).
    The population is the latest imported year not after the audience date's, else the
    earliest imported (population_year says which). A view: its rows follow mart_audience's,
    and the publication copies the audience dates a build rewrote (built_at).
-#}
{{ config(materialized='view') }}
with audience as (
    select *
    from {{ ref('mart_audience') }}
    where scope_type in ('region', 'territory')
),

population as (
    select * from {{ ref('stg_raw__population') }}
),

territories as (
    select * from {{ ref('int_territories') }}
),

{#- the territory each audience row is about, with every imported year of its population -#}
audience_populations as (
    select
        audience.*,
        population.oktmo,
        population.level as territory_level,
        population.population,
        population.year as population_year,
        row_number() over (
            partition by audience.audience_date, audience.scope_type, audience.scope_value,
                audience.region_code, audience.network
            order by
                population.year <= year(audience.audience_date) desc,
                case
                    when population.year <= year(audience.audience_date) then -population.year
                    else population.year
                end
        ) as year_rank
    from audience
    inner join population
        on population.region_code = audience.region_code
        and (
            (audience.scope_type = 'region' and population.level = 'region')
            or (audience.scope_type = 'territory' and population.oktmo = audience.scope_value)
        )
),

reach as (
    select
        audience_populations.audience_date,
        audience_populations.region_code,
        audience_populations.territory_level,
        audience_populations.oktmo,
        territories.name as territory_name,
        audience_populations.network,
        audience_populations.population,
        audience_populations.population_year,
        audience_populations.pages_total,
        audience_populations.pages_with_sketch,
        audience_populations.coverage,
        audience_populations.subscriptions,
        case
            when audience_populations.population > 0
                then cast(audience_populations.subscriptions as double)
                    / audience_populations.population
        end as subscriptions_per_resident,
        audience_populations.unique_estimate,
        audience_populations.unique_lower,
        audience_populations.unique_upper,
        case
            when audience_populations.population > 0
                then audience_populations.unique_estimate / audience_populations.population
        end as reach,
        case
            when audience_populations.population > 0
                then audience_populations.unique_lower / audience_populations.population
        end as reach_lower,
        case
            when audience_populations.population > 0
                then audience_populations.unique_upper / audience_populations.population
        end as reach_upper,
        audience_populations.built_at
    from audience_populations
    left join territories
        on territories.oktmo = audience_populations.oktmo
    where audience_populations.year_rank = 1
)

select * from reach
