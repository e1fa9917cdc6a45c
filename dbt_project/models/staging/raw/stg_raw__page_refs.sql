with page_refs as (
    select * from {{ source('raw', 'page_refs') }}
),

renamed as (
    select
        cast(network as varchar) as network,
        cast(ref_kind as varchar) as ref_kind,
        lower(cast(ref_value as varchar)) as ref_value,
        cast(page_ref as varchar) as page_ref,
        cast(status as varchar) as resolve_status,
        cast(resolved_at as timestamp) as resolved_at
    from page_refs
)

select * from renamed
