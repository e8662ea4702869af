"""Reference tables and the shared resolving steps: every value seen in the real files resolves, and
resolves to the right thing; offence codes in every published spelling normalise the same way."""

from __future__ import annotations

import csv
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import cache
from pathlib import Path

import polars as pl
import pytest

from pipelines import reference
from pipelines.ingest import steps

from conftest import real_data

REF = reference.REFERENCE_DIR
POLICE_UK_NAME = re.compile(r"^\d{4}-\d{2}-(?P<slug>.+)-(?P<kind>street|outcomes)\.csv(\.gz)?$")
LOOKUP_CSV = "Local_Authority_District_to_CSPs_to_Police_Force_Areas_(December__2023)_Lookup_.csv"


def _csv(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    with path.open(newline="", encoding=encoding) as handle:
        return list(csv.DictReader(handle))


def resolve(names) -> list[str | None]:
    names = list(names)
    return pl.DataFrame({"n": names}, schema={"n": pl.String}).select(reference.force_id_of(pl.col("n")))["n"].to_list()


def resolve_one(name: str) -> str | None:
    return resolve([name])[0]


# --- real files ------------------------------------------------------------------------------------


def _police_uk_files() -> list[Path]:
    real = real_data()
    files = sorted((real / "police_uk_street_2021").rglob("*.csv.gz")) + sorted(
        (real / "police_uk_street_outcomes").rglob("*.csv.gz")
    )
    assert len(files) == 260  # 188 street files of 2021 + 72 in the street/outcomes folder (PROVENANCE.md)
    return files


@cache
def police_uk_values() -> dict[str, dict]:
    """Distinct values per file: force spellings, crime types and outcome labels (nulls dropped)."""

    def one(path: Path) -> dict:
        kind = POLICE_UK_NAME.match(path.name)["kind"]
        outcome_col = "Last outcome category" if kind == "street" else "Outcome type"
        columns = ["Reported by", "Falls within", outcome_col] + (["Crime type"] if kind == "street" else [])
        frame = pl.read_csv(path, columns=columns, infer_schema=False)
        distinct = {c: {v for v in frame[c].unique().to_list() if v is not None} for c in columns}
        return {
            "forces": distinct["Reported by"] | distinct["Falls within"],
            "crime_types": distinct.get("Crime type", set()),
            "outcomes": distinct[outcome_col],
        }

    files = _police_uk_files()
    with ThreadPoolExecutor(max_workers=4) as pool:
        return {path.name: values for path, values in zip(files, pool.map(one, files))}


@pytest.mark.real
def test_every_police_uk_force_spelling_resolves_to_the_force_of_its_file():
    for name, values in police_uk_values().items():
        slug = POLICE_UK_NAME.match(name)["slug"]
        spellings = sorted(values["forces"])
        assert spellings, name
        assert dict(zip(spellings, resolve(spellings))) == {s: slug for s in spellings}, name


@pytest.mark.real
def test_every_police_uk_file_slug_resolves_to_itself():
    slugs = {POLICE_UK_NAME.match(p.name)["slug"] for p in _police_uk_files()}
    assert len(slugs) == 41
    assert dict(zip(sorted(slugs), resolve(sorted(slugs)))) == {s: s for s in slugs}


@pytest.mark.real
def test_every_police_uk_crime_type_and_outcome_label_is_in_the_reference_tables():
    crime_types = {r["crime_type"] for r in _csv(REF / "police_uk_crime_types.csv")}
    outcome_labels = {r["outcome_label"] for r in _csv(REF / "police_uk_outcomes.csv")}
    seen_types = set().union(*(v["crime_types"] for v in police_uk_values().values()))
    seen_outcomes = set().union(*(v["outcomes"] for v in police_uk_values().values()))
    assert len(seen_types) == 14  # the 14 police.uk crime types (DOMAIN.md)
    assert seen_types <= crime_types, seen_types - crime_types
    assert seen_outcomes <= outcome_labels, seen_outcomes - outcome_labels
    # and the module's own view of those tables agrees with the files
    assert set(reference.police_uk_crime_types()["crime_type"]) == crime_types
    assert set(reference.police_uk_outcomes()["outcome_label"]) == outcome_labels


@pytest.mark.real
def test_every_rec_crime_pfa_name_resolves_to_a_force_of_the_right_kind():
    rows = _csv(real_data() / "ons_rec_crime_pfa" / "rec-crime-pfa.csv")
    region_of = {r["PFA"]: r["Region"] for r in rows}
    assert len(region_of) == 47
    kinds = {r["force_id"]: r["force_kind"] for r in _csv(REF / "forces.csv")}
    resolved = dict(zip(region_of, resolve(region_of)))
    assert None not in resolved.values(), [n for n, f in resolved.items() if f is None]
    for name, force_id in resolved.items():
        region = region_of[name]
        expected_kind = (
            "fraud_body"
            if region.startswith("Fraud:")
            else "transport"
            if name == "British Transport Police"
            else "territorial"
        )
        assert kinds[force_id] == expected_kind, name
    territorial = {f for f in resolved.values() if kinds[f] == "territorial"}
    assert len(territorial) == 43


@pytest.mark.real
def test_every_ons_lookup_pfa_name_resolves_to_the_force_with_its_code():
    rows = _csv(real_data() / "ons_population_lookups" / LOOKUP_CSV, encoding="utf-8-sig")
    code_of = {r["PFA23NM"]: r["PFA23CD"] for r in rows}
    assert len(code_of) == 43
    pfa_code = {r["force_id"]: r["pfa_code"] for r in _csv(REF / "forces.csv")}
    resolved = dict(zip(code_of, resolve(code_of)))
    assert {name: pfa_code.get(f) for name, f in resolved.items()} == code_of


@pytest.mark.parametrize(
    ("spelling", "force_id"),
    [
        ("Devon and Cornwall", "devon-and-cornwall"),
        ("Devon & Cornwall Police", "devon-and-cornwall"),
        ("devon-and-cornwall", "devon-and-cornwall"),
        ("London, City of", "city-of-london"),
        ("City of London Police", "city-of-london"),
        ("Greater Manchester8,9", "greater-manchester"),
        ("Dyfed-Powys4", "dyfed-powys"),
        ("  durham   CONSTABULARY ", "durham"),
        ("btp", "btp"),
        ("British Transport Police", "btp"),
        ("Police Service of Northern Ireland", "northern-ireland"),
        ("Metropolitan Police", "metropolitan"),
    ],
)
def test_spot_checks_resolve_to_the_right_force(spelling, force_id):
    assert resolve_one(spelling) == force_id


@pytest.mark.parametrize("spelling", ["Narnia Police", "Manchester", "", "Police"])
def test_an_unknown_spelling_resolves_to_null(spelling):
    assert resolve_one(spelling) is None


# --- the reference tables themselves ----------------------------------------------------------------


def test_every_outcome_group_used_is_declared():
    groups = {r["outcome_group"] for r in _csv(REF / "outcome_groups.csv")}
    used_by_labels = {r["outcome_group"] for r in _csv(REF / "police_uk_outcomes.csv")}
    used_by_types = {r["outcome_group"] for r in _csv(REF / "ho_outcome_types.csv")}
    assert used_by_labels <= groups, used_by_labels - groups
    assert used_by_types <= groups, used_by_types - groups


def test_ho_outcome_types_are_exactly_0_to_22():
    types = [int(r["outcome_type"]) for r in _csv(REF / "ho_outcome_types.csv")]
    assert sorted(types) == list(range(23))
    assert reference.ho_outcome_types()["outcome_type"].to_list() == types


def test_every_ho_type_named_by_a_police_uk_label_exists():
    for row in _csv(REF / "police_uk_outcomes.csv"):
        for t in filter(None, row["ho_outcome_types"].split(";")):
            assert 0 <= int(t) <= 22, row


def test_forces_has_the_43_territorial_forces_of_england_and_wales():
    rows = _csv(REF / "forces.csv")
    territorial = [r for r in rows if r["is_territorial_ew"] == "true"]
    assert len(territorial) == 43
    assert {r["is_territorial_ew"] for r in rows} == {"true", "false"}
    by_id = {r["force_id"]: r for r in rows}
    for body in ("btp", "northern-ireland", "action-fraud", "cifas", "uk-finance"):
        assert by_id[body]["is_territorial_ew"] == "false", body
    codes = [r["pfa_code"] for r in territorial]
    assert all(re.fullmatch(r"(E23|W15)\d{6}", c) for c in codes), codes
    assert len(set(codes)) == 43
    assert sum(c.startswith("W15") for c in codes) == 4  # the four Welsh forces
    # the module reads the flag as a boolean, not a string
    assert reference.forces().filter(pl.col("is_territorial_ew")).height == 43


def test_every_alias_points_at_a_known_force():
    force_ids = {r["force_id"] for r in _csv(REF / "forces.csv")}
    aliases = _csv(REF / "force_aliases.csv")
    assert {a["force_id"] for a in aliases} <= force_ids
    # every force's own id, name and short name are spellings that resolve to it
    for row in _csv(REF / "forces.csv"):
        assert resolve([row["force_id"], row["force_name"], row["short_name"]]) == [row["force_id"]] * 3, row


# --- offence codes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("8N", "8N"),
        ("08n", "8N"),
        (" 105a ", "105A"),
        ("4.9", "4.9"),
        ("37.2", "37.2"),
        ("802", "802"),
        ("008/73", "8/73"),
        ("00873", "8/73"),
        ("00806", "8/06"),
        ("1-4.1-4.10-4.2", "1-4.1-4.10-4.2"),
    ],
)
def test_normalise_offence_code(raw, code):
    assert reference.normalise_offence_code(raw) == code


