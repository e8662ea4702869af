"""The divergence engine: where, and how far, each force's classification departs from its peers.

For every indicator (a category's share of its parent, defined as data in
`pipelines/reference/indicators.csv`), every force and a period window, it measures the force's
share against the pooled share of its peers *without the force itself*, places it on a funnel plot
with plain binomial and overdispersion-adjusted limits (Spiegelhalter 2005), and controls the false
discovery rate across every force × indicator compared together. Alongside it: offence-mix
divergence (Jensen–Shannon, calibrated by multinomial draws), chi-square homogeneity with adjusted
residuals, case-mix adjusted outcome ratios (indirect standardisation) and breaks over time tested
at registered events and searched for elsewhere.

The statistics themselves live in `pipelines.analysis.stats`; this module chooses the data, the windows and
the peers, applies the data-quality guards and writes the findings.

Guards:
- a force-month a source lacks is left out of the window, and the finding says how many months the
  force supplied (never read as zero);
- a denominator under the indicator's `min_denominator` is shown but not ranked;
- a window never spans a national counting-rule change: it starts after the latest one inside it;
- only territorial forces of England and Wales are compared, unless a peer group names others.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from string import Formatter

import duckdb
import numpy as np
import polars as pl

from pipelines import reference, schema
from pipelines.analysis import stats
from pipelines.periods import add_months, month_index

LEVELS = {"95%": 0.95, "99.8%": 0.998}
# The model whose limits and z decide significance and ranking: with tens of thousands of crimes per
# force almost every difference is "significant" under the binomial, so between-force variation
# (additive random effects, tau^2) is part of the yardstick.
SIGNIFICANCE_MODEL = "additive"
# A window covers the latest twelve months (or the latest period of a coarser source) ending at the
# latest period that at least half of the territorial forces supplied.
WINDOW_MONTHS = {"month": 12, "quarter": 12, "rolling_year": 12, "financial_year": 12, "calendar_year": 12}


@dataclass(frozen=True)
class Indicator:
    indicator_id: str
    label: str
    source: str
    measure: str  # "offences" (recorded_crime) or "outcomes" (crime_outcomes)
    numerator_scheme: str
    numerator: tuple[str, ...]
    denominator_scheme: str
    denominator: str  # "*" every category of the scheme, "*-A;B" all but those, or "A;B"
    min_denominator: int
    sentence: str
    # "classification": how a force classifies or closes crimes; "supply": what its feed leaves out or
    # has not settled (pending, unavailable). The two are ranked in separate lists and families.
    kind: str = "classification"
    # The parent population the indicator is a share of (for a supply indicator: the parent it
    # screens); findings of one force and parent share their supply screens.
    parent: str = ""
    # Outcomes only: the offences whose outcomes are counted, as a scheme and categories of
    # `crime_outcomes` (a source may write the same outcomes under several offence schemes, so the
    # scheme is always named in the indicator file), and the count basis.
    offence_scheme: str = ""
    offences: str = "*"
    count_basis: str = "offences_recorded_in_period"


INDICATOR_KINDS = ("classification", "supply")
# Columns an outcomes indicator may count by: only these names ever reach SQL as identifiers.
OUTCOME_SCHEMES = ("outcome", "outcome_group")


# What an indicator or mix file may say. Every value from such a file reaches SQL only as a bound
# parameter or, for an outcome scheme (a column name), after matching OUTCOME_SCHEMES; these checks
# also make a mistyped (or hostile) value an error naming its file and line rather than an empty
# count. A scheme or source is a name; categories are checked against the reference data's
# vocabulary where it has one for the scheme.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_INDICATOR_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,99}$")
INDICATOR_COLUMNS = ("indicator_id", "label", "source", "measure", "numerator_scheme", "numerator", "denominator_scheme",
                     "denominator", "min_denominator", "sentence", "kind", "parent")
# Columns for outcomes indicators: empty for an offences indicator, required for an outcomes one.
OUTCOME_INDICATOR_COLUMNS = ("offence_scheme", "offences", "count_basis")
# The two count bases of the Home Office outcomes tables (see docs/home_office_tables.md).
COUNT_BASES = ("offences_recorded_in_period", "outcomes_in_period")


@cache
def category_vocabularies() -> dict[str, frozenset[str]]:
    """scheme → every category the reference data knows in it (police.uk crime types, ONS offence
    groups and subgroups, outcome groups, outcomes). Schemes not here have no vocabulary to check."""
    labels = reference.ons_offence_labels()
    hierarchy = reference.offence_hierarchy()
    known: dict[str, set[str]] = {
        "police_uk": set(reference.police_uk_crime_types()["crime_type"]),
        "ons_offence_group": set(labels["ons_offence_group"].drop_nulls()) | set(hierarchy["offence_group"].drop_nulls()),
        "ons_offence_subgroup": set(labels["ons_offence_subgroup"].drop_nulls()) | set(hierarchy["offence_subgroup"].drop_nulls()),
        "outcome_group": set(reference.outcome_groups()["outcome_group"]),
        "outcome": set(reference.police_uk_outcomes()["outcome_label"]) | {str(t) for t in reference.ho_outcome_types()["outcome_type"]},
    }
    with (reference.REFERENCE_DIR / "reconciliation_groups.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            known.setdefault(row["scheme"], set()).add(row["category"])
    return {scheme: frozenset(categories) for scheme, categories in known.items()}


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_categories(where: str, field_name: str, scheme: str, spec: str) -> None:
    """Refuse (ValueError naming `where`) a category spec (`*`, `*-A;B` or `A;B`) naming a category
    its scheme's vocabulary lacks, or any category that is empty or holds control characters."""
    if spec == "*":
        return
    categories = (spec[2:] if spec.startswith("*-") else spec).split(";")
    vocabulary = category_vocabularies().get(scheme)
    for category in categories:
        if not category.strip() or any(ord(c) < 32 for c in category) or len(category) > 200:
            raise ValueError(f"{where}: {field_name} holds an empty or malformed category {_shown(category)}: "
                             f"categories are separated by ';' (`*` all, `*-A;B` all but those)")
        if vocabulary is not None and category not in vocabulary:
            raise ValueError(f"{where}: {field_name}: {_shown(category)} is not a {scheme} category; "
                             f"known: {', '.join(sorted(vocabulary))}")


def _check_scheme(where: str, what: str, field_name: str, measure: str, scheme: str) -> None:
    if measure == "outcomes":
        if scheme not in OUTCOME_SCHEMES:
            raise ValueError(f"{where}: an outcomes {what} counts by {' or '.join(OUTCOME_SCHEMES)}, "
                             f"not {field_name} {_shown(scheme)}")
    elif not _NAME.match(scheme):
        raise ValueError(f"{where}: {field_name} is a scheme name (lower-case letters, digits and _, such as "
                         f"{', '.join(sorted(category_vocabularies()))}), not {_shown(scheme)}")


def _check_sentence(where: str, sentence: str) -> None:
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in Formatter().parse(sentence) if name is not None]
    except ValueError as exc:
        raise ValueError(f"{where}: sentence does not read as text with {{share}} in it ({exc})") from None
    if any((name, spec, conversion) != ("share", "", None) for name, spec, conversion in fields):
        raise ValueError(f"{where}: sentence may hold only the placeholder {{share}}; got {_shown(sentence)}")


