"""What the charts of divergence findings share: a finding's standing in words (ranked, or why not),
its marker (filled when ranked, hollow when not), its position's colour, and the ring and legend
entry that mark the chosen force."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import plotly.graph_objects as go
import polars as pl

from dashboard.charts.layout import _wrap
from dashboard.charts.palette import INK, POSITION_COLOURS, WITHIN, WITHIN_POSITION
from dashboard.charts.words import _missing, _name

# Marker shapes: a finding that is ranked is filled, one shown but not ranked (see `status`) is hollow.
RANKED_SYMBOL = "circle"
NOT_RANKED_SYMBOL = "circle-open"

HIGHLIGHT_NAME = "Chosen force"


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


def _positions_present(rows: pl.DataFrame) -> list[tuple[str, str]]:
    """(position, colour) for each position in the rows, known positions first in their fixed order."""
    present = rows["position"].fill_null(WITHIN_POSITION).unique().to_list()
    known = [(p, c) for p, c in POSITION_COLOURS.items() if p in present]
    return known + [(p, WITHIN) for p in sorted(present) if p not in POSITION_COLOURS]


def _by_position(rows: pl.DataFrame) -> Iterator[tuple[str, str, pl.DataFrame]]:
    """Each position in the rows (`_positions_present`) with its colour and its rows, ranked ones
    first: the legend draws a trace's marker as its first point's."""
    for position, colour in _positions_present(rows):
        yield (
            position,
            colour,
            rows.filter(pl.col("position") == position).sort(pl.col("status") != "ranked", maintain_order=True),
        )


def _position_style(position: str, colour: str, statuses: pl.Series, size: int) -> dict:
    """One position's trace: named by the position in the legend, its points in the position's
    colour, filled when ranked and hollow when not (`statuses`)."""
    return dict(
        name=_wrap(position[:1].upper() + position[1:], 30),
        marker=dict(
            color=colour,
            size=size,
            line=dict(color=colour, width=1.5),
            symbol=[RANKED_SYMBOL if _is_ranked(s) else NOT_RANKED_SYMBOL for s in statuses],
        ),
    )


def _standing_data(row: Mapping, status_labels: Mapping[str, str] | None) -> list[str]:
    """The end of a finding's hover data: its position, where it stands (`_standing`) and what its
    benchmark covers."""
    return [
        row["position"],
        _standing(row, status_labels=status_labels),
        _wrap(row.get("benchmark_coverage") or "—", 70),
    ]


def _named_rows(findings: pl.DataFrame, names: Mapping[str, str] | None) -> pl.DataFrame:
    """The findings that have a share, each with its force's name (`_name`) and a position (within the
    limits when it has none): the rows of the charts with one bar or point per force."""
    return findings.filter(pl.col("share").is_not_null()).with_columns(
        pl.col("force_id").map_elements(lambda f: _name(f, names), return_dtype=pl.String).alias("_name"),
        pl.col("position").fill_null(WITHIN_POSITION),
    )


def _highlight_point(
    fig: go.Figure,
    rows: pl.DataFrame,
    highlight: str | None,
    names: Mapping[str, str] | None,
    x: str,
    y: str,
    hover: str,
    label_on_axis: bool = False,
) -> None:
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
    fig.add_trace(
        go.Scatter(
            # Its own trace, not one of the position traces: "lines+markers+text" (one point, so no line is
            # drawn) keeps it apart from the forces' points (mode "markers+text") for anyone reading the figure.
            x=xs,
            y=ys,
            mode="lines+markers" if label_on_axis else "lines+markers+text",
            line=dict(width=0, color=INK),
            name=_wrap(f"{HIGHLIGHT_NAME}: {name}", 30),
            text=[name] * own.height,
            textposition="middle right",
            texttemplate="  <b>%{text}</b>",
            textfont=dict(size=12.5, color=INK),
            marker=dict(symbol="circle-open", size=20, color=INK, line=dict(width=3, color=INK)),
            hovertemplate=hover,
            legendrank=0,
        )
    )
