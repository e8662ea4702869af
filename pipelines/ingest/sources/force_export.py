"""Force exports read through mapping profiles: one generic reader, the per-force differences as data.

A profile is a TOML file in `pipelines/reference/profiles/` (every key is explained in
`docs/force_exports.md`). It names the export's key columns (how the file is recognised), its
layout (`wide`: one column per month; `long`: one row per crime or per count), which column plays
which part (force, area, date, offence code or category, outcome, count or record id), where local
categories map onto the ONS offence hierarchy, and the release date of each file it knows.

Every profile becomes a `Source` in `SOURCES`, named in words (label, publisher, chart colour) by
its source's row in `pipelines/reference/profiles/export_sources.csv`. What the reader promises:

- every input row is loaded or quarantined with a reason (a bad cell, date, force, offence code
  or outcome quarantines its row);
- a local category that the profile's value map does not map stops the file with a
  `MalformedFileError` naming the file, the line, the column and the value: an unmapped category is
  a gap in the mapping, never a silent default;
- every output row carries the file's `release_date`, so releases that re-publish a month are kept
  side by side (`recorded_crime_releases`) and the latest one wins in `recorded_crime`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, partial
from pathlib import Path
from typing import Any

import polars as pl

from pipelines import reference
from pipelines.ingest.sources.base import RAW_EXTRAS, Canonical, Source, TextReader
from pipelines.ingest.steps import (
    REFERENCE,
    grain,
    month_named,
    offence_code,
    outside_span,
    passed,
    period_checks,
    reasons,
    resolve_force,
    whole_number,
)
from pipelines.ingest.textfile import SEPARATORS, MalformedFileError

PROFILES_DIR = reference.REFERENCE_DIR / "profiles"
# Each export source in words: source, label, publisher, colour (a profile's source need not be listed).
EXPORT_SOURCES_CSV = "export_sources.csv"

# Every key a profile may use, by table ("" is the top level). Anything else is a profile error,
# so a misspelt key fails loudly instead of being ignored. `releases.files` holds file names.
KNOWN_KEYS: dict[str, set[str]] = {
    "": {"id", "source", "description", "force", "file", "layout", "columns", "categories", "releases"},
    "file": {"key_columns", "delimiter", "encoding", "header_row"},
    "layout": {"kind", "month_format", "date_format", "grain"},
    "columns": {
        "force",
        "area",
        "area_code",
        "period",
        "major",
        "minor",
        "offence_code",
        "category",
        "outcome",
        "count",
        "record_id",
        "ignore",
    },
    "categories": {"scheme", "value_map", "map_scheme", "outcome_scheme"},
    "releases": {"default", "files"},
}
# `none`: the file is no vintage of a series (each period is published once), so it has no release date.
RELEASE_DEFAULTS = ("month_after_last_period", "none")
# The period a long profile's dates are counted in: `month`, or `calendar_year` (a date such as `2016`).
GRAINS = {"month": "1mo", "calendar_year": "1y"}
# Schemes a `columns.category` may be in: each is checked against its published vocabulary.
CATEGORY_SCHEMES = {"police_uk": (lambda: reference.police_uk_crime_types()["crime_type"], "police_uk_crime_types.csv")}
# How a `columns.outcome` is read: Home Office outcome types (0–22), or police.uk's outcome labels.
OUTCOME_SCHEMES = ("ho_outcome_type", "police_uk")
ENCODINGS = ("utf-8", "utf-8-sig")  # pipelines.ingest.textfile reads UTF-8 (a BOM is removed)
# The schemes the ONS hierarchy is written in, in every force export.
ONS_GROUP = "ons_offence_group"
ONS_SUBGROUP = "ons_offence_subgroup"


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the profile file and the key."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class Profile:
    """One export profile, checked: every column it names is a key column, and every key column is
    mapped or deliberately ignored."""

    path: Path
    id: str
    source: str
    description: str
    force_id: str | None  # a constant force, or None when `columns.force` names a column
    key_columns: tuple[str, ...]
    delimiter: str
    header_row: int
    layout: str  # "wide" or "long"
    month_format: str | None
    date_format: str | None
    grain: str  # the period_grain of every row: month or calendar_year
    columns: dict[str, tuple[str, ...]]  # role → column(s); `area` may join several
    scheme: str
    value_map: pl.DataFrame | None  # map_scheme rows of the value map: major, minor, ons group, ons subgroup
    value_map_name: str | None
    map_scheme: str | None
    outcome_scheme: str
    release_default: str
    releases: dict[str, date]

    def column(self, role: str) -> str | None:
        names = self.columns.get(role)
        return names[0] if names else None

    # What a profile's layout and columns need, which `load_profile` has checked it has: reading a
    # file through a profile that lacks one is an error in the profile, said as loading it would.

    def required(self, role: str) -> str:
        """The column of a role the profile's layout needs."""
        if (name := self.column(role)) is None:
            raise ProfileError(self.path, f"`columns.{role}` is required")
        return name

    def required_month_format(self) -> str:
        """The month format of a wide profile's month columns."""
        if self.month_format is None:
            raise ProfileError(self.path, "`layout.month_format` is required")
        return self.month_format

    def required_value_map(self) -> pl.DataFrame:
        """The value map rows of a profile with major and minor columns."""
        if self.value_map is None:
            raise ProfileError(self.path, "`categories.value_map` is required")
        return self.value_map


