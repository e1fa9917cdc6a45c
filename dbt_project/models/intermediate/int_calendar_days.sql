{#- Every calendar day from the first to the latest snapshot date in the warehouse. -#}
with snapshot_bounds as (
    select
        min(snapshot_date) as first_snapshot_date,
        max(snapshot_date) as last_snapshot_date
    from {{ ref('stg_raw__page_snapshots') }}
),

day_offsets as (
    {{ integer_series(5) }}
),

calendar_days as (
    select
        {{ add_days('snapshot_bounds.first_snapshot_date', 'day_offsets.n') }} as date_day,
        snapshot_bounds.last_snapshot_date
    from snapshot_bounds
    inner join day_offsets
        on day_offsets.n <= {{ dbt.datediff('snapshot_bounds.first_snapshot_date',
            'snapshot_bounds.last_snapshot_date', 'day') }}
),

final as (
    select
        date_day,
        cast({{ dbt.date_trunc('week', 'date_day') }} as date) as week_start,
        {{ add_days(dbt.date_trunc('week', 'date_day'), 6) }} as week_end,
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
        cast({{ dbt.last_day('date_day', 'month') }} as date) as month_end,
        last_snapshot_date
    from calendar_days
)

select * from final
