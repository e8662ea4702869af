"""Chart builders, tested without Streamlit on tiny frames whose expected values can be read off.

Each test builds the rows a chart reads (the columns of its table or view) from named constants and
checks the figure's data and layout: points, curves, orders, colours' inputs, hover data, notes.
"""

from __future__ import annotations

import functools
import math
from datetime import date, datetime
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
import pytest

from dashboard import charts

NOTE = "Source: police.uk street files, April 2021 (test)."
NAMES = {"avon": "Avon", "bristol": "Bristol", "cumbria": "Cumbria", "dorset": "Dorset", "essex": "Essex"}

# --- divergence rows -------------------------------------------------------------------------------------

TAU2 = 0.002
ABOVE_998 = "above the 99.8% overdispersed limit"
BELOW_998 = "below the 99.8% overdispersed limit"
ABOVE_95 = "above the 95% overdispersed limit"
WITHIN = "within the overdispersed limits"

# force, numerator, denominator, benchmark, 99.8% od lower, 99.8% od upper, position, q_by
FINDINGS = [
    ("avon", 30, 100, 0.40, 0.20, 0.60, WITHIN, 0.40),
    ("bristol", 200, 400, 0.38, 0.25, 0.45, ABOVE_998, 0.001),  # 0.50 > 0.45: outside
    ("cumbria", 80, 200, 0.39, 0.25, 0.55, WITHIN, 0.90),
    ("dorset", 50, 500, 0.42, 0.30, 0.52, BELOW_998, 0.0001),  # 0.10 < 0.30: outside
    ("essex", 480, 1000, 0.35, 0.26, 0.50, ABOVE_95, 0.03),  # 0.48 within the 99.8% limits
]
OUTSIDE = {"Bristol", "Dorset"}
POOLED = (30 + 200 + 80 + 50 + 480) / (100 + 400 + 200 + 500 + 1000)  # 840 / 2200
# Forces with a denominator under 150 are not ranked, and Dorset's finding is contradicted by another
# source: every other force is ranked, in this order.
SMALL_REASON = "its denominator 100 is under 150"
CONTRADICTED_REASON = "ONS shows 45.0% against 40.0%, the opposite direction"
RANKS = {"bristol": 1, "essex": 2, "cumbria": 3}
Z_998 = 3.090232  # standard normal quantile leaving 0.1% in each tail


def _status(force: str, denominator: int) -> tuple[str, str | None]:
    if denominator < 150:
        return "small_denominator", SMALL_REASON
    if force == "dorset":
        return "contradicted", CONTRADICTED_REASON
    return "ranked", None


def findings(indicator_id: str = "ind_a", rows=FINDINGS, shift: float = 0.0) -> pl.DataFrame:
    """`divergence` rows of one indicator (shares moved by `shift`, for a second indicator)."""
    return pl.DataFrame(
        [
            {
                "indicator_id": indicator_id,
                "force_id": f,
                "numerator": x,
                "denominator": n,
                "share": x / n + shift,
                "share_lower": x / n + shift - 0.05,
                "share_upper": x / n + shift + 0.04,
                "benchmark": b,
                "tau2": TAU2,
                "z": 1.5,
                "q_by": q,
                "q_bh": q / 4,
                "limit998_od_lower": lo,
                "limit998_od_upper": hi,
                "position": pos,
                "status": _status(f, n)[0],
                "status_reason": _status(f, n)[1],
                "is_ranked": _status(f, n)[0] == "ranked",
                "rank": RANKS.get(f),
                "supply_rank": None,
                "benchmark_coverage": f"4 of the 4 other forces ({f} left out)",
            }
            for f, x, n, b, lo, hi, pos, q in rows
        ],
        schema_overrides={"rank": pl.Int32, "supply_rank": pl.Int32, "status_reason": pl.String},
    )


def trace_named(fig: go.Figure, words: str) -> go.Scatter:
    """The trace whose legend name (with its line breaks undone) contains `words`."""
    found = [t for t in fig.data if t.name and words in t.name.replace("<br>", " ")]
    assert len(found) == 1, [t.name for t in fig.data]
    return found[0]


def source_notes(fig: go.Figure) -> list[str]:
    return [a.text.replace("<br>", " ") for a in fig.layout.annotations if a.name == charts.SOURCE_NOTE]


# --- funnel ----------------------------------------------------------------------------------------------


def test_funnel_has_one_point_per_force_with_exact_counts_in_the_hover():
    fig = charts.funnel_plot(findings(), "Share A", NOTE, NAMES)
    points = [t for t in fig.data if t.mode == "markers+text"]
    assert sum(len(t.x) for t in points) == len(FINDINGS)
    by_force = {row[0]: row for t in points for row in t.customdata}
    assert list(by_force["Bristol"][1:4]) == [200, 400, 0.5]


def test_funnel_curve_is_the_overdispersed_limit_around_the_pooled_share():
    n = 400  # a force's own denominator is always on the grid
    half = Z_998 * math.sqrt(1 / (4 * n) + TAU2)
    upper = math.sin(math.asin(math.sqrt(POOLED)) + half) ** 2
    lower = math.sin(math.asin(math.sqrt(POOLED)) - half) ** 2

    curve = trace_named(charts.funnel_plot(findings(), "Share A", NOTE, NAMES), "99.8% limits, overdispersed")
    at_n = [i for i, x in enumerate(curve.x) if x == n]
    assert len(at_n) == 2  # once on the lower curve, once on the upper
    assert curve.y[at_n[0]] == pytest.approx(lower, rel=1e-6)
    assert curve.y[at_n[1]] == pytest.approx(upper, rel=1e-6)


def test_funnel_plain_limits_leave_out_tau2_and_the_benchmark_line_is_the_pooled_share():
    n = 1000
    half = 1.959964 * math.sqrt(1 / (4 * n))
    fig = charts.funnel_plot(findings(), "Share A", NOTE, NAMES)
    curve = trace_named(fig, "95% limits, plain binomial")
    at_n = [i for i, x in enumerate(curve.x) if x == n]
    assert curve.y[at_n[1]] == pytest.approx(math.sin(math.asin(math.sqrt(POOLED)) + half) ** 2, rel=1e-6)
    assert list(trace_named(fig, "Pooled share").y) == pytest.approx([POOLED, POOLED])


def test_funnel_labels_exactly_the_forces_outside_their_998_overdispersed_limits():
    fig = charts.funnel_plot(findings(), "Share A", NOTE, NAMES)
    labels = {text for t in fig.data if t.mode == "markers+text" for text in t.text if text}
    # Dorset lies outside too, but its finding is contradicted: its label says it is not ranked.
    assert labels == {"Bristol", "Dorset (not ranked)"}
    assert {label.split(" (")[0] for label in labels} == OUTSIDE


