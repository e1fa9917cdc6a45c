{#-
    One row per territory (OKTMO code) with the name, level and parent of its latest imported
    year, and how registry municipality names resolve to it: name_matches counts the
    municipalities of its region with the same name_key (more than one: the name is ambiguous
    and resolves to none of them). population_loaded_at is the latest import of its region's
    figures: a model that resolved names before it may have resolved them differently.
-#}
with population as (
    select * from {{ ref('stg_raw__population') }}
),

latest as (
    select *
    from population
    qualify row_number() over (partition by oktmo order by year desc) = 1
),

territories as (
    select
        latest.oktmo,
        latest.region_code,
        latest.name,
        latest.name_key,
        latest.level,
        latest.parent_oktmo,
        count(*) over (
            partition by latest.region_code, latest.level, latest.name_key
        ) as name_matches,
        max(population.loaded_at) over (partition by latest.region_code)
            as population_loaded_at
    from latest
    inner join (
        select region_code, max(loaded_at) as loaded_at
        from population
        group by region_code
    ) as population
        on population.region_code = latest.region_code
)

select * from territories
