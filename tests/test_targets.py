"""Tests of skadapt.targets against brute-force enumeration of all k-subsets."""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skadapt.targets import (
    _expected_max_sorted,
    _sort_descending,
    beta_marginal_rewards,
    expected_max_reward,
    geometric_marginal_rewards,
    marginal_rewards,
    pass_at_k,
    preference_probability,
    success_rate,
)


# ---------------------------------------------------------------- brute force
def observed(row):
    return [x for x in row if not math.isnan(x)]


def brute_pass_at_k(row, k):
    values = observed(row)
    subsets = list(itertools.combinations(values, k))
    return Fraction(sum(1 for s in subsets if max(s) == 1), len(subsets))


def brute_expected_max(row, k):
    """Exact mean over all k-subsets of the max, in rationals (rewards are given as Fractions)."""
    values = [Fraction(x) for x in observed(row)]
    subsets = list(itertools.combinations(values, k))
    return sum(max(s) for s in subsets) / len(subsets)


def brute_preference(row_s, row_w):
    pairs = [(a, b) for a in observed(row_s) for b in observed(row_w)]
    return sum(1 / (1 + math.exp(-(a - b))) for a, b in pairs) / len(pairs)


# ---------------------------------------------------------------- strategies
@st.composite
def binary_matrices(draw, max_rows=5, max_cols=7, missing=True):
    n = draw(st.integers(1, max_rows))
    m = draw(st.integers(1, max_cols))
    R = draw(arrays(np.float64, (n, m), elements=st.sampled_from([0.0, 1.0])))
    if missing:
        mask = draw(arrays(np.bool_, (n, m)))
        mask[:, 0] = False  # keep one observed sample per row
        R[mask] = np.nan
    # shuffle columns per row so the kept sample is not always first
    perm = draw(st.permutations(range(m)))
    return R[:, list(perm)]


@st.composite
def real_matrices(draw, max_rows=4, max_cols=7):
    n = draw(st.integers(1, max_rows))
    m = draw(st.integers(1, max_cols))
    # multiples of 1/8 (exact in binary floating point), with ties and negatives
    R = draw(arrays(np.float64, (n, m), elements=st.integers(-16, 16).map(lambda v: v / 8)))
    mask = draw(arrays(np.bool_, (n, m)))
    mask[:, 0] = False
    R[mask] = np.nan
    return R


def n_obs(R):
    return (~np.isnan(R)).sum(axis=1)


# ---------------------------------------------------------------- success_rate
def test_success_rate_ignores_missing():
    R = np.array([[1, 0, np.nan, 1], [np.nan, np.nan, 0, np.nan]])
    np.testing.assert_allclose(success_rate(R), [2 / 3, 0.0])


def test_success_rate_accepts_lists_and_bools():
    np.testing.assert_allclose(success_rate([[True, False]]), [0.5])


