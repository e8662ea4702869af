"""Chart builders: pure functions from a Polars frame to a Plotly figure, with no Streamlit and no DuckDB.

Each function takes rows of one table or view (exactly its columns, or the subset named in its
docstring) and promises a figure with:

- a title that says what the chart shows, and a subtitle with what the reader needs to read it;
- axis titles with units, worded from `pipelines.schema.describe` where it fits;
- hover text with the exact numbers on every trace (customdata + hovertemplate); counts are kept
  as raw numbers, values that may be empty are formatted here ("—" when empty);
- the caller's `source_note` (publication and period) as an annotation under the plot, named
  `SOURCE_NOTE` so that tests and pages can find it;
- one palette across charts: red is "above" (more than peers or than expected), blue is "below",
  grey is "within"; one colour per source; system fonts only, no external fonts or icons.

Missing data is drawn as missing, never as zero: gaps break lines, missing force-months are a
colour of their own, missing windows get a marker and a legend entry that says so.

Pages call the builders from this package (`charts.funnel_plot(...)`); each lives in the module of
its concern:

- `funnel`: one indicator's forces against their limits (funnel plot, caterpillar plot);
- `compare`: every force on one indicator at a glance (compare-forces bar chart, tile map);
- `spine`: one force against the others on every indicator (spine chart);
- `mix`: offence and outcome mixes (residual heatmap, a force's mix contributions);
- `outcomes`: a force's case-mix adjusted outcome ratios;
- `trend`: an indicator over time, with the peers' band, events and breaks;
- `coverage`: which force-periods a source supplied;
- `reconciliation`: every source's counts side by side, window by window.

What they share: `palette` (colours), `sources` (each source's words and colour), `words` (values,
ids and periods as text), `layout` (title, fonts, margins, key and source note: `_finish`) and
`findings` (what the charts of divergence findings share: standing, markers, the chosen force).
"""

from dashboard.charts.compare import COMPARE_COLUMNS, compare_bar, tile_map
from dashboard.charts.coverage import COVERAGE_COLUMNS, coverage_grid
from dashboard.charts.findings import HIGHLIGHT_NAME, NOT_RANKED_SYMBOL, RANKED_SYMBOL
from dashboard.charts.funnel import CATERPILLAR_COLUMNS, FUNNEL_COLUMNS, caterpillar_plot, funnel_curves, funnel_plot
from dashboard.charts.layout import FONT_FAMILY, SHARE_TITLE, SOURCE_NOTE
from dashboard.charts.mix import CONTRIBUTION_COLUMNS, HEATMAP_COLUMNS, mix_contributions, residual_heatmap
from dashboard.charts.outcomes import RATIO_COLUMNS, outcome_ratio_plot
from dashboard.charts.palette import (
    ABOVE,
    ABOVE_LIGHT,
    BELOW,
    BELOW_LIGHT,
    INK,
    MISSING,
    MUTED,
    PEERS,
    PEERS_DARK,
    POSITION_COLOURS,
    QUALITATIVE,
    SUPPLIED,
    WITHIN,
    WITHIN_POSITION,
)
from dashboard.charts.reconciliation import RECONCILIATION_COLUMNS, reconciliation_plot
from dashboard.charts.sources import SOURCE_COLOURS, SOURCE_WORDS
from dashboard.charts.spine import SPINE_COLUMNS, spine_chart
from dashboard.charts.trend import trend_plot
from dashboard.charts.words import (
    GRAIN_MONTHS,
    GRAIN_NOUNS,
    GRAIN_ORDER,
    GRAIN_WORDS,
    OUTCOME_GROUP_LABELS,
    as_date,
    label_for,
    period_words,
    readable,
    window_words,
)

__all__ = [
    # the builders
    "caterpillar_plot",
    "compare_bar",
    "coverage_grid",
    "funnel_curves",
    "funnel_plot",
    "mix_contributions",
    "outcome_ratio_plot",
    "reconciliation_plot",
    "residual_heatmap",
    "spine_chart",
    "tile_map",
    "trend_plot",
    # the columns each builder needs
    "CATERPILLAR_COLUMNS",
    "COMPARE_COLUMNS",
    "CONTRIBUTION_COLUMNS",
    "COVERAGE_COLUMNS",
    "FUNNEL_COLUMNS",
    "HEATMAP_COLUMNS",
    "RATIO_COLUMNS",
    "RECONCILIATION_COLUMNS",
    "SPINE_COLUMNS",
    # words
    "GRAIN_MONTHS",
    "GRAIN_NOUNS",
    "GRAIN_ORDER",
    "GRAIN_WORDS",
    "OUTCOME_GROUP_LABELS",
    "SOURCE_WORDS",
    "as_date",
    "label_for",
    "period_words",
    "readable",
    "window_words",
    # palette, fonts and marks
    "ABOVE",
    "ABOVE_LIGHT",
    "BELOW",
    "BELOW_LIGHT",
    "INK",
    "MISSING",
    "MUTED",
    "PEERS",
    "PEERS_DARK",
    "POSITION_COLOURS",
    "QUALITATIVE",
    "SOURCE_COLOURS",
    "SUPPLIED",
    "WITHIN",
    "WITHIN_POSITION",
    "FONT_FAMILY",
    "HIGHLIGHT_NAME",
    "NOT_RANKED_SYMBOL",
    "RANKED_SYMBOL",
    "SHARE_TITLE",
    "SOURCE_NOTE",
]
