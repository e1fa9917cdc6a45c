{#- Planner settings for the Postgres target, run before every model on its connection; empty
    on DuckDB (dbt skips an empty hook).

    Our page-day lookups join on (network, page_ref, a computed date): each ask expands into
    its candidate days and is matched by equality. Postgres plans them from CTE scans that have
    no statistics, underestimates the rows by orders of magnitude and merge-joins on the page
    alone with the date as a join filter: every day of a page's history against every other.
    Measured on 300 pages x 730 days: int_page_days_filled 178 s with merge joins, 6.6 s with
    hash joins; int_dq_page_change_scores over 18 min, 52 s. Nested loops go for the same
    reason: a window filter (registry_as_of's duplicate_rank = 1) is estimated at 0.5 % of its
    rows, and mart_region_growth then looped 48,000 page-months over 47,000 (over 11 min at
    2,000 pages; 1.7 s hashed). Postgres still nests a loop where nothing else can do the join
    (the registry's validity ranges). Hash joins are what DuckDB uses for all of them. work_mem lets those hashes and the medians' sorts stay in memory
    (GOSPULSE_PG_WORK_MEM, default 256MB per sort or hash). -#}
{% macro postgres_session_settings() -%}
    {%- if target.type == 'postgres' -%}
        {%- set work_mem = env_var('GOSPULSE_PG_WORK_MEM', '256MB') | trim | replace("'", "") -%}
        set enable_mergejoin = off; set enable_nestloop = off; set work_mem = '{{ work_mem }}'
    {%- endif -%}
{%- endmacro %}

{#- `analyze` of the table a model just built, on Postgres (empty elsewhere). A table dbt has
    just created has no statistics until autovacuum gets to it, and the next model's plan then
    guesses a handful of rows: mart_region_growth nested-looped 48,000 registered page-months
    over mart_page_growth's months (264 s at 2,000 pages). -#}
{% macro postgres_analyze() -%}
    {%- if target.type == 'postgres' and config.get('materialized') in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- `materialized` on Postgres, nothing on DuckDB: put after `as` in a CTE whose computed join
    keys Postgres must see as plain columns (it then hashes on them instead of filtering a join
    on the page alone). DuckDB plans these joins well inline. -#}
{% macro pg_materialized() -%}
    {%- if target.type == 'postgres' %} materialized{% endif -%}
{%- endmacro %}
