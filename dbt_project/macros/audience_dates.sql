{#-
    The audience dates an incremental model built from `upstream` must recompute (column
    audience_date): the dates of upstream rows whose `built_at_column` is newer than the
    high-water mark `high_water` (a scalar SQL expression; NULL: every date), and, unless
    with_gone is false, the dates this model holds that upstream no longer does (cleared by the
    caller's replace_days markers). Portable: DuckDB and Postgres.
-#}
{% macro audience_dates_rebuilt_upstream(upstream, built_at_column, high_water, with_gone=true) -%}
    select distinct upstream_rows.audience_date
    from {{ upstream }} as upstream_rows
    where ({{ high_water }}) is null
        or upstream_rows.{{ built_at_column }} > ({{ high_water }})
    {%- if with_gone %}

    union

    select built_dates.audience_date
    from (select distinct audience_date from {{ this }}) as built_dates
    where not exists (
        select 1 from {{ upstream }} as upstream_rows
        where upstream_rows.audience_date = built_dates.audience_date
    )
    {%- endif %}
{%- endmacro %}
