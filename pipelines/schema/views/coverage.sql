-- title: Coverage: each period a source is expected to supply, supplied or missing
-- description: For every source, each force and period it is expected to supply, at the source's
--   own grain: every month of a monthly source's span, and every period a quarterly or yearly table
--   was published for (annual years before quarterly ones are not missing quarters): rows supplied,
--   or `missing`. A national source is expected from every territorial force of England and Wales
--   (plus any other body it supplied); a force's own export only from that force.
-- grain: one row per source, force and period

with supplied as (
    select source, force_id, period, cast(sum(rows_supplied) as bigint) as rows_supplied
    from core_coverage
    group by all
),

published_grains as (
    select distinct source, period_grain from core_counts__recorded_crime
    union
    select distinct source, period_grain from core_counts__crime_outcomes
),

-- A source's periods step by its own grain (a month for police.uk, a quarter for the
-- Home Office tables), read from the counts it wrote; rolling years are published quarterly.
source_steps as (
    select p.source, min(g.step_months) as step_months, arg_min(p.period_grain, g.step_months) as period_grain
    from published_grains as p
    join ref_period_grains as g using (period_grain)
    group by all
),

spans as (
    select s.source, min(s.period) as first_period, max(s.period) as last_period,
           coalesce(any_value(t.step_months), 1) as step_months,
           coalesce(any_value(t.period_grain), 'month') as period_grain
    from supplied as s
    left join source_steps as t using (source)
    group by all
),

-- A monthly source is expected every month of its span, so that a month no file was
-- loaded for shows. A quarterly or yearly table is expected for the periods it was
-- published for: the ONS series is annual before it is quarterly, and a year is not four
-- missing quarters.
months as (
    select s.source, cast(m.month as date) as period
    from spans as s,
         lateral (select unnest(generate_series(s.first_period, s.last_period, to_months(s.step_months))) as month) as m
    where s.step_months = 1
    union
    select distinct p.source, p.period
    from supplied as p join spans as s using (source)
    where s.step_months > 1
),

expected_forces as (
    select s.source, f.force_id
    from spans as s
    join ref_sources as r on r.source = s.source and r.is_national
    cross join ref_forces as f
    where f.is_territorial_ew
    union
    select distinct source, force_id from supplied
),

final as (
    select e.source, e.force_id, m.period, g.period_grain, s.rows_supplied,
           case when s.rows_supplied is null then 'missing' else 'supplied' end as coverage_status
    from expected_forces as e
    join months as m using (source)
    join spans as g using (source)
    left join supplied as s using (source, force_id, period)
)

select * from final
