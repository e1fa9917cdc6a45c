{#-
    Ranks pages by growth within partitions, for mart_growth_ranking; gospulse.ranking ranks a
    range asked for at read time by the same rules (tests/test_ranking.py holds them equal).

    candidates:   a relation/CTE with page_ref, is_resolved, members_start, members_end, growth,
                  growth_pct and the partition columns
    partition_by: list of column names to rank within (e.g. period, scope, network)
    Adds:
      exclusion_reason      why a page has no absolute rank: unresolved, unknown_start,
                            unknown_end, unknown_start_and_end, below_min_members
      pct_exclusion_reason  why a page has no % rank: the above, below_min_members_for_pct,
                            zero_start
      is_ranked / is_pct_ranked, rank_abs / rank_pct (NULL when not ranked)
    Ties are broken deterministically: absolute by growth desc, growth_pct desc, page_ref asc;
    percent by growth_pct desc, growth desc, page_ref asc.
-#}
{% macro rank_pages(candidates, partition_by=[], min_members_for_pct=none, min_members_for_abs=none) -%}
    {%- set min_pct = var('min_members_for_pct') if min_members_for_pct is none else min_members_for_pct -%}
    {%- set min_abs = var('min_members_for_abs') if min_members_for_abs is none else min_members_for_abs -%}
    {%- set parts = [] -%}
    {%- for column in partition_by -%}{%- do parts.append('eligible.' ~ column) -%}{%- endfor -%}
    {%- set abs_partition = (parts + ['eligible.is_ranked']) | join(', ') -%}
    {%- set pct_partition = (parts + ['eligible.is_pct_ranked']) | join(', ') -%}
    select
        eligible.*,
        case
            when eligible.is_ranked then row_number() over (
                partition by {{ abs_partition }}
                order by eligible.growth desc, eligible.growth_pct desc nulls last,
                    eligible.page_ref asc
            )
        end as rank_abs,
        case
            when eligible.is_pct_ranked then row_number() over (
                partition by {{ pct_partition }}
                order by eligible.growth_pct desc, eligible.growth desc, eligible.page_ref asc
            )
        end as rank_pct
    from (
        select
            flagged.*,
            flagged.exclusion_reason is null as is_ranked,
            coalesce(
                flagged.exclusion_reason,
                case
                    when flagged.members_start < {{ min_pct }} then 'below_min_members_for_pct'
                    when flagged.growth_pct is null then 'zero_start'
                end
            ) is null as is_pct_ranked,
            coalesce(
                flagged.exclusion_reason,
                case
                    when flagged.members_start < {{ min_pct }} then 'below_min_members_for_pct'
                    when flagged.growth_pct is null then 'zero_start'
                end
            ) as pct_exclusion_reason
        from (
            select
                candidate.*,
                case
                    when not candidate.is_resolved then 'unresolved'
                    when candidate.members_start is null and candidate.members_end is null
                        then 'unknown_start_and_end'
                    when candidate.members_start is null then 'unknown_start'
                    when candidate.members_end is null then 'unknown_end'
                    when candidate.members_start < {{ min_abs }} then 'below_min_members'
                end as exclusion_reason
            from {{ candidates }} as candidate
        ) as flagged
    ) as eligible
{%- endmacro %}