def funnel_points(fig: go.Figure) -> dict[str, tuple[str, list]]:
    """Each force's (marker symbol, hover data) in a funnel plot."""
    return {
        row[0]: (symbol, list(row))
        for t in fig.data
        if t.mode == "markers+text"
        for row, symbol in zip(t.customdata, t.marker.symbol)
    }


def test_funnel_marks_unranked_forces_hollow_and_says_why_in_the_hover():
    points = funnel_points(charts.funnel_plot(findings(), "Share A", NOTE, NAMES))
    assert points["Avon"][0] == charts.NOT_RANKED_SYMBOL  # denominator 100 < 150
    assert points["Dorset"][0] == charts.NOT_RANKED_SYMBOL  # contradicted
    assert {f for f, (symbol, _) in points.items() if symbol == charts.RANKED_SYMBOL} == {"Bristol", "Cumbria", "Essex"}
    avon = " ".join(map(str, points["Avon"][1])).replace("<br>", " ")
    assert "Not ranked (small denominator)" in avon and SMALL_REASON in avon
    dorset = " ".join(map(str, points["Dorset"][1])).replace("<br>", " ")
    assert "Not ranked (contradicted)" in dorset and CONTRADICTED_REASON in dorset
    assert "Ranked #1" in points["Bristol"][1]
    assert not any("Not ranked" in str(cell) for cell in points["Essex"][1])


def test_funnel_and_caterpillar_legends_draw_a_filled_marker_where_a_trace_has_ranked_forces():
    # Avon (not ranked) and Cumbria (ranked) share a position; Plotly's legend copies the first point.
    rows = findings().with_columns(pl.lit(WITHIN).alias("position"))
    for fig in (
        charts.funnel_plot(rows, "Share A", NOTE, NAMES),
        charts.caterpillar_plot(rows, "Share A", NOTE, NAMES),
    ):
        [trace] = [t for t in fig.data if t.name and t.name.startswith("Within")]
        assert trace.marker.symbol[0] == charts.RANKED_SYMBOL
        assert list(trace.marker.symbol).count(charts.NOT_RANKED_SYMBOL) == 2


def test_funnel_hover_shows_each_forces_benchmark_coverage_and_both_q_values():
    fig = charts.funnel_plot(findings(), "Share A", NOTE, NAMES)
    bristol = funnel_points(fig)["Bristol"][1]
    assert "4 of the 4 other forces (bristol left out)" in bristol
    assert "0.001" in bristol and "0.00025" in bristol  # q (BY) and q (BH)
    hover = next(t.hovertemplate for t in fig.data if t.mode == "markers+text")
    assert "Benchmark covers" in hover and "q (BY)" in hover and "q (BH)" in hover
    assert "2 of 5" in fig.layout.title.subtitle.text  # hollow: not ranked, counted


def test_funnel_without_tau2_draws_only_the_plain_limits():
    fig = charts.funnel_plot(findings().with_columns(pl.lit(None, dtype=pl.Float64).alias("tau2")), "Share A", NOTE)
    names = [t.name.replace("<br>", " ") for t in fig.data if t.mode == "lines"]
    assert not any("overdispersed" in name for name in names)
    assert any("plain binomial" in name for name in names)


def test_funnel_refuses_two_indicators_and_names_missing_columns():
    with pytest.raises(ValueError, match="one indicator"):
        charts.funnel_plot(pl.concat([findings("a"), findings("b")]), "Share", NOTE)
    with pytest.raises(ValueError, match="tau2"):
        charts.funnel_plot(findings().drop("tau2"), "Share", NOTE)


# --- caterpillar -------------------------------------------------------------------------------------------


def test_caterpillar_sorts_forces_by_share_and_marks_each_benchmark():
    fig = charts.caterpillar_plot(findings(), "Share A", NOTE, NAMES)
    # shares: Dorset 0.10, Avon 0.30, Cumbria 0.40, Essex 0.48, Bristol 0.50 (lowest at the bottom)
    assert list(fig.layout.yaxis.categoryarray) == ["Dorset", "Avon", "Cumbria", "Essex", "Bristol"]
    benchmark = trace_named(fig, "Benchmark")
    assert dict(zip(benchmark.y, benchmark.x))["Bristol"] == 0.38


def test_caterpillar_draws_unranked_forces_hollow_with_the_reason_in_the_hover():
    fig = charts.caterpillar_plot(findings(), "Share A", NOTE, NAMES)
    points = {
        y: (symbol, list(data))
        for t in fig.data
        if t.customdata is not None
        for y, symbol, data in zip(t.y, t.marker.symbol, t.customdata)
    }
    assert {y for y, (symbol, _) in points.items() if symbol == charts.NOT_RANKED_SYMBOL} == {"Avon", "Dorset"}
    assert any(SMALL_REASON in str(cell).replace("<br>", " ") for cell in points["Avon"][1])
    assert "Ranked #3" in points["Cumbria"][1]
    assert "2 of 5" in fig.layout.title.subtitle.text


def test_caterpillar_colours_points_by_position_with_wilson_error_bars():
    fig = charts.caterpillar_plot(findings(), "Share A", NOTE, NAMES)
    above = trace_named(fig, "Above the 99.8%")
    assert list(above.y) == ["Bristol"]
    assert above.marker.color == charts.POSITION_COLOURS[ABOVE_998]
    assert above.error_x.array[0] == pytest.approx(0.04)
    assert above.error_x.arrayminus[0] == pytest.approx(0.05)


# --- residual heatmap ----------------------------------------------------------------------------------------

# force, category, adjusted residual, share, reference share; Cumbria has no Robbery row.
MIX_CELLS = [
    ("avon", "Burglary", 2.5, 0.30, 0.25),
    ("avon", "Robbery", -25.0, 0.10, 0.15),
    ("bristol", "Burglary", -1.0, 0.20, 0.26),
    ("bristol", "Robbery", 3.0, 0.18, 0.14),
    ("cumbria", "Burglary", 0.5, 0.27, 0.25),
]


def mix_categories(cells=MIX_CELLS) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "mix_id": "mix",
            "force_id": f,
            "window_start": date(2021, 4, 1),
            "category": c,
            "share": s,
            "reference_share": r,
            "contribution": 0.001,
            "adjusted_residual": z,
        }
        for f, c, z, s, r in cells
    )


