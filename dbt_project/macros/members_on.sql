{#-
    members_on(page, d): members_count of the latest snapshot with status 'ok' at or before d
    and at most max_carry_days old; NULL (unknown) otherwise. Non-ok rows never count.

    asks:      a relation/CTE with network, page_ref, as_of_date (one row per question)
    snapshots: a relation/CTE with network, page_ref, snapshot_date, members_count, status
    Returns one row per ask: network, page_ref, as_of_date, members_count, value_date.
    The carry window is bounded, so this is a small range join, not a scan of the history.
-#}
{% macro members_on(asks, snapshots, max_carry_days=none) -%}
    {%- set carry = var('max_carry_days') if max_carry_days is none else max_carry_days -%}
    select
        network,
        page_ref,
        as_of_date,
        members_count,
        value_date
    from (
        select
            ask.network,
            ask.page_ref,
            ask.as_of_date,
            ok_snapshot.members_count,
            ok_snapshot.snapshot_date as value_date,
            row_number() over (
                partition by ask.network, ask.page_ref, ask.as_of_date
                order by ok_snapshot.snapshot_date desc nulls last
            ) as recency
        from {{ asks }} as ask
        left join {{ snapshots }} as ok_snapshot
            on ok_snapshot.network = ask.network
            and ok_snapshot.page_ref = ask.page_ref
            and ok_snapshot.status = 'ok'
            and ok_snapshot.members_count is not null
            and ok_snapshot.snapshot_date <= ask.as_of_date
            and ok_snapshot.snapshot_date >= {{ add_days('ask.as_of_date', -carry) }}
    ) as candidates
    where recency = 1
{%- endmacro %}
