"""The coverage grid: which force-periods one source supplied, a force × period grid at the source's
own grain over its own span, with missing periods a colour of their own (a gap, not zero crimes)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date

import plotly.graph_objects as go
import polars as pl

from dashboard.charts.layout import _angled_height, _finish, _force_heatmap, _grid, _require
from dashboard.charts.palette import MISSING, PART_SUPPLIED, SUPPLIED
from dashboard.charts.words import (
    GRAIN_MONTHS,
    GRAIN_NOUNS,
    _count,
    _dates,
    _described,
    _missing,
    _name,
    as_date,
    label_for,
    period_words,
)
from pipelines.periods import add_months

COVERAGE_COLUMNS = ("source", "force_id", "period", "rows_supplied", "coverage_status")


def coverage_grid(
    coverage: pl.DataFrame,
    source: str,
    source_note: str,
    names: Mapping[str, str] | None = None,
    *,
    grain: str | None = None,
    source_label: str | None = None,
    fill_span: bool = False,
) -> go.Figure:
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
    rows = rows.with_columns(
        pl.col("period").map_elements(lambda d: _period_start(d, grain), return_dtype=pl.Date).alias("_cell")
    )
    cells = _gather_cells(rows)
    forces = sorted(rows["force_id"].unique().to_list(), key=lambda f: _name(f, names))
    periods = (
        _grain_periods(rows["_cell"].unique().to_list(), grain)
        if fill_span
        else sorted(rows["_cell"].unique().to_list())
    )
    x_labels = [period_words(p, grain) for p in periods]
    grid = _grid(
        forces,
        list(zip(periods, x_labels)),
        x_labels,
        [_name(f, names) for f in forces],
        lambda force, period: _cell_status(cells.get((force, period[0])), period[1]),
    )
    missing_count = sum(row.count(0) for row in grid.z)
    partial_count = sum(row.count(0.5) for row in grid.z)
    colorscale, colorbar = _status_colours(partial_count > 0)
    fig = _force_heatmap(
        grid,
        dict(tickfont=dict(size=11)),
        zmin=0,
        zmax=1,
        colorscale=colorscale,
        name=label,
        colorbar=colorbar,
        hovertemplate=(
            "<b>%{y}</b>, %{customdata[0]}<br>%{customdata[1]}<br>Rows supplied: %{customdata[2]}<extra></extra>"
        ),
    )
    period_axis, label_height = _period_axis(x_labels)
    fig.update_xaxes(title_text=f"Period ({nouns})", **period_axis)
    subtitle = (
        f"{_counted(missing_count, 'force-' + noun)} missing (orange)"
        + (f", {_counted(partial_count, 'force-' + noun)} part supplied (light orange)" if partial_count else "")
        + f". {_described('coverage_status')}. Blank: not expected from that force."
    )
    return _finish(
        fig,
        f"What {label} supplied, by force and {noun}",
        subtitle,
        source_note,
        height=max(260, 16 * len(forces)),
        axis_block=50 + label_height,
    )


def _period_start(value: date, grain: str) -> date:
    """The first day of the grain's period that holds the month `value` (rolling years: the value itself)."""
    value = as_date(value)
    month = date(value.year, value.month, 1)
    if grain == "quarter":
        return date(month.year, (month.month - 1) // 3 * 3 + 1, 1)
    if grain == "financial_year":
        return date(month.year if month.month >= 4 else month.year - 1, 4, 1)
    if grain == "calendar_year":
        return date(month.year, 1, 1)
    return month


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


def _gather_cells(rows: pl.DataFrame) -> dict[tuple[str, date], dict]:
    """The coverage rows gathered into cells by (force_id, `_cell`, the period of the grain that holds
    them): how many were supplied and how many missing, the rows supplied, and the statuses seen."""
    cells: dict[tuple[str, date], dict] = {}
    for r in rows.iter_rows(named=True):
        cell = cells.setdefault(
            (r["force_id"], r["_cell"]), {"supplied": 0, "missing": 0, "rows": 0, "statuses": set()}
        )
        if r["coverage_status"] == "missing":
            cell["missing"] += 1
        else:
            cell["supplied"] += 1
            cell["statuses"].add(r["coverage_status"])
            cell["rows"] += 0 if _missing(r["rows_supplied"]) else int(r["rows_supplied"])
    return cells


def _cell_status(cell: dict | None, words: str) -> tuple[float | None, list[str]]:
    """One cell's z (None: not expected; 0: missing; 0.5: part supplied; 1: supplied) and its hover's
    data (the period in `words`, the status in words, the rows supplied)."""
    if cell is None:
        return None, [words, "not expected from this force", "—"]
    if cell["supplied"] == 0:
        return 0, [words, "MISSING: nothing supplied (a gap, not zero crimes)", "none"]
    if cell["missing"]:
        return 0.5, [
            words,
            f"PART supplied: {cell['supplied']} of {cell['supplied'] + cell['missing']} months",
            _count(cell["rows"]),
        ]
    return 1, [words, ", ".join(sorted(cell["statuses"])), _count(cell["rows"])]


def _status_colours(with_part: bool) -> tuple[list, dict]:
    """The grid's colour scale and colour bar: missing and supplied, and part supplied between them
    when any cell is."""
    if with_part:
        colorscale = [
            [0, MISSING],
            [1 / 3, MISSING],
            [1 / 3, PART_SUPPLIED],
            [2 / 3, PART_SUPPLIED],
            [2 / 3, SUPPLIED],
            [1, SUPPLIED],
        ]
        colorbar = dict(
            title=dict(text="Status"),
            tickvals=[1 / 6, 0.5, 5 / 6],
            ticktext=["missing", "part", "supplied"],
            len=0.4,
            y=0.8,
        )
    else:
        colorscale = [[0, MISSING], [0.5, MISSING], [0.5, SUPPLIED], [1, SUPPLIED]]
        colorbar = dict(
            title=dict(text="Status"), tickvals=[0.25, 0.75], ticktext=["missing", "supplied"], len=0.4, y=0.8
        )
    return colorscale, colorbar


def _period_axis(x_labels: list[str]) -> tuple[dict, int]:
    """The period axis's settings, and the height (pixels) its tick labels need: every label where
    they fit (about 70 px each, angled when more than 12), every nth otherwise."""
    shown = _every_nth(x_labels, 24)
    longest = max((len(t) for t in shown), default=0)
    angled = len(shown) > 12 or longest * len(shown) > 90
    axis = dict(
        tickangle=-45 if angled else 0,
        automargin=True,
        type="category",
        categoryorder="array",
        categoryarray=x_labels,
        tickmode="array",
        tickvals=shown,
        ticktext=shown,
    )
    return axis, (_angled_height(longest) if angled else 16)


def _every_nth(labels: list[str], most: int) -> list[str]:
    """At most `most` of the labels, evenly spaced, the first always among them."""
    step = max(1, math.ceil(len(labels) / most))
    return labels[::step]


def _counted(count: int, noun: str) -> str:
    """ "1 force-month", "2,520 force-months"."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")
