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
from scipy import optimize, stats
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
    p_chance: float  # against multinomial draws alone (no between-unit spread)
    precision: float  # the Dirichlet-multinomial α₀ of the null (inf: multinomial)


def _trimmed_mean_of_scaled_chi2(dof: int, trim: float) -> float:
    """E of the `trim`-trimmed mean of χ²_dof / dof (each tail cut at its `trim` quantile).

    Uses x·f_ν(x) = ν·f_{ν+2}(x): the trimmed mean is (F_{ν+2}(b) − F_{ν+2}(a)) / (1 − 2·trim) with
    a, b the trim and 1 − trim quantiles of χ²_ν. Below 1 because χ² is skewed to the right.
    """
    low, high = stats.chi2.ppf([trim, 1 - trim], dof)
    return float((stats.chi2.cdf(high, dof + 2) - stats.chi2.cdf(low, dof + 2)) / (1 - 2 * trim))


def mix_precision(table: ArrayLike, trim: float = 0.1) -> float:
    """Dirichlet-multinomial precision α₀ of the spread between units' category mixes (units × categories counts).

    Model (Mosimann 1962): unit j's mix is Dirichlet(α₀·q) and its n_j counts multinomial given the
    mix, so the shares p̂_j have covariance c_j·(diag q − qqᵀ) with c_j = 1/n_j + ρ(1 − 1/n_j) and
    ρ = 1/(1 + α₀) (the intra-class correlation). Hence E[S_j] = (K − 1)·c_j for
    S_j = Σ_k (p̂_jk − q_k)²/q_k: the moment relation behind Weir & Hill's (2002, Annu Rev Genet
    36:721) θ estimator. Two refinements, both exact under the normal approximation:

    - q is the pooled mix q̄ = Σ_i w_i p̂_i (w_i = n_i/N), which includes unit j, so
      E[S_j] = (K − 1)·d_j(ρ) with d_j = c_j(1 − 2w_j) + Σ_i w_i² c_i (the 1 − 2/J + 1/J leave-in shrinkage);
    - robustness: ρ solves trim_mean_j(S_j / ((K − 1) d_j(ρ))) = trimmed mean of χ²_{K−1}/(K − 1)
      (`scipy.stats.trim_mean`, `trim` cut from each end), so one extreme unit cannot set the spread it is
      judged by, and the trimmed mean is not biased low by the right skew of S_j (a plain trimmed mean
      of the unit-wise moment estimates under-states ρ by 5–12% for K = 12 to 4).

    Units with fewer than 2 counts and categories absent everywhere are dropped. ρ is clipped to
    [0, 1]; returns α₀ = 1/ρ − 1 (inf when ρ = 0: no spread beyond the multinomial; inf also when
    fewer than 2 units or categories are left).
    """
    counts = np.asarray(table, dtype=float)
    counts = counts[counts.sum(axis=1) > 1]
    if counts.shape[0] < 2:
        return np.inf
    q = counts.sum(axis=0) / counts.sum()
    counts, q = counts[:, q > 0], q[q > 0]
    k = q.size
    if k < 2:
        return np.inf
    n = counts.sum(axis=1)
    w = n / n.sum()
    spread = (((counts / n[:, None]) - q) ** 2 / q).sum(axis=1) / (k - 1)
    # scipy trims int(trim·J) units from each end: match the target to the fraction actually cut.
    cut = int(trim * n.size) / n.size
    target = _trimmed_mean_of_scaled_chi2(k - 1, cut) if cut > 0 else 1.0

    def excess(rho: float) -> float:
        c = 1 / n + rho * (1 - 1 / n)
        d = c * (1 - 2 * w) + np.sum(w**2 * c)
        return float(stats.trim_mean(spread / d, cut)) - target

    # excess falls as ρ grows (each d_j rises, since (1 − 2w_j) + w_j² >= 0).
    if excess(0.0) <= 0:
        return np.inf
    if excess(1.0) >= 0:
        return 0.0
    rho = optimize.brentq(excess, 0.0, 1.0, xtol=1e-12)
    return 1 / rho - 1


def _js_distances(counts: np.ndarray, draws: np.ndarray, q: np.ndarray) -> tuple[float, np.ndarray]:
    # Observed and null distances come from one call so that ties compare like with like.
    distances = jensenshannon(np.vstack([counts, draws]), q[None, :], axis=1, base=2)
    return float(distances[0]), distances[1:]


