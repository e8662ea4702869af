"""The screens a finding must survive to be ranked, beside the statistics in `findings.compare`.

Exact arithmetic on the wrong comparison is the worst thing this tool can do, so a finding earns a
rank only when it survives every screen, and every finding that does not says why (`status`, and
the reasons in `status_reasons`). The screens here depend on other findings:

- **supply**: a force whose supply to a parent looks abnormal (a supply indicator above its limit,
  a category its feed never uses, a category that collapses against its own previous span) has the
  parent's classification findings marked `supply_suspect`;
- **witness**: another publication measuring the same concept (`witnesses.csv`) corroborates,
  contradicts or is inconclusive; a contradicted finding is not ranked;
- **benchmark coverage**: how many territorial forces a benchmark holds and their share of England
  and Wales recorded crime, said beside every benchmark.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import polars as pl

from pipelines.analysis.indicators import Indicator, witnesses
from pipelines.analysis.peers import force_names, not_comparable, territorial
from pipelines.analysis.windows import Window
from pipelines.periods import add_months

# Why a finding is not ranked, in the order the screens apply; "ranked" is a finding that survived them all.
STATUSES = (
    "ranked",
    "non_comparable",
    "incomplete",
    "not_a_share",
    "degenerate",
    "small_denominator",
    "no_benchmark",
    "supply_suspect",
    "contradicted",
)

# A category a feed never uses: zero crimes where the benchmark share predicts at least this many.
UNUSED_CATEGORY_EXPECTED = 20
# A category collapses against the force's own history when its share falls below this fraction of
# the share in the span just before the window while comparable forces' share moves by less than
# `PEERS_STEADY` either way.
COLLAPSE_FACTOR = 0.5
PEERS_STEADY = 1.25
COLLAPSE_MIN_COUNT = 20

SOURCE_NAMES = {
    "ons_pfa_tables": "ONS police force area tables",
    "ons_rec_crime_pfa": "ONS recorded crime by police force area",
    "ho_outcomes": "Home Office outcomes",
    "police_uk_street": "police.uk",
    "mps_borough_crime": "Metropolitan Police published counts",
    "police_uk_force_year": "police.uk by force and year",
}


def pct(value: float) -> str:
    return format(value, ".1%")


def _finite(value: float | None) -> bool:
    return value is not None and bool(np.isfinite(value))


# --- screens that depend on other findings ----------------------------------------------------------------


def screen(
    found: pl.DataFrame, history: pl.DataFrame, by_id: dict[str, Indicator]
) -> tuple[pl.DataFrame, list[list[str]]]:
    """`found` with the screens that depend on other findings applied to its `status`: abnormal
    supply to the parent (`supply_suspect`, classification findings only), then a contradicting
    witness (`contradicted`); and, per row, the reasons its force's supply to the parent looks abnormal."""
    screens = supply_screens(found, history, by_id)
    supply_reasons = [
        screens.get((by_id[r["indicator_id"]].source, by_id[r["indicator_id"]].parent, r["force_id"]), [])
        for r in found.iter_rows(named=True)
    ]
    status = [
        "supply_suspect"
        if r["status"] == "ranked" and r["indicator_kind"] == "classification" and reasons
        else "contradicted"
        if r["status"] == "ranked" and r["witness_status"] == "contradicts"
        else r["status"]
        for r, reasons in zip(found.iter_rows(named=True), supply_reasons)
    ]
    return found.with_columns(pl.Series("status", status, dtype=pl.String)), supply_reasons


def supply_screens(found: pl.DataFrame, history: pl.DataFrame, by_id: dict[str, Indicator]) -> dict[tuple, list[str]]:
    """Reasons that a force's supply to a parent is abnormal, keyed by (indicator source, parent, force_id).

    Three signs, each of a feed problem rather than a classification difference:
    - a supply indicator of the parent (pending, unavailable) lies above its 95% overdispersed limit;
    - a category of the parent has no crimes at all where comparable forces' share predicts at
      least `UNUSED_CATEGORY_EXPECTED` (a category the feed never uses);
    - a category's share collapses against the force's own previous span while
      comparable forces' share stays steady (`history`: the previous span's findings).
    """
    reasons: dict[tuple, list[str]] = {}
    for key, reason in [*feed_signs(found, by_id), *collapse_signs(found, history, by_id)]:
        reasons.setdefault(key, []).append(reason)
    return reasons


def feed_signs(found: pl.DataFrame, by_id: dict[str, Indicator]) -> Iterator[tuple[tuple, str]]:
    """(key, reason) for each supply indicator above its 95% overdispersed limit and each category
    the force's feed never uses (see `supply_screens`)."""
    names = force_names()
    for row in found.iter_rows(named=True):
        indicator = by_id[row["indicator_id"]]
        key = (indicator.source, indicator.parent, row["force_id"])
        name = names.get(row["force_id"], row["force_id"])
        if not _finite(row["benchmark"]):
            continue
        if indicator.kind == "supply":
            if _finite(row["limit95_od_upper"]) and row["share"] > row["limit95_od_upper"]:
                yield (
                    key,
                    (
                        f"{name} {indicator.sentence.format(share=pct(row['share']))}, against {pct(row['benchmark'])} "
                        "for comparable forces (above the 95% overdispersed limit)"
                    ),
                )
            continue
        expected = row["denominator"] * row["benchmark"]
        if row["numerator"] == 0 and expected >= UNUSED_CATEGORY_EXPECTED:
            yield (
                key,
                (
                    f"its feed has no '{'; '.join(indicator.numerator)}' at all, "
                    "where comparable forces' share predicts "
                    f"about {expected:,.0f}: a category the feed does not use"
                ),
            )


