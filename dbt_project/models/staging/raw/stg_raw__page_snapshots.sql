with page_snapshots as (
    select * from {{ source('raw', 'page_snapshots') }}
),

renamed as (
    select
        cast(network as varchar) as network,
        cast(page_ref as varchar) as page_ref,
        cast(snapshot_date as date) as snapshot_date,
        cast(case when status = 'ok' then members_count end as bigint) as members_count,
        cast(status as varchar) as status,
        cast(screen_name as varchar) as screen_name,
        cast(page_name as varchar) as page_name,
        cast(error as varchar) as error_message,
        cast(source as varchar) as load_source,
        cast(run_id as varchar) as run_id,
        cast(loaded_at as timestamp) as loaded_at
    from page_snapshots
)

select * from renamed
