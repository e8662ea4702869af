"""Chart builders: pure functions from a Polars frame to a Plotly figure, with no Streamlit and no DuckDB.

Each function takes rows of one table or view (exactly its columns, or the subset named in its
docstring) and promises a figure with:

- a title that says what the chart shows, and a subtitle with what the reader needs to read it;
- axis titles with units, worded from `pipelines.schema.describe` where it fits;
- hover text with the exact numbers on every trace (customdata + hovertemplate); counts are kept
  as raw numbers, values that may be empty are formatted here ("—" when empty);
- the caller's `source_note` (publication and period) as an annotation under the plot, named
  `SOURCE_NOTE` so that tests and pages can find it;
- one palette across charts: red is "above" (more than peers or than expected), blue is "below",
  grey is "within"; one colour per source; system fonts only, no external fonts or icons.

Missing data is drawn as missing, never as zero: gaps break lines, missing force-months are a
colour of their own, missing windows get a marker and a legend entry that says so.
"""

from __future__ import annotations

import csv
import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from pipelines import schema
from pipelines.analysis import stats
from pipelines import periods
from pipelines.periods import add_months

SOURCE_NOTE = "source_note"
FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"

INK = "#222222"
MUTED = "#767676"
PEERS = "#BDBDBD"
PEERS_DARK = "#8C8C8C"
ABOVE = "#B2182B"
ABOVE_LIGHT = "#EF8A62"
BELOW = "#2166AC"
BELOW_LIGHT = "#67A9CF"
WITHIN = "#8C8C8C"
MISSING = "#D55E00"
SUPPLIED = "#A6C8E0"

# The `position` values of the divergence table, from highest to lowest, with their colours.
POSITION_COLOURS = {
    "above the 99.8% overdispersed limit": ABOVE,
    "above the 95% overdispersed limit": ABOVE_LIGHT,
    "within the overdispersed limits": WITHIN,
    "below the 95% overdispersed limit": BELOW_LIGHT,
    "below the 99.8% overdispersed limit": BELOW,
}
WITHIN_POSITION = "within the overdispersed limits"

# Funnel limits: the overdispersed model decides significance, so it is drawn darker.
LIMIT_STYLES = {
    ("99.8%", "additive"): dict(color="#404040", width=1.6, dash="solid"),
    ("95%", "additive"): dict(color="#404040", width=1.2, dash="dash"),
    ("99.8%", "binomial"): dict(color="#A0A0A0", width=1.0, dash="solid"),
    ("95%", "binomial"): dict(color="#A0A0A0", width=1.0, dash="dash"),
}
LEVELS = {"95%": 0.95, "99.8%": 0.998}
MODEL_WORDS = {"additive": "overdispersed", "binomial": "plain binomial"}

# Okabe–Ito colours (safe for colour-blind readers), for forces in a trend and for sources.
QUALITATIVE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000", "#F0E442"]
SOURCE_COLOURS = {
    "police_uk_street": "#0072B2",
    "police_uk_outcomes": "#56B4E9",
    "ons_rec_crime_pfa": "#E69F00",
    "ons_pfa_tables": "#CC79A7",
    "ho_recorded_crime_pfa": "#009E73",
    "ho_recorded_crime_csp": "#8FBC8F",
    "ho_outcomes": "#F0E442",
    "force_export_records": "#000000",
    "mps_borough_crime": "#882255",
    "mps_ward_crime": "#999933",
}
GRAIN_ORDER = ("month", "quarter", "financial_year", "calendar_year", "rolling_year")
GRAIN_WORDS = {"month": "monthly", "quarter": "quarterly", "financial_year": "financial-year", "calendar_year": "calendar-year",
               "rolling_year": "rolling-year"}
# The noun for one period of each grain, singular and plural, for titles and counts.
GRAIN_NOUNS = {"month": ("month", "months"), "quarter": ("quarter", "quarters"),
               "financial_year": ("financial year", "financial years"), "calendar_year": ("year", "years"),
               "rolling_year": ("rolling year", "rolling years")}
GRAIN_MONTHS = periods.GRAIN_MONTHS

# Each source in words: its publisher and publication. The one list the dashboard names sources by.
SOURCE_WORDS = {
    "police_uk_street": "data.police.uk street-level crime",
    "police_uk_outcomes": "data.police.uk outcomes",
    "ons_rec_crime_pfa": "ONS recorded crime by police force area (rolling years)",
    "ons_pfa_tables": "ONS police force area data tables",
    "ons_mid_year_estimates": "ONS mid-year population estimates",
    "mps_borough_crime": "Metropolitan Police Service borough counts (London Datastore)",
    "mps_ward_crime": "Metropolitan Police Service ward counts (London Datastore)",
    "ho_recorded_crime_pfa": "Home Office police recorded crime open data",
    "ho_recorded_crime_csp": "Home Office police recorded crime open data (CSP)",
    "ho_outcomes": "Home Office crime outcomes open data",
    "police_uk_force_year": "data.police.uk crimes by force and year (2017 download)",
    "force_export_records": "force record exports",
}

_REFERENCE = Path(__file__).resolve().parents[1] / "pipelines" / "reference"


def _read_labels(file: str, key: str, value: str) -> dict[str, str]:
    try:
        with open(_REFERENCE / file, newline="", encoding="utf-8-sig") as handle:
            return {row[key]: row[value] for row in csv.DictReader(handle) if row.get(key) and row.get(value)}
    except OSError:
        return {}


# Outcome group ids (`no_suspect`) → their labels, from pipelines/reference/outcome_groups.csv.
OUTCOME_GROUP_LABELS = _read_labels("outcome_groups.csv", "outcome_group", "label")

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

# --- shared helpers ---------------------------------------------------------------------------------


