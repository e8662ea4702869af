"""One indicator's forces against their limits: the funnel plot (each share against its denominator,
within binomial and overdispersed limits) and the caterpillar plot (every share with its 95% interval,
lowest to highest)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
import polars as pl

from dashboard.charts.findings import (
    _by_position,
    _highlight_point,
    _is_ranked,
    _named_rows,
    _position_style,
    _standing_data,
)
from dashboard.charts.layout import (
    SHARE_TITLE,
    _category_ticks,
    _finish,
    _interval,
    _require,
    _share_format,
    _wrap,
)
from dashboard.charts.palette import INK, WITHIN_POSITION
from dashboard.charts.words import _described, _missing, _name, _num, _pct, _pp
from pipelines.analysis import stats

# Funnel limits: the overdispersed model decides significance, so it is drawn darker.
LIMIT_STYLES = {
    ("99.8%", "additive"): dict(color="#404040", width=1.6, dash="solid"),
    ("95%", "additive"): dict(color="#404040", width=1.2, dash="dash"),
    ("99.8%", "binomial"): dict(color="#A0A0A0", width=1.0, dash="solid"),
    ("95%", "binomial"): dict(color="#A0A0A0", width=1.0, dash="dash"),
}
LEVELS = {"95%": 0.95, "99.8%": 0.998}
MODEL_WORDS = {"additive": "overdispersed", "binomial": "plain binomial"}

FUNNEL_COLUMNS = (
    "force_id",
    "numerator",
    "denominator",
    "share",
    "benchmark",
    "tau2",
    "z",
    "q_by",
    "limit998_od_lower",
    "limit998_od_upper",
    "position",
    "status",
)


# Legend order: the pooled share, the overdispersed limits (which decide significance), the plain ones.
_LIMIT_RANKS = {("99.8%", "additive"): 2, ("95%", "additive"): 3, ("99.8%", "binomial"): 4, ("95%", "binomial"): 5}


def funnel_curves(numerators: np.ndarray, denominators: np.ndarray, tau2: float, points: int = 150) -> dict:
    """The funnel's limit curves around the pooled share of all the units given.

    Returns `pooled`, the grid `n` (log-spaced from half the smallest denominator to 1.25 × the
    largest, plus every unit's own denominator), and for each (level, model) a (lower, upper)
    pair from `pipelines.analysis.stats.Funnel.limits`: the same formulas as the divergence table's
    per-force limits, only centred on one pooled share rather than on each force's benchmark.
    """
    x = np.asarray(numerators, dtype=float)
    n = np.asarray(denominators, dtype=float)
    pooled = float(x.sum() / n.sum())
    low, high = max(1.0, float(n.min()) / 2), float(n.max()) * 1.25
    grid = np.unique(np.concatenate([np.geomspace(low, high, points), n]))
    fit = stats.Funnel(target=np.array([pooled]), z=np.array([np.nan]), phi=np.nan, tau2=tau2, n=np.array([np.nan]))
    limits = {}
    for level_name, level in LEVELS.items():
        for model in ("additive", "binomial"):
            if model == "additive" and _missing(tau2):
                continue
            limits[(level_name, model)] = fit.limits(grid, pooled, level, model)
    return {"pooled": pooled, "n": grid, "limits": limits}


def funnel_plot(
    findings: pl.DataFrame,
    indicator_label: str,
    source_note: str,
    names: Mapping[str, str] | None = None,
    *,
    highlight: str | None = None,
    status_labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """One indicator's funnel plot: each force's share against its denominator.

    `findings`: the `divergence` rows of one indicator, peer group and window, with at least
    force_id, numerator, denominator, share, benchmark, tau2, z, q_by, limit998_od_lower,
    limit998_od_upper, position and status (and, when present, q_bh, rank, supply_rank,
    status_reason and benchmark_coverage, for the hover). Rows with no denominator are left out.

    The curves are the 95% and 99.8% limits, plain binomial and overdispersed (additive, with the
    table's τ²), around the pooled share of all the forces shown. Each force's own benchmark and
    limits exclude the force, so they differ slightly from the curves: a force is labelled when it
    lies outside the 99.8% overdispersed limits *at its own benchmark* (the table's columns), and
    its hover shows those limits. Forces that are not ranked (any `status` but `ranked`) are
    hollow, their label says "not ranked", and their hover gives the status and its reason.
    `highlight` (a force_id): that force is ringed, labelled in bold and named in the legend.
    `status_labels`: status → words for the hover ("Not ranked (nothing to test)"); the status with
    its underscores undone otherwise. The same keyword does the same in every chart that has it.
    """
    _require(findings, FUNNEL_COLUMNS, "funnel_plot")
    rows = findings.filter((pl.col("denominator") > 0) & pl.col("share").is_not_null()).sort("denominator")
    if "indicator_id" in rows.columns and rows["indicator_id"].n_unique() > 1:
        raise ValueError("funnel_plot draws one indicator: filter the findings to one indicator_id first")
    fig = go.Figure()
    # Powers of ten with 2 and 5 between: Plotly's own minor labels ("9" beside "100k") collide on narrow charts.
    fig.update_xaxes(
        type="log", dtick="D2", title_text=f"Denominator: {_described('denominator').lower()} (count, log scale)"
    )
    fig.update_yaxes(title_text=SHARE_TITLE, tickformat=_share_format(rows["share"].to_list()))
    if rows.height == 0:
        return _finish(
            fig, f"{indicator_label}: no force has a denominator in this window", "", source_note, height=440
        )

    tau2_values = rows["tau2"].drop_nulls().drop_nans()
    tau2 = float(tau2_values[0]) if tau2_values.len() else float("nan")
    curves = funnel_curves(rows["numerator"].to_numpy(), rows["denominator"].to_numpy(), tau2)
    _draw_limits(fig, curves, rows)
    rows = rows.with_columns(_outside_998().alias("_outside"), pl.col("position").fill_null(WITHIN_POSITION))
    _draw_forces(fig, rows, names, highlight, status_labels)
    _highlight_point(
        fig,
        rows,
        highlight,
        names,
        x="denominator",
        y="share",
        hover="<b>%{text}</b> (chosen force)<br>Share %{y:.2%} of %{x:,}<extra></extra>",
    )
    od_words = (
        "no overdispersed limits (τ² undefined)" if _missing(tau2) else f"overdispersed limits add τ² = {tau2:.3g}"
    )
    unranked = rows.filter(pl.col("status") != "ranked").height
    subtitle = (
        f"Curves: limits around the pooled share of all {rows.height} forces ({curves['pooled']:.1%}); "
        f"{od_words}. Labelled: outside the 99.8% overdispersed limits at its own benchmark. "
        f"Hollow: not ranked ({unranked} of {rows.height}; hover for why)."
    )
    return _finish(
        fig, f"{indicator_label}: each force's share against its denominator", subtitle, source_note, height=440
    )


def _draw_limits(fig: go.Figure, curves: dict, rows: pl.DataFrame) -> None:
    """The funnel itself: each limit curve of `curves` (from `funnel_curves`) as one trace, lower and
    upper joined by a gap, and the pooled share of `rows` (every force drawn) as a line across."""
    pooled, grid = curves["pooled"], curves["n"]
    for (level_name, model), (lower, upper) in curves["limits"].items():
        words = MODEL_WORDS[model]
        gap = [None]
        bounds = [[lo, hi] for lo, hi in zip(lower, upper)]
        fig.add_trace(
            go.Scatter(
                x=[*grid, *gap, *grid],
                y=[*lower, *gap, *upper],
                mode="lines",
                line=LIMIT_STYLES[(level_name, model)],
                name=_wrap(f"{level_name} limits, {words}, around the pooled share", 30),
                legendgroup=f"{level_name}-{model}",
                connectgaps=False,
                legendrank=_LIMIT_RANKS[(level_name, model)],
                customdata=bounds + [[None, None]] + bounds,
                hovertemplate=(
                    f"{level_name} limits, {words}, around the pooled share of all forces shown "
                    f"({pooled:.2%})<br>Denominator %{{x:,.0f}}: "
                    "%{customdata[0]:.2%} to %{customdata[1]:.2%}<extra></extra>"
                ),
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[grid[0], grid[-1]],
            y=[pooled, pooled],
            mode="lines",
            line=dict(color=INK, width=1.5),
            name=_wrap("Pooled share of all forces shown", 30),
            legendrank=1,
            customdata=[[int(rows["numerator"].sum()), int(rows["denominator"].sum())]] * 2,
            hovertemplate=(
                f"Pooled share of all {rows.height} forces shown: {pooled:.2%}"
                "<br>%{customdata[0]:,} of %{customdata[1]:,}<extra></extra>"
            ),
        )
    )


def _draw_forces(
    fig: go.Figure,
    rows: pl.DataFrame,
    names: Mapping[str, str] | None,
    highlight: str | None,
    status_labels: Mapping[str, str] | None,
) -> None:
    """Each force's share at its denominator, one trace per position (its colour); a force outside
    its own 99.8% limits (`_outside`) is labelled, "(not ranked)" when it is not ranked, unless it
    is the highlighted force (its ring carries its name)."""
    for position, colour, part in _by_position(rows):
        labels = [
            (
                ""
                if not out or r["force_id"] == highlight
                else _name(r["force_id"], names)
                if _is_ranked(r["status"])
                else f"{_name(r['force_id'], names)} (not ranked)"
            )
            for r, out in zip(part.iter_rows(named=True), part["_outside"])
        ]
        fig.add_trace(
            go.Scatter(
                x=part["denominator"].to_list(),
                y=part["share"].to_list(),
                mode="markers+text",
                text=labels,
                textposition="top center",
                textfont=dict(size=11, color=colour),
                **_position_style(position, colour, part["status"], size=9),
                customdata=[
                    [
                        _name(r["force_id"], names),
                        r["numerator"],
                        r["denominator"],
                        r["share"],
                        _pct(r["benchmark"]),
                        _pp(None if _missing(r["benchmark"]) else r["share"] - r["benchmark"]),
                        _pct(r["limit998_od_lower"]),
                        _pct(r["limit998_od_upper"]),
                        _num(r["z"], ".2f"),
                        _num(r["q_by"], ".3g"),
                        _num(r.get("q_bh"), ".3g"),
                        *_standing_data(r, status_labels),
                    ]
                    for r in part.iter_rows(named=True)
                ],
                hovertemplate=(
                    "<b>%{customdata[0]}</b><br>Share: %{customdata[3]:.2%} "
                    "(%{customdata[1]:,} of %{customdata[2]:,})"
                    "<br>Benchmark (peers, force excluded): %{customdata[4]} (difference %{customdata[5]})"
                    "<br>Benchmark covers: %{customdata[13]}"
                    "<br>99.8% overdispersed limits at its benchmark: %{customdata[6]} to %{customdata[7]}"
                    "<br>z (overdispersed): %{customdata[8]}; q (BY): %{customdata[9]}; "
                    "q (BH): %{customdata[10]}<br>%{customdata[11]}<br>%{customdata[12]}<extra></extra>"
                ),
            )
        )


def _outside_998() -> pl.Expr:
    """True where the share lies outside the force's own 99.8% overdispersed limits (null limits: False)."""
    return (
        (pl.col("share") > pl.col("limit998_od_upper")) | (pl.col("share") < pl.col("limit998_od_lower"))
    ).fill_null(False)


# --- caterpillar plot ----------------------------------------------------------------------------------

CATERPILLAR_COLUMNS = (
    "force_id",
    "numerator",
    "denominator",
    "share",
    "share_lower",
    "share_upper",
    "benchmark",
    "position",
    "status",
)


def caterpillar_plot(
    findings: pl.DataFrame,
    indicator_label: str,
    source_note: str,
    names: Mapping[str, str] | None = None,
    *,
    highlight: str | None = None,
    status_labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Every force's share with its 95% Wilson interval, sorted from lowest (bottom) to highest (top).

    `findings`: `divergence` rows of one indicator with at least force_id, numerator, denominator,
    share, share_lower, share_upper, benchmark, position and status (and, when present, rank,
    supply_rank, status_reason and benchmark_coverage, for the hover). Points are coloured by
    `position`, filled when ranked and hollow when not (the hover says why); each force's benchmark
    (its peers' pooled share, force excluded) is a tick on its row. `highlight` (a force_id): that
    force is ringed, its name on the axis is bold, and the legend names it.
    """
    _require(findings, CATERPILLAR_COLUMNS, "caterpillar_plot")
    rows = _named_rows(findings, names).sort("share", "_name")
    fig = go.Figure()
    for position, colour, part in _by_position(rows):
        fig.add_trace(
            go.Scatter(
                x=part["share"].to_list(),
                y=part["_name"].to_list(),
                mode="markers",
                **_position_style(position, colour, part["status"], size=8),
                error_x=_interval(part, "share", "share_lower", "share_upper", color=colour, thickness=1.5, width=0),
                customdata=[
                    [
                        r["numerator"],
                        r["denominator"],
                        _pct(r["share_lower"]),
                        _pct(r["share_upper"]),
                        _pct(r["benchmark"]),
                        *_standing_data(r, status_labels),
                    ]
                    for r in part.iter_rows(named=True)
                ],
                hovertemplate=(
                    "<b>%{y}</b><br>Share: %{x:.2%} (%{customdata[0]:,} of %{customdata[1]:,})"
                    "<br>95% Wilson interval: %{customdata[2]} to %{customdata[3]}"
                    "<br>Benchmark (peers, force excluded): %{customdata[4]}"
                    "<br>Benchmark covers: %{customdata[7]}"
                    "<br>%{customdata[5]}<br>%{customdata[6]}<extra></extra>"
                ),
            )
        )
    marked = rows.filter(pl.col("benchmark").is_not_null())
    fig.add_trace(
        go.Scatter(
            x=marked["benchmark"].to_list(),
            y=marked["_name"].to_list(),
            mode="markers",
            name=_wrap("Benchmark: peers' pooled share, force excluded", 30),
            marker=dict(symbol="line-ns-open", size=14, color=INK, line=dict(width=2, color=INK)),
            hovertemplate="<b>%{y}</b><br>Benchmark (peers' pooled share, force excluded): %{x:.2%}<extra></extra>",
        )
    )
    _highlight_point(
        fig,
        rows,
        highlight,
        names,
        x="share",
        y="_name",
        label_on_axis=True,
        hover="<b>%{y}</b> (chosen force)<br>Share %{x:.2%}<extra></extra>",
    )
    order = rows["_name"].to_list()
    ticks = _category_ticks(order)
    if highlight is not None:
        ticks["ticktext"] = [f"<b>{n}</b>" if n == _name(highlight, names) else n for n in order]
    fig.update_yaxes(title_text="Force (sorted by share)", **ticks)
    fig.update_xaxes(
        title_text=f"{SHARE_TITLE}, with its 95% Wilson interval",
        tickformat=_share_format(rows["share_upper"].to_list()),
    )
    unranked = rows.filter(pl.col("status") != "ranked").height
    return _finish(
        fig,
        f"{indicator_label}: forces ranked by share, with 95% intervals",
        "Colour: where the share sits against the overdispersed funnel limits. "
        "Tick: each force's benchmark. "
        f"Hollow: not ranked ({unranked} of {rows.height}; hover for why).",
        source_note,
        height=max(300, 18 * rows.height + 40),
    )
