"""Every force on one indicator at a glance: the compare-forces bar chart (Fingertips' "compare
areas") and the tile map of the 43 forces coloured by z."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import polars as pl

from dashboard.charts.findings import HIGHLIGHT_NAME, _named_rows, _positions_present, _standing
from dashboard.charts.layout import (
    SHARE_TITLE,
    _category_ticks,
    _finish,
    _interval,
    _legend_entry,
    _require,
    _share_format,
    _wrap,
)
from dashboard.charts.palette import INK, PEERS_DARK
from dashboard.charts.words import _count, _humanise, _missing, _name, _num, _pct

COMPARE_COLUMNS = ("force_id", "share", "share_lower", "share_upper", "benchmark", "position", "status")


def compare_bar(
    findings: pl.DataFrame,
    indicator_label: str,
    source_note: str,
    names: Mapping[str, str] | None = None,
    *,
    highlight: str | None = None,
    peers: Sequence[str] | None = None,
    status_labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Fingertips' "compare areas" chart: one horizontal bar per force, highest share at the top.

    `findings`: the `divergence` rows of one indicator (force_id, share, share_lower, share_upper,
    benchmark, position, status; numerator and denominator, when present, for the hover and the
    pooled share). Bars are coloured by `position` (the POSITION_COLOURS), with the 95% Wilson
    interval as error bars. `highlight` (a force_id): its bar is outlined in ink, its name bold and
    the legend names it; the benchmark line is then its benchmark (its peers' pooled share, force
    excluded), otherwise the pooled share of every force shown. `peers` (force_ids): their bars
    are outlined in grey, their names marked "(peer)", and the subtitle names them.
    """
    _require(findings, COMPARE_COLUMNS, "compare_bar")
    if "indicator_id" in findings.columns and findings["indicator_id"].n_unique() > 1:
        raise ValueError("compare_bar draws one indicator: filter the findings to one indicator_id first")
    peer_set = set(peers or [])
    rows = _named_rows(findings, names).sort(["share", "_name"], descending=[False, True])
    order = rows["_name"].to_list()  # lowest first: Plotly draws the first category at the bottom

    def tick(force: str, name: str) -> str:
        if force == highlight:
            return f"<b>{name}</b>"
        return f"{name} (peer)" if force in peer_set else name

    fig = go.Figure()
    for position, colour in _positions_present(rows):
        part = rows.filter(pl.col("position") == position)
        outline = [INK if f == highlight else PEERS_DARK if f in peer_set else colour for f in part["force_id"]]
        widths = [3 if f == highlight else 2 if f in peer_set else 0.5 for f in part["force_id"]]
        fig.add_trace(
            go.Bar(
                x=part["share"].to_list(),
                y=part["_name"].to_list(),
                orientation="h",
                name=_wrap(position[:1].upper() + position[1:], 30),
                marker=dict(color=colour, line=dict(color=outline, width=widths)),
                error_x=_interval(part, "share", "share_lower", "share_upper", color=INK, thickness=1.2, width=3),
                customdata=[
                    [
                        _pct(r["share_lower"]),
                        _pct(r["share_upper"]),
                        _pct(r["benchmark"]),
                        _count(r.get("numerator")),
                        _count(r.get("denominator")),
                        r["position"],
                        _standing(r, status_labels=status_labels),
                        "chosen force" if r["force_id"] == highlight else "peer" if r["force_id"] in peer_set else "",
                    ]
                    for r in part.iter_rows(named=True)
                ],
                hovertemplate=(
                    "<b>%{y}</b> %{customdata[7]}<br>Share: %{x:.2%} (%{customdata[3]} of %{customdata[4]})"
                    "<br>95% Wilson interval: %{customdata[0]} to %{customdata[1]}"
                    "<br>Benchmark (peers, force excluded): %{customdata[2]}<br>%{customdata[5]}"
                    "<br>%{customdata[6]}<extra></extra>"
                ),
            )
        )
    chosen = rows.filter(pl.col("force_id") == highlight) if highlight else rows.clear()
    benchmark, benchmark_words = _compare_benchmark(rows, chosen, names)
    if benchmark is not None and order:
        fig.add_trace(
            go.Scatter(
                x=[benchmark, benchmark],
                y=[order[0], order[-1]],
                mode="lines",
                line=dict(color=INK, width=1.5, dash="dash"),
                name=_wrap(f"Benchmark: {benchmark_words}", 30),
                hovertemplate=f"Benchmark, {benchmark_words}: {benchmark:.2%}<extra></extra>",
            )
        )
    if highlight and chosen.height:
        _legend_entry(
            fig,
            f"{HIGHLIGHT_NAME}: {_name(highlight, names)} (outlined, bold)",
            mode="markers",
            marker=dict(symbol="square", size=12, color="white", line=dict(color=INK, width=3)),
        )
    peer_names = sorted(_name(p, names) for p in peer_set if p in set(rows["force_id"].to_list()))
    if peer_names:
        _legend_entry(
            fig,
            "Peers (grey outline, “(peer)”)",
            mode="markers",
            marker=dict(symbol="square", size=12, color="white", line=dict(color=PEERS_DARK, width=2)),
        )
    ticks = _category_ticks(order)
    ticks["ticktext"] = [tick(f, n) for f, n in zip(rows["force_id"], order)]
    fig.update_yaxes(title_text="Force (sorted by share)", automargin=True, **ticks)
    fig.update_xaxes(
        title_text=f"{SHARE_TITLE}, with its 95% Wilson interval",
        rangemode="tozero",
        tickformat=_share_format(rows["share_upper"].to_list()),
    )
    fig.update_layout(bargap=0.25)
    subtitle = "Colour: where each share sits against the overdispersed funnel limits; whiskers: 95% interval."
    if highlight and chosen.height:
        subtitle += f" Outlined: {_name(highlight, names)}."
    if peer_names:
        subtitle += f" Its peers ({len(peer_names)}): {', '.join(peer_names)}."
    return _finish(
        fig, f"{indicator_label}: every force compared", subtitle, source_note, height=max(300, 18 * rows.height + 40)
    )


