-- title: Quarantine: rows that could not be loaded
-- description: Rows that could not be loaded, with the reason and the row as read.
-- grain: one row per rejected input row

with final as (
    select
        file_name,
        row_number,
        source,
        reason,
        raw_row
    from meta_quarantine
)

select * from final
