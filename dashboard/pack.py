"""A force pack: everything the dashboard shows for one force, to download in one click.

`force_pack_zip` gives a zip of one CSV per table (findings, each mix's categories and distance,
outcome ratios, coverage, reconciliation, rates per 1,000 residents) with a README.txt naming each
file; `force_report_html` gives a self-contained HTML report of the force's profile (plotly.js
inlined once, no external fetches) that a data lead can send to a colleague.

Both read through `dashboard.data` only, so they work in a Streamlit page and outside one (a test,
a script: set CROSSFORCE_DB).
"""

from __future__ import annotations

import html
import io
import json
import math
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime

import plotly.graph_objects as go
import plotly.offline
import polars as pl

from dashboard import charts, data

LICENCE = "Contains public sector information licensed under the Open Government Licence v3.0"
# As the sidebar says them (dashboard/app.py).
PEER_GROUP_WORDS = {
    "all": "All territorial forces",
    "region": "Forces of the same region",
    "nearest": "7 nearest by offence mix and population",
}
SPINE_NOTE = "Sources: data.police.uk and ONS, Open Government Licence v3.0. Analysis: crossforce."
FIGURE_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "toImageButtonOptions": {"format": "svg", "width": 1400, "scale": 1},
}


def window_words(window: str) -> str:
    return "Latest 12 months each source" if window == "standard" else f"Calendar year {window}"


def peer_group_words(peer_group: str) -> str:
    return PEER_GROUP_WORDS.get(peer_group, peer_group)


def file_name(force_id: str, peer_group: str = "all", window: str = "standard", ext: str = "zip") -> str:
    """What the download is called: `crossforce-kent-all-standard.zip`."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in f"{force_id}-{peer_group}-{window}")
    return f"crossforce-{safe}.{ext}"


# --- the tables ---------------------------------------------------------------------------------------


@dataclass
class Table:
    name: str  # the file's name in the zip
    description: str
    frame: pl.DataFrame


def _force_rows(frame: pl.DataFrame, force_id: str) -> pl.DataFrame:
    return frame.filter(pl.col("force_id") == force_id) if frame.height and "force_id" in frame.columns else frame


def _has_relation(name: str) -> bool:
    rows = data.cached("select count(*) as n from information_schema.tables where table_name = $name", name=name)
    return bool(rows["n"][0])


def force_findings(
    force_id: str, peer_group: str = "all", window: str = "standard"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(every force's findings, this force's findings) for the peer group and window, as the force
    profile reads them: every status, both kinds."""
    everyone = data.filtered_findings(peer_group, ranked_only=False, window=window)
    return everyone, data.force_profile(everyone, force_id)["own"]


def findings_table(own: pl.DataFrame) -> pl.DataFrame:
    """The force profile's table (data.FORCE_COLUMNS), then every raw column of the findings."""
    columns: tuple[str, ...] = (*data.FORCE_COLUMNS, "force")
    columns += tuple(c for c in own.columns if c not in columns)
    return data.for_display(own, columns)


def tables(force_id: str, peer_group: str = "all", window: str = "standard") -> list[Table]:
    """Every table of the pack, in the order the README lists them."""
    _, own = force_findings(force_id, peer_group, window)
    out = [
        Table(
            "findings.csv",
            f"Every finding of the force ({peer_group_words(peer_group)}; {window_words(window)}), "
            "ranked or not, with its status and why: the force profile's table, then every raw column.",
            findings_table(own),
        )
    ]
    for mix_id, label in data.mix_labels().items():
        out.append(
            Table(
                f"mix_{mix_id}_categories.csv",
                f"{label}: each category's share for the force and its peers (force excluded), "
                "and its term in the distance.",
                _force_rows(data.mix_categories(mix_id), force_id),
            )
        )
        out.append(
            Table(
                f"mix_{mix_id}_distance.csv",
                f"{label}: the force's Jensen–Shannon distance from its peers' mix, with what chance alone gives.",
                _force_rows(data.mix_distances(mix_id), force_id),
            )
        )
    out.append(
        Table(
            "outcome_ratios.csv",
            "Outcomes adjusted for case mix: observed ÷ expected, with 95% limits.",
            data.outcome_ratios(force_id),
        )
    )
    out.append(
        Table(
            "coverage.csv",
            "Which periods each source supplied for the force (coverage view).",
            data.cached("select * from coverage where force_id = $force_id order by source, period", force_id=force_id),
        )
    )
    groups = [data.reconciliation(force_id, group) for group in data.reconciliation_groups()]
    groups = [g for g in groups if g.columns]
    reconciliation = pl.concat(groups, how="diagonal_relaxed") if groups else pl.DataFrame()
    out.append(
        Table(
            "reconciliation.csv",
            "The same offences counted by each source, per reconciliation group and period.",
            reconciliation,
        )
    )
    if _has_relation("recorded_crime_rates"):
        out.append(
            Table(
                "rates_per_1000.csv",
                "Recorded crime per 1,000 residents, where a population estimate exists "
                "(recorded_crime_rates view; empty rate where none does).",
                data.cached(
                    "select * from recorded_crime_rates where force_id = $force_id "
                    "order by source, scheme, category, period",
                    force_id=force_id,
                ),
            )
        )
    return out