# ---------------------------------------------------------------- pass_at_k
@settings(max_examples=60, deadline=None)
@given(R=binary_matrices(), data=st.data())
def test_pass_at_k_matches_enumeration(R, data):
    m = n_obs(R)
    k = np.array([data.draw(st.integers(1, int(mi))) for mi in m])
    got = pass_at_k(R, k)
    want = [float(brute_pass_at_k(row, int(ki))) for row, ki in zip(R, k)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_pass_at_k_scalar_k_and_known_values():
    R = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
    np.testing.assert_allclose(pass_at_k(R, 2), [0.5, 5 / 6, 0.0, 1.0])
    np.testing.assert_allclose(pass_at_k(R, 1), [0.25, 0.5, 0.0, 1.0])
    # with only m - c < k failures every subset holds a success: exactly 1
    assert pass_at_k(R, 3)[1] == 1.0


def test_pass_at_k_large_m_matches_exact_binomials():
    # m = 2000 samples: the naive ratio of binomials overflows float; the product must not.
    rng = np.random.default_rng(0)
    m, rows = 2000, []
    counts = [0, 1, 7, 250, 1000, 1990, 2000]
    for c in counts:
        row = np.zeros(m)
        row[rng.choice(m, c, replace=False)] = 1
        rows.append(row)
    R = np.array(rows)
    for k in (1, 10, 500, 1999):
        want = [1 - Fraction(math.comb(m - c, k), math.comb(m, k)) for c in counts]
        np.testing.assert_allclose(pass_at_k(R, k), [float(w) for w in want], rtol=1e-10, atol=1e-14)


def test_pass_at_k_uses_each_rows_own_sample_count():
    R = np.array([[1, 0, np.nan, np.nan], [1, 0, 0, 0]])
    # row 0: m=2, k=2 -> 1; row 1: m=4, k=2 -> 1 - C(3,2)/C(4,2) = 0.5
    np.testing.assert_allclose(pass_at_k(R, 2), [1.0, 0.5])


@pytest.mark.parametrize(
    "R, k, match",
    [
        ([[1, 0, np.nan]], 3, r"k exceeds the number of observed samples in row\(s\) \[0\]"),
        ([[1, 0], [1, np.nan]], [1, 2], r"row\(s\) \[1\].*only 1 observed"),
        ([[1, 0]], 0, "k must be >= 1"),
        ([[1, 0]], 1.5, "k must be integers"),
        ([[1, 0]], [1, 1], r"k must be a scalar or have shape \(1,\)"),
        ([[1, 0.5]], 1, "binary"),
        ([[1, 2]], 1, "binary"),
        ([1, 0, 1], 1, "2-D"),
        (np.zeros((0, 3)), 1, "empty"),
        ([[1, np.inf]], 1, "infinite"),
        ([[1, 0], [np.nan, np.nan]], 1, r"no observed .* row\(s\) \[1\]"),
        ([["a", "b"]], 1, "numbers"),
    ],
)
def test_pass_at_k_rejects_bad_input(R, k, match):
    with pytest.raises(ValueError, match=match):
        pass_at_k(R, k)


# ---------------------------------------------------------------- expected_max_reward
@settings(max_examples=60, deadline=None)
@given(R=real_matrices(), data=st.data())
def test_expected_max_reward_matches_enumeration(R, data):
    m = n_obs(R)
    k = np.array([data.draw(st.integers(1, int(mi))) for mi in m])
    got = expected_max_reward(R, k)
    want = [float(brute_expected_max(row, int(ki))) for row, ki in zip(R, k)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(R=binary_matrices(), data=st.data())
def test_order_statistic_path_equals_pass_at_k_on_binary(R, data):
    # expected_max_reward dispatches 0/1 rows to the pass@k product form; check the
    # order-statistic path itself agrees with pass@k on binary data.
    m = n_obs(R)
    k = np.array([data.draw(st.integers(1, int(mi))) for mi in m])
    order_stat = _expected_max_sorted(_sort_descending(R), m, k)
    np.testing.assert_allclose(order_stat, pass_at_k(R, k), rtol=0, atol=1e-12)
    np.testing.assert_allclose(expected_max_reward(R, k), pass_at_k(R, k), rtol=0, atol=0)


def test_expected_max_reward_large_m_matches_exact_weights():
    rng = np.random.default_rng(1)
    m = 400
    values = np.sort(rng.integers(0, 1000, m)) / 1000  # ascending r_(1..m)
    R = rng.permutation(values)[None, :]
    for k in (1, 3, 200, 399, 400):
        total = Fraction(0)
        for i in range(k, m + 1):  # ascending rank i has weight C(i-1, k-1)/C(m, k)
            total += Fraction(math.comb(i - 1, k - 1), math.comb(m, k)) * Fraction(int(round(values[i - 1] * 1000)), 1000)
        np.testing.assert_allclose(expected_max_reward(R, k), [float(total)], rtol=1e-11)


def test_expected_max_reward_k1_is_mean_and_km_is_max():
    R = np.array([[0.3, -2.0, 5.0, np.nan], [1.0, 1.0, 1.5, 0.0]])
    np.testing.assert_allclose(expected_max_reward(R, 1), np.nanmean(R, axis=1))
    np.testing.assert_allclose(expected_max_reward(R, [3, 4]), np.nanmax(R, axis=1))


def test_expected_max_reward_rejects_k_too_large():
    with pytest.raises(ValueError, match=r"row\(s\) \[0\]"):
        expected_max_reward([[0.1, np.nan]], 2)


# ---------------------------------------------------------------- marginal_rewards
@settings(max_examples=50, deadline=None)
@given(R=real_matrices(), data=st.data())
def test_marginal_rewards_are_exact_differences(R, data):
    max_budget = int(n_obs(R).min())
    delta = marginal_rewards(R, max_budget)
    assert delta.shape == (R.shape[0], max_budget)
    for i, row in enumerate(R):
        q = [Fraction(0)] + [brute_expected_max(row, j) for j in range(1, max_budget + 1)]
        exact = [q[j] - q[j - 1] for j in range(1, max_budget + 1)]
        np.testing.assert_allclose(delta[i], [float(x) for x in exact], rtol=0, atol=1e-12)
        # Exact (rational) shape properties the allocators rely on:
        assert all(x >= 0 for x in exact[1:])
        assert all(a >= b for a, b in zip(exact[1:], exact[2:]))
        if min(observed(row)) >= 0:
            assert all(a >= b for a, b in zip(exact, exact[1:]))
        # ... and the floating-point result keeps them exactly.
        assert (delta[i, 1:] >= 0).all()
        assert (np.diff(delta[i, 1:]) <= 0).all()
        if min(observed(row)) >= 0:
            assert (np.diff(delta[i]) <= 0).all()


@settings(max_examples=40, deadline=None)
@given(R=binary_matrices(max_cols=8))
def test_binary_marginal_rewards_cumsum_is_pass_at_k(R):
    max_budget = int(n_obs(R).min())
    delta = marginal_rewards(R, max_budget)
    q = np.cumsum(delta, axis=1)
    for b in range(1, max_budget + 1):
        np.testing.assert_allclose(q[:, b - 1], pass_at_k(R, b), atol=1e-12)
    assert (np.diff(delta, axis=1) <= 0).all()
    assert (delta >= 0).all()


def test_marginal_rewards_refuses_budget_beyond_samples_by_default():
    R = np.array([[1, 0, 1, 0], [1, 0, np.nan, np.nan]])
    with pytest.raises(ValueError, match=r"max_budget=3 exceeds .* row\(s\) \[1\] \(row 1 has 2\)"):
        marginal_rewards(R, 3)


def test_marginal_rewards_geometric_extrapolation_only_for_short_rows():
    R = np.array([[1, 0, 1, 0], [1, 0, np.nan, np.nan]])
    delta = marginal_rewards(R, 4, extrapolate="geometric")
    np.testing.assert_allclose(delta[0], marginal_rewards(R[:1], 4)[0])
    np.testing.assert_allclose(delta[1], [0.5, 0.25, 0.125, 0.0625])


def test_marginal_rewards_geometric_extrapolation_needs_binary():
    with pytest.raises(ValueError, match="binary"):
        marginal_rewards([[0.5, 0.2]], 3, extrapolate="geometric")


@pytest.mark.parametrize("max_budget", [0, -1, 2.5, "3", None])
def test_marginal_rewards_rejects_bad_max_budget(max_budget):
    with pytest.raises(ValueError, match="max_budget"):
        marginal_rewards([[1, 0, 1]], max_budget)


def test_marginal_rewards_rejects_unknown_extrapolation():
    with pytest.raises(ValueError, match="extrapolate"):
        marginal_rewards([[1, 0]], 1, extrapolate="linear")


# ---------------------------------------------------------------- geometric_marginal_rewards
@settings(max_examples=50, deadline=None)
@given(lam=arrays(np.float64, st.integers(1, 6), elements=st.floats(0, 1)),
       max_budget=st.integers(1, 20))
def test_geometric_marginal_rewards_sum_to_best_of_k(lam, max_budget):
    delta = geometric_marginal_rewards(lam, max_budget)
    np.testing.assert_allclose(delta.sum(axis=1), 1 - (1 - lam) ** max_budget, atol=1e-12)
    assert (np.diff(delta, axis=1) <= 1e-15).all()
    np.testing.assert_array_equal(delta[:, 0], lam)


def test_geometric_marginal_rewards_accepts_column_and_checks_range():
    np.testing.assert_allclose(geometric_marginal_rewards([[1.0], [0.0]], 2), [[1, 0], [0, 0]])
    with pytest.raises(ValueError, match=r"success_prob must lie in \[0, 1\]"):
        geometric_marginal_rewards([0.5, 1.2], 2)
    with pytest.raises(ValueError, match="success_prob contains NaN"):
        geometric_marginal_rewards([np.nan], 2)
    with pytest.raises(ValueError, match="success_prob is empty"):
        geometric_marginal_rewards([], 2)
    with pytest.raises(ValueError, match=r"shape \(n,\) or \(n, 1\)"):
        geometric_marginal_rewards([[0.1, 0.2]], 2)


# ---------------------------------------------------------------- beta_marginal_rewards
def _beta_curve_by_quadrature(a, b, max_budget):
    from scipy.integrate import quad
    from scipy.special import betaln

    def integrand(x, j):
        # lam (1 - lam)^(j - 1) times the Beta(a, b) density, in log space
        return math.exp(a * math.log(x) + (b + j - 2) * math.log1p(-x) - betaln(a, b))

    return np.array([
        quad(integrand, 0, 1, args=(j,), limit=200, epsabs=1e-13, epsrel=1e-11)[0]
        for j in range(1, max_budget + 1)
    ])


@pytest.mark.parametrize("a, b", [(0.5, 0.5), (2.0, 5.0), (0.3, 4.0), (6.0, 1.5), (40.0, 10.0)])
def test_beta_marginal_rewards_match_quadrature(a, b):
    got = beta_marginal_rewards([a / (a + b)], [a + b], 12)[0]
    np.testing.assert_allclose(got, _beta_curve_by_quadrature(a, b, 12), rtol=1e-7, atol=1e-12)


def test_beta_marginal_rewards_match_monte_carlo_and_log_beta_form():
    from scipy.special import betaln

    rng = np.random.default_rng(0)
    mean = np.array([0.1, 0.5, 0.8])
    concentration = np.array([0.7, 3.0, 25.0])
    got = beta_marginal_rewards(mean, concentration, 10)
    a, b = mean * concentration, (1 - mean) * concentration
    j = np.arange(1, 11)
    closed_form = np.exp(betaln(a[:, None] + 1, b[:, None] + j - 1) - betaln(a, b)[:, None])
    np.testing.assert_allclose(got, closed_form, rtol=1e-10)
    for i in range(3):
        lam = rng.beta(a[i], b[i], size=400_000)
        draws = lam[:, None] * (1 - lam[:, None]) ** (j - 1)
        se = draws.std(axis=0) / np.sqrt(len(lam))
        assert np.all(np.abs(draws.mean(axis=0) - got[i]) < 5 * se + 1e-12)


def test_beta_marginal_rewards_limits():
    mean = np.array([0.0, 0.05, 0.3, 0.5, 0.97, 1.0])
    plug_in = geometric_marginal_rewards(mean, 20)
    # infinite concentration: bit for bit the plug-in curve
    np.testing.assert_array_equal(beta_marginal_rewards(mean, np.inf, 20), plug_in)
    # huge concentration: the plug-in curve (where the log-beta difference loses digits)
    np.testing.assert_allclose(
        beta_marginal_rewards(mean, 1e14, 20), plug_in, rtol=1e-9, atol=1e-15
    )
    # zero concentration: lam is 0 or 1, so only the first sample can help
    want = np.zeros((6, 20))
    want[:, 0] = mean
    np.testing.assert_array_equal(beta_marginal_rewards(mean, 0.0, 20), want)
    # a mean of 0 or 1 is a point mass whatever the concentration
    for c in (1e-3, 1.0, 50.0):
        got = beta_marginal_rewards([0.0, 1.0], [c, c], 5)
        np.testing.assert_array_equal(got, [[0, 0, 0, 0, 0], [1, 0, 0, 0, 0]])


@settings(max_examples=80, deadline=None)
@given(
    mean=arrays(np.float64, st.integers(1, 6), elements=st.floats(0, 1)),
    log_c=st.floats(-4, 12),
    max_budget=st.integers(1, 40),
)
def test_beta_marginal_rewards_properties(mean, log_c, max_budget):
    concentration = np.full(mean.shape, 10.0**log_c)
    delta = beta_marginal_rewards(mean, concentration, max_budget)
    assert delta.shape == (len(mean), max_budget)
    np.testing.assert_array_equal(delta[:, 0], mean)
    assert (delta >= 0).all()
    assert (np.diff(delta, axis=1) <= 0).all()  # exactly, not up to rounding
    # Jensen: an uncertain lam never beats the plug-in best-of-b success
    plug_in = geometric_marginal_rewards(mean, max_budget)
    assert (np.cumsum(delta, axis=1) <= np.cumsum(plug_in, axis=1) + 1e-12).all()


def test_beta_marginal_rewards_input_checks():
    np.testing.assert_array_equal(
        beta_marginal_rewards([[0.2], [0.6]], [[3.0], [3.0]], 4),
        beta_marginal_rewards([0.2, 0.6], 3.0, 4),
    )
    with pytest.raises(ValueError, match=r"mean must lie in \[0, 1\]"):
        beta_marginal_rewards([1.5], 1.0, 3)
    with pytest.raises(ValueError, match="concentration must be >= 0"):
        beta_marginal_rewards([0.5, 0.5], [1.0, -1.0], 3)
    with pytest.raises(ValueError, match="concentration must be >= 0"):
        beta_marginal_rewards([0.5], [np.nan], 3)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        beta_marginal_rewards([0.5, 0.5], [1.0, 2.0, 3.0], 3)
    with pytest.raises(ValueError, match="max_budget"):
        beta_marginal_rewards([0.5], 1.0, 0)


# ---------------------------------------------------------------- preference_probability
@settings(max_examples=40, deadline=None)
@given(R_s=real_matrices(max_rows=3), data=st.data())
def test_preference_probability_matches_all_pairs(R_s, data):
    n = R_s.shape[0]
    m_w = data.draw(st.integers(1, 5))
    R_w = data.draw(arrays(np.float64, (n, m_w), elements=st.integers(-16, 16).map(lambda v: v / 8)))
    got = preference_probability(R_s, R_w)
    want = [brute_preference(a, b) for a, b in zip(R_s, R_w)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # swapping the decoders gives the complementary probability
    np.testing.assert_allclose(preference_probability(R_w, R_s), 1 - got, atol=1e-12)


def test_preference_probability_ignores_missing_and_checks_rows():
    R_s = np.array([[3.0, np.nan], [0.0, 1.0]])
    R_w = np.array([[1.0, 2.0], [0.0, np.nan]])
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    np.testing.assert_allclose(preference_probability(R_s, R_w),
                               [(sig(2) + sig(1)) / 2, (sig(0) + sig(1)) / 2])
    with pytest.raises(ValueError, match="same number of rows"):
        preference_probability(R_s, R_w[:1])
    with pytest.raises(ValueError, match=r"R_weak has no observed .* row\(s\) \[1\]"):
        preference_probability(R_s, [[1.0, 2.0], [np.nan, np.nan]])


# ---------------------------------------------------------------- unbiasedness
@pytest.mark.parametrize("lam", [0.05, 0.3, 0.9])
@pytest.mark.parametrize("m, k", [(8, 1), (8, 4), (10, 10), (16, 5)])
def test_pass_at_k_is_unbiased_and_bootstrap_is_biased_low(lam, m, k):
    # Average the estimator over the exact Binomial(m, lam) distribution of the number of
    # successes: it must equal the true best-of-k success 1 - (1 - lam)^k. The bootstrap
    # (k draws with replacement from the m samples) averages to less.
    rows = np.array([[1.0] * c + [0.0] * (m - c) for c in range(m + 1)])
    weights = np.array([math.comb(m, c) * lam**c * (1 - lam) ** (m - c) for c in range(m + 1)])
    truth = 1 - (1 - lam) ** k
    assert weights @ pass_at_k(rows, k) == pytest.approx(truth, rel=1e-12)
    bootstrap = 1 - (1 - np.arange(m + 1) / m) ** k
    if k > 1:
        assert weights @ bootstrap < truth - 1e-6
    else:
        assert weights @ bootstrap == pytest.approx(truth, rel=1e-12)


def test_marginal_rewards_large_m_match_exact_binomials():
    rng = np.random.default_rng(3)
    m, K = 1000, 300
    counts = [0, 1, 5, 100, 999, 1000]
    R = np.zeros((len(counts), m))
    for row, c in zip(R, counts):
        row[rng.choice(m, c, replace=False)] = 1
    delta = marginal_rewards(R, K)
    for i, c in enumerate(counts):
        for j in (1, 2, 50, 300):
            exact = Fraction(math.comb(m - c, j - 1), math.comb(m, j - 1)) - Fraction(math.comb(m - c, j), math.comb(m, j))
            assert delta[i, j - 1] == pytest.approx(float(exact), rel=1e-10, abs=1e-300)
    # and for real rewards, through the order-statistic matrix product
    Rc = rng.normal(size=(3, 400))
    q = np.cumsum(marginal_rewards(Rc, 200), axis=1)
    for k in (1, 7, 200):
        np.testing.assert_allclose(q[:, k - 1], expected_max_reward(Rc, k), rtol=1e-12, atol=1e-12)
