{#-
    Every version of every registry entry with the dates it was valid, as the published copy's
    readers need it to ask "which pages were registered, with which attributes, on day D"
    through validity intervals (gospulse top, the report) without a dbt process. A view over
    int_registry_pages_resolved: a table here copied the whole registry on every build, and
    the publication copies the view's rows.
-#}
{{ config(materialized='view') }}
select
    network,
    page_ref,
    page_key,
    registry_ref,
    ref_kind,
    ref_value,
    is_resolved,
    title,
    organization,
    region_code,
    municipality,
    sector,
    is_flagship,
    valid_from,
    valid_to
from {{ ref('int_registry_pages_resolved') }}
