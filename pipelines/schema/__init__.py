"""The one canonical schema: every field, table and view in the crossforce database.

Everything else is generated from this module: the DuckDB DDL (`ddl()`), the data dictionary
analysts read (`docs/data_dictionary.md`, via `data_dictionary()`), and the dashboard's column help
(`describe()`). A field is declared once in `FIELDS` and keeps the same name and meaning in every
table that uses it.

Table names follow `{layer}_{source}__{asset}`: `ref_` reference tables from version-controlled CSVs,
`core_` normalised tables written by the load, `meta_` bookkeeping. Analyst-facing views have plain,
stable names (`recorded_crime`, `coverage`, ...).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pipelines import periods


@dataclass(frozen=True)
class Field:
    name: str
    sql_type: str
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    grain: str
    columns: tuple[str, ...]
    primary_key: tuple[str, ...] = ()
    # Views carry their SQL; tables are created from their columns.
    view_sql: str | None = None
    # Tables written once per input file carry `file_name`, so a re-ingest replaces exactly the
    # rows that file supplied.
    keyed_by_file: bool = False
    # Record-level tables hold millions of rows; an index on their key would double the load time,
    # so their key is declared here and checked by the tests instead of enforced by DuckDB.
    enforce_key: bool = True
    # A derived table whose SQL is too slow to run on every read: created as a table and refilled
    # from `view_sql` at the end of every load.
    materialised: bool = False

    @property
    def is_view(self) -> bool:
        return self.view_sql is not None and not self.materialised


# Every period grain, with the months a period of it covers and the months between periods.
PERIOD_GRAIN_MONTHS = periods.GRAIN_MONTHS
PERIOD_GRAIN_STEPS = periods.GRAIN_STEPS


def _grain_values(steps: bool) -> str:
    """The grains as SQL `values` rows: (grain, months between consecutive periods or months covered)."""
    months = PERIOD_GRAIN_STEPS if steps else PERIOD_GRAIN_MONTHS
    return ", ".join(f"('{grain}', {n})" for grain, n in months.items())


_FIELDS = [
    # Provenance
    Field("file_name", "VARCHAR", "Name of the input file the row came from (without folders); re-ingesting a file of the same name replaces its rows."),
    Field("row_number", "INTEGER", "1-based data row number within its file, header excluded; with `file_name` it traces every row to its source."),
    Field("source", "VARCHAR", "Publication the figure comes from, for example `police_uk_street` or `police_uk_outcomes`."),
    Field("is_national", "BOOLEAN", "True for a national return, expected from every territorial force; false for a force's own export, expected only from that force."),
    Field("sha256", "VARCHAR", "SHA-256 of the input file's bytes as read (compressed files hashed as stored)."),
    Field("rows_read", "BIGINT", "Data rows read from the file, header excluded."),
    Field("rows_loaded", "BIGINT", "Rows loaded into core tables."),
    Field("rows_quarantined", "BIGINT", "Rows set aside in `quarantine`, each with a reason."),
    Field("rows_duplicate", "BIGINT", "Loaded rows that repeat an earlier row of the same file exactly; kept and counted, and marked in `duplicate_of_row`."),
    Field("started_at", "TIMESTAMP", "When reading the file began (UTC)."),
    Field("finished_at", "TIMESTAMP", "When the file's rows were written (UTC)."),
    Field("reason", "VARCHAR", "Why the row could not be loaded, in words a person can act on."),
    Field("raw_row", "VARCHAR", "The row as read, as JSON of column name to text value."),
    Field("duplicate_of_row", "INTEGER", "For an exact repeat of an earlier row in the same file, that earlier row's `row_number`; empty otherwise."),
    # Forces
    Field("force_id", "VARCHAR", "Stable force identifier, the data.police.uk slug (for example `devon-and-cornwall`, `btp`)."),
    Field("reported_by_force_id", "VARCHAR", "Force that supplied the record (police.uk `Reported by`)."),
    Field("force_name", "VARCHAR", "Official force name, as data.police.uk writes it."),
    Field("short_name", "VARCHAR", "Area name as ONS writes it (for example `Devon and Cornwall`)."),
    Field("pfa_code", "VARCHAR", "ONS police force area code (E23…, W15…); empty for bodies without a resident area."),
    Field("country", "VARCHAR", "England, Wales or Northern Ireland; empty for British Transport Police and the fraud bodies."),
    Field("region", "VARCHAR", "ONS region of a territorial force."),
    Field("force_kind", "VARCHAR", "`territorial`, `transport` (British Transport Police), `northern_ireland` or `fraud_body`."),
    Field("is_territorial_ew", "BOOLEAN", "True for the 43 territorial forces of England and Wales, the only bodies compared by default."),
    Field("records_system", "VARCHAR", "Main crime records system, where known (for example Athena, Niche, CONNECT)."),
    Field("comparable_by_default", "BOOLEAN", "False for an area that is not comparable with the others by default (City of London: a tiny resident population beside its daytime one); such an area is shown but never ranked or put in a benchmark unless a reviewer includes it."),
    Field("comparability_note", "VARCHAR", "Why an area is not comparable by default."),
    Field("alias", "VARCHAR", "A spelling of a force's name as found in a published file."),
    Field("seen_in", "VARCHAR", "Where a spelling was seen."),
    # Time
    Field("period", "DATE", "First day of the period the figure covers (for a month, the first of that month)."),
    Field("period_grain", "VARCHAR", "Length of the period: `month`, `quarter`, `financial_year`, `calendar_year` or `rolling_year`."),
    # Classification
    Field("scheme", "VARCHAR", "Classification scheme of `category`: `police_uk` (the police.uk crime types), `ons_group`, `ons_subgroup`, `ho_offence_code`, ..."),
    Field("category", "VARCHAR", "Offence category within its `scheme`; empty where the publication gives none (police.uk outcome files)."),
    Field("crime_type", "VARCHAR", "police.uk crime type as published (14 types, including Anti-social behaviour)."),
    Field("is_notifiable_crime", "BOOLEAN", "False for anti-social behaviour, which police.uk publishes beside crimes but is not a notifiable crime."),
    Field("ons_offence_groups", "VARCHAR", "ONS offence hierarchy nodes (`;`-separated) that a police.uk crime type draws from."),
    Field("offence_code", "VARCHAR", "Home Office offence code or ONS hierarchy node, normalised (for example `8N`, `105A`, `4.9`)."),
    Field("offence_label", "VARCHAR", "Label of an offence code or hierarchy node."),
    Field("parent_code", "VARCHAR", "Parent node in the ONS offence hierarchy."),
    Field("offence_group", "VARCHAR", "Top-level ONS offence group of a code."),
    Field("offence_subgroup", "VARCHAR", "ONS offence subgroup of a code."),
    Field("depth", "INTEGER", "Depth in the ONS offence hierarchy (0 = total offences)."),
    Field("is_leaf", "BOOLEAN", "True for an offence code with no children."),
    # Outcomes
    Field("outcome_scheme", "VARCHAR", "Vocabulary of `outcome`: `police_uk` (police.uk outcome labels) or `ho_outcome_type` (Home Office types 0–22)."),
    Field("outcome", "VARCHAR", "Outcome label or type within its `outcome_scheme`; empty where none was supplied (police.uk publishes no outcome for some forces)."),
    Field("outcome_label", "VARCHAR", "A police.uk outcome label as published."),
    Field("outcome_type", "INTEGER", "Home Office outcome type, 0–22."),
    Field("ho_outcome_types", "VARCHAR", "Home Office outcome types (`;`-separated) a police.uk label corresponds to."),
    Field("outcome_group", "VARCHAR", "Outcome group shared by every outcome vocabulary (for example `charged_summonsed`, `evidential_difficulties`)."),
    Field("count_basis", "VARCHAR", "`offences_recorded_in_period` (outcome so far of crimes recorded in the period) or `outcomes_in_period` (outcomes assigned in the period); the two are not interchangeable."),
    Field("label", "VARCHAR", "Human-readable label."),
    Field("sort_order", "INTEGER", "Display order."),
    Field("introduced", "DATE", "Date a code or outcome type came into use."),
    Field("description", "VARCHAR", "What the value means."),
    # Record-level police.uk
    Field("crime_id", "VARCHAR", "police.uk Crime ID (a hash); blank for anti-social behaviour and for some forces' crimes."),
    Field("longitude", "DOUBLE", "Anonymised longitude (snapped to a map point); empty where the record has no location."),
    Field("latitude", "DOUBLE", "Anonymised latitude; empty where the record has no location."),
    Field("location", "VARCHAR", "Anonymised location description (for example `On or near Station Road`)."),
    Field("lsoa_code", "VARCHAR", "Lower-layer super output area code of the map point."),
    Field("lsoa_name", "VARCHAR", "Lower-layer super output area name."),
    Field("context", "VARCHAR", "police.uk free-text context (empty in current releases)."),
    # Vintages, areas and notes
    Field("release_date", "DATE", "Publication (vintage) date of the release the figure comes from; a month re-published in a later release keeps both. Empty where the source is not released in vintages."),
    Field("count_note", "VARCHAR", "Why a count is special: `negative published adjustment`, `not available (..)` (count empty), and so on; empty for ordinary counts."),
    Field("area_name", "VARCHAR", "Area within a force as published (for example a London borough, or `Unknown`)."),
    Field("area_code", "VARCHAR", "Code of `area_name` where published (for example a ward code)."),
    Field("source_label", "VARCHAR", "The category as the source published it, before mapping onto `scheme` and `category`."),
    Field("year", "INTEGER", "Year of a mid-year population estimate."),
    Field("population", "BIGINT", "Resident population (mid-year estimate)."),
    Field("reconciliation_group", "VARCHAR", "Offence group that every source can be summed onto (police.uk crime types are coarser than ONS groups, so some ONS groups are joined)."),
    Field("periods_supplied", "INTEGER", "Periods of the source's own grain that fall in the window and were supplied."),
    Field("periods_expected", "INTEGER", "Periods of the source's own grain that make up the window (3 months to a quarter, 4 quarters to a rolling year)."),
    Field("reference_source", "VARCHAR", "Source publishing the window at its own grain, against which the others are compared."),
    Field("known_differences", "VARCHAR", "Every known reason why this source's count differs from the reference source's (`pipelines/reference/reconciliation_notes.csv`); empty where none is recorded."),
    Field("reference_count", "BIGINT", "The reference source's count for the window."),
    Field("ratio_to_reference", "DOUBLE", "`offence_count` ÷ `reference_count`: 1.0 when the sources agree."),
    Field("population_source", "VARCHAR", "Which population a rate uses: the ONS mid-year estimates summed to the force area, else the ONS PFA table P3."),
    Field("rate_per_1000", "DOUBLE", "offence_count per 1,000 residents of the force area in the period's year (a rate for the period, not annualised); empty where there is no resident population (British Transport Police)."),
    Field("event_date", "DATE", "Date a break in series took effect."),
    Field("event", "VARCHAR", "What changed."),
    Field("scope", "VARCHAR", "`national`, or the force_id of the one force affected."),
    Field("kind", "VARCHAR", "`counting_rule_change`, `records_system_change`, `data_gap` or `outcome_framework_change`."),
    Field("event_source", "VARCHAR", "Where the event is documented."),
    Field("affects", "VARCHAR", "Indicators the event can affect, `;`-separated: `*` (all), `none` (never tested, as for a data gap), `measure=offences` or `measure=outcomes`, or indicator_id patterns with `*` (for example `*burglary*`). An event is tested on these indicators only."),
    # Counts
    Field("offence_count", "BIGINT", "Number of offences recorded."),
    Field("outcome_count", "BIGINT", "Number of outcomes."),
    Field("window_status", "VARCHAR", "`complete` (every period of the window supplied), `partial`, or `missing` (the source covers these dates but supplied nothing for this force)."),
    Field("rows_supplied", "BIGINT", "Rows a source supplied for the force and month; empty where the force-month is missing."),
    Field("coverage_status", "VARCHAR", "`supplied` or `missing`: a missing force-month is missing, never zero."),
    # Divergence
    Field("indicator_id", "VARCHAR", "Indicator identifier, from `pipelines/reference/indicators.csv`."),
    Field("mix_id", "VARCHAR", "Offence or outcome mix identifier, from `pipelines/reference/mixes.csv`."),
    Field("peer_group", "VARCHAR", "Forces the benchmark is drawn from: `all` territorial forces, `region`, `nearest` neighbours, or a user group."),
    Field("window_start", "DATE", "First day of the period window compared."),
    Field("window_end", "DATE", "Day after the window ends."),
    Field("numerator", "BIGINT", "Count of the indicator's category in the window."),
    Field("denominator", "BIGINT", "Count of the indicator's parent in the window."),
    Field("share", "DOUBLE", "numerator ÷ denominator, a proportion in [0, 1]."),
    Field("share_lower", "DOUBLE", "Lower 95% Wilson limit of `share`."),
    Field("share_upper", "DOUBLE", "Upper 95% Wilson limit of `share`."),
    Field("benchmark", "DOUBLE", "Pooled share of the force's peers, excluding the force itself."),
    Field("difference", "DOUBLE", "share − benchmark (proportion; ×100 for percentage points)."),
    Field("ratio", "DOUBLE", "share ÷ benchmark."),
    Field("phi", "DOUBLE", "Overdispersion factor φ of the funnel (mean squared winsorised z; 1 = binomial)."),
    Field("tau2", "DOUBLE", "Between-force variance τ²: on the arcsine scale for a finding (additive random-effects funnel), on the log scale for an outcome ratio."),
    Field("z_plain", "DOUBLE", "z-score under the plain binomial model (arcsine scale)."),
    Field("z", "DOUBLE", "z-score under the overdispersed (additive random-effects) model: what significance and ranking use."),
    Field("p_value", "DOUBLE", "p-value of the row's test: two-sided for `z` in `divergence`; the chi-square, calibration or break test elsewhere."),
    Field("q_bh", "DOUBLE", "Benjamini–Hochberg q-value within the finding's `family`, over every finding tested in it."),
    Field("q_by", "DOUBLE", "Benjamini–Yekutieli q-value (valid under any dependence) within the same family: what `is_significant` uses."),
    Field("direction", "VARCHAR", "`above` or `below` the benchmark."),
    Field("position", "VARCHAR", "Where the share sits against the overdispersed funnel limits."),
    Field("sentence", "VARCHAR", "The finding in words."),
    Field("rank", "INTEGER", "Rank of a classification finding that survived every screen: significant findings first (BY q under 0.05), each group by the size of the difference (|effect_h|); empty for a finding that is not ranked (see `status`)."),
    Field("supply_rank", "INTEGER", "Rank of a data-supply finding (pending, unavailable) in the supply list, in the same order as `rank`; empty otherwise."),
    Field("is_ranked", "BOOLEAN", "True when the finding survived every screen (`status` = `ranked`)."),
    Field("indicator_kind", "VARCHAR", "`classification` (how a force classifies or closes crimes) or `supply` (what its feed leaves out or has not settled: pending, unavailable); each is ranked and corrected for false discoveries on its own."),
    Field("status", "VARCHAR", "`ranked`, or why not: `non_comparable` (an area not comparable by default), `incomplete` (the force lacks some of the window's periods), `not_a_share` (published counts net to a numerator below zero or above the denominator), `degenerate` (nothing to test), `small_denominator`, `no_benchmark`, `supply_suspect` (its supply to the parent looks abnormal) or `contradicted` (another source shows the opposite direction)."),
    Field("status_reason", "VARCHAR", "Why the finding is not ranked, in words; empty when it is."),
    Field("family", "VARCHAR", "The false-discovery family the q-values are computed in: one indicator kind, source, window and measure."),
    Field("is_significant", "BOOLEAN", "True when the Benjamini–Yekutieli q-value is under 0.05 (BY is valid under the dependence of shares within one parent)."),
    Field("effect_h", "DOUBLE", "Cohen's h = 2·asin√share − 2·asin√benchmark: the size of the difference on one scale for large and small shares; ranking uses |h|."),
    Field("benchmark_forces", "INTEGER", "Territorial forces in the finding's benchmark."),
    Field("benchmark_crime_share", "DOUBLE", "Share of England and Wales recorded crime (fraud excluded) the benchmark's forces hold, from the ONS year ending nearest the window; empty when no ONS force table is loaded."),
    Field("benchmark_missing", "VARCHAR", "The largest territorial forces missing from the benchmark (not supplied, incomplete or not comparable), largest first."),
    Field("benchmark_coverage", "VARCHAR", "What the benchmark covers, in words: forces, share of recorded crime and the year it is measured in, largest forces missing."),
    Field("witness_indicator_id", "VARCHAR", "The same concept in another loaded source (`pipelines/reference/witnesses.csv`) that this finding is checked against."),
    Field("witness_label", "VARCHAR", "The witness's publication and window."),
    Field("witness_share", "DOUBLE", "The force's share in the witness source."),
    Field("witness_benchmark", "DOUBLE", "Comparable forces' share in the witness source."),
    Field("witness_window_start", "DATE", "First day of the witness's window."),
    Field("witness_window_end", "DATE", "Day after the witness's window ends."),
    Field("witness_status", "VARCHAR", "`corroborates` (same direction, beyond the witness's own 95% limits), `contradicts` (opposite direction: the finding is not ranked) or `inconclusive`; empty where no other source has the concept."),
    Field("limit95_plain_lower", "DOUBLE", "Lower 95% funnel limit, plain binomial, at the force's denominator."),
    Field("limit95_plain_upper", "DOUBLE", "Upper 95% funnel limit, plain binomial."),
    Field("limit998_plain_lower", "DOUBLE", "Lower 99.8% funnel limit, plain binomial."),
    Field("limit998_plain_upper", "DOUBLE", "Upper 99.8% funnel limit, plain binomial."),
    Field("limit95_od_lower", "DOUBLE", "Lower 95% funnel limit, overdispersed (additive random effects)."),
    Field("limit95_od_upper", "DOUBLE", "Upper 95% funnel limit, overdispersed."),
    Field("limit998_od_lower", "DOUBLE", "Lower 99.8% funnel limit, overdispersed."),
    Field("limit998_od_upper", "DOUBLE", "Upper 99.8% funnel limit, overdispersed."),
    Field("distance", "DOUBLE", "Jensen–Shannon distance (base 2, in [0, 1]) between the force's mix and its peers' mix without it."),
    Field("null_median", "DOUBLE", "Median distance of Dirichlet-multinomial draws of the force's own total from the peers' mix, with the between-force spread the compared forces show: what an ordinary force gives."),
    Field("null_q95", "DOUBLE", "95th percentile of those draws."),
    Field("total", "BIGINT", "The force's total over the mix's categories."),
    Field("reference_share", "DOUBLE", "The category's share in the peers' pooled mix (force excluded)."),
    Field("contribution", "DOUBLE", "The category's term in the Jensen–Shannon divergence (terms sum to distance²)."),
    Field("adjusted_residual", "DOUBLE", "Adjusted standardised residual of the force × category cell in the chi-square homogeneity test."),
    Field("chi2", "DOUBLE", "Chi-square statistic of homogeneity across forces."),
    Field("dof", "INTEGER", "Degrees of freedom."),
    Field("cramers_v", "DOUBLE", "Cramér's V: effect size of the heterogeneity, in [0, 1]."),
    Field("forces_compared", "INTEGER", "Number of forces in the comparison."),
    Field("observed", "DOUBLE", "Observed outcomes of the kind."),
    Field("expected", "DOUBLE", "Expected outcomes given the force's case mix and the other forces' rate per offence category."),
    Field("standardised_ratio", "DOUBLE", "observed ÷ expected (1 = as the case mix predicts)."),
    Field("ratio_lower", "DOUBLE", "Lower 95% limit of the ratio allowing for between-force spread (log ratio ± 1.96·√(1/O + τ²), τ² fitted across the compared forces), as the findings' overdispersed funnels do."),
    Field("ratio_upper", "DOUBLE", "Upper 95% limit of the ratio allowing for between-force spread."),
    Field("ratio_lower_poisson", "DOUBLE", "Lower exact Poisson 95% limit of the ratio (chance alone, no between-force spread)."),
    Field("ratio_upper_poisson", "DOUBLE", "Upper exact Poisson 95% limit of the ratio (chance alone)."),
    Field("p_chance", "DOUBLE", "p-value of the mix distance against multinomial draws alone (chance, no between-force spread); kept beside the calibrated `p_value`."),
    Field("break_kind", "VARCHAR", "`registered` (tested at an event in the registry that can affect the indicator), `detected` (found by binary segmentation) or `revision` (the largest change of a month's share between two consecutive releases: never a break)."),
    Field("level_shift", "DOUBLE", "Size of the shift in the share at the break (proportion)."),
    Field("f_stat", "DOUBLE", "F statistic of the break test."),
    Field("matches_event", "VARCHAR", "For a detected break, the registered event within two periods of it that can affect the indicator, if any."),
    Field("test_basis", "VARCHAR", "The points a break test used: `monthly` or `quarterly` (the periods of one release), `yearly`, or `non-overlapping years` (rolling years twelve months apart, never overlapping ones: for a registered event the years in phase with the first rolling year starting on or after it, for a detected break the years ending with the latest period). On a `revision` row, the grain of the months compared."),
    Field("test_method", "VARCHAR", "The break test: `seasonal_difference` (registered event in a monthly or quarterly series: the year-on-year change of the periods after the event against the year-on-year change of those before it, pooled t test reported as F = t² on (1, n − 2) degrees of freedom; `level_shift` is the difference of the two changes), `level_shift` (registered event in a yearly series or on non-overlapping years: one line through up to four years either side with a jump at the event, the Chow test with the slope held common, F on (1, n − 3) degrees of freedom), `binary_segmentation` (a detected change in mean, Bonferroni-adjusted p); empty on a `revision` row, which is no test."),
    Field("previous_release_date", "DATE", "On a `revision` row, the earlier of the two consecutive releases compared (`release_date` is the later one, `level_shift` the later share minus the earlier for the month changed most); empty on every other row."),
    # Bookkeeping
    Field("key", "VARCHAR", "Setting name."),
    Field("value", "VARCHAR", "Setting value."),
]
def _fields_by_name(fields: list[Field]) -> dict[str, Field]:
    """Each field by name; a name declared twice is an error, not a silent overwrite."""
    seen: dict[str, Field] = {}
    for f in fields:
        if f.name in seen:
            raise ValueError(f"schema: field {f.name!r} is declared twice ({seen[f.name].description!r} and {f.description!r})")
        seen[f.name] = f
    return seen


FIELDS: dict[str, Field] = _fields_by_name(_FIELDS)


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
        ("file_name", "source", "sha256", "rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate", "started_at", "finished_at"),
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
        ("force_id", "force_name", "short_name", "pfa_code", "country", "region", "force_kind", "is_territorial_ew", "records_system",
         "comparable_by_default", "comparability_note"),
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
    # --- core, record level ----------------------------------------------------------------------
    Table(
        "core_police_uk__street_crimes",
        "police.uk street-level records (crimes and anti-social behaviour), one per published row.",
        "one row per input row",
        ("file_name", "row_number", "crime_id", "period", "reported_by_force_id", "force_id", "longitude", "latitude",
         "location", "lsoa_code", "lsoa_name", "crime_type", "outcome", "outcome_group", "context", "duplicate_of_row"),
        ("file_name", "row_number"),
        keyed_by_file=True,
        enforce_key=False,
    ),
    Table(
        "core_police_uk__outcome_events",
        "police.uk outcome records: outcomes assigned in the month, to crimes of that or earlier months.",
        "one row per input row",
        ("file_name", "row_number", "crime_id", "period", "reported_by_force_id", "force_id", "longitude", "latitude",
         "location", "lsoa_code", "lsoa_name", "outcome", "outcome_group", "duplicate_of_row"),
        ("file_name", "row_number"),
        keyed_by_file=True,
        enforce_key=False,
    ),
    # --- core, aggregated at the shared grain ------------------------------------------------------
    Table(
        "core_counts__recorded_crime",
        "Offence counts from every source at one grain.",
        "one row per file, force, period, scheme and category",
        ("file_name", "source", "release_date", "force_id", "period", "period_grain", "scheme", "category", "offence_count", "count_note"),
        ("file_name", "force_id", "period", "period_grain", "scheme", "category"),
        keyed_by_file=True,
    ),
    Table(
        "core_counts__crime_outcomes",
        "Outcome counts from every source at one grain.",
        "one row per file, force, period, scheme, category, outcome scheme, outcome and count basis",
        ("file_name", "source", "release_date", "force_id", "period", "period_grain", "scheme", "category", "outcome_scheme",
         "outcome", "outcome_group", "count_basis", "outcome_count", "count_note"),
        (),  # category and outcome may be empty, so no primary key; uniqueness is tested instead
        keyed_by_file=True,
    ),
    Table(
        "core_force_exports__area_counts",
        "Counts from force exports and other area-level returns, by area as published, before they are summed to the force.",
        "one row per file, input row and period",
        ("file_name", "row_number", "source", "release_date", "force_id", "area_name", "area_code", "period", "period_grain",
         "source_label", "scheme", "category", "offence_count"),
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
        ("rank", "supply_rank", "indicator_id", "indicator_kind", "force_id", "peer_group", "window_start", "window_end",
         "period_grain", "numerator", "denominator", "share", "share_lower", "share_upper", "benchmark", "difference",
         "ratio", "effect_h", "direction",
         "limit95_plain_lower", "limit95_plain_upper", "limit998_plain_lower", "limit998_plain_upper",
         "limit95_od_lower", "limit95_od_upper", "limit998_od_lower", "limit998_od_upper",
         "phi", "tau2", "z_plain", "z", "p_value", "family", "q_bh", "q_by", "is_significant", "position",
         "status", "status_reason", "is_ranked", "periods_supplied", "periods_expected",
         "benchmark_forces", "benchmark_crime_share", "benchmark_missing", "benchmark_coverage",
         "witness_indicator_id", "witness_label", "witness_share", "witness_benchmark", "witness_window_start",
         "witness_window_end", "witness_status", "sentence"),
        ("peer_group", "indicator_id", "force_id", "window_start"),
    ),
    Table(
        "divergence_mix",
        "Offence and outcome mix divergence: each force's Jensen–Shannon distance from its peers' mix, calibrated against the spread between comparable forces (Dirichlet-multinomial draws), with the multinomial chance-alone p-value beside it.",
        "one row per mix, force and window",
        ("mix_id", "force_id", "window_start", "window_end", "total", "distance", "null_median", "null_q95", "p_value", "p_chance",
         "q_bh", "status"),
        ("mix_id", "force_id", "window_start"),
    ),
    Table(
        "divergence_mix_categories",
        "Each category's part in a force's mix divergence: its share, the peers' share, its contribution to the distance and its adjusted residual.",
        "one row per mix, force, window and category",
        ("mix_id", "force_id", "window_start", "category", "share", "reference_share", "contribution", "adjusted_residual"),
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
        ("outcome_group", "force_id", "window_start", "window_end", "observed", "expected", "standardised_ratio", "ratio_lower",
         "ratio_upper", "ratio_lower_poisson", "ratio_upper_poisson", "tau2", "status"),
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
        ("indicator_id", "force_id", "release_date", "period", "break_kind", "event", "level_shift", "f_stat", "p_value",
         "matches_event", "test_basis", "test_method", "previous_release_date"),
        (),
    ),
    # --- analyst-facing views ----------------------------------------------------------------------
    Table(
        "forces",
        "Forces and force-like bodies. Compare only `is_territorial_ew` forces unless you mean to.",
        "one row per force or body",
        ("force_id", "force_name", "short_name", "pfa_code", "country", "region", "force_kind", "is_territorial_ew", "records_system",
         "comparable_by_default", "comparability_note"),
        view_sql="select force_id, force_name, short_name, pfa_code, country, region, force_kind, is_territorial_ew, records_system, "
                 "comparable_by_default, comparability_note from ref_forces",
    ),
    Table(
        "recorded_crime_releases",
        "Every release (vintage) of every count, so the same month can be compared between releases "
        "(anti-social behaviour excluded).",
        "one row per release, force, period, period grain, scheme, category and source",
        ("release_date", "force_id", "period", "period_grain", "scheme", "category", "offence_count", "count_note", "source"),
        view_sql="""
            select c.release_date, c.force_id, c.period, c.period_grain, c.scheme, c.category,
                   cast(sum(c.offence_count) as bigint) as offence_count,
                   string_agg(distinct c.count_note, '; ') as count_note, c.source
            from core_counts__recorded_crime as c
            left join ref_police_uk_crime_types as t
              on c.scheme = 'police_uk' and t.crime_type = c.category
            where coalesce(t.is_notifiable_crime, true)
            group by c.release_date, c.force_id, c.period, c.period_grain, c.scheme, c.category, c.source
        """,
    ),
    Table(
        "recorded_crime",
        "Notifiable offences recorded, by force, period, scheme and category, from every source, taking "
        "each month from the latest release that has it (anti-social behaviour excluded).",
        "one row per force, period, period grain, scheme, category and source",
        ("force_id", "period", "period_grain", "scheme", "category", "offence_count", "count_note", "source", "release_date"),
        view_sql="""
            with latest as (
                select *, max(release_date) over (partition by source, force_id, period, period_grain) as latest_release
                from recorded_crime_releases
            ),
            final as (
                select force_id, period, period_grain, scheme, category, offence_count, count_note, source, release_date
                from latest
                where release_date is not distinct from latest_release
            )
            select * from final
        """,
    ),
    Table(
        "crime_outcomes",
        "Outcomes by force, period, offence category and outcome, on a stated count basis.",
        "one row per force, period, scheme, category, outcome scheme, outcome, count basis and source",
        ("force_id", "period", "period_grain", "scheme", "category", "outcome_scheme", "outcome", "outcome_group",
         "count_basis", "outcome_count", "source"),
        view_sql="""
            select c.force_id, c.period, c.period_grain, c.scheme, c.category, c.outcome_scheme, c.outcome, c.outcome_group,
                   c.count_basis, cast(sum(c.outcome_count) as bigint) as outcome_count, c.source
            from core_counts__crime_outcomes as c
            left join ref_police_uk_crime_types as t
              on c.scheme = 'police_uk' and t.crime_type = c.category
            where coalesce(t.is_notifiable_crime, true)
            group by c.force_id, c.period, c.period_grain, c.scheme, c.category, c.outcome_scheme, c.outcome,
                     c.outcome_group, c.count_basis, c.source
        """,
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
        view_sql="""
            with supplied as (
                select source, force_id, period, cast(sum(rows_supplied) as bigint) as rows_supplied
                from core_coverage
                group by all
            ),
            -- A source's periods step by its own grain (a month for police.uk, a quarter for the
            -- Home Office tables), read from the counts it wrote; rolling years are published quarterly.
            grain_steps as (
                select * from (values """ + _grain_values(steps=True) + """) as t(period_grain, step_months)
            ),
            source_steps as (
                select source, min(step_months) as step_months, arg_min(period_grain, step_months) as period_grain
                from (select distinct source, period_grain from core_counts__recorded_crime
                      union select distinct source, period_grain from core_counts__crime_outcomes)
                join grain_steps using (period_grain)
                group by all
            ),
            spans as (
                select s.source, min(s.period) as first_period, max(s.period) as last_period,
                       coalesce(any_value(t.step_months), 1) as step_months,
                       coalesce(any_value(t.period_grain), 'month') as period_grain
                from supplied as s
                left join source_steps as t using (source)
                group by all
            ),
            -- A monthly source is expected every month of its span, so that a month no file was
            -- loaded for shows. A quarterly or yearly table is expected for the periods it was
            -- published for: the ONS series is annual before it is quarterly, and a year is not four
            -- missing quarters.
            months as (
                select s.source, cast(m.month as date) as period
                from spans as s,
                     lateral (select unnest(generate_series(s.first_period, s.last_period, to_months(s.step_months))) as month) as m
                where s.step_months = 1
                union
                select distinct p.source, p.period
                from supplied as p join spans as s using (source)
                where s.step_months > 1
            ),
            expected_forces as (
                select s.source, f.force_id
                from spans as s
                join ref_sources as r on r.source = s.source and r.is_national
                cross join ref_forces as f
                where f.is_territorial_ew
                union
                select distinct source, force_id from supplied
            ),
            final as (
                select e.source, e.force_id, m.period, g.period_grain, s.rows_supplied,
                       case when s.rows_supplied is null then 'missing' else 'supplied' end as coverage_status
                from expected_forces as e
                join months as m using (source)
                join spans as g using (source)
                left join supplied as s using (source, force_id, period)
            )
            select * from final
        """,
    ),
    Table(
        "reconciliation",
        "The same force, window and offence group from every source side by side: each source's count, "
        "how much of the window it supplied, and its ratio to the source that publishes the window at its own grain. "
        "Windows are every period some source publishes (month, quarter or rolling year); finer periods are summed into them.",
        "one row per force, window, reconciliation group and source",
        ("force_id", "period", "period_grain", "reconciliation_group", "source", "offence_count", "periods_supplied",
         "periods_expected", "window_status", "reference_source", "reference_count", "ratio_to_reference", "known_differences"),
        materialised=True,
        view_sql="""
            with grain_months as (
                select * from (values """ + _grain_values(steps=False) + """) as t(period_grain, months)
            ),
            grouped as (
                select r.source, r.force_id, r.period, r.period_grain, m.months, g.reconciliation_group,
                       cast(sum(r.offence_count) as bigint) as offence_count
                from recorded_crime as r
                join ref_reconciliation_groups as g using (scheme, category)
                join grain_months as m using (period_grain)
                group by all
            ),
            windows as (
                select distinct force_id, period, period_grain, months, reconciliation_group,
                       period + to_months(months) as window_end
                from grouped
            ),
            source_spans as (
                select source, period_grain, months, min(period) as first_period, max(period + to_months(months)) as span_end
                from grouped group by all
            ),
            supplied_forces as (
                select distinct source, force_id from grouped
            ),
            candidates as (
                -- every source whose dates overlap the window, at the window's grain or a finer one, that
                -- is national or has ever supplied the force: one force's own export is not "missing"
                -- for every other force
                select w.force_id, w.period, w.period_grain, w.reconciliation_group, w.window_end, s.source,
                       s.period_grain as source_grain, s.months as source_months, w.months // s.months as periods_expected
                from windows as w
                join source_spans as s
                  on s.months <= w.months and s.first_period < w.window_end and s.span_end > w.period
                left join ref_sources as r on r.source = s.source
                left join supplied_forces as f on f.source = s.source and f.force_id = w.force_id
                where coalesce(r.is_national, true) or f.force_id is not null
            ),
            contributions as (
                select c.force_id, c.period, c.period_grain, c.reconciliation_group, c.source, c.periods_expected,
                       cast(sum(g.offence_count) as bigint) as offence_count,
                       cast(count(g.period) as integer) as periods_supplied
                from candidates as c
                left join grouped as g
                  on g.source = c.source and g.force_id = c.force_id and g.reconciliation_group = c.reconciliation_group
                 and g.period_grain = c.source_grain and g.period >= c.period
                 -- wholly inside the window: a calendar year is no part of a rolling year ending in March
                 and g.period + to_months(c.source_months) <= c.window_end
                 and (g.period_grain <> c.period_grain or g.period = c.period)
                group by all
            ),
            reference_counts as (
                select force_id, period, period_grain, reconciliation_group,
                       min(source) as reference_source, arg_min(offence_count, source) as reference_count
                from contributions
                where periods_expected = 1 and periods_supplied = 1
                group by all
            ),
            final as (
                select c.force_id, c.period, c.period_grain, c.reconciliation_group, c.source, c.offence_count,
                       c.periods_supplied, cast(c.periods_expected as integer) as periods_expected,
                       case when c.periods_supplied = 0 then 'missing'
                            when c.periods_supplied < c.periods_expected then 'partial'
                            else 'complete' end as window_status,
                       r.reference_source, r.reference_count,
                       c.offence_count / nullif(r.reference_count, 0) as ratio_to_reference,
                       case when c.source <> r.reference_source
                            then coalesce(exact.known_differences, any_reference.known_differences) end as known_differences
                from contributions as c
                left join reference_counts as r using (force_id, period, period_grain, reconciliation_group)
                left join ref_reconciliation_notes as exact
                  on exact.source = c.source and exact.reference_source = r.reference_source
                left join ref_reconciliation_notes as any_reference
                  on any_reference.source = c.source and any_reference.reference_source = '*'
            )
            select * from final
        """,
    ),
    Table(
        "breaks",
        "Events that break series: the version-controlled registry plus any events users loaded.",
        "one row per event",
        ("event_date", "scope", "kind", "event", "event_source", "affects"),
        view_sql="""
            select event_date, scope, kind, event, event_source, affects from ref_breaks
            union all
            select event_date, scope, kind, event, event_source, affects from core_breaks
        """,
    ),
    Table(
        "population",
        "Resident population by force area and year (British Transport Police has none), from the latest file that has it.",
        "one row per force, year and source",
        ("force_id", "year", "population", "source"),
        view_sql="""
            select force_id, year, arg_max(population, file_name) as population, source
            from core_population
            group by force_id, year, source
        """,
    ),
    Table(
        "recorded_crime_rates",
        "`recorded_crime` with the force area's resident population in the period's year and the count per 1,000 residents.",
        "one row per force, period, period grain, scheme, category and source",
        ("force_id", "period", "period_grain", "scheme", "category", "offence_count", "source", "population",
         "population_source", "rate_per_1000"),
        view_sql="""
            with by_source as (
                select force_id, year,
                       max(population) filter (where source = 'ons_mid_year_estimates') as mid_year,
                       max(population) filter (where source = 'ons_pfa_tables') as pfa_table
                from population
                group by all
            ),
            best as (
                select force_id, year, coalesce(mid_year, pfa_table) as population,
                       case when mid_year is not null then 'ons_mid_year_estimates' else 'ons_pfa_tables' end as population_source
                from by_source
            ),
            final as (
                select r.force_id, r.period, r.period_grain, r.scheme, r.category, r.offence_count, r.source,
                       b.population, b.population_source,
                       r.offence_count * 1000.0 / b.population as rate_per_1000
                from recorded_crime as r
                left join best as b on b.force_id = r.force_id and b.year = year(r.period)
            )
            select * from final
        """,
    ),
    Table(
        "ingest_log",
        "One row per input file: rows read, loaded, quarantined and duplicated, with the file's SHA-256.",
        "one row per input file",
        ("file_name", "source", "sha256", "rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate", "started_at", "finished_at"),
        view_sql="select * from meta_ingest_log",
    ),
    Table(
        "quarantine",
        "Rows that could not be loaded, with the reason and the row as read.",
        "one row per rejected input row",
        ("file_name", "row_number", "source", "reason", "raw_row"),
        view_sql="select * from meta_quarantine",
    ),
]
TABLES: dict[str, Table] = {t.name: t for t in _TABLES}


def _check() -> None:
    for table in _TABLES:
        for column in table.columns + table.primary_key:
            if column not in FIELDS:
                raise KeyError(f"table {table.name}: column {column!r} is not declared in FIELDS")


_check()


def create_statement(table: Table) -> str:
    if table.is_view:
        return f"create or replace view {table.name} as {table.view_sql.strip()}"
    columns = [f"    {c} {FIELDS[c].sql_type}" for c in table.columns]
    if table.primary_key and table.enforce_key:
        columns.append(f"    primary key ({', '.join(table.primary_key)})")
    return f"create table {table.name} (\n" + ",\n".join(columns) + "\n)"


def refresh_statements() -> list[str]:
    """Statements that refill every materialised table from its SQL (run at the end of a load)."""
    return [f"delete from {t.name}; insert into {t.name} by name {t.view_sql.strip()}" for t in _TABLES if t.materialised]


def ddl() -> list[str]:
    """Statements that create every table, then every view, in declaration order."""
    tables = [create_statement(t) for t in _TABLES if not t.is_view]
    views = [create_statement(t) for t in _TABLES if t.is_view]
    return tables + views


def schema_version() -> str:
    """A short fingerprint of the DDL; a database built with another schema is rebuilt, not patched."""
    return hashlib.sha256("\n".join(ddl()).encode()).hexdigest()[:16]


def describe(column: str) -> str:
    """One column's description, for charts and the dashboard's column help."""
    return FIELDS[column].description


def data_dictionary() -> str:
    """The analysts' data dictionary, as Markdown."""
    lines = [
        "# Data dictionary",
        "",
        "Generated from `pipelines/schema/` by `crossforce dictionary`; a test fails when this file is stale.",
        "",
        "Start with the views: they have stable names and columns. Tables prefixed `core_` hold the",
        "normalised data they are built from, `ref_` the version-controlled reference tables, and",
        "`meta_` the load's bookkeeping.",
        "",
    ]
    ordered = [t for t in _TABLES if t.is_view] + [t for t in _TABLES if not t.is_view]
    for table in ordered:
        kind = "view" if table.is_view else ("table, refilled at every load" if table.materialised else "table")
        lines += [f"## `{table.name}` ({kind})", "", table.description, "", f"Grain: {table.grain}."]
        if table.primary_key:
            lines.append(f"Primary key: {', '.join(f'`{c}`' for c in table.primary_key)}.")
        lines += ["", "| column | type | description |", "|---|---|---|"]
        for c in table.columns:
            f = FIELDS[c]
            lines.append(f"| `{c}` | {f.sql_type} | {f.description} |")
        lines.append("")
    return "\n".join(lines)
