{#-
    What an incremental mart built from mart_page_growth and the registry must rebuild. Such a
    mart stores, on every row, the newest growth built_at it read (growth_built_at) and the
    registry's registry_seen_at; both only grow, so their column-wide maxima in {{ this }} are
    the high-water marks of the last build, found without grouping the mart's rows.
-#}

{#- One row: growth_high_water and registry_high_water of {{ this }} (NULL when it is empty). -#}
{% macro built_high_water() -%}
    select
        max(growth_built_at) as growth_high_water,
        max(registry_seen_at) as registry_high_water
    from {{ this }}
{%- endmacro %}

{#-
    One row: changed_from, the first date a registry change since the last build applies to
    (NULL when the registry did not change). A newly listed page's first version, or any page
    whose screen name was resolved since, counts from the beginning of time (its page_ref is
    new in every period it is listed in); a closed version from its valid_to.
    built  a relation with registry_high_water (built_high_water)
-#}
{% macro registry_changed_from(registry, built) -%}
    select min(changed_from) as changed_from
    from (
        select min(
            case
                when registry.version_number = 1 then cast('1900-01-01' as date)
                else registry.valid_from
            end
        ) as changed_from
        from {{ registry }} as registry
        cross join {{ built }} as built
        where built.registry_high_water is null
            or registry.version_loaded_at > built.registry_high_water

        union all

        select min(registry.valid_to)
        from {{ registry }} as registry
        cross join {{ built }} as built
        where registry.version_ended_at > built.registry_high_water

        union all

        select min(cast('1900-01-01' as date))
        from {{ registry }} as registry
        cross join {{ built }} as built
        where registry.page_resolved_at > built.registry_high_water
    ) as registry_changes
{%- endmacro %}

{#-
    The months a month-over-month mart builds, from `months` (month_start, month_end, ...):
    every month in a full build; incrementally, every month from the first one that changed
    (mart_page_growth rewrote its month row since growth_high_water, or the registry changed on
    or before its month_end) to the newest, plus the month before it, read for
    prev_month_growth only. Column is_rebuilt tells the two apart: only rebuilt months are
    written. A month's change moves the next month's prev_month_growth, hence "to the newest".
    A new day rewrites only the current month, so a daily build reads two months.
-#}
{% macro months_to_build(months, page_growth, registry) -%}
    {%- if is_incremental() %}
    select
        months.*,
        months.month_start >= rebuild.month_start as is_rebuilt
    from {{ months }} as months
    cross join (
        select least(
            (
                -- the mark compared as a scalar: DuckDB then skips the row groups of the
                -- growth rows older builds wrote (a mark joined in read every month row)
                select min(page_growth.period_start)
                from {{ page_growth }} as page_growth
                where page_growth.period_type = 'month'
                    and page_growth.built_at > (
                        select coalesce(built.growth_high_water, cast('1900-01-01' as timestamp))
                        from ({{ built_high_water() }}) as built
                    )
            ),
            (
                select min(changed_months.month_start)
                from {{ months }} as changed_months
                cross join (
                    {{ registry_changed_from(registry, '(' ~ built_high_water() ~ ')') }}
                ) as registry_change
                where changed_months.month_end >= registry_change.changed_from
            )
        ) as month_start
    ) as rebuild
    where months.month_start
        >= cast({{ dbt.dateadd('month', -1, 'rebuild.month_start') }} as date)
    {%- else %}
    select months.*, true as is_rebuilt
    from {{ months }} as months
    {%- endif %}
{%- endmacro %}

{#-
    The rows of `totals` (monthly_totals over months_to_build) for the rebuilt months only,
    with the build state an incremental monthly mart keeps: the month's newest growth
    built_at, the registry's registry_seen_at and this build's built_at.
    keys  the key columns monthly_totals was given; the measures follow them
-#}
{% macro rebuilt_months_with_build_state(totals, keys, months_to_build, page_growth, registry) -%}
    {%- set columns = keys + [
        'network', 'month_start', 'month_end', 'is_complete', 'pages_total', 'pages_known',
        'pages_comparable', 'members_total', 'comparable_members_start', 'growth',
        'growth_pct', 'prev_month_growth', 'growth_change'
    ] -%}
    select
        {%- for column in columns %}
        {{ totals }}.{{ column }},
        {%- endfor %}
        month_growth_built.growth_built_at,
        registry_seen.registry_seen_at,
        {{ build_started_at() }} as built_at
    from {{ totals }}
    left join (
        select page_growth.period_start as month_start,
            max(page_growth.built_at) as growth_built_at
        from {{ page_growth }} as page_growth
        inner join {{ months_to_build }} as months
            on months.month_start = page_growth.period_start
        where months.is_rebuilt
        group by page_growth.period_start
    ) as month_growth_built
        on month_growth_built.month_start = {{ totals }}.month_start
    cross join ({{ registry_seen_at(registry) }}) as registry_seen
    where {{ totals }}.month_start in (
        select month_start from {{ months_to_build }} where is_rebuilt
    )
{%- endmacro %}