def _require(frame: pl.DataFrame, columns: Iterable[str], chart: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{chart} needs the columns {missing}; the frame has {frame.columns}")


def _name(force_id: str, names: Mapping[str, str] | None) -> str:
    return (names or {}).get(force_id, force_id)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pct(value: float | None, digits: int = 2) -> str:
    return "—" if _missing(value) else f"{value * 100:.{digits}f}%"


def _pp(value: float | None) -> str:
    """A difference of proportions in percentage points, signed."""
    return "—" if _missing(value) else f"{value * 100:+.2f} pp"


def _num(value: float | None, spec: str = ".3g") -> str:
    return "—" if _missing(value) else format(value, spec)


def _count(value: float | None) -> str:
    return "—" if _missing(value) else f"{int(value):,}"


def _as_date(value: object) -> object:
    """A datetime (polars Datetime, pandas Timestamp) as its date, so no figure shows `00:00:00`."""
    if isinstance(value, datetime):
        return value.date()
    return value


def _month(value: date | None) -> str:
    return "—" if value is None else f"{value:%b %Y}"



def period_words(period: date | None, grain: str) -> str:
    """A period in words at its grain, from the period's first day.

    month → "Jan 2008"; quarter → "Jan–Mar 2008" ("Nov 2008–Jan 2009" across a year end);
    financial_year → "2017/18" (the year from April); calendar_year → "2016"; rolling_year (the
    period is the first day of the 12-month window) → "year to Dec 2016". Any other grain: the month.
    """
    if period is None:
        return "—"
    period = _as_date(period)
    if grain == "quarter":
        last = add_months(period, 2)
        if last.year == period.year:
            return f"{period:%b}–{last:%b %Y}"
        return f"{period:%b %Y}–{last:%b %Y}"
    if grain == "financial_year":
        start = period.year if period.month >= 4 else period.year - 1
        return f"{start}/{(start + 1) % 100:02d}"
    if grain == "calendar_year":
        return f"{period.year}"
    if grain == "rolling_year":
        return f"year to {add_months(period, 11):%b %Y}"
    return f"{period:%b %Y}"


def window_words(start: date, end_exclusive: date) -> str:
    """The months from `start` up to (not including) `end_exclusive`, in words.

    One month → "Apr 2021"; months of one year → "Jan–Dec 2018"; across years → "Apr 2021 to Mar 2022".
    The last month named is the one before `end_exclusive`.
    """
    start, end_exclusive = _as_date(start), _as_date(end_exclusive)
    first = date(start.year, start.month, 1)
    end = date(end_exclusive.year, end_exclusive.month, 1)
    last = add_months(end, -1) if end_exclusive.day == 1 else end
    if last <= first:
        return f"{first:%b %Y}"
    if last.year == first.year:
        return f"{first:%b}–{last:%b %Y}"
    return f"{first:%b %Y} to {last:%b %Y}"


def _period_start(value: date, grain: str) -> date:
    """The first day of the grain's period that holds the month `value` (rolling years: the value itself)."""
    value = _as_date(value)
    month = date(value.year, value.month, 1)
    if grain == "quarter":
        return date(month.year, (month.month - 1) // 3 * 3 + 1, 1)
    if grain == "financial_year":
        return date(month.year if month.month >= 4 else month.year - 1, 4, 1)
    if grain == "calendar_year":
        return date(month.year, 1, 1)
    return month


def _described(column: str) -> str:
    """The schema's description of a column, as an axis phrase: no final stop, no backticks."""
    text = schema.describe(column).rstrip(".").replace("`", "")
    return text[:1].upper() + text[1:]


def _humanise(label: str) -> str:
    """`charged_summonsed` → `Charged summonsed`; labels with spaces are kept as they are."""
    if " " in label:
        return label
    text = label.replace("_", " ")
    return text[:1].upper() + text[1:]


def label_for(value: str | None, labels: Mapping[str, str] | None = None) -> str:
    """What a reader sees for an id: its label from `labels`, else an outcome group's or a
    source's label, else the id humanised (`no_suspect` → "No suspect")."""
    if value is None:
        return "—"
    for known in (labels or {}, OUTCOME_GROUP_LABELS, SOURCE_WORDS):
        if value in known:
            return known[value]
    return _humanise(value)


_ID = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def readable(text: str, labels: Mapping[str, str] | None = None) -> str:
    """Text with every `snake_case` id in it replaced by its label (see `label_for`), e.g. an
    indicator label "Outcome group no_suspect ÷ …" → "Outcome group "Investigation complete, no
    suspect identified" ÷ …". Text without ids is returned unchanged."""
    if not text or "_" not in text:
        return text

    def swap(match: re.Match) -> str:
        word = match.group(0)
        known = {**OUTCOME_GROUP_LABELS, **SOURCE_WORDS, **(labels or {})}
        if word in known:
            return f"“{known[word]}”" if word in OUTCOME_GROUP_LABELS and word not in (labels or {}) else known[word]
        return word.replace("_", " ")

    return _ID.sub(swap, text)


def _share_format(values: Iterable[float | None]) -> str:
    """Tick format for shares: whole percentages unless every share is small."""
    finite = [v for v in values if not _missing(v)]
    return ".1%" if finite and max(finite) < 0.05 else ".0%"


def _source_colour(source: str, known: list[str]) -> str:
    if source in SOURCE_COLOURS:
        return SOURCE_COLOURS[source]
    return QUALITATIVE[known.index(source) % len(QUALITATIVE)]


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
    return dict(type="category", categoryorder="array", categoryarray=labels, tickmode="array", tickvals=labels,
                ticktext=labels)


def _finish(fig: go.Figure, title: str, subtitle: str, source_note: str, height: int = 520,
            axis_block: int = 60, extra_top: int = 0) -> go.Figure:
    """Title, fonts, margins, legend and the source note: the parts every chart shares.

    `height` is the plot area's; margins are added for the wrapped title and subtitle (plus
    `extra_top`, for subplot titles) and below for `axis_block`, the room (pixels) the x-axis
    tick labels and title need, and the source note under them. Ids in the title and subtitle
    are replaced by their labels (`readable`); the title starts below the modebar.
    """
    title, subtitle = _wrap(readable(title), TITLE_WIDTH), _wrap(readable(subtitle), SUBTITLE_WIDTH)
    # Axis titles are centred on the plot, which may be under 400 px wide at 1024 px: wrap them, and
    # give the x-axis title's extra lines room above the source note.
    extra_lines = 0
    for key in list(fig.layout):
        axis = fig.layout[key]
        if key.startswith(("xaxis", "yaxis")) and axis.title.text and "<br>" not in axis.title.text:
            wrapped = _wrap(readable(axis.title.text), AXIS_TITLE_WIDTH)
            axis.title.text = wrapped
            if key.startswith("xaxis"):
                extra_lines = max(extra_lines, _lines(wrapped) - 1)
    axis_block += 17 * extra_lines
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
        title=dict(text=title, subtitle=dict(text=subtitle, font=dict(size=12.5, color=MUTED)), x=0.01, xanchor="left",
                   yref="container", y=1, yanchor="top", pad=dict(t=MODEBAR_ROOM), font=dict(size=17)),
        font=dict(family=FONT_FAMILY, size=13, color=INK),
        hoverlabel=dict(font=dict(family=FONT_FAMILY), align="left"),
        margin=dict(l=70, r=30, t=top, b=bottom),
        height=height + top + bottom,
        legend=dict(orientation="h", x=0, xanchor="left", y=0, yanchor="bottom", yref="container",
                    entrywidth=LEGEND_ENTRY_WIDTH, font=dict(size=12)),
    )
    fig.add_annotation(
        name=SOURCE_NOTE, text=note, xref="paper", yref="paper", x=0, y=0, yshift=-axis_block,
        xanchor="left", yanchor="top", showarrow=False, align="left", font=dict(size=11, color=MUTED),
    )
    return fig


# --- funnel plot ---------------------------------------------------------------------------------------

FUNNEL_COLUMNS = ("force_id", "numerator", "denominator", "share", "benchmark", "tau2", "z", "q_by",
                  "limit998_od_lower", "limit998_od_upper", "position", "status")

# Marker shapes: a finding that is ranked is filled, one shown but not ranked (see `status`) is hollow.
RANKED_SYMBOL = "circle"
NOT_RANKED_SYMBOL = "circle-open"


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


def _is_ranked(status: str | None) -> bool:
    return status == "ranked"


def _standing(row: Mapping, width: int = 70, status_labels: Mapping[str, str] | None = None) -> str:
    """Where a finding stands, for a hover: its rank (or place in the supply list), or why it is not
    ranked, from `status` and, where the rows have it, `status_reason`."""
    status = row.get("status")
    if _is_ranked(status):
        if not _missing(row.get("rank")):
            return f"Ranked #{row['rank']}"
        if not _missing(row.get("supply_rank")):
            return f"Data-supply list #{row['supply_rank']}"
        return "Ranked"
    reason = row.get("status_reason")
    words = (status_labels or {}).get(status) if status else None
    text = f"Not ranked ({words or (status or 'no status').replace('_', ' ')})" + (f": {reason}" if reason else "")
    return _wrap(text, width)


def funnel_plot(findings: pl.DataFrame, indicator_label: str, source_note: str,
                names: Mapping[str, str] | None = None, *, highlight: str | None = None,
                status_labels: Mapping[str, str] | None = None) -> go.Figure:
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
    fig.update_xaxes(type="log", dtick="D2", title_text=f"Denominator: {_described('denominator').lower()} (count, log scale)")
    fig.update_yaxes(title_text=SHARE_TITLE, tickformat=_share_format(rows["share"].to_list()))
    if rows.height == 0:
        return _finish(fig, f"{indicator_label}: no force has a denominator in this window", "", source_note, height=440)

    tau2_values = rows["tau2"].drop_nulls().drop_nans()
    tau2 = float(tau2_values[0]) if tau2_values.len() else float("nan")
    curves = funnel_curves(rows["numerator"].to_numpy(), rows["denominator"].to_numpy(), tau2)
    pooled, grid = curves["pooled"], curves["n"]

    for (level_name, model), (lower, upper) in curves["limits"].items():
        words = MODEL_WORDS[model]
        gap = [None]
        fig.add_trace(go.Scatter(
            x=[*grid, *gap, *grid], y=[*lower, *gap, *upper], mode="lines", line=LIMIT_STYLES[(level_name, model)],
            name=_wrap(f"{level_name} limits, {words}, around the pooled share", 30),
            legendgroup=f"{level_name}-{model}", connectgaps=False, legendrank=_LIMIT_RANKS[(level_name, model)],
            customdata=[[lo, hi] for lo, hi in zip(lower, upper)] + [[None, None]] + [[lo, hi] for lo, hi in zip(lower, upper)],
            hovertemplate=(f"{level_name} limits, {words}, around the pooled share of all forces shown "
                           f"({pooled:.2%})<br>Denominator %{{x:,.0f}}: %{{customdata[0]:.2%}} to %{{customdata[1]:.2%}}<extra></extra>"),
        ))
    fig.add_trace(go.Scatter(
        x=[grid[0], grid[-1]], y=[pooled, pooled], mode="lines", line=dict(color=INK, width=1.5),
        name=_wrap("Pooled share of all forces shown", 30), legendrank=1,
        customdata=[[int(rows["numerator"].sum()), int(rows["denominator"].sum())]] * 2,
        hovertemplate=(f"Pooled share of all {rows.height} forces shown: {pooled:.2%}"
                       "<br>%{customdata[0]:,} of %{customdata[1]:,}<extra></extra>"),
    ))

    rows = rows.with_columns(_outside_998().alias("_outside"), pl.col("position").fill_null(WITHIN_POSITION))
    for position, colour in _positions_present(rows):
        # Ranked forces first: the legend draws a trace's marker as its first point's.
        part = rows.filter(pl.col("position") == position).sort(pl.col("status") != "ranked", maintain_order=True)
        labels = [("" if not out or r["force_id"] == highlight else _name(r["force_id"], names) if _is_ranked(r["status"])
                   else f"{_name(r['force_id'], names)} (not ranked)")
                  for r, out in zip(part.iter_rows(named=True), part["_outside"])]
        fig.add_trace(go.Scatter(
            x=part["denominator"].to_list(), y=part["share"].to_list(), mode="markers+text",
            name=_wrap(position[:1].upper() + position[1:], 30), text=labels, textposition="top center",
            textfont=dict(size=11, color=colour),
            marker=dict(color=colour, size=9, line=dict(color=colour, width=1.5),
                        symbol=[RANKED_SYMBOL if _is_ranked(s) else NOT_RANKED_SYMBOL for s in part["status"]]),
            customdata=[
                [_name(r["force_id"], names), r["numerator"], r["denominator"], r["share"], _pct(r["benchmark"]),
                 _pp(None if _missing(r["benchmark"]) else r["share"] - r["benchmark"]),
                 _pct(r["limit998_od_lower"]), _pct(r["limit998_od_upper"]), _num(r["z"], ".2f"), _num(r["q_by"], ".3g"),
                 _num(r.get("q_bh"), ".3g"), r["position"], _standing(r, status_labels=status_labels),
                 _wrap(r.get("benchmark_coverage") or "—", 70)]
                for r in part.iter_rows(named=True)
            ],
            hovertemplate=("<b>%{customdata[0]}</b><br>Share: %{customdata[3]:.2%} (%{customdata[1]:,} of %{customdata[2]:,})"
                           "<br>Benchmark (peers, force excluded): %{customdata[4]} (difference %{customdata[5]})"
                           "<br>Benchmark covers: %{customdata[13]}"
                           "<br>99.8% overdispersed limits at its benchmark: %{customdata[6]} to %{customdata[7]}"
                           "<br>z (overdispersed): %{customdata[8]}; q (BY): %{customdata[9]}; q (BH): %{customdata[10]}"
                           "<br>%{customdata[11]}<br>%{customdata[12]}<extra></extra>"),
        ))

    _highlight_point(fig, rows, highlight, names, x="denominator", y="share",
                     hover="<b>%{text}</b> (chosen force)<br>Share %{y:.2%} of %{x:,}<extra></extra>")
    od_words = "no overdispersed limits (τ² undefined)" if _missing(tau2) else f"overdispersed limits add τ² = {tau2:.3g}"
    unranked = rows.filter(pl.col("status") != "ranked").height
    subtitle = (f"Curves: limits around the pooled share of all {rows.height} forces ({pooled:.1%}); {od_words}. "
                "Labelled: outside the 99.8% overdispersed limits at its own benchmark. "
                f"Hollow: not ranked ({unranked} of {rows.height}; hover for why).")
    return _finish(fig, f"{indicator_label}: each force's share against its denominator", subtitle, source_note, height=440)


HIGHLIGHT_NAME = "Chosen force"


def _highlight_point(fig: go.Figure, rows: pl.DataFrame, highlight: str | None, names: Mapping[str, str] | None,
                     x: str, y: str, hover: str, label_on_axis: bool = False) -> None:
    """A ring around the chosen force's point, its name in bold beside it, and a legend entry
    "Chosen force: <name>"; nothing when the force is not in the rows."""
    if highlight is None:
        return
    own = rows.filter(pl.col("force_id") == highlight)
    if own.height == 0:
        return
    name = _name(highlight, names)
    xs = own[x].to_list()
    ys = [name] * own.height if label_on_axis else own[y].to_list()
    fig.add_trace(go.Scatter(
        # Its own trace, not one of the position traces: "lines+markers+text" (one point, so no line is
        # drawn) keeps it apart from the forces' points (mode "markers+text") for anyone reading the figure.
        x=xs, y=ys, mode="lines+markers" if label_on_axis else "lines+markers+text", line=dict(width=0, color=INK),
        name=_wrap(f"{HIGHLIGHT_NAME}: {name}", 30),
        text=[name] * own.height, textposition="middle right", texttemplate="  <b>%{text}</b>",
        textfont=dict(size=12.5, color=INK),
        marker=dict(symbol="circle-open", size=20, color=INK, line=dict(width=3, color=INK)),
        hovertemplate=hover, legendrank=0,
    ))


def _dates(frame: pl.DataFrame | None, column: str) -> pl.DataFrame | None:
    """The frame with a datetime `column` cast to dates (figures never show `00:00:00`)."""
    if frame is None or column not in frame.columns or not isinstance(frame.schema[column], pl.Datetime):
        return frame
    return frame.with_columns(pl.col(column).cast(pl.Date))


def _legend_entry(fig: go.Figure, name: str, **style) -> None:
    """A legend entry that draws nothing on the plot: it only explains a marker, line or colour."""
    fig.add_trace(go.Scatter(x=[None], y=[None], mode=style.pop("mode", "markers"), name=_wrap(name, 30),
                             hoverinfo="skip", hovertemplate="<extra></extra>", **style))


def _outside_998() -> pl.Expr:
    """True where the share lies outside the force's own 99.8% overdispersed limits (null limits: False)."""
    return ((pl.col("share") > pl.col("limit998_od_upper")) | (pl.col("share") < pl.col("limit998_od_lower"))).fill_null(False)


def _positions_present(rows: pl.DataFrame) -> list[tuple[str, str]]:
    """(position, colour) for each position in the rows, known positions first in their fixed order."""
    present = rows["position"].fill_null(WITHIN_POSITION).unique().to_list()
    known = [(p, c) for p, c in POSITION_COLOURS.items() if p in present]
    return known + [(p, WITHIN) for p in sorted(present) if p not in POSITION_COLOURS]


# --- caterpillar plot ----------------------------------------------------------------------------------

CATERPILLAR_COLUMNS = ("force_id", "numerator", "denominator", "share", "share_lower", "share_upper", "benchmark", "position",
                       "status")


def caterpillar_plot(findings: pl.DataFrame, indicator_label: str, source_note: str,
                     names: Mapping[str, str] | None = None, *, highlight: str | None = None,
                     status_labels: Mapping[str, str] | None = None) -> go.Figure:
    """Every force's share with its 95% Wilson interval, sorted from lowest (bottom) to highest (top).

    `findings`: `divergence` rows of one indicator with at least force_id, numerator, denominator,
    share, share_lower, share_upper, benchmark, position and status (and, when present, rank,
    supply_rank, status_reason and benchmark_coverage, for the hover). Points are coloured by
    `position`, filled when ranked and hollow when not (the hover says why); each force's benchmark
    (its peers' pooled share, force excluded) is a tick on its row. `highlight` (a force_id): that
    force is ringed, its name on the axis is bold, and the legend names it.
    """
    _require(findings, CATERPILLAR_COLUMNS, "caterpillar_plot")
    rows = (findings.filter(pl.col("share").is_not_null())
            .with_columns(pl.col("force_id").map_elements(lambda f: _name(f, names), return_dtype=pl.String).alias("_name"),
                          pl.col("position").fill_null(WITHIN_POSITION))
            .sort("share", "_name"))
    fig = go.Figure()
    for position, colour in _positions_present(rows):
        part = rows.filter(pl.col("position") == position).sort(pl.col("status") != "ranked", maintain_order=True)
        fig.add_trace(go.Scatter(
            x=part["share"].to_list(), y=part["_name"].to_list(), mode="markers", name=_wrap(position[:1].upper() + position[1:], 30),
            marker=dict(color=colour, size=8, line=dict(color=colour, width=1.5),
                        symbol=[RANKED_SYMBOL if _is_ranked(s) else NOT_RANKED_SYMBOL for s in part["status"]]),
            error_x=dict(type="data", symmetric=False, color=colour, thickness=1.5, width=0,
                         array=(part["share_upper"] - part["share"]).to_list(),
                         arrayminus=(part["share"] - part["share_lower"]).to_list()),
            customdata=[[r["numerator"], r["denominator"], _pct(r["share_lower"]), _pct(r["share_upper"]),
                         _pct(r["benchmark"]), r["position"], _standing(r, status_labels=status_labels),
                         _wrap(r.get("benchmark_coverage") or "—", 70)]
                        for r in part.iter_rows(named=True)],
            hovertemplate=("<b>%{y}</b><br>Share: %{x:.2%} (%{customdata[0]:,} of %{customdata[1]:,})"
                           "<br>95% Wilson interval: %{customdata[2]} to %{customdata[3]}"
                           "<br>Benchmark (peers, force excluded): %{customdata[4]}<br>Benchmark covers: %{customdata[7]}"
                           "<br>%{customdata[5]}<br>%{customdata[6]}<extra></extra>"),
        ))
    marked = rows.filter(pl.col("benchmark").is_not_null())
    fig.add_trace(go.Scatter(
        x=marked["benchmark"].to_list(), y=marked["_name"].to_list(), mode="markers",
        name=_wrap("Benchmark: peers' pooled share, force excluded", 30),
        marker=dict(symbol="line-ns-open", size=14, color=INK, line=dict(width=2, color=INK)),
        hovertemplate="<b>%{y}</b><br>Benchmark (peers' pooled share, force excluded): %{x:.2%}<extra></extra>",
    ))
    _highlight_point(fig, rows, highlight, names, x="share", y="_name", label_on_axis=True,
                     hover="<b>%{y}</b> (chosen force)<br>Share %{x:.2%}<extra></extra>")
    order = rows["_name"].to_list()
    ticks = _category_ticks(order)
    if highlight is not None:
        ticks["ticktext"] = [f"<b>{n}</b>" if n == _name(highlight, names) else n for n in order]
    fig.update_yaxes(title_text="Force (sorted by share)", **ticks)
    fig.update_xaxes(title_text=f"{SHARE_TITLE}, with its 95% Wilson interval",
                     tickformat=_share_format(rows["share_upper"].to_list()))
    unranked = rows.filter(pl.col("status") != "ranked").height
    return _finish(fig, f"{indicator_label}: forces ranked by share, with 95% intervals",
                   "Colour: where the share sits against the overdispersed funnel limits. Tick: each force's benchmark. "
                   f"Hollow: not ranked ({unranked} of {rows.height}; hover for why).",
                   source_note, height=max(300, 18 * rows.height + 40))


# --- residual heatmap -----------------------------------------------------------------------------------

HEATMAP_COLUMNS = ("force_id", "category", "adjusted_residual", "share", "reference_share")


def residual_heatmap(mix_categories: pl.DataFrame, mix_label: str, source_note: str,
                     names: Mapping[str, str] | None = None, cap: float = 10.0, *,
                     labels: Mapping[str, str] | None = None) -> go.Figure:
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
    categories = (rows.group_by("category").agg(pl.col("reference_share").mean())
                  .sort(["reference_share", "category"], descending=[True, False], nulls_last=True)["category"].to_list())
    cells = {(r["force_id"], r["category"]): r for r in rows.iter_rows(named=True)}
    angled = len(categories) > 5
    x_labels = [label_for(c, labels) if angled else _wrap(label_for(c, labels), 12) for c in categories]
    y_labels = [_name(f, names) for f in forces]
    z, customdata = [], []
    for force in forces:
        z_row, data_row = [], []
        for category in categories:
            cell = cells.get((force, category))
            value = None if cell is None or _missing(cell["adjusted_residual"]) else float(cell["adjusted_residual"])
            z_row.append(value)
            data_row.append([_num(value, ".2f"), _pct(cell["share"]) if cell else "—",
                             _pct(cell["reference_share"]) if cell else "—"])
        z.append(z_row)
        customdata.append(data_row)
    fig = go.Figure(go.Heatmap(
        z=z, x=x_labels, y=y_labels, customdata=customdata,
        colorscale="RdBu_r", zmid=0, zmin=-cap, zmax=cap, xgap=1, ygap=1, hoverongaps=True,
        colorbar=dict(title=dict(text=f"Adjusted<br>residual<br>(colour capped<br>at ±{cap:g})"), tickvals=[-cap, -3, 0, 3, cap],
                      ticktext=[f"≤ −{cap:g}", "−3", "0", "3", f"≥ {cap:g}"]),
        name="Adjusted residual",
        hovertemplate=("<b>%{y}</b> · %{x}<br>Adjusted residual: %{customdata[0]}"
                       "<br>Force's share: %{customdata[1]}; peers' share (force excluded): %{customdata[2]}<extra></extra>"),
    ))
    fig.update_yaxes(title_text="Force", autorange="reversed", **_category_ticks(y_labels))
    subtitle = (f"{_described('adjusted_residual')}: about N(0, 1) if every force had the same mix. "
                f"Red: more than that predicts; blue: fewer. Colours stop at ±{cap:g}; hover shows the exact value; blank: no data.")
    if angled:
        # Text at 45° needs about 0.71 × its length in height (7 px a character at 12 px).
        longest = max((len(x) for x in x_labels), default=0)
        label_block = math.ceil(7 * 0.71 * longest) + 14
        fig.update_xaxes(title_text="Category of the mix", tickangle=-45, automargin=True, tickfont=dict(size=12),
                         **_category_ticks(x_labels))
    else:
        label_block = 16 * max((_lines(x) for x in x_labels), default=1)
        fig.update_xaxes(title_text="Category of the mix", tickangle=0, automargin=True, **_category_ticks(x_labels))
    fig = _finish(fig, f"{mix_label}: where each force's mix departs from a common mix", subtitle, source_note,
                  height=max(300, 18 * len(forces)), axis_block=45 + label_block)
    # Room on the left for the first angled label, which runs down-left from its tick.
    if angled:
        fig.update_layout(margin=dict(l=max(70, math.ceil(7 * 0.71 * len(x_labels[0])) - 20)))
    return fig


# --- spine chart --------------------------------------------------------------------------------------

SPINE_COLUMNS = ("indicator_id", "force_id", "numerator", "denominator", "share", "benchmark", "z", "q_by", "position",
                 "status")


def spine_chart(findings_for_force: pl.DataFrame, all_findings: pl.DataFrame, force_name: str, source_note: str,
                indicator_labels: Mapping[str, str] | None = None, q_threshold: float = 0.05, *,
                peer_names: Sequence[str] | None = None, status_labels: Mapping[str, str] | None = None) -> go.Figure:
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
    coloured by `position` (ink when within the limits, so that it shows on the grey bars). The hover gives every share unscaled.
    """
    _require(findings_for_force, SPINE_COLUMNS, "spine_chart")
    _require(all_findings, ("indicator_id", "force_id", "share"), "spine_chart")
    labels = indicator_labels or {}
    bars, force_points = [], []
    for r in findings_for_force.iter_rows(named=True):
        label = _wrap(readable(labels.get(r["indicator_id"]) or label_for(r["indicator_id"])), SPINE_LABEL_WIDTH)
        peers = (all_findings.filter((pl.col("indicator_id") == r["indicator_id"]) & (pl.col("force_id") != r["force_id"]))
                 ["share"].drop_nulls().drop_nans().to_numpy())
        if peers.size == 0 or _missing(r["share"]):
            continue
        lowest, q25, median, q75, highest = np.quantile(peers, [0, 0.25, 0.5, 0.75, 1])
        centre = r["benchmark"] if not _missing(r["benchmark"]) else float(median)
        scale = max(abs(lowest - centre), abs(highest - centre), abs(r["share"] - centre)) or 1.0
        bars.append(dict(label=label, lo=(lowest - centre) / scale, hi=(highest - centre) / scale,
                         q25=(q25 - centre) / scale, q75=(q75 - centre) / scale,
                         data=[label, str(peers.size), _pct(lowest), _pct(q25), _pct(median), _pct(q75), _pct(highest),
                               _pct(r["benchmark"])]))
        significant = (_is_ranked(r["status"]) and not _missing(r["q_by"]) and r["q_by"] < q_threshold
                       and r["position"] is not None and r["position"] != WITHIN_POSITION)
        force_points.append(dict(
            label=label, x=(r["share"] - centre) / scale, significant=significant,
            # Grey markers would vanish on the grey bars: "within" is drawn in ink here.
            colour=INK if (r["position"] or WITHIN_POSITION) == WITHIN_POSITION else POSITION_COLOURS.get(r["position"], INK),
            data=[label, r["numerator"], r["denominator"], r["share"], _pct(r["benchmark"]),
                  _pp(None if _missing(r["benchmark"]) else r["share"] - r["benchmark"]), _num(r["z"], ".2f"),
                  _num(r["q_by"], ".3g"), r["position"] or "—", _standing(r, status_labels=status_labels)],
        ))
    fig = go.Figure()
    peer_hover = ("<b>%{customdata[0]}</b><br>Other forces (%{customdata[1]}): lowest %{customdata[2]}, "
                  "25th percentile %{customdata[3]}, median %{customdata[4]}, 75th percentile %{customdata[5]}, "
                  "highest %{customdata[6]}<br>Benchmark (peers' pooled share, force excluded): %{customdata[7]}<extra></extra>")
    fig.add_trace(go.Bar(
        y=[b["label"] for b in bars], x=[b["hi"] - b["lo"] for b in bars], base=[b["lo"] for b in bars],
        orientation="h", marker=dict(color=PEERS), width=0.55, name=_wrap("Other forces: lowest to highest share", 30),
        customdata=[b["data"] for b in bars], hovertemplate=peer_hover,
    ))
    fig.add_trace(go.Bar(
        y=[b["label"] for b in bars], x=[b["q75"] - b["q25"] for b in bars], base=[b["q25"] for b in bars],
        orientation="h", marker=dict(color=PEERS_DARK), width=0.55, name=_wrap("Other forces: 25th to 75th percentile", 30),
        customdata=[b["data"] for b in bars], hovertemplate=peer_hover,
    ))
    force_hover = (f"<b>{force_name}</b>: %{{customdata[0]}}<br>Share: %{{customdata[3]:.2%}} (%{{customdata[1]:,}} of %{{customdata[2]:,}})"
                   "<br>Benchmark (peers, force excluded): %{customdata[4]} (difference %{customdata[5]})"
                   "<br>z (overdispersed): %{customdata[6]}; q (BY): %{customdata[7]}<br>%{customdata[8]}"
                   "<br>%{customdata[9]}<extra></extra>")
    for significant, name in ((True, f"{force_name}: ranked and significant (q (BY) < {q_threshold:g}, outside the overdispersed limits)"),
                              (False, f"{force_name}: not significant, or not ranked")):
        points = [p for p in force_points if p["significant"] is significant]
        fig.add_trace(go.Scatter(
            y=[p["label"] for p in points], x=[p["x"] for p in points], mode="markers", name=_wrap(name, 30),
            # Hollow = a white fill inside the coloured ring, so that the bars do not show through.
            marker=dict(size=12, symbol="circle", color=[p["colour"] if significant else "white" for p in points],
                        line=dict(width=2, color=[p["colour"] for p in points])),
            customdata=[p["data"] for p in points], hovertemplate=force_hover,
        ))
    fig.add_vline(x=0, line=dict(color=INK, width=1.5))
    # Legend-only entries for what the markers and the line mean (they draw nothing).
    _legend_entry(fig, "Benchmark (0): peers' pooled share, force excluded", mode="lines", line=dict(color=INK, width=1.5))
    for words, colour in (("Colour red: above the overdispersed limits", ABOVE),
                          ("Colour blue: below the overdispersed limits", BELOW),
                          ("Colour black: within the limits", INK)):
        _legend_entry(fig, words, marker=dict(size=11, symbol="circle", color=colour, line=dict(width=2, color=colour)))
    _legend_entry(fig, "Hollow ring: not significant, or not ranked (hover for why)",
                  marker=dict(size=11, symbol="circle", color="white", line=dict(width=2, color=INK)))
    order = [b["label"] for b in bars]
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(title_text="Indicator", autorange="reversed", tickfont=dict(size=11.5), **_category_ticks(order))
    fig.update_xaxes(title_text="Position against the benchmark (0), scaled per indicator: the furthest value is at ±1",
                     range=[-1.15, 1.15], tickvals=[-1, -0.5, 0, 0.5, 1], ticktext=["lower", "", "benchmark", "", "higher"],
                     zeroline=False)
    subtitle = ("Bars: the other forces' shares (light: lowest to highest; dark: middle half). "
                "Filled marker: ranked and significant; hollow: not significant, or not ranked (hover for why); "
                "colour: position against the overdispersed funnel limits.")
    if peer_names:
        subtitle += f" Peers ({len(peer_names)}): {', '.join(peer_names)}."
    return _finish(fig, f"{force_name} against the other forces on every indicator", subtitle, source_note,
                   height=max(260, len(order) * (16 + 14 * max((_lines(label) for label in order), default=1))))


SPINE_LABEL_WIDTH = 36


# --- mix contributions --------------------------------------------------------------------------------

CONTRIBUTION_COLUMNS = ("category", "share", "reference_share", "contribution")


def mix_contributions(mix_categories_for_force: pl.DataFrame, mix_label: str, force_name: str,
                      source_note: str, *, labels: Mapping[str, str] | None = None) -> go.Figure:
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
    category_labels = labels
    labels = [_wrap(label_for(c, category_labels), 30) for c in rows["category"]]
    data = [[r["share"], r["reference_share"], _pp(r["share"] - r["reference_share"]), _num(r["contribution"], ".3g"),
             _pct(r["contribution"] / total if total > 0 else None, 1)]
            for r in rows.iter_rows(named=True)]
    hover = ("<b>%{y}</b><br>" + force_name + ": %{customdata[0]:.2%}; peers (force excluded): %{customdata[1]:.2%} "
             "(difference %{customdata[2]})<br>Term in the divergence: %{customdata[3]} (%{customdata[4]} of distance²)<extra></extra>")
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.6, 0.4], horizontal_spacing=0.08)
    fig.add_trace(go.Bar(y=labels, x=rows["share"].to_list(), orientation="h", name=force_name,
                         marker=dict(color=INK), customdata=data, hovertemplate=hover), row=1, col=1)
    fig.add_trace(go.Bar(y=labels, x=rows["reference_share"].to_list(), orientation="h", name=_wrap("Peers' pooled mix (force excluded)", 30),
                         marker=dict(color=PEERS), customdata=data, hovertemplate=hover), row=1, col=1)
    percent = [(c / total if total > 0 and not _missing(c) else None) for c in rows["contribution"]]
    fig.add_trace(go.Bar(
        y=labels, x=percent, orientation="h", name=_wrap("Part of the distance (red: force higher; blue: lower)", 30),
        marker=dict(color=[ABOVE if (s or 0) > (q or 0) else BELOW for s, q in zip(rows["share"], rows["reference_share"])]),
        customdata=data, hovertemplate=hover,
    ), row=1, col=2)
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(title_text="Category", autorange="reversed", row=1, col=1, **_category_ticks(labels))
    # Two panels side by side may be under 250 px each at 1024 px: titles on two lines, few ticks.
    fig.update_xaxes(title_text="Share of the<br>mix (%)", tickformat=_share_format(rows["share"].to_list()),
                     nticks=4, tickangle=0, title_font=dict(size=13), row=1, col=1)
    fig.update_xaxes(title_text="Part of the<br>distance² (%)", tickformat=".0%", nticks=3, tickangle=0,
                     title_font=dict(size=13), row=1, col=2)
    subtitle = (f"Jensen–Shannon distance {distance:.4f} (base 2, 0 = same mix, 1 = no overlap). "
                f"{_described('contribution')}.")
    return _finish(fig, f"{force_name}: {mix_label}, against its peers", subtitle, source_note,
                   height=max(240, 40 * len(labels)), axis_block=80)


# --- outcome ratios -----------------------------------------------------------------------------------

RATIO_COLUMNS = ("outcome_group", "observed", "expected", "standardised_ratio", "ratio_lower", "ratio_upper")


def outcome_ratio_plot(ratios_for_force: pl.DataFrame, force_name: str, source_note: str, *,
                       labels: Mapping[str, str] | None = None) -> go.Figure:
    """A force's case-mix adjusted outcome ratios (observed ÷ expected) with exact 95% limits.

    `ratios_for_force`: `outcome_ratios` rows of one force and window, with at least outcome_group,
    observed, expected, standardised_ratio, ratio_lower and ratio_upper. Log scale, reference line
    at 1. Red: limits wholly above 1; blue: wholly below; grey: consistent with the case mix.
    Groups with no expected count (nothing to compare) are named in the subtitle, not drawn.
    `labels`: outcome group → label; by default pipelines/reference/outcome_groups.csv's labels.
    """
    _require(ratios_for_force, RATIO_COLUMNS, "outcome_ratio_plot")
    group_labels = labels

    def _humanise(group: str) -> str:  # noqa: F811 - the group's label, shadowing the module's id humaniser
        return label_for(group, group_labels)

    rows = ratios_for_force.with_columns(pl.col(pl.Float64).fill_nan(None)).sort("outcome_group")
    usable = rows.filter(pl.col("standardised_ratio").is_not_null() & (pl.col("standardised_ratio") > 0))
    left_out = [_humanise(g) for g in rows.filter(~pl.col("outcome_group").is_in(usable["outcome_group"].to_list()))["outcome_group"]]
    order = [_humanise(g) for g in usable["outcome_group"]]
    fig = go.Figure()
    kinds = (("more than expected (95% limits above 1)", ABOVE, pl.col("ratio_lower") > 1),
             ("fewer than expected (95% limits below 1)", BELOW, pl.col("ratio_upper") < 1),
             ("consistent with the case mix", WITHIN, ~((pl.col("ratio_lower") > 1) | (pl.col("ratio_upper") < 1)).fill_null(False)))
    for words, colour, condition in kinds:
        part = usable.filter(condition)
        if part.height == 0:
            continue
        fig.add_trace(go.Scatter(
            x=part["standardised_ratio"].to_list(), y=[_humanise(g) for g in part["outcome_group"]], mode="markers",
            name=_wrap(words[:1].upper() + words[1:], 30), marker=dict(color=colour, size=10),
            error_x=dict(type="data", symmetric=False, color=colour, thickness=1.5, width=4,
                         array=(part["ratio_upper"] - part["standardised_ratio"]).to_list(),
                         arrayminus=(part["standardised_ratio"] - part["ratio_lower"]).to_list()),
            customdata=[[_count(r["observed"]), _num(r["expected"], ",.1f"), _num(r["ratio_lower"], ".3f"),
                         _num(r["ratio_upper"], ".3f")] for r in part.iter_rows(named=True)],
            hovertemplate=("<b>%{y}</b><br>Observed ÷ expected: %{x:.3f} (95% limits %{customdata[2]} to %{customdata[3]})"
                           "<br>Observed %{customdata[0]}; expected %{customdata[1]} given the case mix<extra></extra>"),
        ))
    # Shapes on a log axis take data values (plotly.js converts them), so x = 1 is the ratio 1.
    fig.add_vline(x=1, line=dict(color=INK, width=1.5, dash="dash"))
    # Fixed ratios, so that Plotly's minor labels never crowd a narrow chart.
    fig.update_xaxes(type="log", tickvals=[0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20],
                     title_text=f"Standardised ratio, {_described('standardised_ratio').lower()}; log scale")
    fig.update_yaxes(title_text="Outcome group", autorange="reversed", **_category_ticks(order))
    subtitle = "Expected: the force's crimes by type at the other forces' rate of each outcome (indirect standardisation)."
    if left_out:
        subtitle += f" No comparison possible for: {', '.join(left_out)}."
    return _finish(fig, f"{force_name}: outcomes against what its case mix predicts", subtitle, source_note,
                   height=max(220, 36 * len(order)))


# --- trend ----------------------------------------------------------------------------------------------


def trend_plot(series: pl.DataFrame, peers_band: pl.DataFrame | None, events: pl.DataFrame | None,
               detected_breaks: pl.DataFrame | None, indicator_label: str, source_note: str,
               names: Mapping[str, str] | None = None, *, grain: str = "month", alpha: float = 0.05) -> go.Figure:
    """An indicator's share over time for chosen forces, against the other forces' band.

    `series`: force_id, period, numerator, denominator (as `divergence.indicator_series`, or the
    `divergence_series` rows of one indicator), for the chosen forces. A period a force did not supply is a gap in its line, never a zero.
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
    colours = {f: QUALITATIVE[i % len(QUALITATIVE)] for i, f in enumerate(forces)}
    periods = set(series["period"].to_list())
    if peers_band is not None and peers_band.height:
        _require(peers_band, ("period", "lower", "upper", "median"), "trend_plot (peers_band)")
        periods |= set(peers_band["period"].to_list())
    grid = sorted(periods)
    fig = go.Figure()
    values: list[float] = []

    if peers_band is not None and peers_band.height:
        band = pl.DataFrame({"period": grid}, schema={"period": series.schema["period"]}).join(
            peers_band, on="period", how="left")
        extra = [c for c in ("q25", "q75", "forces") if c in band.columns]
        band_data = [[_pct(r["lower"]), _pct(r["median"]), _pct(r["upper"]),
                      _pct(r.get("q25")) if "q25" in extra else "—", _pct(r.get("q75")) if "q75" in extra else "—",
                      str(r["forces"]) if "forces" in extra and r["forces"] is not None else "—",
                      period_words(r["period"], grain)]
                     for r in band.iter_rows(named=True)]
        band_hover = ("%{customdata[6]}: other forces (%{customdata[5]})<br>lowest %{customdata[0]}, median %{customdata[1]}, "
                      "highest %{customdata[2]}<br>25th–75th percentile: %{customdata[3]} to %{customdata[4]}<extra></extra>")
        fig.add_trace(go.Scatter(x=grid, y=band["upper"].to_list(), mode="lines", line=dict(width=0, color=PEERS),
                                 name="Other forces: highest share", showlegend=False, legendgroup="band",
                                 connectgaps=False, customdata=band_data, hovertemplate=band_hover))
        fig.add_trace(go.Scatter(x=grid, y=band["lower"].to_list(), mode="lines", line=dict(width=0, color=PEERS),
                                 fill="tonexty", fillcolor="rgba(189,189,189,0.45)", legendgroup="band",
                                 name=_wrap("Other forces: lowest to highest share", 30), connectgaps=False,
                                 customdata=band_data, hovertemplate=band_hover))
        fig.add_trace(go.Scatter(x=grid, y=band["median"].to_list(), mode="lines", line=dict(color=PEERS_DARK, dash="dot"),
                                 name="Other forces: median share", legendgroup="band", connectgaps=False,
                                 customdata=band_data, hovertemplate=band_hover))
        values += [v for v in band["lower"].to_list() + band["upper"].to_list() if not _missing(v)]

    shares: dict[tuple[str, date], float] = {}
    for force in forces:
        own = series.filter(pl.col("force_id") == force)
        own = pl.DataFrame({"period": grid}, schema={"period": series.schema["period"]}).join(own, on="period", how="left")
        share = [None if _missing(d) or d == 0 or _missing(x) else x / d for x, d in zip(own["numerator"], own["denominator"])]
        shares.update({(force, p): s for p, s in zip(grid, share) if s is not None})
        values += [s for s in share if s is not None]
        fig.add_trace(go.Scatter(
            x=grid, y=share, mode="lines+markers", connectgaps=False, name=_name(force, names),
            line=dict(color=colours[force], width=2), marker=dict(size=4, color=colours[force]),
            customdata=[[_count(x), _count(d), period_words(p, grain)]
                        for x, d, p in zip(own["numerator"], own["denominator"], own["period"])],
            hovertemplate=(f"<b>{_name(force, names)}</b><br>%{{customdata[2]}}: %{{y:.2%}} "
                           "(%{customdata[0]} of %{customdata[1]})<extra></extra>"),
        ))

    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.08 or 0.01
    top = high + 2 * pad
    fig.update_yaxes(range=[max(0.0, low - pad), top + pad])

    if detected_breaks is not None and detected_breaks.height:
        _require(detected_breaks, ("force_id", "period", "level_shift"), "trend_plot (detected_breaks)")
        found = detected_breaks.filter(pl.col("force_id").is_in(forces))
        kinds = found["break_kind"] if "break_kind" in found.columns else pl.Series(["detected"] * found.height)
        found = found.with_columns(kinds.alias("_kind"))
        # A break the engine found is drawn as a diamond; a registered event's tested shift as a square.
        for kind, symbol, words in (("detected", "diamond", "Detected break"),
                                    ("registered", "square", "Shift tested at a registered event")):
            marks = [r for r in found.filter(pl.col("_kind") == kind).iter_rows(named=True)
                     if (r["force_id"], _as_date(r["period"])) in shares]
            if kind == "registered" and not any(not _missing(r.get("p_value")) for r in marks):
                continue  # a registered event with no test is drawn with the events, not on the line
            groups = {}
            for r in marks:
                p = r.get("p_value")
                state = "untested" if _missing(p) else "significant" if p < alpha else "not significant"
                groups.setdefault(state, []).append(r)
            for state, part in groups.items():
                name = {"significant": f"{words}, significant (p < {alpha:g}, Bonferroni-adjusted)",
                        "not significant": f"{words}, not significant (p ≥ {alpha:g})",
                        "untested": f"{words} (first period after it; no test)"}[state]
                if kind == "detected" and state == "untested":
                    name = "Detected break (first period after it)"
                fig.add_trace(go.Scatter(
                    x=[_as_date(r["period"]) for r in part], y=[shares[(r["force_id"], _as_date(r["period"]))] for r in part],
                    mode="markers", name=_wrap(name, 30), legendgroup=f"breaks-{kind}",
                    marker=dict(symbol=symbol if state != "not significant" else f"{symbol}-open", size=12,
                                color=[colours[r["force_id"]] for r in part], line=dict(color=INK, width=1.5)),
                    customdata=[[_name(r["force_id"], names), _pp(r["level_shift"]),
                                 r.get("matches_event") or r.get("event") or "no registered event within two periods",
                                 _num(r.get("p_value"), ".3g"), period_words(r["period"], grain),
                                 {"significant": "significant", "not significant": "not significant",
                                  "untested": "not tested"}[state]] for r in part],
                    hovertemplate=(f"<b>%{{customdata[0]}}</b>: {words.lower()} at %{{customdata[4]}}"
                                   "<br>Level shift: %{customdata[1]} (%{customdata[5]})"
                                   "<br>Registered event: %{customdata[2]}"
                                   "<br>p (Bonferroni-adjusted): %{customdata[3]}<extra></extra>"),
                ))

    if events is not None and events.height and grid:
        _require(events, ("event_date", "event", "scope"), "trend_plot (events)")
        shown = events.filter(pl.col("scope").is_in(["national", *forces])
                              & (pl.col("event_date") >= grid[0]) & (pl.col("event_date") <= grid[-1])).sort("event_date")
        _vlines(fig, shown["event_date"].to_list(), [INK if s == "national" else colours[s] for s in shown["scope"]])
        if shown.height:
            fig.add_trace(go.Scatter(
                x=shown["event_date"].to_list(), y=[top] * shown.height, mode="markers", name="Registered event",
                marker=dict(symbol="triangle-down", size=11,
                            color=[INK if s == "national" else colours[s] for s in shown["scope"]]),
                customdata=[[r["event"], "national" if r["scope"] == "national" else _name(r["scope"], names),
                             _humanise(r.get("kind") or "")] for r in shown.iter_rows(named=True)],
                hovertemplate="<b>%{x|%d %b %Y}</b> (%{customdata[1]}) %{customdata[2]}<br>%{customdata[0]}<extra></extra>",
            ))

    fig.update_xaxes(title_text=f"Period ({GRAIN_NOUNS.get(grain, (grain,))[0]} starting)", type="date")
    fig.update_yaxes(title_text=SHARE_TITLE, tickformat=_share_format(values))
    subtitle = ("Grey band: the other forces' lowest to highest share; gaps: periods not supplied (not zero). "
                "Dotted lines: registered events (▼ for details); ◆: breaks found in the series; ■: shifts tested "
                f"at registered events; filled when significant (p < {alpha:g}), hollow when not.")
    return _finish(fig, f"{indicator_label}: share over time", subtitle, source_note, height=440)


# --- coverage grid ---------------------------------------------------------------------------------------

COVERAGE_COLUMNS = ("source", "force_id", "period", "rows_supplied", "coverage_status")


def _grain_periods(periods: list[date], grain: str) -> list[date]:
    """Every period of the grain from the first to the last given (rolling years: those given,
    which overlap and so cannot be filled in)."""
    if not periods or grain == "rolling_year":
        return sorted(set(periods))
    step, first, last = GRAIN_MONTHS.get(grain, 1), min(periods), max(periods)
    out, current = [], first
    while current <= last:
        out.append(current)
        current = add_months(current, step)
    return out


def _every_nth(labels: list[str], most: int) -> list[str]:
    """At most `most` of the labels, evenly spaced, the first always among them."""
    step = max(1, math.ceil(len(labels) / most))
    return labels[::step]


def coverage_grid(coverage: pl.DataFrame, source: str, source_note: str, names: Mapping[str, str] | None = None, *,
                  grain: str | None = None, source_label: str | None = None, fill_span: bool = False) -> go.Figure:
    """Which force-periods one source supplied: a force × period grid of `coverage_status`, at the
    source's own `grain` over its own span.

    `coverage`: `coverage` rows (source, force_id, period, rows_supplied, coverage_status); rows of
    other sources are ignored. `grain` (month, quarter, financial_year, calendar_year,
    rolling_year; by default the rows' `period_grain` column where they have one, else month): one
    cell per period of that grain; rows are gathered into the period that holds them (a month into
    its quarter, financial year or year; rolling years are kept as given). The columns are the
    periods the rows hold; with `fill_span`, every period of the grain from the first to the last
    (those the rows lack are blank columns). z is 1 where supplied, 0 where
    missing (a colour of its own, "missing" in the legend) and 0.5 where part of the period was
    supplied; a force-period the view does not expect is None, an empty cell. Labels and hover
    say each period in the grain's words ("Jan–Mar 2021", "2017/18"); `source_label` names the
    source in the title (by default its publisher's words, never its id).
    """
    _require(coverage, COVERAGE_COLUMNS, "coverage_grid")
    rows = _dates(coverage.filter(pl.col("source") == source), "period")
    if grain is None:
        grains = rows["period_grain"].drop_nulls().unique().to_list() if "period_grain" in rows.columns else []
        grain = grains[0] if len(grains) == 1 else "month"
    label = source_label or label_for(source)
    noun, nouns = GRAIN_NOUNS.get(grain, (grain.replace("_", " "), grain.replace("_", " ") + "s"))
    rows = rows.with_columns(pl.col("period").map_elements(lambda d: _period_start(d, grain), return_dtype=pl.Date)
                             .alias("_cell"))
    cells: dict[tuple[str, date], dict] = {}
    for r in rows.iter_rows(named=True):
        cell = cells.setdefault((r["force_id"], r["_cell"]), {"supplied": 0, "missing": 0, "rows": 0, "statuses": set()})
        if r["coverage_status"] == "missing":
            cell["missing"] += 1
        else:
            cell["supplied"] += 1
            cell["statuses"].add(r["coverage_status"])
            cell["rows"] += 0 if _missing(r["rows_supplied"]) else int(r["rows_supplied"])
    forces = sorted(rows["force_id"].unique().to_list(), key=lambda f: _name(f, names))
    periods = (_grain_periods(rows["_cell"].unique().to_list(), grain) if fill_span
               else sorted(rows["_cell"].unique().to_list()))
    x_labels = [period_words(p, grain) for p in periods]
    z, customdata, partial_count = [], [], 0
    for force in forces:
        z_row, data_row = [], []
        for period, words in zip(periods, x_labels):
            cell = cells.get((force, period))
            if cell is None:
                z_row.append(None)
                data_row.append([words, "not expected from this force", "—"])
            elif cell["supplied"] == 0:
                z_row.append(0)
                data_row.append([words, "MISSING: nothing supplied (a gap, not zero crimes)", "none"])
            elif cell["missing"]:
                z_row.append(0.5)
                partial_count += 1
                data_row.append([words, f"PART supplied: {cell['supplied']} of {cell['supplied'] + cell['missing']} months",
                                 _count(cell["rows"])])
            else:
                z_row.append(1)
                data_row.append([words, ", ".join(sorted(cell["statuses"])), _count(cell["rows"])])
        z.append(z_row)
        customdata.append(data_row)
    y_labels = [_name(f, names) for f in forces]
    missing_count = sum(row.count(0) for row in z)
    if partial_count:
        colorscale = [[0, MISSING], [1 / 3, MISSING], [1 / 3, "#F2C48D"], [2 / 3, "#F2C48D"], [2 / 3, SUPPLIED], [1, SUPPLIED]]
        colorbar = dict(title=dict(text="Status"), tickvals=[1 / 6, 0.5, 5 / 6], ticktext=["missing", "part", "supplied"],
                        len=0.4, y=0.8)
    else:
        colorscale = [[0, MISSING], [0.5, MISSING], [0.5, SUPPLIED], [1, SUPPLIED]]
        colorbar = dict(title=dict(text="Status"), tickvals=[0.25, 0.75], ticktext=["missing", "supplied"], len=0.4, y=0.8)
    fig = go.Figure(go.Heatmap(
        z=z, x=x_labels, y=y_labels, customdata=customdata, zmin=0, zmax=1, colorscale=colorscale, xgap=1, ygap=1,
        name=label, colorbar=colorbar,
        hovertemplate="<b>%{y}</b>, %{customdata[0]}<br>%{customdata[1]}<br>Rows supplied: %{customdata[2]}<extra></extra>",
    ))
    # Every label where they fit (about 70 px each, angled when more than 12), every nth otherwise.
    shown = _every_nth(x_labels, 24)
    longest = max((len(t) for t in shown), default=0)
    angled = len(shown) > 12 or longest * len(shown) > 90
    ticks = dict(type="category", categoryorder="array", categoryarray=x_labels, tickmode="array", tickvals=shown,
                 ticktext=shown)
    fig.update_xaxes(title_text=f"Period ({nouns})", tickangle=-45 if angled else 0, automargin=True, **ticks)
    fig.update_yaxes(title_text="Force", autorange="reversed", tickfont=dict(size=11), **_category_ticks(y_labels))
    subtitle = (f"{_counted(missing_count, 'force-' + noun)} missing (orange)"
                + (f", {_counted(partial_count, 'force-' + noun)} part supplied (light orange)" if partial_count else "")
                + f". {_described('coverage_status')}. Blank: not expected from that force.")
    axis_block = 50 + (math.ceil(7 * 0.71 * longest) if angled else 16)
    return _finish(fig, f"What {label} supplied, by force and {noun}", subtitle, source_note,
                   height=max(260, 16 * len(forces)), axis_block=axis_block)


def _counted(count: int, noun: str) -> str:
    """"1 force-month", "2,520 force-months"."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


# --- reconciliation ---------------------------------------------------------------------------------------

RECONCILIATION_COLUMNS = ("period", "period_grain", "source", "offence_count", "periods_supplied", "periods_expected",
                          "window_status", "reference_source", "ratio_to_reference")


def reconciliation_plot(reconciliation_rows: pl.DataFrame, force_name: str, group: str, source_note: str, *,
                        source_labels: Mapping[str, str] | None = None, events: pl.DataFrame | None = None,
                        force_id: str | None = None) -> go.Figure:
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

    def words(source: str | None) -> str:
        return "—" if source is None else label_for(source, source_labels)

    grains = [g for g in GRAIN_ORDER if g in set(rows["period_grain"].to_list())]
    grains += sorted(set(rows["period_grain"].to_list()) - set(grains))
    sources = sorted(rows["source"].unique().to_list())
    panels = max(1, len(grains))
    # Panels are 240 px high with 110 px between them for the upper panel's axis and the next title.
    plot_height = 240 * panels + 110 * (panels - 1)
    fig = make_subplots(rows=panels, cols=1, vertical_spacing=110 / plot_height if panels > 1 else 0.1,
                        subplot_titles=[f"{GRAIN_WORDS.get(g, g).capitalize()} windows" for g in grains] or None)
    hover = ("<b>%{customdata[0]}</b>, %{customdata[1]} window %{customdata[8]}<br>Offences: %{customdata[2]}"
             "<br>Periods supplied: %{customdata[3]} of %{customdata[4]} (%{customdata[5]})"
             "<br>Ratio to %{customdata[6]}: %{customdata[7]}<extra></extra>")
    missing_shown, in_legend, missing_in_legend = False, set(), set()
    events_shown = False
    for i, grain in enumerate(grains, start=1):
        part = rows.filter(pl.col("period_grain") == grain)
        # Bars placed and sized in time: the sources side by side from the window's first day over
        # 80% of the gap between windows, so that a panel of one window draws a bar as wide as a
        # window, not a hairline, and an event line falls where it happened within a window.
        panel_sources = [s for s in sources if s in set(part["source"].to_list())]
        width_ms = _window_step(part, grain).total_seconds() * 1000 * 0.8 / max(1, len(panel_sources))
        for k, source in enumerate(panel_sources):
            own = part.filter(pl.col("source") == source)
            colour = _source_colour(source, sources)
            data = [[words(source), GRAIN_WORDS.get(grain, grain), _count(r["offence_count"]), r["periods_supplied"],
                     r["periods_expected"], r["window_status"], words(r["reference_source"]),
                     _num(r["ratio_to_reference"], ".3f"), period_words(r["period"], grain)] for r in own.iter_rows(named=True)]
            present = [j for j, r in enumerate(own.iter_rows(named=True)) if r["offence_count"] is not None]
            fig.add_trace(go.Bar(
                x=[own["period"][j] + timedelta(milliseconds=k * width_ms) for j in present],
                y=[own["offence_count"][j] for j in present], name=_wrap(words(source), 30),
                legendgroup=source, showlegend=source not in in_legend,
                marker=dict(color=colour, line=dict(color=colour, width=0.5),
                            pattern=dict(shape=["/" if own["window_status"][j] == "partial" else "" for j in present],
                                         fgcolor="white", solidity=0.5)),
                customdata=[data[j] for j in present], hovertemplate=hover,
                width=width_ms, offset=0,
            ), row=i, col=1)
            in_legend.add(source)
            absent = [j for j, r in enumerate(own.iter_rows(named=True)) if r["offence_count"] is None]
            if absent:
                fig.add_trace(go.Scatter(
                    x=[own["period"][j] for j in absent], y=[0] * len(absent), mode="markers",
                    name=_wrap(f"{words(source)}: window missing (no data, not zero)", 30), legendgroup=source,
                    showlegend=source not in missing_in_legend,
                    marker=dict(symbol="x-thin-open", size=10, color=colour, line=dict(width=2, color=colour)),
                    customdata=[data[j] for j in absent], hovertemplate=hover,
                ), row=i, col=1)
                missing_shown = True
                missing_in_legend.add(source)
        fig.update_yaxes(title_text="Offences recorded (count)", rangemode="tozero", row=i, col=1)
        fig.update_xaxes(title_text="Window start (first day)", type="date", row=i, col=1, **_window_axis(part, grain))
        if events is not None and events.height and part.height:
            events_shown |= _panel_events(fig, _dates(events, "event_date"), part, grain, i, force_id, force_name,
                                          events_shown)
    if not grains:
        fig.update_yaxes(title_text="Offences recorded (count)")
        fig.update_xaxes(title_text="Window start (first day)")
    fig.update_layout(barmode="overlay")
    subtitle = "Hatched bars: the source supplied only part of the window."
    if missing_shown:
        subtitle += " ✕ at the axis: the source supplied nothing for the window (missing, not zero)."
    if events_shown:
        subtitle += " Dotted lines: registered events (▼ for what happened)."
    return _finish(fig, f"{force_name}, {group}: offences recorded by each source, window by window", subtitle,
                   source_note, height=plot_height, extra_top=24 if grains else 0)


def _window_step(part: pl.DataFrame, grain: str) -> timedelta:
    """The time between a panel's consecutive windows (a period of the grain when there is one)."""
    periods = sorted(set(part["period"].to_list()))
    gaps = [b - a for a, b in zip(periods, periods[1:])]
    return min(gaps) if gaps else timedelta(days=round(30.4 * GRAIN_MONTHS.get(grain, 1)))


# A panel with up to this many windows labels each window in words, not with the axis's own ticks.
WINDOWS_LABELLED = 12


def _window_axis(part: pl.DataFrame, grain: str) -> dict:
    """A reconciliation panel's date axis: from just before the first window to the end of the last
    (one window alone would otherwise get an axis of milliseconds), and each window named in its
    grain's words when there are few of them."""
    periods = sorted(set(part["period"].to_list()))
    if not periods:
        return {}
    step = _window_step(part, grain)
    axis = {"range": [periods[0] - step * 0.1, periods[-1] + step * 0.9]}  # bars fill 80% from each window's start
    if len(periods) <= WINDOWS_LABELLED:
        axis |= {"tickvals": periods, "ticktext": [period_words(p, grain) for p in periods]}
    else:
        axis |= {"tickformat": "%Y" if GRAIN_MONTHS.get(grain, 1) >= 12 and grain != "rolling_year" else "%b %Y"}
    return axis


def _vlines(fig: go.Figure, dates: list, colours: list[str], row: int | None = None) -> None:
    """Dotted vertical lines at `dates`, across the plot (or the panel of `row`), added in one update:
    `add_vline` revalidates every shape already there, so a line at a time costs the square of their number."""
    subplot = fig.get_subplot(row, 1) if row is not None else None
    xref = subplot.xaxis.plotly_name.replace("axis", "") if subplot else "x"
    yref = (subplot.yaxis.plotly_name.replace("axis", "") if subplot else "y") + " domain"
    fig.layout.shapes += tuple(dict(type="line", xref=xref, yref=yref, x0=d, x1=d, y0=0, y1=1,
                                    line=dict(color=c, width=1, dash="dot")) for d, c in zip(dates, colours))


def _panel_events(fig: go.Figure, events: pl.DataFrame, part: pl.DataFrame, grain: str, row: int,
                  force_id: str | None, force_name: str, in_legend: bool) -> bool:
    """Registered events within one reconciliation panel's span (first window start to the end of
    the last window): a dotted line each and a ▼ marker at the top with the event on hover."""
    _require(events, ("event_date", "scope", "event"), "reconciliation_plot (events)")
    first = min(part["period"].to_list())
    end = add_months(max(part["period"].to_list()), GRAIN_MONTHS.get(grain, 1))
    scopes = ["national"] + ([force_id] if force_id else [])
    shown = events.filter(pl.col("scope").is_in(scopes) & (pl.col("event_date") >= first)
                          & (pl.col("event_date") < end)).sort("event_date")
    if shown.height == 0:
        return False
    _vlines(fig, shown["event_date"].to_list(), [INK] * shown.height, row=row)
    top = max([v for v in part["offence_count"].to_list() if v is not None] or [1]) * 1.08
    fig.add_trace(go.Scatter(
        x=shown["event_date"].to_list(), y=[top] * shown.height, mode="markers", name="Registered event",
        legendgroup="events", showlegend=not in_legend,
        marker=dict(symbol="triangle-down", size=11, color=INK),
        customdata=[[f"{r['event_date']:%d %b %Y}", "national" if r["scope"] == "national" else force_name,
                     _humanise(r.get("kind") or ""), _wrap(r["event"], 70)] for r in shown.iter_rows(named=True)],
        hovertemplate="<b>%{customdata[0]}</b> (%{customdata[1]}) %{customdata[2]}<br>%{customdata[3]}<extra></extra>",
    ), row=row, col=1)
    return True


# --- compare forces (bar) ------------------------------------------------------------------------------

COMPARE_COLUMNS = ("force_id", "share", "share_lower", "share_upper", "benchmark", "position", "status")


def compare_bar(findings: pl.DataFrame, indicator_label: str, source_note: str, names: Mapping[str, str] | None = None,
                *, highlight: str | None = None, peers: Sequence[str] | None = None,
                status_labels: Mapping[str, str] | None = None) -> go.Figure:
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
    rows = (findings.filter(pl.col("share").is_not_null())
            .with_columns(pl.col("force_id").map_elements(lambda f: _name(f, names), return_dtype=pl.String).alias("_name"),
                          pl.col("position").fill_null(WITHIN_POSITION))
            .sort(["share", "_name"], descending=[False, True]))
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
        fig.add_trace(go.Bar(
            x=part["share"].to_list(), y=part["_name"].to_list(), orientation="h",
            name=_wrap(position[:1].upper() + position[1:], 30),
            marker=dict(color=colour, line=dict(color=outline, width=widths)),
            error_x=dict(type="data", symmetric=False, color=INK, thickness=1.2, width=3,
                         array=(part["share_upper"] - part["share"]).to_list(),
                         arrayminus=(part["share"] - part["share_lower"]).to_list()),
            customdata=[[_pct(r["share_lower"]), _pct(r["share_upper"]), _pct(r["benchmark"]),
                         _count(r.get("numerator")), _count(r.get("denominator")), r["position"], _standing(r, status_labels=status_labels),
                         "chosen force" if r["force_id"] == highlight else "peer" if r["force_id"] in peer_set else ""]
                        for r in part.iter_rows(named=True)],
            hovertemplate=("<b>%{y}</b> %{customdata[7]}<br>Share: %{x:.2%} (%{customdata[3]} of %{customdata[4]})"
                           "<br>95% Wilson interval: %{customdata[0]} to %{customdata[1]}"
                           "<br>Benchmark (peers, force excluded): %{customdata[2]}<br>%{customdata[5]}"
                           "<br>%{customdata[6]}<extra></extra>"),
        ))
    chosen = rows.filter(pl.col("force_id") == highlight) if highlight else rows.clear()
    if chosen.height and not _missing(chosen["benchmark"][0]):
        benchmark, benchmark_words = float(chosen["benchmark"][0]), f"{_name(highlight, names)}'s benchmark (its peers' pooled share)"
    elif {"numerator", "denominator"} <= set(rows.columns) and rows["denominator"].sum():
        benchmark = float(rows["numerator"].sum() / rows["denominator"].sum())
        benchmark_words = "pooled share of every force shown"
    else:
        values = rows["benchmark"].drop_nulls()
        benchmark = float(values.median()) if values.len() else None
        benchmark_words = "median of the forces' benchmarks"
    if benchmark is not None and order:
        fig.add_trace(go.Scatter(
            x=[benchmark, benchmark], y=[order[0], order[-1]], mode="lines", line=dict(color=INK, width=1.5, dash="dash"),
            name=_wrap(f"Benchmark: {benchmark_words}", 30),
            hovertemplate=f"Benchmark, {benchmark_words}: {benchmark:.2%}<extra></extra>",
        ))
    if chosen.height:
        _legend_entry(fig, f"{HIGHLIGHT_NAME}: {_name(highlight, names)} (outlined, bold)", mode="markers",
                      marker=dict(symbol="square", size=12, color="white", line=dict(color=INK, width=3)))
    peer_names = sorted(_name(p, names) for p in peer_set if p in set(rows["force_id"].to_list()))
    if peer_names:
        _legend_entry(fig, "Peers (grey outline, “(peer)”)", mode="markers",
                      marker=dict(symbol="square", size=12, color="white", line=dict(color=PEERS_DARK, width=2)))
    ticks = _category_ticks(order)
    ticks["ticktext"] = [tick(f, n) for f, n in zip(rows["force_id"], order)]
    fig.update_yaxes(title_text="Force (sorted by share)", automargin=True, **ticks)
    fig.update_xaxes(title_text=f"{SHARE_TITLE}, with its 95% Wilson interval", rangemode="tozero",
                     tickformat=_share_format(rows["share_upper"].to_list()))
    fig.update_layout(bargap=0.25)
    subtitle = "Colour: where each share sits against the overdispersed funnel limits; whiskers: 95% interval."
    if chosen.height:
        subtitle += f" Outlined: {_name(highlight, names)}."
    if peer_names:
        subtitle += f" Its peers ({len(peer_names)}): {', '.join(peer_names)}."
    return _finish(fig, f"{indicator_label}: every force compared", subtitle, source_note,
                   height=max(300, 18 * rows.height + 40))


# --- tile map -------------------------------------------------------------------------------------------

TILE_CAP = 4.0


def _tile_text(label: str, width: int = 10) -> str:
    return _wrap(label, width)


def tile_map(values: pl.DataFrame, title: str, source_note: str, names: Mapping[str, str] | None = None, *,
             tiles: pl.DataFrame, highlight: str | None = None, value_column: str = "z",
             value_label: str | None = None, status_labels: Mapping[str, str] | None = None) -> go.Figure:
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
    by_force = {r["force_id"]: r for r in values.iter_rows(named=True)}
    has_abbreviation = "abbreviation" in tiles.columns
    points = []
    for t in tiles.iter_rows(named=True):
        force = t["force_id"]
        r = by_force.get(force, {})
        value = r.get(value_column)
        value = None if _missing(value) else float(value)
        short = (t["abbreviation"] if has_abbreviation and t["abbreviation"] else _name(force, names))
        status = r.get("status")
        points.append(dict(force=force, x=int(t["col"]), y=int(t["row"]), value=value, text=_tile_text(short),
                           data=[force, _name(force, names), _num(value, ".2f"),
                                 "no value" if value is None and not status
                                 else (status_labels or {}).get(status) or (status or "—").replace("_", " "),
                                 r.get("position") or "—"]))
    fig = go.Figure()
    hover = ("<b>%{customdata[1]}</b><br>" + value_words + ": %{customdata[2]}"
             "<br>Status: %{customdata[3]}<br>%{customdata[4]}<extra></extra>")
    marker = dict(symbol="square", size=46, line=dict(color="white", width=1))
    absent = [p for p in points if p["value"] is None]
    present = [p for p in points if p["value"] is not None]
    if absent:
        fig.add_trace(go.Scatter(
            x=[p["x"] for p in absent], y=[p["y"] for p in absent], mode="markers+text", name="No value",
            text=[p["text"] for p in absent], textfont=dict(size=9, color=INK),
            marker=dict(**marker, color="#D9D9D9"), customdata=[p["data"] for p in absent], hovertemplate=hover,
        ))
    if present:
        fig.add_trace(go.Scatter(
            x=[p["x"] for p in present], y=[p["y"] for p in present], mode="markers+text",
            name=_wrap(f"{value_words} (colour capped at ±{TILE_CAP:g})", 30), showlegend=False,
            text=[p["text"] for p in present],
            textfont=dict(size=9, color=["white" if abs(p["value"]) > 2.5 else INK for p in present]),
            marker=dict(**marker, color=[max(-TILE_CAP, min(TILE_CAP, p["value"])) for p in present],
                        colorscale="RdBu_r", cmin=-TILE_CAP, cmid=0, cmax=TILE_CAP,
                        colorbar=dict(title=dict(text=f"{_wrap(value_words, 12)}<br>(capped<br>at ±{TILE_CAP:g})"),
                                      tickvals=[-TILE_CAP, -2, 0, 2, TILE_CAP],
                                      ticktext=[f"≤ −{TILE_CAP:g}", "−2", "0", "2", f"≥ {TILE_CAP:g}"], len=0.6)),
            customdata=[p["data"] for p in present], hovertemplate=hover,
        ))
    chosen = [p for p in points if p["force"] == highlight]
    if chosen:
        p = chosen[0]
        fig.add_trace(go.Scatter(
            x=[p["x"]], y=[p["y"]], mode="markers", name=_wrap(f"{HIGHLIGHT_NAME}: {_name(p['force'], names)}", 30),
            marker=dict(symbol="square-open", size=50, color=INK, line=dict(width=3, color=INK)),
            customdata=[p["data"]], hovertemplate=hover,
        ))
    rows_count = max((p["y"] for p in points), default=0) + 1
    cols_count = max((p["x"] for p in points), default=0) + 1
    fig.update_xaxes(range=[-0.6, cols_count - 0.4], showgrid=False, zeroline=False, showticklabels=False,
                     title_text="West to east (tiles roughly placed, not to scale)", constrain="domain")
    fig.update_yaxes(range=[rows_count - 0.4, -0.6], showgrid=False, zeroline=False, showticklabels=False,
                     title_text="North to south", scaleanchor="x", scaleratio=1, constrain="domain")
    subtitle = (f"Red: above its benchmark; blue: below; colours stop at ±{TILE_CAP:g}, hover shows the exact value; "
                "grey: no value. Click a tile to open the force.")
    return _finish(fig, title, subtitle, source_note, height=max(300, 56 * rows_count), axis_block=40)