def collapse_signs(
    found: pl.DataFrame, history: pl.DataFrame, by_id: dict[str, Indicator]
) -> Iterator[tuple[tuple, str]]:
    """(key, reason) for each classification share that collapses against the force's own previous
    span (`history`) while comparable forces' share stays steady (see `supply_screens`)."""
    if history.height == 0:
        return
    before = {(r["indicator_id"], r["force_id"]): r for r in history.iter_rows(named=True)}
    for row in found.iter_rows(named=True):
        indicator = by_id[row["indicator_id"]]
        prior = before.get((row["indicator_id"], row["force_id"]))
        if indicator.kind != "classification" or prior is None or prior["periods_supplied"] < prior["periods_expected"]:
            continue
        if (
            not all(np.isfinite(v) for v in (prior["share"], prior["benchmark"], row["benchmark"]))
            or prior["benchmark"] == 0
        ):
            continue
        if max(prior["numerator"], row["numerator"]) < COLLAPSE_MIN_COUNT or prior["share"] == 0:
            continue
        own, peers = row["share"] / prior["share"], row["benchmark"] / prior["benchmark"]
        # Only a collapse: a feed that stops supplying a category loses it; a sudden rise is more
        # often a change in recording practice, which is what the findings are for.
        if own < COLLAPSE_FACTOR and 1 / PEERS_STEADY <= peers <= PEERS_STEADY:
            yield (
                (indicator.source, indicator.parent, row["force_id"]),
                (
                    f"its '{'; '.join(indicator.numerator)}' share fell "
                    f"from {pct(prior['share'])} to {pct(row['share'])} "
                    f"against its own previous span while comparable forces stayed near {pct(row['benchmark'])}"
                ),
            )


# --- witnesses -----------------------------------------------------------------------------------------------


def witness_status(row: dict, witness: dict) -> str:
    """`corroborates` (same direction, beyond the witness's own 95% limits), `contradicts` (opposite
    direction) or `inconclusive` (same direction, within its limits)."""
    own, other = row["difference"], witness["difference"]
    if own is None or other is None or not (np.isfinite(own) and np.isfinite(other)):
        return "inconclusive"
    if own * other < 0:
        return "contradicts"
    outside = witness["share"] > witness["limit95_od_upper"] or witness["share"] < witness["limit95_od_lower"]
    return "corroborates" if own * other > 0 and outside else "inconclusive"


def with_witnesses(result: pl.DataFrame, windows: dict[str, Window], by_id: dict[str, Indicator]) -> pl.DataFrame:
    """The other source's view of each finding that has a witness (`witnesses.csv`)."""
    rows = {(r["indicator_id"], r["force_id"]): r for r in result.iter_rows(named=True)}
    found: dict[str, list[object]] = {
        c: []
        for c in (
            "witness_indicator_id",
            "witness_label",
            "witness_share",
            "witness_benchmark",
            "witness_window_start",
            "witness_window_end",
            "witness_status",
        )
    }
    for row in result.iter_rows(named=True):
        chosen = None
        for witness_id, _ in witnesses().get(row["indicator_id"], []):
            other = rows.get((witness_id, row["force_id"]))
            if (
                other is not None
                and _finite(other["benchmark"])
                and other["status"] not in ("degenerate", "incomplete")
            ):
                chosen = other
                break
        if chosen is None or row["indicator_kind"] != "classification":
            for values in found.values():
                values.append(None)
            continue
        window = windows[by_id[chosen["indicator_id"]].source]
        found["witness_indicator_id"].append(chosen["indicator_id"])
        found["witness_label"].append(f"{SOURCE_NAMES.get(window.source, window.source)}, {window.label()}")
        found["witness_share"].append(chosen["share"])
        found["witness_benchmark"].append(chosen["benchmark"])
        found["witness_window_start"].append(chosen["window_start"])
        found["witness_window_end"].append(chosen["window_end"])
        found["witness_status"].append(witness_status(row, chosen))
    dtypes = {
        "witness_share": pl.Float64,
        "witness_benchmark": pl.Float64,
        "witness_window_start": pl.Date,
        "witness_window_end": pl.Date,
    }
    return result.with_columns(pl.Series(c, v, dtype=dtypes.get(c, pl.String)) for c, v in found.items())


# --- what a benchmark covers ------------------------------------------------------------------------------------


@dataclass
class CrimeTotals:
    """Recorded crime per territorial force in one ONS rolling year, to say what a benchmark covers."""

    by_force: dict[str, int]
    basis: str


