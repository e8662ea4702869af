"""An indicator's share over time for chosen forces: each force's line beside the other forces' band,
with registered events and the breaks found in the series marked on it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard.charts.layout import SHARE_TITLE, _event_markers, _finish, _require, _share_format, _vlines, _wrap
from dashboard.charts.palette import INK, PEERS, PEERS_DARK, QUALITATIVE
from dashboard.charts.words import (
    GRAIN_NOUNS,
    _count,
    _dates,
    _humanise,
    _missing,
    _name,
    _num,
    _pct,
    _pp,
    as_date,
    period_words,
)

# A break's test, in the words of its legend entry (`{words}`: the kind of break) and of its hover.
_BREAK_LEGEND = {
    "significant": "{words}, significant (p < {alpha:g}, Bonferroni-adjusted)",
    "not significant": "{words}, not significant (p ≥ {alpha:g})",
    "untested": "{words} (first period after it; no test)",
}
_BREAK_HOVER = {"significant": "significant", "not significant": "not significant", "untested": "not tested"}


def trend_plot(
    series: pl.DataFrame,
    peers_band: pl.DataFrame | None,
    events: pl.DataFrame | None,
    detected_breaks: pl.DataFrame | None,
    indicator_label: str,
    source_note: str,
    names: Mapping[str, str] | None = None,
    *,
    grain: str = "month",
    alpha: float = 0.05,
) -> go.Figure:
    """An indicator's share over time for chosen forces, against the other forces' band.

    `series`: force_id, period, numerator, denominator (as `divergence.indicator_series`, or the
    `divergence_series` rows of one indicator), for the chosen forces. A period a force did not
    supply is a gap in its line, never a zero.
    `peers_band`: period, lower, upper, median (the other forces' lowest, highest and median share;
    optional q25, q75, forces), drawn as a grey band. `events`: event_date, event, scope (optional
    kind): each event in the series' span whose scope is national or a chosen force is a vertical
    line, with its text on hover at the marker above the plot. `detected_breaks`: force_id, period,
    level_shift (optional break_kind, matches_event, event, p_value): a marker on the force's line,
    ◆ for a `detected` break and ■ for a shift tested at a `registered` event (drawn only when
    tested), filled when significant (p < `alpha`, the table's p being Bonferroni-adjusted) and
    hollow when not, with the legend and hover saying which. Any of the three may be None.
    `grain`: the series' period grain, for the hover's period words ("Jan–Mar 2021", "2017/18").
    """
    _require(series, ("force_id", "period", "numerator", "denominator"), "trend_plot")
    series, peers_band = _dates(series, "period"), _dates(peers_band, "period")
    events, detected_breaks = _dates(events, "event_date"), _dates(detected_breaks, "period")
    if "indicator_id" in series.columns and series["indicator_id"].n_unique() > 1:
        raise ValueError("trend_plot draws one indicator: filter the series to one indicator_id first")
    forces = series["force_id"].unique(maintain_order=True).to_list()
    force_colours = {f: QUALITATIVE[i % len(QUALITATIVE)] for i, f in enumerate(forces)}
    band = peers_band if peers_band is not None and peers_band.height > 0 else None
    periods = set(series["period"].to_list())
    if band is not None:
        _require(band, ("period", "lower", "upper", "median"), "trend_plot (peers_band)")
        periods |= set(band["period"].to_list())
    grid = sorted(periods)
    fig = go.Figure()
    values = _draw_band(fig, _on_grid(band, grid, series.schema["period"]), grid, grain) if band is not None else []
    shares = _draw_force_lines(fig, series, grid, force_colours, names, grain)
    values += list(shares.values())

    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.08 or 0.01
    top = high + 2 * pad  # the row the event markers sit on, above every line
    fig.update_yaxes(range=[max(0.0, low - pad), top + pad])
    if detected_breaks is not None and detected_breaks.height:
        _require(detected_breaks, ("force_id", "period", "level_shift"), "trend_plot (detected_breaks)")
        found = detected_breaks.filter(pl.col("force_id").is_in(forces))
        _draw_breaks(fig, found, shares, force_colours, names, grain, alpha)
    if events is not None and events.height and grid:
        _require(events, ("event_date", "event", "scope"), "trend_plot (events)")
        _draw_events(fig, events, (grid[0], grid[-1]), force_colours, names, top)

    fig.update_xaxes(title_text=f"Period ({GRAIN_NOUNS.get(grain, (grain,))[0]} starting)", type="date")
    fig.update_yaxes(title_text=SHARE_TITLE, tickformat=_share_format(values))
    subtitle = (
        "Grey band: the other forces' lowest to highest share; gaps: periods not supplied (not zero). "
        "Dotted lines: registered events (▼ for details); ◆: breaks found in the series; ■: shifts tested "
        f"at registered events; filled when significant (p < {alpha:g}), hollow when not."
    )
    return _finish(fig, f"{indicator_label}: share over time", subtitle, source_note, height=440)


def _on_grid(frame: pl.DataFrame, grid: list[date], dtype: pl.DataType) -> pl.DataFrame:
    """The frame's rows at each period of `grid`, in the grid's order; a period the frame lacks is a row
    of nulls, so that a line has a gap there, never a zero."""
    return pl.DataFrame({"period": grid}, schema={"period": dtype}).join(frame, on="period", how="left")


def _draw_band(fig: go.Figure, band: pl.DataFrame, grid: list[date], grain: str) -> list[float]:
    """The other forces' band (`peers_band` rows, one per period of `grid`): lowest to highest share
    filled grey, the median dotted. Returns the band's edges, which the y-axis must hold."""
    extra = [c for c in ("q25", "q75", "forces") if c in band.columns]
    band_data = [
        [
            _pct(r["lower"]),
            _pct(r["median"]),
            _pct(r["upper"]),
            _pct(r.get("q25")) if "q25" in extra else "—",
            _pct(r.get("q75")) if "q75" in extra else "—",
            str(r["forces"]) if "forces" in extra and r["forces"] is not None else "—",
            period_words(r["period"], grain),
        ]
        for r in band.iter_rows(named=True)
    ]
    band_hover = (
        "%{customdata[6]}: other forces (%{customdata[5]})<br>lowest %{customdata[0]}, "
        "median %{customdata[1]}, highest %{customdata[2]}"
        "<br>25th–75th percentile: %{customdata[3]} to %{customdata[4]}<extra></extra>"
    )

    def line(column: str, name: str, **style) -> None:
        """One of the band's lines, each hover giving the whole band at its period."""
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=band[column].to_list(),
                mode="lines",
                name=name,
                legendgroup="band",
                connectgaps=False,
                customdata=band_data,
                hovertemplate=band_hover,
                **style,
            )
        )

    # The highest share, then the lowest filled up to it (the band's one legend entry), then the median.
    line("upper", "Other forces: highest share", line=dict(width=0, color=PEERS), showlegend=False)
    line(
        "lower",
        _wrap("Other forces: lowest to highest share", 30),
        line=dict(width=0, color=PEERS),
        fill="tonexty",
        fillcolor="rgba(189,189,189,0.45)",
    )
    line("median", "Other forces: median share", line=dict(color=PEERS_DARK, dash="dot"))
    return [v for v in band["lower"].to_list() + band["upper"].to_list() if not _missing(v)]