def test_heatmap_z_values_are_the_residuals_and_missing_cells_are_none():
    heat = charts.residual_heatmap(mix_categories(), "Crime types", NOTE, NAMES).data[0]
    z = {(y, x): heat.z[i][j] for i, y in enumerate(heat.y) for j, x in enumerate(heat.x)}
    assert z[("Avon", "Robbery")] == -25.0  # kept exact; only the colour stops at the cap
    assert z[("Bristol", "Robbery")] == 3.0
    assert z[("Cumbria", "Burglary")] == 0.5
    assert z[("Cumbria", "Robbery")] is None
    assert (heat.zmin, heat.zmid, heat.zmax) == (-10, 0, 10)
    assert "±10" in heat.colorbar.title.text


def test_heatmap_refuses_two_windows_of_one_force_and_category():
    with pytest.raises(ValueError, match="twice"):
        charts.residual_heatmap(pl.concat([mix_categories(), mix_categories()]), "Crime types", NOTE)


# --- spine chart ----------------------------------------------------------------------------------------------


def test_spine_scales_each_indicator_around_the_benchmark_and_fills_significant_forces():
    # Peers of Bristol on ind_a: 0.30, 0.40, 0.10, 0.48 → lowest 0.10, highest 0.48.
    # Bristol 0.50 against benchmark 0.38: scale = max(0.28, 0.10, 0.12) = 0.28.
    everyone = pl.concat([findings("ind_a"), findings("ind_b", shift=0.01)])
    own = everyone.filter(pl.col("force_id") == "bristol")
    fig = charts.spine_chart(own, everyone, "Bristol", NOTE, {"ind_a": "Share A", "ind_b": "Share B"})
    ranges = trace_named(fig, "lowest to highest")
    assert list(ranges.y) == ["Share A", "Share B"]
    assert ranges.base[0] == pytest.approx((0.10 - 0.38) / 0.28)
    assert ranges.x[0] == pytest.approx((0.48 - 0.10) / 0.28)
    significant = trace_named(fig, "Bristol: ranked and significant")  # q (BY) 0.001 and above the 99.8% limit
    assert significant.x[0] == pytest.approx((0.50 - 0.38) / 0.28)
    assert significant.customdata[0][3] == 0.5  # the exact share, unscaled, for the hover
    assert len(trace_named(fig, "Bristol: not significant").x) == 0


def test_spine_rows_fill_the_plot_first_at_the_top_with_no_blank_rows_around_them():
    everyone = pl.concat([findings("ind_a"), findings("ind_b", shift=0.01), findings("ind_c", shift=0.02)])
    fig = charts.spine_chart(everyone.filter(pl.col("force_id") == "bristol"), everyone, "Bristol", NOTE)
    axis = fig.layout.yaxis
    rows = list(axis.categoryarray)
    assert len(rows) == 3 and axis.autorange is False
    assert list(axis.range) == [2.5, -0.5]  # the last row's bottom edge to the first row's top edge


def test_spine_never_fills_a_finding_that_is_not_ranked():
    # Dorset: q (BY) 0.0001 and below the 99.8% limit, but contradicted by another source.
    everyone = findings()
    fig = charts.spine_chart(everyone.filter(pl.col("force_id") == "dorset"), everyone, "Dorset", NOTE)
    assert len(trace_named(fig, "Dorset: ranked and significant").x) == 0
    hollow = trace_named(fig, "Dorset: not significant, or not ranked")
    assert len(hollow.x) == 1 and "Not ranked (contradicted)" in hollow.customdata[0][-1]


def test_spine_leaves_a_force_hollow_when_it_is_within_the_limits_even_with_a_small_q():
    rows = [(f, x, n, b, lo, hi, WITHIN if f == "cumbria" else pos, 0.001) for f, x, n, b, lo, hi, pos, _ in FINDINGS]
    everyone = findings(rows=rows)
    fig = charts.spine_chart(everyone.filter(pl.col("force_id") == "cumbria"), everyone, "Cumbria", NOTE)
    assert len(trace_named(fig, "Cumbria: not significant").x) == 1
    assert trace_named(fig, "Cumbria: not significant").marker.color[0] == "white"


# --- mix contributions ------------------------------------------------------------------------------------------

CONTRIBUTIONS = [("Burglary", 0.30, 0.20, 0.006), ("Robbery", 0.10, 0.15, 0.003), ("Drugs", 0.60, 0.65, 0.001)]


def test_mix_contributions_show_each_category_as_a_part_of_the_squared_distance():
    rows = pl.DataFrame(
        {"category": c, "share": s, "reference_share": r, "contribution": k} for c, s, r, k in CONTRIBUTIONS
    )
    fig = charts.mix_contributions(rows, "Crime types", "Avon", NOTE)
    parts = trace_named(fig, "Part of the distance")
    assert list(parts.y) == ["Burglary", "Robbery", "Drugs"]  # largest contribution first
    assert list(parts.x) == pytest.approx([0.6, 0.3, 0.1])  # of the total 0.010
    assert list(parts.marker.color) == [charts.ABOVE, charts.BELOW, charts.BELOW]
    assert "0.1000" in fig.layout.title.subtitle.text  # distance = √0.010
    assert list(trace_named(fig, "Peers' pooled mix").x) == [0.20, 0.15, 0.65]


# --- outcome ratios -----------------------------------------------------------------------------------------------

# group, observed, expected, ratio, lower, upper
RATIOS = [
    ("charged_summonsed", 60.0, 100.0, 0.6, 0.46, 0.77),
    ("no_suspect", 300.0, 250.0, 1.2, 1.07, 1.34),
    ("public_interest", 40.0, 42.0, 0.95, 0.68, 1.30),
    ("transferred", 0.0, None, None, None, None),
]


def test_outcome_ratios_split_by_whether_the_limits_exclude_one():
    rows = pl.DataFrame(
        {
            "outcome_group": g,
            "force_id": "avon",
            "observed": o,
            "expected": e,
            "standardised_ratio": r,
            "ratio_lower": lo,
            "ratio_upper": hi,
        }
        for g, o, e, r, lo, hi in RATIOS
    )
    fig = charts.outcome_ratio_plot(rows, "Avon", NOTE)
    # Labels from pipelines/reference/outcome_groups.csv, not the ids.
    assert list(trace_named(fig, "More than expected").y) == ["Investigation complete, no suspect identified"]
    assert list(trace_named(fig, "Fewer than expected").y) == ["Charged or summonsed"]
    consistent = trace_named(fig, "Consistent")
    assert list(consistent.x) == [0.95]
    assert consistent.error_x.array[0] == pytest.approx(0.35)
    assert fig.layout.xaxis.type == "log"
    assert [(s.x0, s.x1) for s in fig.layout.shapes] == [(1, 1)]
    assert "Transferred to another body" in fig.layout.title.subtitle.text  # no expected count: named, not drawn


# --- trend ------------------------------------------------------------------------------------------------------

