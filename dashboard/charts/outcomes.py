"""A force's case-mix adjusted outcome ratios: observed ÷ expected outcomes, with exact 95% limits."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
import polars as pl

from dashboard.charts.layout import _finish, _interval, _require, _rows_top_down, _wrap
from dashboard.charts.palette import ABOVE, BELOW, INK, WITHIN
from dashboard.charts.words import _count, _described, _num, label_for

RATIO_COLUMNS = ("outcome_group", "observed", "expected", "standardised_ratio", "ratio_lower", "ratio_upper")


def outcome_ratio_plot(
    ratios_for_force: pl.DataFrame, force_name: str, source_note: str, *, labels: Mapping[str, str] | None = None
) -> go.Figure:
    """A force's case-mix adjusted outcome ratios (observed ÷ expected) with exact 95% limits.

    `ratios_for_force`: `outcome_ratios` rows of one force and window, with at least outcome_group,
    observed, expected, standardised_ratio, ratio_lower and ratio_upper. Log scale, reference line
    at 1. Red: limits wholly above 1; blue: wholly below; grey: consistent with the case mix.
    Groups with no expected count (nothing to compare) are named in the subtitle, not drawn.
    `labels`: outcome group → label; by default pipelines/reference/outcome_groups.csv's labels.
    """
    _require(ratios_for_force, RATIO_COLUMNS, "outcome_ratio_plot")

    def group_label(group: str) -> str:
        return label_for(group, labels)

    rows = ratios_for_force.with_columns(pl.col(pl.Float64).fill_nan(None)).sort("outcome_group")
    usable = rows.filter(pl.col("standardised_ratio").is_not_null() & (pl.col("standardised_ratio") > 0))
    left_out = [
        group_label(g)
        for g in rows.filter(~pl.col("outcome_group").is_in(usable["outcome_group"].to_list()))["outcome_group"]
    ]
    order = [group_label(g) for g in usable["outcome_group"]]
    fig = go.Figure()
    kinds = (
        ("more than expected (95% limits above 1)", ABOVE, pl.col("ratio_lower") > 1),
        ("fewer than expected (95% limits below 1)", BELOW, pl.col("ratio_upper") < 1),
        (
            "consistent with the case mix",
            WITHIN,
            ~((pl.col("ratio_lower") > 1) | (pl.col("ratio_upper") < 1)).fill_null(False),
        ),
    )
    for words, colour, condition in kinds:
        part = usable.filter(condition)
        if part.height == 0:
            continue
        fig.add_trace(
            go.Scatter(
                x=part["standardised_ratio"].to_list(),
                y=[group_label(g) for g in part["outcome_group"]],
                mode="markers",
                name=_wrap(words[:1].upper() + words[1:], 30),
                marker=dict(color=colour, size=10),
                error_x=_interval(
                    part, "standardised_ratio", "ratio_lower", "ratio_upper", color=colour, thickness=1.5, width=4
                ),
                customdata=[
                    [
                        _count(r["observed"]),
                        _num(r["expected"], ",.1f"),
                        _num(r["ratio_lower"], ".3f"),
                        _num(r["ratio_upper"], ".3f"),
                    ]
                    for r in part.iter_rows(named=True)
                ],
                hovertemplate=(
                    "<b>%{y}</b><br>Observed ÷ expected: %{x:.3f} "
                    "(95% limits %{customdata[2]} to %{customdata[3]})"
                    "<br>Observed %{customdata[0]}; expected %{customdata[1]} given the case mix"
                    "<extra></extra>"
                ),
            )
        )
    # Shapes on a log axis take data values (plotly.js converts them), so x = 1 is the ratio 1.
    fig.add_vline(x=1, line=dict(color=INK, width=1.5, dash="dash"))
    # Fixed ratios, so that Plotly's minor labels never crowd a narrow chart.
    fig.update_xaxes(
        type="log",
        tickvals=[0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20],
        title_text=f"Standardised ratio, {_described('standardised_ratio').lower()}; log scale",
    )
    fig.update_yaxes(title_text="Outcome group", **_rows_top_down(order))
    subtitle = (
        "Expected: the force's crimes by type at the other forces' rate of each outcome (indirect standardisation)."
    )
    if left_out:
        subtitle += f" No comparison possible for: {', '.join(left_out)}."
    title = f"{force_name}: outcomes against what its case mix predicts"
    return _finish(fig, title, subtitle, source_note, height=max(220, 36 * len(order)))
