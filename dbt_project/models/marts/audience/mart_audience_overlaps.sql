{#-
    The most-overlapping pairs among each region's largest pages (int_audience_overlap_pages)
    on the latest audience date, per network, ranked by shared members. Page A is the larger.
-#}
{%- set top_pairs = var('overlap_top_pairs') | int -%}

with page_overlaps as (
    select * from {{ ref('int_audience_page_overlaps') }}
),

overlap_pages as (
    select * from {{ ref('int_audience_overlap_pages') }}
),

ranked_pairs as (
    select
        page_overlaps.*,
        row_number() over (
            partition by page_overlaps.audience_date, page_overlaps.region_code,
                page_overlaps.network
            order by
                page_overlaps.shared_estimate desc, page_overlaps.page_ref_a asc,
                page_overlaps.page_ref_b asc
        ) as pair_rank
    from page_overlaps
    where page_overlaps.shared_estimate > 0
)

select
    ranked_pairs.audience_date,
    ranked_pairs.region_code,
    ranked_pairs.network,
    ranked_pairs.pair_rank,
    ranked_pairs.page_ref_a,
    page_a.registry_ref as registry_ref_a,
    page_a.title as title_a,
    ranked_pairs.page_ref_b,
    page_b.registry_ref as registry_ref_b,
    page_b.title as title_b,
    ranked_pairs.audience_a,
    ranked_pairs.audience_b,
    ranked_pairs.shared_estimate,
    ranked_pairs.shared_lower,
    ranked_pairs.shared_upper,
    case
        when ranked_pairs.audience_a > 0
            then ranked_pairs.shared_estimate / ranked_pairs.audience_a
    end as share_of_a,
    case
        when ranked_pairs.audience_b > 0
            then ranked_pairs.shared_estimate / ranked_pairs.audience_b
    end as share_of_b,
    case
        when ranked_pairs.audience_a + ranked_pairs.audience_b - ranked_pairs.shared_estimate > 0
            then ranked_pairs.shared_estimate
                / (ranked_pairs.audience_a + ranked_pairs.audience_b - ranked_pairs.shared_estimate)
    end as jaccard
from ranked_pairs
inner join overlap_pages as page_a
    on page_a.audience_date = ranked_pairs.audience_date
    and page_a.region_code = ranked_pairs.region_code
    and page_a.network = ranked_pairs.network
    and page_a.page_ref = ranked_pairs.page_ref_a
inner join overlap_pages as page_b
    on page_b.audience_date = ranked_pairs.audience_date
    and page_b.region_code = ranked_pairs.region_code
    and page_b.network = ranked_pairs.network
    and page_b.page_ref = ranked_pairs.page_ref_b
where ranked_pairs.pair_rank <= {{ top_pairs }}
