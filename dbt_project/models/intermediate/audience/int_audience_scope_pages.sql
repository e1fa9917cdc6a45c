{#-
    int_audience_page_dates in long form: one row per audience date, scope and page. Scopes are
    those of the growth ranking plus organization: region (scope_value = region code),
    municipality, sector, flagship (the flagship pages of a region, scope_value = region code),
    organization and territory (scope_value = the OKTMO code of the page's municipality, and of
    its settlement when it has one: mart_reach divides these by population); every scope lies
    within one region (region_code is part of its key).

    Incremental by audience date, like int_audience_page_dates: a build fans out again exactly
    the dates int_audience_page_dates recomputed since the build this model last read (their
    built_at newer than the page_dates_built_at kept here), and replaces them whole (strategy
    replace_days, markers NULL in scope_type); a date that lost every page there is cleared.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_days',
        unique_key='audience_date',
        day_marker_column='scope_type',
        on_schema_change='fail',
    )
}}
{%- set page_columns = [
    'audience_date', 'region_code', 'network', 'page_key', 'page_ref', 'members_count',
    'sketch_date', 'has_sketch', 'audience_status', 'built_at as page_dates_built_at'
] -%}

with all_page_dates as not materialized (
    select * from {{ ref('int_audience_page_dates') }}
),

{% if is_incremental() %}
rebuilt_dates as (
    {{ audience_dates_rebuilt_upstream('all_page_dates', 'built_at',
        'select max(page_dates_built_at) from ' ~ this) }}
),

page_dates as (
    select all_page_dates.*
    from all_page_dates
    inner join rebuilt_dates on rebuilt_dates.audience_date = all_page_dates.audience_date
),
{% else %}
page_dates as (
    select * from all_page_dates
),
{% endif %}

scope_pages as (
    {{ scope_fanout('page_dates', page_columns,
        ['region', 'municipality', 'sector', 'flagship', 'organization', 'territory']) }}
)

select * from scope_pages
{%- if is_incremental() %}

union all

-- one marker per recomputed date (not stored): the date is replaced even if no page is left
select
    null, null, audience_date,
    {%- for _ in page_columns[1:-1] %}
    null,
    {%- endfor %}
    null
from rebuilt_dates
{%- endif %}
