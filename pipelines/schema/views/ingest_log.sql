-- title: Ingest log: what each input file gave
-- description: One row per input file: rows read, loaded, quarantined and duplicated, with the
--   file's SHA-256.
-- grain: one row per input file

with final as (
    select
        file_name,
        source,
        sha256,
        rows_read,
        rows_loaded,
        rows_quarantined,
        rows_duplicate,
        started_at,
        finished_at
    from meta_ingest_log
)

select * from final
