with extract_runs as (
    select * from {{ source('raw', 'extract_runs') }}
),

renamed as (
    select
        cast(run_id as varchar) as run_id,
        cast(network as varchar) as network,
        cast(snapshot_date as date) as snapshot_date,
        cast(started_at as timestamp) as started_at,
        cast(finished_at as timestamp) as finished_at,
        pages_requested,
        pages_ok,
        pages_unavailable,
        pages_failed,
        requests,
        retries,
        rate_limited,
        wait_seconds,
        cast(status as varchar) as run_status,
        cast(message as varchar) as message
    from extract_runs
)

select * from renamed
