{#-
    dbt's not_null, over the rows the latest build wrote (`built_at` equal to its newest value),
    as accepted_values_written does: an incremental model's other rows were written, and
    tested, by earlier builds, so a daily build's test reads one day, not all history. A full
    refresh stamps every row, so it is checked whole; `--vars '{test_all_history: true}'` checks
    everything on any build.
-#}
{% test not_null_written(model, column_name, built_at='built_at') %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} is null
    {%- if not var('test_all_history', false) %}
        and {{ built_at }} = (select max({{ built_at }}) from {{ model }})
    {%- endif %}
{% endtest %}
