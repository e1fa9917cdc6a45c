{#-
    One row per page registered (and resolved) on the latest snapshot date: its status that
    day, effective status, last ok date, days without an ok snapshot, members_on, and the
    incidents open on that date (mart_dq_incidents) with the worst severity among them.
-#}
with registry as (
    select * from {{ ref('int_registry_pages_resolved') }}
),

as_of as (
    select max(date_day) as as_of_date
    from {{ ref('int_calendar_days') }}
),

registered_pages as (
    {{ registry_as_of('registry', 'as_of', 'as_of_date') }}
),

-- the latest day only, said outright: a filter on the date skips the rest of history
page_days as (
    select *
    from {{ ref('int_dq_page_days') }}
    where snapshot_date = (select as_of_date from as_of)
),

incidents as (
    select * from {{ ref('mart_dq_incidents') }}
),

open_page_incidents as (
    select
        network,
        page_ref,
        cast(count(*) as integer) as open_incidents,
        max({{ dq_severity_rank('severity') }}) as worst_rank,
        {{ dbt.listagg('rule', "', '", "order by rule") }} as open_rules
    from incidents
    where scope_type = 'page' and status = 'open'
    group by network, page_ref
),

page_health as (
    select
        registered_pages.registered_on as as_of_date,
        registered_pages.network,
        registered_pages.page_ref,
        registered_pages.registry_ref,
        registered_pages.title,
        registered_pages.region_code,
        registered_pages.is_flagship,
        coalesce(page_days.status, 'missing') as status,
        coalesce(page_days.effective_status, 'missing') as effective_status,
        page_days.last_ok_date,
        page_days.days_without_ok,
        page_days.members_count,
        coalesce(open_page_incidents.open_incidents, 0) as open_incidents,
        {{ dq_severity_of_rank('open_page_incidents.worst_rank') }} as worst_open_severity,
        open_page_incidents.open_rules
    from registered_pages
    left join page_days
        on page_days.network = registered_pages.network
        and page_days.page_ref = registered_pages.page_ref
        and page_days.snapshot_date = registered_pages.registered_on
    left join open_page_incidents
        on open_page_incidents.network = registered_pages.network
        and open_page_incidents.page_ref = registered_pages.page_ref
    where registered_pages.page_ref is not null
)

select
    as_of_date,
    cast(network as varchar) as network,
    cast(page_ref as varchar) as page_ref,
    cast(registry_ref as varchar) as registry_ref,
    cast(title as varchar) as title,
    cast(region_code as integer) as region_code,
    cast(is_flagship as boolean) as is_flagship,
    cast(status as varchar) as status,
    cast(effective_status as varchar) as effective_status,
    last_ok_date,
    cast(days_without_ok as integer) as days_without_ok,
    cast(members_count as bigint) as members_count,
    open_incidents,
    cast(worst_open_severity as varchar) as worst_open_severity,
    cast(open_rules as varchar) as open_rules,
    cast(coalesce(worst_open_severity, 'ok') as varchar) as health
from page_health
