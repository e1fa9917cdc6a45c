{#-
    Whether a page's growth over a month is real, from its member lists read with fields
    (VK): how many of the month's new members VK deactivated by the page's latest read (bought
    or fake accounts are banned in waves), and how much of the growth among members who show
    a city came from cities outside the page's region. suspect_growth and nonresident_growth
    mark the month (thresholds: the dq var's suspect_growth and nonresident_growth).
-#}
{%- set suspect_share = dq_setting('suspect_growth', 'min_deactivated_share') -%}
{%- set suspect_new = dq_setting('suspect_growth', 'min_new_members') -%}
{%- set nonresident_share = dq_setting('nonresident_growth', 'min_share') -%}
{%- set nonresident_growth = dq_setting('nonresident_growth', 'min_growth') -%}
with reads as (
    select * from {{ ref('int_growth_quality_reads') }}
),

sets as (
    select * from {{ ref('int_growth_quality_sets') }}
),

measured as (
    select
        reads.network,
        reads.page_ref,
        reads.region_code,
        'month' as period_type,
        reads.period_start,
        reads.period_end,
        reads.read_start_date,
        reads.read_end_date,
        reads.read_latest_date,
        reads.members_start,
        reads.members_end,
        reads.members_end - reads.members_start as net_growth,
        sets.new_members,
        sets.new_members_lower,
        sets.new_members_upper,
        sets.new_deactivated,
        sets.new_deactivated_lower,
        sets.new_deactivated_upper,
        case
            when sets.new_members > 0 then sets.new_deactivated / sets.new_members
        end as deactivated_share_of_new,
        case
            when reads.members_end > reads.members_start
                then sets.new_deactivated / (reads.members_end - reads.members_start)
        end as deactivated_share_of_growth,
        case
            when reads.in_region_end + reads.elsewhere_end > 0
                then cast(reads.in_region_end as double)
                    / (reads.in_region_end + reads.elsewhere_end)
        end as resident_share,
        reads.in_region_end - reads.in_region_start as residents_growth,
        reads.elsewhere_end - reads.elsewhere_start as nonresidents_growth,
        case
            when (reads.in_region_end + reads.elsewhere_end)
                > (reads.in_region_start + reads.elsewhere_start)
                then cast(reads.elsewhere_end - reads.elsewhere_start as double)
                    / ((reads.in_region_end + reads.elsewhere_end)
                        - (reads.in_region_start + reads.elsewhere_start))
        end as nonresident_share_of_growth,
        sets.built_at
    from reads
    inner join sets
        on sets.network = reads.network
        and sets.page_ref = reads.page_ref
        and sets.period_start = reads.period_start
),

marked as (
    select
        measured.*,
        coalesce(
            measured.new_members >= {{ suspect_new }}
            and measured.deactivated_share_of_new >= {{ suspect_share }},
            false
        ) as is_suspect_growth,
        coalesce(
            measured.nonresidents_growth >= {{ nonresident_growth }}
            and measured.nonresident_share_of_growth >= {{ nonresident_share }},
            false
        ) as is_nonresident_growth
    from measured
)

select
    network,
    page_ref,
    region_code,
    period_type,
    period_start,
    period_end,
    read_start_date,
    read_end_date,
    read_latest_date,
    members_start,
    members_end,
    net_growth,
    new_members,
    new_members_lower,
    new_members_upper,
    new_deactivated,
    new_deactivated_lower,
    new_deactivated_upper,
    deactivated_share_of_new,
    deactivated_share_of_growth,
    resident_share,
    residents_growth,
    nonresidents_growth,
    nonresident_share_of_growth,
    is_suspect_growth,
    is_nonresident_growth,
    case
        when is_suspect_growth then 'suspect_growth'
        when is_nonresident_growth then 'nonresident_growth'
        else 'ok'
    end as quality_mark,
    built_at
from marked
