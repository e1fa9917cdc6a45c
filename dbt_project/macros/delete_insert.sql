{#-
    delete+insert on DuckDB, deleting by the distinct keys of the new rows.

    dbt-duckdb 1.11 deletes with `using <new rows>` joined on every column of a composite
    unique_key: when the key names a whole period ([period_type, period_start]) each stored row
    meets every new row of its period, a many-to-many join that grows with the square of a
    period's rows and dominated a federal incremental day (docs/perf-notes/transform.md, "Federal scale:
    transform"). Joining on the distinct keys instead is one match per stored row; a
    single-column key (snapshot_date) is deleted the same way.
    This overrides dbt-duckdb's macro of the same name (root-project macros come first).
-#}
{% macro duckdb__get_delete_insert_merge_sql(
    target, source, unique_key, dest_columns, incremental_predicates
) -%}
    {%- set dest_cols_csv = get_quoted_csv(dest_columns | map(attribute="name")) -%}
    {%- if unique_key -%}
        {%- set keys = [unique_key] if unique_key is string else unique_key -%}
        delete from {{ target }} as dbt_incremental_target
        using (
            select distinct {{ keys | join(', ') }} from {{ source }}
        ) as dbt_incremental_keys
        where
            {% for key in keys -%}
            dbt_incremental_keys.{{ key }} = dbt_incremental_target.{{ key }}
            {{- ' and' if not loop.last }}
            {% endfor -%}
            {%- for predicate in incremental_predicates or [] %}
            and {{ predicate }}
            {%- endfor %};
    {%- endif %}

    insert into {{ target }} ({{ dest_cols_csv }})
    (
        select {{ dest_cols_csv }}
        from {{ source }}
    )
{%- endmacro %}
