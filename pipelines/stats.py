"""Statistics for "where do forces classify crime differently": plain, typed functions over arrays.

Counts per force run to tens of thousands, so nearly every difference is "significant". These
functions therefore lead with effect sizes and with limits that allow for overdispersion:

- shares with Wilson intervals, and funnel limits for them (binomial, multiplicative, additive);
- p-values turned into false-discovery-rate q-values over many forces × indicators;
- the Jensen–Shannon distance of a force's offence mix from a reference mix, calibrated by simulation;
- chi-square homogeneity of a forces × categories table, with adjusted residuals and Cramér's V;
- indirect standardisation (observed ÷ expected given case mix) with exact Poisson limits;
- breaks in a series: a Chow test at a known date, binary segmentation for unknown dates.

Nothing here reads data or knows about forces: callers pass numpy arrays (or anything array-like),
and every function is vectorised over units. Methods are cited in each docstring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from scipy.spatial.distance import jensenshannon

MODELS = ("binomial", "multiplicative", "additive")


def _two_sided_z(level: float) -> float:
    """The standard normal quantile leaving (1 - level) / 2 in each tail (1.96 for 0.95)."""
    return float(stats.norm.ppf(1 - (1 - level) / 2))


def wilson_interval(x: ArrayLike, n: ArrayLike, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for the proportion x / n, elementwise (Wilson 1927; Newcombe 1998).

    Promises the same bounds as `scipy.stats.binomtest(x, n).proportion_ci(method="wilson")`,
    bounds in [0, 1] that contain x / n, and (nan, nan) where n == 0.
    """
    x, n = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(n, dtype=float))
    z = _two_sided_z(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    # At x == 0 and x == n the bound is exactly 0 or 1; rounding would otherwise leave 1e-17 off.
    lower = np.where(x == 0, 0.0, np.clip(centre - half, 0, 1))
    upper = np.where(x == n, 1.0, np.clip(centre + half, 0, 1))
    empty = n == 0
    return np.where(empty, np.nan, lower), np.where(empty, np.nan, upper)


@dataclass
class Funnel:
    """A funnel plot for proportions on the arcsine scale (Spiegelhalter 2005, Stat Med 24:1185).

    On that scale y = asin(√p) has standard error s = 1 / (2√n) whatever p is, so one z per unit
    and one overdispersion factor serve every unit. `n` is kept so that `z_adjusted` can rebuild s.
    """

    target: np.ndarray
    z: np.ndarray
    phi: float
    tau2: float
    n: np.ndarray

    def limits(self, n: ArrayLike, target: ArrayLike, level: float, model: str) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper control limits for a share at sample size n around `target`.

        `level` is two-sided (0.95, 0.998). binomial: asin(√target) ± z·s; multiplicative:
        ± z·√φ·s when φ > 1 (else binomial); additive: ± z·√(s² + τ²). Limits are clipped to
        [0, π/2] on the angle scale before sin², so they lie in [0, 1] and stay monotone in n.
        """
        n = np.asarray(n, dtype=float)
        centre = np.arcsin(np.sqrt(np.asarray(target, dtype=float)))
        s = 1 / (2 * np.sqrt(n))
        half = _two_sided_z(level) * self._scale(s, model)
        # sin² folds back beyond 0 and π/2, so clip the angle, not the proportion.
        lower = np.sin(np.clip(centre - half, 0, np.pi / 2)) ** 2
        upper = np.sin(np.clip(centre + half, 0, np.pi / 2)) ** 2
        return lower, upper

    def z_adjusted(self, model: str) -> np.ndarray:
        """z scores judged against the model's spread: z / √φ (multiplicative, when φ > 1),
        (y − target) / √(s² + τ²) (additive), or z itself (binomial)."""
        s = 1 / (2 * np.sqrt(self.n))
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.z * s / self._scale(s, model)  # z·s is y − asin(√target)

    def _scale(self, s: np.ndarray, model: str) -> np.ndarray:
        """The standard error of y under `model`."""
        if model == "binomial" or (model == "multiplicative" and not self.phi > 1):
            return s
        if model == "multiplicative":
            return np.sqrt(self.phi) * s
        if model == "additive":
            return np.sqrt(s**2 + self.tau2)
        raise ValueError(f"model must be one of {MODELS}, not {model!r}")


def funnel(x: ArrayLike, n: ArrayLike, exclude_self: bool = True, winsor: tuple[float, float] = (0.1, 0.9)) -> Funnel:
    """Arcsine funnel for shares x / n, with Spiegelhalter's (2005) overdispersion estimates.

    target: with `exclude_self`, each unit's benchmark is the pooled share of all *other* units, so a
    large force cannot pull its own benchmark towards itself; otherwise the pooled share of all.
    phi: mean z² after winsorising z at the `winsor` quantiles (numpy's linear interpolation), kept
    even when below 1. tau2: the DerSimonian–Laird style additive variance
    max(0, (kφ − (k − 1)) / (Σw − Σw²/Σw)), w = 1/s² = 4n. Units with n == 0 get z = nan and are
    left out of phi and tau2 (as are units whose benchmark is undefined).
    """
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if exclude_self:
            target = (x.sum() - x) / (n.sum() - n)
        else:
            target = np.full(x.shape, x.sum() / n.sum())
        s = 1 / (2 * np.sqrt(n))
        z = (np.arcsin(np.sqrt(x / n)) - np.arcsin(np.sqrt(target))) / s
    z = np.where(n > 0, z, np.nan)

    used = np.isfinite(z)
    k = int(used.sum())
    if k == 0:
        return Funnel(target, z, np.nan, np.nan, n)
    lo, hi = np.quantile(z[used], winsor)
    phi = float(np.mean(np.clip(z[used], lo, hi) ** 2))
    w = 4 * n[used]
    spread = w.sum() - (w**2).sum() / w.sum()
    tau2 = max(0.0, (k * phi - (k - 1)) / spread) if spread > 0 else np.nan
    return Funnel(target, z, phi, float(tau2), n)


def two_sided_p(z: ArrayLike) -> np.ndarray:
    """Two-sided normal p-value 2·P(Z > |z|); nan stays nan."""
    return 2 * stats.norm.sf(np.abs(np.asarray(z, dtype=float)))


def q_values(p: ArrayLike, method: str = "bh") -> np.ndarray:
    """False-discovery-rate adjusted p-values (q-values), via `scipy.stats.false_discovery_control`.

    "bh": Benjamini & Hochberg (1995), for independent or positively dependent tests; "by":
    Benjamini & Yekutieli (2001), valid under any dependence (BH × Σ 1/i, capped at 1).
    nan p-values stay nan and do not count towards the number of tests. Each q >= its p.
    """
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    present = ~np.isnan(p)
    if present.any():
        q[present] = stats.false_discovery_control(p[present], method=method)
    return q


@dataclass
class MixDivergence:
    """How far a unit's category mix lies from a reference mix (see `mix_divergence`)."""

    distance: float
    contributions: np.ndarray
    p_value: float
    null_median: float
    null_q95: float


def mix_divergence(counts: ArrayLike, reference_counts: ArrayLike, draws: int = 2000, seed: int = 0) -> MixDivergence:
    """Jensen–Shannon distance (base 2, in [0, 1]) between a unit's mix and a reference mix.

    Pass a reference that excludes the unit itself (national minus the force), or the distance
    is shrunk towards 0 for large forces. `contributions[k]` = ½p·log₂(p/m) + ½q·log₂(q/m) with
    m = (p + q)/2: each is >= 0 (it is (p+q)/2 × (1 − binary entropy of p/(p+q))) and they sum to
    distance². Calibration (Monte Carlo, +1 corrected as in Davison & Hinkley 1997): `draws`
    multinomial samples of the unit's own n from the reference mix give the null distribution of
    the distance, since a small force's mix is noisy even when it classifies like everyone else.
    """
    counts = np.asarray(counts, dtype=float)
    reference = np.asarray(reference_counts, dtype=float)
    p = counts / counts.sum()
    q = reference / reference.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        # 0·log 0 = 0: a category absent from one mix contributes only through the other.
        contributions = 0.5 * np.where(p > 0, p * np.log2(p / m), 0.0) + 0.5 * np.where(q > 0, q * np.log2(q / m), 0.0)

    rng = np.random.default_rng(seed)
    null_counts = rng.multinomial(int(round(counts.sum())), q, size=draws)
    # Observed and null distances come from one call so that ties compare like with like.
    distances = jensenshannon(np.vstack([counts, null_counts]), q[None, :], axis=1, base=2)
    observed, null = float(distances[0]), distances[1:]
    return MixDivergence(
        distance=observed,
        contributions=contributions,
        p_value=float((1 + np.sum(null >= observed)) / (draws + 1)),
        null_median=float(np.median(null)),
        null_q95=float(np.quantile(null, 0.95)),
    )


@dataclass
class Homogeneity:
    """Chi-square test that all rows share one column mix (see `homogeneity`)."""

    chi2: float
    dof: int
    p_value: float
    cramers_v: float
    adjusted_residuals: np.ndarray


def homogeneity(table: ArrayLike) -> Homogeneity:
    """Pearson chi-square homogeneity test of a rows (forces) × columns (categories) table.

    No continuity correction. Cramér's V = √(χ² / (N (min(r, c) − 1))) is the effect size (the
    formula of `scipy.stats.contingency.association`, which refuses non-integer tables).
    Adjusted standardised residuals (Haberman 1973) (O − E)/√(E(1 − R/N)(1 − C/N)) are about
    N(0, 1) under homogeneity, so they can be read cell by cell in a heatmap. All-zero rows and
    columns are dropped before the test (they have no expected counts); their residuals are nan.
    """
    table = np.asarray(table, dtype=float)
    rows, cols = table.sum(axis=1) > 0, table.sum(axis=0) > 0
    kept = table[np.ix_(rows, cols)]
    residuals = np.full(table.shape, np.nan)
    if min(kept.shape) < 2:
        return Homogeneity(np.nan, 0, np.nan, np.nan, residuals)

    result = stats.chi2_contingency(kept, correction=False)
    total = kept.sum()
    row_share = kept.sum(axis=1, keepdims=True) / total
    col_share = kept.sum(axis=0, keepdims=True) / total
    expected = result.expected_freq
    residuals[np.ix_(rows, cols)] = (kept - expected) / np.sqrt(expected * (1 - row_share) * (1 - col_share))
    return Homogeneity(
        chi2=float(result.statistic),
        dof=int(result.dof),
        p_value=float(result.pvalue),
        cramers_v=float(np.sqrt(result.statistic / (total * (min(kept.shape) - 1)))),
        adjusted_residuals=residuals,
    )


def poisson_interval(observed: ArrayLike, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood 1936) interval for a Poisson mean given an observed count O.

    lower = χ²(α/2; 2O)/2 (0 when O == 0), upper = χ²(1 − α/2; 2O + 2)/2.
    """
    observed = np.asarray(observed, dtype=float)
    alpha = 1 - confidence
    with np.errstate(invalid="ignore"):
        lower = np.where(observed > 0, stats.chi2.ppf(alpha / 2, 2 * observed) / 2, 0.0)
    upper = stats.chi2.ppf(1 - alpha / 2, 2 * observed + 2) / 2
    return lower, upper


@dataclass
class Standardised:
    """Observed and case-mix expected counts per unit (see `indirect_standardisation`)."""

    observed: np.ndarray
    expected: np.ndarray
    ratio: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def indirect_standardisation(
    events: ArrayLike, exposure: ArrayLike, exclude_self: bool = True, confidence: float = 0.95
) -> Standardised:
    """Indirectly standardised ratio O/E per unit, given units × categories arrays.

    For example events = outcomes of one kind and exposure = crimes, per force × offence category:
    the ratio says whether a force gets that outcome more often than others would on its own mix.
    Reference rates r_k = Σ events / Σ exposure per category, over the other units when
    `exclude_self`. E = Σ_k exposure_k · r_k; limits are the exact Poisson limits of O divided by E
    (E treated as fixed, as is usual for standardised ratios; Breslow & Day 1987).
    A unit with exposure in a category no other unit has gets E = nan: there is nothing to compare.
    """
    events = np.asarray(events, dtype=float)
    exposure = np.asarray(exposure, dtype=float)
    ref_events, ref_exposure = events.sum(axis=0), exposure.sum(axis=0)
    if exclude_self:
        ref_events, ref_exposure = ref_events - events, ref_exposure - exposure
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.broadcast_to(ref_events / ref_exposure, exposure.shape)
        # A category the unit has no exposure in adds nothing, even if its reference rate is undefined.
        expected = np.where(exposure > 0, exposure * rates, 0.0).sum(axis=1)
        observed = events.sum(axis=1)
        lower, upper = poisson_interval(observed, confidence)
        return Standardised(observed, expected, observed / expected, lower / expected, upper / expected)


@dataclass
class BreakTest:
    """A Chow test at a known break (see `chow_test`)."""

    f_stat: float
    p_value: float
    level_shift: float
    slope_change: float


def _line_fit(t: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares intercept, slope and residual sum of squares of y = a + b t."""
    design = np.column_stack([np.ones_like(t), t])
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(a), float(b), float(np.sum((y - a - b * t) ** 2))


def chow_test(y: ArrayLike, break_index: int) -> BreakTest:
    """Chow (1960) F test that a line y = a + b t changes at `break_index` (the first new point).

    y must be equally spaced in time and finite. F = ((RSS_pooled − RSS_split)/2) /
    (RSS_split/(n − 4)) on (2, n − 4) degrees of freedom. level_shift is the jump between the two
    fitted lines at t = break_index, slope_change the difference in slopes (after − before).
    Needs at least 3 points on each side, else every field is nan.
    """
    y = np.asarray(y, dtype=float)
    t = np.arange(y.size, dtype=float)
    if break_index < 3 or y.size - break_index < 3:
        return BreakTest(np.nan, np.nan, np.nan, np.nan)
    _, _, rss_pooled = _line_fit(t, y)
    a1, b1, rss1 = _line_fit(t[:break_index], y[:break_index])
    a2, b2, rss2 = _line_fit(t[break_index:], y[break_index:])
    rss_split, dof = rss1 + rss2, y.size - 4
    with np.errstate(divide="ignore", invalid="ignore"):
        f_stat = float(((rss_pooled - rss_split) / 2) / (rss_split / dof))
    return BreakTest(
        f_stat=f_stat,
        p_value=float(stats.f.sf(f_stat, 2, dof)),
        level_shift=(a2 + b2 * break_index) - (a1 + b1 * break_index),
        slope_change=b2 - b1,
    )


@dataclass
class DetectedBreak:
    """A change in mean found by `binary_segmentation`; `index` is the first point after it."""

    index: int
    size: float
    f_stat: float
    p_value: float


def _best_split(y: np.ndarray, start: int, stop: int, min_size: int) -> DetectedBreak | None:
    """The mean-shift split of y[start:stop] with the largest drop in squared error, with its
    F test (1 extra parameter) and Bonferroni-adjusted p over the segment's candidate splits."""
    segment = y[start:stop]
    m = segment.size
    splits = np.arange(min_size, m - min_size + 1)  # left part is segment[:j]
    if splits.size == 0:
        return None
    csum = np.cumsum(segment)
    left_mean = csum[splits - 1] / splits
    right_mean = (csum[-1] - csum[splits - 1]) / (m - splits)
    # The drop in squared error from splitting is the between-groups sum of squares.
    reduction = splits * (m - splits) / m * (right_mean - left_mean) ** 2
    best = int(np.argmax(reduction))
    rss_split = np.sum((segment - segment.mean()) ** 2) - reduction[best]
    with np.errstate(divide="ignore", invalid="ignore"):
        f_stat = float(reduction[best] / (rss_split / (m - 2)))
    p_value = min(1.0, float(stats.f.sf(f_stat, 1, m - 2)) * splits.size)
    return DetectedBreak(start + int(splits[best]), float(right_mean[best] - left_mean[best]), f_stat, p_value)


def binary_segmentation(y: ArrayLike, min_size: int = 4, alpha: float = 0.01, max_breaks: int = 5) -> list[DetectedBreak]:
    """Changes in mean at unknown times, by binary segmentation (Scott & Knott 1974; Killick 2012).

    Each segment's best split (largest drop in squared error, both sides >= `min_size` points) is
    accepted when its Bonferroni-adjusted F-test p-value is below `alpha`; both halves are then
    searched again. The most significant pending split is taken first, so `max_breaks` keeps the
    strongest breaks. Returns breaks sorted by index; `size` = mean after − mean before, between
    the neighbouring breaks; `p_value` is Bonferroni-adjusted. y must be finite.
    """
    y = np.asarray(y, dtype=float)
    breaks: list[DetectedBreak] = []
    pending = {(0, y.size): _best_split(y, 0, y.size, min_size)}
    while len(breaks) < max_breaks:
        significant = {seg: b for seg, b in pending.items() if b is not None and b.p_value < alpha}
        if not significant:
            break
        (start, stop), found = min(significant.items(), key=lambda item: item[1].p_value)
        breaks.append(found)
        del pending[(start, stop)]
        for seg in ((start, found.index), (found.index, stop)):
            pending[seg] = _best_split(y, *seg, min_size)
    breaks.sort(key=lambda b: b.index)
    # Re-measure each jump between its neighbouring breaks: the segment it was found in may have
    # mixed in later regimes (0 → 4 → 0 split first at the second step would read −2, not −4).
    edges = [0, *(b.index for b in breaks), y.size]
    for i, found in enumerate(breaks):
        found.size = float(y[found.index : edges[i + 2]].mean() - y[edges[i] : found.index].mean())
    return breaks