def dirichlet_multinomial(
    total: int, mix: ArrayLike, precision: float, size: int, rng: np.random.Generator
) -> np.ndarray:
    """`size` × K counts: each row draws p ~ Dirichlet(precision·mix), then Multinomial(total, p).

    Per category the mean is total·q_k and the variance q_k(1 − q_k)·total·(total + α₀)/(1 + α₀)
    (Mosimann 1962), q = mix / Σ mix. Categories with q_k = 0 are never drawn (the Dirichlet needs
    positive parameters); precision = inf gives plain multinomial draws.
    """
    q = np.asarray(mix, dtype=float)
    q = q / q.sum()
    if not np.isfinite(precision):
        return rng.multinomial(total, q, size=size)
    if precision < 0:
        raise ValueError(f"precision must be >= 0, not {precision}")
    if precision == 0:  # the limit α₀ → 0: all of a unit's counts fall in one category, k with chance q_k
        return total * np.eye(q.size, dtype=np.int64)[rng.choice(q.size, size=size, p=q)]
    present = q > 0
    mixes = np.zeros((size, q.size))
    mixes[:, present] = rng.dirichlet(precision * q[present], size=size)
    return rng.multinomial(total, mixes / mixes.sum(axis=1, keepdims=True))


def mix_divergence(
    counts: ArrayLike,
    reference_counts: ArrayLike,
    draws: int = 2000,
    seed: int = 0,
    other_units: ArrayLike | None = None,
    precision: float | None = None,
) -> MixDivergence:
    """Jensen–Shannon distance (base 2, in [0, 1]) between a unit's mix and a reference mix.

    Pass a reference that excludes the unit itself (national minus the force), or the distance
    is shrunk towards 0 for large forces. `contributions[k]` = ½p·log₂(p/m) + ½q·log₂(q/m) with
    m = (p + q)/2: each is >= 0 (it is (p+q)/2 × (1 − binary entropy of p/(p+q))) and they sum to
    distance². Calibration (Monte Carlo, +1 corrected as in Davison & Hinkley 1997): `p_chance`
    from `draws` multinomial samples of the unit's own n from the reference mix (chance alone). With
    `other_units` (the other units' counts, units × categories), `p_value`, `null_median` and
    `null_q95` come from a Dirichlet-multinomial null with the precision those units show
    (`mix_precision`): a mix drawn with the ordinary spread between units, then n counts from it,
    so that an ordinary unit gets an ordinary p-value. `precision` gives that α₀ directly instead
    (it wins over `other_units`). Without either, or with α₀ = inf, they are the multinomial ones and
    the draws are exactly those of the multinomial-only version (same seed, same p-value).
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
    total = int(round(counts.sum()))
    observed, chance = _js_distances(counts, rng.multinomial(total, q, size=draws), q)
    p_chance = float((1 + np.sum(chance >= observed)) / (draws + 1))
    if precision is None:
        precision = np.inf if other_units is None else mix_precision(other_units)
    null = chance
    if np.isfinite(precision):
        observed, null = _js_distances(counts, dirichlet_multinomial(total, q, precision, draws, rng), q)
    return MixDivergence(
        distance=observed,
        contributions=contributions,
        p_value=float((1 + np.sum(null >= observed)) / (draws + 1)),
        null_median=float(np.median(null)),
        null_q95=float(np.quantile(null, 0.95)),
        p_chance=p_chance,
        precision=float(precision),
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
    lower: np.ndarray  # allowing for between-unit spread (τ²)
    upper: np.ndarray
    z: np.ndarray  # log ratio ÷ √(1/O + τ²)
    tau2: float
    lower_poisson: np.ndarray  # exact Poisson, chance alone
    upper_poisson: np.ndarray


def indirect_standardisation(
    events: ArrayLike,
    exposure: ArrayLike,
    exclude_self: bool = True,
    confidence: float = 0.95,
    reference: ArrayLike | None = None,
    fit_units: ArrayLike | None = None,
) -> Standardised:
    """Indirectly standardised ratio O/E per unit, given units × categories arrays.

    For example events = outcomes of one kind and exposure = crimes, per force × offence category:
    the ratio says whether a force gets that outcome more often than others would on its own mix.
    Reference rates r_k = Σ events / Σ exposure per category over the unit's reference units:
    `reference[i, j]` says unit j is in unit i's reference (a peer group; the diagonal is ignored, so
    never i itself, and `exclude_self` is then moot), or by default every other unit (`exclude_self`)
    or all. E = Σ_k exposure_k · r_k (E treated as fixed, as is usual for standardised ratios;
    Breslow & Day 1987). A unit with an empty reference gets E = nan.

    Limits: exact Poisson limits of O over E (`lower_poisson`, `upper_poisson`: chance alone), and
    limits allowing for between-unit spread as a funnel does: on the log scale y = log((O + ½)/E)
    with within-unit variance v = 1/(O + ½) (both finite at O = 0), a DerSimonian–Laird τ² across the
    `fit_units` (default all with E > 0; DerSimonian & Laird 1986: τ² = max(0, (Q − (k − 1)) /
    (Σw − Σw²/Σw)), w = 1/v, Q = Σw(y − ȳ_w)², the additive model of `funnel`), limits
    exp(y ± z·√(v + τ²)) and z = y/√(v + τ²) (normal under the model when the unit is ordinary).
    The limits exclude 1 exactly when |z| exceeds the `confidence` quantile: the funnel test around
    1 with E fixed. With τ² = 0 they are the log-normal approximation to the Poisson limits.
    A unit with exposure in a category no reference unit has gets E = nan: there is nothing to compare.
    """
    events = np.asarray(events, dtype=float)
    exposure = np.asarray(exposure, dtype=float)
    units = events.shape[0]
    if reference is None:
        mask = (~np.eye(units, dtype=bool) if exclude_self else np.ones((units, units), dtype=bool)).astype(float)
    else:
        mask = (np.asarray(reference, dtype=bool) & ~np.eye(units, dtype=bool)).astype(float)
    ref_events, ref_exposure = mask @ events, mask @ exposure
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = ref_events / ref_exposure
        # A category the unit has no exposure in adds nothing, even if its reference rate is undefined.
        expected = np.where(exposure > 0, exposure * rates, 0.0).sum(axis=1)
        expected = np.where(mask.sum(axis=1) > 0, expected, np.nan)
        observed = events.sum(axis=1)
        lower_p, upper_p = poisson_interval(observed, confidence)
        # log((O + ½)/E): finite at O = 0 and within 1/(2O) of log(O/E) otherwise.
        y = np.log((observed + 0.5) / expected)
        v = 1 / (observed + 0.5)
        fit = np.isfinite(y) & (expected > 0)
        if fit_units is not None:
            fit &= np.asarray(fit_units, dtype=bool)
        tau2 = 0.0
        if fit.sum() >= 2:
            w = 1 / v[fit]
            mean = np.sum(w * y[fit]) / w.sum()
            q_stat = np.sum(w * (y[fit] - mean) ** 2)
            tau2 = max(0.0, (q_stat - (fit.sum() - 1)) / (w.sum() - (w**2).sum() / w.sum()))
        half = _two_sided_z(confidence) * np.sqrt(v + tau2)
        ratio = observed / expected
        return Standardised(
            observed,
            expected,
            ratio,
            np.exp(y - half),
            np.exp(y + half),
            y / np.sqrt(v + tau2),
            float(tau2),
            lower_p / expected,
            upper_p / expected,
        )


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


def chow_test(y: ArrayLike, break_index: int, t: ArrayLike | None = None, common_slope: bool = False) -> BreakTest:
    """Chow (1960) F test that a line y = a + b t changes at `break_index` (the first new point).

    y must be finite. Without `t` the points are equally spaced (t = 0, 1, 2, ...); with `t` (one
    increasing time per point) they may leave a gap, for example a transition period left out of
    both sides. F = ((RSS_pooled − RSS_split)/2) / (RSS_split/(n − 4)) on (2, n − 4) degrees of
    freedom. level_shift is the jump between the two fitted lines at t[break_index] (= break_index
    without `t`), slope_change the difference in slopes (after − before).
    With `common_slope` only the level may change: y = a + b t + c·[after], F on (1, n − 3) degrees
    of freedom against the one line, level_shift = c and slope_change = 0. A bend in a trend then
    does not count as a break, as it does when both the level and the slope may change.
    Needs at least 3 points on each side, else every field is nan. A series with no variation at all
    (a constant: nothing to test) gives nan in every field; lines that fit both sides exactly
    (RSS_split = 0) leave F undefined, so f_stat and p_value are nan there. Never raises on them.
    """
    y = np.asarray(y, dtype=float)
    t = np.arange(y.size, dtype=float) if t is None else np.asarray(t, dtype=float)
    if t.shape != y.shape:
        raise ValueError(f"chow_test: t has {t.size} points, y has {y.size}")
    nothing = BreakTest(np.nan, np.nan, np.nan, np.nan)
    if break_index < 3 or y.size - break_index < 3:
        return nothing
    variation = np.float64(np.sum((y - y.mean()) ** 2))
    if not np.ptp(y) > 0 or not variation > 1e-24 * np.sum(y**2):
        return nothing
    _, _, rss_pooled = _line_fit(t, y)
    if common_slope:
        design = np.column_stack([np.ones_like(t), t, (np.arange(y.size) >= break_index).astype(float)])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        rss_split, dof, restrictions = np.float64(np.sum((y - design @ coef) ** 2)), y.size - 3, 1
        shift, slope = float(coef[2]), 0.0
    else:
        a1, b1, rss1 = _line_fit(t[:break_index], y[:break_index])
        a2, b2, rss2 = _line_fit(t[break_index:], y[break_index:])
        rss_split, dof, restrictions = np.float64(rss1 + rss2), y.size - 4, 2
        at = t[break_index]
        shift, slope = float((a2 + b2 * at) - (a1 + b1 * at)), float(b2 - b1)
    # Rounding leaves a residual of ~1e-30 where the fit is exact: that is zero, and F is undefined.
    if rss_split <= 1e-20 * variation:
        return BreakTest(np.nan, np.nan, shift, slope)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        f_stat = np.float64((rss_pooled - rss_split) / restrictions) / (rss_split / dof)
    return BreakTest(
        f_stat=float(f_stat),
        p_value=float(stats.f.sf(f_stat, restrictions, dof)),
        level_shift=shift,
        slope_change=slope,
    )


def seasonal_shift_test(
    y: ArrayLike, t: ArrayLike, start: int, season: int = 12, span: int = 8, gap: int = 0
) -> BreakTest:
    """A level shift at time `start` in a seasonal series, read from year-on-year changes.

    t holds integer times in periods (months, or quarters with season = 4); y the values, finite.
    The first `span` points at or after `start` are "after"; the `gap` periods just before `start`
    (a transition period the event falls inside) belong to neither side. Each after point is
    differenced with the point one season earlier, which must lie before the gap: d = y[t] − y[t −
    season]. The normal year-on-year change is measured the same way on the `span` points just before
    the gap (both ends before it): c. level_shift = mean(d) − mean(c), a difference in differences:
    the seasonal pattern cancels in each difference and a steady trend cancels between them, which a
    line either side of a few months (`chow_test`) cannot do when the months are seasonal.
    The test is the pooled two-sample t test of d against c (Student), reported as F = t² on
    (1, n_d + n_c − 2) degrees of freedom, with its two-sided p. It treats the differences as
    independent; consecutive months are not quite, so read p as a screen and level_shift as the
    finding. Needs at least 3 after differences and 2 before (`seasonal_pairs` lists them), else
    every field is nan, as it is for a constant series; differences that do not vary at all leave t
    undefined (f_stat and p_value nan). slope_change is always nan. Never raises on them.
    """
    y = np.asarray(y, dtype=float)
    t = np.asarray(t, dtype=np.int64)
    nothing = BreakTest(np.nan, np.nan, np.nan, np.nan)
    value = dict(zip(t.tolist(), y.tolist()))
    after, before = seasonal_pairs(t, start, season, span, gap)
    if len(after) < 3 or len(before) < 2 or not np.ptp(y) > 0:
        return nothing
    d = np.array([value[s] - value[s - season] for s in after])
    c = np.array([value[s] - value[s - season] for s in before])
    dof = d.size + c.size - 2
    pooled = np.float64(np.sum((d - d.mean()) ** 2) + np.sum((c - c.mean()) ** 2)) / dof
    shift = float(d.mean() - c.mean())
    if not pooled > 1e-24 * np.float64(np.sum(d**2) + np.sum(c**2)):
        return BreakTest(np.nan, np.nan, shift, np.nan)  # differences that do not vary: t undefined
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t_stat = shift / np.sqrt(pooled * (1 / d.size + 1 / c.size))
    return BreakTest(
        f_stat=float(t_stat**2), p_value=float(2 * stats.t.sf(abs(t_stat), dof)), level_shift=shift, slope_change=np.nan
    )


def seasonal_pairs(
    t: ArrayLike, start: int, season: int = 12, span: int = 8, gap: int = 0
) -> tuple[list[int], list[int]]:
    """The times `seasonal_shift_test` differences with the point one season earlier: (after,
    before). After: times in [start, start + span) whose point a season earlier lies before the gap;
    before: times in [start − gap − span, start − gap) whose point a season earlier is present."""
    present = set(np.asarray(t, dtype=np.int64).tolist())
    cut = start - gap  # the first time that is not "before"
    after = [s for s in range(start, start + span) if s in present and s - season in present and s - season < cut]
    before = [s for s in range(cut - span, cut) if s in present and s - season in present]
    return after, before


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


def binary_segmentation(
    y: ArrayLike, min_size: int = 4, alpha: float = 0.01, max_breaks: int = 5
) -> list[DetectedBreak]:
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
