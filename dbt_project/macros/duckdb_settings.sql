{#- `set memory_limit` for the run when GOSPULSE_DUCKDB_MEMORY_LIMIT is set (e.g. 6GB) on
    DuckDB; empty otherwise (dbt skips an empty hook), leaving DuckDB's default of 80 % of RAM.
    memory_limit is instance-wide, so one statement covers every thread and Python model;
    beyond it DuckDB spills joins, aggregates and sorts to disk instead of growing. -#}
{% macro duckdb_memory_limit() -%}
    {%- set limit = env_var('GOSPULSE_DUCKDB_MEMORY_LIMIT', '') | trim -%}
    {%- if target.type == 'duckdb' and limit -%}
        set memory_limit = '{{ limit | replace("'", "") }}'
    {%- endif -%}
{%- endmacro %}

{#- ` materialized` on DuckDB, for a CTE whose result should be written out (spillable) before
    the rest of the statement reads it, so that the hash tables built before it are freed
    first; nothing elsewhere (only DuckDB's plan was measured to need it). -#}
{% macro duckdb_materialized() -%}
    {%- if target.type == 'duckdb' %} materialized{% endif -%}
{%- endmacro %}