# --- reading profiles ---------------------------------------------------------------------------


def _get(path: Path, table: dict, key: str, kind: type, where: str, default: Any = None) -> Any:
    value = table.get(key, default)
    if value is None:
        raise ProfileError(path, f"`{where}{key}` is required")
    if not isinstance(value, kind):
        raise ProfileError(path, f"`{where}{key}` must be a {kind.__name__}, not {value!r}")
    return value


def _check_keys(path: Path, data: dict) -> None:
    for section, allowed in KNOWN_KEYS.items():
        table = data if section == "" else data.get(section, {})
        if not isinstance(table, dict):
            raise ProfileError(path, f"`{section}` must be a table")
        unknown = set(table) - allowed
        if unknown:
            where = f"{section}." if section else ""
            raise ProfileError(
                path,
                f"unknown key(s) {', '.join(f'`{where}{k}`' for k in sorted(unknown))} "
                "(see docs/force_exports.md for the keys a profile may use)",
            )


@cache
def _value_map_file(path: Path) -> pl.DataFrame:
    """A value map CSV, checked against the ONS hierarchy: each group is a top-level ONS group label
    and each subgroup, where given, is a subgroup of that group."""
    frame = pl.read_csv(path, infer_schema=False)
    required = {"map_scheme", "major", "minor", "ons_offence_group", "ons_offence_subgroup"}
    if missing := required - set(frame.columns):
        raise ProfileError(path, f"value map lacks column(s) {sorted(missing)}")
    hierarchy = reference.offence_hierarchy()
    groups = set(hierarchy.filter(pl.col("depth") == 1)["offence_label"])
    subgroups = set(hierarchy.drop_nulls("offence_subgroup").select("offence_group", "offence_subgroup").iter_rows())
    for number, row in enumerate(frame.iter_rows(named=True), start=2):
        group, subgroup = row["ons_offence_group"], row["ons_offence_subgroup"]
        if group not in groups:
            raise ProfileError(path, f"line {number}: {group!r} is not an ONS offence group label ({sorted(groups)})")
        if subgroup is not None and (group, subgroup) not in subgroups:
            raise ProfileError(path, f"line {number}: {subgroup!r} is not an ONS offence subgroup of {group!r}")
    for keys, what in (
        (["map_scheme", "major", "minor"], "mapped twice"),
        (["map_scheme", "minor"], "listed under two majors (its minor text is the category)"),
    ):
        repeated = frame.filter(pl.struct(keys).is_duplicated())
        if repeated.height:
            raise ProfileError(path, f"{what}: {repeated.select(keys).unique().rows()}")
    return frame