MONTHS = [date(2021, m, 1) for m in range(1, 7)]
# Avon did not supply March: a gap, not a zero.
SERIES = [("avon", p, 10 + i, 100) for i, p in enumerate(MONTHS) if p != date(2021, 3, 1)]
SERIES += [("bristol", p, 20, 80) for p in MONTHS]
EVENTS = [
    (date(2021, 4, 1), "A national rule change", "national"),
    (date(2021, 5, 1), "Bristol changes system", "bristol"),
    (date(2021, 5, 1), "Cumbria changes system", "cumbria"),  # not a chosen force
    (date(2019, 1, 1), "Too early", "national"),
]
BREAKS = [("avon", date(2021, 4, 1), "detected", 0.02), ("bristol", date(2021, 2, 1), "registered", 0.01)]


def trend_figure() -> go.Figure:
    series = pl.DataFrame(SERIES, schema=["force_id", "period", "numerator", "denominator"], orient="row")
    band = pl.DataFrame({"period": MONTHS, "lower": [0.05] * 6, "median": [0.15] * 6, "upper": [0.35] * 6})
    events = pl.DataFrame(EVENTS, schema=["event_date", "event", "scope"], orient="row")
    breaks = pl.DataFrame(BREAKS, schema=["force_id", "period", "break_kind", "level_shift"], orient="row")
    return charts.trend_plot(series, band, events, breaks, "Share A", NOTE, NAMES)


def test_trend_leaves_a_gap_for_a_period_not_supplied():
    avon = trace_named(trend_figure(), "Avon")
    assert list(avon.y) == [0.10, 0.11, None, 0.13, 0.14, 0.15]
    assert avon.connectgaps is False


def test_trend_shows_events_in_scope_and_detected_breaks_on_the_line():
    fig = trend_figure()
    events = trace_named(fig, "Registered event")
    assert [row[0] for row in events.customdata] == ["A national rule change", "Bristol changes system"]
    assert len(fig.layout.shapes) == 2
    breaks = trace_named(fig, "Detected break")
    assert list(breaks.x) == [date(2021, 4, 1)]  # the registered one is not a detected break
    assert list(breaks.y) == [0.13]
    assert breaks.customdata[0][1] == "+2.00 pp"


def test_trend_band_spans_the_other_forces_lowest_to_highest_share():
    fig = trend_figure()
    assert list(trace_named(fig, "lowest to highest").y) == [0.05] * 6
    assert trace_named(fig, "lowest to highest").fill == "tonexty"
    assert list(trace_named(fig, "median").y) == [0.15] * 6


# --- coverage ----------------------------------------------------------------------------------------------------

COVERAGE = [
    ("police_uk_street", "avon", date(2021, 4, 1), 1200, "supplied"),
    ("police_uk_street", "avon", date(2021, 5, 1), None, "missing"),
    ("police_uk_street", "bristol", date(2021, 5, 1), 900, "supplied"),  # nothing expected in April
    ("police_uk_outcomes", "cumbria", date(2021, 4, 1), None, "missing"),  # another source
]


def test_coverage_grid_marks_missing_as_a_status_of_its_own_not_zero_rows():
    rows = pl.DataFrame(
        COVERAGE, schema=["source", "force_id", "period", "rows_supplied", "coverage_status"], orient="row"
    )
    heat = charts.coverage_grid(rows, "police_uk_street", NOTE, NAMES).data[0]
    assert list(heat.y) == ["Avon", "Bristol"]
    assert [list(r) for r in heat.z] == [[1, 0], [None, 1]]
    assert heat.customdata[0][0][2] == "1,200"
    assert "MISSING" in heat.customdata[0][1][1] and heat.customdata[0][1][2] == "none"
    assert list(heat.colorbar.ticktext) == ["missing", "supplied"]


# --- reconciliation -------------------------------------------------------------------------------------------------

SOURCE_LABELS = {
    "police_uk_street": "police.uk street",
    "mps_borough_crime": "Met boroughs",
    "ons_rec_crime_pfa": "ONS tables",
}

RECONCILIATION = [
    # period, grain, source, count, supplied, expected, status, ratio
    (date(2021, 4, 1), "month", "police_uk_street", 950, 1, 1, "complete", 0.95),
    (date(2021, 4, 1), "month", "mps_borough_crime", 1000, 1, 1, "complete", 1.0),
    (date(2021, 5, 1), "month", "police_uk_street", None, 0, 1, "missing", None),
    (date(2021, 5, 1), "month", "mps_borough_crime", 1100, 1, 1, "complete", 1.0),
    (date(2021, 4, 1), "rolling_year", "mps_borough_crime", 9000, 9, 12, "partial", 0.75),
    (date(2021, 4, 1), "rolling_year", "ons_rec_crime_pfa", 12000, 1, 1, "complete", 1.0),
]


def test_reconciliation_draws_sources_side_by_side_and_marks_partial_and_missing_windows():
    rows = pl.DataFrame(
        {
            "force_id": "metropolitan",
            "period": p,
            "period_grain": g,
            "reconciliation_group": "Robbery",
            "source": s,
            "offence_count": c,
            "periods_supplied": ps,
            "periods_expected": pe,
            "window_status": st,
            "reference_source": "mps_borough_crime",
            "reference_count": 1000,
            "ratio_to_reference": r,
        }
        for p, g, s, c, ps, pe, st, r in RECONCILIATION
    )
    fig = charts.reconciliation_plot(rows, "Metropolitan Police", "Robbery", NOTE, source_labels=SOURCE_LABELS)
    bars = [t for t in fig.data if t.type == "bar"]
    monthly_street = next(t for t in bars if t.name == "police.uk street")
    assert list(monthly_street.y) == [950]  # the missing May has no bar
    missing = trace_named(fig, "police.uk street: window missing")
    assert list(missing.x) == [date(2021, 5, 1)] and list(missing.y) == [0]
    rolling_mps = next(t for t in bars if t.name == "Met boroughs" and t.xaxis == "x2")
    assert list(rolling_mps.marker.pattern.shape) == ["/"]
    assert [a.text for a in fig.layout.annotations if a.name != charts.SOURCE_NOTE] == [
        "Monthly windows",
        "Rolling-year windows",
    ]


# --- what every chart promises -------------------------------------------------------------------------------------


FIGURES = (
    "funnel",
    "caterpillar",
    "heatmap",
    "spine",
    "contributions",
    "ratios",
    "trend",
    "coverage",
    "reconciliation",
    "compare",
    "tiles",
)


