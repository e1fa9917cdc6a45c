{#-
    A territory name as compared between the registry and the population table: lower case,
    trimmed, ё as е, runs of spaces and underscores as one space (the same comparison as
    gospulse.registry.office_files.normalized_name).
-#}
{% macro territory_name_key(expression) -%}
    nullif(
        trim(regexp_replace(replace(lower({{ expression }}), 'ё', 'е'), '[\s_]+', ' ', 'g')),
        ''
    )
{%- endmacro %}
