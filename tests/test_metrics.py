"""Tests of skadapt.metrics."""

import itertools
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from skadapt.metrics import (
    apgr,
    best_of_k_curve,
    compute_savings,
    cpt,
    expected_reward,
    expected_success,
    make_allocation_scorer,
    oracle_budgets,
    probe_report,
    random_routing,
    routing_reward,
)
from skadapt.targets import expected_max_reward, pass_at_k


def random_binary(n, m, seed=0, missing=0.0):
    rng = np.random.default_rng(seed)
    lam = rng.random(n)
    R = (rng.random((n, m)) < lam[:, None]).astype(float)
    if missing:
        mask = rng.random((n, m)) < missing
        mask[:, 0] = False
        R[mask] = np.nan
    return R


# ---------------------------------------------------------------- expected_success / reward
def test_expected_success_is_mean_of_pass_at_k_with_default_for_zero_budget():
    R = random_binary(6, 5, seed=1)
    budgets = np.array([0, 1, 2, 5, 0, 3])
    per_query = np.where(budgets > 0, pass_at_k(R, np.maximum(budgets, 1)), 0.25)
    assert expected_success(R, budgets, default=0.25) == pytest.approx(per_query.mean(), abs=1e-15)
    # (n, 1) budgets as returned by an allocator's transform
    assert expected_success(R, budgets[:, None], default=0.25) == pytest.approx(per_query.mean())


def test_expected_reward_on_real_rewards():
    R = np.array([[0.2, 0.8, -1.0], [0.5, np.nan, np.nan]])
    assert expected_reward(R, [3, 1]) == pytest.approx((0.8 + 0.5) / 2)
    assert expected_reward(R, [2, 0], default=-2.0) == pytest.approx(
        (expected_max_reward(R[:1], 2)[0] - 2.0) / 2)


@pytest.mark.parametrize(
    "budgets, match",
    [
        ([1, 3], r"budgets exceeds its maximum .* row\(s\) \[1\]: budgets=3 .* maximum there is 2"),
        ([-1, 1], "budgets must be >= 0"),
        ([1.5, 1], "budgets must be integers"),
        ([1, 1, 1], r"shape \(2,\) or \(2, 1\)"),
        ([np.nan, 1], "NaN"),
    ],
)
def test_expected_success_rejects_bad_budgets(budgets, match):
    R = np.array([[1, 0, 1], [0, 1, np.nan]])
    with pytest.raises(ValueError, match=match):
        expected_success(R, budgets)


def test_expected_success_needs_binary_and_finite_default():
    with pytest.raises(ValueError, match="binary"):
        expected_success([[0.5, 1.0]], [1])
    with pytest.raises(ValueError, match="default must be a finite number"):
        expected_success([[1, 0]], [1], default=np.nan)


# ---------------------------------------------------------------- best_of_k_curve
def test_best_of_k_curve_matches_estimators():
    R = random_binary(8, 6, seed=2)
    curve = best_of_k_curve(R, [0, 1, 3, 6], default=0.1)
    np.testing.assert_allclose(curve, [0.1] + [pass_at_k(R, k).mean() for k in (1, 3, 6)])
    Rc = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_allclose(best_of_k_curve(Rc, [2]), [expected_max_reward(Rc, 2).mean()])


def test_best_of_k_curve_rejects_k_beyond_samples():
    R = np.array([[1, 0, 1], [0, 1, np.nan]])
    with pytest.raises(ValueError, match="budgets contains 3, more than the 2 observed samples of row 1"):
        best_of_k_curve(R, [1, 3])
    with pytest.raises(ValueError, match="budgets"):
        best_of_k_curve(R, [])


# ---------------------------------------------------------------- oracle_budgets
def brute_force_oracle_value(R, budget, max_budget, min_budget):
    """Best total expected quality over all budget vectors (tiny n only)."""
    from skadapt._greedy import total_units  # floor(budget * n), tolerant of decimal rounding

    n = R.shape[0]
    units = total_units(budget, n)
    q = np.zeros((n, max_budget + 1))
    for b in range(1, max_budget + 1):
        q[:, b] = expected_max_reward(R, b)
    best = -np.inf
    for b in itertools.product(range(min_budget, max_budget + 1), repeat=n):
        if sum(b) <= units:
            best = max(best, q[np.arange(n), b].sum())
    return best, q, units


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 4), max_budget=st.integers(1, 4),
       min_budget=st.integers(0, 1), budget_frac=st.floats(0, 1), binary=st.booleans())
