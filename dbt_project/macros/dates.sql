{#- Small portable date helpers on top of dbt's cross-database macros. -#}

{#- expr shifted by n days, as a date (dateadd returns a timestamp on some adapters) -#}
{% macro add_days(expr, n) -%}
    cast({{ dbt.dateadd('day', n, expr) }} as date)
{%- endmacro %}

{#- A literal date from a Python/Jinja value, validated as ISO yyyy-mm-dd. -#}
{% macro date_literal(value) -%}
    {%- set parsed = modules.datetime.date.fromisoformat(value | string) -%}
    cast('{{ parsed.isoformat() }}' as date)
{%- endmacro %}

{#- The integers 0 .. 10^digits - 1 as column n, from cross-joined digits (plain SQL, no
    generate_series). -#}
{% macro integer_series(digits=5) -%}
    select
        {% for i in range(digits) -%}
        d{{ i }}.digit * {{ 10 ** i }}{{ ' +' if not loop.last }}
        {% endfor -%} as n
    from
        {% for i in range(digits) -%}
        (
            select 0 as digit union all select 1 union all select 2 union all select 3
            union all select 4 union all select 5 union all select 6 union all select 7
            union all select 8 union all select 9
        ) as d{{ i }}{{ ',' if not loop.last }}
        {% endfor %}
{%- endmacro %}

{#- The time this dbt invocation started (UTC), as a timestamp literal: one value for every row
    a build writes, so models downstream can tell which rows a build rewrote. -#}
{% macro build_started_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}
