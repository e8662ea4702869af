-- title: Reconciliation: every source side by side on shared windows
-- description: The same force, window and offence group from every source side by side: each
--   source's count, how much of the window it supplied, and its ratio to the source that publishes
--   the window at its own grain. Windows are every period some source publishes (month, quarter or
--   rolling year); finer periods are summed into them.
-- grain: one row per force, window, reconciliation group and source

with grouped as (
    select r.source, r.force_id, r.period, r.period_grain, m.months_covered as months, g.reconciliation_group,
           cast(sum(r.offence_count) as bigint) as offence_count
    from recorded_crime as r
    join ref_reconciliation_groups as g using (scheme, category)
    join ref_period_grains as m using (period_grain)
    group by all
),

windows as (
    select distinct force_id, period, period_grain, months, reconciliation_group,
           period + to_months(months) as window_end
    from grouped
),

source_spans as (
    select source, period_grain, months, min(period) as first_period, max(period + to_months(months)) as span_end
    from grouped
    group by all
),

supplied_forces as (
    select distinct source, force_id from grouped
),

candidates as (
    -- every source whose dates overlap the window, at the window's grain or a finer one, that
    -- is national or has ever supplied the force: one force's own export is not "missing"
    -- for every other force
    select w.force_id, w.period, w.period_grain, w.reconciliation_group, w.window_end, s.source,
           s.period_grain as source_grain, s.months as source_months, w.months // s.months as periods_expected
    from windows as w
    join source_spans as s
      on s.months <= w.months and s.first_period < w.window_end and s.span_end > w.period
    left join ref_sources as r on r.source = s.source
    left join supplied_forces as f on f.source = s.source and f.force_id = w.force_id
    where coalesce(r.is_national, true) or f.force_id is not null
),

contributions as (
    select c.force_id, c.period, c.period_grain, c.reconciliation_group, c.source, c.periods_expected,
           cast(sum(g.offence_count) as bigint) as offence_count,
           cast(count(g.period) as integer) as periods_supplied
    from candidates as c
    left join grouped as g
      on g.source = c.source and g.force_id = c.force_id and g.reconciliation_group = c.reconciliation_group
     and g.period_grain = c.source_grain and g.period >= c.period
     -- wholly inside the window: a calendar year is no part of a rolling year ending in March
     and g.period + to_months(c.source_months) <= c.window_end
     and (g.period_grain <> c.period_grain or g.period = c.period)
    group by all
),

reference_counts as (
    select force_id, period, period_grain, reconciliation_group,
           min(source) as reference_source, arg_min(offence_count, source) as reference_count
    from contributions
    where periods_expected = 1 and periods_supplied = 1
    group by all
),

final as (
    select c.force_id, c.period, c.period_grain, c.reconciliation_group, c.source, c.offence_count,
           c.periods_supplied, cast(c.periods_expected as integer) as periods_expected,
           case when c.periods_supplied = 0 then 'missing'
                when c.periods_supplied < c.periods_expected then 'partial'
                else 'complete' end as window_status,
           r.reference_source, r.reference_count,
           c.offence_count / nullif(r.reference_count, 0) as ratio_to_reference,
           case when c.source <> r.reference_source
                then coalesce(exact.known_differences, any_reference.known_differences) end as known_differences
    from contributions as c
    left join reference_counts as r using (force_id, period, period_grain, reconciliation_group)
    left join ref_reconciliation_notes as exact
      on exact.source = c.source and exact.reference_source = r.reference_source
    left join ref_reconciliation_notes as any_reference
      on any_reference.source = c.source and any_reference.reference_source = '*'
)

select * from final
