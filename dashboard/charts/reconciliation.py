"""The reconciliation chart: each source's count for one force and offence group, window by window,
side by side, one panel per window grain, with partial and missing windows and registered events
marked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from dashboard.charts.layout import _event_markers, _finish, _require, _vlines, _wrap
from dashboard.charts.palette import INK
from dashboard.charts.sources import _source_colour
from dashboard.charts.words import (
    GRAIN_MONTHS,
    GRAIN_ORDER,
    GRAIN_WORDS,
    _count,
    _dates,
    _humanise,
    _num,
    label_for,
    period_words,
)
from pipelines.periods import add_months

RECONCILIATION_COLUMNS = (
    "period",
    "period_grain",
    "source",
    "offence_count",
    "periods_supplied",
    "periods_expected",
    "window_status",
    "reference_source",
    "ratio_to_reference",
)
# A panel with up to this many windows labels each window in words, not with the axis's own ticks.
WINDOWS_LABELLED = 12

_WINDOW_HOVER = (
    "<b>%{customdata[0]}</b>, %{customdata[1]} window %{customdata[8]}<br>Offences: %{customdata[2]}"
    "<br>Periods supplied: %{customdata[3]} of %{customdata[4]} (%{customdata[5]})"
    "<br>Ratio to %{customdata[6]}: %{customdata[7]}<extra></extra>"
)


def reconciliation_plot(
    reconciliation_rows: pl.DataFrame,
    force_name: str,
    group: str,
    source_note: str,
    *,
    source_labels: Mapping[str, str] | None = None,
    events: pl.DataFrame | None = None,
    force_id: str | None = None,
) -> go.Figure:
    """Each source's count for one force and offence group, window by window, side by side.

    `reconciliation_rows`: `reconciliation` rows of one force and reconciliation group (period,
    period_grain, source, offence_count, periods_supplied, periods_expected, window_status,
    reference_source, ratio_to_reference). One panel per window grain (months, quarters, rolling
    years hold counts of different sizes). Partial windows are hatched bars; missing windows have
    no bar but an ✕ marker at the axis, named as missing (not zero) in the legend.

    `source_labels`: source id → publisher's words, for the legend and hover (built-in words
    otherwise, never the id). `events`: registered events (event_date, scope, kind, event), drawn
    on each panel whose span holds the date as a dotted vertical line with a ▼ at the top whose
    hover says what happened; only national events and those of `force_id` (by default the rows'
    force_id column) are drawn.
    """
    _require(reconciliation_rows, RECONCILIATION_COLUMNS, "reconciliation_plot")
    rows = _dates(reconciliation_rows, "period").sort("period", "source")
    if force_id is None and "force_id" in rows.columns and rows["force_id"].n_unique() == 1:
        force_id = rows["force_id"][0]
    grains = [g for g in GRAIN_ORDER if g in set(rows["period_grain"].to_list())]
    grains += sorted(set(rows["period_grain"].to_list()) - set(grains))
    sources = sorted(rows["source"].unique().to_list())
    panels = max(1, len(grains))
    # Panels are 240 px high with 110 px between them for the upper panel's axis and the next title.
    plot_height = 240 * panels + 110 * (panels - 1)
    fig = make_subplots(
        rows=panels,
        cols=1,
        vertical_spacing=110 / plot_height if panels > 1 else 0.1,
        subplot_titles=[f"{GRAIN_WORDS.get(g, g).capitalize()} windows" for g in grains] or None,
    )
    in_legend: set[tuple[str, str]] = set()
    missing_shown, events_shown = False, False
    for i, grain in enumerate(grains, start=1):
        part = rows.filter(pl.col("period_grain") == grain)
        missing_shown |= _draw_panel(fig, part, grain, i, sources, source_labels, in_legend)
        if events is not None and events.height and part.height:
            events_shown |= _panel_events(
                fig, _dates(events, "event_date"), part, grain, i, force_id, force_name, events_shown
            )
    if not grains:
        fig.update_yaxes(title_text="Offences recorded (count)")
        fig.update_xaxes(title_text="Window start (first day)")
    fig.update_layout(barmode="overlay")
    subtitle = "Hatched bars: the source supplied only part of the window."
    if missing_shown:
        subtitle += " ✕ at the axis: the source supplied nothing for the window (missing, not zero)."
    if events_shown:
        subtitle += " Dotted lines: registered events (▼ for what happened)."
    return _finish(
        fig,
        f"{force_name}, {group}: offences recorded by each source, window by window",
        subtitle,
        source_note,
        height=plot_height,
        extra_top=24 if grains else 0,
    )


def _source_words(source: str | None, source_labels: Mapping[str, str] | None) -> str:
    return "—" if source is None else label_for(source, source_labels)


def _draw_panel(
    fig: go.Figure,
    part: pl.DataFrame,
    grain: str,
    row: int,
    sources: list[str],
    source_labels: Mapping[str, str] | None,
    in_legend: set[tuple[str, str]],
) -> bool:
    """One panel (`row`): the windows of one grain, each source's bars side by side from the window's
    first day over 80% of the gap between windows, so that a panel of one window draws a bar as wide
    as a window, not a hairline, and an event line falls where it happened within a window. Each
    source's colour comes from its place among `sources`. Returns whether any window was missing."""
    panel_sources = [s for s in sources if s in set(part["source"].to_list())]
    width_ms = _window_step(part, grain).total_seconds() * 1000 * 0.8 / max(1, len(panel_sources))
    missing_shown = False
    for k, source in enumerate(panel_sources):
        own = part.filter(pl.col("source") == source)
        missing_shown |= _draw_source_windows(
            fig,
            own,
            grain,
            row,
            _source_colour(source, sources),
            timedelta(milliseconds=k * width_ms),
            width_ms,
            source_labels,
            in_legend,
        )
    fig.update_yaxes(title_text="Offences recorded (count)", rangemode="tozero", row=row, col=1)
    fig.update_xaxes(title_text="Window start (first day)", type="date", row=row, col=1, **_window_axis(part, grain))
    return missing_shown


