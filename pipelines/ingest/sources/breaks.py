"""User-added events that break series: a CSV with the registry's own columns.

`event_date,scope,kind,event,event_source,affects`, one event per row, date as YYYY-MM-DD, scope
`national` or a force (any spelling in the alias table), and `affects` the indicators the event can
move (`*`, `none`, `measure=offences`, `measure=outcomes` or indicator_id patterns such as
`*burglary*`, `;`-separated): an event is tested on those indicators and no others. The version-controlled registry is
`pipelines/reference/breaks.csv`; events loaded this way join it in the `breaks` view.
"""

from __future__ import annotations

import polars as pl

from pipelines import reference
from pipelines.ingest.sources.base import Canonical, Source, TextReader
from pipelines.ingest.steps import no_coverage, read_as, split

HEADER = ("event_date", "scope", "kind", "event", "event_source", "affects")
# One selector: `*`, `none`, `measure=offences|outcomes`, or an indicator_id pattern (letters, digits, `_`, `*`).
AFFECTS_PATTERN = (
    r"^(\*|none|measure=(offences|outcomes)|[a-z0-9_*]+)(;(\*|none|measure=(offences|outcomes)|[a-z0-9_*]+))*$"
)
KINDS = ("counting_rule_change", "records_system_change", "data_gap", "outcome_framework_change")


def to_canonical(raw: pl.LazyFrame) -> Canonical:
    scope = pl.col("scope").str.strip_chars()
    lf = raw.with_columns(
        pl.col("event_date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False).alias("date"),
        pl.when(scope.str.to_lowercase() == "national")
        .then(pl.lit("national"))
        .otherwise(reference.force_id_of(scope))
        .alias("resolved_scope"),
    )
    checks = [
        read_as("event_date", "a date in YYYY-MM-DD form", "date"),
        (
            pl.col("resolved_scope").is_null(),
            pl.format("'scope' is '{}', neither 'national' nor a known force", pl.col("scope").fill_null("")),
        ),
        (
            ~pl.col("kind").is_in(list(KINDS)).fill_null(False),
            pl.format(f"'kind' is '{{}}', not one of {', '.join(KINDS)}", pl.col("kind").fill_null("")),
        ),
        (pl.col("event").is_null(), pl.lit("'event' is empty: say what changed")),
        (
            ~pl.col("affects").str.strip_chars().str.contains(AFFECTS_PATTERN).fill_null(False),
            pl.format(
                "'affects' is '{}': give `*`, `none`, `measure=offences`, `measure=outcomes` "
                "or indicator_id patterns, `;`-separated",
                pl.col("affects").fill_null(""),
            ),
        ),
    ]
    events, quarantine = split(lf, checks)
    return Canonical(
        tables={
            "core_breaks": events.select(
                "file_name",
                "row_number",
                pl.col("date").alias("event_date"),
                pl.col("resolved_scope").alias("scope"),
                "kind",
                "event",
                "event_source",
                pl.col("affects").str.strip_chars(),
            )
        },
        loaded=events,
        # Events are not counts: they supply no force-period to coverage.
        coverage=no_coverage(),
        quarantine=quarantine,
    )


# No words of its own: the dashboard names these events by the registry of breaks, not by a source.
USER_BREAKS = Source(
    id="user_breaks",
    label=None,
    publisher="the user who loads them",
    colour=None,
    reader=TextReader(HEADER),
    to_canonical=to_canonical,
    national=False,
)
SOURCES = (USER_BREAKS,)
