"""What the analysis compares, as data: indicators, witnesses and mixes.

- Indicators (a category's share of its parent) are rows of `pipelines/reference/indicators.csv`, or
  of a user's file with the same columns.
- Witnesses (`witnesses.csv`) pair an indicator with the same concept in another publication.
- Mixes (`mixes.csv`) are sets of categories within a parent whose divergence and homogeneity are
  measured.

Every value from such a file reaches SQL only as a bound parameter or, for an outcome scheme (a
column name), after matching OUTCOME_SCHEMES; the checks here also make a mistyped (or hostile)
value an error naming its file and line rather than an empty count. A scheme or source is a name;
categories are checked against the reference data's vocabulary where it has one for the scheme.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Formatter

from pipelines import reference


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


@dataclass(frozen=True)
class Mix:
    mix_id: str
    label: str
    source: str
    measure: str
    scheme: str  # a recorded_crime scheme, or outcome_group / outcome for outcomes
    categories: str  # as an indicator's denominator: "*", "*-A;B" or "A;B"


INDICATOR_KINDS = ("classification", "supply")
MEASURES = ("offences", "outcomes")
# Columns an outcomes indicator may count by: only these names ever reach SQL as identifiers.
OUTCOME_SCHEMES = ("outcome", "outcome_group")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_INDICATOR_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,99}$")
INDICATOR_COLUMNS = (
    "indicator_id",
    "label",
    "source",
    "measure",
    "numerator_scheme",
    "numerator",
    "denominator_scheme",
    "denominator",
    "min_denominator",
    "sentence",
    "kind",
    "parent",
)
# Columns for outcomes indicators: empty for an offences indicator, required for an outcomes one.
OUTCOME_INDICATOR_COLUMNS = ("offence_scheme", "offences", "count_basis")
# The two count bases of the Home Office outcomes tables (see docs/home_office_tables.md).
COUNT_BASES = ("offences_recorded_in_period", "outcomes_in_period")


# --- checks ------------------------------------------------------------------------------------------------


@cache
def category_vocabularies() -> dict[str, frozenset[str]]:
    """scheme → every category the reference data knows in it (police.uk crime types, ONS offence
    groups and subgroups, outcome groups, outcomes). Schemes not here have no vocabulary to check."""
    labels = reference.ons_offence_labels()
    hierarchy = reference.offence_hierarchy()
    known: dict[str, set[str]] = {
        "police_uk": set(reference.police_uk_crime_types()["crime_type"]),
        "ons_offence_group": set(labels["ons_offence_group"].drop_nulls())
        | set(hierarchy["offence_group"].drop_nulls()),
        "ons_offence_subgroup": set(labels["ons_offence_subgroup"].drop_nulls())
        | set(hierarchy["offence_subgroup"].drop_nulls()),
        "outcome_group": set(reference.outcome_groups()["outcome_group"]),
        "outcome": set(reference.police_uk_outcomes()["outcome_label"])
        | {str(t) for t in reference.ho_outcome_types()["outcome_type"]},
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
            raise ValueError(
                f"{where}: {field_name} holds an empty or malformed category {_shown(category)}: "
                f"categories are separated by ';' (`*` all, `*-A;B` all but those)"
            )
        if vocabulary is not None and category not in vocabulary:
            raise ValueError(
                f"{where}: {field_name}: {_shown(category)} is not a {scheme} category; "
                f"known: {', '.join(sorted(vocabulary))}"
            )


def _check_scheme(where: str, what: str, field_name: str, measure: str, scheme: str) -> None:
    if measure == "outcomes":
        if scheme not in OUTCOME_SCHEMES:
            raise ValueError(
                f"{where}: an outcomes {what} counts by {' or '.join(OUTCOME_SCHEMES)}, "
                f"not {field_name} {_shown(scheme)}"
            )
    elif not _NAME.match(scheme):
        raise ValueError(
            f"{where}: {field_name} is a scheme name (lower-case letters, digits and _, such as "
            f"{', '.join(sorted(category_vocabularies()))}), not {_shown(scheme)}"
        )


def _check_source_and_measure(where: str, source: str, measure: str) -> None:
    if not _NAME.match(source):
        raise ValueError(f"{where}: source is a source name (lower-case letters, digits and _), not {_shown(source)}")
    if measure not in MEASURES:
        raise ValueError(f"{where}: measure must be 'offences' or 'outcomes', not {_shown(measure)}")


def _check_sentence(where: str, sentence: str) -> None:
    try:
        fields = [
            (name, spec, conversion) for _, name, spec, conversion in Formatter().parse(sentence) if name is not None
        ]
    except ValueError as exc:
        raise ValueError(f"{where}: sentence does not read as text with {{share}} in it ({exc})") from None
    if any((name, spec, conversion) != ("share", "", None) for name, spec, conversion in fields):
        raise ValueError(f"{where}: sentence may hold only the placeholder {{share}}; got {_shown(sentence)}")


# --- indicators ----------------------------------------------------------------------------------------------


def load_indicators(path: Path | None = None) -> list[Indicator]:
    """The standard indicators, or those in `path` (same columns): users add indicators as data.
    Every value is checked (see `category_vocabularies`) before any SQL sees it: a ValueError names
    the file, the line and what is wrong."""
    path = path or reference.REFERENCE_DIR / "indicators.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in INDICATOR_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path}: line 1: the header lacks {', '.join(missing)}; the columns are {', '.join(INDICATOR_COLUMNS)}"
            )
        rows = list(reader)
    found = []
    for line, row in enumerate(rows, start=2):
        row = {k: (v or "") for k, v in row.items() if k is not None}
        found.append(indicator_from_row(f"{path}, line {line}, indicator {_shown(row.get('indicator_id'))}", row))
    return found


def indicator_from_row(where: str, row: dict[str, str]) -> Indicator:
    """One indicator from a row of an indicator file (every column a string), checked; a ValueError
    starts with `where`."""
    if not _INDICATOR_ID.match(row["indicator_id"]):
        raise ValueError(f"{where}: indicator_id is lower-case letters, digits, _ and -")
    _check_source_and_measure(where, row["source"], row["measure"])
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
    return Indicator(
        indicator_id=row["indicator_id"],
        label=row["label"],
        source=row["source"],
        measure=row["measure"],
        numerator_scheme=row["numerator_scheme"],
        numerator=tuple(row["numerator"].split(";")),
        denominator_scheme=row["denominator_scheme"],
        denominator=row["denominator"],
        min_denominator=int(row["min_denominator"]),
        sentence=row["sentence"],
        kind=kind,
        parent=row["parent"],
        **_outcome_fields(where, row),
    )


def _outcome_fields(where: str, row: dict[str, str]) -> dict[str, str]:
    """The offence scheme, offences and count basis of an outcomes indicator, checked; nothing for an
    offences indicator (which must leave them empty)."""
    given = {c: row.get(c, "") for c in OUTCOME_INDICATOR_COLUMNS}
    if row["measure"] != "outcomes":
        if any(given.values()):
            raise ValueError(
                f"{where}: {', '.join(OUTCOME_INDICATOR_COLUMNS)} are for outcomes indicators; leave them empty"
            )
        return {}
    if not _NAME.match(given["offence_scheme"]):
        raise ValueError(
            f"{where}: offence_scheme names the offence scheme whose outcomes are counted (such as police_uk "
            f"or ons_offence_subgroup), not {_shown(given['offence_scheme'])}: a source may write the same "
            "outcomes under several schemes, so it is never assumed"
        )
    offences = given["offences"] or "*"
    check_categories(where, "offences", given["offence_scheme"], offences)
    if given["count_basis"] not in COUNT_BASES:
        raise ValueError(
            f"{where}: count_basis must be one of {', '.join(COUNT_BASES)}, not {_shown(given['count_basis'])}"
        )
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


def with_witness_indicators(indicators: list[Indicator]) -> dict[str, Indicator]:
    """indicator_id → indicator for `indicators` and the standard indicators that witness them:
    witnesses are computed even when not asked for, so every finding can say what the other source shows."""
    standard = {i.indicator_id: i for i in load_indicators()}
    by_id = {i.indicator_id: i for i in indicators}
    for indicator_id in list(by_id):
        for witness_id, _ in witnesses().get(indicator_id, []):
            if witness_id in standard:
                by_id.setdefault(witness_id, standard[witness_id])
    return by_id


# --- mixes ----------------------------------------------------------------------------------------------------


def load_mixes() -> list[Mix]:
    """The mixes of `pipelines/reference/mixes.csv`, each checked as an indicator is."""
    with (reference.REFERENCE_DIR / "mixes.csv").open(newline="", encoding="utf-8") as handle:
        mixes = [Mix(**row) for row in csv.DictReader(handle)]
    for line, mix in enumerate(mixes, start=2):
        where = f"mixes.csv, line {line}, mix {_shown(mix.mix_id)}"
        _check_source_and_measure(where, mix.source, mix.measure)
        _check_scheme(where, "mix", "scheme", mix.measure, mix.scheme)
        check_categories(where, "categories", mix.scheme, mix.categories)
    return mixes
