{#-
    dbt's accepted_values, over the rows the latest build wrote (`built_at` equal to its newest
    value): an incremental model's other rows were written, and tested, by earlier builds, and a
    row's values change only when a build rewrites it. A daily build's test thus reads one day
    or period, not all history, which at federal size cost a good part of a day's build
    (docs/perf-notes/transform.md). A full refresh stamps every row, so it is checked whole;
    `--vars '{test_all_history: true}'` checks everything on any build. NULL passes, as in
    accepted_values.
-#}
{% test accepted_values_written(model, column_name, values, built_at='built_at') %}
    select {{ column_name }} as value_field, count(*) as n_records
    from {{ model }}
    where {{ column_name }} not in (
        {%- for value in values %}'{{ value }}'{{ ', ' if not loop.last }}{% endfor -%}
    )
    {%- if not var('test_all_history', false) %}
        and {{ built_at }} = (select max({{ built_at }}) from {{ model }})
    {%- endif %}
    group by {{ column_name }}
{% endtest %}