@pytest.mark.parametrize("raw", ["", "   ", "abc", "8NN", "N8", "4.", "4.9.1", "/73", "8/", "-", "x-1", "8N?"])
def test_garbage_offence_codes_raise(raw):
    with pytest.raises(ValueError):
        reference.normalise_offence_code(raw)


def test_every_leaf_code_resolves_with_its_group():
    rows = _csv(REF / "ons_offence_hierarchy.csv")
    leaves = [r for r in rows if r["is_leaf"] == "True"]
    assert len(leaves) == 136  # PROVENANCE.md: 136 leaf offence codes
    for leaf in leaves:
        resolved = reference.resolve_offence_code(leaf["code"])
        assert resolved["offence_code"] == leaf["code"]
        assert resolved["offence_group"] == leaf["level1_label"] != ""


@pytest.mark.parametrize(("spelling", "code"), [("08n", "8N"), ("105a", "105A"), ("037.2", "37.2")])
def test_published_spellings_resolve_to_the_same_node(spelling, code):
    assert reference.resolve_offence_code(spelling)["offence_code"] == code


def test_an_unknown_code_raises_key_error_naming_it():
    with pytest.raises(KeyError, match="777Z"):
        reference.resolve_offence_code("777Z")


# --- the shared steps (pipelines.ingest.steps) ----------------------------------------------------