def load_indicators(path: Path | None = None) -> list[Indicator]:
    """The standard indicators, or those in `path` (same columns): users add indicators as data.
    Every value is checked (see `category_vocabularies`) before any SQL sees it: a ValueError names
    the file, the line and what is wrong."""
    path = path or reference.REFERENCE_DIR / "indicators.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in INDICATOR_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: line 1: the header lacks {', '.join(missing)}; the columns are {', '.join(INDICATOR_COLUMNS)}")
        rows = list(reader)
    found = []
    for line, row in enumerate(rows, start=2):
        row = {k: (v or "") for k, v in row.items() if k is not None}
        where = f"{path}, line {line}, indicator {_shown(row.get('indicator_id'))}"
        if not _INDICATOR_ID.match(row["indicator_id"]):
            raise ValueError(f"{where}: indicator_id is lower-case letters, digits, _ and -")
        if not _NAME.match(row["source"]):
            raise ValueError(f"{where}: source is a source name (lower-case letters, digits and _), not {_shown(row['source'])}")
        if row["measure"] not in ("offences", "outcomes"):
            raise ValueError(f"{where}: measure must be 'offences' or 'outcomes', not {_shown(row['measure'])}")
        for field_name in ("numerator_scheme", "denominator_scheme"):
            _check_scheme(where, "indicator", field_name, row["measure"], row[field_name])
        check_categories(where, "numerator", row["numerator_scheme"], row["numerator"])
        check_categories(where, "denominator", row["denominator_scheme"], row["denominator"])
        kind = row.get("kind") or ""
        if kind not in INDICATOR_KINDS:
            raise ValueError(f"{where}: kind must be one of {', '.join(INDICATOR_KINDS)}, not {_shown(kind)}")
        if not row.get("parent"):
            raise ValueError(f"{where}: parent is empty: name the population the share is taken of")
        if not row["min_denominator"].isdigit():
            raise ValueError(f"{where}: min_denominator is a whole number, not {_shown(row['min_denominator'])}")
        _check_sentence(where, row["sentence"])
        outcome_fields = _outcome_fields(where, row)
        found.append(Indicator(
            indicator_id=row["indicator_id"], label=row["label"], source=row["source"], measure=row["measure"],
            numerator_scheme=row["numerator_scheme"], numerator=tuple(row["numerator"].split(";")),
            denominator_scheme=row["denominator_scheme"], denominator=row["denominator"],
            min_denominator=int(row["min_denominator"]), sentence=row["sentence"], kind=kind, parent=row["parent"],
            **outcome_fields,
        ))
    return found


def _outcome_fields(where: str, row: dict[str, str]) -> dict[str, str]:
    """The offence scheme, offences and count basis of an outcomes indicator, checked; nothing for an
    offences indicator (which must leave them empty)."""
    given = {c: row.get(c, "") for c in OUTCOME_INDICATOR_COLUMNS}
    if row["measure"] != "outcomes":
        if any(given.values()):
            raise ValueError(f"{where}: {', '.join(OUTCOME_INDICATOR_COLUMNS)} are for outcomes indicators; leave them empty")
        return {}
    if not _NAME.match(given["offence_scheme"]):
        raise ValueError(f"{where}: offence_scheme names the offence scheme whose outcomes are counted (such as police_uk "
                         f"or ons_offence_subgroup), not {_shown(given['offence_scheme'])}: a source may write the same "
                         "outcomes under several schemes, so it is never assumed")
    offences = given["offences"] or "*"
    check_categories(where, "offences", given["offence_scheme"], offences)
    if given["count_basis"] not in COUNT_BASES:
        raise ValueError(f"{where}: count_basis must be one of {', '.join(COUNT_BASES)}, not {_shown(given['count_basis'])}")
    return {"offence_scheme": given["offence_scheme"], "offences": offences, "count_basis": given["count_basis"]}