def _draw_source_windows(
    fig: go.Figure,
    own: pl.DataFrame,
    grain: str,
    row: int,
    colour: str,
    offset: timedelta,
    width_ms: float,
    source_labels: Mapping[str, str] | None,
    in_legend: set[tuple[str, str]],
) -> bool:
    """One source's windows in one panel: a bar (`width_ms` wide, `offset` from the window's start;
    hatched when partial) for each window with a count, an ✕ at the axis for each without. Each kind
    of mark is named in the legend the first time (`in_legend`: (source, mark) already named).
    Returns whether any window was missing."""
    source = own["source"][0]
    words = _source_words(source, source_labels)
    data = [
        [
            words,
            GRAIN_WORDS.get(grain, grain),
            _count(r["offence_count"]),
            r["periods_supplied"],
            r["periods_expected"],
            r["window_status"],
            _source_words(r["reference_source"], source_labels),
            _num(r["ratio_to_reference"], ".3f"),
            period_words(r["period"], grain),
        ]
        for r in own.iter_rows(named=True)
    ]
    present = [j for j, r in enumerate(own.iter_rows(named=True)) if r["offence_count"] is not None]
    fig.add_trace(
        go.Bar(
            x=[own["period"][j] + offset for j in present],
            y=[own["offence_count"][j] for j in present],
            name=_wrap(words, 30),
            legendgroup=source,
            showlegend=(source, "window") not in in_legend,
            marker=dict(
                color=colour,
                line=dict(color=colour, width=0.5),
                pattern=dict(
                    shape=["/" if own["window_status"][j] == "partial" else "" for j in present],
                    fgcolor="white",
                    solidity=0.5,
                ),
            ),
            customdata=[data[j] for j in present],
            hovertemplate=_WINDOW_HOVER,
            width=width_ms,
            offset=0,
        ),
        row=row,
        col=1,
    )
    in_legend.add((source, "window"))
    absent = [j for j, r in enumerate(own.iter_rows(named=True)) if r["offence_count"] is None]
    if not absent:
        return False
    fig.add_trace(
        go.Scatter(
            x=[own["period"][j] for j in absent],
            y=[0] * len(absent),
            mode="markers",
            name=_wrap(f"{words}: window missing (no data, not zero)", 30),
            legendgroup=source,
            showlegend=(source, "missing") not in in_legend,
            marker=dict(symbol="x-thin-open", size=10, color=colour, line=dict(width=2, color=colour)),
            customdata=[data[j] for j in absent],
            hovertemplate=_WINDOW_HOVER,
        ),
        row=row,
        col=1,
    )
    in_legend.add((source, "missing"))
    return True


