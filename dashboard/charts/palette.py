"""The one palette every chart draws with: red is "above" (more than peers or than expected), blue is
"below", grey is "within"; Okabe–Ito colours for forces in a trend and for sources."""

from __future__ import annotations

INK = "#222222"
MUTED = "#767676"
PEERS = "#BDBDBD"
PEERS_DARK = "#8C8C8C"
ABOVE = "#B2182B"
ABOVE_LIGHT = "#EF8A62"
BELOW = "#2166AC"
BELOW_LIGHT = "#67A9CF"
WITHIN = "#8C8C8C"
MISSING = "#D55E00"
PART_SUPPLIED = "#F2C48D"
SUPPLIED = "#A6C8E0"

# The `position` values of the divergence table, from highest to lowest, with their colours.
POSITION_COLOURS = {
    "above the 99.8% overdispersed limit": ABOVE,
    "above the 95% overdispersed limit": ABOVE_LIGHT,
    "within the overdispersed limits": WITHIN,
    "below the 95% overdispersed limit": BELOW_LIGHT,
    "below the 99.8% overdispersed limit": BELOW,
}
WITHIN_POSITION = "within the overdispersed limits"

# Okabe–Ito colours (safe for colour-blind readers), for forces in a trend and for sources.
QUALITATIVE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000", "#F0E442"]
