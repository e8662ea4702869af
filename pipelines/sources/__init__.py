"""Source formats, one module per publication. `detect` picks the format from a file's header."""

from __future__ import annotations

from pipelines.sources import police_uk
from pipelines.sources.base import SourceFormat
from pipelines.textfile import MalformedFileError, TextFile

FORMATS: list[SourceFormat] = [police_uk.STREET, police_uk.OUTCOMES]


def detect(text: TextFile) -> SourceFormat:
    for fmt in FORMATS:
        if fmt.matches(text.header):
            return fmt
    known = "; ".join(f"{f.source}: {', '.join(f.header)}" for f in FORMATS)
    raise MalformedFileError(
        text.path, 1, f"header {', '.join(text.header)!s} is not the header of any known return ({known})"
    )
