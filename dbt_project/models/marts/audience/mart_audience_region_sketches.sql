{#-
    The union HLL sketch of each region's pages per audience date and network: what a region
    hands to the federal level, which merges regions into a national unique count
    (gospulse.audience.federal). Holds no member IDs, only a keyed-hash sketch.
-#}
with unions as (
    select * from {{ ref('int_audience_unions') }}
    where scope_type = 'region'
)

select
    audience_date,
    region_code,
    network,
    pages_unioned,
    unique_estimate,
    unique_lower,
    unique_upper,
    hll_lg_k,
    union_hll_sketch
from unions
