"""Each source's words (its publisher and publication) and colour: the one place the charts, and the
dashboard through them, name and colour sources."""

from __future__ import annotations

from dashboard.charts.palette import QUALITATIVE
from pipelines.ingest.sources import REGISTRY

# Each source's words (its publisher and publication) and colour come from the sources' registry,
# where a source is declared: the one list the dashboard names and colours sources by.
SOURCE_WORDS = REGISTRY.labels()
SOURCE_COLOURS = REGISTRY.colours()


def _source_colour(source: str, known: list[str]) -> str:
    """The source's own colour, or (for a source without one) a colour by its place among `known`."""
    if source in SOURCE_COLOURS:
        return SOURCE_COLOURS[source]
    return QUALITATIVE[known.index(source) % len(QUALITATIVE)]
