{#- Postgres stand-in for the Python model int_audience_page_overlaps, loaded by
    publish_to_postgres as raw.audience_page_overlaps (see int_audience_unions_pg). -#}
{{ config(enabled=target.type == 'postgres') }}
select
    audience_date,
    region_code,
    network,
    page_ref_a,
    page_ref_b,
    audience_a,
    audience_b,
    shared_estimate,
    shared_lower,
    shared_upper
from {{ source('raw', 'audience_page_overlaps') }}
