{#-
    One row per (scope, page): fans a relation of pages out into the scopes gospulse reports
    on. Every scope lies within one region.

    relation  a relation/CTE with region_code, municipality, sector, is_flagship, organization,
              municipality_oktmo and settlement_oktmo (for 'territory') and the columns to keep
    columns   the columns to carry into every row
    scopes    which of region, municipality, sector, flagship, organization, territory to emit
    Adds scope_type and scope_value (the region code for 'region' and 'flagship').
-#}
{% macro scope_fanout(relation, columns, scopes=['region', 'municipality', 'sector', 'flagship']) -%}
    {%- set definitions = {
        'region': ("cast(region_code as varchar)", none),
        'municipality': ("municipality", "municipality is not null"),
        'sector': ("sector", none),
        'flagship': ("cast(region_code as varchar)", "is_flagship"),
        'organization': ("organization", "organization is not null"),
        'territory': ("territory_oktmo", "territory_oktmo is not null"),
    } -%}
    {#- a page counts in its municipality and, when the registry places it in one, its
        settlement: both are territories (OKTMO codes) -#}
    {%- set expanded = {
        'territory': "(select *, unnest([municipality_oktmo, settlement_oktmo]) as territory_oktmo from "
            ~ relation ~ ")",
    } -%}
    {%- for scope in scopes %}
    select '{{ scope }}' as scope_type, {{ definitions[scope][0] }} as scope_value,
        {{ columns | join(', ') }}
    from {{ expanded.get(scope, relation) }}
    {%- if definitions[scope][1] %}
    where {{ definitions[scope][1] }}
    {%- endif %}
    {%- if not loop.last %}

    union all
    {% endif -%}
    {%- endfor %}
{%- endmacro %}
