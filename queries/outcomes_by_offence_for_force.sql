-- title: Outcomes of one force's offences of one subgroup, by Home Office outcome type
-- description: Each Home Office outcome type's share of the force's offences of the chosen ONS
--   offence subgroup (for example Rape, or Violence with injury), beside the same share across
--   every territorial force of England and Wales (the force included), on the chosen count basis:
--   `offences_recorded_in_period` (what became of the offences recorded in the window, the basis
--   of crossforce's outcome indicators) or `outcomes_in_period` (outcomes assigned in the window,
--   whenever the offence was recorded). Shares of each column sum to 1.
-- grain: one row per outcome type
-- param: force_id text default 'metropolitan' — the force to show, a `force_id` from `forces`
-- param: offence_subgroup text default 'Rape' — an ONS offence subgroup, as in `crime_outcomes.category` where `scheme = 'ons_offence_subgroup'`
-- param: count_basis text default 'offences_recorded_in_period' — `offences_recorded_in_period` or `outcomes_in_period`

with outcome_counts as (
    select
        o.force_id,
        cast(o.outcome as integer) as outcome_type,
        o.outcome_group,
        o.outcome_count
    from crime_outcomes as o
    join forces as f on f.force_id = o.force_id
    where o.source = 'ho_outcomes'
      and o.scheme = 'ons_offence_subgroup'
      and o.category = $offence_subgroup
      and o.count_basis = $count_basis
      and f.is_territorial_ew
),

force_counts as (
    select outcome_type, cast(sum(outcome_count) as bigint) as force_count
    from outcome_counts
    where force_id = $force_id
    group by outcome_type
),

all_forces_counts as (
    select outcome_type, any_value(outcome_group) as outcome_group, cast(sum(outcome_count) as bigint) as all_forces_count
    from outcome_counts
    group by outcome_type
),

final as (
    select
        a.outcome_type,
        t.description as outcome,
        a.outcome_group,
        coalesce(c.force_count, 0) as force_count,
        coalesce(c.force_count, 0) / nullif(sum(coalesce(c.force_count, 0)) over (), 0) as force_share,
        a.all_forces_count,
        a.all_forces_count / sum(a.all_forces_count) over () as all_forces_share,
        force_share - all_forces_share as share_difference
    from all_forces_counts as a
    left join force_counts as c on c.outcome_type = a.outcome_type
    left join ref_ho_outcome_types as t on t.outcome_type = a.outcome_type
)

select * from final
order by outcome_type
