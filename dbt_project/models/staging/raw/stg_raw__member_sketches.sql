{#- Member-list sketches, renamed and typed; sketches are kept only on ok rows. -#}
with member_sketches as (
    select * from {{ source('raw', 'member_sketches') }}
),

renamed as (
    select
        cast(network as varchar) as network,
        cast(page_ref as varchar) as page_ref,
        cast(snapshot_date as date) as snapshot_date,
        cast(status as varchar) as list_status,
        cast(members_count as bigint) as members_count,
        cast(members_read as bigint) as members_read,
        cast(case when status = 'ok' then hll_lg_k end as integer) as hll_lg_k,
        case when status = 'ok' then hll_sketch end as hll_sketch,
        cast(case when status = 'ok' then theta_lg_k end as integer) as theta_lg_k,
        case when status = 'ok' then theta_sketch end as theta_sketch,
        cast(error as varchar) as error_message,
        cast(run_id as varchar) as run_id,
        cast(loaded_at as timestamp) as loaded_at
    from member_sketches
)

select * from renamed