def test_oracle_budgets_is_optimal(seed, n, max_budget, min_budget, budget_frac, binary):
    pytest.importorskip("skadapt.allocation")
    min_budget = min(min_budget, max_budget)
    rng = np.random.default_rng(seed)
    if binary:
        R = random_binary(n, max_budget + 1, seed=seed)
    elif min_budget == 0:
        R = np.round(np.abs(rng.normal(size=(n, max_budget + 1))), 1)
    else:
        # negative rewards make Delta[:, 0] (the mean) smaller than Delta[:, 1]; with
        # min_budget=1 that first unit is forced and the rest of each row is concave
        R = np.round(rng.normal(size=(n, max_budget + 1)), 1)
    budget = min_budget + budget_frac * (max_budget - min_budget)
    b = oracle_budgets(R, budget, max_budget=max_budget, min_budget=min_budget)
    best, q, units = brute_force_oracle_value(R, budget, max_budget, min_budget)
    assert b.shape == (n,)
    assert b.sum() <= units
    assert ((b >= min_budget) & (b <= max_budget)).all()
    assert q[np.arange(n), b].sum() == pytest.approx(best, abs=1e-9)


def test_oracle_binned_spends_at_most_the_budget_and_is_no_better_than_greedy():
    pytest.importorskip("skadapt.allocation")
    R = random_binary(200, 8, seed=3)
    greedy = oracle_budgets(R, 2, max_budget=8)
    binned = oracle_budgets(R, 2, max_budget=8, method="binned", n_bins=5)
    assert binned.sum() <= 400 and greedy.sum() <= 400
    assert expected_success(R, binned) <= expected_success(R, greedy) + 1e-12
    assert expected_success(R, binned) >= best_of_k_curve(R, [2])[0] - 1e-12


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(budget=5, max_budget=4), r"budget=5.0 must lie in \[min_budget, max_budget\]"),
        (dict(budget=1, max_budget=0), "max_budget must be an integer >= 1"),
        (dict(budget=1, max_budget=2, min_budget=3), "min_budget=3 exceeds max_budget=2"),
        (dict(budget=1, max_budget=2, method="heap"), "method must be 'greedy' or 'binned'"),
        (dict(budget=1, max_budget=9), "max_budget=9 exceeds the number of observed samples"),
    ],
)
def test_oracle_budgets_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        oracle_budgets(random_binary(3, 4), **kwargs)


# ---------------------------------------------------------------- routing
def test_routing_reward_uses_per_query_means():
    R_s = np.array([[1.0, 0.0], [2.0, np.nan], [0.0, 0.0]])
    R_w = np.array([[0.0], [1.0], [3.0]])
    assert routing_reward(R_s, R_w, [1, 1, 0]) == pytest.approx((0.5 + 2.0 + 3.0) / 3)
    assert routing_reward(R_s, R_w, np.array([[False], [True], [False]])) == pytest.approx((0 + 2 + 3) / 3)
    with pytest.raises(ValueError, match="routed exceeds its maximum"):
        routing_reward(R_s, R_w, [2, 0, 0])
    with pytest.raises(ValueError, match="same number of rows"):
        routing_reward(R_s, R_w[:2], [1, 0, 0])


@pytest.mark.parametrize("n", [1, 4, 5])
def test_random_routing_is_the_exact_mean_over_all_random_subsets(n):
    rng = np.random.default_rng(n)
    R_s, R_w = rng.normal(size=(n, 3)), rng.normal(size=(n, 2))
    for fraction in (0.0, 0.3, 0.5, 0.99, 1.0):
        s = math.floor(fraction * n)
        values = []
        for subset in itertools.combinations(range(n), s):
            routed = np.zeros(n, dtype=int)
            routed[list(subset)] = 1
            values.append(routing_reward(R_s, R_w, routed))
        assert random_routing(R_s, R_w, fraction) == pytest.approx(np.mean(values), abs=1e-12)
    assert random_routing(R_s, R_w, [0.0, 1.0]).shape == (2,)
    with pytest.raises(ValueError, match=r"fraction must lie in \[0, 1\]"):
        random_routing(R_s, R_w, 1.5)


# ---------------------------------------------------------------- compute_savings
def test_compute_savings_interpolates_both_ways():
    s = compute_savings([1, 2, 3], [0.5, 0.7, 0.95], [0, 1, 2, 4], [0.0, 0.4, 0.6, 0.8])
    # quality 0.5 is reached by uniform at 1.5, 0.7 at 3.0, 0.95 never
    np.testing.assert_allclose(s.uniform_budget, [1.5, 3.0, np.nan])
    np.testing.assert_allclose(s.compute_saved, [1 - 1 / 1.5, 1 - 2 / 3, np.nan])
    np.testing.assert_allclose(s.uniform_quality, [0.4, 0.6, 0.7])
    np.testing.assert_allclose(s.quality_gain, [0.1, 0.1, 0.25])