def _compare_benchmark(
    rows: pl.DataFrame, chosen: pl.DataFrame, names: Mapping[str, str] | None
) -> tuple[float | None, str]:
    """Where the compare-forces chart draws its benchmark line, and what that is in words: the chosen
    force's own benchmark (`chosen`: its row, or no row) when it has one, else the pooled share of
    every force in `rows` when they carry numerators and denominators, else the median of their
    benchmarks (None when none has one)."""
    if chosen.height and not _missing(chosen["benchmark"][0]):
        force = _name(chosen["force_id"][0], names)
        return float(chosen["benchmark"][0]), f"{force}'s benchmark (its peers' pooled share)"
    if {"numerator", "denominator"} <= set(rows.columns) and rows["denominator"].sum():
        pooled = float(rows["numerator"].sum()) / float(rows["denominator"].sum())
        return pooled, "pooled share of every force shown"
    median = rows["benchmark"].drop_nulls().cast(pl.Float64).median()  # None when no force has a benchmark
    return (median if isinstance(median, float) else None), "median of the forces' benchmarks"


# --- tile map -------------------------------------------------------------------------------------------

TILE_CAP = 4.0


def tile_map(
    values: pl.DataFrame,
    title: str,
    source_note: str,
    names: Mapping[str, str] | None = None,
    *,
    tiles: pl.DataFrame,
    highlight: str | None = None,
    value_column: str = "z",
    value_label: str | None = None,
    status_labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """The 43 territorial forces of England and Wales as a grid of square tiles, one per force at its
    fixed place (`tiles`: pipelines/reference/force_tiles.csv, force_id, row, col and an optional
    abbreviation; row 0 is the top), coloured by `value_column` of `values` (force_id, that column,
    optional status and position) on a diverging scale centred on 0 and capped at ±4 (the hover
    keeps the exact value); a force with no value is grey. Each tile shows the force's short name
    (or its abbreviation); the hover gives its name, value and status; each point's customdata
    starts with its force_id, so a click can be mapped to the force. `highlight` (a force_id) is
    outlined in ink and named in the legend. `value_label` names the value in the hover and the
    colour bar (by default "z (overdispersed)" for z, the column humanised otherwise).
    """
    _require(tiles, ("force_id", "row", "col"), "tile_map (tiles)")
    value_words = value_label or ("z (overdispersed)" if value_column == "z" else _humanise(value_column))
    _require(values, ("force_id", value_column), "tile_map")
    if tiles.select("row", "col").is_duplicated().any():
        raise ValueError("tile_map: two forces share a tile")
    points = _tile_points(tiles, values, value_column, names, status_labels)
    fig = go.Figure()
    hover = (
        "<b>%{customdata[1]}</b><br>" + value_words + ": %{customdata[2]}"
        "<br>Status: %{customdata[3]}<br>%{customdata[4]}<extra></extra>"
    )
    marker = dict(symbol="square", size=46, line=dict(color="white", width=1))

    def add_tiles(shown: list[dict], name: str, text_colour: str | list[str], **style) -> None:
        """The tiles of `shown`, each with its text and hover."""
        if shown:
            fig.add_trace(
                go.Scatter(
                    x=[p["x"] for p in shown],
                    y=[p["y"] for p in shown],
                    mode="markers+text",
                    name=name,
                    text=[p["text"] for p in shown],
                    textfont=dict(size=9, color=text_colour),
                    customdata=[p["data"] for p in shown],
                    hovertemplate=hover,
                    **style,
                )
            )

    add_tiles([p for p in points if p["value"] is None], "No value", INK, marker=dict(**marker, color="#D9D9D9"))
    present = [p for p in points if p["value"] is not None]
    add_tiles(
        present,
        _wrap(f"{value_words} (colour capped at ±{TILE_CAP:g})", 30),
        ["white" if abs(p["value"]) > 2.5 else INK for p in present],
        showlegend=False,
        marker=dict(
            **marker,
            color=[max(-TILE_CAP, min(TILE_CAP, p["value"])) for p in present],
            colorscale="RdBu_r",
            cmin=-TILE_CAP,
            cmid=0,
            cmax=TILE_CAP,
            colorbar=dict(
                title=dict(text=f"{_wrap(value_words, 12)}<br>(capped<br>at ±{TILE_CAP:g})"),
                tickvals=[-TILE_CAP, -2, 0, 2, TILE_CAP],
                ticktext=[f"≤ −{TILE_CAP:g}", "−2", "0", "2", f"≥ {TILE_CAP:g}"],
                len=0.6,
            ),
        ),
    )
    chosen = [p for p in points if p["force"] == highlight]
    if chosen:
        p = chosen[0]
        fig.add_trace(
            go.Scatter(
                x=[p["x"]],
                y=[p["y"]],
                mode="markers",
                name=_wrap(f"{HIGHLIGHT_NAME}: {_name(p['force'], names)}", 30),
                marker=dict(symbol="square-open", size=50, color=INK, line=dict(width=3, color=INK)),
                customdata=[p["data"]],
                hovertemplate=hover,
            )
        )
    rows_count = max((p["y"] for p in points), default=0) + 1
    cols_count = max((p["x"] for p in points), default=0) + 1
    fig.update_xaxes(
        range=[-0.6, cols_count - 0.4],
        showgrid=False,
        zeroline=False,
        showticklabels=False,
        title_text="West to east (tiles roughly placed, not to scale)",
        constrain="domain",
    )
    fig.update_yaxes(
        range=[rows_count - 0.4, -0.6],
        showgrid=False,
        zeroline=False,
        showticklabels=False,
        title_text="North to south",
        scaleanchor="x",
        scaleratio=1,
        constrain="domain",
    )
    subtitle = (
        f"Red: above its benchmark; blue: below; colours stop at ±{TILE_CAP:g}, hover shows the exact value; "
        "grey: no value. Click a tile to open the force."
    )
    return _finish(fig, title, subtitle, source_note, height=max(300, 56 * rows_count), axis_block=40)


def _tile_points(
    tiles: pl.DataFrame,
    values: pl.DataFrame,
    value_column: str,
    names: Mapping[str, str] | None,
    status_labels: Mapping[str, str] | None,
) -> list[dict]:
    """One point per tile: its force, column (x) and row (y), its value (None when it has none), the
    text on the tile (its abbreviation or name, wrapped) and the hover's data (force_id first)."""
    by_force = {r["force_id"]: r for r in values.iter_rows(named=True)}
    has_abbreviation = "abbreviation" in tiles.columns
    points = []
    for t in tiles.iter_rows(named=True):
        force = t["force_id"]
        r = by_force.get(force, {})
        raw = r.get(value_column)
        value = None if raw is None or _missing(raw) else float(raw)
        short = t["abbreviation"] if has_abbreviation and t["abbreviation"] else _name(force, names)
        status = r.get("status")
        points.append(
            dict(
                force=force,
                x=int(t["col"]),
                y=int(t["row"]),
                value=value,
                text=_wrap(short, 10),
                data=[
                    force,
                    _name(force, names),
                    _num(value, ".2f"),
                    "no value"
                    if value is None and not status
                    else (status_labels or {}).get(status or "") or (status or "—").replace("_", " "),
                    r.get("position") or "—",
                ],
            )
        )
    return points
