{#-
    One row per incident (int_dq_incidents: the days on which one rule fired for one page, or
    region and network, in an unbroken run). An incident is open when its last_seen is the
    latest snapshot date in the warehouse, closed otherwise. A table rebuilt every build (a
    copy of the incidents, no windows): open and closed move with the latest date.
-#}
with incidents as (
    select * from {{ ref('int_dq_incidents') }}
),

as_of as (
    select max(date_day) as as_of_date
    from {{ ref('int_calendar_days') }}
)

select
    incidents.incident_id,
    incidents.scope_type,
    incidents.network,
    incidents.page_ref,
    incidents.region_code,
    incidents.title,
    incidents.rule,
    incidents.severity,
    incidents.first_seen,
    incidents.last_seen,
    incidents.signal_days,
    incidents.current_value,
    incidents.value_unit,
    incidents.expected_low,
    incidents.expected_high,
    incidents.detail,
    cast(
        case when incidents.last_seen = as_of.as_of_date then 'open' else 'closed' end
        as varchar
    ) as status,
    as_of.as_of_date
from incidents
cross join as_of
