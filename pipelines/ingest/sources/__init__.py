"""Every publication crossforce reads, in one registry.

Each module of this package is one publication (or a family of them: the releases of a force's
export) and lists its `Source`s in `SOURCES` (see `base.Source`). The registry gathers them from
every module here, in module-name order, so adding a source is adding a module (and the reference
data it resolves against): nothing else lists it. `REGISTRY` is the one registry; `detect`,
`detect_sheets`, `extract_workbook` and the words, colours and scopes of sources all read it.

A file is recognised by its header (delimited text) or its sheets (a workbook); a file that no
source recognises stops the load with a message naming the file and what was expected.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipelines.ingest.sources.base import Extracted, SheetReader, Source, TextReader, extract_sheets
from pipelines.ingest.textfile import MalformedFileError, TextFile, peek_header

# Modules of this package that hold no source: the shape and the extraction every source shares.
NOT_SOURCE_MODULES = ("base",)
WORKBOOK_SUFFIXES = (".xlsx",)


class Registry:
    """Sources in the order they were registered. Sources that share an id must agree on its words,
    colour and scope: the id is what every row, chart and message names."""

    def __init__(self) -> None:
        self._sources: list[Source] = []

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(self._sources)

    def register(self, *sources: Source) -> None:
        for source in sources:
            for other in self._sources:
                if other is source:
                    raise ValueError(f"source {source.id!r} is registered already")
                if other.id == source.id and _described(other) != _described(source):
                    raise ValueError(
                        f"source {source.id!r} is registered twice with different words, colour or scope: "
                        f"{_described(other)} and {_described(source)}"
                    )
            self._sources.append(source)

    def unregister(self, *sources: Source) -> None:
        for source in sources:
            self._sources.remove(source)

    @contextmanager
    def registered(self, *sources: Source) -> Iterator[Registry]:
        """The registry with `sources` added for the duration (a test's invented source, say)."""
        self.register(*sources)
        try:
            yield self
        finally:
            self.unregister(*sources)

    def detect(self, text: TextFile) -> Source:
        """The one source whose header the file has; `MalformedFileError` naming every known header if
        none does."""
        text_sources = [(s, s.reader) for s in self._sources if isinstance(s.reader, TextReader)]
        if found := _the_one(text.path, [s for s, reader in text_sources if reader.recognises(text)]):
            return found
        known = "; ".join(f"{s.id}: {', '.join(reader.header)}" for s, reader in text_sources)
        raise MalformedFileError(
            text.path, 1, f"header {', '.join(text.header)!s} is not the header of any known return ({known})"
        )

    def detect_sheets(self, path: Path) -> Source:
        """The one source whose sheets the workbook has; `MalformedFileError` if none does."""
        sheet_sources = [(s, s.reader) for s in self._sources if isinstance(s.reader, SheetReader)]
        if found := _the_one(path, [s for s, reader in sheet_sources if reader.recognises(path)]):
            return found
        raise MalformedFileError(path, None, "not a spreadsheet of any known return (no known sheet layout found)")

    def _by_id(self, attribute: str) -> dict:
        """`attribute` of each source id that has one (ids in registration order)."""
        values: dict[str, object] = {}
        for source in self._sources:
            if (value := getattr(source, attribute)) is not None:
                values.setdefault(source.id, value)
        return values

    def labels(self) -> dict[str, str]:
        """Source id → its words (publisher and publication), for every source that has them."""
        return self._by_id("label")

    def publishers(self) -> dict[str, str]:
        """Source id → who publishes it."""
        return self._by_id("publisher")

    def colours(self) -> dict[str, str]:
        """Source id → its chart colour, for every source that has one."""
        return self._by_id("colour")

    def scopes(self) -> dict[str, bool]:
        """Every source id → whether it is a national return (expected from every territorial force)."""
        return self._by_id("national")


def _the_one(path: Path, recognising: list[Source]) -> Source | None:
    """The source that recognises a file, None if none does. Two that both do are an error in the
    sources, not the file: which one reads it must never depend on the order they were registered in."""
    if len(recognising) > 1:
        raise MalformedFileError(
            path,
            None,
            f"recognised by more than one source ({', '.join(s.id for s in recognising)}); "
            "make their headers or sheets tell the files apart",
        )
    return recognising[0] if recognising else None


def _described(source: Source) -> tuple:
    return source.label, source.publisher, source.colour, source.national


def source_modules() -> list[str]:
    """The names of this package's source modules, in order."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in NOT_SOURCE_MODULES)


def discover() -> Registry:
    """A registry of the sources of every module of this package (`source_modules`); a module that
    lists no `SOURCES` is an error, not skipped."""
    registry = Registry()
    for name in source_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        if not hasattr(module, "SOURCES"):
            raise ImportError(
                f"{module.__name__} lists no SOURCES: every module of {__name__} is a source (see base.Source)"
            )
        registry.register(*module.SOURCES)
    return registry


REGISTRY = discover()


# Files that sit beside returns but are not returns: recognised, reported as skipped, never loaded.
NOT_RETURNS: dict[tuple[str, ...], str] = {
    (
        "path",
        "bytes",
        "sha256",
        "data_rows",
        "source_repo",
        "source_commit",
        "source_path",
        "transform",
    ): "a manifest of data files, not a return",
    (
        "LAD23CD",
        "LAD23NM",
        "CSP23CD",
        "CSP23NM",
        "PFA23CD",
        "PFA23NM",
        "ObjectId",
    ): (
        "the ONS LAD→CSP→PFA lookup; population is built with its copy in "
        "pipelines/reference/lad23_csp23_pfa23_lookup.csv"
    ),
    (
        "code",
        "label",
        "parent_code",
        "parent_label",
        "depth",
        "is_leaf",
        "level1_code",
        "level1_label",
        "level2_code",
        "level2_label",
        "level3_code",
        "level3_label",
    ): (
        "the ONS offence hierarchy; crossforce resolves codes with its copy in "
        "pipelines/reference/ons_offence_hierarchy.csv"
    ),
}


def not_a_return(path: Path) -> str | None:
    """Why the file is deliberately skipped, or None if it should be a return."""
    return NOT_RETURNS.get(tuple(peek_header(path)))


def detect(text: TextFile) -> Source:
    return REGISTRY.detect(text)


def extract_workbook(path: Path) -> Extracted:
    """A workbook's rows, through the source whose sheets it has."""
    return extract_sheets(REGISTRY.detect_sheets(path), path)


def source_scopes() -> dict[str, bool]:
    return REGISTRY.scopes()
