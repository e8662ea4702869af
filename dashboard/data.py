"""The only module that opens the database: read-only, one cursor per query, cached by Streamlit.

Every function returns a Polars frame (or plain values) and is cached against the database file's
modification time, so a new load (which swaps in a new file) is picked up on the next rerun.
Standard views read the tables the load materialised; other peer groups are computed on demand.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl
import streamlit as st

from pipelines import divergence, reference
from pipelines import query as query_engine


def database_path() -> Path:
    return Path(os.environ.get("CROSSFORCE_DB", "crossforce.duckdb"))


def _version() -> float:
    return database_path().stat().st_mtime


@st.cache_resource
def _connection(path: str, version: float) -> duckdb.DuckDBPyConnection:
    # Keyed by the file's modification time: a load swaps in a new file, and the next query reopens it.
    # Opened with the SQL workbench's sandbox settings, because DuckDB opens a file once per process
    # and the workbench's own connections must agree with this one.
    return query_engine.connect(path)


def _cursor() -> duckdb.DuckDBPyConnection:
    # Streamlit runs each session in its own thread; a DuckDB connection serves one thread at a time.
    return _connection(str(database_path()), _version()).cursor()


def query(sql: str, params: dict | None = None) -> pl.DataFrame:
    return _cursor().sql(sql, params=params).pl()


@st.cache_data(show_spinner=False)
def _cached(sql: str, params: tuple, version: float) -> pl.DataFrame:
    return query(sql, dict(params))


def cached(sql: str, **params) -> pl.DataFrame:
    return _cached(sql, tuple(sorted(params.items())), _version())


# --- what is loaded ------------------------------------------------------------------------------------


def sources_loaded() -> pl.DataFrame:
    return cached("""
        select l.source, count(distinct l.file_name) as files, cast(sum(l.rows_read) as bigint) as rows_read,
               cast(sum(l.rows_quarantined) as bigint) as rows_quarantined,
               min(c.period) as first_period, max(c.period) as last_period,
               count(distinct c.force_id) as forces
        from ingest_log as l
        left join core_coverage as c using (file_name)
        group by all order by 1
    """)


def territorial_forces_with_data() -> int:
    return cached("""
        select count(distinct c.force_id) as n from core_coverage as c join forces as f using (force_id)
        where f.is_territorial_ew
    """)["n"][0]


def force_names() -> dict[str, str]:
    forces = reference.forces()
    return dict(zip(forces["force_id"], forces["short_name"]))


def territorial_forces() -> list[str]:
    return cached("select force_id from forces where is_territorial_ew order by short_name")["force_id"].to_list()


def coverage_sources() -> list[str]:
    return cached("select distinct source from coverage order by 1")["source"].to_list()


def coverage(source: str) -> pl.DataFrame:
    return cached("select * from coverage where source = $source order by force_id, period", source=source)


# --- divergence ------------------------------------------------------------------------------------------


def findings(peer_group: str = "all", window: str = "standard") -> pl.DataFrame:
    """Every finding for the peer group and window (`standard`, or a calendar year `YYYY`): the
    materialised table for the standard view, computed on demand otherwise."""
    if peer_group == "all" and window == "standard":
        return cached("select * from divergence order by rank nulls last")
    return _findings_on_demand(peer_group, window, _version())


@st.cache_data(show_spinner="Comparing forces…")
def _findings_on_demand(peer_group: str, window: str, version: float) -> pl.DataFrame:
    con = _cursor()
    windows = None if window == "standard" else divergence.windows_between(con, f"{window}-01", f"{window}-12")
    return divergence.findings(con, divergence.load_indicators(), peer_group=peer_group,
                               peers=divergence.peer_groups(con, peer_group), windows=windows)


def window_years() -> list[str]:
    """Calendar years some indicator's source covers, newest first."""
    sources = sorted(set(indicator_sources().values()))
    years = cached("""
        select distinct cast(year(period) as varchar) as year from recorded_crime where list_contains($sources, source)
        order by 1 desc
    """, sources=sources)
    return years["year"].to_list()


def indicator_labels() -> dict[str, str]:
    return {i.indicator_id: i.label for i in divergence.load_indicators()}


def indicator_sources() -> dict[str, str]:
    return {i.indicator_id: i.source for i in divergence.load_indicators()}


def mix_labels() -> dict[str, str]:
    return {m.mix_id: m.label for m in divergence.load_mixes()}


def mix_sources() -> dict[str, str]:
    return {m.mix_id: m.source for m in divergence.load_mixes()}


def mix_categories(mix_id: str) -> pl.DataFrame:
    return cached("select * from divergence_mix_categories where mix_id = $mix_id", mix_id=mix_id)


def mix_distances(mix_id: str) -> pl.DataFrame:
    return cached("select * from divergence_mix where mix_id = $mix_id order by distance desc", mix_id=mix_id)


def homogeneity() -> pl.DataFrame:
    return cached("select * from divergence_homogeneity order by mix_id")


def outcome_ratios(force_id: str) -> pl.DataFrame:
    return cached("select * from outcome_ratios where force_id = $force_id order by outcome_group", force_id=force_id)


# --- trends ----------------------------------------------------------------------------------------------------


def series(indicator_id: str) -> pl.DataFrame:
    """numerator and denominator per force and period over the indicator's source's span (precomputed by the load)."""
    return cached("""
        select force_id, period, numerator, denominator from divergence_series
        where indicator_id = $indicator_id order by force_id, period
    """, indicator_id=indicator_id)