def test_compute_savings_edge_cases():
    # below the first uniform point and outside the uniform budget range -> NaN, not a guess
    s = compute_savings([0.5, 10], [0.2, 0.9], [1, 2], [0.4, 0.6])
    assert np.isnan(s.uniform_budget[0]) and np.isnan(s.uniform_quality).all()
    # a non-monotone uniform curve: the *smallest* budget reaching the quality counts
    s = compute_savings([1], [0.5], [1, 2, 3, 4], [0.0, 0.6, 0.4, 0.8])
    np.testing.assert_allclose(s.uniform_budget, [1 + 0.5 / 0.6])
    # an adaptive method worse than uniform saves a negative fraction
    s = compute_savings([2], [0.4], [0, 1, 2], [0.0, 0.4, 0.6])
    np.testing.assert_allclose(s.compute_saved, [-1.0])
    with pytest.raises(ValueError, match="same length"):
        compute_savings([1, 2], [0.5], [1], [0.5])
    with pytest.raises(ValueError, match="duplicate"):
        compute_savings([1], [0.5], [1, 1], [0.5, 0.6])


# ---------------------------------------------------------------- probe_report
def test_probe_report_soft_labels():
    y = np.array([0.0, 0.1, 0.5, 0.9, 1.0, 0.3])
    p = np.array([0.05, 0.2, 0.4, 0.8, 0.95, 0.35])

    def ce(y, p):
        return float(np.mean([-(a * math.log(b) if a else 0) - ((1 - a) * math.log(1 - b) if a < 1 else 0)
                              for a, b in zip(y, p)]))

    r = probe_report(y, p)
    assert r["loss_name"] == "log_loss"
    assert r["loss"] == pytest.approx(ce(y, p))
    assert r["avg_loss"] == pytest.approx(ce(y, np.full_like(y, y.mean())))
    entropy = np.mean([0 if a in (0, 1) else -(a * math.log(a) + (1 - a) * math.log(1 - a)) for a in y])
    assert r["opt_loss"] == pytest.approx(entropy)
    assert r["opt_loss"] <= r["loss"] and r["opt_loss"] <= r["avg_loss"]
    assert r["accuracy"] == 1.0
    # a perfect predictor reaches the optimum; the mean predictor reaches Avg.
    assert probe_report(y, y)["loss"] == pytest.approx(r["opt_loss"])
    assert probe_report(y, np.full_like(y, y.mean()))["loss"] == pytest.approx(r["avg_loss"])


def test_probe_report_accuracy_split_modes():
    y = np.array([0.0, 0.0, 0.0, 0.4, 0.6, 0.8])  # median 0.2: three above, three below
    p = np.array([0.5, 0.55, 0.6, 0.7, 0.8, 0.9])  # ranks right, badly calibrated
    assert probe_report(y, p)["accuracy"] == 1.0
    assert probe_report(y, p, split="true")["accuracy"] == 0.5


def test_probe_report_marginal_reward_vectors():
    rng = np.random.default_rng(0)
    y = rng.random((10, 4))
    p = y + rng.normal(scale=0.1, size=y.shape)
    r = probe_report(y, p)
    assert r["loss_name"] == "squared_error"
    assert r["loss"] == pytest.approx(np.mean((y - p) ** 2))
    assert r["avg_loss"] == pytest.approx(np.mean((y - y.mean(axis=0)) ** 2))
    assert r["opt_loss"] == 0.0
    t, q = y[:, 0], p[:, 0]
    assert r["accuracy"] == pytest.approx(np.mean((t > np.median(t)) == (q > np.median(q))))


@pytest.mark.parametrize(
    "y, p, kwargs, match",
    [
        ([0.1, 0.2], [0.1], {}, "same shape"),
        ([0.1, 1.2], [0.1, 0.2], {}, r"y_true must lie in \[0, 1\]"),
        ([0.1, 0.2], [0.1, np.nan], {}, "y_pred contains NaN"),
        ([], [], {}, "empty"),
        ([0.1], [0.1], {"loss": "hinge"}, "loss must be"),
        ([0.1], [0.1], {"split": "mean"}, "split must be"),
    ],
)
def test_probe_report_rejects_bad_input(y, p, kwargs, match):
    with pytest.raises(ValueError, match=match):
        probe_report(y, p, **kwargs)


# ---------------------------------------------------------------- APGR / CPT
def test_apgr_random_router_is_half_and_matches_routellm_formula():
    x = np.linspace(0, 1, 11)
    assert apgr(x, 0.6 + 0.2 * x, weak_quality=0.6, strong_quality=0.8) == pytest.approx(0.5)
    # RouteLLM: (AUC_router - AUC_weak) / (AUC_strong - AUC_weak) on a curve spanning [0, 1]
    q = 0.6 + 0.2 * np.sqrt(x)
    auc = np.trapezoid(q, x)
    assert apgr(x, q, weak_quality=0.6, strong_quality=0.8) == pytest.approx((auc - 0.6) / (0.8 - 0.6))
    # order of points does not matter; end points are added when missing
    assert apgr(x[::-1], q[::-1], weak_quality=0.6, strong_quality=0.8) == pytest.approx((auc - 0.6) / 0.2)
    assert apgr([0.5], [0.8], weak_quality=0.6, strong_quality=0.8) == pytest.approx(0.75)