def _csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested values (lists, structs) as JSON text: CSV holds flat values only."""
    nested = [c for c, t in frame.schema.items() if t.is_nested()]
    if not nested:
        return frame
    return frame.with_columns(
        pl.col(c).map_elements(
            lambda v: json.dumps(v.to_list() if hasattr(v, "to_list") else v, default=str), return_dtype=pl.String
        )
        for c in nested
    )


def _csv(frame: pl.DataFrame) -> bytes:
    return _csv_ready(frame).write_csv().encode("utf-8")


def load_time() -> str:
    """When the database was loaded: the latest file the ingest log finished."""
    rows = data.cached("select max(finished_at) as loaded_at from ingest_log")
    value = rows["loaded_at"][0] if rows.height else None
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value is not None else "unknown"


def readme(force_id: str, peer_group: str, window: str, packed: list[Table]) -> str:
    name = data.force_names().get(force_id, force_id)
    lines = [
        f"crossforce force pack: {name} ({force_id})",
        "",
        f"Peer group: {peer_group_words(peer_group)} ({peer_group})",
        f"Window: {window_words(window)} ({window})",
        f"Database loaded: {load_time()} (latest file in the ingest log)",
        f"Pack made: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC",
        "",
        "Files (comma-separated, UTF-8, a header row; empty cells are missing values):",
    ]
    for table in packed:
        lines.append(f"- {table.name} ({data.counted(table.frame.height, 'row')}): {table.description}")
    lines += [
        "",
        "Shares are never computed across sources; each benchmark leaves the force itself out.",
        "Column meanings: see the dashboard's table help, or docs/ in the crossforce repository.",
        "",
        f"{LICENCE}.",
        "",
    ]
    return "\n".join(lines)


def force_pack_zip(force_id: str, peer_group: str = "all", window: str = "standard") -> bytes:
    """A zip of one CSV per table the dashboard shows for the force, and a README.txt naming each."""
    packed = tables(force_id, peer_group, window)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", readme(force_id, peer_group, window, packed))
        for table in packed:
            archive.writestr(table.name, _csv(table.frame))
    return buffer.getvalue()


# --- the HTML report --------------------------------------------------------------------------------------


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _pct(value, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f}%" if _finite(value) else "—"


def _signed(value, spec: str) -> str:
    return format(value, spec) if _finite(value) else "—"


def _figure_html(fig: go.Figure) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config=FIGURE_CONFIG, default_width="100%")


def values_rows(own: pl.DataFrame) -> list[dict]:
    """The values table beside the spine chart: one row per indicator, as words and numbers."""
    labels = data.indicator_labels()
    rows = []
    for r in own.sort("indicator_id").iter_rows(named=True):
        rows.append(
            {
                "indicator": labels.get(r["indicator_id"], r["indicator_id"]),
                "indicator_id": r["indicator_id"],
                "share": _pct(r.get("share")),
                "benchmark": _pct(r.get("benchmark")),
                "difference": _signed(r["difference"] * 100 if _finite(r.get("difference")) else None, "+.1f")
                + (" pp" if _finite(r.get("difference")) else ""),
                "z": _signed(r.get("z"), "+.2f"),
                "q_by": _signed(r.get("q_by"), ".1e"),
                "status": data.status_label(r["status"]) if r.get("status") else "—",
                "reason": r.get("status_reason") or "",
            }
        )
    return rows


def _sources_html(own: pl.DataFrame, mix_sources: set[str], has_outcomes: bool) -> str:
    used = set(own["source"].drop_nulls().to_list()) if own.height and "source" in own.columns else set()
    used |= mix_sources
    if has_outcomes:
        used |= {"police_uk_street", "police_uk_outcomes"}
    loaded = {r["source"]: r for r in data.sources_loaded().iter_rows(named=True)}
    items = []
    for source in sorted(used):
        span = ""
        row = loaded.get(source)
        if row and row.get("first_period") is not None and row.get("last_period") is not None:
            span = f" (loaded: {row['first_period']:%b %Y} to {row['last_period']:%b %Y})"
        items.append(
            f"<li>{html.escape(data.PUBLISHERS.get(source, source))} "
            f"<code>{html.escape(source)}</code>{html.escape(span)}</li>"
        )
    return "<ul>" + "".join(items) + "</ul>" if items else "<p>No source supplied data for this force.</p>"


STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; color: #222;
       max-width: 1400px; margin: 1.5rem auto; padding: 0 1rem; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } .meta { color: #555; margin-top: 0; }
.warning { background: #fff4e5; border-left: 4px solid #d55e00; padding: 0.6rem 0.9rem; }
table { border-collapse: collapse; font-size: 0.9rem; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.reason { color: #666; font-size: 0.85em; } footer { color: #555; font-size: 0.9rem; margin-top: 2rem; }
"""


