{#-
    growth = members_end - members_start (NULL when either is unknown);
    growth_pct = growth in percent of members_start (NULL when the start is unknown or 0).
    Emits the two select-list items.
-#}
{% macro growth_measures(members_start, members_end) -%}
    {{ members_end }} - {{ members_start }} as growth,
    case
        when {{ members_start }} <> 0
            then cast(100.0 * ({{ members_end }} - {{ members_start }}) as double precision)
                / {{ members_start }}
    end as growth_pct
{%- endmacro %}