def test_cpt_first_crossing():
    x = np.array([0.0, 0.2, 0.4, 1.0])
    q = np.array([0.6, 0.7, 0.76, 0.8])  # PGR 0, .5, .8, 1
    assert cpt(x, q, 0.5, weak_quality=0.6, strong_quality=0.8) == pytest.approx(0.2)
    assert cpt(x, q, 0.8, weak_quality=0.6, strong_quality=0.8) == pytest.approx(0.4)
    assert cpt(x, q, 0.65, weak_quality=0.6, strong_quality=0.8) == pytest.approx(0.3)
    assert cpt(x, q, 1.0, weak_quality=0.6, strong_quality=0.8) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"level must lie in \(0, 1\]"):
        cpt(x, q, 50, weak_quality=0.6, strong_quality=0.8)
    with pytest.raises(ValueError, match="performance gap is zero"):
        apgr(x, q, weak_quality=0.7, strong_quality=0.7)
    with pytest.raises(ValueError, match=r"strong_fractions must lie in \[0, 1\]"):
        apgr([0.5, 1.5], [0.6, 0.7], weak_quality=0.6, strong_quality=0.8)


# ---------------------------------------------------------------- make_allocation_scorer
class UniformBudget(TransformerMixin, BaseEstimator):
    """Test double: gives every query ``k`` samples."""

    def __init__(self, k=1):
        self.k = k

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.full((len(X), 1), self.k)


def test_scorer_subtracts_cost_and_picks_budget_in_grid_search():
    R = random_binary(60, 8, seed=4)
    X = np.zeros((60, 1))
    scorer = make_allocation_scorer(cost_per_unit=0.02)
    curve = best_of_k_curve(R, range(1, 9))
    assert scorer(UniformBudget(3), X, R) == pytest.approx(curve[2] - 0.06)
    search = GridSearchCV(UniformBudget(), {"k": list(range(1, 9))}, scoring=scorer,
                          cv=KFold(3)).fit(X, R)
    # per fold the best k maximises q(k) - 0.02 k; with the whole data the mean of folds is
    # the full-data value, so the chosen k maximises the full-data objective
    assert search.best_params_["k"] == int(np.argmax(curve - 0.02 * np.arange(1, 9))) + 1
    # no cost: the largest budget wins
    scores = cross_val_score(UniformBudget(8), X, R, scoring=make_allocation_scorer(), cv=3)
    assert scores.mean() == pytest.approx(curve[-1])


def test_scorer_reward_metric_pickles_and_validates():
    R = np.array([[0.2, 0.8], [0.5, 0.1]])
    scorer = pickle.loads(pickle.dumps(make_allocation_scorer("reward", default=0.3)))
    assert scorer(UniformBudget(2), np.zeros((2, 1)), R) == pytest.approx(0.65)
    assert scorer(UniformBudget(0), np.zeros((2, 1)), R) == pytest.approx(0.3)
    assert "reward" in repr(scorer)
    with pytest.raises(ValueError, match="metric must be"):
        make_allocation_scorer("accuracy")
    with pytest.raises(ValueError, match="cost_per_unit must be >= 0"):
        make_allocation_scorer(cost_per_unit=-1)


@pytest.mark.parametrize("name", ["GreedyAllocator", "BinnedAllocator"])
def test_scorer_in_grid_search_over_real_allocators(name):
    allocation = pytest.importorskip("skadapt.allocation")
    from skadapt.targets import success_rate

    R = random_binary(300, 16, seed=5)
    R[:150] = 0  # half never solved
    X = success_rate(R)[:, None]  # an oracle "probe": the true success rates
    scorer = make_allocation_scorer(cost_per_unit=0.01)
    allocator = getattr(allocation, name)(1, max_budget=16, kind="success_prob")
    search = GridSearchCV(allocator, {"budget": [1, 2, 4, 8, 16]}, scoring=scorer,
                          cv=KFold(3, shuffle=True, random_state=0), error_score="raise").fit(X, R)
    # each fold's score is the scorer on that fold's budgets, recomputed here by hand
    fitted = search.best_estimator_
    budgets = fitted.transform(X).ravel()
    assert search.score(X, R) == pytest.approx(expected_success(R, budgets) - 0.01 * budgets.mean())
    # the cost makes the largest budget lose
    assert search.best_params_["budget"] < 16
