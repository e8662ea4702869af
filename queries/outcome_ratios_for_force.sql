-- title: Case-mix adjusted outcome ratios for one force
-- description: For each outcome group and window, the force's observed outcomes against those
--   expected from its own crimes by type at the other forces' rates (1 = as its case mix
--   predicts), with 95% limits that allow for the spread between forces (as the findings'
--   overdispersed funnels do) and whether they exclude 1.
-- grain: one row per outcome group and window
-- param: force_id text default 'kent' — the force to show, a `force_id` from `forces`

with ratios as (
    select
        outcome_group,
        window_start,
        window_end,
        observed,
        expected,
        standardised_ratio,
        ratio_lower,
        ratio_upper
    from outcome_ratios
    where force_id = $force_id
),

final as (
    select
        *,
        case
            when ratio_lower > 1 then 'more than expected'
            when ratio_upper < 1 then 'fewer than expected'
            else 'as expected'
        end as compared_to_expected
    from ratios
)

select * from final
order by window_start, standardised_ratio desc nulls last, outcome_group
