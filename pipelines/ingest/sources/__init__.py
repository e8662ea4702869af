"""Source formats, one module per publication. `detect` picks the format from a file's header."""

from __future__ import annotations

from pathlib import Path

from pipelines.ingest.sources import breaks, force_export, home_office, ons_rec_crime, police_uk
from pipelines.ingest.sources.base import Extracted, SourceFormat
from pipelines.ingest.textfile import MalformedFileError, TextFile, peek_header

FORMATS: list[SourceFormat] = [police_uk.STREET, police_uk.OUTCOMES, ons_rec_crime.FORMAT]
FORMATS += [home_office.CRIME_PFA, home_office.CRIME_CSP, home_office.OUTCOMES]
FORMATS += [breaks.FORMAT]
FORMATS += force_export.FORMATS  # one SourceFormat per profile in pipelines/reference/profiles/


# Files that sit beside returns but are not returns: recognised, reported as skipped, never loaded.
NOT_RETURNS: dict[tuple[str, ...], str] = {
    ("path", "bytes", "sha256", "data_rows", "source_repo", "source_commit", "source_path", "transform"):
        "a manifest of data files, not a return",
    ("LAD23CD", "LAD23NM", "CSP23CD", "CSP23NM", "PFA23CD", "PFA23NM", "ObjectId"):
        "the ONS LAD→CSP→PFA lookup; population is built with its copy in pipelines/reference/lad23_csp23_pfa23_lookup.csv",
    ("code", "label", "parent_code", "parent_label", "depth", "is_leaf", "level1_code", "level1_label", "level2_code",
     "level2_label", "level3_code", "level3_label"):
        "the ONS offence hierarchy; crossforce resolves codes with its copy in pipelines/reference/ons_offence_hierarchy.csv",
}


def not_a_return(path: Path) -> str | None:
    """Why the file is deliberately skipped, or None if it should be a return."""
    return NOT_RETURNS.get(tuple(peek_header(path)))


# Spreadsheet returns: each module has `recognises(path) -> bool` and `extract(path) -> Extracted`.
WORKBOOK_FORMATS: list = []
from pipelines.ingest.sources import ons_pfa_tables, ons_population  # noqa: E402  (after the list they join)
WORKBOOK_FORMATS += [ons_pfa_tables, ons_population]
WORKBOOK_SUFFIXES = (".xlsx",)


def extract_workbook(path: Path) -> Extracted:
    for fmt in WORKBOOK_FORMATS:
        if fmt.recognises(path):
            return fmt.extract(path)
    raise MalformedFileError(path, None, "not a spreadsheet of any known return (no known sheet layout found)")


def detect(text: TextFile) -> SourceFormat:
    for fmt in FORMATS:
        if fmt.matches(text):
            return fmt
    known = "; ".join(f"{f.source}: {', '.join(f.header)}" for f in FORMATS)
    raise MalformedFileError(
        text.path, 1, f"header {', '.join(text.header)!s} is not the header of any known return ({known})"
    )


def source_scopes() -> dict[str, bool]:
    """Every source id → whether it is a national return (expected from every territorial force)."""
    scopes = {fmt.source: fmt.national for fmt in FORMATS}
    scopes.update({fmt.SOURCE: True for fmt in WORKBOOK_FORMATS})
    return scopes
