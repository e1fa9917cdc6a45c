{#- What each member list read with fields says about its members, typed. -#}
with member_attributes as (
    select * from {{ source('raw', 'member_attributes') }}
),

renamed as (
    select
        cast(network as varchar) as network,
        cast(page_ref as varchar) as page_ref,
        cast(snapshot_date as date) as snapshot_date,
        cast(region_code as integer) as region_code,
        cast(members_deactivated as bigint) as members_deactivated,
        cast(deactivated_theta_lg_k as integer) as deactivated_theta_lg_k,
        deactivated_theta,
        cast(members_in_region as bigint) as members_in_region,
        cast(members_elsewhere as bigint) as members_elsewhere,
        cast(members_city_unknown as bigint) as members_city_unknown,
        cast(loaded_at as timestamp) as loaded_at
    from member_attributes
)

select * from renamed
