{#-
    The published daily series: int_page_days_filled as it is. Incremental like it (delete+insert
    of whole days): a build rewrites the days int_page_days_filled rewrote since the newest of
    its built_at this mart saw (filled_built_at; macro filled_days_rewritten), so a build that
    skipped the mart (a failed test upstream) is caught up by the next one.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='snapshot_date',
        on_schema_change='fail',
    )
}}
with page_days as not materialized (
    select * from {{ ref('int_page_days_filled') }}
),

{% if is_incremental() %}
days_to_build as (
    {{ filled_days_rewritten('page_days', this) }}
),

page_days_to_build as (
    select page_days.*
    from page_days
    inner join days_to_build
        on days_to_build.date_day = page_days.snapshot_date
)
{% else %}
page_days_to_build as (
    select * from page_days
)
{% endif %}

select
    network,
    page_ref,
    snapshot_date,
    members_count,
    value_date,
    is_carried,
    status,
    is_known,
    source_loaded_at,
    {{ filled_high_water() }} as filled_built_at,
    {{ build_started_at() }} as built_at
from page_days_to_build