@functools.cache
def every_figure() -> dict[str, go.Figure]:
    """One figure of each kind, built once (the tests below only read them)."""
    everyone = pl.concat([findings("ind_a"), findings("ind_b", shift=0.01)])
    contributions = pl.DataFrame(
        {"category": c, "share": s, "reference_share": r, "contribution": k} for c, s, r, k in CONTRIBUTIONS
    )
    ratios = pl.DataFrame(
        {
            "outcome_group": g,
            "observed": o,
            "expected": e,
            "standardised_ratio": r,
            "ratio_lower": lo,
            "ratio_upper": hi,
        }
        for g, o, e, r, lo, hi in RATIOS
    )
    coverage = pl.DataFrame(
        COVERAGE, schema=["source", "force_id", "period", "rows_supplied", "coverage_status"], orient="row"
    )
    reconciliation = pl.DataFrame(
        {
            "period": p,
            "period_grain": g,
            "source": s,
            "offence_count": c,
            "periods_supplied": ps,
            "periods_expected": pe,
            "window_status": st,
            "reference_source": "mps_borough_crime",
            "ratio_to_reference": r,
        }
        for p, g, s, c, ps, pe, st, r in RECONCILIATION
    )
    return {
        "funnel": charts.funnel_plot(findings(), "Share A", NOTE, NAMES),
        "caterpillar": charts.caterpillar_plot(findings(), "Share A", NOTE, NAMES),
        "heatmap": charts.residual_heatmap(mix_categories(), "Crime types", NOTE, NAMES),
        "spine": charts.spine_chart(everyone.filter(pl.col("force_id") == "avon"), everyone, "Avon", NOTE),
        "contributions": charts.mix_contributions(contributions, "Crime types", "Avon", NOTE),
        "ratios": charts.outcome_ratio_plot(ratios, "Avon", NOTE),
        "trend": trend_figure(),
        "coverage": charts.coverage_grid(coverage, "police_uk_street", NOTE, NAMES),
        "reconciliation": charts.reconciliation_plot(reconciliation, "Metropolitan Police", "Robbery", NOTE),
        "compare": charts.compare_bar(findings(), "Share A", NOTE, NAMES, highlight="bristol", peers=["essex"]),
        "tiles": charts.tile_map(tile_values(), "Share A: z by force", NOTE, FORCE_NAMES, tiles=tiles()),
    }


def test_every_kind_of_chart_is_checked():
    assert set(every_figure()) == set(FIGURES)


@pytest.mark.parametrize("name", FIGURES)
def test_every_chart_has_a_title_axis_titles_the_source_note_and_hover_on_every_trace(name):
    fig = every_figure()[name]
    assert fig.layout.title.text
    # An axis that shares another's labels and shows none of its own (a shared y) needs no title.
    axes = [
        fig.layout[key]
        for key in fig.layout
        if key.startswith(("xaxis", "yaxis")) and fig.layout[key].showticklabels is not False
    ]
    assert (axes or name == "tiles") and all(axis.title.text for axis in axes), name  # the tile map has no scales
    assert source_notes(fig) == [NOTE]
    assert fig.data and all(trace.hovertemplate for trace in fig.data), name


@pytest.mark.parametrize("name", FIGURES)
def test_every_chart_uses_system_fonts_and_nothing_from_the_network(name):
    fig = every_figure()[name]
    assert fig.layout.font.family == charts.FONT_FAMILY
    assert "http" not in fig.to_json()


@pytest.mark.parametrize("name", FIGURES)
def test_every_title_and_subtitle_fits_a_chart_700_px_wide_below_the_modebar(name):
    # At 1024 px the chart's container is about 700 px: about 70 characters of a 17 px title and
    # 100 of a 12.5 px subtitle. Plotly's modebar (toolbar) takes the top 30 px or so.
    fig = every_figure()[name]
    title, subtitle = fig.layout.title.text, fig.layout.title.subtitle.text or ""
    assert all(len(line) <= 70 for line in title.split("<br>")), title
    assert all(len(line) <= 100 for line in subtitle.split("<br>")), subtitle
    assert fig.layout.title.pad.t >= 30
    lines = title.count("<br>") + 1, subtitle.count("<br>") + 1 if subtitle else 0
    assert fig.layout.margin.t >= 30 + 22 * lines[0] + 15 * lines[1]


@pytest.mark.parametrize("name", FIGURES)
def test_no_figure_shows_a_time_of_day_or_a_snake_case_id_in_its_title(name):
    fig = every_figure()[name]
    assert "00:00:00" not in fig.to_json()
    assert "_" not in fig.layout.title.text and "_" not in (fig.layout.title.subtitle.text or "")


# --- period words ----------------------------------------------------------------------------------------------


def test_period_words_say_each_grain_as_a_reader_would():
    assert charts.period_words(date(2008, 1, 1), "month") == "Jan 2008"
    assert charts.period_words(date(2008, 1, 1), "quarter") == "Jan–Mar 2008"
    assert charts.period_words(date(2008, 11, 1), "quarter") == "Nov 2008–Jan 2009"
    assert charts.period_words(date(2017, 4, 1), "financial_year") == "2017/18"
    assert charts.period_words(date(2018, 2, 1), "financial_year") == "2017/18"  # February 2018 is in 2017/18
    assert charts.period_words(date(1999, 4, 1), "financial_year") == "1999/00"
    assert charts.period_words(date(2016, 1, 1), "calendar_year") == "2016"
    assert charts.period_words(date(2016, 1, 1), "rolling_year") == "year to Dec 2016"  # January to December
    assert charts.period_words(date(2002, 4, 1), "rolling_year") == "year to Mar 2003"
    assert charts.period_words(datetime(2008, 1, 1), "month") == "Jan 2008"


def test_window_words_end_on_the_month_before_the_exclusive_end():
    assert (
        charts.window_words(date(2021, 4, 1), date(2021, 5, 1)) == "Apr 2021"
    )  # one month, not "Apr 2021 to May 2021"
    assert charts.window_words(date(2018, 1, 1), date(2019, 1, 1)) == "Jan–Dec 2018"
    assert charts.window_words(date(2021, 4, 1), date(2022, 4, 1)) == "Apr 2021 to Mar 2022"


# --- labels, not ids ---------------------------------------------------------------------------------------------


def test_readable_replaces_outcome_group_ids_in_an_indicator_label_with_their_labels():
    text = charts.readable("Outcome group no_suspect ÷ crimes with an outcome")
    assert text == "Outcome group “Investigation complete, no suspect identified” ÷ crimes with an outcome"
    assert charts.readable("Share A (no ids)") == "Share A (no ids)"


