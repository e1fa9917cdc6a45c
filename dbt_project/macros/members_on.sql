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
