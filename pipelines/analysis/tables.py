"""The derived tables: the analysis of the standard view, computed as frames for the load to write.

The load (`pipelines.ingest.load`, the only code that writes the database) recomputes them whenever a
file changes: the findings of the standard indicators for peer group `all` on each source's standard
window, the mixes, the case-mix adjusted outcome ratios, and every indicator's series and breaks.
Other peer groups, windows or indicators are computed on demand (`findings.for_peers_and_window`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import polars as pl

from pipelines.analysis import series
from pipelines.analysis.findings import findings
from pipelines.analysis.indicators import load_indicators, load_mixes
from pipelines.analysis.mixes import mix_findings
from pipelines.analysis.ratios import outcome_ratios
from pipelines.analysis.windows import Window

# The tables `derived_tables` returns, in the schema's names.
DERIVED_TABLES = (
    "divergence",
    "divergence_mix",
    "divergence_mix_categories",
    "divergence_homogeneity",
    "outcome_ratios",
    "divergence_breaks",
    "divergence_series",
)
# Sources whose last outcomes are standardised by crime type.
OUTCOME_RATIO_SOURCES = ("police_uk_street",)
# The analyst views the analysis reads hundreds of times (see `staged_views`).
STAGED_VIEWS = ("recorded_crime", "recorded_crime_releases", "crime_outcomes")


def derived_tables(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """Every derived table (DERIVED_TABLES) for the standard indicators, mixes and peer group `all`,
    as frames; an empty frame for a table with no rows. Nothing is written to the database."""
    with staged_views(con):
        return _compute(con)


@contextmanager
def staged_views(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The analyst views aggregate the whole core tables on every read, and the analysis reads them
    hundreds of times: inside this block it reads a copy taken once, a temporary table (on this
    connection only, never in the database file) that shadows the view of its name."""
    for view in STAGED_VIEWS:
        con.execute(f"create or replace temp table {view} as select * from main.{view}")
    try:
        yield
    finally:
        for view in STAGED_VIEWS:
            con.execute(f"drop table if exists temp.{view}")


def _compute(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    windows: dict[str, Window] = {}
    indicators = load_indicators()
    tables = {"divergence": findings(con, indicators, windows=windows)}
    tables["divergence_mix"], tables["divergence_mix_categories"], tables["divergence_homogeneity"] = mix_findings(
        con, load_mixes(), windows
    )
    # The mixes have filled `windows` with each source's standard window: the ratios use the same.
    ratios = [outcome_ratios(con, source, windows[source]) for source in OUTCOME_RATIO_SOURCES if source in windows]
    tables["outcome_ratios"] = (
        pl.concat([r for r in ratios if r.height]) if any(r.height for r in ratios) else pl.DataFrame()
    )
    tables["divergence_breaks"], tables["divergence_series"] = series.series_tables(con, indicators)
    return tables
