"""Analysis: the statistics, the divergence engine and the series over time."""
