"""Small layout helpers shared by the pages: the pages themselves, links that stay in the same tab
and carry the person's choices, charts and tables with their data. The widgets whose state lives
in the URL, and the filters every page shares, are in `dashboard.state`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboard import images, state


class PageFile(NamedTuple):
    """A page: its script, its title, and what it shows (the caption under the title)."""

    file: str
    title: str
    caption: str


# The pages, by URL path. The default page is served at the root; Streamlit reserves its own
# `url_path` too, so `/overview` is a second, hidden entry for the same script (a link or a bookmark
# to it would otherwise open "Page not found").
PAGE_FILES = {
    "home": PageFile(
        "views/overview.py",
        "Overview",
        "What is loaded, which force supplied which period of each source, and the largest divergences.",
    ),
    "divergence": PageFile(
        "views/divergence.py",
        "Divergence finder",
        "Where a force's share departs from its peers (benchmark excludes the force), effect first, with funnel "
        "limits that allow for overdispersion and Benjamini–Yekutieli q-values controlling the false discovery "
        "rate. Only classification findings that pass every screen are ranked; the data-supply list and the "
        "findings screened out are shown below, each with its reason.",
    ),
    "indicator": PageFile(
        "views/indicator.py",
        "Indicator",
        "One indicator: what it counts, every force compared with the chosen one highlighted and its peers "
        "named, the funnel, a map coloured by z, and the trend.",
    ),
    "force": PageFile(
        "views/force.py",
        "Force profile",
        "One force against its peers: every indicator, its offence mix, its rates per 1,000 residents and its "
        "case-mix adjusted outcomes.",
    ),
    "trends": PageFile(
        "views/trends.py",
        "Trends",
        "An indicator over time for chosen forces, beside the other forces' band, with registered events "
        "(rule and records-system changes) and breaks the engine detected.",
    ),
    "reconciliation": PageFile(
        "views/reconciliation.py",
        "Reconciliation",
        "The same force, window and offence group from every source that has it, with each source's "
        "coverage of the window and its ratio to the source that publishes that window itself.",
    ),
    # Its caption says the sandbox's limits: `workbench.caption()`.
    "workbench": PageFile("views/workbench.py", "SQL workbench", ""),
    "quality": PageFile(
        "views/quality.py",
        "Data quality",
        "What was loaded, what was left out and why, and the events that break series.",
    ),
}
HIDDEN_PAGES = {"overview": "home"}


def pages() -> list:
    """The `st.Page` objects of the app, visible ones first (built from `PAGE_FILES`)."""
    visible = [
        st.Page(page.file, title=page.title, url_path=path, default=path == "home") for path, page in PAGE_FILES.items()
    ]
    hidden = [
        st.Page(PAGE_FILES[target].file, title=PAGE_FILES[target].title, url_path=path, visibility="hidden")
        for path, target in HIDDEN_PAGES.items()
    ]
    return visible + hidden


def heading(page: str, caption: str | None = None) -> None:
    """The title of the page at URL path `page` and, under it, what it shows (`caption` when given)."""
    st.title(PAGE_FILES[page].title)
    st.caption(caption or PAGE_FILES[page].caption)


def link(
    page: str, label: str, params: Mapping[str, str] | None = None, container=None, help: str | None = None
) -> None:
    """A link to another page (by its URL path) that opens in the same tab, carrying `params` and
    the person's shared choices."""
    file = PAGE_FILES[HIDDEN_PAGES.get(page, page)].file
    (container or st).page_link(file, label=label, query_params={**state.carried(), **(params or {})}, help=help)


def chart(fig: go.Figure, data: pl.DataFrame, key: str, on_select: Literal["ignore", "rerun"] = "ignore"):
    """A chart, a CSV download of exactly the data behind it, and the chart as an SVG image (drawn
    only when asked for). With `on_select="rerun"` a click on a point reruns the page and the
    selection is returned."""
    event = st.plotly_chart(
        fig, key=f"{key}_chart", config=images.plotly_config(key), on_select=on_select, selection_mode="points"
    )
    csv_column, image_column = st.columns(2)
    download(csv_column, "Download the data (CSV)", data.write_csv, f"{key}.csv", f"{key}_download")
    if images.available():

        def svg() -> bytes:  # drawn only when the button is pressed
            return images.figure_image(fig, "svg") or b""

        download(image_column, "Download the chart (SVG)", svg, f"{key}.svg", f"{key}_image")
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
    st.switch_page(PAGE_FILES["force"].file, query_params={**state.carried(), "force": force_id})


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
    download(st, "Download the table (CSV)", frame.write_csv, f"{file_name or key}.csv", f"{key}_download")


# The MIME type of each kind of file the pages offer, by the file name's ending.
MIME_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
    "svg": "image/svg+xml",
    "zip": "application/zip",
    "html": "text/html",
}


def download(container, label: str, content, file_name: str, key: str, mime: str | None = None) -> None:
    """A download button in `container` (`st`, a column, the sidebar) for `content`: bytes or text, or
    a callable that makes them only when the button is pressed. Its MIME type comes from the file
    name's ending unless `mime` is given; pressing it does not rerun the page."""
    mime = mime or MIME_TYPES[file_name.rsplit(".", 1)[-1]]
    container.download_button(label, content, file_name=file_name, mime=mime, key=key, on_click="ignore")
