{#-
    The pages whose overlaps mart_audience_overlaps measures: on the latest audience date, per
    region and network, the var overlap_top_pages largest pages with a usable sketch, by
    members_on (else the list size read with the sketch), ties by page_ref.
-#}
{%- set top_pages = var('overlap_top_pages') | int -%}

with page_dates as (
    select * from {{ ref('int_audience_page_dates') }}
),

latest_date as (
    select max(audience_date) as audience_date
    from page_dates
),

sketched_pages as (
    select
        page_dates.*,
        coalesce(page_dates.members_count, page_dates.sketch_members_count) as page_size
    from page_dates
    inner join latest_date
        on latest_date.audience_date = page_dates.audience_date
    where page_dates.has_sketch
),

ranked_pages as (
    select
        sketched_pages.*,
        row_number() over (
            partition by sketched_pages.region_code, sketched_pages.network
            order by sketched_pages.page_size desc nulls last, sketched_pages.page_ref asc
        ) as size_rank
    from sketched_pages
)

select
    audience_date,
    region_code,
    network,
    page_ref,
    registry_ref,
    title,
    page_size,
    size_rank,
    sketch_date
from ranked_pages
where size_rank <= {{ top_pages }}
