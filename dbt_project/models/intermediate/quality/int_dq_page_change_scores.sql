{#-
    The scored day-over-day changes of int_dq_page_days (macro dq_change_scores): one row per
    registered page and day with a fresh value today and yesterday. A view: the scores are
    computed, incrementally, with the page-day facts they belong to.
-#}
{{ config(materialized='view') }}
select
    network,
    page_ref,
    snapshot_date,
    members_prev,
    members_count,
    change,
    history_days,
    same_weekday_days,
    is_seasonal,
    expected_change,
    typical_deviation,
    change_scale,
    z_score,
    region_code,
    is_flagship,
    built_at
from {{ ref('int_dq_page_days') }}
where is_fresh and is_prev_fresh
