"""Every table and view of the crossforce database, declared once: name, description, grain,
columns (fields from `pipelines/schema/fields.py`), key and how it is filled.

Table names follow `{layer}_{source}__{asset}`: `ref_` reference tables (from version-controlled CSVs,
and the period grains of `pipelines/periods.py`), `core_` normalised tables written by the load,
`meta_` bookkeeping. Analyst-facing views have plain, stable names (`recorded_crime`, `coverage`, ...).

A view's SQL is a file of its own, `views/<name>.sql`, in the house style of `queries/`: one file per
view, a header (title, description, grain), then plain SQL a person can read and run against the
database. Every declared view has its file and every file its declaration (checked on import).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from pipelines import periods
from pipelines.schema.fields import FIELDS

VIEWS_DIR = Path(__file__).parent / "views"


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    grain: str
    columns: tuple[str, ...]
    primary_key: tuple[str, ...] = ()
    # Built by the SQL in `views/<name>.sql` rather than filled by the load.
    derived: bool = False
    # Tables written once per input file carry `file_name`, so a re-ingest replaces exactly the
    # rows that file supplied.
    keyed_by_file: bool = False
    # Record-level tables hold millions of rows; an index on their key would double the load time,
    # so their key is declared here and checked by the tests instead of enforced by DuckDB.
    enforce_key: bool = True
    # A derived table whose SQL is too slow to run on every read: created as a table and refilled
    # from its SQL at the end of every load.
    materialised: bool = False
    # Rows the schema itself supplies, inserted when the table is created: values the code defines
    # (the period grains), so that view SQL can join them instead of having them spliced in.
    rows: tuple[tuple[str | int, ...], ...] = ()

    @property
    def is_view(self) -> bool:
        return self.derived and not self.materialised

    @property
    def view_sql(self) -> str | None:
        """The SQL that builds a derived table or view (its file without the header); None for a table."""
        return view_file_sql(self.name) if self.derived else None


@functools.cache
def view_file_sql(name: str, folder: Path = VIEWS_DIR) -> str:
    """The SQL of `views/<name>.sql` after its header comment (the leading `--` lines)."""
    lines = (folder / f"{name}.sql").read_text(encoding="utf-8").splitlines()
    header = next((n for n, line in enumerate(lines) if not line.startswith("--")), len(lines))
    return "\n".join(lines[header:]).strip()


_TABLES = [
    # --- bookkeeping -----------------------------------------------------------------------------
    Table(
        "meta_database",
        "Facts about the database itself, such as the schema version it was built with.",
        "one row per setting",
        ("key", "value"),
        ("key",),
    ),
    Table(
        "meta_ingest_log",
        "One row per input file loaded: what was read, loaded and quarantined.",
        "one row per input file (latest version)",
        (
            "file_name",
            "source",
            "sha256",
            "rows_read",
            "rows_loaded",
            "rows_quarantined",
            "rows_duplicate",
            "started_at",
            "finished_at",
        ),
        ("file_name",),
        keyed_by_file=True,
    ),
    Table(
        "meta_quarantine",
        "Rows that could not be loaded, each with the reason and the row as read.",
        "one row per rejected input row",
        ("file_name", "row_number", "source", "reason", "raw_row"),
        ("file_name", "row_number"),
        keyed_by_file=True,
    ),
    # --- reference -------------------------------------------------------------------------------
    Table(
        "ref_sources",
        "Every source crossforce reads, from its registry of formats.",
        "one row per source",
        ("source", "is_national"),
        ("source",),
    ),
    Table(
        "ref_forces",
        "Every police force and force-like body that appears in the returns.",
        "one row per force or body",
        (
            "force_id",
            "force_name",
            "short_name",
            "pfa_code",
            "country",
            "region",
            "force_kind",
            "is_territorial_ew",
            "records_system",
            "comparable_by_default",
            "comparability_note",
        ),
        ("force_id",),
    ),
    Table(
        "ref_force_aliases",
        "Every spelling of a force's name seen in a published file, mapped to its force.",
        "one row per spelling",
        ("alias", "force_id", "seen_in"),
        ("alias",),
    ),
    Table(
        "ref_police_uk_crime_types",
        "The police.uk crime types, with the ONS offence groups each draws from.",
        "one row per crime type",
        ("crime_type", "is_notifiable_crime", "ons_offence_groups", "description"),
        ("crime_type",),
    ),
    Table(
        "ref_outcome_groups",
        "The outcome groups shared by every outcome vocabulary.",
        "one row per outcome group",
        ("outcome_group", "label", "sort_order", "description"),
        ("outcome_group",),
    ),
    Table(
        "ref_police_uk_outcomes",
        "Every police.uk outcome label, old and new, mapped to an outcome group and Home Office types.",
        "one row per outcome label",
        ("outcome_label", "outcome_group", "ho_outcome_types", "description"),
        ("outcome_label",),
    ),
    Table(
        "ref_ho_outcome_types",
        "Home Office outcome types 0–22.",
        "one row per outcome type",
        ("outcome_type", "description", "outcome_group", "introduced"),
        ("outcome_type",),
    ),
    Table(
        "ref_offence_hierarchy",
        "The ONS offence hierarchy: offence code → subgroup → group (2018 edition, derived from ONS).",
        "one row per hierarchy node",
        ("offence_code", "offence_label", "parent_code", "depth", "is_leaf", "offence_group", "offence_subgroup"),
        ("offence_code",),
    ),
    Table(
        "ref_period_grains",
        "Every period grain a source publishes at: the months a period covers and the months from one period to the next "
        "(from `pipelines/periods.py`).",
        "one row per period grain",
        ("period_grain", "months_covered", "step_months"),
        ("period_grain",),
        rows=tuple((grain, months, periods.GRAIN_STEPS[grain]) for grain, months in periods.GRAIN_MONTHS.items()),
    ),
    # --- core, record level ----------------------------------------------------------------------
    Table(
        "core_police_uk__street_crimes",
        "police.uk street-level records (crimes and anti-social behaviour), one per published row.",
        "one row per input row",
        (
            "file_name",
            "row_number",
            "crime_id",
            "period",
            "reported_by_force_id",
            "force_id",
            "longitude",
            "latitude",
            "location",
            "lsoa_code",
            "lsoa_name",
            "crime_type",
            "outcome",
            "outcome_group",
            "context",
            "duplicate_of_row",
        ),
        ("file_name", "row_number"),
        keyed_by_file=True,
        enforce_key=False,
    ),
    Table(
        "core_police_uk__outcome_events",
        "police.uk outcome records: outcomes assigned in the month, to crimes of that or earlier months.",
        "one row per input row",
        (
            "file_name",
            "row_number",
            "crime_id",
            "period",
            "reported_by_force_id",
            "force_id",
            "longitude",
            "latitude",
            "location",
            "lsoa_code",
            "lsoa_name",
            "outcome",
            "outcome_group",
            "duplicate_of_row",
        ),
        ("file_name", "row_number"),
        keyed_by_file=True,
        enforce_key=False,
    ),
    # --- core, aggregated at the shared grain ------------------------------------------------------
    Table(
        "core_counts__recorded_crime",
        "Offence counts from every source at one grain.",
        "one row per file, force, period, scheme and category",
        (
            "file_name",
            "source",
            "release_date",
            "force_id",
            "period",
            "period_grain",
            "scheme",
            "category",
            "offence_count",
            "count_note",
        ),
        ("file_name", "force_id", "period", "period_grain", "scheme", "category"),
        keyed_by_file=True,
    ),
    Table(
        "core_counts__crime_outcomes",
        "Outcome counts from every source at one grain.",
        "one row per file, force, period, scheme, category, outcome scheme, outcome and count basis",
        (
            "file_name",
            "source",
            "release_date",
            "force_id",
            "period",
            "period_grain",
            "scheme",
            "category",
            "outcome_scheme",
            "outcome",
            "outcome_group",
            "count_basis",
            "outcome_count",
            "count_note",
        ),
        (),  # category and outcome may be empty, so no primary key; uniqueness is tested instead
        keyed_by_file=True,
    ),
    Table(
        "core_force_exports__area_counts",
        "Counts from force exports and other area-level returns, by area as published, before they are summed to the force.",
        "one row per file, input row and period",
        (
            "file_name",
            "row_number",
            "source",
            "release_date",
            "force_id",
            "area_name",
            "area_code",
            "period",
            "period_grain",
            "source_label",
            "scheme",
            "category",
            "offence_count",
        ),
        ("file_name", "row_number", "period"),
        keyed_by_file=True,
        enforce_key=False,
    ),
    Table(
        "core_population",
        "Resident population by force area and year, from each source that publishes it.",
        "one row per file, force and year",
        ("file_name", "source", "force_id", "year", "population"),
        ("file_name", "force_id", "year"),
        keyed_by_file=True,
    ),
    Table(
        "ref_reconciliation_groups",
        "Which scheme and category sum onto each reconciliation group, so that every source can be compared.",
        "one row per scheme and category",
        ("scheme", "category", "reconciliation_group"),
        ("scheme", "category"),
    ),
    Table(
        "ref_reconciliation_notes",
        "Every known reason why a source's count differs from the reference source's, written down once per pair (`*`: any reference).",
        "one row per source and reference source",
        ("source", "reference_source", "known_differences"),
        ("source", "reference_source"),
    ),
    Table(
        "ref_breaks",
        "Version-controlled registry of events that break series: counting-rule changes, records-system changes, data gaps.",
        "one row per event",
        ("event_date", "scope", "kind", "event", "event_source", "affects"),
        ("event_date", "scope", "event"),
    ),
    Table(
        "core_breaks",
        "Events users added by ingesting a file with the registry's columns.",
        "one row per file and event",
        ("file_name", "row_number", "event_date", "scope", "kind", "event", "event_source", "affects"),
        ("file_name", "row_number"),
        keyed_by_file=True,
    ),
    Table(
        "core_coverage",
        "Rows each file supplied per force and month.",
        "one row per file, force and month",
        ("file_name", "source", "force_id", "period", "rows_supplied"),
        ("file_name", "force_id", "period"),
        keyed_by_file=True,
    ),
    # --- divergence engine outputs (materialised by the load, for the standard indicators) ------------
    Table(
        "divergence",
        "Findings: one per force × indicator × window, with share, benchmark and what it covers, funnel limits, z, q-values per family, the screens that decide the rank (`status`), the other source's view and a sentence.",
        "one row per peer group, indicator, force and window",
        (
            "rank",
            "supply_rank",
            "indicator_id",
            "indicator_kind",
            "force_id",
            "peer_group",
            "window_start",
            "window_end",
            "period_grain",
            "numerator",
            "denominator",
            "share",
            "share_lower",
            "share_upper",
            "benchmark",
            "difference",
            "ratio",
            "effect_h",
            "direction",
            "limit95_plain_lower",
            "limit95_plain_upper",
            "limit998_plain_lower",
            "limit998_plain_upper",
            "limit95_od_lower",
            "limit95_od_upper",
            "limit998_od_lower",
            "limit998_od_upper",
            "phi",
            "tau2",
            "z_plain",
            "z",
            "p_value",
            "family",
            "q_bh",
            "q_by",
            "is_significant",
            "position",
            "status",
            "status_reason",
            "is_ranked",
            "periods_supplied",
            "periods_expected",
            "benchmark_forces",
            "benchmark_crime_share",
            "benchmark_missing",
            "benchmark_coverage",
            "witness_indicator_id",
            "witness_label",
            "witness_share",
            "witness_benchmark",
            "witness_window_start",
            "witness_window_end",
            "witness_status",
            "sentence",
        ),
        ("peer_group", "indicator_id", "force_id", "window_start"),
    ),
    Table(
        "divergence_mix",
        "Offence and outcome mix divergence: each force's Jensen–Shannon distance from its peers' mix, calibrated against the spread between comparable forces (Dirichlet-multinomial draws), with the multinomial chance-alone p-value beside it.",
        "one row per mix, force and window",
        (
            "mix_id",
            "force_id",
            "window_start",
            "window_end",
            "total",
            "distance",
            "null_median",
            "null_q95",
            "p_value",
            "p_chance",
            "q_bh",
            "status",
        ),
        ("mix_id", "force_id", "window_start"),
    ),
    Table(
        "divergence_mix_categories",
        "Each category's part in a force's mix divergence: its share, the peers' share, its contribution to the distance and its adjusted residual.",
        "one row per mix, force, window and category",
        (
            "mix_id",
            "force_id",
            "window_start",
            "category",
            "share",
            "reference_share",
            "contribution",
            "adjusted_residual",
        ),
        ("mix_id", "force_id", "window_start", "category"),
    ),
    Table(
        "divergence_homogeneity",
        "Chi-square homogeneity of each mix across the compared forces, with Cramér's V.",
        "one row per mix and window",
        ("mix_id", "window_start", "window_end", "forces_compared", "chi2", "dof", "p_value", "cramers_v"),
        ("mix_id", "window_start"),
    ),
    Table(
        "outcome_ratios",
        "Case-mix adjusted outcome ratios: observed ÷ expected outcomes of each group, expected from the force's crimes by type and the other forces' rates (indirect standardisation).",
        "one row per outcome group, force and window",
        (
            "outcome_group",
            "force_id",
            "window_start",
            "window_end",
            "observed",
            "expected",
            "standardised_ratio",
            "ratio_lower",
            "ratio_upper",
            "ratio_lower_poisson",
            "ratio_upper_poisson",
            "tau2",
            "status",
        ),
        ("outcome_group", "force_id", "window_start"),
    ),
    Table(
        "divergence_series",
        "Each standard indicator's numerator and denominator per force and period over its source's whole span (for trends). "
        "For a source released in vintages each period comes from the latest release that has it, as in `recorded_crime`, and "
        "`release_date` names that release; the break tests read each release on its own (`recorded_crime_releases`).",
        "one row per indicator, force and period",
        ("indicator_id", "force_id", "period", "release_date", "numerator", "denominator"),
        ("indicator_id", "force_id", "period"),
    ),
    Table(
        "divergence_breaks",
        "Breaks in each force's indicator series: tested at every registered event in scope whose `affects` names the indicator, "
        "searched for elsewhere, and, for a source released in vintages, the largest revision between consecutive releases "
        "(`break_kind` `revision`, never a break). An event is tested at the first full period after it (a period it falls "
        "inside is on neither side); a source with release dates is tested within each release (`release_date`), so no break "
        "sits at a splice of releases; rolling years are tested on non-overlapping years only (`test_basis`).",
        "one row per indicator, force, release, break date and kind",
        (
            "indicator_id",
            "force_id",
            "release_date",
            "period",
            "break_kind",
            "event",
            "level_shift",
            "f_stat",
            "p_value",
            "matches_event",
            "test_basis",
            "test_method",
            "previous_release_date",
        ),
        (),
    ),
    # --- analyst-facing views ----------------------------------------------------------------------
    Table(
        "forces",
        "Forces and force-like bodies. Compare only `is_territorial_ew` forces unless you mean to.",
        "one row per force or body",
        (
            "force_id",
            "force_name",
            "short_name",
            "pfa_code",
            "country",
            "region",
            "force_kind",
            "is_territorial_ew",
            "records_system",
            "comparable_by_default",
            "comparability_note",
        ),
        derived=True,
    ),
    Table(
        "recorded_crime_releases",
        "Every release (vintage) of every count, so the same month can be compared between releases "
        "(anti-social behaviour excluded).",
        "one row per release, force, period, period grain, scheme, category and source",
        (
            "release_date",
            "force_id",
            "period",
            "period_grain",
            "scheme",
            "category",
            "offence_count",
            "count_note",
            "source",
        ),
        derived=True,
    ),
    Table(
        "recorded_crime",
        "Notifiable offences recorded, by force, period, scheme and category, from every source, taking "
        "each month from the latest release that has it (anti-social behaviour excluded).",
        "one row per force, period, period grain, scheme, category and source",
        (
            "force_id",
            "period",
            "period_grain",
            "scheme",
            "category",
            "offence_count",
            "count_note",
            "source",
            "release_date",
        ),
        derived=True,
    ),
    Table(
        "crime_outcomes",
        "Outcomes by force, period, offence category and outcome, on a stated count basis.",
        "one row per force, period, scheme, category, outcome scheme, outcome, count basis and source",
        (
            "force_id",
            "period",
            "period_grain",
            "scheme",
            "category",
            "outcome_scheme",
            "outcome",
            "outcome_group",
            "count_basis",
            "outcome_count",
            "source",
        ),
        derived=True,
    ),
    Table(
        "coverage",
        "For every source, each force and period it is expected to supply, at the source's own grain: every "
        "month of a monthly source's span, and every period a quarterly or yearly table was published for "
        "(annual years before quarterly ones are not missing quarters): rows supplied, or `missing`. A national source is expected from "
        "every territorial force of England and Wales (plus any other body it supplied); a force's own "
        "export only from that force.",
        "one row per source, force and period",
        ("source", "force_id", "period", "period_grain", "rows_supplied", "coverage_status"),
        derived=True,
    ),
    Table(
        "reconciliation",
        "The same force, window and offence group from every source side by side: each source's count, "
        "how much of the window it supplied, and its ratio to the source that publishes the window at its own grain. "
        "Windows are every period some source publishes (month, quarter or rolling year); finer periods are summed into them.",
        "one row per force, window, reconciliation group and source",
        (
            "force_id",
            "period",
            "period_grain",
            "reconciliation_group",
            "source",
            "offence_count",
            "periods_supplied",
            "periods_expected",
            "window_status",
            "reference_source",
            "reference_count",
            "ratio_to_reference",
            "known_differences",
        ),
        derived=True,
        materialised=True,
    ),
    Table(
        "breaks",
        "Events that break series: the version-controlled registry plus any events users loaded.",
        "one row per event",
        ("event_date", "scope", "kind", "event", "event_source", "affects"),
        derived=True,
    ),
    Table(
        "population",
        "Resident population by force area and year (British Transport Police has none), from the latest file that has it.",
        "one row per force, year and source",
        ("force_id", "year", "population", "source"),
        derived=True,
    ),
    Table(
        "recorded_crime_rates",
        "`recorded_crime` with the force area's resident population in the period's year and the count per 1,000 residents.",
        "one row per force, period, period grain, scheme, category and source",
        (
            "force_id",
            "period",
            "period_grain",
            "scheme",
            "category",
            "offence_count",
            "source",
            "population",
            "population_source",
            "rate_per_1000",
        ),
        derived=True,
    ),
    Table(
        "ingest_log",
        "One row per input file: rows read, loaded, quarantined and duplicated, with the file's SHA-256.",
        "one row per input file",
        (
            "file_name",
            "source",
            "sha256",
            "rows_read",
            "rows_loaded",
            "rows_quarantined",
            "rows_duplicate",
            "started_at",
            "finished_at",
        ),
        derived=True,
    ),
    Table(
        "quarantine",
        "Rows that could not be loaded, with the reason and the row as read.",
        "one row per rejected input row",
        ("file_name", "row_number", "source", "reason", "raw_row"),
        derived=True,
    ),
]


def _tables_by_name(tables: list[Table], views_dir: Path = VIEWS_DIR) -> dict[str, Table]:
    """Each table by name. A name declared twice, a column that is not a field, and a view with no SQL
    file (or a SQL file with no view) are errors, raised on import rather than on the first load."""
    seen: dict[str, Table] = {}
    for table in tables:
        if table.name in seen:
            raise ValueError(f"schema: table or view {table.name!r} is declared twice")
        seen[table.name] = table
        for column in table.columns + table.primary_key:
            if column not in FIELDS:
                raise KeyError(f"table {table.name}: column {column!r} is not declared in FIELDS")
        if table.materialised and not table.derived:
            raise ValueError(f"schema: table {table.name!r} is materialised but has no SQL (declare it derived)")
    derived = {t.name for t in tables if t.derived}
    files = {p.stem for p in views_dir.glob("*.sql")}
    if undeclared := sorted(files - derived):
        raise ValueError(
            f"schema: no table or view is declared for {', '.join(f'views/{n}.sql' for n in undeclared)}; "
            "declare each in pipelines/schema/tables.py (derived=True) or remove the file"
        )
    if missing := sorted(derived - files):
        raise ValueError(
            f"schema: {', '.join(missing)} is declared derived but "
            f"{', '.join(f'views/{n}.sql' for n in missing)} does not exist"
        )
    return seen


TABLES: dict[str, Table] = _tables_by_name(_TABLES)
