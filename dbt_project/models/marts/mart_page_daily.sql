with page_days as (
    select * from {{ ref('int_page_days_filled') }}
)

select
    network,
    page_ref,
    snapshot_date,
    members_count,
    value_date,
    is_carried,
    status,
    is_known
from page_days
