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
    select 'region' as scope_type, cast(region_code as varchar) as scope_value,
        {{ page_columns | join(', ') }}
    from page_dates

    union all

    select 'municipality' as scope_type, municipality as scope_value,
        {{ page_columns | join(', ') }}
    from page_dates
    where municipality is not null

    union all

    select 'sector' as scope_type, sector as scope_value,
        {{ page_columns | join(', ') }}
    from page_dates

    union all

    select 'flagship' as scope_type, cast(region_code as varchar) as scope_value,
        {{ page_columns | join(', ') }}
    from page_dates
    where is_flagship

    union all

    select 'organization' as scope_type, organization as scope_value,
        {{ page_columns | join(', ') }}
    from page_dates
    where organization is not null
)

select * from scope_pages
