{#- Postgres stand-in for the Python model int_audience_unions: dbt-postgres cannot run Python
    models, so publish_to_postgres computes the same rows with the same code (the DuckDB
    build's int_audience_unions, gospulse.audience) and loads them as raw.audience_unions. -#}
{{ config(enabled=target.type == 'postgres') }}
select
    audience_date,
    scope_type,
    scope_value,
    region_code,
    network,
    pages_unioned,
    unique_estimate,
    unique_lower,
    unique_upper,
    hll_lg_k,
    union_hll_sketch,
    built_at
from {{ source('raw', 'audience_unions') }}
