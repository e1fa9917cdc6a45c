{#- The registry as last loaded; the input of the snap_registry_pages snapshot. -#}
with registry_pages as (
    select * from {{ source('raw', 'registry_pages') }}
),

renamed as (
    select
        cast(network as varchar) as network,
        cast(ref_kind as varchar) as ref_kind,
        cast(ref_value as varchar) as ref_value,
        cast(registry_ref as varchar) as registry_ref,
        cast(title as varchar) as title,
        cast(organization as varchar) as organization,
        cast(region_code as integer) as region_code,
        cast(municipality as varchar) as municipality,
        cast(oktmo as varchar) as oktmo,
        cast(sector as varchar) as sector,
        cast(is_flagship as boolean) as is_flagship,
        cast(source_file as varchar) as source_file,
        cast(source_line as integer) as source_line,
        cast(loaded_at as timestamp) as loaded_at
    from registry_pages
)

select * from renamed
