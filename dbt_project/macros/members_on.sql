{#-
    members_on(page, d): members_count of the latest snapshot with status 'ok' at or before d
    and at most max_carry_days old; NULL (unknown) otherwise. Non-ok rows never count.

    asks:      a relation/CTE with network, page_ref, as_of_date (one row per question)
    snapshots: a relation/CTE with network, page_ref, snapshot_date, members_count, status
               (at most one row per network, page_ref and snapshot_date, as raw guarantees)
    Returns one row per ask: network, page_ref, as_of_date, members_count, value_date.
    Each ask is expanded into its max_carry_days + 1 candidate dates and joined on equality:
    a join on the page alone with a date range would pair every day of a page's history with
    every other (quadratic in history), which is what made a federal build take hours.
-#}
{% macro members_on(asks, snapshots, max_carry_days=none) -%}
    {%- set carry = var('max_carry_days') if max_carry_days is none else max_carry_days -%}
    select
        latest_ok.network,
        latest_ok.page_ref,
        latest_ok.as_of_date,
        ok_snapshot.members_count,
        latest_ok.value_date
    from (
        select
            candidate.network,
            candidate.page_ref,
            candidate.as_of_date,
            max(ok_candidate.snapshot_date) as value_date
        from (
            select
                ask.network,
                ask.page_ref,
                ask.as_of_date,
                {{ add_days('ask.as_of_date', '-carry_days.days_back') }} as candidate_date
            from {{ asks }} as ask
            cross join (
                {% for days_back in range(carry + 1) -%}
                select {{ days_back }} as days_back{{ ' union all ' if not loop.last }}
                {% endfor -%}
            ) as carry_days
        ) as candidate
        left join {{ snapshots }} as ok_candidate
            on ok_candidate.network = candidate.network
            and ok_candidate.page_ref = candidate.page_ref
            and ok_candidate.snapshot_date = candidate.candidate_date
            and ok_candidate.status = 'ok'
            and ok_candidate.members_count is not null
        group by candidate.network, candidate.page_ref, candidate.as_of_date
    ) as latest_ok
    left join {{ snapshots }} as ok_snapshot
        on ok_snapshot.network = latest_ok.network
        and ok_snapshot.page_ref = latest_ok.page_ref
        and ok_snapshot.snapshot_date = latest_ok.value_date
{%- endmacro %}


{#-
    members_on over consecutive days: the same value as members_on for every row of
    `page_days`, plus that day's own raw row (day_status, day_loaded_at; NULL when none), from
    ONE equality join of page_days to raw and a window over each page's days in date order.

    page_days: network, page_ref, as_of_date, one row per page and day, where every asked day
               comes with the page's max_carry_days days before it (those it can carry from;
               days before the page's first snapshot hold nothing and may be left out). All
               of a page's days qualify, and so do a few asked days each with the days before.
    snapshots: as for members_on.
    Why: members_on expands each ask into max_carry_days + 1 candidates (4 x 146 M rows at
    federal size, grouped back) and joins raw twice; here each row is joined once and the
    carry is lag() over at most max_carry_days earlier rows. The lagged row counts only when
    its date is inside the carry window, so a gap in page_days never carries too far.
    Portable: lag() and a named window run alike on DuckDB and Postgres.
-#}
{% macro members_on_consecutive_days(page_days, snapshots, max_carry_days=none) -%}
    {%- set carry = var('max_carry_days') if max_carry_days is none else max_carry_days -%}
    select
        network,
        page_ref,
        as_of_date,
        {% for column, lagged in [('members_count', 'ok_members'), ('value_date', 'ok_date')] -%}
        case
            when ok_date_0 is not null then {{ lagged }}_0
            {% for k in range(1, carry + 1) -%}
            when ok_date_{{ k }} >= carry_start then {{ lagged }}_{{ k }}
            {% endfor -%}
        end as {{ column }},
        {% endfor -%}
        day_status,
        day_loaded_at
    from (
        select
            network,
            page_ref,
            as_of_date,
            {{ add_days('as_of_date', -carry) }} as carry_start,
            day_status,
            day_loaded_at,
            ok_date as ok_date_0,
            ok_members as ok_members_0
            {%- for k in range(1, carry + 1) %},
            lag(ok_date, {{ k }}) over page_order as ok_date_{{ k }},
            lag(ok_members, {{ k }}) over page_order as ok_members_{{ k }}
            {%- endfor %}
        from (
            select
                page_day.network,
                page_day.page_ref,
                page_day.as_of_date,
                day_snapshot.status as day_status,
                day_snapshot.loaded_at as day_loaded_at,
                case
                    when day_snapshot.status = 'ok' and day_snapshot.members_count is not null
                        then day_snapshot.snapshot_date
                end as ok_date,
                case
                    when day_snapshot.status = 'ok' then day_snapshot.members_count
                end as ok_members
            from {{ page_days }} as page_day
            left join {{ snapshots }} as day_snapshot
                on day_snapshot.network = page_day.network
                and day_snapshot.page_ref = page_day.page_ref
                and day_snapshot.snapshot_date = page_day.as_of_date
        ) as day_rows
        window page_order as (partition by network, page_ref order by as_of_date)
    ) as lagged
{%- endmacro %}
