{#- Helpers of the data-quality models (models/intermediate/quality, marts/quality). -#}

{#- One setting of a data-quality rule from the dq var block in dbt_project.yml. -#}
{% macro dq_setting(rule, key) -%}
    {%- set rules = var('dq') -%}
    {%- if rule not in rules or key not in rules[rule] -%}
        {{ exceptions.raise_compiler_error("dq var: missing setting dq." ~ rule ~ "." ~ key) }}
    {%- endif -%}
    {{- return(rules[rule][key]) -}}
{%- endmacro %}

{#- A list of strings as a SQL literal list for `in (...)`. -#}
{% macro dq_string_list(values) -%}
    ({%- for value in values -%}
        '{{ dbt.escape_single_quotes(value) }}'{{ ', ' if not loop.last }}
    {%- endfor -%})
{%- endmacro %}

{#- A severity literal from the dq var block (only critical, warning, info are accepted). -#}
{% macro dq_severity(rule, key='severity') -%}
    {%- set value = dq_setting(rule, key) -%}
    {%- if value not in ('critical', 'warning', 'info') -%}
        {{ exceptions.raise_compiler_error("dq." ~ rule ~ "." ~ key ~ " must be critical, warning or info, got " ~ value) }}
    {%- endif -%}
    '{{ value }}'
{%- endmacro %}

{#- Orders severities: critical 3, warning 2, info 1. -#}
{% macro dq_severity_rank(expr) -%}
    case {{ expr }} when 'critical' then 3 when 'warning' then 2 when 'info' then 1 else 0 end
{%- endmacro %}

{#- The severity of a rank made by dq_severity_rank. -#}
{% macro dq_severity_of_rank(expr) -%}
    case {{ expr }} when 3 then 'critical' when 2 then 'warning' when 1 then 'info' end
{%- endmacro %}
