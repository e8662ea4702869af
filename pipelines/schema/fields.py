"""Every field of the crossforce database, declared once.

A field keeps the same name, type and meaning in every table and view that uses it; the tables
(`pipelines/schema/tables.py`) name their columns from here, and the DDL, the data dictionary and the
dashboard's column help read the type and description from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    sql_type: str
    description: str


_FIELDS = [
    # Provenance
    Field(
        "file_name",
        "VARCHAR",
        "Name of the input file the row came from (without folders); re-ingesting a file of the same name replaces its rows.",
    ),
    Field(
        "row_number",
        "INTEGER",
        "1-based data row number within its file, header excluded; with `file_name` it traces every row to its source.",
    ),
    Field(
        "source",
        "VARCHAR",
        "Publication the figure comes from, for example `police_uk_street` or `police_uk_outcomes`.",
    ),
    Field(
        "is_national",
        "BOOLEAN",
        "True for a national return, expected from every territorial force; false for a force's own export, expected only from that force.",
    ),
    Field("sha256", "VARCHAR", "SHA-256 of the input file's bytes as read (compressed files hashed as stored)."),
    Field("rows_read", "BIGINT", "Data rows read from the file, header excluded."),
    Field("rows_loaded", "BIGINT", "Rows loaded into core tables."),
    Field("rows_quarantined", "BIGINT", "Rows set aside in `quarantine`, each with a reason."),
    Field(
        "rows_duplicate",
        "BIGINT",
        "Loaded rows that repeat an earlier row of the same file exactly; kept and counted, and marked in `duplicate_of_row`.",
    ),
    Field("started_at", "TIMESTAMP", "When reading the file began (UTC)."),
    Field("finished_at", "TIMESTAMP", "When the file's rows were written (UTC)."),
    Field("reason", "VARCHAR", "Why the row could not be loaded, in words a person can act on."),
    Field("raw_row", "VARCHAR", "The row as read, as JSON of column name to text value."),
    Field(
        "duplicate_of_row",
        "INTEGER",
        "For an exact repeat of an earlier row in the same file, that earlier row's `row_number`; empty otherwise.",
    ),
    # Forces
    Field(
        "force_id",
        "VARCHAR",
        "Stable force identifier, the data.police.uk slug (for example `devon-and-cornwall`, `btp`).",
    ),
    Field("reported_by_force_id", "VARCHAR", "Force that supplied the record (police.uk `Reported by`)."),
    Field("force_name", "VARCHAR", "Official force name, as data.police.uk writes it."),
    Field("short_name", "VARCHAR", "Area name as ONS writes it (for example `Devon and Cornwall`)."),
    Field("pfa_code", "VARCHAR", "ONS police force area code (E23…, W15…); empty for bodies without a resident area."),
    Field(
        "country",
        "VARCHAR",
        "England, Wales or Northern Ireland; empty for British Transport Police and the fraud bodies.",
    ),
    Field("region", "VARCHAR", "ONS region of a territorial force."),
    Field(
        "force_kind",
        "VARCHAR",
        "`territorial`, `transport` (British Transport Police), `northern_ireland` or `fraud_body`.",
    ),
    Field(
        "is_territorial_ew",
        "BOOLEAN",
        "True for the 43 territorial forces of England and Wales, the only bodies compared by default.",
    ),
    Field("records_system", "VARCHAR", "Main crime records system, where known (for example Athena, Niche, CONNECT)."),
    Field(
        "comparable_by_default",
        "BOOLEAN",
        "False for an area that is not comparable with the others by default (City of London: a tiny resident population beside its daytime one); such an area is shown but never ranked or put in a benchmark unless a reviewer includes it.",
    ),
    Field("comparability_note", "VARCHAR", "Why an area is not comparable by default."),
    Field("alias", "VARCHAR", "A spelling of a force's name as found in a published file."),
    Field("seen_in", "VARCHAR", "Where a spelling was seen."),
    # Time
    Field("period", "DATE", "First day of the period the figure covers (for a month, the first of that month)."),
    Field(
        "period_grain",
        "VARCHAR",
        "Length of the period: `month`, `quarter`, `financial_year`, `calendar_year` or `rolling_year`.",
    ),
    Field("months_covered", "INTEGER", "Months a period of the grain covers (a rolling year: 12)."),
    Field(
        "step_months",
        "INTEGER",
        "Months from the start of one period of the grain to the start of the next (a rolling year is published every quarter: 3).",
    ),
    # Classification
    Field(
        "scheme",
        "VARCHAR",
        "Classification scheme of `category`: `police_uk` (the police.uk crime types), `ons_group`, `ons_subgroup`, `ho_offence_code`, ...",
    ),
    Field(
        "category",
        "VARCHAR",
        "Offence category within its `scheme`; empty where the publication gives none (police.uk outcome files).",
    ),
    Field("crime_type", "VARCHAR", "police.uk crime type as published (14 types, including Anti-social behaviour)."),
    Field(
        "is_notifiable_crime",
        "BOOLEAN",
        "False for anti-social behaviour, which police.uk publishes beside crimes but is not a notifiable crime.",
    ),
    Field(
        "ons_offence_groups",
        "VARCHAR",
        "ONS offence hierarchy nodes (`;`-separated) that a police.uk crime type draws from.",
    ),
    Field(
        "offence_code",
        "VARCHAR",
        "Home Office offence code or ONS hierarchy node, normalised (for example `8N`, `105A`, `4.9`).",
    ),
    Field("offence_label", "VARCHAR", "Label of an offence code or hierarchy node."),
    Field("parent_code", "VARCHAR", "Parent node in the ONS offence hierarchy."),
    Field("offence_group", "VARCHAR", "Top-level ONS offence group of a code."),
    Field("offence_subgroup", "VARCHAR", "ONS offence subgroup of a code."),
    Field("depth", "INTEGER", "Depth in the ONS offence hierarchy (0 = total offences)."),
    Field("is_leaf", "BOOLEAN", "True for an offence code with no children."),
    # Outcomes
    Field(
        "outcome_scheme",
        "VARCHAR",
        "Vocabulary of `outcome`: `police_uk` (police.uk outcome labels) or `ho_outcome_type` (Home Office types 0–22).",
    ),
    Field(
        "outcome",
        "VARCHAR",
        "Outcome label or type within its `outcome_scheme`; empty where none was supplied (police.uk publishes no outcome for some forces).",
    ),
    Field("outcome_label", "VARCHAR", "A police.uk outcome label as published."),
    Field("outcome_type", "INTEGER", "Home Office outcome type, 0–22."),
    Field("ho_outcome_types", "VARCHAR", "Home Office outcome types (`;`-separated) a police.uk label corresponds to."),
    Field(
        "outcome_group",
        "VARCHAR",
        "Outcome group shared by every outcome vocabulary (for example `charged_summonsed`, `evidential_difficulties`).",
    ),
    Field(
        "count_basis",
        "VARCHAR",
        "`offences_recorded_in_period` (outcome so far of crimes recorded in the period) or `outcomes_in_period` (outcomes assigned in the period); the two are not interchangeable.",
    ),
    Field("label", "VARCHAR", "Human-readable label."),
    Field("sort_order", "INTEGER", "Display order."),
    Field("introduced", "DATE", "Date a code or outcome type came into use."),
    Field("description", "VARCHAR", "What the value means."),
    # Record-level police.uk
    Field(
        "crime_id",
        "VARCHAR",
        "police.uk Crime ID (a hash); blank for anti-social behaviour and for some forces' crimes.",
    ),
    Field(
        "longitude", "DOUBLE", "Anonymised longitude (snapped to a map point); empty where the record has no location."
    ),
    Field("latitude", "DOUBLE", "Anonymised latitude; empty where the record has no location."),
    Field("location", "VARCHAR", "Anonymised location description (for example `On or near Station Road`)."),
    Field("lsoa_code", "VARCHAR", "Lower-layer super output area code of the map point."),
    Field("lsoa_name", "VARCHAR", "Lower-layer super output area name."),
    Field("context", "VARCHAR", "police.uk free-text context (empty in current releases)."),
    # Vintages, areas and notes
    Field(
        "release_date",
        "DATE",
        "Publication (vintage) date of the release the figure comes from; a month re-published in a later release keeps both. Empty where the source is not released in vintages.",
    ),
    Field(
        "count_note",
        "VARCHAR",
        "Why a count is special: `negative published adjustment`, `not available (..)` (count empty), and so on; empty for ordinary counts.",
    ),
    Field("area_name", "VARCHAR", "Area within a force as published (for example a London borough, or `Unknown`)."),
    Field("area_code", "VARCHAR", "Code of `area_name` where published (for example a ward code)."),
    Field(
        "source_label",
        "VARCHAR",
        "The category as the source published it, before mapping onto `scheme` and `category`.",
    ),
    Field("year", "INTEGER", "Year of a mid-year population estimate."),
    Field("population", "BIGINT", "Resident population (mid-year estimate)."),
    Field(
        "reconciliation_group",
        "VARCHAR",
        "Offence group that every source can be summed onto (police.uk crime types are coarser than ONS groups, so some ONS groups are joined).",
    ),
    Field(
        "periods_supplied", "INTEGER", "Periods of the source's own grain that fall in the window and were supplied."
    ),
    Field(
        "periods_expected",
        "INTEGER",
        "Periods of the source's own grain that make up the window (3 months to a quarter, 4 quarters to a rolling year).",
    ),
    Field(
        "reference_source",
        "VARCHAR",
        "Source publishing the window at its own grain, against which the others are compared.",
    ),
    Field(
        "known_differences",
        "VARCHAR",
        "Every known reason why this source's count differs from the reference source's (`pipelines/reference/reconciliation_notes.csv`); empty where none is recorded.",
    ),
    Field("reference_count", "BIGINT", "The reference source's count for the window."),
    Field("ratio_to_reference", "DOUBLE", "`offence_count` ÷ `reference_count`: 1.0 when the sources agree."),
    Field(
        "population_source",
        "VARCHAR",
        "Which population a rate uses: the ONS mid-year estimates summed to the force area, else the ONS PFA table P3.",
    ),
    Field(
        "rate_per_1000",
        "DOUBLE",
        "offence_count per 1,000 residents of the force area in the period's year (a rate for the period, not annualised); empty where there is no resident population (British Transport Police).",
    ),
    Field("event_date", "DATE", "Date a break in series took effect."),
    Field("event", "VARCHAR", "What changed."),
    Field("scope", "VARCHAR", "`national`, or the force_id of the one force affected."),
    Field(
        "kind", "VARCHAR", "`counting_rule_change`, `records_system_change`, `data_gap` or `outcome_framework_change`."
    ),
    Field("event_source", "VARCHAR", "Where the event is documented."),
    Field(
        "affects",
        "VARCHAR",
        "Indicators the event can affect, `;`-separated: `*` (all), `none` (never tested, as for a data gap), `measure=offences` or `measure=outcomes`, or indicator_id patterns with `*` (for example `*burglary*`). An event is tested on these indicators only.",
    ),
    # Counts
    Field("offence_count", "BIGINT", "Number of offences recorded."),
    Field("outcome_count", "BIGINT", "Number of outcomes."),
    Field(
        "window_status",
        "VARCHAR",
        "`complete` (every period of the window supplied), `partial`, or `missing` (the source covers these dates but supplied nothing for this force).",
    ),
    Field(
        "rows_supplied",
        "BIGINT",
        "Rows a source supplied for the force and month; empty where the force-month is missing.",
    ),
    Field("coverage_status", "VARCHAR", "`supplied` or `missing`: a missing force-month is missing, never zero."),
    # Divergence
    Field("indicator_id", "VARCHAR", "Indicator identifier, from `pipelines/reference/indicators.csv`."),
    Field("mix_id", "VARCHAR", "Offence or outcome mix identifier, from `pipelines/reference/mixes.csv`."),
    Field(
        "peer_group",
        "VARCHAR",
        "Forces the benchmark is drawn from: `all` territorial forces, `region`, `nearest` neighbours, or a user group.",
    ),
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
    Field(
        "tau2",
        "DOUBLE",
        "Between-force variance τ²: on the arcsine scale for a finding (additive random-effects funnel), on the log scale for an outcome ratio.",
    ),
    Field("z_plain", "DOUBLE", "z-score under the plain binomial model (arcsine scale)."),
    Field(
        "z",
        "DOUBLE",
        "z-score under the overdispersed (additive random-effects) model: what significance and ranking use.",
    ),
    Field(
        "p_value",
        "DOUBLE",
        "p-value of the row's test: two-sided for `z` in `divergence`; the chi-square, calibration or break test elsewhere.",
    ),
    Field(
        "q_bh", "DOUBLE", "Benjamini–Hochberg q-value within the finding's `family`, over every finding tested in it."
    ),
    Field(
        "q_by",
        "DOUBLE",
        "Benjamini–Yekutieli q-value (valid under any dependence) within the same family: what `is_significant` uses.",
    ),
    Field("direction", "VARCHAR", "`above` or `below` the benchmark."),
    Field("position", "VARCHAR", "Where the share sits against the overdispersed funnel limits."),
    Field("sentence", "VARCHAR", "The finding in words."),
    Field(
        "rank",
        "INTEGER",
        "Rank of a classification finding that survived every screen: significant findings first (BY q under 0.05), each group by the size of the difference (|effect_h|); empty for a finding that is not ranked (see `status`).",
    ),
    Field(
        "supply_rank",
        "INTEGER",
        "Rank of a data-supply finding (pending, unavailable) in the supply list, in the same order as `rank`; empty otherwise.",
    ),
    Field("is_ranked", "BOOLEAN", "True when the finding survived every screen (`status` = `ranked`)."),
    Field(
        "indicator_kind",
        "VARCHAR",
        "`classification` (how a force classifies or closes crimes) or `supply` (what its feed leaves out or has not settled: pending, unavailable); each is ranked and corrected for false discoveries on its own.",
    ),
    Field(
        "status",
        "VARCHAR",
        "`ranked`, or why not: `non_comparable` (an area not comparable by default), `incomplete` (the force lacks some of the window's periods), `not_a_share` (published counts net to a numerator below zero or above the denominator), `degenerate` (nothing to test), `small_denominator`, `no_benchmark`, `supply_suspect` (its supply to the parent looks abnormal) or `contradicted` (another source shows the opposite direction).",
    ),
    Field("status_reason", "VARCHAR", "Why the finding is not ranked, in words; empty when it is."),
    Field(
        "family",
        "VARCHAR",
        "The false-discovery family the q-values are computed in: one indicator kind, source, window and measure.",
    ),
    Field(
        "is_significant",
        "BOOLEAN",
        "True when the Benjamini–Yekutieli q-value is under 0.05 (BY is valid under the dependence of shares within one parent).",
    ),
    Field(
        "effect_h",
        "DOUBLE",
        "Cohen's h = 2·asin√share − 2·asin√benchmark: the size of the difference on one scale for large and small shares; ranking uses |h|.",
    ),
    Field("benchmark_forces", "INTEGER", "Territorial forces in the finding's benchmark."),
    Field(
        "benchmark_crime_share",
        "DOUBLE",
        "Share of England and Wales recorded crime (fraud excluded) the benchmark's forces hold, from the ONS year ending nearest the window; empty when no ONS force table is loaded.",
    ),
    Field(
        "benchmark_missing",
        "VARCHAR",
        "The largest territorial forces missing from the benchmark (not supplied, incomplete or not comparable), largest first.",
    ),
    Field(
        "benchmark_coverage",
        "VARCHAR",
        "What the benchmark covers, in words: forces, share of recorded crime and the year it is measured in, largest forces missing.",
    ),
    Field(
        "witness_indicator_id",
        "VARCHAR",
        "The same concept in another loaded source (`pipelines/reference/witnesses.csv`) that this finding is checked against.",
    ),
    Field("witness_label", "VARCHAR", "The witness's publication and window."),
    Field("witness_share", "DOUBLE", "The force's share in the witness source."),
    Field("witness_benchmark", "DOUBLE", "Comparable forces' share in the witness source."),
    Field("witness_window_start", "DATE", "First day of the witness's window."),
    Field("witness_window_end", "DATE", "Day after the witness's window ends."),
    Field(
        "witness_status",
        "VARCHAR",
        "`corroborates` (same direction, beyond the witness's own 95% limits), `contradicts` (opposite direction: the finding is not ranked) or `inconclusive`; empty where no other source has the concept.",
    ),
    Field("limit95_plain_lower", "DOUBLE", "Lower 95% funnel limit, plain binomial, at the force's denominator."),
    Field("limit95_plain_upper", "DOUBLE", "Upper 95% funnel limit, plain binomial."),
    Field("limit998_plain_lower", "DOUBLE", "Lower 99.8% funnel limit, plain binomial."),
    Field("limit998_plain_upper", "DOUBLE", "Upper 99.8% funnel limit, plain binomial."),
    Field("limit95_od_lower", "DOUBLE", "Lower 95% funnel limit, overdispersed (additive random effects)."),
    Field("limit95_od_upper", "DOUBLE", "Upper 95% funnel limit, overdispersed."),
    Field("limit998_od_lower", "DOUBLE", "Lower 99.8% funnel limit, overdispersed."),
    Field("limit998_od_upper", "DOUBLE", "Upper 99.8% funnel limit, overdispersed."),
    Field(
        "distance",
        "DOUBLE",
        "Jensen–Shannon distance (base 2, in [0, 1]) between the force's mix and its peers' mix without it.",
    ),
    Field(
        "null_median",
        "DOUBLE",
        "Median distance of Dirichlet-multinomial draws of the force's own total from the peers' mix, with the between-force spread the compared forces show: what an ordinary force gives.",
    ),
    Field("null_q95", "DOUBLE", "95th percentile of those draws."),
    Field("total", "BIGINT", "The force's total over the mix's categories."),
    Field("reference_share", "DOUBLE", "The category's share in the peers' pooled mix (force excluded)."),
    Field("contribution", "DOUBLE", "The category's term in the Jensen–Shannon divergence (terms sum to distance²)."),
    Field(
        "adjusted_residual",
        "DOUBLE",
        "Adjusted standardised residual of the force × category cell in the chi-square homogeneity test.",
    ),
    Field("chi2", "DOUBLE", "Chi-square statistic of homogeneity across forces."),
    Field("dof", "INTEGER", "Degrees of freedom."),
    Field("cramers_v", "DOUBLE", "Cramér's V: effect size of the heterogeneity, in [0, 1]."),
    Field("forces_compared", "INTEGER", "Number of forces in the comparison."),
    Field("observed", "DOUBLE", "Observed outcomes of the kind."),
    Field(
        "expected",
        "DOUBLE",
        "Expected outcomes given the force's case mix and the other forces' rate per offence category.",
    ),
    Field("standardised_ratio", "DOUBLE", "observed ÷ expected (1 = as the case mix predicts)."),
    Field(
        "ratio_lower",
        "DOUBLE",
        "Lower 95% limit of the ratio allowing for between-force spread (log ratio ± 1.96·√(1/O + τ²), τ² fitted across the compared forces), as the findings' overdispersed funnels do.",
    ),
    Field("ratio_upper", "DOUBLE", "Upper 95% limit of the ratio allowing for between-force spread."),
    Field(
        "ratio_lower_poisson",
        "DOUBLE",
        "Lower exact Poisson 95% limit of the ratio (chance alone, no between-force spread).",
    ),
    Field("ratio_upper_poisson", "DOUBLE", "Upper exact Poisson 95% limit of the ratio (chance alone)."),
    Field(
        "p_chance",
        "DOUBLE",
        "p-value of the mix distance against multinomial draws alone (chance, no between-force spread); kept beside the calibrated `p_value`.",
    ),
    Field(
        "break_kind",
        "VARCHAR",
        "`registered` (tested at an event in the registry that can affect the indicator), `detected` (found by binary segmentation) or `revision` (the largest change of a month's share between two consecutive releases: never a break).",
    ),
    Field("level_shift", "DOUBLE", "Size of the shift in the share at the break (proportion)."),
    Field("f_stat", "DOUBLE", "F statistic of the break test."),
    Field(
        "matches_event",
        "VARCHAR",
        "For a detected break, the registered event within two periods of it that can affect the indicator, if any.",
    ),
    Field(
        "test_basis",
        "VARCHAR",
        "The points a break test used: `monthly` or `quarterly` (the periods of one release), `yearly`, or `non-overlapping years` (rolling years twelve months apart, never overlapping ones: for a registered event the years in phase with the first rolling year starting on or after it, for a detected break the years ending with the latest period). On a `revision` row, the grain of the months compared.",
    ),
    Field(
        "test_method",
        "VARCHAR",
        "The break test: `seasonal_difference` (registered event in a monthly or quarterly series: the year-on-year change of the periods after the event against the year-on-year change of those before it, pooled t test reported as F = t² on (1, n − 2) degrees of freedom; `level_shift` is the difference of the two changes), `level_shift` (registered event in a yearly series or on non-overlapping years: one line through up to four years either side with a jump at the event, the Chow test with the slope held common, F on (1, n − 3) degrees of freedom), `binary_segmentation` (a detected change in mean, Bonferroni-adjusted p); empty on a `revision` row, which is no test.",
    ),
    Field(
        "previous_release_date",
        "DATE",
        "On a `revision` row, the earlier of the two consecutive releases compared (`release_date` is the later one, `level_shift` the later share minus the earlier for the month changed most); empty on every other row.",
    ),
    # Bookkeeping
    Field("key", "VARCHAR", "Setting name."),
    Field("value", "VARCHAR", "Setting value."),
]


def _fields_by_name(fields: list[Field]) -> dict[str, Field]:
    """Each field by name; a name declared twice is an error, not a silent overwrite."""
    seen: dict[str, Field] = {}
    for f in fields:
        if f.name in seen:
            raise ValueError(
                f"schema: field {f.name!r} is declared twice ({seen[f.name].description!r} and {f.description!r})"
            )
        seen[f.name] = f
    return seen


FIELDS: dict[str, Field] = _fields_by_name(_FIELDS)
