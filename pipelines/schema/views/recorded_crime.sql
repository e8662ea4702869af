-- title: Recorded crime, each month from its latest release
-- description: Notifiable offences recorded, by force, period, scheme and category, from every
--   source, taking each month from the latest release that has it (anti-social behaviour excluded).
-- grain: one row per force, period, period grain, scheme, category and source

-- A month re-published in a later release is kept in every release (`recorded_crime_releases`);
-- this view takes it from the latest. A source not released in vintages has no release date:
-- `is not distinct from` keeps its rows (null is not distinct from null).
with latest as (
    select *, max(release_date) over (partition by source, force_id, period, period_grain) as latest_release
    from recorded_crime_releases
),

final as (
    select force_id, period, period_grain, scheme, category, offence_count, count_note, source, release_date
    from latest
    where release_date is not distinct from latest_release
)

select * from final