SOURCES_DIR = Path(steps.__file__).parent / "sources"


def _steps_frame(**columns) -> pl.DataFrame:
    return pl.DataFrame(columns, schema={name: pl.String for name in columns})


def test_resolve_force_gives_the_force_or_the_one_reason() -> None:
    frame = _steps_frame(Force=["Kent Police", "Narnia Constabulary", None])
    force, checks = steps.resolve_force("Force")
    got = frame.with_columns(force).with_columns(steps.passed(checks), steps.reasons(checks))
    assert got["force_id"].to_list() == ["kent", None, None]
    assert got["passed"].to_list() == [True, False, False]
    assert got["reason"].to_list()[1:] == [
        "unknown force 'Narnia Constabulary' in 'Force' (if it is a real force, add the spelling to "
        "pipelines/reference/force_aliases.csv)",
        "'Force' is empty: the row names no force",
    ]
    # Not required: an empty cell passes, an unknown spelling still fails.
    _, optional = steps.resolve_force("Force", required=False)
    assert frame.with_columns(force).select(steps.passed(optional))["passed"].to_list() == [True, False, True]


def test_the_unknown_force_message_is_written_once() -> None:
    """Every source quarantines an unknown force through `steps.unknown_force`, in the same words."""
    writers = [p.name for p in sorted(SOURCES_DIR.glob("*.py")) if "unknown force" in p.read_text(encoding="utf-8")]
    assert writers == []
    assert "unknown force '{{}}' in" in Path(steps.__file__).read_text(encoding="utf-8")


def test_offence_code_normalises_each_spelling_and_nulls_the_rest() -> None:
    frame = _steps_frame(code=["08N", "8n", "00873", "1/4.1/4.10/4.2", "no code", None])
    assert frame.select(steps.offence_code(pl.col("code")))["code"].to_list() == [
        "8N",
        "8N",
        "8/73",
        "1-4.1-4.10-4.2",
        None,
        None,
    ]


def test_whole_numbers_with_and_without_thousands_separators() -> None:
    frame = _steps_frame(n=[" 1,204 ", "-3", "12", "1.5", "", None])
    assert frame.select(steps.whole_number("n"))["n"].to_list() == [1204, -3, 12, None, None, None]
    assert frame.select(steps.whole_number("n", thousands=False))["n"].to_list() == [None, -3, 12, None, None, None]


def test_months_quarters_and_rolling_years() -> None:
    frame = _steps_frame(
        month=["2021-04", "2021-13", " 2019-12 "], year=["2019/20", "2019/20", "2019-20"], quarter=["1", "Q4", "1"]
    )
    got = frame.select(
        steps.year_month("month").alias("month"),
        steps.financial_quarter_start("year", "quarter").alias("quarter"),
        steps.period_start(pl.lit(date(2018, 3, 31)), "rolling_year").alias("rolling"),
    )
    assert got["month"].to_list() == [date(2021, 4, 1), None, date(2019, 12, 1)]
    assert got["quarter"].to_list() == [date(2019, 4, 1), date(2020, 1, 1), None]
    assert got["rolling"].to_list() == [date(2017, 4, 1)] * 3  # the year ending March 2018
    assert steps.month_named("202401", "%Y%m") == date(2024, 1, 1)
    assert steps.month_named("20241", "%Y%m") is None
    assert steps.outside_span(date(2002, 3, 1)) == "before the National Crime Recording Standard (April 2002)"
    assert steps.outside_span(date(2002, 4, 1)) is None
    with pytest.raises(ValueError, match="not a period grain"):
        steps.grain("fortnight")


def test_force_id_of_one_spelling() -> None:
    assert reference.force_id("Metropolitan Police Service") == "metropolitan"
    assert reference.force_id("Narnia") is None
