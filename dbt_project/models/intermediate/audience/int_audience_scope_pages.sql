{#-
    int_audience_page_dates in long form: one row per audience date, scope and page. Scopes are
    those of mart_growth_ranking plus organization: region (scope_value = region code),
    municipality, sector, flagship (the flagship pages of a region, scope_value = region code)
    and organization; every scope lies within one region (region_code is part of its key).
-#}
{%- set page_columns = [
    'audience_date', 'region_code', 'network', 'page_key', 'page_ref', 'members_count',
    'sketch_date', 'has_sketch', 'audience_status'
] -%}

with page_dates as (
    select * from {{ ref('int_audience_page_dates') }}
),

scope_pages as (
    {{ scope_fanout('page_dates', page_columns,
        ['region', 'municipality', 'sector', 'flagship', 'organization']) }}
)

select * from scope_pages
