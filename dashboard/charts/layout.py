"""The parts every chart shares: checking its frame, the title and subtitle, fonts, margins, the key
under the plot, the source note, and the small drawing pieces (category ticks, legend-only entries,
event lines) several charts use."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard.charts.palette import INK, MUTED
from dashboard.charts.words import _missing, readable

SOURCE_NOTE = "source_note"
FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"

# Text widths, in characters, that fit a chart about 700 px wide (the page's container at 1024 px):
# titles at 17 px, subtitles at 12.5 px, the source note at 11 px from the plot's left edge.
TITLE_WIDTH = 70
SUBTITLE_WIDTH = 100
NOTE_WIDTH = 85
# The key under each chart: entries this wide (px), and this much height for each row of two.
LEGEND_ENTRY_WIDTH = 230
LEGEND_ROW = 40
AXIS_TITLE_WIDTH = 55
# Room (pixels) above the title for Plotly's modebar, the toolbar at the chart's top right.
MODEBAR_ROOM = 46

SHARE_TITLE = "Share, numerator ÷ denominator (%)"


def _require(frame: pl.DataFrame, columns: Iterable[str], chart: str) -> None:
    """Fail with the columns `chart` needs and `frame` lacks, before anything is drawn."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{chart} needs the columns {missing}; the frame has {frame.columns}")


def _share_format(values: Iterable[float | None]) -> str:
    """Tick format for shares: whole percentages unless every share is small."""
    finite = [v for v in values if v is not None and not _missing(v)]
    return ".1%" if finite and max(finite) < 0.05 else ".0%"


def _wrap(text: str, width: int) -> str:
    """Break text into lines of at most `width` characters for Plotly, which does not wrap text."""
    lines = []
    for paragraph in text.split("<br>"):
        lines += textwrap.wrap(paragraph, width, break_long_words=False, break_on_hyphens=False) or [""]
    return "<br>".join(lines)


def _lines(text: str) -> int:
    return text.count("<br>") + 1 if text else 0


def _category_ticks(labels: list[str]) -> dict:
    """Axis settings that show every category label, in the given order (Plotly thins crowded labels)."""
    return dict(
        type="category", categoryorder="array", categoryarray=labels, tickmode="array", tickvals=labels, ticktext=labels
    )


def _rows_top_down(labels: list[str]) -> dict:
    """A category axis of rows, the first at the top, spanning exactly its rows: Plotly's own range
    for markers on a category axis pads it by several rows at each end (650 px of blank at the top
    and the bottom of a force's spine chart of 132 indicators)."""
    return _category_ticks(labels) | dict(autorange=False, range=[len(labels) - 0.5, -0.5])


def _legend_entry(fig: go.Figure, name: str, **style) -> None:
    """A legend entry that draws nothing on the plot: it only explains a marker, line or colour."""
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode=style.pop("mode", "markers"),
            name=_wrap(name, 30),
            hoverinfo="skip",
            hovertemplate="<extra></extra>",
            **style,
        )
    )


def _vlines(fig: go.Figure, dates: list, colours: list[str], row: int | None = None) -> None:
    """Dotted vertical lines at `dates`, across the plot (or the panel of `row`), added in one update:
    `add_vline` revalidates every shape already there, so a line at a time costs the square of their number."""
    subplot = fig.get_subplot(row, 1) if row is not None else None
    xref = subplot.xaxis.plotly_name.replace("axis", "") if subplot else "x"
    yref = (subplot.yaxis.plotly_name.replace("axis", "") if subplot else "y") + " domain"
    fig.layout.shapes += tuple(
        dict(type="line", xref=xref, yref=yref, x0=d, x1=d, y0=0, y1=1, line=dict(color=c, width=1, dash="dot"))
        for d, c in zip(dates, colours)
    )


def _event_markers(
    fig: go.Figure,
    dates: list,
    top: float,
    colour: str | list[str],
    customdata: list[list[str]],
    hovertemplate: str,
    row: int | None = None,
    **legend,
) -> None:
    """A ▼ at `top` over each registered event's date (in the panel of `row`), its hover saying what
    happened; the dotted lines under them are `_vlines`'."""
    fig.add_trace(
        go.Scatter(
            x=dates,
            y=[top] * len(dates),
            mode="markers",
            name="Registered event",
            marker=dict(symbol="triangle-down", size=11, color=colour),
            customdata=customdata,
            hovertemplate=hovertemplate,
            **legend,
        ),
        row=row,
        col=None if row is None else 1,
    )


def _interval(part: pl.DataFrame, value: str, lower: str, upper: str, **style) -> dict:
    """Error bars from the `lower` to the `upper` column around the `value` column of `part`, as
    Plotly's `error_x`; `style`: their colour, thickness and width."""
    return dict(
        type="data",
        symmetric=False,
        **style,
        array=(part[upper] - part[value]).to_list(),
        arrayminus=(part[value] - part[lower]).to_list(),
    )


def _angled_height(characters: int) -> int:
    """The height (pixels) a label of this many characters needs at 45°: about 0.71 × its length
    (7 px a character at 12 px)."""
    return math.ceil(7 * 0.71 * characters)


