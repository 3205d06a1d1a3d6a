import numpy as np
import pytest

from skadapt import metrics, targets
from skadapt.evaluation import (
    allocation_budgets,
    allocation_curves,
    bootstrap_interval,
    per_query_value,
)


@pytest.fixture
def binary_data():
    rng = np.random.default_rng(0)
    lam = rng.beta(0.5, 0.8, size=400)
    R = (rng.uniform(size=(400, 16)) < lam[:, None]).astype(float)
    return lam, R


def test_per_query_value_matches_exact_estimators(binary_data):
    _, R = binary_data
    budgets = np.arange(R.shape[0]) % 5
    values = per_query_value(R, budgets, default=0.25)
    spent = budgets > 0
    np.testing.assert_allclose(values[spent], targets.pass_at_k(R[spent], budgets[spent]))
    assert np.all(values[~spent] == 0.25)
    graded = np.random.default_rng(1).uniform(size=R.shape)
    np.testing.assert_allclose(
        per_query_value(graded, np.full(len(R), 3), binary=False),
        targets.expected_max_reward(graded, 3))


def test_per_query_value_is_the_metrics_one_and_averages_to_them(binary_data):
    # one function, published in skadapt.metrics beside the means it gives
    from skadapt import metrics

    assert per_query_value is metrics.per_query_value
    _, R = binary_data
    budgets = np.arange(R.shape[0]) % 5
    assert per_query_value(R, budgets).mean() == pytest.approx(
        metrics.expected_success(R, budgets))
    assert per_query_value(R, budgets, binary=False).mean() == pytest.approx(
        metrics.expected_reward(R, budgets))


def test_per_query_value_rejects_bad_budgets(binary_data):
    _, R = binary_data
    with pytest.raises(ValueError, match="budgets"):
        per_query_value(R, [1, 2])
    with pytest.raises(ValueError, match="budgets"):
        per_query_value(R, -np.ones(len(R)))


def test_curves_uniform_is_best_of_k_and_oracle_dominates(binary_data):
    lam, R = binary_data
    noisy = np.clip(lam + np.random.default_rng(2).normal(0, 0.1, lam.size), 0, 1)
    curves = allocation_curves(R, noisy, budgets=[1, 2, 4, 8],
                               held_out=(noisy[:200], R[:200]), n_resamples=200)
    uniform = curves[curves.method == "uniform"].value.to_numpy()
    np.testing.assert_allclose(uniform, metrics.best_of_k_curve(R, [1, 2, 4, 8]))
    oracle = curves[curves.method == "oracle"].value.to_numpy()
    online = curves[curves.method == "online"].value.to_numpy()
    # the oracle solves Eq. 5 exactly with the true marginal rewards, and the
    # uniform and online allocations are feasible for the same problem
    assert np.all(oracle >= uniform - 1e-12)
    assert np.all(oracle >= online - 1e-12)
    assert set(curves.method) == {"uniform", "online", "offline", "oracle"}
    assert np.all(curves.low <= curves.value) and np.all(curves.value <= curves.high)
    # the online allocator spends exactly the budget
    np.testing.assert_allclose(curves[curves.method == "online"].average_budget,
                               [1, 2, 4, 8])


def test_curves_with_true_probabilities_beat_uniform(binary_data):
    lam, R = binary_data
    curves = allocation_curves(R, lam, budgets=[2, 4], methods=["uniform", "online"],
                               n_resamples=100)
    pivot = curves.pivot(index="budget", columns="method", values="value")
    assert np.all(pivot["online"] > pivot["uniform"])


def test_curves_bad_input(binary_data):
    lam, R = binary_data
    with pytest.raises(ValueError, match="max_budget"):
        allocation_curves(R, lam, max_budget=32)
    with pytest.raises(ValueError, match="unknown methods"):
        allocation_curves(R, lam, methods=["magic"])
    with pytest.raises(ValueError, match="2-D"):
        allocation_curves(R[:0], lam[:0])
    with pytest.raises(ValueError, match="integer budget"):
        allocation_budgets(R, lam, 1.5, method="uniform", max_budget=16)
    with pytest.raises(ValueError, match="held_out"):
        allocation_budgets(R, lam, 2, method="offline", max_budget=16)