def _draw_force_lines(
    fig: go.Figure,
    series: pl.DataFrame,
    grid: list[date],
    force_colours: Mapping[str, str],
    names: Mapping[str, str] | None,
    grain: str,
) -> dict[tuple[str, date], float]:
    """One line per force of `force_colours`, in its colour: numerator ÷ denominator at each period of
    `grid`, a gap where it has no share. Returns each share drawn, by (force_id, period), for the
    markers put on the lines."""
    shares: dict[tuple[str, date], float] = {}
    for force, colour in force_colours.items():
        own = _on_grid(series.filter(pl.col("force_id") == force), grid, series.schema["period"])
        share = [
            None if _missing(d) or d == 0 or _missing(x) else x / d
            for x, d in zip(own["numerator"], own["denominator"])
        ]
        shares.update({(force, p): s for p, s in zip(grid, share) if s is not None})
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=share,
                mode="lines+markers",
                connectgaps=False,
                name=_name(force, names),
                line=dict(color=colour, width=2),
                marker=dict(size=4, color=colour),
                customdata=[
                    [_count(x), _count(d), period_words(p, grain)]
                    for x, d, p in zip(own["numerator"], own["denominator"], own["period"])
                ],
                hovertemplate=(
                    f"<b>{_name(force, names)}</b><br>%{{customdata[2]}}: %{{y:.2%}} "
                    "(%{customdata[0]} of %{customdata[1]})<extra></extra>"
                ),
            )
        )
    return shares