def file_table(path: Path, file: dict) -> tuple[tuple[str, ...], str, int]:
    """`[file]`: the key columns, the delimiter and the header row, checked."""
    key_columns = tuple(_get(path, file, "key_columns", list, "file."))
    delimiter = _get(path, file, "delimiter", str, "file.", ",")
    if delimiter not in SEPARATORS:
        raise ProfileError(path, f"`file.delimiter` {delimiter!r} is not one the reader detects ({SEPARATORS!r})")
    encoding = _get(path, file, "encoding", str, "file.", "utf-8")
    if encoding.lower() not in ENCODINGS:
        raise ProfileError(path, f"`file.encoding` {encoding!r}: only UTF-8 is read; save the export as UTF-8")
    header_row = _get(path, file, "header_row", int, "file.", 1)
    if header_row != 1:
        raise ProfileError(path, "`file.header_row` must be 1: the reader takes the header from the first line")
    return key_columns, delimiter, header_row


def layout_table(path: Path, layout: dict) -> tuple[str, str | None, str | None, str]:
    """`[layout]`: the kind (wide or long), the month or date format it needs, and the grain."""
    kind = _get(path, layout, "kind", str, "layout.")
    if kind not in ("wide", "long"):
        raise ProfileError(path, f"`layout.kind` must be 'wide' or 'long', not {kind!r}")
    month_format = _get(path, layout, "month_format", str, "layout.") if kind == "wide" else None
    date_format = _get(path, layout, "date_format", str, "layout.") if kind == "long" else None
    grain = _get(path, layout, "grain", str, "layout.", "month")
    if grain not in GRAINS or (kind == "wide" and grain != "month"):
        raise ProfileError(
            path, f"`layout.grain` must be one of {sorted(GRAINS)} (a wide profile's columns are months), not {grain!r}"
        )
    return kind, month_format, date_format, grain


