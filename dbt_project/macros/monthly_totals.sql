{#-
    Month totals with month-over-month change, per group of keys, each network and 'all'.

    month_pages  a relation with month_start, month_end, is_complete, network, page_ref,
                 members_start, members_end and the key columns
    keys         the columns a total is per (e.g. ['region_code'] or
                 ['region_code', 'organization']); network is always added, with 'all'
                 summing every network (subscriptions across networks, not unique people)
    Growth sums comparable pages only: known at both the previous month end and this month end.
-#}
{% macro monthly_totals(month_pages, keys) -%}
    {%- set key_list = keys | join(', ') -%}
    with pages_with_total as (
        select {{ key_list }}, network, month_start, month_end, is_complete, page_ref,
            members_start, members_end
        from {{ month_pages }}

        union all

        select {{ key_list }}, 'all' as network, month_start, month_end, is_complete, page_ref,
            members_start, members_end
        from {{ month_pages }}
    ),

    totals as (
        select
            {{ key_list }},
            network,
            month_start,
            month_end,
            is_complete,
            cast(count(*) as bigint) as pages_total,
            cast(sum(case when members_end is not null then 1 else 0 end) as bigint)
                as pages_known,
            cast(sum(case when members_start is not null and members_end is not null
                then 1 else 0 end) as bigint) as pages_comparable,
            cast(sum(members_end) as bigint) as members_total,
            cast(sum(case when members_end is not null then members_start end) as bigint)
                as comparable_members_start,
            cast(sum(case when members_start is not null then members_end end) as bigint)
                as comparable_members_end
        from pages_with_total
        group by {{ key_list }}, network, month_start, month_end, is_complete
    ),

    growth as (
        select
            totals.*,
            {{ growth_measures('comparable_members_start', 'comparable_members_end') }}
        from totals
    )

    select
        current_month.*,
        previous_month.growth as prev_month_growth,
        current_month.growth - previous_month.growth as growth_change
    from growth as current_month
    left join growth as previous_month
        on previous_month.network = current_month.network
        {%- for key in keys %}
        and previous_month.{{ key }} = current_month.{{ key }}
        {%- endfor %}
        and previous_month.month_start
            = cast({{ dbt.dateadd('month', -1, 'current_month.month_start') }} as date)
{%- endmacro %}
