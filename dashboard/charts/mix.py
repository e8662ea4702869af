"""A mix of offences or outcomes across forces: the residual heatmap (forces × categories, where each
force's mix departs from a common one) and one force's mix against its peers', with each category's
part in the Jensen–Shannon distance."""

from __future__ import annotations

import math
from collections.abc import Mapping

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from dashboard.charts.layout import (
    _angled_height,
    _category_ticks,
    _finish,
    _force_heatmap,
    _grid,
    _lines,
    _require,
    _rows_top_down,
    _share_format,
    _wrap,
)
from dashboard.charts.palette import ABOVE, BELOW, INK, PEERS
from dashboard.charts.words import _described, _missing, _name, _num, _pct, _pp, label_for

HEATMAP_COLUMNS = ("force_id", "category", "adjusted_residual", "share", "reference_share")


def residual_heatmap(
    mix_categories: pl.DataFrame,
    mix_label: str,
    source_note: str,
    names: Mapping[str, str] | None = None,
    cap: float = 10.0,
    *,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Forces × categories of one mix, coloured by the adjusted standardised residual of the
    chi-square homogeneity test (red: more than a common mix predicts; blue: fewer).

    `mix_categories`: `divergence_mix_categories` rows of one mix and window, with at least
    force_id, category, adjusted_residual, share and reference_share. The colour scale is centred on
    0 and stops at ±`cap` (the hover keeps the exact value); a force × category the table lacks is
    an empty cell (z is None). Forces are sorted by name, categories by their peers' share.
    `labels`: category → label (outcome groups and humanised ids otherwise). Category labels are
    set at an angle when there are more than five, with room reserved under the plot for them.
    """
    _require(mix_categories, HEATMAP_COLUMNS, "residual_heatmap")
    if mix_categories.select("force_id", "category").is_duplicated().any():
        raise ValueError("residual_heatmap draws one mix and window: a force × category appears twice")
    rows = mix_categories
    forces = sorted(rows["force_id"].unique().to_list(), key=lambda f: _name(f, names))
    categories = (
        rows.group_by("category")
        .agg(pl.col("reference_share").mean())
        .sort(["reference_share", "category"], descending=[True, False], nulls_last=True)["category"]
        .to_list()
    )
    cells = {(r["force_id"], r["category"]): r for r in rows.iter_rows(named=True)}
    angled = len(categories) > 5
    x_labels = [label_for(c, labels) if angled else _wrap(label_for(c, labels), 12) for c in categories]

    def residual(force: str, category: str) -> tuple[float | None, list[str]]:
        cell = cells.get((force, category))
        value = None if cell is None or _missing(cell["adjusted_residual"]) else float(cell["adjusted_residual"])
        shares = [_pct(cell["share"]), _pct(cell["reference_share"])] if cell else ["—", "—"]
        return value, [_num(value, ".2f"), *shares]

    grid = _grid(forces, categories, x_labels, [_name(f, names) for f in forces], residual)
    fig = _force_heatmap(
        grid,
        colorscale="RdBu_r",
        zmid=0,
        zmin=-cap,
        zmax=cap,
        hoverongaps=True,
        colorbar=dict(
            title=dict(text=f"Adjusted<br>residual<br>(colour capped<br>at ±{cap:g})"),
            tickvals=[-cap, -3, 0, 3, cap],
            ticktext=[f"≤ −{cap:g}", "−3", "0", "3", f"≥ {cap:g}"],
        ),
        name="Adjusted residual",
        hovertemplate=(
            "<b>%{y}</b> · %{x}<br>Adjusted residual: %{customdata[0]}"
            "<br>Force's share: %{customdata[1]}; peers' share (force excluded): %{customdata[2]}"
            "<extra></extra>"
        ),
    )
    subtitle = (
        f"{_described('adjusted_residual')}: about N(0, 1) if every force had the same mix. "
        f"Red: more than that predicts; blue: fewer. Colours stop at ±{cap:g}; hover shows the exact value; "
        "blank: no data."
    )
    if angled:
        label_block = _angled_height(max((len(x) for x in x_labels), default=0)) + 14
        fig.update_xaxes(
            title_text="Category of the mix",
            tickangle=-45,
            automargin=True,
            tickfont=dict(size=12),
            **_category_ticks(x_labels),
        )
    else:
        label_block = 16 * max((_lines(x) for x in x_labels), default=1)
        fig.update_xaxes(title_text="Category of the mix", tickangle=0, automargin=True, **_category_ticks(x_labels))
    fig = _finish(
        fig,
        f"{mix_label}: where each force's mix departs from a common mix",
        subtitle,
        source_note,
        height=max(300, 18 * len(forces)),
        axis_block=45 + label_block,
    )
    # Room on the left for the first angled label, which runs down-left from its tick.
    if angled:
        fig.update_layout(margin=dict(l=max(70, _angled_height(len(x_labels[0])) - 20)))
    return fig


# --- mix contributions --------------------------------------------------------------------------------

CONTRIBUTION_COLUMNS = ("category", "share", "reference_share", "contribution")


def mix_contributions(
    mix_categories_for_force: pl.DataFrame,
    mix_label: str,
    force_name: str,
    source_note: str,
    *,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """A force's mix against its peers' mix, and each category's part in the Jensen–Shannon distance.

    `mix_categories_for_force`: `divergence_mix_categories` rows of one force, mix and window, with
    at least category, share, reference_share and contribution. The terms sum to distance², so the
    right panel shows each as a percentage of that sum; red where the force's share is higher than
    its peers', blue where lower. Categories are sorted by contribution, largest at the top.
    `labels`: category → label (outcome groups and humanised ids otherwise).
    """
    _require(mix_categories_for_force, CONTRIBUTION_COLUMNS, "mix_contributions")
    rows = mix_categories_for_force.sort(["contribution", "category"], descending=[True, False], nulls_last=True)
    total = float(rows["contribution"].fill_nan(None).sum() or 0.0)
    distance = math.sqrt(total)
    bar_labels = [_wrap(label_for(c, labels), 30) for c in rows["category"]]
    data = [
        [
            r["share"],
            r["reference_share"],
            _pp(r["share"] - r["reference_share"]),
            _num(r["contribution"], ".3g"),
            _pct(r["contribution"] / total if total > 0 else None, 1),
        ]
        for r in rows.iter_rows(named=True)
    ]
    hover = (
        "<b>%{y}</b><br>" + force_name + ": %{customdata[0]:.2%}; peers (force excluded): %{customdata[1]:.2%} "
        "(difference %{customdata[2]})<br>Term in the divergence: %{customdata[3]} "
        "(%{customdata[4]} of distance²)<extra></extra>"
    )
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.6, 0.4], horizontal_spacing=0.08)
    fig.add_trace(
        go.Bar(
            y=bar_labels,
            x=rows["share"].to_list(),
            orientation="h",
            name=force_name,
            marker=dict(color=INK),
            customdata=data,
            hovertemplate=hover,
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            y=bar_labels,
            x=rows["reference_share"].to_list(),
            orientation="h",
            name=_wrap("Peers' pooled mix (force excluded)", 30),
            marker=dict(color=PEERS),
            customdata=data,
            hovertemplate=hover,
        ),
        row=1,
        col=1,
    )
    percent = [(c / total if total > 0 and not _missing(c) else None) for c in rows["contribution"]]
    fig.add_trace(
        go.Bar(
            y=bar_labels,
            x=percent,
            orientation="h",
            name=_wrap("Part of the distance (red: force higher; blue: lower)", 30),
            marker=dict(
                color=[ABOVE if (s or 0) > (q or 0) else BELOW for s, q in zip(rows["share"], rows["reference_share"])]
            ),
            customdata=data,
            hovertemplate=hover,
        ),
        row=1,
        col=2,
    )
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(title_text="Category", row=1, col=1, **_rows_top_down(bar_labels))
    # Two panels side by side may be under 250 px each at 1024 px: titles on two lines, few ticks.
    fig.update_xaxes(
        title_text="Share of the<br>mix (%)",
        tickformat=_share_format(rows["share"].to_list()),
        nticks=4,
        tickangle=0,
        title_font=dict(size=13),
        row=1,
        col=1,
    )
    fig.update_xaxes(
        title_text="Part of the<br>distance² (%)",
        tickformat=".0%",
        nticks=3,
        tickangle=0,
        title_font=dict(size=13),
        row=1,
        col=2,
    )
    subtitle = (
        f"Jensen–Shannon distance {distance:.4f} (base 2, 0 = same mix, 1 = no overlap). {_described('contribution')}."
    )
    return _finish(
        fig,
        f"{force_name}: {mix_label}, against its peers",
        subtitle,
        source_note,
        height=max(240, 40 * len(bar_labels)),
        axis_block=80,
    )
