"""Small layout helpers shared by the pages: the pages themselves, links that stay in the same tab
and carry the person's choices, charts and tables with their data. The widgets whose state lives
in the URL, and the filters every page shares, are in `dashboard.state`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboard import images, state

# The pages, by URL path. The default page is served at the root; Streamlit reserves its own
# `url_path` too, so `/overview` is a second, hidden entry for the same script (a link or a bookmark
# to it would otherwise open "Page not found").
PAGE_FILES = {
    "home": ("views/overview.py", "Overview"),
    "divergence": ("views/divergence.py", "Divergence finder"),
    "indicator": ("views/indicator.py", "Indicator"),
    "force": ("views/force.py", "Force profile"),
    "trends": ("views/trends.py", "Trends"),
    "reconciliation": ("views/reconciliation.py", "Reconciliation"),
    "workbench": ("views/workbench.py", "SQL workbench"),
    "quality": ("views/quality.py", "Data quality"),
}
HIDDEN_PAGES = {"overview": "home"}


def pages() -> list:
    """The `st.Page` objects of the app, visible ones first (built from `PAGE_FILES`)."""
    visible = [
        st.Page(file, title=title, url_path=path, default=path == "home") for path, (file, title) in PAGE_FILES.items()
    ]
    hidden = [
        st.Page(PAGE_FILES[target][0], title=PAGE_FILES[target][1], url_path=path, visibility="hidden")
        for path, target in HIDDEN_PAGES.items()
    ]
    return visible + hidden


def link(
    page: str, label: str, params: Mapping[str, str] | None = None, container=None, help: str | None = None
) -> None:
    """A link to another page (by its URL path) that opens in the same tab, carrying `params` and
    the person's shared choices."""
    file, _ = PAGE_FILES[HIDDEN_PAGES.get(page, page)]
    (container or st).page_link(file, label=label, query_params={**state.carried(), **(params or {})}, help=help)


def chart(fig: go.Figure, data: pl.DataFrame, key: str, on_select: Literal["ignore", "rerun"] = "ignore"):
    """A chart, a CSV download of exactly the data behind it, and the chart as an SVG image (drawn
    only when asked for). With `on_select="rerun"` a click on a point reruns the page and the
    selection is returned."""
    event = st.plotly_chart(
        fig, key=f"{key}_chart", config=images.plotly_config(key), on_select=on_select, selection_mode="points"
    )
    csv_column, image_column = st.columns(2)
    csv_column.download_button(
        "Download the data (CSV)",
        data.write_csv,
        file_name=f"{key}.csv",
        mime="text/csv",
        key=f"{key}_download",
        on_click="ignore",
    )
    if images.available():
        image_column.download_button(
            "Download the chart (SVG)",
            lambda: images.figure_image(fig, "svg") or b"",
            file_name=f"{key}.svg",
            mime="image/svg+xml",
            key=f"{key}_image",
            on_click="ignore",
        )
    else:
        image_column.caption(images.FALLBACK_WORDS)
    return event


def clicked_force(event) -> str | None:
    """The force_id of the point clicked on a chart whose points carry it first in `customdata`."""
    points = (
        (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) or hasattr(event, "get") else []
    )
    for point in points:
        data = point.get("customdata")
        if data:
            return data[0] if isinstance(data, (list, tuple)) else data
    return None


def go_to_force(force_id: str) -> None:
    """Open the force profile of `force_id`, keeping the person's other choices."""
    state.keep("force", force_id)
    st.switch_page(PAGE_FILES["force"][0], query_params={**state.carried(), "force": force_id})


# Probabilities span many orders of magnitude: show them in scientific notation.
_SCIENTIFIC = ("p_value", "q_bh", "q_by")
# Proportions read as percentages; differences of proportions as signed percentage points.
_PERCENT = ("share", "benchmark", "benchmark_crime_share", "witness_share", "witness_benchmark")
_FORMATS = {"difference_pp": "%+.2f pp", "ratio": "%.2f×", "z": "%+.2f"}
# Long text gets room of its own, so that the columns after it stay in view.
_WIDTHS: dict[str, Literal["small", "medium", "large"]] = {
    "indicator": "medium",
    "benchmark_coverage": "large",
    "status_reason": "large",
    "sentence": "large",
    "witness_label": "medium",
}


# A page of a long table: the browser takes in every row it is sent (about 1 KB a finding, with its
# sentence), so thousands of rows cost seconds of a page's run; the download holds every row.
TABLE_PAGE_ROWS = 200


def table(frame: pl.DataFrame, key: str, file_name: str | None = None) -> None:
    """A table with each column's help (from the schema) and a CSV download of exactly its rows.
    A table longer than `TABLE_PAGE_ROWS` is shown a page at a time, in its own order."""
    from dashboard import data

    shown = frame
    if frame.height > TABLE_PAGE_ROWS:
        pages = -(-frame.height // TABLE_PAGE_ROWS)
        page = st.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key=f"{key}_page")
        first = (page - 1) * TABLE_PAGE_ROWS
        shown = frame.slice(first, TABLE_PAGE_ROWS)
        st.caption(f"Rows {first + 1:,}–{first + shown.height:,} of {frame.height:,}; the download holds every row.")
    help_for = data.column_help(frame.columns)
    config = {}
    for column in frame.columns:
        number_format = "%.1e" if column in _SCIENTIFIC else "percent" if column in _PERCENT else _FORMATS.get(column)
        if number_format and frame.schema[column].is_numeric():
            config[column] = st.column_config.NumberColumn(column, format=number_format, help=help_for.get(column))
        elif column in help_for or column in _WIDTHS:
            config[column] = st.column_config.Column(column, help=help_for.get(column), width=_WIDTHS.get(column))
    st.dataframe(shown, hide_index=True, key=f"{key}_table", width="stretch", column_config=config)
    st.download_button(
        "Download the table (CSV)",
        frame.write_csv,
        file_name=f"{file_name or key}.csv",
        mime="text/csv",
        key=f"{key}_download",
        on_click="ignore",
    )
