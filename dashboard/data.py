"""The only module that opens the database: read-only, one cursor per query, cached by Streamlit."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl
import streamlit as st


def database_path() -> Path:
    return Path(os.environ.get("CROSSFORCE_DB", "crossforce.duckdb"))


@st.cache_resource
def _connection(path: str, modified: float) -> duckdb.DuckDBPyConnection:
    # Keyed by the file's modification time: a load swaps in a new file, and the next query reopens it.
    return duckdb.connect(path, read_only=True)


def query(sql: str, params: dict | None = None) -> pl.DataFrame:
    path = database_path()
    con = _connection(str(path), path.stat().st_mtime)
    return con.cursor().sql(sql, params=params).pl()


@st.cache_data(ttl=60)
def sources_loaded() -> pl.DataFrame:
    return query("""
        select l.source, count(*) as files, sum(l.rows_read)::bigint as rows_read,
               sum(l.rows_quarantined)::bigint as rows_quarantined,
               min(c.period) as first_period, max(c.period) as last_period,
               count(distinct c.force_id) as forces
        from ingest_log as l
        left join core_coverage as c using (file_name)
        group by all order by 1
    """)
