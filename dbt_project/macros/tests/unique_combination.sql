{#- Fails for every combination of `columns` that occurs more than once. -#}
{% test unique_combination(model, columns) %}
    with duplicated_keys as (
        select
            {{ columns | join(', ') }},
            count(*) as occurrences
        from {{ model }}
        group by {{ columns | join(', ') }}
        having count(*) > 1
    )

    select * from duplicated_keys
{% endtest %}