def test_heatmap_and_contributions_label_outcome_groups_and_mapped_categories():
    cells = [
        ("avon", "charged_summonsed", 1.0, 0.2, 0.3),
        ("avon", "no_suspect", -1.0, 0.8, 0.7),
        ("bristol", "charged_summonsed", -1.0, 0.4, 0.3),
        ("bristol", "no_suspect", 1.0, 0.6, 0.7),
    ]
    heat = charts.residual_heatmap(mix_categories(cells), "Outcomes", NOTE, NAMES)
    ticks = [t.replace("<br>", " ") for t in heat.layout.xaxis.ticktext]
    assert set(ticks) == {"Charged or summonsed", "Investigation complete, no suspect identified"}
    rows = pl.DataFrame(
        {"category": c, "share": s, "reference_share": r, "contribution": 0.001} for _, c, _, s, r in cells[:2]
    )
    fig = charts.mix_contributions(rows, "Outcomes", "Avon", NOTE, labels={"no_suspect": "No suspect found"})
    assert {t.replace("<br>", " ") for t in fig.layout.yaxis.ticktext} == {"Charged or summonsed", "No suspect found"}


def test_spine_never_shows_an_indicator_id_on_its_axis():
    everyone = pl.concat([findings("puk_outcome_no_suspect"), findings("ind_b", shift=0.01)])
    own = everyone.filter(pl.col("force_id") == "bristol")
    fig = charts.spine_chart(
        own, everyone, "Bristol", NOTE, {"ind_b": "Outcome group charged_summonsed ÷ crimes with an outcome"}
    )
    ticks = [t.replace("<br>", " ") for t in fig.layout.yaxis.ticktext]
    assert all("_" not in t for t in ticks), ticks
    assert "Outcome group “Charged or summonsed” ÷ crimes with an outcome" in ticks


def test_spine_legend_explains_the_benchmark_the_colours_and_the_hollow_marker():
    everyone = findings()
    fig = charts.spine_chart(
        everyone.filter(pl.col("force_id") == "bristol"), everyone, "Bristol", NOTE, peer_names=["Avon", "Essex"]
    )
    names = " | ".join(t.name.replace("<br>", " ") for t in fig.data if t.showlegend is not False)
    for words in (
        "Benchmark",
        "red: above",
        "blue: below",
        "black: within",
        "Hollow",
        "lowest to highest",
        "25th to 75th",
    ):
        assert words in names, names
    assert "Peers (2): Avon, Essex" in fig.layout.title.subtitle.text.replace("<br>", " ")


# --- highlight -------------------------------------------------------------------------------------------------


def test_funnel_rings_the_chosen_force_and_names_it_in_the_legend():
    fig = charts.funnel_plot(findings(), "Share A", NOTE, NAMES, highlight="bristol")
    chosen = trace_named(fig, "Chosen force: Bristol")
    assert list(chosen.x) == [400] and list(chosen.y) == [0.5]  # Bristol: 200 of 400
    assert chosen.marker.size > 9 and chosen.showlegend is not False
    assert "<b>" in chosen.texttemplate and list(chosen.text) == ["Bristol"]
    assert not [t for t in charts.funnel_plot(findings(), "Share A", NOTE, NAMES).data if "Chosen" in (t.name or "")]
    # Not one of the forces' points: those are the "markers+text" traces, one point per force.
    fig_points = [t for t in fig.data if t.mode == "markers+text"]
    assert sum(len(t.x) for t in fig_points) == len(FINDINGS)


def test_hover_says_a_status_in_the_words_given():
    words = {"small_denominator": "denominator too small", "contradicted": "contradicted by another source"}
    fig = charts.funnel_plot(findings(), "Share A", NOTE, NAMES, status_labels=words)
    hover = {row[0]: row[12].replace("<br>", " ") for t in fig.data if t.mode == "markers+text" for row in t.customdata}
    assert hover["Avon"].startswith("Not ranked (denominator too small): ")
    assert hover["Dorset"].startswith("Not ranked (contradicted by another source): ")


def test_caterpillar_rings_the_chosen_force_and_bolds_its_name():
    fig = charts.caterpillar_plot(findings(), "Share A", NOTE, NAMES, highlight="essex")
    chosen = trace_named(fig, "Chosen force: Essex")
    assert list(chosen.y) == ["Essex"] and list(chosen.x) == [0.48]
    assert "<b>Essex</b>" in fig.layout.yaxis.ticktext


# --- compare bar -------------------------------------------------------------------------------------------------


def test_compare_bar_sorts_forces_colours_by_position_and_highlights_the_force_and_its_peers():
    fig = charts.compare_bar(findings(), "Share A", NOTE, NAMES, highlight="bristol", peers=["essex", "cumbria"])
    # Shares: Dorset 0.10, Avon 0.30, Cumbria 0.40, Essex 0.48, Bristol 0.50; the first is drawn at the bottom.
    assert list(fig.layout.yaxis.categoryarray) == ["Dorset", "Avon", "Cumbria", "Essex", "Bristol"]
    assert list(fig.layout.yaxis.ticktext) == ["Dorset", "Avon", "Cumbria (peer)", "Essex (peer)", "<b>Bristol</b>"]
    bars = {y: (t, i) for t in fig.data if t.type == "bar" for i, y in enumerate(t.y)}
    bristol, i = bars["Bristol"]
    assert bristol.marker.color == charts.POSITION_COLOURS[ABOVE_998]
    assert bristol.marker.line.width[i] == 3 and bristol.marker.line.color[i] == charts.INK
    assert bristol.error_x.array[i] == pytest.approx(0.04) and bristol.error_x.arrayminus[i] == pytest.approx(0.05)
    dorset, _ = bars["Dorset"]
    assert dorset.marker.color == charts.POSITION_COLOURS[BELOW_998]
    benchmark = trace_named(fig, "Benchmark")
    assert list(benchmark.x) == [0.38, 0.38]  # Bristol's own benchmark
    assert trace_named(fig, "Chosen force: Bristol")
    assert "Its peers (2): Cumbria, Essex." in fig.layout.title.subtitle.text.replace("<br>", " ")


def test_compare_bar_without_a_force_draws_the_pooled_share():
    fig = charts.compare_bar(findings(), "Share A", NOTE, NAMES)
    assert list(trace_named(fig, "Benchmark").x) == pytest.approx([POOLED, POOLED])
    assert "<b>" not in "".join(fig.layout.yaxis.ticktext)


# --- tile map -----------------------------------------------------------------------------------------------------

REFERENCE = Path(__file__).resolve().parents[1] / "pipelines" / "reference"
FORCES = pl.read_csv(REFERENCE / "forces.csv")
TERRITORIAL = FORCES.filter(pl.col("is_territorial_ew"))["force_id"].to_list()
FORCE_NAMES = dict(zip(FORCES["force_id"], FORCES["short_name"]))


def tiles() -> pl.DataFrame:
    return pl.read_csv(REFERENCE / "force_tiles.csv")