def _break_state(p_value: float | None, alpha: float) -> str:
    """A break's test: "untested" (no p-value), "significant" (p < `alpha`) or "not significant"."""
    if p_value is None or _missing(p_value):
        return "untested"
    return "significant" if p_value < alpha else "not significant"


def _draw_breaks(
    fig: go.Figure,
    breaks: pl.DataFrame,
    shares: Mapping[tuple[str, date], float],
    force_colours: Mapping[str, str],
    names: Mapping[str, str] | None,
    grain: str,
    alpha: float,
) -> None:
    """Each break on its force's line (`shares`, by force and period; a break where the line has no
    share is left out) in the force's colour, one trace per kind and test: filled when significant or
    untested, hollow when not significant. Registered events' shifts are drawn only when at least one
    was tested."""
    kinds = breaks["break_kind"] if "break_kind" in breaks.columns else pl.Series(["detected"] * breaks.height)
    breaks = breaks.with_columns(kinds.alias("_kind"))
    # A break the engine found is drawn as a diamond; a registered event's tested shift as a square.
    for kind, symbol, words in (
        ("detected", "diamond", "Detected break"),
        ("registered", "square", "Shift tested at a registered event"),
    ):
        marks = [
            r
            for r in breaks.filter(pl.col("_kind") == kind).iter_rows(named=True)
            if (r["force_id"], as_date(r["period"])) in shares
        ]
        if kind == "registered" and not any(not _missing(r.get("p_value")) for r in marks):
            continue  # a registered event with no test is drawn with the events, not on the line
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in marks:
            groups.setdefault(_break_state(r.get("p_value"), alpha), []).append(r)
        for state, part in groups.items():
            name = _BREAK_LEGEND[state].format(words=words, alpha=alpha)
            if kind == "detected" and state == "untested":
                name = "Detected break (first period after it)"
            fig.add_trace(
                go.Scatter(
                    x=[as_date(r["period"]) for r in part],
                    y=[shares[(r["force_id"], as_date(r["period"]))] for r in part],
                    mode="markers",
                    name=_wrap(name, 30),
                    legendgroup=f"breaks-{kind}",
                    marker=dict(
                        symbol=symbol if state != "not significant" else f"{symbol}-open",
                        size=12,
                        color=[force_colours[r["force_id"]] for r in part],
                        line=dict(color=INK, width=1.5),
                    ),
                    customdata=[
                        [
                            _name(r["force_id"], names),
                            _pp(r["level_shift"]),
                            r.get("matches_event") or r.get("event") or "no registered event within two periods",
                            _num(r.get("p_value"), ".3g"),
                            period_words(r["period"], grain),
                            _BREAK_HOVER[state],
                        ]
                        for r in part
                    ],
                    hovertemplate=(
                        f"<b>%{{customdata[0]}}</b>: {words.lower()} at %{{customdata[4]}}"
                        "<br>Level shift: %{customdata[1]} (%{customdata[5]})"
                        "<br>Registered event: %{customdata[2]}"
                        "<br>p (Bonferroni-adjusted): %{customdata[3]}<extra></extra>"
                    ),
                )
            )


def _draw_events(
    fig: go.Figure,
    events: pl.DataFrame,
    span: tuple[date, date],
    force_colours: Mapping[str, str],
    names: Mapping[str, str] | None,
    top: float,
) -> None:
    """Registered events within `span` (the first and last periods drawn) whose scope is national
    (drawn in ink) or a force of `force_colours` (in its colour): a dotted line each, and a ▼ at
    `top` with the event on hover."""
    shown = events.filter(
        pl.col("scope").is_in(["national", *force_colours]) & pl.col("event_date").is_between(*span)
    ).sort("event_date")
    scope_colours = [INK if s == "national" else force_colours[s] for s in shown["scope"]]
    _vlines(fig, shown["event_date"].to_list(), scope_colours)
    if shown.height:
        _event_markers(
            fig,
            shown["event_date"].to_list(),
            top,
            scope_colours,
            [
                [
                    r["event"],
                    "national" if r["scope"] == "national" else _name(r["scope"], names),
                    _humanise(r.get("kind") or ""),
                ]
                for r in shown.iter_rows(named=True)
            ],
            "<b>%{x|%d %b %Y}</b> (%{customdata[1]}) %{customdata[2]}<br>%{customdata[0]}<extra></extra>",
        )
