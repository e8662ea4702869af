-- title: Events that break series
-- description: Events that break series: the version-controlled registry plus any events users
--   loaded.
-- grain: one row per event

-- The registry ships with crossforce (`pipelines/reference/breaks.csv`); a user adds events by
-- ingesting a file with the same columns.
with registered as (
    select event_date, scope, kind, event, event_source, affects
    from ref_breaks
),

user_added as (
    select event_date, scope, kind, event, event_source, affects
    from core_breaks
),

final as (
    select * from registered
    union all
    select * from user_added
)

select * from final