def columns_table(path: Path, columns: dict, key_columns: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """`[columns]`: role → column(s). Every column named is a key column, and every key column is
    mapped or ignored."""
    roles: dict[str, tuple[str, ...]] = {}
    for role, value in columns.items():
        names = (value,) if isinstance(value, str) else tuple(value)
        if role != "area" and role != "ignore" and len(names) != 1:
            raise ProfileError(path, f"`columns.{role}` must name one column")
        for name in names:
            if name not in key_columns:
                raise ProfileError(path, f"`columns.{role}` names {name!r}, which is not in `file.key_columns`")
            if name in RAW_EXTRAS:
                raise ProfileError(path, f"column name {name!r} is reserved by the reader")
        roles[role] = names
    used = {name for names in roles.values() for name in names}
    if unmapped := [c for c in key_columns if c not in used]:
        raise ProfileError(
            path,
            f"key column(s) {unmapped} are not mapped: name their part under [columns] "
            "or list them in `columns.ignore`",
        )
    return roles


def roles_fit_layout(path: Path, kind: str, roles: dict[str, tuple[str, ...]]) -> None:
    """A long profile names its period and one of count or record id; a wide one none of them, and no outcome."""
    if kind == "long":
        if "period" not in roles:
            raise ProfileError(path, "a long profile needs `columns.period` (the date each row is counted in)")
        if ("count" in roles) == ("record_id" in roles):
            raise ProfileError(
                path,
                "a long profile names exactly one of `columns.count` (a count per row) "
                "and `columns.record_id` (one crime per row)",
            )
    elif {"period", "count", "record_id"} & set(roles):
        raise ProfileError(
            path,
            "a wide profile takes its months and counts from the month columns: "
            "drop `columns.period`, `columns.count` and `columns.record_id`",
        )
    if "outcome" in roles and kind == "wide":
        raise ProfileError(path, "`columns.outcome` is read in long profiles only")


def profile_force(path: Path, force: Any, roles: dict[str, tuple[str, ...]]) -> str | None:
    """The force of every row (top-level `force`, resolved), or None when `columns.force` names a column."""
    if (force is None) == ("force" not in roles):
        raise ProfileError(path, "give exactly one of `force` (the force of every row) and `columns.force`")
    if force is None:
        return None
    if (resolved := reference.force_id(str(force))) is None:
        raise ProfileError(path, f"`force` {force!r} is not a force_id or a spelling in force_aliases.csv")
    return resolved


def categories_table(
    path: Path, categories: dict, roles: dict[str, tuple[str, ...]]
) -> tuple[str, pl.DataFrame | None, str | None, str | None, str]:
    """`[categories]`: the scheme, the value map (its rows for `map_scheme`, its file name and map
    scheme) where major and minor columns are mapped, and the outcome scheme."""
    scheme = _get(path, categories, "scheme", str, "categories.")
    value_map = value_map_name = map_scheme = None
    if ("category" in roles) + ("offence_code" in roles) + bool({"major", "minor"} & set(roles)) > 1:
        raise ProfileError(
            path, "name one of `columns.offence_code`, `columns.category`, or `columns.major` + `columns.minor`"
        )
    if "category" in roles:
        if scheme not in CATEGORY_SCHEMES:
            raise ProfileError(
                path,
                f"`columns.category` is read in a scheme with a published vocabulary ({sorted(CATEGORY_SCHEMES)}), "
                f"not `categories.scheme` {scheme!r}",
            )
    elif "offence_code" in roles:
        if {"major", "minor"} & set(roles) or "value_map" in categories:
            raise ProfileError(
                path,
                "name either `columns.offence_code` (resolved against the ONS hierarchy) or "
                "`columns.major` + `columns.minor` with `categories.value_map`, not both",
            )
    else:
        if not {"major", "minor"} <= set(roles):
            raise ProfileError(path, "name `columns.offence_code`, or `columns.major` and `columns.minor`")
        value_map_name = _get(path, categories, "value_map", str, "categories.")
        map_scheme = _get(path, categories, "map_scheme", str, "categories.")
        value_map = _value_map_file(path.parent / value_map_name).filter(pl.col("map_scheme") == map_scheme)
        if value_map.height == 0:
            raise ProfileError(path, f"`categories.map_scheme` {map_scheme!r} has no rows in {value_map_name}")
    outcome_scheme = _get(path, categories, "outcome_scheme", str, "categories.", OUTCOME_SCHEMES[0])
    if outcome_scheme not in OUTCOME_SCHEMES:
        raise ProfileError(
            path, f"`categories.outcome_scheme` must be one of {OUTCOME_SCHEMES}, not {outcome_scheme!r}"
        )
    return scheme, value_map, value_map_name, map_scheme, outcome_scheme


def releases_table(path: Path, releases: dict) -> tuple[str, dict[str, date]]:
    """`[releases]`: the default release date rule and the release date of each file it names."""
    default = _get(path, releases, "default", str, "releases.", RELEASE_DEFAULTS[0])
    if default not in RELEASE_DEFAULTS:
        raise ProfileError(path, f"`releases.default` must be one of {RELEASE_DEFAULTS}, not {default!r}")
    files = releases.get("files", {})
    for name, when in files.items():
        if not isinstance(when, date) or isinstance(when, datetime):
            raise ProfileError(path, f"`releases.files` {name!r} must be a date (YYYY-MM-DD, unquoted), not {when!r}")
    return default, dict(files)


def load_profile(path: Path) -> Profile:
    """Read and check one profile, a table at a time; `ProfileError` names the file and the key at fault."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    _check_keys(path, data)
    key_columns, delimiter, header_row = file_table(path, data.get("file", {}))
    kind, month_format, date_format, grain = layout_table(path, data.get("layout", {}))
    roles = columns_table(path, data.get("columns", {}), key_columns)
    force_id = profile_force(path, data.get("force"), roles)
    roles_fit_layout(path, kind, roles)
    scheme, value_map, value_map_name, map_scheme, outcome_scheme = categories_table(
        path, data.get("categories", {}), roles
    )
    release_default, releases = releases_table(path, data.get("releases", {}))
    return Profile(
        path=path,
        id=_get(path, data, "id", str, ""),
        source=_get(path, data, "source", str, ""),
        description=_get(path, data, "description", str, "", ""),
        force_id=force_id,
        key_columns=key_columns,
        delimiter=delimiter,
        header_row=header_row,
        layout=kind,
        month_format=month_format,
        date_format=date_format,
        grain=grain,
        columns=roles,
        scheme=scheme,
        value_map=value_map,
        value_map_name=value_map_name,
        map_scheme=map_scheme,
        outcome_scheme=outcome_scheme,
        release_default=release_default,
        releases=releases,
    )


def load_profiles(folder: Path = PROFILES_DIR) -> list[Profile]:
    """Every profile in `folder`, in file-name order; two profiles may not share their key columns."""
    profiles = [load_profile(p) for p in sorted(folder.glob("*.toml"))]
    seen: dict[tuple[str, ...], Path] = {}
    for p in profiles:
        key = tuple(sorted(p.key_columns)) if p.layout == "long" else p.key_columns
        if key in seen:
            raise ProfileError(p.path, f"has the same key columns as {seen[key].name}: a file could not be told apart")
        seen[key] = p.path
    return profiles


# --- recognising files --------------------------------------------------------------------------


def recognises(profile: Profile, header: list[str]) -> bool:
    """Wide: the key columns in order, then at least one month column and nothing else.
    Long: exactly the key columns, in any order."""
    if profile.layout == "long":
        return sorted(header) == sorted(profile.key_columns)
    keys = len(profile.key_columns)
    months = header[keys:]
    month_format = profile.required_month_format()
    return (
        tuple(header[:keys]) == profile.key_columns
        and bool(months)
        and all(month_named(m, month_format) for m in months)
    )


# --- normalising --------------------------------------------------------------------------------


def _text(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars()


def _check_value_map(profile: Profile, lf: pl.LazyFrame) -> None:
    """Raise `MalformedFileError` for the first category the value map does not map, naming the file,
    its line, the column and the value (and how many other categories are unmapped)."""
    major, minor = profile.column("major"), profile.column("minor")
    seen = lf.group_by("file_name", "major", "minor").agg(pl.col("row_number").min())
    value_map = profile.required_value_map()
    unmapped = (
        seen.join(value_map.lazy().select("major", "minor"), on=["major", "minor"], how="anti", nulls_equal=True)
        .sort("file_name", "row_number")
        .collect()
    )
    if unmapped.height:
        first = unmapped.row(0, named=True)
        others = (
            f"; {unmapped.height - 1} other unmapped categor{'y' if unmapped.height == 2 else 'ies'} too"
            if unmapped.height > 1
            else ""
        )
        raise MalformedFileError(
            first["file_name"],
            first["row_number"] + profile.header_row,
            f"column {minor!r} has the value {first['minor']!r} (with {major!r} = {first['major']!r}), which "
            f"{profile.value_map_name} does not map for map_scheme {profile.map_scheme!r} "
            f"(profile {profile.path.name}); "
            f"add a row mapping it to an ONS offence group{others}",
        )


def _check_month_columns(profile: Profile, raw: pl.LazyFrame, periods: dict[str, date | None]) -> None:
    """Raise `MalformedFileError` (on the header line) for a month column that names no month in the
    profile's month format or one outside the plausible span: every row has a cell in it, so it is
    the header that is wrong, not the rows."""
    wrong = [
        (name, why)
        for name, month in periods.items()
        if (why := f"not a month in {profile.month_format} form" if month is None else outside_span(month))
    ]
    if wrong:
        name, when = wrong[0]
        file_name = raw.select(pl.col("file_name").first()).collect().item()
        raise MalformedFileError(
            file_name,
            profile.header_row,
            f"month column {name!r} is {when}; correct the header (profile {profile.path.name})",
        )


def _categories(profile: Profile, lf: pl.LazyFrame) -> pl.LazyFrame:
    """Adds `source_label`, `category`, `ons_group` and `ons_subgroup` from the value map."""
    value_map = profile.required_value_map()
    mapping = value_map.lazy().select(
        "major",
        "minor",
        pl.col("ons_offence_group").alias("ons_group"),
        pl.col("ons_offence_subgroup").alias("ons_subgroup"),
    )
    return lf.join(mapping, on=["major", "minor"], how="left", nulls_equal=True).with_columns(
        pl.concat_str(pl.col("major"), pl.lit(" / "), pl.col("minor")).alias("source_label"),
        pl.col("minor").alias("category"),
    )


def _areas(profile: Profile) -> list[pl.Expr]:
    area = profile.columns.get("area")
    code = profile.column("area_code")
    return [
        (pl.concat_str([_text(c) for c in area], separator=" / ") if area else pl.lit(None, pl.String)).alias(
            "area_name"
        ),
        (_text(code) if code else pl.lit(None, pl.String)).alias("area_code"),
    ]


def _force(profile: Profile) -> tuple[pl.Expr, list[tuple[pl.Expr, pl.Expr]]]:
    if profile.force_id is not None:
        return pl.lit(profile.force_id).alias("force_id"), []
    return resolve_force(profile.required("force"))


def _wide_cells(profile: Profile, raw: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame, list]:
    """(checked input rows, one row per non-blank month cell of the rows that passed, checks)."""
    months = [c for c in raw.collect_schema().names() if c not in RAW_EXTRAS and c not in profile.key_columns]
    month_format = profile.required_month_format()
    periods = {m: month_named(m, month_format) for m in months}
    _check_month_columns(profile, raw, periods)
    force, checks = _force(profile)
    lf = raw.with_columns(
        force,
        *_areas(profile),
        _text(profile.required("major")).alias("major"),
        _text(profile.required("minor")).alias("minor"),
    )
    _check_value_map(profile, lf)
    # A blank cell is a month the row does not supply (no count, not zero); a cell that is not a
    # whole number quarantines the row, since the row's other months could not be trusted either.
    checks += [
        (
            pl.col(m).is_not_null() & whole_number(m, thousands=False).is_null(),
            pl.lit(f"column {m!r} is '") + pl.col(m) + pl.lit("', not a whole number"),
        )
        for m in months
    ]
    lf = lf.with_columns(passed(checks))
    cells = (
        _categories(profile, lf.filter(pl.col("passed")))
        .unpivot(
            on=months,
            index=[
                "file_name",
                "row_number",
                "force_id",
                "area_name",
                "area_code",
                "source_label",
                "category",
                "ons_group",
                "ons_subgroup",
            ],
            variable_name="month_column",
            value_name="cell",
        )
        .filter(pl.col("cell").is_not_null())
        .with_columns(
            pl.col("month_column")
            .replace_strict(list(periods), list(periods.values()), return_dtype=pl.Date)
            .alias("period"),
            whole_number("cell", thousands=False).alias("offence_count"),
        )
    )
    return lf, cells, checks


@cache
def _leaf_codes() -> pl.DataFrame:
    return reference.offence_hierarchy().filter(pl.col("is_leaf"))


def _long_cells(profile: Profile, raw: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame, list]:
    """(checked input rows, one row per input row that passed, checks)."""
    date_column = profile.required("period")
    force, checks = _force(profile)
    lf = raw.with_columns(
        force,
        *_areas(profile),
        _text(date_column)
        .str.to_date(profile.date_format, strict=False)
        .dt.truncate(GRAINS[profile.grain])
        .alias("period"),
    )
    checks.append(
        (
            pl.col("period").is_null(),
            pl.format(
                f"column {date_column!r} is '{{}}', not a date in {profile.date_format} form",
                pl.col(date_column).fill_null(""),
            ),
        )
    )
    checks += period_checks("period", date_column)
    if count := profile.column("count"):
        lf = lf.with_columns(whole_number(count, thousands=False).alias("offence_count"))
        checks.append(
            (
                pl.col("offence_count").is_null(),
                pl.format(f"column {count!r} is '{{}}', not a whole number", pl.col(count).fill_null("")),
            )
        )
    else:
        record_id = profile.required("record_id")
        lf = lf.with_columns(pl.lit(1, pl.Int64).alias("offence_count"))
        checks.append((pl.col(record_id).is_null(), pl.lit(f"column {record_id!r} is empty: the row names no record")))

    if code := profile.column("offence_code"):
        leaves = _leaf_codes()
        lf = lf.with_columns(
            offence_code(_text(code)).alias("category"),
            _text(code).alias("source_label"),
        ).with_columns(
            pl.col("category")
            .replace_strict(leaves["offence_code"], leaves["offence_group"], default=None)
            .alias("ons_group"),
            pl.col("category")
            .replace_strict(leaves["offence_code"], leaves["offence_subgroup"], default=None)
            .alias("ons_subgroup"),
        )
        checks += [
            (pl.col(code).is_null(), pl.lit(f"column {code!r} is empty: the row has no offence code")),
            (
                pl.col(code).is_not_null() & pl.col("ons_group").is_null(),
                pl.format(
                    f"column {code!r} is '{{}}', which is not a Home Office offence code in the ONS offence "
                    f"hierarchy ({REFERENCE}/ons_offence_hierarchy.csv)",
                    pl.col(code),
                ),
            ),
        ]
    elif category := profile.column("category"):
        vocabulary, file_name = CATEGORY_SCHEMES[profile.scheme]
        known = vocabulary()
        lf = lf.with_columns(
            _text(category).alias("category"),
            _text(category).alias("source_label"),
            pl.lit(None, pl.String).alias("ons_group"),
            pl.lit(None, pl.String).alias("ons_subgroup"),
        )
        checks += [
            (pl.col(category).is_null(), pl.lit(f"column {category!r} is empty: the row has no category")),
            (
                pl.col(category).is_not_null() & ~pl.col("category").is_in(known.implode()),
                pl.format(
                    f"column {category!r} is '{{}}', not a {profile.scheme} category (if it is published, add it to "
                    f"{REFERENCE}/{file_name})",
                    pl.col(category),
                ),
            ),
        ]
    else:
        lf = lf.with_columns(
            _text(profile.required("major")).alias("major"), _text(profile.required("minor")).alias("minor")
        )
        _check_value_map(profile, lf)
        lf = _categories(profile, lf)

    if outcome := profile.column("outcome"):
        lf, outcome_checks = _outcomes(profile, lf, outcome)
        checks += outcome_checks

    lf = lf.with_columns(passed(checks))
    return lf, lf.filter(pl.col("passed")), checks


def _outcomes(profile: Profile, lf: pl.LazyFrame, outcome: str) -> tuple[pl.LazyFrame, list[tuple[pl.Expr, pl.Expr]]]:
    """Adds `outcome` (as crime_outcomes spells it) and `outcome_group`. A blank outcome is an outcome
    not supplied; a value must be in the outcome scheme's published vocabulary."""
    if profile.outcome_scheme == "police_uk":
        labels = reference.police_uk_outcomes()
        lf = lf.with_columns(_text(outcome).alias("outcome")).with_columns(
            pl.col("outcome")
            .replace_strict(labels["outcome_label"], labels["outcome_group"], default=None)
            .alias("outcome_group")
        )
        unknown = pl.format(
            f"column {outcome!r} is '{{}}', not a police.uk outcome (if police.uk publishes it, add it to "
            f"{REFERENCE}/police_uk_outcomes.csv)",
            pl.col(outcome),
        )
    else:
        types = reference.ho_outcome_types()
        lf = lf.with_columns(_text(outcome).cast(pl.Int32, strict=False).alias("outcome_type")).with_columns(
            pl.col("outcome_type")
            .replace_strict(types["outcome_type"], types["outcome_group"], default=None)
            .alias("outcome_group"),
            pl.col("outcome_type").cast(pl.String).alias("outcome"),
        )
        unknown = pl.format(f"column {outcome!r} is '{{}}', not a Home Office outcome type (0–22)", pl.col(outcome))
    return lf, [(pl.col(outcome).is_not_null() & pl.col("outcome_group").is_null(), unknown)]


def _release_date(profile: Profile) -> pl.Expr:
    """The file's release date from `releases.files`, else (default `month_after_last_period`) the
    first day of the month after the last month the file supplies, or none (default `none`)."""
    if profile.release_default == "none" and not profile.releases:
        return pl.lit(None, pl.Date).alias("release_date")
    listed = pl.col("file_name").replace_strict(
        list(profile.releases), list(profile.releases.values()), default=None, return_dtype=pl.Date
    )
    after_last = pl.col("period").max().over("file_name").dt.offset_by("1mo")
    return pl.coalesce(listed, after_last).alias("release_date")


def to_canonical(profile: Profile, raw: pl.LazyFrame) -> Canonical:
    """Pure apart from one small read of the distinct categories (to fail on an unmapped one before
    anything is written): strings in, canonical rows, coverage and quarantine out."""
    reader = _wide_cells if profile.layout == "wide" else _long_cells
    lf, cells, checks = reader(profile, raw)
    cells = cells.with_columns(_release_date(profile))
    area_counts = cells.select(
        "file_name",
        "row_number",
        pl.lit(profile.source).alias("source"),
        "release_date",
        "force_id",
        "area_name",
        "area_code",
        "period",
        grain(profile.grain),
        "source_label",
        pl.lit(profile.scheme).alias("scheme"),
        "category",
        "offence_count",
    )
    keys = ["file_name", "release_date", "force_id", "period"]
    # The columns every count row of the export starts with, before its scheme.
    leading = (
        "file_name",
        pl.lit(profile.source).alias("source"),
        "release_date",
        "force_id",
        "period",
        grain(profile.grain),
    )

    def summed(scheme: str, category: str) -> pl.LazyFrame:
        return (
            cells.filter(pl.col(category).is_not_null())
            .group_by(*keys, pl.col(category).alias("category"))
            .agg(pl.col("offence_count").sum())
            .select(*leading, pl.lit(scheme).alias("scheme"), "category", "offence_count")
        )

    tables = {
        "core_force_exports__area_counts": area_counts,
        "core_counts__recorded_crime": pl.concat(
            [summed(profile.scheme, "category"), summed(ONS_GROUP, "ons_group"), summed(ONS_SUBGROUP, "ons_subgroup")]
        ),
    }
    if profile.column("outcome"):
        tables["core_counts__crime_outcomes"] = (
            cells.group_by(*keys, "category", "outcome", "outcome_group")
            .agg(pl.col("offence_count").sum().alias("outcome_count"))
            .select(
                *leading,
                pl.lit(profile.scheme).alias("scheme"),
                "category",
                pl.lit(profile.outcome_scheme).alias("outcome_scheme"),
                "outcome",
                "outcome_group",
                pl.lit("offences_recorded_in_period").alias("count_basis"),
                "outcome_count",
            )
        )
    return Canonical(
        tables=tables,
        loaded=lf.filter(pl.col("passed")).select("file_name", "row_number", "duplicate_of_row"),
        # rows_supplied: input rows with a count for the month (a wide row supplies each non-blank month)
        coverage=cells.group_by("file_name", "force_id", "period").agg(pl.len().cast(pl.Int64).alias("rows_supplied")),
        quarantine=lf.filter(~pl.col("passed")).with_columns(reasons(checks)),
    )


@cache
def export_sources(folder: Path = PROFILES_DIR) -> dict[str, dict[str, str | None]]:
    """Each export source's words from `export_sources.csv` beside the profiles (source → label,
    publisher, colour; an empty cell is None). No file: no words."""
    path = folder / EXPORT_SOURCES_CSV
    if not path.exists():
        return {}
    frame = pl.read_csv(path, infer_schema=False)
    if repeated := frame.filter(pl.col("source").is_duplicated())["source"].unique().to_list():
        raise ProfileError(path, f"sources listed twice: {repeated}")
    return {
        row.pop("source"): row for row in frame.select("source", "label", "publisher", "colour").iter_rows(named=True)
    }


def source_for(profile: Profile, words: dict[str, dict[str, str | None]]) -> Source:
    """The profile as a source that the registry can pick by header, named by its source's `words`."""
    shown = profile.key_columns + (
        (f"<one column per month, {profile.month_format}>",) if profile.layout == "wide" else ()
    )
    named = words.get(profile.source, {})
    return Source(
        id=profile.source,
        label=named.get("label"),
        publisher=named.get("publisher"),
        colour=named.get("colour"),
        reader=TextReader(shown, recognise=partial(recognises, profile), separator=profile.delimiter),
        to_canonical=partial(to_canonical, profile),
        national=profile.force_id is None,
    )


def _sources(profiles: list[Profile], folder: Path = PROFILES_DIR) -> tuple[Source, ...]:
    words = export_sources(folder)
    if unused := sorted(set(words) - {p.source for p in profiles}):
        raise ProfileError(folder / EXPORT_SOURCES_CSV, f"no profile has the source(s) {unused}")
    return tuple(source_for(p, words) for p in profiles)


PROFILES: list[Profile] = load_profiles()
SOURCES: tuple[Source, ...] = _sources(PROFILES)