def crime_totals(con: duckdb.DuckDBPyConnection) -> dict[date, CrimeTotals]:
    """Recorded crime (fraud excluded) per territorial force, per ONS rolling year loaded, keyed by
    the year's end; the ONS tables published latest win where two publish the same year."""
    rows = con.sql("""
        select r.source, r.period, r.force_id, cast(sum(r.offence_count) as bigint) as offences
        from recorded_crime as r join forces as f using (force_id)
        where r.source in ('ons_pfa_tables', 'ons_rec_crime_pfa') and r.period_grain = 'rolling_year'
          and r.scheme = 'ons_offence_group' and r.category <> 'Fraud offences' and f.is_territorial_ew
          and r.offence_count is not null
        group by all
        order by r.period, r.source desc
    """).fetchall()
    totals: dict[date, CrimeTotals] = {}
    for source, period, force, offences in rows:
        end = add_months(period, 12)
        entry = totals.setdefault(
            end, CrimeTotals({}, f"{SOURCE_NAMES[source]}, year ending {add_months(end, -1):%b %Y}")
        )
        entry.by_force.setdefault(force, int(offences))
    # A year some forces are missing from (a supply gap) is no measure of the whole.
    every_force = len(territorial())
    return {end: t for end, t in totals.items() if len(t.by_force) == every_force}


def benchmark_coverage(members: list[str], force_id: str, window: Window, totals: dict[date, CrimeTotals]) -> dict:
    """How many territorial forces a benchmark holds, their share of England and Wales recorded crime
    (from the ONS year ending nearest the window), and the largest forces missing from it."""
    forces = territorial()
    in_benchmark = set(members) & forces
    names = force_names()
    result: dict[str, object] = {
        "benchmark_forces": len(in_benchmark),
        "benchmark_crime_share": None,
        "benchmark_missing": None,
    }
    missing = sorted(forces - in_benchmark - {force_id})
    words = f"{len(in_benchmark)} of the {len(forces) - (force_id in forces)} other territorial forces"
    if totals:
        nearest = min(totals, key=lambda end: abs((end - window.end).days))
        t = totals[nearest]
        whole = sum(t.by_force.values())
        share = sum(t.by_force.get(f, 0) for f in in_benchmark) / whole
        missing.sort(key=lambda f: -t.by_force.get(f, 0))
        result["benchmark_crime_share"] = share
        words += f", holding {share:.0%} of England and Wales recorded crime ({t.basis})"
    if missing:
        largest = [names.get(f, f) for f in missing[:4]]
        result["benchmark_missing"] = ", ".join(largest)
        words += f"; largest missing: {', '.join(largest)}" + (
            f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        )
    result["benchmark_coverage"] = words
    return result


def with_coverage(
    result: pl.DataFrame, windows: dict[str, Window], by_id: dict[str, Indicator], totals: dict[date, CrimeTotals]
) -> pl.DataFrame:
    """`result` (with `benchmark_members`) with what each finding's benchmark covers (`benchmark_coverage`)."""
    coverage = [
        benchmark_coverage(r["benchmark_members"], r["force_id"], windows[by_id[r["indicator_id"]].source], totals)
        for r in result.iter_rows(named=True)
    ]
    return result.with_columns(
        pl.Series("benchmark_forces", [c["benchmark_forces"] for c in coverage], dtype=pl.Int32),
        pl.Series("benchmark_crime_share", [c["benchmark_crime_share"] for c in coverage], dtype=pl.Float64),
        pl.Series("benchmark_missing", [c["benchmark_missing"] for c in coverage], dtype=pl.String),
        pl.Series("benchmark_coverage", [c["benchmark_coverage"] for c in coverage], dtype=pl.String),
    )


# --- why a finding is not ranked --------------------------------------------------------------------------------


def status_reasons(row: dict, indicator: Indicator, supply: list[str]) -> list[str]:
    """Why the finding is not ranked, in words (nothing for a ranked one); `supply`: the reasons its
    force's supply to the parent looks abnormal."""
    status = row["status"]
    if status == "non_comparable":
        return [f"not comparable by default ({not_comparable().get(row['force_id'], '')}); include it to rank it"]
    if status == "incomplete":
        return [
            f"it supplied {row['periods_supplied']} of the window's {row['periods_expected']} periods, and forces are "
            "compared only on the same periods"
        ]
    if status == "not_a_share":
        return [
            f"its published counts net to {row['numerator']:,} of {row['denominator']:,}, which is no share of the "
            "parent, so it is not tested (a negative count is a published adjustment)"
        ]
    if status == "degenerate":
        return ["every compared count is zero or the category is the whole parent, so the indicator is not tested"]
    if status == "small_denominator":
        return [f"its denominator {row['denominator']:,} is under {indicator.min_denominator:,}"]
    if status == "no_benchmark":
        return ["no comparable force supplied data"]
    if status == "supply_suspect":
        return ["its supply looks abnormal: " + "; ".join(supply)]
    if status == "contradicted":
        return [
            f"{row['witness_label']} shows {pct(row['witness_share'])} against {pct(row['witness_benchmark'])}, the "
            "opposite direction: two sources disagreeing points at the feed, not at how the force classifies"
        ]
    return []
