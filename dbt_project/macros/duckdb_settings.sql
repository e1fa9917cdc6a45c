{#- `set memory_limit` for the run when GOSPULSE_DUCKDB_MEMORY_LIMIT is set (e.g. 6GB); empty
    otherwise (dbt skips an empty hook), leaving DuckDB's default of 80 % of RAM.
    memory_limit is instance-wide, so one statement covers every thread and Python model;
    beyond it DuckDB spills joins, aggregates and sorts to disk instead of growing. -#}
{% macro duckdb_memory_limit() -%}
    {%- set limit = env_var('GOSPULSE_DUCKDB_MEMORY_LIMIT', '') | trim -%}
    {%- if limit -%}
        set memory_limit = '{{ limit | replace("'", "") }}'
    {%- endif -%}
{%- endmacro %}