def _window_step(part: pl.DataFrame, grain: str) -> timedelta:
    """The time between a panel's consecutive windows (a period of the grain when there is one)."""
    periods = sorted(set(part["period"].to_list()))
    gaps = [b - a for a, b in zip(periods, periods[1:])]
    return min(gaps) if gaps else timedelta(days=round(30.4 * GRAIN_MONTHS.get(grain, 1)))


def _window_axis(part: pl.DataFrame, grain: str) -> dict:
    """A reconciliation panel's date axis: from just before the first window to the end of the last
    (one window alone would otherwise get an axis of milliseconds), and each window named in its
    grain's words when there are few of them."""
    periods = sorted(set(part["period"].to_list()))
    if not periods:
        return {}
    step = _window_step(part, grain)
    axis: dict[str, object] = {
        "range": [periods[0] - step * 0.1, periods[-1] + step * 0.9]  # bars fill 80% from each window's start
    }
    if len(periods) <= WINDOWS_LABELLED:
        axis |= {"tickvals": periods, "ticktext": [period_words(p, grain) for p in periods]}
    else:
        axis |= {"tickformat": "%Y" if GRAIN_MONTHS.get(grain, 1) >= 12 and grain != "rolling_year" else "%b %Y"}
    return axis


def _panel_events(
    fig: go.Figure,
    events: pl.DataFrame,
    part: pl.DataFrame,
    grain: str,
    row: int,
    force_id: str | None,
    force_name: str,
    in_legend: bool,
) -> bool:
    """Registered events within one reconciliation panel's span (first window start to the end of
    the last window): a dotted line each and a ▼ marker at the top with the event on hover."""
    _require(events, ("event_date", "scope", "event"), "reconciliation_plot (events)")
    first = min(part["period"].to_list())
    end = add_months(max(part["period"].to_list()), GRAIN_MONTHS.get(grain, 1))
    scopes = ["national"] + ([force_id] if force_id else [])
    shown = events.filter(
        pl.col("scope").is_in(scopes) & (pl.col("event_date") >= first) & (pl.col("event_date") < end)
    ).sort("event_date")
    if shown.height == 0:
        return False
    _vlines(fig, shown["event_date"].to_list(), [INK] * shown.height, row=row)
    top = max([v for v in part["offence_count"].to_list() if v is not None] or [1]) * 1.08
    _event_markers(
        fig,
        shown["event_date"].to_list(),
        top,
        INK,
        [
            [
                f"{r['event_date']:%d %b %Y}",
                "national" if r["scope"] == "national" else force_name,
                _humanise(r.get("kind") or ""),
                _wrap(r["event"], 70),
            ]
            for r in shown.iter_rows(named=True)
        ],
        "<b>%{customdata[0]}</b> (%{customdata[1]}) %{customdata[2]}<br>%{customdata[3]}<extra></extra>",
        row=row,
        legendgroup="events",
        showlegend=not in_legend,
    )
    return True
