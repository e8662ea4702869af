"""The spine chart: one force against the other forces on every indicator, each row scaled on its own
around the force's benchmark, in the style of a Fingertips spine chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import polars as pl

from dashboard.charts.findings import _is_ranked, _standing
from dashboard.charts.layout import _finish, _legend_entry, _lines, _require, _rows_top_down, _wrap
from dashboard.charts.palette import ABOVE, BELOW, INK, PEERS, PEERS_DARK, POSITION_COLOURS, WITHIN_POSITION
from dashboard.charts.words import _missing, _num, _pct, _pp, label_for, readable

SPINE_COLUMNS = (
    "indicator_id",
    "force_id",
    "numerator",
    "denominator",
    "share",
    "benchmark",
    "z",
    "q_by",
    "position",
    "status",
)
SPINE_LABEL_WIDTH = 36


def spine_chart(
    findings_for_force: pl.DataFrame,
    all_findings: pl.DataFrame,
    force_name: str,
    source_note: str,
    indicator_labels: Mapping[str, str] | None = None,
    q_threshold: float = 0.05,
    *,
    peer_names: Sequence[str] | None = None,
    status_labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """One force against its peers on every indicator, in the style of a Fingertips spine chart.

    `findings_for_force`: the force's `divergence` rows (one per indicator) with at least
    indicator_id, force_id, numerator, denominator, share, benchmark, z, q_by, position and status
    (and, when present, rank, supply_rank and status_reason, for the hover).
    `all_findings`: `divergence` rows of every force for the same indicators (indicator_id,
    force_id, share); the force's own rows are left out of its peers.

    Each row is scaled on its own: 0 is the force's benchmark (its peers' pooled share, force
    excluded) and ±1 the furthest of the peers' range and the force. Bars: the other forces'
    lowest–highest share and their 25th–75th percentiles (linear interpolation). Marker: the
    force, filled when it is ranked, its BY q-value is under `q_threshold` and it lies outside the
    overdispersed limits, hollow otherwise (a finding that is not ranked is never filled),
    coloured by `position` (ink when within the limits, so that it shows on the grey bars). The
    hover gives every share unscaled.
    """
    _require(findings_for_force, SPINE_COLUMNS, "spine_chart")
    _require(all_findings, ("indicator_id", "force_id", "share"), "spine_chart")
    bars, force_points = _spine_rows(
        findings_for_force, all_findings, indicator_labels or {}, q_threshold, status_labels
    )
    fig = go.Figure()
    peer_hover = (
        "<b>%{customdata[0]}</b><br>Other forces (%{customdata[1]}): lowest %{customdata[2]}, "
        "25th percentile %{customdata[3]}, median %{customdata[4]}, 75th percentile %{customdata[5]}, "
        "highest %{customdata[6]}<br>Benchmark (peers' pooled share, force excluded): "
        "%{customdata[7]}<extra></extra>"
    )
    for low, high, colour, words in (
        ("lo", "hi", PEERS, "Other forces: lowest to highest share"),
        ("q25", "q75", PEERS_DARK, "Other forces: 25th to 75th percentile"),
    ):
        fig.add_trace(
            go.Bar(
                y=[b["label"] for b in bars],
                x=[b[high] - b[low] for b in bars],
                base=[b[low] for b in bars],
                orientation="h",
                marker=dict(color=colour),
                width=0.55,
                name=_wrap(words, 30),
                customdata=[b["data"] for b in bars],
                hovertemplate=peer_hover,
            )
        )
    force_hover = (
        f"<b>{force_name}</b>: %{{customdata[0]}}<br>Share: %{{customdata[3]:.2%}} "
        "(%{customdata[1]:,} of %{customdata[2]:,})"
        "<br>Benchmark (peers, force excluded): %{customdata[4]} (difference %{customdata[5]})"
        "<br>z (overdispersed): %{customdata[6]}; q (BY): %{customdata[7]}<br>%{customdata[8]}"
        "<br>%{customdata[9]}<extra></extra>"
    )
    for significant, name in (
        (True, f"{force_name}: ranked and significant (q (BY) < {q_threshold:g}, outside the overdispersed limits)"),
        (False, f"{force_name}: not significant, or not ranked"),
    ):
        points = [p for p in force_points if p["significant"] is significant]
        fig.add_trace(
            go.Scatter(
                y=[p["label"] for p in points],
                x=[p["x"] for p in points],
                mode="markers",
                name=_wrap(name, 30),
                # Hollow = a white fill inside the coloured ring, so that the bars do not show through.
                marker=dict(
                    size=12,
                    symbol="circle",
                    color=[p["colour"] if significant else "white" for p in points],
                    line=dict(width=2, color=[p["colour"] for p in points]),
                ),
                customdata=[p["data"] for p in points],
                hovertemplate=force_hover,
            )
        )
    fig.add_vline(x=0, line=dict(color=INK, width=1.5))
    _spine_key(fig)
    order = [b["label"] for b in bars]
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(title_text="Indicator", tickfont=dict(size=11.5), **_rows_top_down(order))
    fig.update_xaxes(
        title_text="Position against the benchmark (0), scaled per indicator: the furthest value is at ±1",
        range=[-1.15, 1.15],
        tickvals=[-1, -0.5, 0, 0.5, 1],
        ticktext=["lower", "", "benchmark", "", "higher"],
        zeroline=False,
    )
    subtitle = (
        "Bars: the other forces' shares (light: lowest to highest; dark: middle half). "
        "Filled marker: ranked and significant; hollow: not significant, or not ranked (hover for why); "
        "colour: position against the overdispersed funnel limits."
    )
    if peer_names:
        subtitle += f" Peers ({len(peer_names)}): {', '.join(peer_names)}."
    return _finish(
        fig,
        f"{force_name} against the other forces on every indicator",
        subtitle,
        source_note,
        height=max(260, len(order) * (16 + 14 * max((_lines(label) for label in order), default=1))),
    )


def _spine_rows(
    findings_for_force: pl.DataFrame,
    all_findings: pl.DataFrame,
    labels: Mapping[str, str],
    q_threshold: float,
    status_labels: Mapping[str, str] | None,
) -> tuple[list[dict], list[dict]]:
    """Each indicator's row of the spine chart, scaled so that 0 is the force's benchmark (its peers'
    median when it has none) and ±1 the furthest of the peers' range and the force's share.

    Returns the peers' bars (label; lo, hi, q25, q75 on that scale; the hover's data, unscaled) and the
    force's points (label, x on that scale, whether significant, colour, the hover's data). An
    indicator with no share for the force or none for its peers has no row.
    """
    bars, force_points = [], []
    for r in findings_for_force.iter_rows(named=True):
        label = _wrap(readable(labels.get(r["indicator_id"]) or label_for(r["indicator_id"])), SPINE_LABEL_WIDTH)
        peers = (
            all_findings.filter((pl.col("indicator_id") == r["indicator_id"]) & (pl.col("force_id") != r["force_id"]))[
                "share"
            ]
            .drop_nulls()
            .drop_nans()
            .to_numpy()
        )
        if peers.size == 0 or _missing(r["share"]):
            continue
        lowest, q25, median, q75, highest = np.quantile(peers, [0, 0.25, 0.5, 0.75, 1])
        centre = r["benchmark"] if not _missing(r["benchmark"]) else float(median)
        scale = max(abs(lowest - centre), abs(highest - centre), abs(r["share"] - centre)) or 1.0
        bars.append(
            dict(
                label=label,
                lo=(lowest - centre) / scale,
                hi=(highest - centre) / scale,
                q25=(q25 - centre) / scale,
                q75=(q75 - centre) / scale,
                data=[
                    label,
                    str(peers.size),
                    _pct(lowest),
                    _pct(q25),
                    _pct(median),
                    _pct(q75),
                    _pct(highest),
                    _pct(r["benchmark"]),
                ],
            )
        )
        significant = (
            _is_ranked(r["status"])
            and not _missing(r["q_by"])
            and r["q_by"] < q_threshold
            and r["position"] is not None
            and r["position"] != WITHIN_POSITION
        )
        force_points.append(
            dict(
                label=label,
                x=(r["share"] - centre) / scale,
                significant=significant,
                # Grey markers would vanish on the grey bars: "within" is drawn in ink here.
                colour=(
                    INK
                    if (r["position"] or WITHIN_POSITION) == WITHIN_POSITION
                    else POSITION_COLOURS.get(r["position"], INK)
                ),
                data=[
                    label,
                    r["numerator"],
                    r["denominator"],
                    r["share"],
                    _pct(r["benchmark"]),
                    _pp(None if _missing(r["benchmark"]) else r["share"] - r["benchmark"]),
                    _num(r["z"], ".2f"),
                    _num(r["q_by"], ".3g"),
                    r["position"] or "—",
                    _standing(r, status_labels=status_labels),
                ],
            )
        )
    return bars, force_points


def _spine_key(fig: go.Figure) -> None:
    """Legend-only entries for what the spine chart's line, marker colours and hollow rings mean (they
    draw nothing)."""
    _legend_entry(
        fig, "Benchmark (0): peers' pooled share, force excluded", mode="lines", line=dict(color=INK, width=1.5)
    )
    for words, colour in (
        ("Colour red: above the overdispersed limits", ABOVE),
        ("Colour blue: below the overdispersed limits", BELOW),
        ("Colour black: within the limits", INK),
    ):
        _legend_entry(fig, words, marker=dict(size=11, symbol="circle", color=colour, line=dict(width=2, color=colour)))
    _legend_entry(
        fig,
        "Hollow ring: not significant, or not ranked (hover for why)",
        marker=dict(size=11, symbol="circle", color="white", line=dict(width=2, color=INK)),
    )
