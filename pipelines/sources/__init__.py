"""Source formats, one module per publication. `detect` picks the format from a file's header."""

from __future__ import annotations

from pipelines.sources import police_uk
from pipelines.sources.base import SourceFormat
from pathlib import Path

from pipelines.textfile import MalformedFileError, TextFile, peek_header

FORMATS: list[SourceFormat] = [police_uk.STREET, police_uk.OUTCOMES]


# Files that sit beside returns but are not returns: recognised, reported as skipped, never loaded.
NOT_RETURNS: dict[tuple[str, ...], str] = {
    ("path", "bytes", "sha256", "data_rows", "source_repo", "source_commit", "source_path", "transform"):
        "a manifest of data files, not a return",
}


def not_a_return(path: Path) -> str | None:
    """Why the file is deliberately skipped, or None if it should be a return."""
    return NOT_RETURNS.get(tuple(peek_header(path)))


def detect(text: TextFile) -> SourceFormat:
    for fmt in FORMATS:
        if fmt.matches(text.header):
            return fmt
    known = "; ".join(f"{f.source}: {', '.join(f.header)}" for f in FORMATS)
    raise MalformedFileError(
        text.path, 1, f"header {', '.join(text.header)!s} is not the header of any known return ({known})"
    )
