{#-
    Fails for every combination of `columns` that occurs more than once.

    `rebuilt_by` (the columns an incremental model rewrites whole, e.g. [snapshot_date]) with
    `built_at` (a column holding the build's start on every row it wrote) checks only the
    partitions the latest build rewrote, old and new rows alike: the rest of the table is what
    earlier builds wrote and tested, and a build changes nothing outside the partitions it
    rewrites. That keeps a daily build's test from grouping all history, a cost that grows
    with the years kept (docs/perf-notes/transform.md). A full refresh stamps every row, so it
    is checked whole; `--vars '{test_all_history: true}'` checks everything on any build (after
    a build whose tests were skipped, or as a periodic audit). On raw snapshots, built_at is
    loaded_at: the days the latest load wrote.
-#}
{% test unique_combination(model, columns, rebuilt_by=none, built_at='built_at') %}
    {%- set key = columns | join(', ') -%}
    {%- set scoped = rebuilt_by and not var('test_all_history', false) %}
    with checked as (
        {%- if scoped %}
        select {% for c in columns %}checked_rows.{{ c }}{{ ', ' if not loop.last }}{% endfor %}
        from {{ model }} as checked_rows
        inner join (
            select distinct {{ rebuilt_by | join(', ') }}
            from {{ model }}
            where {{ built_at }} = (select max({{ built_at }}) from {{ model }})
        ) as rebuilt
            on {% for c in rebuilt_by -%}
            rebuilt.{{ c }} = checked_rows.{{ c }}{{ ' and ' if not loop.last }}
            {%- endfor %}
        {%- else %}
        select {{ key }} from {{ model }}
        {%- endif %}
    ),

    duplicated_keys as (
        select
            {{ key }},
            count(*) as occurrences
        from checked
        group by {{ key }}
        having count(*) > 1
    )

    select * from duplicated_keys
{% endtest %}