def test_bootstrap_interval_is_paired_and_covers_the_mean():
    rng = np.random.default_rng(0)
    a = rng.normal(size=300)
    values = np.vstack([a, a + 1.0])
    low, high = bootstrap_interval(values, n_resamples=500, random_state=0)
    # the same resampled queries for both rows: the shift is exact
    np.testing.assert_allclose(high[1] - high[0], 1.0)
    np.testing.assert_allclose(low[1] - low[0], 1.0)
    assert low[0] < a.mean() < high[0]
    width = high[0] - low[0]
    # about 2 * 1.96 standard errors
    assert 0.7 * 3.92 / np.sqrt(300) < width < 1.3 * 3.92 / np.sqrt(300)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_interval(a, confidence=1.5)


def test_bootstrap_interval_methods_and_pairing():
    """scipy.stats.bootstrap underneath: percentile (default), BCa and basic; rows
    share their resampled queries (paired); bad method named."""
    import pytest

    from skadapt.evaluation import bootstrap_interval

    rng = np.random.default_rng(0)
    a = rng.random(300)
    b = a + 0.1  # a constant shift: every paired resample differs by exactly 0.1
    low, high = bootstrap_interval(np.vstack([a, b]), random_state=1)
    np.testing.assert_allclose(high - low, (high - low)[0])
    np.testing.assert_allclose(low[1] - low[0], 0.1)
    for method in ("percentile", "basic", "BCa"):
        lo, hi = bootstrap_interval(a, method=method, random_state=1)
        assert lo < a.mean() < hi
    p = bootstrap_interval(a, random_state=1)
    assert bootstrap_interval(a, method="BCa", random_state=1) != p
    with pytest.raises(ValueError, match="method must be"):
        bootstrap_interval(a, method="bca")
    one = bootstrap_interval([0.25], random_state=0)
    assert one == (0.25, 0.25)


def test_bootstrap_interval_over_groups():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(5), 40)
    # the groups differ much more than the queries inside them
    values = rng.normal(size=5)[groups] + 0.05 * rng.normal(size=200)
    q_low, q_high = bootstrap_interval(values, random_state=0)
    g_low, g_high = bootstrap_interval(values, random_state=0, groups=groups)
    assert g_low <= values.mean() <= g_high
    assert (g_high - g_low) > 3 * (q_high - q_low)
    # two groups of constant values: every resample's mean lies between the two
    two = np.repeat([0.0, 1.0], 10)
    low, high = bootstrap_interval(two, groups=np.repeat(["a", "b"], 10), random_state=0)
    assert 0.0 <= low < 0.5 < high <= 1.0
    # rows share the resampled groups (paired), as for queries
    stacked = np.vstack([values, 2 * values])
    low2, high2 = bootstrap_interval(stacked, random_state=0, groups=groups)
    np.testing.assert_allclose(low2, [g_low, 2 * g_low], rtol=1e-12)
    np.testing.assert_allclose(high2, [g_high, 2 * g_high], rtol=1e-12)
    # groups of different sizes: the statistic is the mean over queries
    # (big groups succeed, small ones fail: the mean over queries is 0.738, the mean
    # of the group means 0.5; the interval centres on the former)
    sizes = np.arange(1, 21) * 2
    labels = np.repeat(np.arange(20), sizes)
    one = (sizes[labels] > 20).astype(float)
    assert one.mean() == pytest.approx(0.738, abs=1e-3)
    low, high = bootstrap_interval(one, groups=labels, n_resamples=2000, random_state=0)
    assert low < 0.738 < high and (low + high) / 2 > 0.65
    # one group: the point estimate
    assert bootstrap_interval(values, groups=np.zeros(200))[0] == pytest.approx(values.mean())
    with pytest.raises(ValueError, match=r"groups must have shape \(200,\)"):
        bootstrap_interval(values, groups=groups[:10])
