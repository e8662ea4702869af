"""Version-controlled reference tables, and the shared steps that resolve raw values against them.

Per-force differences are data: every spelling of a force, every police.uk crime type and outcome
label, and the ONS offence hierarchy live in CSV files under `pipelines/reference/`. A value that
does not resolve is never mapped to a default; the resolving expressions return null, and each
source turns that null into a quarantine reason that names the value.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import polars as pl

REFERENCE_DIR = Path(__file__).parent

# Footnote markers that ONS tables glue to area names: "Greater Manchester8,9", "Dyfed-Powys4".
_FOOTNOTE_SUFFIX = r"[\d,\s]+$"


def _read(name: str) -> pl.DataFrame:
    return pl.read_csv(REFERENCE_DIR / name, infer_schema=False)


def _flag(column: str) -> pl.Expr:
    return pl.col(column).str.to_lowercase().eq("true")


@cache
def forces() -> pl.DataFrame:
    return _read("forces.csv").with_columns(_flag("is_territorial_ew"), _flag("comparable_by_default"))


def name_key(expr: pl.Expr) -> pl.Expr:
    """Matching key for a force name: trimmed, case-folded, single-spaced, footnote digits removed."""
    return expr.str.strip_chars().str.replace(_FOOTNOTE_SUFFIX, "").str.to_lowercase().str.replace_all(r"\s+", " ")


@cache
def force_aliases() -> pl.DataFrame:
    aliases = _read("force_aliases.csv")
    keyed = aliases.with_columns(name_key(pl.col("alias")).alias("alias_key"))
    clashes = keyed.group_by("alias_key").agg(pl.col("force_id").n_unique().alias("n")).filter(pl.col("n") > 1)
    if clashes.height:
        raise ValueError(
            f"force_aliases.csv: spellings that resolve to more than one force: {clashes['alias_key'].to_list()}"
        )
    unknown = set(aliases["force_id"]) - set(forces()["force_id"])
    if unknown:
        raise ValueError(f"force_aliases.csv: force_id not in forces.csv: {sorted(unknown)}")
    return keyed


def force_id_of(raw: pl.Expr) -> pl.Expr:
    """The force_id of each spelling in `raw`; null where the spelling is unknown.

    A vectorised lookup rather than a join: no rows are gathered, so it stays cheap on wide frames.
    """
    aliases = force_aliases().unique("alias_key")
    return name_key(raw).replace_strict(aliases["alias_key"], aliases["force_id"], default=None, return_dtype=pl.String)


def force_id(name: str) -> str | None:
    """The force_id of one spelling (a profile's force, say); None where the spelling is unknown."""
    return pl.select(force_id_of(pl.lit(name, dtype=pl.String))).item()


@cache
def police_uk_crime_types() -> pl.DataFrame:
    return _read("police_uk_crime_types.csv").with_columns(_flag("is_notifiable_crime"))


@cache
def police_uk_outcomes() -> pl.DataFrame:
    return _read("police_uk_outcomes.csv")


@cache
def outcome_groups() -> pl.DataFrame:
    return _read("outcome_groups.csv").with_columns(pl.col("sort_order").cast(pl.Int32))


@cache
def ho_outcome_types() -> pl.DataFrame:
    return _read("ho_outcome_types.csv").with_columns(
        pl.col("outcome_type").cast(pl.Int32), pl.col("introduced").str.to_date()
    )


# Home Office offence codes in their published spellings: 8N, 105A, 28E, 802, 4.9, 37.2,
# 1-4.1-4.10-4.2 (combined homicide), and class/subclass forms 008/73 or 00806.
_CLASS_SUBCLASS = re.compile(r"^0*(\d+)/(\d+)$")
_FIVE_DIGIT = re.compile(r"^(\d{3})(\d{2})$")
_PLAIN = re.compile(r"^0*(\d+)([A-Z]?)$")
_DOTTED = re.compile(r"^0*(\d+)\.(\d+)$")


def normalise_offence_code(raw: str) -> str:
    """The canonical spelling of a Home Office offence code.

    Leading zeros and case are not meaningful (`08n` is `8N`); dotted codes keep their dot (`4.9`);
    class/subclass codes become `class/subclass` (`008/73` and `00873` are both `8/73`); combined
    codes keep their parts (`1-4.1-4.10-4.2`, also written `1/4.1/4.10/4.2`). Anything else raises
    `ValueError`, never a guess.
    """
    code = re.sub(r"\s+", "", raw).upper()
    if not code:
        raise ValueError("empty offence code")
    if m := _CLASS_SUBCLASS.match(code):
        return f"{int(m[1])}/{m[2]}"
    if m := _FIVE_DIGIT.match(code):
        return f"{int(m[1])}/{m[2]}"
    if m := _PLAIN.match(code):
        return f"{int(m[1])}{m[2]}"
    if m := _DOTTED.match(code):
        return f"{int(m[1])}.{m[2]}"
    if "-" in code:
        return "-".join(normalise_offence_code(part) for part in code.split("-"))
    if code.count("/") > 1 or "." in code and "/" in code:
        # A combined code written with slashes (`1/4.1/4.10/4.2`, the Home Office outcomes sheet's
        # spelling of the homicide codes) is the same combined code.
        return "-".join(normalise_offence_code(part) for part in code.split("/"))
    raise ValueError(f"{raw!r} is not a Home Office offence code")


@cache
def offence_hierarchy() -> pl.DataFrame:
    """ONS hierarchy nodes with each leaf's group and subgroup (leaves straight under a group have no subgroup)."""
    raw = _read("ons_offence_hierarchy.csv")
    return raw.select(
        pl.col("code").alias("offence_code"),
        pl.col("label").alias("offence_label"),
        pl.col("parent_code"),
        pl.col("depth").cast(pl.Int32),
        _flag("is_leaf"),
        pl.col("level1_label").alias("offence_group"),
        pl.when(pl.col("depth").cast(pl.Int32) >= 2)
        .then(
            pl.when(pl.col("level2_code").is_in(raw.filter(pl.col("is_leaf") == "False")["code"].implode())).then(
                pl.col("level2_label")
            )
        )
        .alias("offence_subgroup"),
    )


def resolve_offence_code(raw: str) -> dict:
    """The hierarchy row of a code in any published spelling; `KeyError` naming the code if unknown."""
    code = normalise_offence_code(raw)
    row = offence_hierarchy().filter(pl.col("offence_code") == code)
    if row.height == 0:
        raise KeyError(f"offence code {raw!r} (normalised {code!r}) is not in the ONS offence hierarchy")
    return row.row(0, named=True)


@cache
def ons_offence_labels() -> pl.DataFrame:
    """Offence group and subgroup labels as ONS and Home Office tables publish them, mapped onto the
    ONS offence group (and subgroup, where the label is one)."""
    return _read("ons_offence_labels.csv")


def ons_group_of(label: pl.Expr) -> pl.Expr:
    """The ONS offence group of a published label; null where the label is unknown."""
    labels = ons_offence_labels()
    return label.str.strip_chars().replace_strict(
        labels["published_label"], labels["ons_offence_group"], default=None, return_dtype=pl.String
    )


def is_offence_label(label: pl.Expr) -> pl.Expr:
    """Whether a published group or subgroup label is known (a subgroup label may name a group that
    has no subgroups, such as `Robbery` or `Public order offences`)."""
    return label.str.strip_chars().is_in(ons_offence_labels()["published_label"].implode())


def ons_subgroup_of(label: pl.Expr) -> pl.Expr:
    """The ONS offence subgroup of a published label; null where it is a group or unknown."""
    labels = ons_offence_labels()
    return label.str.strip_chars().replace_strict(
        labels["published_label"], labels["ons_offence_subgroup"], default=None, return_dtype=pl.String
    )


@cache
def breaks() -> pl.DataFrame:
    """The registry of events that break series; a scope is `national` or a known force_id."""
    frame = _read("breaks.csv").with_columns(pl.col("event_date").str.to_date())
    unknown = set(frame["scope"]) - set(forces()["force_id"]) - {"national"}
    if unknown:
        raise ValueError(f"breaks.csv: scope is neither 'national' nor a force_id: {sorted(unknown)}")
    return frame


def reference_frames() -> dict[str, pl.DataFrame]:
    """Every reference table, keyed by its table name in the schema."""
    return {
        "ref_forces": forces(),
        "ref_force_aliases": force_aliases().drop("alias_key"),
        "ref_police_uk_crime_types": police_uk_crime_types(),
        "ref_outcome_groups": outcome_groups(),
        "ref_police_uk_outcomes": police_uk_outcomes(),
        "ref_ho_outcome_types": ho_outcome_types(),
        "ref_offence_hierarchy": offence_hierarchy(),
        "ref_breaks": breaks(),
        "ref_reconciliation_groups": _read("reconciliation_groups.csv"),
        "ref_reconciliation_notes": _read("reconciliation_notes.csv"),
    }
