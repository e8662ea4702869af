-- title: Why rows were quarantined
-- description: Each reason rows could not be loaded, per source: how many rows, from how many
--   files, and the first row to look at (file and row number).
-- grain: one row per source and reason

with quarantined as (
    select
        source,
        reason,
        file_name,
        row_number
    from quarantine
),

per_reason as (
    select
        source,
        reason,
        cast(count(*) as bigint) as rows_quarantined,
        cast(count(distinct file_name) as integer) as files,
        min({'file_name': file_name, 'row_number': row_number}) as first_row
    from quarantined
    group by source, reason
),

final as (
    select
        source,
        reason,
        rows_quarantined,
        files,
        first_row.file_name as file_name,
        first_row.row_number as row_number
    from per_reason
)

select * from final
order by rows_quarantined desc, source, reason
