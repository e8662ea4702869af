"""Small layout helpers shared by the pages: widgets whose state lives in the URL, charts with their data."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import plotly.graph_objects as go
import polars as pl
import streamlit as st


def url_select(label: str, options: Sequence[str], key: str, default: str | None = None,
               format_func: Callable[[str], str] = str, container=None, help: str | None = None) -> str:
    """A selectbox whose value is read from, and written to, the URL query string under `key`,
    so that a link reproduces what a person saw."""
    options = list(options)
    if not options:
        return ""
    default = default if default in options else options[0]
    wanted = st.query_params.get(key, default)
    if key not in st.session_state:
        st.session_state[key] = wanted if wanted in options else default
    elif st.session_state[key] not in options:
        st.session_state[key] = default
    value = (container or st).selectbox(label, options, key=key, format_func=format_func, help=help)
    if value == default:
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = value
    return value


def url_text(label: str, key: str, container=None, help: str | None = None) -> str:
    if key not in st.session_state:
        st.session_state[key] = st.query_params.get(key, "")
    value = (container or st).text_input(label, key=key, help=help)
    if value:
        st.query_params[key] = value
    else:
        st.query_params.pop(key, None)
    return value


def chart(fig: go.Figure, data: pl.DataFrame, key: str) -> None:
    """A chart and a CSV download of exactly the data behind it."""
    st.plotly_chart(fig, key=f"{key}_chart", config={"displaylogo": False})
    st.download_button("Download the data (CSV)", data.write_csv(), file_name=f"{key}.csv", mime="text/csv",
                       key=f"{key}_download")


# Probabilities span many orders of magnitude: show them in scientific notation.
_SCIENTIFIC = ("p_value", "q_bh", "q_by")
# Proportions read as percentages; differences of proportions as signed percentage points.
_PERCENT = ("share", "benchmark", "benchmark_crime_share", "witness_share", "witness_benchmark")
_FORMATS = {"difference_pp": "%+.2f pp", "ratio": "%.2f×", "z": "%+.2f"}
# Long text gets room of its own, so that the columns after it stay in view.
_WIDTHS = {"indicator": "medium", "benchmark_coverage": "large", "status_reason": "large", "sentence": "large",
           "witness_label": "medium"}


def table(frame: pl.DataFrame, key: str, file_name: str | None = None) -> None:
    """A table with each column's help (from the schema) and a CSV download of exactly its rows."""
    from dashboard import data

    help_for = data.column_help(frame.columns)
    config = {}
    for column in frame.columns:
        number_format = ("%.1e" if column in _SCIENTIFIC else "percent" if column in _PERCENT
                         else _FORMATS.get(column))
        if number_format and frame.schema[column].is_numeric():
            config[column] = st.column_config.NumberColumn(column, format=number_format, help=help_for.get(column))
        elif column in help_for or column in _WIDTHS:
            config[column] = st.column_config.Column(column, help=help_for.get(column), width=_WIDTHS.get(column))
    st.dataframe(frame, hide_index=True, key=f"{key}_table", width="stretch", column_config=config)
    st.download_button("Download the table (CSV)", frame.write_csv(), file_name=f"{file_name or key}.csv",
                       mime="text/csv", key=f"{key}_download")