def tile_values() -> pl.DataFrame:
    # Kent 6.0 (capped at 4 in colour), Dyfed-Powys -1.5, Northumbria 0; every other force has no value.
    return pl.DataFrame(
        {
            "force_id": ["kent", "dyfed-powys", "northumbria"],
            "z": [6.0, -1.5, 0.0],
            "status": ["ranked", "ranked", "small_denominator"],
        }
    )


def test_force_tiles_hold_every_territorial_force_once_and_no_tile_twice():
    layout = tiles()
    assert len(TERRITORIAL) == 43
    assert sorted(layout["force_id"].to_list()) == sorted(TERRITORIAL)
    assert layout.select("row", "col").is_duplicated().sum() == 0
    at = {r["force_id"]: (r["row"], r["col"]) for r in layout.iter_rows(named=True)}
    rows, cols = layout["row"], layout["col"]
    assert at["northumbria"][0] == rows.min()  # the top row
    assert at["devon-and-cornwall"][0] == rows.max()  # the bottom row, at its left
    assert at["devon-and-cornwall"][1] == layout.filter(pl.col("row") == rows.max())["col"].min()
    welsh = FORCES.filter(pl.col("country") == "Wales")["force_id"].to_list()
    assert max(at[f][1] for f in welsh) < cols.median()  # Wales on the west
    for force in ("metropolitan", "city-of-london", "kent"):  # the south east
        assert at[force][0] >= rows.max() - 1 and at[force][1] > cols.median()


def test_tile_map_draws_43_tiles_coloured_by_z_grey_without_a_value_with_force_ids_for_clicks():
    fig = charts.tile_map(tile_values(), "Share A: z by force", NOTE, FORCE_NAMES, tiles=tiles(), highlight="kent")
    drawn = [t for t in fig.data if not (t.name or "").startswith("Chosen")]
    positions = [(x, y) for t in drawn for x, y in zip(t.x, t.y)]
    assert len(positions) == 43 and len(set(positions)) == 43
    ids = [row[0] for t in drawn for row in t.customdata]
    assert sorted(ids) == sorted(TERRITORIAL)
    grey = trace_named(fig, "No value")
    assert len(grey.x) == 40
    coloured = next(t for t in drawn if t is not grey)
    colour = dict(zip((row[0] for row in coloured.customdata), coloured.marker.color))
    assert colour == {"kent": 4.0, "dyfed-powys": -1.5, "northumbria": 0.0}  # Kent's 6.0 capped at 4
    assert (coloured.marker.cmin, coloured.marker.cmid, coloured.marker.cmax) == (-4, 0, 4)
    hover = {row[0]: row for row in coloured.customdata}
    assert hover["kent"][1:3] == ("Kent", "6.00") or list(hover["kent"][1:3]) == ["Kent", "6.00"]
    assert "small denominator" in hover["northumbria"][3]
    assert trace_named(fig, "Chosen force: Kent").customdata[0][0] == "kent"
    # A tile's text is its short name or abbreviation, never an id.
    assert all("-" not in text.replace("<br>", " ") or " " in text for t in drawn for text in t.text)


def test_tile_map_refuses_two_forces_on_one_tile():
    clash = tiles().with_columns(
        pl.when(pl.col("force_id") == "kent").then(0).otherwise(pl.col("row")).alias("row"),
        pl.when(pl.col("force_id") == "kent").then(5).otherwise(pl.col("col")).alias("col"),
    )
    with pytest.raises(ValueError, match="share a tile"):
        charts.tile_map(tile_values(), "z", NOTE, FORCE_NAMES, tiles=clash)


# --- coverage at each source's grain -------------------------------------------------------------------------------


def coverage_rows(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["source", "force_id", "period", "rows_supplied", "coverage_status"], orient="row")


def test_coverage_grid_draws_one_cell_per_quarter_in_words():
    rows = coverage_rows(
        [("police_uk_street", "avon", date(2021, m, 1), 10, "supplied") for m in (4, 5, 6)]
        + [
            ("police_uk_street", "avon", date(2021, 7, 1), None, "missing"),
            ("police_uk_street", "bristol", date(2021, 4, 1), 5, "supplied"),
            ("police_uk_street", "bristol", date(2021, 5, 1), None, "missing"),
        ]
    )
    fig = charts.coverage_grid(
        rows, "police_uk_street", NOTE, NAMES, grain="quarter", source_label="data.police.uk street-level crime"
    )
    heat = fig.data[0]
    assert list(heat.x) == ["Apr–Jun 2021", "Jul–Sep 2021"]
    assert [list(r) for r in heat.z] == [[1, 0], [0.5, None]]  # Bristol: April of the quarter only
    assert heat.customdata[0][0][2] == "30"  # 3 months of 10 rows
    assert fig.layout.title.text.replace("<br>", " ").startswith("What data.police.uk street-level crime supplied")
    assert "quarter" in fig.layout.title.text


def test_coverage_grid_draws_the_source_at_its_own_grain_and_fills_its_span_when_asked():
    rows = coverage_rows(
        [
            ("ho_outcomes", "avon", date(2016, 4, 1), 1, "supplied"),
            ("ho_outcomes", "avon", date(2018, 4, 1), None, "missing"),
        ]
    )
    heat = charts.coverage_grid(rows, "ho_outcomes", NOTE, NAMES, grain="financial_year").data[0]
    assert list(heat.x) == ["2016/17", "2018/19"]  # the periods the rows hold
    filled = charts.coverage_grid(rows, "ho_outcomes", NOTE, NAMES, grain="financial_year", fill_span=True).data[0]
    assert list(filled.x) == ["2016/17", "2017/18", "2018/19"]
    assert [list(r) for r in filled.z] == [[1, None, 0]]
    # Without `grain`, the rows' own period_grain column decides.
    quarterly = rows.with_columns(pl.lit("quarter").alias("period_grain"))
    assert list(charts.coverage_grid(quarterly, "ho_outcomes", NOTE, NAMES).data[0].x) == [
        "Apr–Jun 2016",
        "Apr–Jun 2018",
    ]
    rolling = coverage_rows(
        [
            ("ons_rec_crime_pfa", "avon", date(2002, 4, 1), 1, "supplied"),
            ("ons_rec_crime_pfa", "avon", date(2002, 7, 1), 1, "supplied"),
        ]
    )
    fig = charts.coverage_grid(rolling, "ons_rec_crime_pfa", NOTE, NAMES, grain="rolling_year")
    assert list(fig.data[0].x) == ["year to Mar 2003", "year to Jun 2003"]
    assert "_" not in fig.layout.title.text


