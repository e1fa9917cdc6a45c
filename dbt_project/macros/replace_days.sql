{#-
    Incremental strategy `replace_days` for models whose rows of a day are all recomputed
    together but may be none at all (a day whose signals all cleared): delete+insert deletes
    only the keys of the new rows, so a day that lost every row would keep its stale ones.
    The model names each day it recomputed with a marker row, NULL in the column given as
    config day_marker_column (a column never NULL in a real row); this strategy deletes every
    day (the single-column unique_key) present in the new rows, markers included, and inserts
    only the real rows. A model emits markers only in its incremental branch, so a full build
    never stores one. Portable: the same SQL on DuckDB and Postgres.
-#}
{% macro get_incremental_replace_days_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set day = arg_dict['unique_key'] -%}
    {%- set marker = config.get('day_marker_column') -%}
    {%- if day is none or day is not string -%}
        {{ exceptions.raise_compiler_error(
            "replace_days needs a single-column unique_key (the day), got " ~ day) }}
    {%- endif -%}
    {%- if not marker -%}
        {{ exceptions.raise_compiler_error(
            "replace_days needs config day_marker_column (NULL only in marker rows)") }}
    {%- endif -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict['dest_columns'] | map(attribute="name")) -%}
    delete from {{ target }}
    where {{ day }} in (select distinct {{ day }} from {{ source }});

    insert into {{ target }} ({{ dest_cols_csv }})
    (
        select {{ dest_cols_csv }}
        from {{ source }}
        where {{ marker }} is not null
    )
{%- endmacro %}

{#-
    Incremental strategy `replace_from` for models whose rows per key are recomputed from a
    date on (an incident's run of days can grow, split or vanish): for each marker row (NULL
    in config marker_column, a column never NULL in a real row) it deletes the target rows
    with the same unique_key columns and config from_column at or after the marker's, then
    inserts only the real rows. A model emits markers only in its incremental branch.
    Portable: the same SQL on DuckDB and Postgres.
-#}
{% macro get_incremental_replace_from_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set keys = arg_dict['unique_key'] -%}
    {%- set marker = config.get('marker_column') -%}
    {%- set from_column = config.get('from_column') -%}
    {%- if keys is none or keys is string -%}
        {{ exceptions.raise_compiler_error(
            "replace_from needs a list of key columns as unique_key, got " ~ keys) }}
    {%- endif -%}
    {%- if not marker or not from_column -%}
        {{ exceptions.raise_compiler_error(
            "replace_from needs config marker_column and from_column") }}
    {%- endif -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict['dest_columns'] | map(attribute="name")) -%}
    delete from {{ target }}
    where exists (
        select 1
        from {{ source }} as marker
        where marker.{{ marker }} is null
            {%- for key in keys %}
            and marker.{{ key }} = {{ target.identifier }}.{{ key }}
            {%- endfor %}
            and {{ target.identifier }}.{{ from_column }} >= marker.{{ from_column }}
    );

    insert into {{ target }} ({{ dest_cols_csv }})
    (
        select {{ dest_cols_csv }}
        from {{ source }}
        where {{ marker }} is not null
    )
{%- endmacro %}
