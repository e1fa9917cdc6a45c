{#- Resident population per territory and year, typed, with the name as compared. -#}
with population as (
    select * from {{ source('raw', 'population') }}
),

renamed as (
    select
        cast(oktmo as varchar) as oktmo,
        cast(region_code as integer) as region_code,
        cast(name as varchar) as name,
        {{ territory_name_key('name') }} as name_key,
        cast(level as varchar) as level,
        cast(parent_oktmo as varchar) as parent_oktmo,
        cast(population as bigint) as population,
        cast(year as integer) as year,
        cast(source_file as varchar) as source_file,
        cast(loaded_at as timestamp) as loaded_at
    from population
)

select * from renamed
