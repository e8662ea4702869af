-- title: Coverage gaps: periods missing per source and force
-- description: For every source, each force with at least one period missing in the source's
--   span (a missing period is missing, never zero): how many periods were expected, how many are
--   missing, and the first and last missing period.
-- grain: one row per source and force with a missing period

with expected as (
    select
        source,
        force_id,
        period,
        coverage_status
    from coverage
),

per_force as (
    select
        source,
        force_id,
        cast(count(*) as integer) as periods_expected,
        cast(count(*) filter (where coverage_status = 'missing') as integer) as periods_missing,
        min(period) filter (where coverage_status = 'missing') as first_missing_period,
        max(period) filter (where coverage_status = 'missing') as last_missing_period
    from expected
    group by source, force_id
),

final as (
    select
        p.source,
        p.force_id,
        f.short_name,
        p.periods_expected,
        p.periods_missing,
        p.periods_missing / p.periods_expected as missing_share,
        p.first_missing_period,
        p.last_missing_period
    from per_force as p
    left join forces as f on f.force_id = p.force_id
    where p.periods_missing > 0
)

select * from final
order by source, periods_missing desc, force_id
