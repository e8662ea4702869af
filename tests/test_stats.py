"""pipelines.analysis.stats: each statistic against numbers worked out independently, plus invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from pipelines.analysis.stats import (
    _trimmed_mean_of_scaled_chi2,
    binary_segmentation,
    chow_test,
    funnel,
    homogeneity,
    indirect_standardisation,
    mix_divergence,
    mix_precision,
    poisson_interval,
    q_values,
    two_sided_p,
    wilson_interval,
)
from pipelines.analysis.stats import dirichlet_multinomial as dirichlet_multinomial_draws

Z95 = 1.959963984540054  # standard normal 97.5th percentile


# --- Wilson -----------------------------------------------------------------------------------


def test_wilson_matches_scipy_binomtest() -> None:
    xs, ns = [0, 1, 3, 17, 50, 99, 100], [10, 10, 10, 40, 100, 100, 100]
    lower, upper = wilson_interval(xs, ns)
    for x, n, lo, hi in zip(xs, ns, lower, upper):
        ci = stats.binomtest(x, n).proportion_ci(method="wilson")
        assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_wilson_by_hand_and_empty() -> None:
    # x = 3, n = 10, z = 1.96: the quadratic-root form (2x + z² ± z√(z² + 4x(n − x)/n)) / (2(n + z²))
    # = (6 + 3.8415 ± 1.96·√(3.8415 + 8.4)) / 27.683 = (9.8415 ± 6.8578) / 27.683 = (0.1078, 0.6032).
    lower, upper = wilson_interval(3, 10)
    assert (float(lower), float(upper)) == pytest.approx((0.10779, 0.60322), abs=1e-5)
    lower, upper = wilson_interval([0], [0])
    assert np.isnan(lower[0]) and np.isnan(upper[0])


@given(
    st.integers(1, 10**6).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.sampled_from([0.8, 0.95, 0.998]),
)
def test_wilson_bounds_contain_the_share_and_lie_in_unit_interval(xn: tuple[int, int], confidence: float) -> None:
    x, n = xn
    lower, upper = wilson_interval(x, n, confidence)
    assert 0 <= lower <= x / n <= upper <= 1


# --- Funnel -----------------------------------------------------------------------------------


def test_funnel_target_leaves_each_unit_out() -> None:
    # Totals 60 / 400. Unit 0: (60 − 10)/(400 − 100) = 50/300; unit 1: 40/300; unit 2: 30/200.
    result = funnel([10, 20, 30], [100, 100, 200])
    assert result.target == pytest.approx([1 / 6, 2 / 15, 0.15])
    # Pooled: 60/400 for everyone.
    assert funnel([10, 20, 30], [100, 100, 200], exclude_self=False).target == pytest.approx([0.15] * 3)
    # z for unit 0: (asin √0.1 − asin √(1/6)) · 2√100
    assert result.z[0] == pytest.approx((math.asin(math.sqrt(0.1)) - math.asin(math.sqrt(1 / 6))) * 20)


def test_funnel_phi_and_tau2_by_hand() -> None:
    x, n = [5, 30, 12, 40, 25], [100, 200, 100, 200, 100]
    result = funnel(x, n, exclude_self=False)
    # Pooled share 112/700 = 0.16; z_i = (asin √p_i − asin √0.16) · 2√n_i.
    target = math.asin(math.sqrt(0.16))
    z = [(math.asin(math.sqrt(xi / ni)) - target) * 2 * math.sqrt(ni) for xi, ni in zip(x, n)]
    assert result.z == pytest.approx(z)
    # Winsorise: sort the 5 z's; the 10th percentile sits 0.1·(5 − 1) = 0.4 of the way from the
    # 1st to the 2nd, the 90th 0.6 of the way from the 4th to the 5th; clip z to those two.
    zs = sorted(z)
    p10 = zs[0] + 0.4 * (zs[1] - zs[0])
    p90 = zs[3] + 0.6 * (zs[4] - zs[3])
    winsorised = [min(max(zi, p10), p90) for zi in z]
    phi = sum(zi**2 for zi in winsorised) / 5
    assert result.phi == pytest.approx(phi)
    # w = 1/s² = 4n = (400, 800, 400, 800, 400): Σw = 2800,
    # Σw² = 3·160,000 + 2·640,000 = 1,760,000, Σw²/Σw = 628.57.
    tau2 = (5 * phi - 4) / (2800 - 1_760_000 / 2800)
    assert phi > 1 and result.tau2 == pytest.approx(tau2)


def test_funnel_phi_kept_below_one_and_empty_units_ignored() -> None:
    # Identical shares: z = 0 everywhere, phi = 0, and tau2 floors at 0.
    result = funnel([10, 20, 30, 0], [100, 200, 300, 0], exclude_self=False)
    assert np.isnan(result.z[3])
    assert result.phi == pytest.approx(0.0) and result.tau2 == 0.0


def test_binomial_limit_by_hand() -> None:
    # p = 0.3, n = 100: asin √0.3 = 0.579640, s = 1/(2·10) = 0.05, z·s = 0.097998.
    # sin²(0.481641) = 0.214586 and sin²(0.677638) = 0.393072.
    lower, upper = funnel([30, 30], [100, 100]).limits(100, 0.3, 0.95, "binomial")
    assert (float(lower), float(upper)) == pytest.approx((0.214586, 0.393072), abs=1e-6)


def overdispersed() -> tuple[list[int], list[int]]:
    return [50, 300, 120, 400, 250, 80, 90], [1000, 2000, 1000, 2000, 1000, 500, 900]


def test_overdispersed_limits_nest() -> None:
    result = funnel(*overdispersed())
    assert result.phi > 1 and result.tau2 > 0
    # Additive half-width √(s² + τ²) beats √φ·s once φs² < s² + τ², i.e. n > (φ − 1)/(4τ²):
    # τ² keeps the limits from closing in on large units. Below that the order flips.
    crossover = (result.phi - 1) / (4 * result.tau2)
    n = np.array([1.01, 2, 10, 100]) * crossover
    widths = {
        model: np.subtract(*result.limits(n, 0.15, 0.998, model)[::-1])
        for model in ("binomial", "multiplicative", "additive")
    }
    assert np.all(widths["additive"] > widths["multiplicative"])
    assert np.all(widths["multiplicative"] > widths["binomial"])
    small = crossover / 2
    assert np.subtract(*result.limits(small, 0.15, 0.998, "additive")[::-1]) < np.subtract(
        *result.limits(small, 0.15, 0.998, "multiplicative")[::-1]
    )
    # Adjusted z shrink towards 0 in the same way.
    z = result.z
    assert np.all(np.abs(result.z_adjusted("multiplicative")) < np.abs(z))
    assert result.z_adjusted("multiplicative") == pytest.approx(z / math.sqrt(result.phi))
    s = 1 / (2 * np.sqrt(overdispersed()[1]))
    assert result.z_adjusted("additive") == pytest.approx(z * s / np.sqrt(s**2 + result.tau2))
    with pytest.raises(ValueError, match="model"):
        result.limits(n, 0.15, 0.95, "poisson")


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0.0, 1.0),
    st.integers(1, 10**5),
    st.integers(1, 10**5),
    st.sampled_from(["binomial", "multiplicative", "additive"]),
    st.sampled_from([0.95, 0.998]),
)
def test_funnel_limits_widen_as_n_falls_and_stay_in_unit_interval(
    target: float, n1: int, n2: int, model: str, level: float
) -> None:
    small, large = sorted((n1, n2))
    result = funnel(*overdispersed())
    lo_small, hi_small = result.limits(small, target, level, model)
    lo_large, hi_large = result.limits(large, target, level, model)
    assert 0 <= lo_small <= lo_large + 1e-12 and hi_large <= hi_small + 1e-12 <= 1 + 1e-12


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), min_size=2, max_size=10),
    st.data(),
)
def test_funnel_target_ignores_the_units_own_count(pairs: list[tuple[int, int]], data: st.DataObject) -> None:
    x = [min(a, b) for a, b in pairs]
    n = [max(a, b) for a, b in pairs]
    i = data.draw(st.integers(0, len(x) - 1))
    changed = list(x)
    changed[i] = data.draw(st.integers(0, n[i]))
    before, after = funnel(x, n).target[i], funnel(changed, n).target[i]
    assert (np.isnan(before) and np.isnan(after)) or before == pytest.approx(after)
    finite = funnel(x, n).target[np.isfinite(funnel(x, n).target)]
    assert np.all((finite >= 0) & (finite <= 1))


# --- p-values and q-values --------------------------------------------------------------------


def test_two_sided_p() -> None:
    assert two_sided_p([0.0, Z95, -Z95, np.nan]) == pytest.approx([1.0, 0.05, 0.05, np.nan], nan_ok=True)


def test_q_values_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.005, 0.20]
    # BH: sorted p·m/rank = 0.005·5/1, 0.01·5/2, 0.03·5/3, 0.04·5/4, 0.2·5/5 = .025, .025, .05, .05, .2,
    # already non-decreasing, so in input order:
    bh = [0.025, 0.05, 0.05, 0.025, 0.2]
    assert q_values(p) == pytest.approx(bh)
    # BY multiplies by Σ_{i ≤ 5} 1/i = 137/60 and caps at 1.
    assert q_values(p, "by") == pytest.approx([min(1.0, q * 137 / 60) for q in bh])
    # nan stays nan and does not count as a test.
    assert q_values([0.01, np.nan, 0.04]) == pytest.approx([0.02, np.nan, 0.04], nan_ok=True)


@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30),
    st.randoms(use_true_random=False),
    st.sampled_from(["bh", "by"]),
)
def test_q_values_at_least_p_and_order_free(p: list[float], rnd, method: str) -> None:
    p_arr = np.array(p)
    q = q_values(p_arr, method)
    assert np.all(q >= p_arr - 1e-15)
    order = np.arange(len(p))
    rnd.shuffle(order)
    unpermuted = np.empty_like(q)
    unpermuted[order] = q_values(p_arr[order], method)
    assert unpermuted == pytest.approx(q)


# --- Mix divergence ---------------------------------------------------------------------------


def test_jensen_shannon_by_hand() -> None:
    # p = (½, ½), q = (1, 0), m = (¾, ¼).
    # Category 0: ½·½·log₂(½/¾) + ½·1·log₂(1/¾) = −0.146241 + 0.207519 = 0.061278.
    # Category 1: ½·½·log₂(½/¼) + 0 = 0.25.  JS = 0.311278, distance = √0.311278 = 0.557923.
    result = mix_divergence([5, 5], [10, 0])
    assert result.contributions == pytest.approx([0.061278, 0.25], abs=1e-6)
    assert result.distance == pytest.approx(0.557923, abs=1e-6)
    assert result.contributions.sum() == pytest.approx(result.distance**2)
    assert mix_divergence([3, 3, 0], [5, 5, 0]).distance == pytest.approx(0.0)
    assert mix_divergence([4, 0], [0, 7]).distance == pytest.approx(1.0)


def test_contributions_non_negative_and_sum_to_divergence() -> None:
    result = mix_divergence([30, 0, 12, 7, 1], [10, 40, 3, 0, 9], draws=50)
    assert np.all(result.contributions >= 0)
    assert result.contributions.sum() == pytest.approx(result.distance**2)


def test_mix_divergence_calibration() -> None:
    reference = np.array([5000, 3000, 1500, 500])
    # A force exactly on the reference mix: distance 0, every draw is at least as far.
    assert mix_divergence([500, 300, 150, 50], reference).p_value == 1.0
    # A force drawn from the reference mix looks ordinary.
    drawn = np.random.default_rng(7).multinomial(400, reference / reference.sum())
    typical = mix_divergence(drawn, reference)
    assert typical.p_value > 0.05 and typical.distance < typical.null_q95
    # A force with the mix reversed is far outside the null.
    unusual = mix_divergence([50, 150, 300, 500], reference)
    assert unusual.p_value < 0.01 and unusual.distance > unusual.null_q95 > unusual.null_median


# --- Homogeneity ------------------------------------------------------------------------------


def test_homogeneity_2x2_by_hand() -> None:
    table = [[20, 30], [40, 10]]
    result = homogeneity(table)
    # N = 100, rows (50, 50), columns (60, 40); χ² = N(ad − bc)²/(R1 R2 C1 C2)
    # = 100·(200 − 1200)²/(50·50·60·40) = 1e8/6e6 = 16.667 on 1 dof.
    assert result.chi2 == pytest.approx(100 / 6) and result.dof == 1
    # Cell (0, 0): E = 50·60/100 = 30, (20 − 30)/√(30·(1 − 0.5)(1 − 0.6)) = −10/√6 = −4.0825,
    # which is −√χ² as it must be for a 2×2 table.
    assert result.adjusted_residuals[0, 0] == pytest.approx(-10 / math.sqrt(6))
    assert result.adjusted_residuals[0, 0] == pytest.approx(-math.sqrt(result.chi2))
    # Cramér's V = √(χ²/(N·(2 − 1))) = √0.16667 = 0.40825.
    assert result.cramers_v == pytest.approx(math.sqrt(1 / 6))
    assert result.p_value == pytest.approx(stats.chi2.sf(100 / 6, 1))


def test_homogeneity_matches_scipy_and_drops_empty_rows_and_columns() -> None:
    table = np.array([[20, 0, 30, 5], [0, 0, 0, 0], [40, 0, 10, 15], [12, 0, 9, 30]])
    result = homogeneity(table)
    kept = table[[0, 2, 3]][:, [0, 2, 3]]
    reference = stats.chi2_contingency(kept, correction=False)
    assert result.chi2 == pytest.approx(reference.statistic) and result.dof == reference.dof == 4
    assert result.cramers_v == pytest.approx(stats.contingency.association(kept, method="cramer"))
    assert result.adjusted_residuals.shape == table.shape
    assert np.isnan(result.adjusted_residuals[1]).all() and np.isnan(result.adjusted_residuals[:, 1]).all()
    assert np.isfinite(result.adjusted_residuals[np.ix_([0, 2, 3], [0, 2, 3])]).all()


# --- Poisson and indirect standardisation -----------------------------------------------------


def test_poisson_exact_limits_known_values() -> None:
    lower, upper = poisson_interval([0, 10])
    assert lower == pytest.approx([0.0, 4.795], abs=1e-3)
    assert upper == pytest.approx([3.689, 18.390], abs=1e-3)  # 3.689 = −ln 0.025


def test_indirect_standardisation_by_hand() -> None:
    events = [[10, 5], [20, 10], [30, 30]]
    exposure = [[100, 50], [200, 50], [300, 100]]
    result = indirect_standardisation(events, exposure)
    # Unit 0: others' rates 50/500 = 0.1 and 40/150; E = 100·0.1 + 50·40/150 = 23.333, O = 15.
    # Unit 1: 40/400 = 0.1 and 35/150;          E = 20 + 50·35/150 = 31.667,          O = 30.
    # Unit 2: 30/300 = 0.1 and 15/100 = 0.15;   E = 30 + 15 = 45,                      O = 60.
    expected = [10 + 50 * 40 / 150, 20 + 50 * 35 / 150, 45]
    assert result.observed == pytest.approx([15, 30, 60])
    assert result.expected == pytest.approx(expected)
    assert result.ratio == pytest.approx([15 / expected[0], 30 / expected[1], 60 / 45])
    # Unit 2's chance-alone limits: Garwood limits of 60 over E = 45.
    assert result.lower_poisson[2] == pytest.approx(stats.chi2.ppf(0.025, 120) / 2 / 45)
    assert result.upper_poisson[2] == pytest.approx(stats.chi2.ppf(0.975, 122) / 2 / 45)
    # Without leaving out: rates 60/600 and 45/200, and expected counts add up to observed (105).
    pooled = indirect_standardisation(events, exposure, exclude_self=False)
    assert pooled.expected == pytest.approx([10 + 11.25, 20 + 11.25, 30 + 22.5])
    assert pooled.expected.sum() == pytest.approx(105)


# --- Breaks -----------------------------------------------------------------------------------


def step_series(seed: int, n: int = 24, at: int = 12, step: float = 10.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, n) + step * (np.arange(n) >= at)


def test_chow_detects_a_known_step() -> None:
    result = chow_test(step_series(seed=1), 12)
    assert result.p_value < 1e-6
    assert result.level_shift == pytest.approx(10, abs=2)


def test_chow_quiet_without_a_break() -> None:
    assert chow_test(step_series(seed=4, step=0.0), 12).p_value > 0.05


def test_chow_matches_a_dummy_variable_regression() -> None:
    # Second method: one regression with y = a + b t + c D + d D(t − 12), D = [t >= 12].
    # c is the jump at the break, d the change in slope, and F compares with y = a + b t.
    y = step_series(seed=2) + 0.3 * np.arange(24)
    t = np.arange(24.0)
    d = (t >= 12).astype(float)
    full = np.column_stack([np.ones(24), t, d, d * (t - 12)])
    coef, rss_full, *_ = np.linalg.lstsq(full, y, rcond=None)
    _, rss_line, *_ = np.linalg.lstsq(full[:, :2], y, rcond=None)
    f_stat = ((rss_line[0] - rss_full[0]) / 2) / (rss_full[0] / (24 - 4))
    result = chow_test(y, 12)
    assert result.f_stat == pytest.approx(f_stat)
    assert result.level_shift == pytest.approx(coef[2])
    assert result.slope_change == pytest.approx(coef[3])
    assert math.isnan(chow_test(y, 2).f_stat) and math.isnan(chow_test(y, 22).p_value)


def test_binary_segmentation_finds_the_break() -> None:
    found = binary_segmentation(step_series(seed=3, n=60, at=25, step=3.0))
    assert len(found) == 1
    assert abs(found[0].index - 25) <= 1 and found[0].size == pytest.approx(3, abs=1)
    assert found[0].p_value < 0.01


def test_binary_segmentation_finds_two_breaks_and_respects_max() -> None:
    y = step_series(seed=5, n=90, at=30, step=4.0) - 4.0 * (np.arange(90) >= 60)
    found = binary_segmentation(y)
    assert [b.index for b in found] == pytest.approx([30, 60], abs=1)
    assert [round(b.size) for b in found] == [4, -4]
    assert len(binary_segmentation(y, max_breaks=1)) == 1


def test_binary_segmentation_quiet_on_noise() -> None:
    assert binary_segmentation(np.random.default_rng(6).normal(0, 1, 100)) == []


def test_standardisation_honours_a_peer_mask() -> None:
    events = [[10, 5], [20, 10], [30, 30]]
    exposure = [[100, 50], [200, 50], [300, 100]]
    # Unit 0 against unit 2 only; unit 1 against unit 0 only; unit 2 against units 0 and 1.
    reference = [[False, False, True], [True, False, False], [True, True, False]]
    result = indirect_standardisation(events, exposure, reference=reference)
    # Unit 0: rates 30/300 and 30/100: E = 10 + 15 = 25.  Unit 1: 10/100, 5/50: E = 20 + 5 = 25.
    # Unit 2: 30/300, 15/100: E = 30 + 15 = 45.
    assert result.expected == pytest.approx([25, 25, 45])


def test_standardisation_limits_allow_for_between_unit_spread() -> None:
    rng = np.random.default_rng(11)
    units, exposure = 60, np.full((60, 1), 10_000.0)
    # Homogeneous Poisson units: τ² is about 0 and the limits are the log-normal ones.
    calm = [indirect_standardisation(rng.poisson(1000, (units, 1)), exposure).tau2 for _ in range(20)]
    assert np.median(calm) < 5e-5 and max(calm) < 1e-3  # within-unit variance is 1/1000
    # Between-unit spread on the log scale with σ² = 0.04: DerSimonian–Laird recovers it.
    log_truth = rng.normal(0, 0.2, 400)
    spread = indirect_standardisation(rng.poisson(1000 * np.exp(log_truth))[:, None], np.full((400, 1), 10_000.0))
    # Against the spread actually drawn (σ² = 0.04 in law): within 15%.
    assert spread.tau2 == pytest.approx(np.var(log_truth, ddof=1), rel=0.15)
    # A unit 25% above the rest: far outside chance (Poisson) limits, ordinary under the spread.
    i = int(np.argmin(np.abs(spread.ratio - 1.25)))
    assert spread.lower_poisson[i] > 1
    assert spread.lower[i] < 1 < spread.upper[i] and abs(spread.z[i]) < 1.96
    # By hand: y = log((O + ½)/E), v = 1/(O + ½), limits exp(y ± 1.96·√(v + τ²)).
    o, e = spread.observed[i], spread.expected[i]
    half = 1.959964 * math.sqrt(1 / (o + 0.5) + spread.tau2)
    assert spread.upper[i] == pytest.approx(math.exp(math.log((o + 0.5) / e) + half), rel=1e-6)


def dirichlet_multinomial(rng, n: np.ndarray, q: np.ndarray, alpha0: float) -> np.ndarray:
    return np.array([rng.multinomial(int(k), rng.dirichlet(alpha0 * q)) for k in n])


def test_mix_precision_recovers_the_spread_between_units() -> None:
    rng = np.random.default_rng(3)
    q = np.array([0.5, 0.3, 0.15, 0.05])
    n = rng.integers(5_000, 50_000, 200)
    table = dirichlet_multinomial(rng, n, q, alpha0=200.0)
    # ρ = 1/(1 + α₀) is what the moments measure; 200 units pin it to within about 15%.
    assert 1 / (1 + mix_precision(table)) == pytest.approx(1 / 201, rel=0.2)
    # Pure multinomial units: no spread beyond chance, α₀ huge or infinite.
    plain = np.array([rng.multinomial(int(k), q) for k in n])
    assert mix_precision(plain) > 20_000


def test_dirichlet_multinomial_draws_have_the_closed_form_variance() -> None:
    rng = np.random.default_rng(5)
    q, n, alpha0 = np.array([0.6, 0.3, 0.1]), 1_000, 50.0
    draws = dirichlet_multinomial(rng, np.full(20_000, n), q, alpha0)
    closed_form = q * (1 - q) * n * (n + alpha0) / (1 + alpha0)
    assert draws.var(axis=0) == pytest.approx(closed_form, rel=0.05)


def test_mix_calibration_against_between_unit_spread_can_say_no() -> None:
    rng = np.random.default_rng(8)
    q = np.array([0.4, 0.25, 0.2, 0.1, 0.05])
    table = dirichlet_multinomial(rng, rng.integers(20_000, 60_000, 40), q, alpha0=300.0)
    calibrated, chance = [], []
    for i in range(len(table)):
        others = np.delete(table, i, axis=0)
        result = mix_divergence(table[i], others.sum(axis=0), draws=400, seed=i, other_units=others)
        calibrated.append(result.p_value)
        chance.append(result.p_chance)
    calibrated = np.array(calibrated)
    # Ordinary units get ordinary p-values under the spread they share; chance alone puts them at the floor.
    assert np.mean(calibrated < 0.05) <= 0.15 and 0.3 <= np.median(calibrated) <= 0.7
    assert np.median(chance) < 0.01
    # A unit with a very different mix is still found.
    odd = np.array([8_000, 10_000, 8_000, 8_000, 6_000])
    result = mix_divergence(odd, table.sum(axis=0), draws=400, seed=1, other_units=table)
    assert result.p_value < 0.01


# --- Spread between units: the Dirichlet-multinomial precision and its sampler ----------------


def test_trimmed_chi2_target_matches_numerical_integration() -> None:
    # Independent of the χ²_{ν+2} identity used in the code: integrate x·f(x) between the quantiles.
    from scipy import integrate

    for dof, trim in [(1, 0.1), (3, 0.1), (11, 0.2)]:
        low, high = stats.chi2.ppf([trim, 1 - trim], dof)
        value = integrate.quad(lambda x, k: x * stats.chi2.pdf(x, k), low, high, args=(dof,))[0] / (1 - 2 * trim) / dof
        assert _trimmed_mean_of_scaled_chi2(dof, trim) == pytest.approx(value, rel=1e-8)


def test_mix_precision_by_hand() -> None:
    # Three units of n = 100, pooled q = (150, 90, 60)/300 = (.5, .3, .2); shares (.5, .3, .2),
    # (.4, .4, .2), (.6, .2, .2): S = 0, .01/.5 + .01/.3 = 1/30 + 1/50 = 0.053333, and 0.053333 again.
    # Mean S/(K − 1) = 0.106667/3/2 = 0.0177778. Equal n: w = 1/3, d = c(1 − 2/3) + 3·(1/9)c = (2/3)c,
    # so c = 0.0177778·3/2 = 1/37.5, ρ = (c − 1/100)/(1 − 1/100) = (1/60)/0.99 = 1/59.4, α₀ = 58.4.
    table = [[50, 30, 20], [40, 40, 20], [60, 20, 20]]
    assert mix_precision(table, trim=0.0) == pytest.approx(58.4)
    # With three units a 10% trim cuts int(0.3) = 0 units: the plain mean, the same answer.
    assert mix_precision(table) == pytest.approx(58.4)
    # One mix for all (up to the multinomial noise there is none here): no spread, α₀ = inf.
    assert mix_precision([[50, 30, 20], [50, 30, 20], [100, 60, 40]]) == np.inf
    # An empty category is dropped, a single unit tells nothing.
    assert mix_precision([[50, 30, 20, 0], [40, 40, 20, 0], [60, 20, 20, 0]]) == pytest.approx(58.4)
    assert mix_precision([[50, 30, 20]]) == np.inf


def test_mix_precision_is_unbiased_over_replicates() -> None:
    rng = np.random.default_rng(12)
    q = np.array([0.5, 0.3, 0.15, 0.05])
    rho = []
    for _ in range(25):
        n = rng.integers(5_000, 50_000, 200)
        table = rng.multinomial(n, rng.dirichlet(200.0 * q, size=200))
        rho.append(1 / (1 + mix_precision(table)))
    # One table of 200 units gives ρ to about ±6% (one sd, by simulation); the mean of 25 tables to
    # about ±1.2%, so ±4% is over 3 sd. A plain 10%-trimmed mean of the unit-wise moment estimates
    # comes out near 0.88·ρ for K = 4 (the right skew of χ²₃) and fails this.
    assert np.mean(rho) * 201 == pytest.approx(1.0, abs=0.04)
    # Pure multinomial tables: ρ̂ is 0 (α₀ = inf) about half the time and otherwise tiny (its sd is
    # about 1/(n√J) ≈ 1e-5 at n ≈ 25,000, J = 200), so α₀ stays far above any real spread.
    plain = []
    for _ in range(25):
        n = rng.integers(5_000, 50_000, 200)
        plain.append(mix_precision(rng.multinomial(n, np.tile(q, (200, 1)))))
    plain = np.array(plain)
    assert np.mean(np.isinf(plain)) >= 0.2 and plain.min() > 50_000


def test_mix_precision_resists_one_extreme_unit() -> None:
    rng = np.random.default_rng(8)
    q = np.array([0.4, 0.25, 0.2, 0.1, 0.05])
    table = rng.multinomial(rng.integers(20_000, 60_000, 40), rng.dirichlet(300 * q, size=40))
    odd = np.array([[8_000, 10_000, 8_000, 8_000, 6_000]])
    with_odd = np.vstack([table, odd])
    # Trimmed (4 units cut at each end of 41): the odd unit moves α₀ by a few per cent ...
    assert mix_precision(with_odd) == pytest.approx(mix_precision(table), rel=0.1)
    # ... untrimmed it alone makes the spread look far larger (α₀ down by about a third).
    assert mix_precision(with_odd, trim=0.0) < 0.75 * mix_precision(table, trim=0.0)


def test_dirichlet_multinomial_sampler_moments_and_limits() -> None:
    rng = np.random.default_rng(21)
    q, n, alpha0 = np.array([0.6, 0.3, 0.0, 0.1]), 1_000, 50.0
    draws = dirichlet_multinomial_draws(n, q, alpha0, 40_000, rng)
    assert np.all(draws.sum(axis=1) == n) and np.all(draws[:, 2] == 0)
    # Mosimann (1962): var = q(1 − q)·n·(n + α₀)/(1 + α₀) = q(1 − q)·1000·1050/51, 20.6 times the
    # multinomial variance; cov_jk = −q_j q_k·n(n + α₀)/(1 + α₀). With 40,000 draws a variance is known
    # to about √((2 + excess kurtosis)/40,000) ≈ 1%, so 4% is about 4 sd.
    inflation = n * (n + alpha0) / (1 + alpha0)
    present = [0, 1, 3]
    assert draws.mean(axis=0) == pytest.approx(n * q, rel=0.01)
    assert draws.var(axis=0)[present] == pytest.approx((q * (1 - q) * inflation)[present], rel=0.04)
    assert np.cov(draws[:, 0], draws[:, 1])[0, 1] == pytest.approx(-0.6 * 0.3 * inflation, rel=0.04)
    # α₀ = inf is the multinomial, draw for draw.
    multinomial = np.random.default_rng(1).multinomial(n, q, size=5)
    assert np.array_equal(dirichlet_multinomial_draws(n, q, np.inf, 5, np.random.default_rng(1)), multinomial)
    # α₀ = 0: each draw puts all n counts in one category, category k with chance q_k.
    lumps = dirichlet_multinomial_draws(n, q, 0.0, 4_000, rng)
    assert np.all((lumps == n).sum(axis=1) == 1) and lumps[:, 2].sum() == 0
    assert np.mean(lumps[:, 0] == n) == pytest.approx(0.6, abs=0.025)  # sd √(.24/4000) = 0.008
    with pytest.raises(ValueError, match="precision"):
        dirichlet_multinomial_draws(n, q, -1.0, 5, rng)


def test_mix_divergence_precision_argument_and_multinomial_default() -> None:
    rng = np.random.default_rng(
        5
    )  # unit 0 lands mid-null here (p ≈ 0.44), so the p > 0.05 check is not on a knife edge
    q = np.array([0.45, 0.3, 0.15, 0.1])
    mixes = np.hstack([rng.dirichlet(150 * q, size=31), np.zeros((31, 1))])  # a fifth category nobody has
    table = rng.multinomial(rng.integers(10_000, 30_000, 31), mixes)
    unit, others = table[0], table[1:]
    reference = others.sum(axis=0)
    via_table = mix_divergence(unit, reference, draws=300, seed=3, other_units=others)
    via_alpha = mix_divergence(unit, reference, draws=300, seed=3, precision=mix_precision(others))
    assert np.isfinite(via_table.precision) and via_table.precision == pytest.approx(mix_precision(others))
    assert via_alpha.p_value == via_table.p_value and via_alpha.null_q95 == via_table.null_q95
    # The multinomial null, recomputed as the multinomial-only version did: same seed, same draws.
    plain = mix_divergence(unit, reference, draws=300, seed=3)
    ref = reference / reference.sum()
    null = jensenshannon(
        np.random.default_rng(3).multinomial(int(unit.sum()), ref, size=300), ref[None, :], axis=1, base=2
    )
    assert plain.p_value == pytest.approx((1 + np.sum(null >= plain.distance)) / 301)
    assert plain.null_median == pytest.approx(np.median(null))
    assert plain.p_value == plain.p_chance == via_table.p_chance and plain.precision == np.inf
    assert mix_divergence(unit, reference, draws=300, seed=3, precision=np.inf).p_value == plain.p_value
    # Between-unit spread widens the null: the variance ratio is (n + α₀)/(1 + α₀) ≈ 100 here, so the
    # distances (≈ square roots of a χ²-like sum) spread about 10 times as far.
    assert via_table.null_q95 > 3 * plain.null_q95
    assert via_table.p_value > 0.05 and plain.p_value < 0.01  # an ordinary unit, at the floor by chance alone


# --- Outcome ratios: peer masks, τ², units left out of the fit --------------------------------


def test_standardisation_mask_ignores_the_diagonal_and_empty_references() -> None:
    events = [[10, 5], [20, 10], [30, 30]]
    exposure = [[100, 50], [200, 50], [300, 100]]
    # Unit 0 against unit 1: rates 20/200, 10/50: E = 10 + 10 = 20.  Unit 1 against unit 2: 30/300,
    # 30/100: E = 20 + 15 = 35.  Unit 2 against unit 0: 10/100, 5/50: E = 30 + 10 = 40. The True
    # diagonal must not let a unit into its own reference.
    reference = [[True, True, False], [False, True, True], [True, False, True]]
    assert indirect_standardisation(events, exposure, reference=reference).expected == pytest.approx([20, 35, 40])
    # Everyone against unit 0 (rates 0.1 and 0.1): unit 0 then has nobody and no expected count;
    # E = 200·0.1 + 50·0.1 = 25 and 300·0.1 + 100·0.1 = 40 for the others.
    lonely = indirect_standardisation(
        events, exposure, reference=[[True, False, False], [True, False, False], [True, False, False]]
    )
    assert np.isnan(lonely.expected[0]) and lonely.expected[1:] == pytest.approx([25, 40])


def dersimonian_laird(y: list[float], v: list[float]) -> float:
    """Second route to τ²: Q = Σw y² − (Σw y)²/Σw, written out in plain Python."""
    w = [1 / vi for vi in v]
    sw, swy, swy2, sw2 = (
        sum(w),
        sum(wi * yi for wi, yi in zip(w, y)),
        sum(wi * yi * yi for wi, yi in zip(w, y)),
        sum(wi * wi for wi in w),
    )
    q = swy2 - swy**2 / sw
    return max(0.0, (q - (len(y) - 1)) / (sw - sw2 / sw))


def test_standardisation_tau2_by_hand_and_fit_units() -> None:
    observed = [90, 120, 100, 150, 60]
    events, exposure = [[o] for o in observed], [[1000.0]] * 5
    # Each unit's rate is the other four's: E_i = 1000·(520 − O_i)/4000.
    e = [1000 * (520 - o) / 4000 for o in observed]
    y = [math.log((o + 0.5) / ei) for o, ei in zip(observed, e)]
    v = [1 / (o + 0.5) for o in observed]
    result = indirect_standardisation(events, exposure)
    assert result.expected == pytest.approx(e)
    tau2 = dersimonian_laird(y, v)
    assert tau2 > 0 and result.tau2 == pytest.approx(tau2)
    assert result.z == pytest.approx([yi / math.sqrt(vi + tau2) for yi, vi in zip(y, v)])
    assert result.lower[0] == pytest.approx(math.exp(y[0] - Z95 * math.sqrt(v[0] + tau2)))
    # Fit τ² on units 0–2 only: their y and v, the same E.
    fitted = indirect_standardisation(events, exposure, fit_units=[True, True, True, False, False])
    assert fitted.expected == pytest.approx(e) and fitted.tau2 == pytest.approx(dersimonian_laird(y[:3], v[:3]))


def test_standardisation_without_spread_gives_log_normal_limits() -> None:
    rng = np.random.default_rng(2)
    exposure = np.full((40, 1), 10_000.0)
    # Homogeneous Poisson units: DL truncates at 0 about half the time; take the first such draw.
    result = next(
        r for r in (indirect_standardisation(rng.poisson(1000, (40, 1)), exposure) for _ in range(20)) if r.tau2 == 0
    )
    o, e = result.observed, result.expected
    y = np.log((o + 0.5) / e)
    assert result.lower == pytest.approx(np.exp(y - Z95 / np.sqrt(o + 0.5)))
    assert result.upper == pytest.approx(np.exp(y + Z95 / np.sqrt(o + 0.5)))
    assert result.z == pytest.approx(y * np.sqrt(o + 0.5))
    # At O ≈ 1000 those are within 0.2% of the exact Garwood limits (e.g. 940.4 vs 939.0 at O = 1000).
    assert result.lower == pytest.approx(result.lower_poisson, rel=0.003)
    assert result.upper == pytest.approx(result.upper_poisson, rel=0.003)


def test_standardisation_fit_units_keep_outliers_out_of_tau2() -> None:
    rng = np.random.default_rng(9)
    rates = np.r_[np.full(30, 0.1), np.full(4, 0.16)]  # 30 alike, 4 recording 60% more
    events, exposure = rng.poisson(rates * 10_000)[:, None], np.full((34, 1), 10_000.0)
    # Everyone's reference is the alike units (the peer mask), so the four do not shift anyone's E.
    peers = np.tile(np.arange(34) < 30, (34, 1))
    everyone = indirect_standardisation(events, exposure, reference=peers)
    alike = indirect_standardisation(events, exposure, reference=peers, fit_units=np.arange(34) < 30)
    # Fitted on all, the four inflate τ² and hide themselves; fitted on the alike units, τ² is about 0
    # (within-unit variance is 1/1000, so DL noise is of order 1e-4) and the four stand out while
    # the alike units stay ordinary.
    assert everyone.tau2 > 0.01 and alike.tau2 < 5e-4
    assert np.all(np.abs(alike.z[30:]) > 5) and np.all(np.abs(everyone.z[30:]) < np.abs(alike.z[30:]))
    assert np.all(alike.lower[30:] > 1) and np.mean(np.abs(alike.z[:30]) > Z95) <= 0.15
