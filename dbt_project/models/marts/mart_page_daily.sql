{#-
    The published daily series: int_page_days_filled's business columns and its built_at, as a
    view. A table here copied every page and day once more on each build; the publication
    copies the view's rows (a day's publication only the days the build rewrote, by built_at).
-#}
{{ config(materialized='view') }}
select
    network,
    page_ref,
    snapshot_date,
    members_count,
    value_date,
    is_carried,
    status,
    is_known,
    source_loaded_at,
    built_at
from {{ ref('int_page_days_filled') }}