def force_report_html(force_id: str, peer_group: str = "all", window: str = "standard") -> bytes:
    """A self-contained HTML report of the force's profile: its findings' values, sentences and charts."""
    names = data.force_names()
    name = names.get(force_id, force_id)
    everyone, own = force_findings(force_id, peer_group, window)
    profile = data.force_profile(everyone, force_id)
    labels = data.indicator_labels()
    esc = html.escape
    parts = [
        f"<h1>{esc(name)}: force profile</h1>",
        f'<p class="meta">Compared with: {esc(peer_group_words(peer_group))}. Window: {esc(window_words(window))}. '
        f"Database loaded {esc(load_time())}. Report made {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by crossforce.</p>",
    ]
    standing = data.comparability(force_id)
    if not standing["comparable_by_default"]:
        parts.append(f'<p class="warning">{esc(data.comparability_words(name, standing["comparability_note"]))}</p>')

    figures = []
    parts.append(f"<h2>{esc(name)} across every indicator</h2>")
    if own.height:
        figures.append(charts.spine_chart(own, everyone, name, SPINE_NOTE, labels))
        parts.append(_figure_html(figures[-1]))
        parts.append(
            "<h3>Values</h3><table><thead><tr><th>Indicator</th><th>Force share</th><th>Benchmark</th>"
            "<th>Difference</th><th>z</th><th>q (BY)</th><th>Status</th></tr></thead><tbody>"
        )
        for row in values_rows(own):
            reason = (
                f'<div class="reason">{esc(row["reason"])}</div>' if row["reason"] and row["status"] != "ranked" else ""
            )
            parts.append(
                f'<tr><td>{esc(row["indicator"])}</td><td class="num">{row["share"]}</td>'
                f'<td class="num">{row["benchmark"]}</td><td class="num">{esc(row["difference"])}</td>'
                f'<td class="num">{esc(row["z"])}</td><td class="num">{esc(row["q_by"])}</td>'
                f"<td>{esc(row['status'])}{reason}</td></tr>"
            )
        parts.append("</tbody></table>")
        ranked = profile["ranked"]
        parts.append(f"<h3>Ranked findings ({ranked.height})</h3>")
        if ranked.height:
            parts.append(
                "<ol>"
                + "".join(
                    f'<li value="{r["rank"]}">{esc(r["sentence"] or headline_or_id(r))}</li>'
                    for r in ranked.iter_rows(named=True)
                )
                + "</ol>"
            )
        else:
            parts.append(f"<p>No finding of {esc(name)} is ranked.</p>")
        supply = profile["supply"]
        if supply.height:
            parts.append(
                f"<h3>Data supply ({supply.height}, ranked apart)</h3><ul>"
                + "".join(f"<li>{esc(r['sentence'] or headline_or_id(r))}</li>" for r in supply.iter_rows(named=True))
                + "</ul>"
            )
    else:
        parts.append(f"<p>No findings for {esc(name)}.</p>")

    parts.append("<h2>Offence and outcome mix</h2>")
    mix_sources = set()
    drawn = 0
    for mix_id, label in data.mix_labels().items():
        cells = _force_rows(data.mix_categories(mix_id), force_id)
        if cells.height == 0:
            continue
        source = data.mix_sources()[mix_id]
        mix_sources.add(source)
        distance = _force_rows(data.mix_distances(mix_id), force_id)
        if distance.height:
            d = distance.row(0, named=True)
            parts.append(
                f"<p>{esc(label)}: Jensen–Shannon distance from the other forces' mix "
                f"<b>{_signed(d['distance'], '.3f')}</b> (chance alone gives about {_signed(d['null_median'], '.3f')}; "
                f"95% of draws under {_signed(d['null_q95'], '.3f')}).</p>"
            )
        figures.append(charts.mix_contributions(cells, label, name, data.source_note(source)))
        parts.append(_figure_html(figures[-1]))
        drawn += 1
    if not drawn:
        parts.append(f"<p>No offence or outcome mix for {esc(name)}.</p>")

    parts.append("<h2>Outcomes, adjusted for case mix</h2>")
    ratios = data.outcome_ratios(force_id)
    if ratios.height:
        figures.append(charts.outcome_ratio_plot(ratios, name, data.source_note("police_uk_street")))
        parts.append(_figure_html(figures[-1]))
    else:
        parts.append(f"<p>No police.uk outcomes for {esc(name)} in the standard window.</p>")

    parts.append("<h2>Sources and licence</h2>")
    parts.append(_sources_html(own, mix_sources, bool(ratios.height)))
    parts.append(
        f"<footer><p>{esc(LICENCE)}. Analysis: crossforce. Each benchmark leaves the force itself out; "
        "shares are never computed across sources.</p></footer>"
    )

    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(name)}: crossforce force profile</title><style>{STYLE}</style>"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script></head><body>'
        + "\n".join(parts)
        + "</body></html>\n"
    )
    return document.encode("utf-8")


def headline_or_id(row: dict) -> str:
    """A finding with no sentence: its headline (force, indicator, effect)."""
    try:
        return data.headline(row)
    except (KeyError, TypeError):
        return f"{row.get('force_id')}: {row.get('indicator_id')}"