@cache
def witnesses() -> dict[str, list[tuple[str, str]]]:
    """indicator_id → [(witness indicator_id, what links them)], in order of preference: the same
    concept measured in another publication (`pipelines/reference/witnesses.csv`)."""
    found: dict[str, list[tuple[str, str]]] = {}
    with (reference.REFERENCE_DIR / "witnesses.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            found.setdefault(row["indicator_id"], []).append((row["witness_indicator_id"], row["note"]))
    return found


@dataclass
class Window:
    source: str
    start: date
    end: date  # exclusive
    period_grain: str
    periods_expected: int
    notes: list[str] = field(default_factory=list)

    @property
    def is_single_period(self) -> bool:
        """A window of one rolling or financial year is that period, never a sum of overlapping ones."""
        step = _months(self.period_grain)
        return step >= 12 and month_index(self.end) - month_index(self.start) == step

    def label(self) -> str:
        if self.is_single_period:
            return f"year ending {add_months(self.end, -1):%b %Y}"
        last = add_months(self.end, -_months(self.period_grain))
        return f"{self.start:%b %Y}" if last == self.start else f"{self.start:%b %Y} to {add_months(self.end, -1):%b %Y}"


def _months(grain: str) -> int:
    return schema.PERIOD_GRAIN_MONTHS[grain]


def _period_condition(window: Window) -> tuple[str, dict]:
    """SQL selecting the window's periods at its grain (a one-year window selects exactly that year)."""
    params = {"start": window.start, "grain": window.period_grain}
    if window.is_single_period:
        return "period = $start and period_grain = $grain", params
    return "period >= $start and period < $end and period_grain = $grain", {**params, "end": window.end}


# A window is the longest span, up to twelve months, that nearly as many forces supplied in full as
# supplied its last period: a longer span supplied by a few forces would compare them on other months.
FULL_SUPPLY_SHARE = 0.9


def _supplied_periods(con: duckdb.DuckDBPyConnection, source: str) -> pl.DataFrame:
    """(force_id, period, period_grain) every territorial force supplied to the source."""
    return con.sql("""
        select distinct c.force_id, c.period, c.period_grain
        from recorded_crime as c join forces as f using (force_id)
        where c.source = $source and f.is_territorial_ew
        union
        select distinct o.force_id, o.period, o.period_grain
        from crime_outcomes as o join forces as f using (force_id)
        where o.source = $source and f.is_territorial_ew
    """, params={"source": source}).pl()


def standard_window(con: duckdb.DuckDBPyConnection, source: str) -> Window | None:
    """The source's standard window: the latest span that most territorial forces supplied in full."""
    supplied = _supplied_periods(con, source)
    if supplied.height == 0:
        return None
    rows = supplied.group_by("period", "period_grain").agg(pl.col("force_id").n_unique().alias("forces"))
    well_supplied = rows.filter(pl.col("forces") >= 22).sort("period")
    if well_supplied.height == 0:
        well_supplied = rows.sort("forces", "period")
    grain = well_supplied.row(-1)[1]
    step = _months(grain)
    changes = con.sql("""
        select event_date, event from breaks
        where scope = 'national' and kind = 'counting_rule_change' order by event_date
    """).fetchall()

    def changes_inside(start: date, end: date) -> list[tuple[date, str]]:
        return [(d, e) for d, e in changes if start < d < end]

    if step >= 12:
        # A rolling year cannot be cut short: take the latest one that no national counting-rule
        # change falls inside, or, if every one does, the latest with a note saying so.
        candidates = list(reversed(well_supplied.filter(pl.col("period_grain") == grain)["period"].to_list()))
        clean = [p for p in candidates if not changes_inside(p, add_months(p, step))]
        chosen = clean[0] if clean else candidates[0]
        window = Window(source, chosen, add_months(chosen, step), grain, periods_expected=1)
        if chosen != candidates[0]:
            window.notes.append("the latest rolling year without a counting-rule change inside it")
        for _, event in changes_inside(window.start, window.end):
            window.notes.append(f"this rolling year spans a counting-rule change: {event}")
        return window

    last = well_supplied.row(-1)[0]
    first = rows.filter(pl.col("period_grain") == grain)["period"].min()
    end = add_months(last, step)
    # Never before the source's first period, and never across a national counting-rule change.
    earliest = max(add_months(end, -WINDOW_MONTHS[grain]), first)
    inside = changes_inside(earliest, end)
    if inside:
        event_date = inside[-1][0]
        earliest = max(earliest, add_months(date(event_date.year, event_date.month, 1), 0 if event_date.day == 1 else 1))
    by_force = supplied.filter(pl.col("period_grain") == grain).group_by("force_id").agg(pl.col("period"))
    periods_of = {force: set(periods) for force, periods in by_force.iter_rows()}

    def full_supply(start: date) -> int:
        span = {add_months(start, i * step) for i in range((month_index(end) - month_index(start)) // step)}
        return sum(span <= periods for periods in periods_of.values())

    at_last = full_supply(last)
    start = last
    while add_months(start, -step) >= earliest and full_supply(add_months(start, -step)) >= FULL_SUPPLY_SHARE * at_last:
        start = add_months(start, -step)
    window = Window(source, start, end, grain, periods_expected=(month_index(end) - month_index(start)) // step)
    longer = add_months(start, -step)
    reason = (f"{full_supply(start)} territorial forces supplied every {grain} of it")
    if longer >= earliest:
        reason += f"; only {full_supply(longer)} supplied {longer:%b %Y} as well, so the window starts at {start:%b %Y}"
    window.notes.append(f"window {window.label()}: the latest span most forces supplied in full ({reason})")
    if inside and start <= add_months(date(inside[-1][0].year, inside[-1][0].month, 1), 1):
        window.notes.append(f"it starts after a counting-rule change: {inside[-1][1]}")
    return window


def windows_between(con: duckdb.DuckDBPyConnection, start: str | None, end: str | None) -> dict[str, Window] | None:
    """Windows from month `start` to month `end` (YYYY-MM, inclusive) for every source, or None for
    the standard windows. A rolling-year source gets exactly the one rolling year ending with `end`
    (the year ending December Y for a calendar year), never a sum of overlapping years."""
    if not start and not end:
        return None
    windows = {}
    for (source,) in con.sql("select distinct source from recorded_crime union select distinct source from crime_outcomes").fetchall():
        standard = standard_window(con, source)
        if standard is None:
            continue
        step = _months(standard.period_grain)
        last = date.fromisoformat(f"{end}-01") if end else add_months(standard.end, -1)
        if step >= 12:
            first = add_months(last, 1 - step)
            window = Window(source, first, add_months(first, step), standard.period_grain, 1)
            window.notes.append(f"the {window.label()}, as chosen")
            windows[source] = window
            continue
        first = date.fromisoformat(f"{start}-01") if start else standard.start
        # The window ends with the month `end` names: a quarter starting after it is outside it (the
        # year to December holds the quarters starting January to October, not next January's).
        stop = add_months(last, 1)
        window = Window(source, first, stop, standard.period_grain, max(1, (month_index(stop) - month_index(first)) // step))
        window.notes.append(f"window {window.label()}, as chosen")
        windows[source] = window
    return windows




def _category_filter(column: str, spec: str, prefix: str) -> tuple[str, dict]:
    """SQL condition selecting the categories `spec` names, with its parameters."""
    if spec == "*":
        return "true", {}
    if spec.startswith("*-"):
        return f"{column} <> all(${prefix})", {prefix: spec[2:].split(";")}
    return f"{column} = any(${prefix})", {prefix: spec.split(";")}


def indicator_counts(con: duckdb.DuckDBPyConnection, indicator: Indicator, window: Window, by_period: bool = False,
                     by_release: bool = False, cache: dict | None = None) -> pl.DataFrame:
    """Numerator, denominator and periods supplied per force in the window (forces with no data are
    absent), or per force and period when `by_period`. With `by_release` (offences only) every
    release of the counts is read (`recorded_crime_releases`), and `release_date` leads the keys.

    The source's counts for the window are read once into `cache` (pass the same dict for many
    indicators: the engine computes well over a hundred on a few sources) and each indicator is
    summed from them."""
    if by_release and indicator.measure != "offences":
        raise ValueError(f"{indicator.indicator_id}: only offence counts are kept per release")
    rows = _window_counts(con, indicator, window, by_release, {} if cache is None else cache)
    if indicator.measure == "offences":
        numerator = (pl.col("scheme") == indicator.numerator_scheme) & _selects("category", ";".join(indicator.numerator))
        denominator = (pl.col("scheme") == indicator.denominator_scheme) & _selects("category", indicator.denominator)
    else:
        if indicator.offence_scheme:
            rows = rows.filter(_selects("category", indicator.offences))
        numerator = _selects(indicator.numerator_scheme, ";".join(indicator.numerator))
        denominator = _selects(indicator.denominator_scheme, indicator.denominator)
    keys = ["force_id", "period"] if by_period else ["force_id"]
    keys = ["release_date", *keys] if by_release else keys
    return rows.group_by(keys).agg(
        pl.col("n").filter(numerator).sum().cast(pl.Int64).alias("numerator"),
        pl.col("n").filter(denominator).sum().cast(pl.Int64).alias("denominator"),
        pl.col("period").n_unique().cast(pl.Int32).alias("periods_supplied"),
    )


def _selects(column: str, spec: str) -> pl.Expr:
    """Rows whose `column` is among the categories `spec` names (`*` all, `*-A;B` all but those,
    `A;B` those): an empty category is in `*` only, as SQL's `<> all` and `= any` leave it out."""
    if spec == "*":
        return pl.lit(True)
    if spec.startswith("*-"):
        return pl.col(column).is_not_null() & ~pl.col(column).is_in(spec[2:].split(";"))
    return pl.col(column).is_in(spec.split(";")).fill_null(False)


def _window_counts(con: duckdb.DuckDBPyConnection, indicator: Indicator, window: Window, by_release: bool,
                   cache: dict) -> pl.DataFrame:
    """The counts of the indicator's source in the window, summed by force, period and category (and
    release, or outcome, offence scheme and count basis), read from the database once per `cache`."""
    periods, params = _period_condition(window)
    params = {**params, "source": indicator.source}
    if indicator.measure == "offences":
        key = ("offences", indicator.source, window.start, window.end, window.period_grain, window.is_single_period, by_release)
        release = "release_date, " if by_release else ""
        sql = f"""
            select {release}force_id, period, scheme, category, cast(sum(offence_count) as bigint) as n
            from {"recorded_crime_releases" if by_release else "recorded_crime"}
            where source = $source and {periods}
            group by all
        """
    else:
        key = ("outcomes", indicator.source, window.start, window.end, window.period_grain, window.is_single_period,
               indicator.count_basis, indicator.offence_scheme)
        scheme = " and scheme = $offence_scheme" if indicator.offence_scheme else ""
        params |= {"count_basis": indicator.count_basis} | ({"offence_scheme": indicator.offence_scheme} if scheme else {})
        sql = f"""
            select force_id, period, category, outcome, outcome_group, cast(sum(outcome_count) as bigint) as n
            from crime_outcomes
            where source = $source and {periods} and outcome is not null and count_basis = $count_basis{scheme}
            group by all
        """
    if key not in cache:
        cache[key] = con.sql(sql, params=params).pl()
    return cache[key]


@cache
def _force_names() -> dict[str, str]:
    forces = reference.forces()
    return dict(zip(forces["force_id"], forces["short_name"]))


@cache
def _territorial() -> frozenset[str]:
    forces = reference.forces()
    return frozenset(forces.filter(pl.col("is_territorial_ew"))["force_id"])


def _not_comparable() -> dict[str, str]:
    """Areas left out of rankings and benchmarks by default, with the reason."""
    forces = reference.forces().filter(~pl.col("comparable_by_default"))
    return dict(zip(forces["force_id"], forces["comparability_note"]))


# Why a finding is not ranked, in the order the screens apply; "ranked" is a finding that survived them all.
STATUSES = ("ranked", "non_comparable", "incomplete", "not_a_share", "degenerate", "small_denominator", "no_benchmark",
            "supply_suspect", "contradicted")
# A finding is significant when its Benjamini–Yekutieli q-value is under this: shares within one
# parent are dependent, and BY controls the false discovery rate under any dependence.
SIGNIFICANCE_Q = 0.05


def compare(counts: pl.DataFrame, indicator: Indicator, window: Window, peers: dict[str, list[str]] | None = None,
            peer_group: str = "all", include: frozenset[str] = frozenset()) -> pl.DataFrame:
    """One finding per force: share, Wilson interval, benchmark of its peers without itself, funnel limits
    (binomial and overdispersed), z, p and a status. `peers` maps a force to its peer forces; None means
    every other force. Only forces that are comparable by default (or in `include`) and supplied every
    period of the window enter a benchmark or the overdispersion fit; the others are shown with their
    numbers and a status saying why they are not ranked. q-values are added later, per family."""
    counts = counts.filter(pl.col("denominator") > 0).sort("force_id")
    if counts.height < 3:
        return pl.DataFrame()
    forces = counts["force_id"].to_list()
    x = counts["numerator"].to_numpy().astype(float)
    n = counts["denominator"].to_numpy().astype(float)
    not_comparable = _not_comparable()
    comparable = np.array([f not in not_comparable or f in include for f in forces])
    complete = counts["periods_supplied"].to_numpy() >= window.periods_expected
    # Published counts can net to a negative number (the Home Office outcomes' "not yet assigned"
    # does, where outcomes outrun the offences of a quarter): such a numerator is no share of its parent.
    proportion = (x >= 0) & (x <= n)
    pooled = comparable & complete & proportion
    large = n >= indicator.min_denominator
    fitted = pooled & large
    fit = stats.funnel(x[fitted], n[fitted]) if fitted.sum() >= 3 else stats.funnel(x[pooled], n[pooled]) if pooled.sum() >= 3 else None
    if peers is None:
        pool_x, pool_n = x[pooled].sum(), n[pooled].sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            target = (pool_x - np.where(pooled, x, 0)) / (pool_n - np.where(pooled, n, 0))
        members = [[f for f, p in zip(forces, pooled) if p and f != force] for force in forces]
    else:
        index = {f: i for i, f in enumerate(forces)}
        target = np.full(len(forces), np.nan)
        members = []
        for i, force in enumerate(forces):
            others = [index[p] for p in peers.get(force, []) if p in index and p != force and pooled[index[p]]]
            members.append([forces[j] for j in others])
            if others and n[others].sum() > 0:
                target[i] = x[others].sum() / n[others].sum()
    # Degenerate: every compared count is zero, or the category is the whole parent; nothing to test.
    degenerate = pooled.sum() == 0 or x[pooled].sum() == 0 or bool(np.all(x[pooled] == n[pooled]))
    status = np.full(len(forces), "ranked", dtype=object)
    status[~large] = "small_denominator"
    status[~np.isfinite(target)] = "no_benchmark"
    if degenerate or fit is None:
        status[:] = "degenerate"
    status[~proportion] = "not_a_share"
    status[~complete] = "incomplete"
    status[~comparable] = "non_comparable"
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero benchmark gives an undefined ratio, kept as NaN
        frame = _compare_arrays(counts, indicator, window, forces, x, n, fit, target, peer_group, degenerate)
    return frame.with_columns(pl.Series("status", status.tolist(), dtype=pl.String),
                              pl.Series("benchmark_members", members, dtype=pl.List(pl.String)))


def _compare_arrays(counts: pl.DataFrame, indicator: Indicator, window: Window, forces: list[str], x: np.ndarray,
                    n: np.ndarray, fit: stats.Funnel | None, target: np.ndarray, peer_group: str, degenerate: bool) -> pl.DataFrame:
    share = x / n
    lower, upper = stats.wilson_interval(x, n)
    s = 1 / (2 * np.sqrt(n))
    y, t = np.arcsin(np.sqrt(share)), np.arcsin(np.sqrt(target))
    untested = degenerate or fit is None
    phi, tau2 = (np.nan, np.nan) if fit is None else (fit.phi, fit.tau2)
    z_plain = np.full(len(forces), np.nan) if untested else (y - t) / s
    z = np.full(len(forces), np.nan) if untested else (y - t) / np.sqrt(s**2 + fit.tau2)
    columns: dict[str, object] = {
        "indicator_id": indicator.indicator_id, "indicator_kind": indicator.kind, "force_id": forces,
        "peer_group": peer_group, "window_start": window.start, "window_end": window.end,
        "period_grain": window.period_grain, "numerator": x.astype(np.int64), "denominator": n.astype(np.int64),
        "share": share, "share_lower": lower, "share_upper": upper, "benchmark": target,
        "difference": share - target, "ratio": share / target, "effect_h": 2 * (y - t),
        "phi": phi, "tau2": tau2, "z_plain": z_plain, "z": z, "p_value": stats.two_sided_p(z),
        "periods_supplied": counts["periods_supplied"].to_numpy(), "periods_expected": window.periods_expected,
    }
    for name, level in LEVELS.items():
        key = name.replace("%", "").replace(".", "")
        for model, label in (("binomial", "plain"), (SIGNIFICANCE_MODEL, "od")):
            if fit is None:
                lo = hi = np.full(len(forces), np.nan)
            else:
                lo, hi = fit.limits(n, target, level, model)
            columns[f"limit{key}_{label}_lower"] = lo
            columns[f"limit{key}_{label}_upper"] = hi
    return pl.DataFrame(columns)


def _position(row: dict) -> str:
    share = row["share"]
    if row["benchmark"] is None or not np.isfinite(row["benchmark"]):
        return "no benchmark: no comparable force supplied data"
    if row["limit998_od_upper"] is None or not np.isfinite(row["limit998_od_upper"]):
        return "not tested"
    if share > row["limit998_od_upper"]:
        return "above the 99.8% overdispersed limit"
    if share < row["limit998_od_lower"]:
        return "below the 99.8% overdispersed limit"
    if share > row["limit95_od_upper"]:
        return "above the 95% overdispersed limit"
    if share < row["limit95_od_lower"]:
        return "below the 95% overdispersed limit"
    return "within the overdispersed limits"


# --- supply screens -------------------------------------------------------------------------------------

# A category a feed never uses: zero crimes where the benchmark share predicts at least this many.
UNUSED_CATEGORY_EXPECTED = 20
# A category collapses against the force's own history when its share falls below this fraction of
# the share in the span just before the window while comparable forces' share moves by less than
# `PEERS_STEADY` either way.
COLLAPSE_FACTOR = 0.5
PEERS_STEADY = 1.25
COLLAPSE_MIN_COUNT = 20


def _pct(value: float) -> str:
    return format(value, ".1%")


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
    names = _force_names()
    for row in found.iter_rows(named=True):
        indicator = by_id[row["indicator_id"]]
        key = (indicator.source, indicator.parent, row["force_id"])
        name = names.get(row["force_id"], row["force_id"])
        if row["benchmark"] is None or not np.isfinite(row["benchmark"]):
            continue
        if indicator.kind == "supply":
            upper = row["limit95_od_upper"]
            if upper is not None and np.isfinite(upper) and row["share"] > upper:
                reasons.setdefault(key, []).append(
                    f"{name} {indicator.sentence.format(share=_pct(row['share']))}, against {_pct(row['benchmark'])} "
                    "for comparable forces (above the 95% overdispersed limit)")
            continue
        expected = row["denominator"] * row["benchmark"]
        if row["numerator"] == 0 and expected >= UNUSED_CATEGORY_EXPECTED:
            reasons.setdefault(key, []).append(
                f"its feed has no '{'; '.join(indicator.numerator)}' at all, where comparable forces' share predicts "
                f"about {expected:,.0f}: a category the feed does not use")
    if history.height:
        before = {(r["indicator_id"], r["force_id"]): r for r in history.iter_rows(named=True)}
        for row in found.iter_rows(named=True):
            indicator = by_id[row["indicator_id"]]
            prior = before.get((row["indicator_id"], row["force_id"]))
            if indicator.kind != "classification" or prior is None or prior["periods_supplied"] < prior["periods_expected"]:
                continue
            if not all(np.isfinite(v) for v in (prior["share"], prior["benchmark"], row["benchmark"])) or prior["benchmark"] == 0:
                continue
            if max(prior["numerator"], row["numerator"]) < COLLAPSE_MIN_COUNT or prior["share"] == 0:
                continue
            own, peers = row["share"] / prior["share"], row["benchmark"] / prior["benchmark"]
            # Only a collapse: a feed that stops supplying a category loses it; a sudden rise is more
            # often a change in recording practice, which is what the findings are for.
            if own < COLLAPSE_FACTOR and 1 / PEERS_STEADY <= peers <= PEERS_STEADY:
                key = (indicator.source, indicator.parent, row["force_id"])
                reasons.setdefault(key, []).append(
                    f"its '{'; '.join(indicator.numerator)}' share fell from {_pct(prior['share'])} to {_pct(row['share'])} "
                    f"against its own previous span while comparable forces stayed near {_pct(row['benchmark'])}")
    return reasons


def previous_window(window: Window) -> Window:
    """The span of the same length just before the window (the previous non-overlapping year for a year)."""
    length = max(month_index(window.end) - month_index(window.start), _months(window.period_grain))
    return Window(window.source, add_months(window.start, -length), window.start, window.period_grain, window.periods_expected)


# --- witnesses and benchmark coverage ----------------------------------------------------------------------


def _witness_status(row: dict, witness: dict) -> str:
    """`corroborates` (same direction, beyond the witness's own 95% limits), `contradicts` (opposite
    direction) or `inconclusive` (same direction, within its limits)."""
    own, other = row["difference"], witness["difference"]
    if own is None or other is None or not (np.isfinite(own) and np.isfinite(other)):
        return "inconclusive"
    if own * other < 0:
        return "contradicts"
    outside = witness["share"] > witness["limit95_od_upper"] or witness["share"] < witness["limit95_od_lower"]
    return "corroborates" if own * other > 0 and outside else "inconclusive"


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
    publishers = {"ons_pfa_tables": "ONS police force area tables", "ons_rec_crime_pfa": "ONS recorded crime by police force area"}
    totals: dict[date, CrimeTotals] = {}
    for source, period, force, offences in rows:
        end = add_months(period, 12)
        entry = totals.setdefault(end, CrimeTotals({}, f"{publishers[source]}, year ending {add_months(end, -1):%b %Y}"))
        entry.by_force.setdefault(force, int(offences))
    # A year some forces are missing from (a supply gap) is no measure of the whole.
    territorial = len(_territorial())
    return {end: t for end, t in totals.items() if len(t.by_force) == territorial}


def benchmark_coverage(members: list[str], force_id: str, window: Window, totals: dict[date, CrimeTotals]) -> dict:
    """How many territorial forces a benchmark holds, their share of England and Wales recorded crime
    (from the ONS year ending nearest the window), and the largest forces missing from it."""
    territorial = _territorial()
    in_benchmark = set(members) & territorial
    names = _force_names()
    result = {"benchmark_forces": len(in_benchmark), "benchmark_crime_share": None, "benchmark_missing": None}
    missing = sorted(territorial - in_benchmark - {force_id})
    words = f"{len(in_benchmark)} of the {len(territorial) - (force_id in territorial)} other territorial forces"
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
        words += f"; largest missing: {', '.join(largest)}" + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
    result["benchmark_coverage"] = words
    return result


# --- findings ----------------------------------------------------------------------------------------------


def _family(indicator: Indicator, window: Window) -> str:
    """The false-discovery family: one kind of indicator, one source, one window, one measure."""
    return f"{indicator.kind}: {indicator.source}, {window.label()}, {indicator.measure}"


def _sentence(row: dict, indicator: Indicator, window: Window, reasons: list[str]) -> str:
    name = _force_names().get(row["force_id"], row["force_id"])
    text = f"{name} {indicator.sentence.format(share=_pct(row['share']))}"
    if row["benchmark"] is None or not np.isfinite(row["benchmark"]):
        text += "; no comparable force supplied data for this window"
    else:
        points = abs(row["difference"]) * 100
        side = "above" if row["difference"] > 0 else "below" if row["difference"] < 0 else "level with"
        ratio = f" ({row['ratio']:.2f}× their share)" if row["ratio"] is not None and np.isfinite(row["ratio"]) else ""
        text += f": {points:.1f} percentage points {side} comparable forces' {_pct(row['benchmark'])}{ratio}, {_position(row)}"
        if row["z"] is not None and np.isfinite(row["z"]):
            text += f"; z {row['z']:+.1f}, q {row['q_by']:.1e} (BY)" if row["q_by"] is not None and np.isfinite(row["q_by"]) else f"; z {row['z']:+.1f}"
    when = "; ".join(window.notes) or window.label()
    if indicator.measure == "outcomes" and indicator.source == "police_uk_street":
        when += ("; last outcomes as each month's file published them (a snapshot: older months carry more final "
                 "outcomes), so every force is compared on crimes of the same months")
    text += f". {when[0].upper()}{when[1:]}"
    if row["periods_supplied"] < row["periods_expected"]:
        text += f", {row['periods_supplied']} of its {row['periods_expected']} periods supplied"
    text += f". Benchmark: {row['benchmark_coverage']}."
    if row.get("witness_status"):
        text += (f" Witness, {row['witness_label']}: {_pct(row['witness_share'])} against {_pct(row['witness_benchmark'])}"
                 f" for comparable forces ({row['witness_status']}).")
    if reasons:
        text += " Not ranked: " + "; ".join(reasons) + "."
    return text


def _status_reasons(row: dict, indicator: Indicator, supply: list[str]) -> list[str]:
    status = row["status"]
    if status == "non_comparable":
        return [f"not comparable by default ({_not_comparable().get(row['force_id'], '')}); include it to rank it"]
    if status == "incomplete":
        return [f"it supplied {row['periods_supplied']} of the window's {row['periods_expected']} periods, and forces are "
                "compared only on the same periods"]
    if status == "not_a_share":
        return [f"its published counts net to {row['numerator']:,} of {row['denominator']:,}, which is no share of the "
                "parent, so it is not tested (a negative count is a published adjustment)"]
    if status == "degenerate":
        return ["every compared count is zero or the category is the whole parent, so the indicator is not tested"]
    if status == "small_denominator":
        return [f"its denominator {row['denominator']:,} is under {indicator.min_denominator:,}"]
    if status == "no_benchmark":
        return ["no comparable force supplied data"]
    if status == "supply_suspect":
        return ["its supply looks abnormal: " + "; ".join(supply)]
    if status == "contradicted":
        return [f"{row['witness_label']} shows {_pct(row['witness_share'])} against {_pct(row['witness_benchmark'])}, the "
                "opposite direction: two sources disagreeing points at the feed, not at how the force classifies"]
    return []


def _with_witnesses(result: pl.DataFrame, windows: dict[str, Window], by_id: dict[str, Indicator]) -> pl.DataFrame:
    """The other source's view of each finding that has a witness (`witnesses.csv`)."""
    rows = {(r["indicator_id"], r["force_id"]): r for r in result.iter_rows(named=True)}
    found = {c: [] for c in ("witness_indicator_id", "witness_label", "witness_share", "witness_benchmark",
                             "witness_window_start", "witness_window_end", "witness_status")}
    for row in result.iter_rows(named=True):
        chosen = None
        for witness_id, _ in witnesses().get(row["indicator_id"], []):
            other = rows.get((witness_id, row["force_id"]))
            if other is not None and other["benchmark"] is not None and np.isfinite(other["benchmark"]) and \
                    other["status"] not in ("degenerate", "incomplete"):
                chosen = other
                break
        if chosen is None or row["indicator_kind"] != "classification":
            for values in found.values():
                values.append(None)
            continue
        window = windows[by_id[chosen["indicator_id"]].source]
        found["witness_indicator_id"].append(chosen["indicator_id"])
        found["witness_label"].append(f"{_SOURCE_NAMES.get(window.source, window.source)}, {window.label()}")
        found["witness_share"].append(chosen["share"])
        found["witness_benchmark"].append(chosen["benchmark"])
        found["witness_window_start"].append(chosen["window_start"])
        found["witness_window_end"].append(chosen["window_end"])
        found["witness_status"].append(_witness_status(row, chosen))
    dtypes = {"witness_share": pl.Float64, "witness_benchmark": pl.Float64, "witness_window_start": pl.Date, "witness_window_end": pl.Date}
    return result.with_columns(pl.Series(c, v, dtype=dtypes.get(c, pl.String)) for c, v in found.items())


_SOURCE_NAMES = {
    "ons_pfa_tables": "ONS police force area tables", "ons_rec_crime_pfa": "ONS recorded crime by police force area",
    "ho_outcomes": "Home Office outcomes", "police_uk_street": "police.uk", "mps_borough_crime": "Metropolitan Police published counts",
    "police_uk_force_year": "police.uk by force and year",
}


def findings(con: duckdb.DuckDBPyConnection, indicators: list[Indicator], peer_group: str = "all",
             peers: dict[str, list[str]] | None = None, windows: dict[str, Window] | None = None,
             include: frozenset[str] | set[str] = frozenset()) -> pl.DataFrame:
    """Every force × indicator finding, screened, with q-values per family and a rank.

    Classification findings are ranked (1 = the largest effect among the significant ones) only when
    they survive every screen: comparable area, every period of the window supplied, a large enough
    denominator, a benchmark, normal supply to the parent, and no contradicting witness. Supply
    findings are ranked in a list of their own (`supply_rank`). `include` names areas that are not
    comparable by default (City of London) to compare and rank them anyway."""
    windows = dict(windows or {})
    include = frozenset(include)
    compared = _territorial() | ({f for group in peers.values() for f in group} if peers else set())
    requested = {i.indicator_id for i in indicators}
    # Witnesses are computed even when not asked for, so every finding can say what the other source shows.
    standard = {i.indicator_id: i for i in load_indicators()}
    by_id = {i.indicator_id: i for i in indicators}
    for indicator_id in list(by_id):
        for witness_id, _ in witnesses().get(indicator_id, []):
            if witness_id in standard:
                by_id.setdefault(witness_id, standard[witness_id])
    parts, history = [], []
    counts_read: dict = {}
    for indicator in by_id.values():
        window = windows.get(indicator.source)
        if window is None:
            window = standard_window(con, indicator.source)
            if window is None:
                continue
            windows[indicator.source] = window
        counts = indicator_counts(con, indicator, window, cache=counts_read).filter(pl.col("force_id").is_in(list(compared)))
        frame = compare(counts, indicator, window, peers, peer_group, include)
        if frame.height == 0:
            continue
        parts.append(frame.with_columns(pl.lit(_family(indicator, window)).alias("family")))
        earlier = previous_window(window)
        prior = compare(indicator_counts(con, indicator, earlier, cache=counts_read).filter(pl.col("force_id").is_in(list(compared))),
                        indicator, earlier, peers, peer_group, include)
        if prior.height:
            history.append(prior.select("indicator_id", "force_id", "numerator", "share", "benchmark", "periods_supplied", "periods_expected"))
    if not parts:
        return pl.DataFrame()
    result = pl.concat(parts, how="vertical_relaxed")
    screens = supply_screens(result, pl.concat(history) if history else pl.DataFrame(), by_id)
    totals = crime_totals(con)
    coverage = [benchmark_coverage(r["benchmark_members"], r["force_id"], windows[by_id[r["indicator_id"]].source], totals)
                for r in result.iter_rows(named=True)]
    result = result.with_columns(
        pl.Series("benchmark_forces", [c["benchmark_forces"] for c in coverage], dtype=pl.Int32),
        pl.Series("benchmark_crime_share", [c["benchmark_crime_share"] for c in coverage], dtype=pl.Float64),
        pl.Series("benchmark_missing", [c["benchmark_missing"] for c in coverage], dtype=pl.String),
        pl.Series("benchmark_coverage", [c["benchmark_coverage"] for c in coverage], dtype=pl.String),
    )
    result = _with_witnesses(result, windows, by_id)
    # Screens that depend on other findings: abnormal supply to the parent, then a contradicting witness.
    supply_reasons = [screens.get((by_id[r["indicator_id"]].source, by_id[r["indicator_id"]].parent, r["force_id"]), [])
                      for r in result.iter_rows(named=True)]
    status = [
        "supply_suspect" if r["status"] == "ranked" and r["indicator_kind"] == "classification" and reasons
        else "contradicted" if r["status"] == "ranked" and r["witness_status"] == "contradicts"
        else r["status"]
        for r, reasons in zip(result.iter_rows(named=True), supply_reasons)
    ]
    result = result.with_columns(pl.Series("status", status, dtype=pl.String))
    # q-values within each family, over every finding that was tested (screens decide ranks, not tests).
    tested = result["status"].is_in(["ranked", "supply_suspect", "contradicted"]).to_numpy()
    q_bh, q_by = np.full(result.height, np.nan), np.full(result.height, np.nan)
    p = result["p_value"].to_numpy()
    for family in result["family"].unique().to_list():
        members = (result["family"] == family).to_numpy() & tested & np.isfinite(p)
        if members.any():
            q_bh[members] = stats.q_values(p[members], "bh")
            q_by[members] = stats.q_values(p[members], "by")
    result = result.with_columns(
        pl.Series("q_bh", q_bh), pl.Series("q_by", q_by),
        pl.Series("is_significant", (q_by < SIGNIFICANCE_Q) & tested),
        pl.when(pl.col("difference").is_nan() | pl.col("difference").is_null()).then(None)
        .when(pl.col("difference") > 0).then(pl.lit("above")).otherwise(pl.lit("below")).alias("direction"),
        (pl.col("status") == "ranked").alias("is_ranked"),
    )
    reasons = [_status_reasons(r, by_id[r["indicator_id"]], supply)
               for r, supply in zip(result.iter_rows(named=True), supply_reasons)]
    result = result.with_columns(
        pl.Series("status_reason", ["; ".join(r) or None for r in reasons], dtype=pl.String),
        pl.Series("position", [_position(r) for r in result.iter_rows(named=True)]),
    )
    result = result.with_columns(pl.Series("sentence", [
        _sentence(row, by_id[row["indicator_id"]], windows[by_id[row["indicator_id"]].source], why)
        for row, why in zip(result.iter_rows(named=True), reasons)
    ]))
    result = result.filter(pl.col("indicator_id").is_in(list(requested)))
    # Effect first: significant findings before the rest, each group by the size of the difference
    # (Cohen's h, on the arcsine scale shared by shares large and small).
    ranks = {}
    for kind, column in (("classification", "rank"), ("supply", "supply_rank")):
        order = result.with_row_index("_i").filter(pl.col("is_ranked") & (pl.col("indicator_kind") == kind)).sort(
            [pl.col("is_significant"), pl.col("effect_h").abs(), "indicator_id", "force_id"], descending=[True, True, False, False]
        )["_i"].to_list()
        ranks[column] = [None] * result.height
        for position, i in enumerate(order, start=1):
            ranks[column][i] = position
    return result.with_columns(pl.Series(c, v, dtype=pl.Int32) for c, v in ranks.items()).drop("benchmark_members").sort(
        "rank", "supply_rank", "indicator_id", "force_id", nulls_last=True)


# --- offence and outcome mixes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    mix_id: str
    label: str
    source: str
    measure: str
    scheme: str  # a recorded_crime scheme, or outcome_group / outcome for outcomes
    categories: str  # as an indicator's denominator: "*", "*-A;B" or "A;B"


def load_mixes() -> list[Mix]:
    with (reference.REFERENCE_DIR / "mixes.csv").open(newline="", encoding="utf-8") as handle:
        mixes = [Mix(**row) for row in csv.DictReader(handle)]
    for line, mix in enumerate(mixes, start=2):
        where = f"mixes.csv, line {line}, mix {_shown(mix.mix_id)}"
        if mix.measure not in ("offences", "outcomes"):
            raise ValueError(f"{where}: measure must be 'offences' or 'outcomes', not {_shown(mix.measure)}")
        if not _NAME.match(mix.source):
            raise ValueError(f"{where}: source is a source name (lower-case letters, digits and _), not {_shown(mix.source)}")
        _check_scheme(where, "mix", "scheme", mix.measure, mix.scheme)
        check_categories(where, "categories", mix.scheme, mix.categories)
    return mixes


def mix_counts(con: duckdb.DuckDBPyConnection, mix: Mix, window: Window) -> pl.DataFrame:
    """Counts per force and category of the mix in the window (long)."""
    if mix.measure == "offences":
        column, table, measure = "category", "recorded_crime", "offence_count"
        extra = " and scheme = $scheme"
        params = {"scheme": mix.scheme}
    else:
        column, table, measure = mix.scheme, "crime_outcomes", "outcome_count"
        extra = " and outcome is not null and count_basis = 'offences_recorded_in_period'"
        params = {}
    condition, cat_params = _category_filter(column, mix.categories, "cats")
    periods, period_params = _period_condition(window)
    return con.sql(f"""
        select force_id, {column} as category, cast(sum({measure}) as bigint) as n
        from {table}
        where source = $source and {periods}
          and {column} is not null and {condition}{extra}
        group by all
    """, params={"source": mix.source, **period_params, **params, **cat_params}).pl()


def compared_forces(con: duckdb.DuckDBPyConnection, source: str, window: Window, include: frozenset[str] = frozenset()) -> set[str]:
    """Territorial forces that may enter a benchmark for the window: comparable by default (or
    included) and supplying every period of it."""
    supplied = _supplied_periods(con, source)
    inside = supplied.filter(pl.col("period_grain") == window.period_grain)
    if window.is_single_period:
        inside = inside.filter(pl.col("period") == window.start)
    else:
        inside = inside.filter((pl.col("period") >= window.start) & (pl.col("period") < window.end))
    counts = inside.group_by("force_id").agg(pl.col("period").n_unique().alias("n"))
    complete = set(counts.filter(pl.col("n") >= window.periods_expected)["force_id"])
    not_comparable = _not_comparable()
    return {f for f in complete & _territorial() if f not in not_comparable or f in include}


def _screen_status(force: str, pool: set[str], include: frozenset[str]) -> str:
    if force in _not_comparable() and force not in include:
        return "non_comparable"
    return "ranked" if force in pool else "incomplete"


def mix_findings(con: duckdb.DuckDBPyConnection, mixes: list[Mix], windows: dict[str, Window],
                 include: frozenset[str] = frozenset()) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(per force distance, per force × category detail, per mix homogeneity) for every mix.

    Each force's distance is measured from the pooled mix of the comparable, complete forces without
    it, and calibrated against a Dirichlet-multinomial null fitted to those forces' own spread, so an
    ordinary force gets an ordinary p-value; the multinomial ("chance alone") p-value is kept beside
    it. Homogeneity is tested across the comparable, complete forces."""
    territorial = _territorial()
    per_force, per_category, per_mix = [], [], []
    for mix in mixes:
        window = windows.get(mix.source) or standard_window(con, mix.source)
        if window is None:
            continue
        windows[mix.source] = window
        long = mix_counts(con, mix, window).filter(pl.col("force_id").is_in(list(territorial)))
        if long.height == 0:
            continue
        wide = long.pivot(on="category", index="force_id", values="n").fill_null(0).sort("force_id")
        forces, categories = wide["force_id"].to_list(), [c for c in wide.columns if c != "force_id"]
        table = wide.select(categories).to_numpy().astype(float)
        keep = table.sum(axis=1) > 0
        forces, table = [f for f, k in zip(forces, keep) if k], table[keep]
        pool = compared_forces(con, mix.source, window, include)
        pooled = np.array([f in pool for f in forces])
        if pooled.sum() < 3:
            continue
        test = stats.homogeneity(table[pooled])
        per_mix.append({"mix_id": mix.mix_id, "window_start": window.start, "window_end": window.end,
                        "forces_compared": int(pooled.sum()), "chi2": test.chi2, "dof": test.dof,
                        "p_value": test.p_value, "cramers_v": test.cramers_v})
        residuals = np.full(table.shape, np.nan)
        residuals[pooled] = test.adjusted_residuals
        for i, force in enumerate(forces):
            others = pooled.copy()
            others[i] = False
            reference_counts = table[others].sum(axis=0)
            result = stats.mix_divergence(table[i], reference_counts, seed=i, other_units=table[others])
            per_force.append({"mix_id": mix.mix_id, "force_id": force, "window_start": window.start,
                              "window_end": window.end, "total": int(table[i].sum()), "distance": result.distance,
                              "null_median": result.null_median, "null_q95": result.null_q95, "p_value": result.p_value,
                              "p_chance": result.p_chance, "status": _screen_status(force, pool, include)})
            own, ref = table[i] / table[i].sum(), reference_counts / reference_counts.sum()
            for j, category in enumerate(categories):
                per_category.append({"mix_id": mix.mix_id, "force_id": force, "window_start": window.start,
                                     "category": category, "share": own[j], "reference_share": ref[j],
                                     "contribution": float(result.contributions[j]),
                                     "adjusted_residual": float(residuals[i, j])})
    force_frame = pl.DataFrame(per_force)
    if force_frame.height:
        # One family per mix, over the forces compared.
        q = np.full(force_frame.height, np.nan)
        p = force_frame["p_value"].to_numpy()
        for mix_id in force_frame["mix_id"].unique().to_list():
            members = ((force_frame["mix_id"] == mix_id) & (force_frame["status"] == "ranked")).to_numpy()
            q[members] = stats.q_values(p[members], "bh")
        force_frame = force_frame.with_columns(pl.Series("q_bh", q))
    return force_frame, pl.DataFrame(per_category), pl.DataFrame(per_mix)


# --- case-mix adjusted outcome ratios ------------------------------------------------------------------


# Outcome groups that are not outcomes: a crime still pending or without a status has no outcome to
# standardise, so it is left out of the exposure as well as the events.
NOT_AN_OUTCOME = ("pending", "unavailable")


def outcome_ratios(con: duckdb.DuckDBPyConnection, source: str, window: Window, peers: dict[str, list[str]] | None = None,
                   include: frozenset[str] = frozenset()) -> pl.DataFrame:
    """For each outcome group: observed ÷ expected per force, expected from the force's crimes with a
    usable outcome by crime type and its peers' rate of that outcome per crime type (the comparable,
    complete forces; `peers` narrows them). Limits allow for between-force spread (a DerSimonian–Laird
    τ² on the log ratio, fitted on the compared forces), as the findings' funnels do."""
    periods, period_params = _period_condition(window)
    long = con.sql(f"""
        select force_id, category, outcome_group, cast(sum(outcome_count) as bigint) as n
        from crime_outcomes
        where source = $source and {periods}
          and outcome is not null and count_basis = 'offences_recorded_in_period' and category is not null
          and outcome_group <> all($not_outcomes)
        group by all
    """, params={"source": source, **period_params, "not_outcomes": list(NOT_AN_OUTCOME)}).pl()
    long = long.filter(pl.col("force_id").is_in(list(_territorial())))
    if long.height == 0:
        return pl.DataFrame()
    exposure = long.pivot(on="category", index="force_id", values="n", aggregate_function="sum").fill_null(0).sort("force_id")
    forces, categories = exposure["force_id"].to_list(), [c for c in exposure.columns if c != "force_id"]
    exposure_matrix = exposure.select(categories).to_numpy().astype(float)
    pool = compared_forces(con, source, window, include)
    pooled = np.array([f in pool for f in forces])
    index = {f: i for i, f in enumerate(forces)}
    reference = np.zeros((len(forces), len(forces)), dtype=bool)
    for i, force in enumerate(forces):
        members = pool if peers is None else set(peers.get(force, [])) & pool
        for other in members - {force}:
            if other in index:
                reference[i, index[other]] = True
    rows = []
    for group in sorted(long["outcome_group"].unique().to_list()):
        events = (long.filter(pl.col("outcome_group") == group)
                  .pivot(on="category", index="force_id", values="n").fill_null(0))
        events = pl.DataFrame({"force_id": forces}).join(events, on="force_id", how="left").fill_null(0)
        for c in categories:
            if c not in events.columns:
                events = events.with_columns(pl.lit(0).alias(c))
        result = stats.indirect_standardisation(events.select(categories).to_numpy().astype(float), exposure_matrix,
                                                reference=reference, fit_units=pooled)
        for i, force in enumerate(forces):
            rows.append({"outcome_group": group, "force_id": force, "window_start": window.start, "window_end": window.end,
                         "observed": float(result.observed[i]), "expected": float(result.expected[i]),
                         "standardised_ratio": float(result.ratio[i]), "ratio_lower": float(result.lower[i]),
                         "ratio_upper": float(result.upper[i]), "ratio_lower_poisson": float(result.lower_poisson[i]),
                         "ratio_upper_poisson": float(result.upper_poisson[i]), "tau2": float(result.tau2),
                         "status": _screen_status(force, pool, include)})
    return pl.DataFrame(rows)


# Breaks over time (indicator series, break tests, revisions) live in `pipelines.analysis.series`.


# --- peer groups -------------------------------------------------------------------------------------------


def peer_groups(con: duckdb.DuckDBPyConnection, kind: str, k: int = 7) -> dict[str, list[str]] | None:
    """Peers per force: `all` (None: every other territorial force), `region` (the force's ONS region),
    `nearest` (the k forces nearest by offence mix and log population), or a CSV file of group_id,force_id
    (each force's peers are the rest of its groups)."""
    territorial = sorted(_territorial())
    if kind == "all":
        return None
    if kind == "region":
        forces = reference.forces().filter(pl.col("is_territorial_ew"))
        return {f: forces.filter(pl.col("region") == r)["force_id"].to_list() for f, r in zip(forces["force_id"], forces["region"])}
    if kind == "nearest":
        features = con.sql("""
            with mix as (
                select force_id, category, sum(offence_count) as n from recorded_crime
                where source = 'ons_rec_crime_pfa' and scheme = 'ons_offence_group' and category <> 'Fraud offences'
                  and period = (select max(period) from recorded_crime where source = 'ons_rec_crime_pfa')
                group by all
            ),
            shares as (select force_id, category, n / sum(n) over (partition by force_id) as share from mix),
            pop as (select force_id, ln(arg_max(population, year)) as log_population from population group by force_id)
            select * from shares left join pop using (force_id)
        """).pl()
        if features.height == 0:
            raise ValueError("nearest peers need the ONS rolling-year offence counts and population: ingest them first")
        wide = features.pivot(on="category", index=["force_id", "log_population"], values="share").fill_null(0)
        wide = wide.filter(pl.col("force_id").is_in(territorial)).sort("force_id")
        matrix = wide.drop("force_id").fill_null(strategy="mean").to_numpy().astype(float)
        scale = matrix.std(axis=0)
        matrix = (matrix - matrix.mean(axis=0)) / np.where(scale > 0, scale, 1)  # each feature on one scale
        forces = wide["force_id"].to_list()
        distances = np.linalg.norm(matrix[:, None, :] - matrix[None, :, :], axis=2)
        return {f: [forces[j] for j in np.argsort(distances[i]) if j != i][:k] for i, f in enumerate(forces)}
    path = Path(kind)
    if not path.exists():
        raise ValueError(f"peer group {kind!r}: not 'all', 'region', 'nearest' or a CSV file of group_id,force_id")
    groups = pl.read_csv(path, infer_schema=False)
    resolved = groups.with_columns(reference.force_id_of(pl.col("force_id")).alias("resolved"))
    unknown = resolved.filter(pl.col("resolved").is_null())["force_id"].to_list()
    if unknown:
        raise ValueError(f"{path}: unknown forces {unknown}")
    peers: dict[str, set[str]] = {}
    for _, members in resolved.group_by("group_id"):
        ids = members["resolved"].to_list()
        for force in ids:
            peers.setdefault(force, set()).update(ids)
    return {f: sorted(p - {f}) for f, p in peers.items()}


# --- materialise ---------------------------------------------------------------------------------------------


def materialise(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute every divergence table for the standard indicators, mixes and peer group `all`, and
    refill the schema's other materialised tables (reconciliation)."""
    # The analyst views aggregate the whole core tables on every read, and the engine reads them
    # hundreds of times: it reads a copy taken once (a temporary table shadows the view of its name).
    staged = ("recorded_crime", "recorded_crime_releases", "crime_outcomes")
    for view in staged:
        con.execute(f"create or replace temp table {view} as select * from main.{view}")
    try:
        _materialise(con)
    finally:
        for view in staged:
            con.execute(f"drop table if exists temp.{view}")


def _materialise(con: duckdb.DuckDBPyConnection) -> None:
    windows: dict[str, Window] = {}
    indicators = load_indicators()
    tables = {"divergence": findings(con, indicators, windows=windows)}
    tables["divergence_mix"], tables["divergence_mix_categories"], tables["divergence_homogeneity"] = mix_findings(con, load_mixes(), windows)
    ratios = [outcome_ratios(con, source, windows[source]) for source in ("police_uk_street",) if source in windows]
    tables["outcome_ratios"] = pl.concat([r for r in ratios if r.height]) if any(r.height for r in ratios) else pl.DataFrame()
    from pipelines.analysis import series  # here, not at the top: pipelines.analysis.series imports this module
    tables["divergence_breaks"], tables["divergence_series"] = series.series_tables(con, indicators)
    for statement in schema.refresh_statements():
        con.execute(statement)
    for name, frame in tables.items():
        con.execute(f"delete from {name}")
        if frame.height:
            # Undefined statistics (no peers, too few points) are stored as NULL, which SQL understands, not NaN.
            frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
            con.register("incoming", frame.rechunk().to_arrow(compat_level=pl.CompatLevel.oldest()))
            try:
                con.execute(f"insert into {name} by name select * from incoming")
            finally:
                con.unregister("incoming")
