{#-
    A running "value of the latest day that has one", without a join back to that day's row:
    max() over a page's ordered days of latest_mark(date, value) picks the mark of the latest day
    (a fixed-width day number sorts first), and mark_value() reads the value back (NULL when the
    value itself was NULL; NULL when no day had a mark). A join back would hold the whole
    window in a hash table (int_dq_page_days at 200,000 pages: BENCHMARKS.md, 2026-12-05 night).
-#}
{% macro latest_mark(date_expr, value_expr) -%}
    lpad(cast({{ dbt.datediff("cast('1900-01-01' as date)", date_expr, 'day') }} as varchar), 6, '0')
        || coalesce('|' || {{ value_expr }}, '')
{%- endmacro %}


{% macro mark_value(mark) -%}
    case when length({{ mark }}) > 6 then substr({{ mark }}, 8) end
{%- endmacro %}
