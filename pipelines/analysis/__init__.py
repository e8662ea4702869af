"""Analysis: where, and how far, each force's classification departs from its peers.

One module per concern, each usable alone:

- `indicators`: what is compared, as data (indicators, witnesses, mixes), every value checked;
- `windows`: the periods a finding compares, per source (standard or chosen);
- `peers`: who is compared with whom (territorial, comparable forces; peer groups);
- `counts`: reading an indicator's, a mix's or an outcome ratio's counts in a window;
- `findings`: per-indicator statistics, q-values, ranks and sentences, and `for_peers_and_window`,
  the one function that gives the findings for a peer group and window;
- `screens`: the screens that decide whether a finding is ranked (supply, witness, coverage);
- `mixes`: mix divergence and homogeneity; `ratios`: case-mix adjusted outcome ratios;
- `series`: indicator series over time and their breaks;
- `stats`: the statistics themselves, plain functions over arrays;
- `tables`: the derived tables of the standard view, as frames that `pipelines.ingest.load` writes.

The analysis never writes the database: it returns frames.
"""