@dataclass(frozen=True)
class _Grid:
    """A heatmap's cells: forces (rows, `y_labels`, top to bottom) × columns (`x_labels`), each
    cell's value (`z`, None for an empty cell) and its hover data (`customdata`)."""

    z: list[list[float | None]]
    customdata: list[list[list[str]]]
    x_labels: list[str]
    y_labels: list[str]


def _grid(
    forces: list[str],
    columns: list,
    x_labels: list[str],
    y_labels: list[str],
    cell: Callable[[str, Any], tuple[float | None, list[str]]],
) -> _Grid:
    """The grid of `forces` × `columns`, each cell's value and hover data given by `cell(force, column)`."""
    cells = [[cell(force, column) for column in columns] for force in forces]
    return _Grid(
        [[value for value, _ in row] for row in cells], [[data for _, data in row] for row in cells], x_labels, y_labels
    )


def _force_heatmap(grid: _Grid, force_ticks: Mapping | None = None, **heatmap) -> go.Figure:
    """The grid as a heatmap, forces down the y-axis (the first at the top) with every name shown
    (`force_ticks`: more of the y-axis's settings); `heatmap`: the rest of the trace (colours, hover)."""
    fig = go.Figure(
        go.Heatmap(z=grid.z, x=grid.x_labels, y=grid.y_labels, customdata=grid.customdata, xgap=1, ygap=1, **heatmap)
    )
    fig.update_yaxes(title_text="Force", autorange="reversed", **(force_ticks or {}), **_category_ticks(grid.y_labels))
    return fig


def _wrap_axis_titles(fig: go.Figure) -> int:
    """Wrap every axis title not already broken into lines, with its ids replaced by their labels;
    return the most lines any x-axis title gained. Axis titles are centred on the plot, which may be
    under 400 px wide at 1024 px."""
    extra_lines = 0
    for key in list(fig.layout):
        axis = fig.layout[key]
        if key.startswith(("xaxis", "yaxis")) and axis.title.text and "<br>" not in axis.title.text:
            wrapped = _wrap(readable(axis.title.text), AXIS_TITLE_WIDTH)
            axis.title.text = wrapped
            if key.startswith("xaxis"):
                extra_lines = max(extra_lines, _lines(wrapped) - 1)
    return extra_lines


def _finish(
    fig: go.Figure,
    title: str,
    subtitle: str,
    source_note: str,
    height: int = 520,
    axis_block: int = 60,
    extra_top: int = 0,
) -> go.Figure:
    """Title, fonts, margins, legend and the source note: the parts every chart shares.

    `height` is the plot area's; margins are added for the wrapped title and subtitle (plus
    `extra_top`, for subplot titles) and below for `axis_block`, the room (pixels) the x-axis
    tick labels and title need, and the source note under them. Ids in the title and subtitle
    are replaced by their labels (`readable`); the title starts below the modebar.
    """
    title, subtitle = _wrap(readable(title), TITLE_WIDTH), _wrap(readable(subtitle), SUBTITLE_WIDTH)
    # The x-axis title's extra lines need room above the source note.
    axis_block += 17 * _wrap_axis_titles(fig)
    # Narrow enough for the narrowest plot area (long force names on the y-axis) at 1024 px.
    note = _wrap(source_note, NOTE_WIDTH)
    top = MODEBAR_ROOM + 16 + 24 * _lines(title) + 17 * _lines(subtitle) + extra_top
    # The key goes under the chart, two entries a row (each up to two wrapped lines): beside it, it
    # would leave the plot too little room at 1024 px.
    entries = sum(1 for trace in fig.data if trace.showlegend is not False and trace.name)
    legend_room = LEGEND_ROW * math.ceil(entries / 2) + 10 if entries > 1 else 0
    bottom = axis_block + 14 * _lines(note) + 22 + legend_room
    fig.update_layout(
        template="plotly_white",
        title=dict(
            text=title,
            subtitle=dict(text=subtitle, font=dict(size=12.5, color=MUTED)),
            x=0.01,
            xanchor="left",
            yref="container",
            y=1,
            yanchor="top",
            pad=dict(t=MODEBAR_ROOM),
            font=dict(size=17),
        ),
        font=dict(family=FONT_FAMILY, size=13, color=INK),
        hoverlabel=dict(font=dict(family=FONT_FAMILY), align="left"),
        margin=dict(l=70, r=30, t=top, b=bottom),
        height=height + top + bottom,
        legend=dict(
            orientation="h",
            x=0,
            xanchor="left",
            y=0,
            yanchor="bottom",
            yref="container",
            entrywidth=LEGEND_ENTRY_WIDTH,
            font=dict(size=12),
        ),
    )
    fig.add_annotation(
        name=SOURCE_NOTE,
        text=note,
        xref="paper",
        yref="paper",
        x=0,
        y=0,
        yshift=-axis_block,
        xanchor="left",
        yanchor="top",
        showarrow=False,
        align="left",
        font=dict(size=11, color=MUTED),
    )
    return fig