def peers_band(series_frame: pl.DataFrame, forces: list[str]) -> pl.DataFrame:
    """Per period, the spread of the other territorial forces' shares: min, quartiles, median, max."""
    others = series_frame.filter(~pl.col("force_id").is_in(forces) & pl.col("force_id").is_in(territorial_forces()))
    return (others.with_columns((pl.col("numerator") / pl.col("denominator")).alias("share"))
            .group_by("period")
            .agg(pl.col("share").min().alias("lower"), pl.col("share").quantile(0.25).alias("q25"),
                 pl.col("share").median().alias("median"), pl.col("share").quantile(0.75).alias("q75"),
                 pl.col("share").max().alias("upper"), pl.len().alias("forces"))
            .sort("period"))


def events() -> pl.DataFrame:
    return cached("select event_date, scope, kind, event, event_source from breaks order by event_date")


def detected_breaks(indicator_id: str) -> pl.DataFrame:
    return cached("select * from divergence_breaks where indicator_id = $indicator_id order by force_id, period",
                  indicator_id=indicator_id)


# --- reconciliation and data quality ------------------------------------------------------------------------------


def reconciliation_groups() -> list[str]:
    return cached("select distinct reconciliation_group from ref_reconciliation_groups order by 1")["reconciliation_group"].to_list()


def reconciliation(force_id: str, group: str) -> pl.DataFrame:
    return cached("""
        select * from reconciliation
        where force_id = $force_id and reconciliation_group = $group
        order by period_grain, period, source
    """, force_id=force_id, group=group)


def missing_force_months(force_id: str) -> pl.DataFrame:
    return cached("""
        select source, period from coverage
        where force_id = $force_id and coverage_status = 'missing' order by source, period
    """, force_id=force_id)


def ingest_log() -> pl.DataFrame:
    return cached("select * from ingest_log order by source, file_name")


def quarantine(search: str = "") -> pl.DataFrame:
    return cached("""
        select file_name, row_number, source, reason, raw_row from quarantine
        where $search = '' or contains(lower(reason), lower($search)) or contains(lower(file_name), lower($search))
        order by file_name, row_number limit 5000
    """, search=search)


def quarantine_reasons() -> pl.DataFrame:
    return cached("""
        select source, regexp_replace(reason, '''[^'']*''', '''…''', 'g') as reason_kind, count(*) as rows
        from quarantine group by all order by rows desc
    """)


# --- labels and filters the pages share ---------------------------------------------------------------------

PUBLISHERS = {
    "police_uk_street": "data.police.uk street-level crime",
    "police_uk_outcomes": "data.police.uk outcomes",
    "ons_rec_crime_pfa": "ONS recorded crime by police force area (rolling years)",
    "ons_pfa_tables": "ONS police force area data tables",
    "ons_mid_year_estimates": "ONS mid-year population estimates",
    "mps_borough_crime": "Metropolitan Police Service borough counts (London Datastore)",
    "mps_ward_crime": "Metropolitan Police Service ward counts (London Datastore)",
    "ho_recorded_crime_pfa": "Home Office police recorded crime open data",
    "ho_recorded_crime_csp": "Home Office police recorded crime open data (CSP)",
    "ho_outcomes": "Home Office crime outcomes open data",
}


def source_note(source: str, start=None, end=None) -> str:
    """The line under a chart: publisher, licence and period."""
    period = ""
    if start is not None and end is not None:
        period = f"; {start:%b %Y} to {end:%b %Y}"
    return f"Source: {PUBLISHERS.get(source, source)}, Open Government Licence v3.0{period}. Analysis: crossforce."


def filtered_findings(peer_group: str, source: str = "all", indicator_id: str = "all", force_id: str = "all",
                      direction: str = "all", max_q: float = 1.0, ranked_only: bool = True, window: str | None = None) -> pl.DataFrame:
    frame = findings(peer_group, window or st.session_state.get("window", "standard"))
    if frame.height == 0:
        return frame
    sources = indicator_sources()
    frame = frame.with_columns(pl.col("indicator_id").replace_strict(sources, default=None).alias("source"))
    if source != "all":
        frame = frame.filter(pl.col("source") == source)
    if indicator_id != "all":
        frame = frame.filter(pl.col("indicator_id") == indicator_id)
    if force_id != "all":
        frame = frame.filter(pl.col("force_id") == force_id)
    if direction != "all":
        frame = frame.filter(pl.col("direction") == direction)
    if ranked_only:
        frame = frame.filter(pl.col("rank").is_not_null() & (pl.col("q_bh") <= max_q))
    return frame.sort("rank", nulls_last=True)


def indicators_with_findings(peer_group: str, source: str = "all") -> list[str]:
    frame = filtered_findings(peer_group, source, ranked_only=False)
    return sorted(frame["indicator_id"].unique().to_list()) if frame.height else []


def forces_with_findings(peer_group: str) -> list[str]:
    frame = findings(peer_group, st.session_state.get("window", "standard"))
    return sorted(frame["force_id"].unique().to_list(), key=lambda f: force_names().get(f, f)) if frame.height else []


# --- the SQL workbench ----------------------------------------------------------------------------------------------


def run_sql(sql: str, params: dict | None = None):
    """Run an analyst's SQL through the sandboxed engine that `crossforce query` uses."""
    return query_engine.run(database_path(), sql, params or {})


def saved_queries():
    return query_engine.saved_queries()
