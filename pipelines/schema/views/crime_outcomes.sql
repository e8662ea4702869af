-- title: Crime outcomes on a stated count basis
-- description: Outcomes by force, period, offence category and outcome, on a stated count basis.
-- grain: one row per force, period, scheme, category, outcome scheme, outcome, count basis and source

-- Outcomes of anti-social behaviour are left out, as in `recorded_crime_releases`: it is not a
-- notifiable crime.
with final as (
    select
        c.force_id,
        c.period,
        c.period_grain,
        c.scheme,
        c.category,
        c.outcome_scheme,
        c.outcome,
        c.outcome_group,
        c.count_basis,
        cast(sum(c.outcome_count) as bigint) as outcome_count,
        c.source
    from core_counts__crime_outcomes as c
    left join ref_police_uk_crime_types as t
      on c.scheme = 'police_uk' and t.crime_type = c.category
    where coalesce(t.is_notifiable_crime, true)
    group by c.force_id, c.period, c.period_grain, c.scheme, c.category, c.outcome_scheme, c.outcome,
             c.outcome_group, c.count_basis, c.source
)

select * from final