def test_coverage_grid_with_datetime_periods_shows_no_time_of_day():
    rows = coverage_rows([("police_uk_street", "avon", datetime(2021, 4, 1), 3, "supplied")])
    fig = charts.coverage_grid(rows, "police_uk_street", NOTE, NAMES)
    assert list(fig.data[0].x) == ["Apr 2021"]
    assert "00:00:00" not in fig.to_json()


# --- heatmap labels --------------------------------------------------------------------------------------------


def test_heatmap_angles_many_category_labels_and_reserves_room_under_the_plot():
    categories = [
        "Violence and sexual offences",
        "Other theft",
        "Shoplifting",
        "Burglary",
        "Vehicle crime",
        "Drugs",
        "Public order",
        "Criminal damage and arson",
    ]
    cells = [(f, c, 0.5, 0.1, 0.1) for f in ("avon", "bristol") for c in categories]
    fig = charts.residual_heatmap(mix_categories(cells), "Crime types", NOTE, NAMES)
    axis = fig.layout.xaxis
    assert axis.tickangle and -90 <= axis.tickangle <= -30
    assert all("<br>" not in t for t in axis.ticktext)  # one line each, at an angle
    # "Violence and sexual offences", 28 characters at about 7 px, at 45°: about 28 × 7 × 0.71 ≈ 139 px high.
    assert fig.layout.margin.b >= 139
    note = next(a for a in fig.layout.annotations if a.name == charts.SOURCE_NOTE)
    assert -note.yshift >= 139  # the source note sits under the labels


# --- reconciliation events and words ------------------------------------------------------------------------------


def reconciliation_rows(when=date) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "force_id": "metropolitan",
            "period": when(p.year, p.month, p.day),
            "period_grain": g,
            "reconciliation_group": "Robbery",
            "source": s,
            "offence_count": c,
            "periods_supplied": ps,
            "periods_expected": pe,
            "window_status": st,
            "reference_source": "mps_borough_crime",
            "reference_count": 1000,
            "ratio_to_reference": r,
        }
        for p, g, s, c, ps, pe, st, r in RECONCILIATION
    )


def test_reconciliation_marks_events_on_each_panel_whose_span_holds_them():
    events = pl.DataFrame(
        [
            (date(2021, 5, 10), "national", "counting_rule_change", "A national rule change"),  # both panels
            (date(2021, 9, 1), "national", "counting_rule_change", "Later in the year"),  # the rolling year only
            (date(2021, 5, 1), "kent", "records_system_change", "Kent changes system"),  # another force
            (
                date(2021, 6, 1),
                "metropolitan",
                "records_system_change",
                "Met changes system",
            ),  # after May: rolling only
            (date(2020, 1, 1), "national", "counting_rule_change", "Too early"),
        ],
        schema=["event_date", "scope", "kind", "event"],
        orient="row",
    )
    fig = charts.reconciliation_plot(reconciliation_rows(), "Metropolitan Police", "Robbery", NOTE, events=events)
    lines = [(s.x0, s.xref) for s in fig.layout.shapes]
    # Monthly panel: Apr and May 2021 (to 1 Jun); rolling-year panel: Apr 2021 to Mar 2022.
    assert sorted(lines) == sorted(
        [(date(2021, 5, 10), "x"), (date(2021, 5, 10), "x2"), (date(2021, 9, 1), "x2"), (date(2021, 6, 1), "x2")]
    )
    markers = [t for t in fig.data if t.name == "Registered event"]
    texts = [row[3] for t in markers for row in t.customdata]
    assert sorted(texts) == sorted(
        ["A national rule change", "A national rule change", "Later in the year", "Met changes system"]
    )
    assert sum(t.showlegend is not False for t in markers) == 1
    assert "Counting rule change" in [row[2] for t in markers for row in t.customdata]


def test_reconciliation_names_sources_in_words_and_periods_by_their_grain():
    fig = charts.reconciliation_plot(reconciliation_rows(datetime), "Metropolitan Police", "Robbery", NOTE)
    names = [t.name.replace("<br>", " ") for t in fig.data if t.showlegend is not False]
    assert names and all("_" not in n for n in names), names
    hover = [row for t in fig.data for row in t.customdata]
    assert all("_" not in str(row[0]) and "_" not in str(row[6]) for row in hover)
    assert "year to Mar 2022" in {row[8] for row in hover}  # the rolling year from April 2021
    assert "Apr 2021" in {row[8] for row in hover}
    assert "00:00:00" not in fig.to_json()


# --- trend significance -------------------------------------------------------------------------------------------


def test_trend_break_markers_say_whether_each_break_is_significant():
    series = pl.DataFrame(SERIES, schema=["force_id", "period", "numerator", "denominator"], orient="row")
    breaks = pl.DataFrame(
        [
            ("avon", date(2021, 4, 1), "detected", 0.02, 0.001, None),
            ("bristol", date(2021, 2, 1), "registered", 0.01, 0.40, "Bristol changes system"),
        ],
        schema=["force_id", "period", "break_kind", "level_shift", "p_value", "event"],
        orient="row",
    )
    fig = charts.trend_plot(series, None, None, breaks, "Share A", NOTE, NAMES)
    significant = trace_named(fig, "Detected break, significant")
    assert list(significant.x) == [date(2021, 4, 1)] and significant.marker.symbol == "diamond"
    assert significant.customdata[0][5] == "significant"
    tested = trace_named(fig, "registered event, not significant")
    assert list(tested.y) == [0.25]  # Bristol: 20 of 80
    assert tested.marker.symbol.endswith("-open") and tested.customdata[0][5] == "not significant"


def test_trend_hover_gives_periods_in_the_words_of_their_grain():
    rows = [("avon", date(2021, m, 1), 10, 100) for m in (1, 4)]
    series = pl.DataFrame(rows, schema=["force_id", "period", "numerator", "denominator"], orient="row")
    fig = charts.trend_plot(series, None, None, None, "Share A", NOTE, NAMES, grain="quarter")
    assert [row[2] for row in trace_named(fig, "Avon").customdata] == ["Jan–Mar 2021", "Apr–Jun 2021"]
    assert "%{x|" not in trace_named(fig, "Avon").hovertemplate


def test_trend_with_datetime_periods_shows_no_time_of_day():
    rows = [("avon", datetime(2021, m, 1), 10, 100) for m in (1, 2)]
    series = pl.DataFrame(rows, schema=["force_id", "period", "numerator", "denominator"], orient="row")
    fig = charts.trend_plot(series, None, None, None, "Share A", NOTE, NAMES)
    assert "00:00:00" not in fig.to_json()
    assert [row[2] for row in trace_named(fig, "Avon").customdata] == ["Jan 2021", "Feb 2021"]
