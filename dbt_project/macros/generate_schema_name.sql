{#- Custom schema names (staging, intermediate, marts, snapshots) are used as they are, not
    prefixed with the target schema, so every environment has the same layout.
    var schema_suffix (e.g. '__next', set by gospulse.serving.postgres) builds every model into a
    side schema that is swapped in for the live one afterwards, so readers never see a half-built
    state. Snapshots keep their fixed schema: the SCD2 history must persist across runs. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set suffix = var('schema_suffix', '') -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif node.resource_type == 'snapshot' or not suffix -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}{{ suffix }}
    {%- endif -%}
{%- endmacro %}
