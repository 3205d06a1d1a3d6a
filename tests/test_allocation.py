"""Tests of skadapt.allocation: exactness against an ILP solver and brute force,
tie rules, permutation equivariance, monotone projection, bad input, the
binned allocator's price solution, spend guard and pacing."""

import itertools
import os
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp
from sklearn.base import clone
from sklearn.isotonic import isotonic_regression

import skadapt._binned as _binned
import skadapt._greedy as _greedy
from skadapt import BinnedAllocator, GreedyAllocator
from skadapt._binned import solve_binned
from skadapt.allocation import (
    BudgetOverrunWarning,
    NonMonotoneRewardsWarning,
    greedy_allocate,
    greedy_allocate_success_prob,
)

# SKADAPT_HYPOTHESIS_EXAMPLES=2000 for a deeper (slow) search
SETTINGS = settings(
    max_examples=int(os.environ.get("SKADAPT_HYPOTHESIS_EXAMPLES", "80")),
    deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- references


def ilp_optimum(delta, total, min_budget):
    """Optimal value of Eq. 5 by scipy's MILP solver (HiGHS).

    Variables c[i, j] in {0, 1}, c[i, j] <= c[i, j-1], c[i, j] = 1 for
    j < min_budget, sum c <= total.
    """
    n, m = delta.shape
    nv = n * m
    rows = [np.ones(nv)]
    lb, ub = [0], [total]
    for i in range(n):
        for j in range(1, m):
            r = np.zeros(nv)
            r[i * m + j] = 1
            r[i * m + j - 1] = -1
            rows.append(r)
            lb.append(-np.inf)
            ub.append(0)
    lower = np.zeros(nv)
    for i in range(n):
        lower[i * m : i * m + min_budget] = 1
    res = milp(
        -delta.ravel(),
        constraints=LinearConstraint(np.array(rows), lb, ub),
        integrality=np.ones(nv),
        bounds=Bounds(lower, np.ones(nv)),
        options={"mip_rel_gap": 0},
    )
    assert res.success
    return -res.fun


def dp_optimum(delta, total, min_budget):
    """Optimal value of Eq. 5 by dynamic programming over rows and units spent
    (exact up to the rounding of sums; needs no monotonicity)."""
    n, m = delta.shape
    prefix = np.concatenate([[0.0], np.cumsum(delta[0])])
    best = {b: prefix[b] for b in range(min_budget, m + 1) if b <= total}
    for i in range(1, n):
        prefix = np.concatenate([[0.0], np.cumsum(delta[i])])
        new = {}
        for spent, value in best.items():
            for b in range(min_budget, m + 1):
                if spent + b <= total:
                    new[spent + b] = max(new.get(spent + b, -np.inf), value + prefix[b])
        best = new
    return max(best.values())


def objective(delta, budgets):
    return sum(delta[i, :b].sum() for i, b in enumerate(budgets))


def reference_rule(keys, total, min_budget, *, log=False):
    """The documented rule by sorting: largest value, then smaller unit index, then
    smaller row; negative values are never bought (log keys: every unit is >= 0)."""
    n, m = keys.shape
    budgets = np.full(n, min_budget)
    units = sorted(
        (-keys[i, j], j, i) for i in range(n) for j in range(min_budget, m) if log or keys[i, j] >= 0
    )
    for _, _, i in units[: total - n * min_budget]:
        budgets[i] += 1
    return budgets


def log_keys(lam, max_budget):
    """Log marginal rewards as the implicit path computes them (-inf for zero rewards)."""
    keys = np.full((lam.size, max_budget), -np.inf)
    j = np.arange(max_budget).astype(np.float64)
    for i, value in enumerate(lam):
        if value == 1:
            keys[i, 0] = 0.0
        elif value > 0:
            keys[i] = np.log(value) + j * np.log1p(-value)
    return keys


def geometric(lam, max_budget):
    lam = np.asarray(lam, dtype=float)[:, None]
    return lam * (1 - lam) ** np.arange(max_budget)


VALUES = [-0.5, -0.1, 0.0, 0.0, 0.05, 0.1, 0.1, 0.25, 0.5, 0.9]


@st.composite
def instances(draw):
    values = st.sampled_from(VALUES)
    n = draw(st.integers(1, 6))
    m = draw(st.integers(1, 5))
    min_budget = draw(st.integers(0, m))
    rows = [sorted(draw(st.lists(values, min_size=m, max_size=m)), reverse=True) for _ in range(n)]
    total = draw(st.integers(n * min_budget, n * m))
    return np.array(rows, dtype=float), total, min_budget


LAMBDAS = st.one_of(
    st.sampled_from([0.0, 1.0, 0.5, 0.25, 0.75, 0.1, 0.9, 1e-17, 1e-300]),
    st.floats(0, 1),
)


@st.composite
def lam_instances(draw):
    n = draw(st.integers(1, 7))
    m = draw(st.integers(1, 6))
    min_budget = draw(st.integers(0, m))
    lam = np.array(draw(st.lists(LAMBDAS, min_size=n, max_size=n)))
    total = draw(st.integers(n * min_budget, n * m))
    return lam, total, m, min_budget


# ------------------------------------------------------- greedy, explicit matrix


@SETTINGS
@given(instances())
def test_greedy_is_optimal_against_milp(instance):
    delta, total, min_budget = instance
    budgets = greedy_allocate(delta, total, min_budget=min_budget)
    n, m = delta.shape
    assert budgets.dtype == np.int64 and budgets.shape == (n,)
    assert ((budgets >= min_budget) & (budgets <= m)).all()
    assert budgets.sum() <= total
    # the whole budget is spent unless only negative units remain
    nonneg = (delta[:, min_budget:] >= 0).sum()
    assert budgets.sum() == min(total, n * min_budget + nonneg)
    # no unit with a negative marginal reward is bought beyond min_budget
    for i, b in enumerate(budgets):
        assert (delta[i, min_budget:b] >= 0).all()
    assert objective(delta, budgets) == pytest.approx(dp_optimum(delta, total, min_budget), abs=1e-12)
    # an independent solver; HiGHS works to a tolerance of about 1e-9
    assert objective(delta, budgets) == pytest.approx(ilp_optimum(delta, total, min_budget), abs=1e-7)


@SETTINGS
@given(instances())
def test_greedy_follows_documented_tie_rule(instance):
    delta, total, min_budget = instance
    budgets = greedy_allocate(delta, total, min_budget=min_budget)
    np.testing.assert_array_equal(budgets, reference_rule(delta, total, min_budget))


@SETTINGS
@given(instances(), st.randoms(use_true_random=False))
def test_permutation_equivariance(instance, rnd):
    delta, total, min_budget = instance
    perm = np.array(rnd.sample(range(delta.shape[0]), delta.shape[0]))
    budgets = greedy_allocate(delta, total, min_budget=min_budget)
    permuted = greedy_allocate(delta[perm], total, min_budget=min_budget)
    # Always: same objective, same multiset of budgets, differences of at most
    # one unit, and only between queries with a unit tied at the threshold.
    assert objective(delta[perm], permuted) == pytest.approx(objective(delta, budgets))
    assert sorted(permuted) == sorted(budgets)
    diff = np.flatnonzero(permuted != budgets[perm])
    assert (np.abs(permuted - budgets[perm]) <= 1).all()
    if diff.size:
        values = {delta[perm][i, b] for i, b in zip(diff, np.minimum(permuted[diff], budgets[perm][diff]))}
        assert len(values) == 1  # they all tie at one threshold value


def test_permutation_equivariance_exact_for_distinct_values():
    rng = np.random.default_rng(0)
    delta = -np.sort(-rng.normal(size=(200, 8)), axis=1)
    perm = rng.permutation(200)
    for total in (0, 150, 400, 1600):
        budgets = greedy_allocate(delta, total)
        np.testing.assert_array_equal(greedy_allocate(delta[perm], total), budgets[perm])


def test_identical_rows_spread_ties_evenly():
    # equal marginal rewards: smaller unit index first, then row order
    delta = np.zeros((3, 4))
    np.testing.assert_array_equal(greedy_allocate(delta, 7), [3, 2, 2])
    delta = np.tile([0.5, 0.0, 0.0, 0.0], (2, 1))
    np.testing.assert_array_equal(greedy_allocate(delta, 5), [3, 2])


@SETTINGS
@given(instances())
def test_objective_non_decreasing_in_budget(instance):
    delta, _, min_budget = instance
    n, m = delta.shape
    values = [objective(delta, greedy_allocate(delta, t, min_budget=min_budget)) for t in range(n * min_budget, n * m + 1)]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(values))


def test_routing_is_max_budget_one():
    gain = np.array([[0.2], [0.9], [-0.1], [0.4], [0.0]])
    alloc = GreedyAllocator(budget=0.4, max_budget=1).fit(gain)
    np.testing.assert_array_equal(alloc.transform(gain).ravel(), [0, 1, 0, 1, 0])
    # a negative gain is never routed to the strong decoder, even with budget left
    np.testing.assert_array_equal(GreedyAllocator(budget=1, max_budget=1).fit_transform(gain).ravel(), [1, 1, 0, 1, 1])


def test_total_units_rounds_decimal_budgets():
    assert _greedy.total_units(0.29, 100) == 29
    assert _greedy.total_units(2.5, 3) == 7
    assert _greedy.total_units(0.0, 10) == 0
    budgets = GreedyAllocator(budget=0.29, max_budget=1).fit_transform(np.linspace(1, 0, 100)[:, None])
    assert budgets.sum() == 29


# ------------------------------------------------------------ monotone projection


def test_increasing_rows_are_projected_with_warning():
    rng = np.random.default_rng(1)
    delta = rng.uniform(size=(30, 6))
    with pytest.warns(NonMonotoneRewardsWarning, match="rows of marginal rewards increase") as record:
        budgets = greedy_allocate(delta, 60)
    assert len(record) == 1
    projected = np.array([isotonic_regression(row, increasing=False) for row in delta])
    assert np.all(np.diff(projected, axis=1) <= 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(budgets, greedy_allocate(projected, 60))


def test_projection_matches_isotonic_regression():
    rng = np.random.default_rng(2)
    Y = rng.normal(size=(50, 9))
    Y[::3] = np.round(Y[::3])  # ties
    expected = np.array([isotonic_regression(row, increasing=False) for row in Y])
    np.testing.assert_allclose(_greedy.project_nonincreasing(Y), expected, atol=1e-12)


def test_only_the_eligible_part_must_be_non_increasing():
    # With min_budget=1 the first (forced) unit may be smaller than the second,
    # as for mean rewards that can be negative (chat): no projection, no warning.
    delta = np.array([[-0.2, 0.3, 0.1], [0.1, 0.2, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(greedy_allocate(delta, 4, min_budget=1), [2, 2])
    with pytest.warns(NonMonotoneRewardsWarning):
        greedy_allocate(delta, 4)


def test_transform_warns_once():
    X = np.tile(np.arange(5.0), (10, 1))
    with pytest.warns(NonMonotoneRewardsWarning) as record:
        GreedyAllocator(budget=2).fit_transform(X)
    assert len([w for w in record if w.category is NonMonotoneRewardsWarning]) == 1


# ---------------------------------------------------------- greedy, success_prob


@SETTINGS
@given(lam_instances())
def test_success_prob_follows_tie_rule_on_log_keys(instance):
    lam, total, m, min_budget = instance
    budgets = greedy_allocate_success_prob(lam, total, max_budget=m, min_budget=min_budget)
    np.testing.assert_array_equal(budgets, reference_rule(log_keys(lam, m), total, min_budget, log=True))


@SETTINGS
@given(lam_instances())
def test_success_prob_search_path(instance):
    # Force the threshold search (normally skipped for small inputs).
    lam, total, m, min_budget = instance
    old = _greedy._WINDOW_MIN
    _greedy._WINDOW_MIN = 0
    try:
        budgets = greedy_allocate_success_prob(lam, total, max_budget=m, min_budget=min_budget)
    finally:
        _greedy._WINDOW_MIN = old
    np.testing.assert_array_equal(budgets, reference_rule(log_keys(lam, m), total, min_budget, log=True))


@SETTINGS
@given(lam_instances())
def test_success_prob_is_optimal_against_exact_dp(instance):
    lam, total, m, min_budget = instance
    budgets = greedy_allocate_success_prob(lam, total, max_budget=m, min_budget=min_budget)
    delta = geometric(lam, m)
    assert ((budgets >= min_budget) & (budgets <= m)).all()
    assert budgets.sum() == total  # geometric rewards are never negative
    # exact DP reference (HiGHS, with its tolerances, misses gains of 1e-12)
    assert objective(delta, budgets) == pytest.approx(dp_optimum(delta, total, min_budget), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("window_min", [0, 1 << 16])
def test_success_prob_matches_matrix_path(monkeypatch, window_min):
    monkeypatch.setattr(_greedy, "_WINDOW_MIN", window_min)
    rng = np.random.default_rng(3)
    # distinct values plus exact duplicates (ties across identical queries)
    lam = np.concatenate([rng.uniform(size=3000), np.repeat([0.2, 0.05], 500), np.zeros(300)])
    rng.shuffle(lam)
    for total, min_budget in [(5000, 0), (12000, 1), (30000, 2), (4300 * 15, 0)]:
        implicit = greedy_allocate_success_prob(lam, total, max_budget=16, min_budget=min_budget)
        explicit = greedy_allocate(geometric(lam, 16), total, min_budget=min_budget)
        np.testing.assert_array_equal(implicit, explicit)


def test_success_prob_extremes():
    lam = np.array([0.0, 1.0, 1e-300, 5e-324, 1 - 1e-16, 0.5])
    # lam == 1 gets exactly one sample (its later ones are worth 0); the second
    # sample of lam = 1 - 1e-16 (worth about 1e-16) beats anything of lam <= 1e-300
    np.testing.assert_array_equal(greedy_allocate_success_prob(lam, 6, max_budget=3), [0, 1, 0, 0, 2, 3])
    # 13 positive units; the 3 zero-valued ones go by unit index, then row:
    # (j=1, lam=0), (j=2, lam=0), (j=2, lam=1)
    np.testing.assert_array_equal(greedy_allocate_success_prob(lam, 16, max_budget=3), [2, 2, 3, 3, 3, 3])
    full = greedy_allocate_success_prob(lam, 18, max_budget=3)
    np.testing.assert_array_equal(full, [3] * 6)
    # huge max_budget is fine: nothing of size max_budget is built
    b = greedy_allocate_success_prob(np.array([0.5, 0.01]), 10**6, max_budget=10**6)
    assert b.sum() == 10**6 and b[0] < b[1]


def test_success_prob_memory_does_not_grow_with_max_budget():
    lam = np.random.default_rng(4).uniform(size=20000)
    peaks = []
    for max_budget in (16, 4096):
        tracemalloc.start()
        greedy_allocate_success_prob(lam, 4 * lam.size, max_budget=max_budget)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.5 * peaks[0]


# -------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "delta, total, kwargs, match",
    [
        (np.array([[0.5, np.nan]]), 1, {}, "NaN or infinite"),
        (np.array([[0.5, np.inf]]), 1, {}, "NaN or infinite"),
        (np.array([0.5, 0.2]), 1, {}, "2-D array"),
        (np.empty((0, 3)), 0, {}, "empty"),
        (np.ones((2, 3)), 7, {}, "exceeds n_queries \\* max_budget"),
        (np.ones((2, 3)), 1, {"min_budget": 1}, "less than n_queries \\* min_budget"),
        (np.ones((2, 3)), 6, {"min_budget": 4}, "min_budget=4 exceeds max_budget=3"),
        (np.ones((2, 3)), -1, {}, "total_budget"),
        (np.ones((2, 3)), np.nan, {}, "total_budget"),
        (np.ones((2, 3)), 2, {"min_budget": -1}, "min_budget"),
    ],
)
def test_greedy_allocate_bad_input(delta, total, kwargs, match):
    with pytest.raises(ValueError, match=match):
        greedy_allocate(delta, total, **kwargs)


@pytest.mark.parametrize(
    "lam, total, kwargs, match",
    [
        ([0.5, 1.2], 2, {"max_budget": 2}, "must lie in \\[0, 1\\]"),
        ([0.5, np.nan], 2, {"max_budget": 2}, "NaN"),
        ([], 0, {"max_budget": 2}, "empty"),
        ([0.5, 0.1], 5, {"max_budget": 2}, "exceeds n_queries"),
        ([0.5, 0.1], 2, {"max_budget": 0}, "max_budget"),
        (np.ones((2, 2)) / 2, 2, {"max_budget": 2}, "shape"),
    ],
)
def test_greedy_allocate_success_prob_bad_input(lam, total, kwargs, match):
    with pytest.raises(ValueError, match=match):
        greedy_allocate_success_prob(lam, total, **kwargs)


@pytest.mark.parametrize("cls", [GreedyAllocator, BinnedAllocator])
@pytest.mark.parametrize(
    "params, X, match",
    [
        ({"budget": 5}, np.ones((4, 3)), "budget=5 must lie in"),
        ({"budget": 1, "min_budget": 2}, np.ones((4, 3)), "budget=1 must lie in"),
        ({"budget": 1, "max_budget": 4}, np.ones((4, 3)), "max_budget=4 but X has 3 feature"),
        ({"budget": 1, "kind": "success_prob"}, np.full((4, 1), 0.5), "max_budget is required"),
        ({"budget": 1, "kind": "success_prob", "max_budget": 4}, np.full((4, 2), 0.5), "shape \\(n_queries, 1\\)"),
        ({"budget": 1, "kind": "success_prob", "max_budget": 4}, np.full((4, 1), 1.5), "\\[0, 1\\]"),
        ({"budget": 1}, np.array([[np.nan, 1.0]]), "NaN"),
        ({"budget": 1}, np.empty((0, 3)), "0 sample"),
    ],
)
def test_estimator_bad_input(cls, params, X, match):
    with pytest.raises(ValueError, match=match):
        cls(**params).fit(X)


@pytest.mark.parametrize("cls", [GreedyAllocator, BinnedAllocator])
def test_transform_checks_success_prob_range(cls):
    alloc = cls(budget=1, max_budget=3, kind="success_prob").fit(np.array([[0.1], [0.7]]))
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        alloc.transform(np.array([[-0.1]]))


# ----------------------------------------------------------- estimator behaviour


def test_greedy_allocator_matches_function_and_pandas_output():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(5)
    X = -np.sort(-rng.uniform(size=(40, 6)), axis=1)
    alloc = GreedyAllocator(budget=2.5, max_budget=4).fit(X)
    assert alloc.max_budget_ == 4 and alloc.n_features_in_ == 6
    np.testing.assert_array_equal(alloc.transform(X).ravel(), greedy_allocate(X[:, :4], 100))
    out = alloc.set_output(transform="pandas").transform(pd.DataFrame(X, columns=[f"d{j}" for j in range(6)]))
    assert list(out.columns) == ["budget"]


# --------------------------------------------------------------------- binned


def brute_force_binned(values, sizes, total, min_budget):
    best = -np.inf
    for levels in itertools.product(range(min_budget, values.shape[1]), repeat=len(sizes)):
        if np.dot(sizes, levels) <= total:
            best = max(best, sum(values[b, level] for b, level in enumerate(levels)))
    return best


@SETTINGS
@given(
    st.integers(1, 3).flatmap(
        lambda k: st.tuples(
            st.lists(st.lists(st.sampled_from(VALUES), min_size=4, max_size=4), min_size=k, max_size=k),
            st.lists(st.integers(1, 4), min_size=k, max_size=k),
            st.integers(0, 2),
            st.integers(0, 40),
        )
    )
)
def test_binned_knapsack_against_brute_force(args):
    marginals, sizes, min_budget, extra = args
    marginals = np.array(marginals)  # not necessarily non-increasing: the DP needs no monotonicity
    sizes = np.array(sizes)
    values = np.zeros((len(sizes), 5))
    values[:, 1:] = np.cumsum(marginals, axis=1) * sizes[:, None]
    total = int(sizes.sum()) * min_budget + extra
    total = min(total, int(sizes.sum()) * 4)
    levels = solve_binned(values, sizes, total, min_budget)
    assert ((levels >= min_budget) & (levels <= 4)).all()
    assert np.dot(sizes, levels) <= total
    got = sum(values[b, level] for b, level in enumerate(levels))
    assert got == pytest.approx(brute_force_binned(values, sizes, total, min_budget), abs=1e-9)


def test_binned_with_one_query_per_bin_is_the_online_optimum():
    rng = np.random.default_rng(6)
    X = -np.sort(-rng.uniform(size=(12, 5)), axis=1)
    for budget in (0.5, 1, 2.25, 4):
        alloc = BinnedAllocator(budget=budget, n_bins=12).fit(X)
        assert alloc.n_bins_ == 12
        budgets = alloc.transform(X).ravel()
        total = _greedy.total_units(budget, 12)
        assert budgets.sum() <= total
        assert objective(X, budgets) == pytest.approx(dp_optimum(X, total, 0), abs=1e-12)


def test_binned_success_prob_is_batch_independent_and_within_budget():
    rng = np.random.default_rng(7)
    lam = rng.beta(0.5, 0.8, size=(2000, 1))
    alloc = BinnedAllocator(budget=4, n_bins=6, max_budget=32, kind="success_prob").fit(lam)
    budgets = alloc.transform(lam).ravel()
    assert budgets.mean() == pytest.approx(alloc.expected_budget_)
    assert alloc.expected_budget_ <= 4
    np.testing.assert_array_equal(alloc.transform(lam[:7]).ravel(), budgets[:7])
    assert alloc.bin_budgets_.shape == (alloc.n_bins_,) == alloc.bin_counts_.shape
    assert alloc.bin_counts_.sum() == 2000
    # same bins with the explicit matrix of geometric marginal rewards
    explicit = BinnedAllocator(budget=4, n_bins=6, max_budget=32).fit(np.hstack([lam, geometric(lam[:, 0], 32)[:, 1:]]))
    np.testing.assert_array_equal(explicit.bin_budgets_, alloc.bin_budgets_)


def test_binned_duplicate_quantiles_and_empty_uniform_bins():
    key = np.r_[np.zeros(60), np.full(30, 0.5), np.ones(10)][:, None]
    q = BinnedAllocator(budget=1, n_bins=10, max_budget=4, kind="success_prob").fit(key)
    assert q.n_bins_ == len(np.unique(q.bin_edges_)) - 1 == q.bin_counts_.size
    assert (q.bin_counts_ > 0).all() and q.bin_counts_.sum() == 100
    u = BinnedAllocator(budget=1, n_bins=7, strategy="uniform", max_budget=4, kind="success_prob").fit(key)
    assert (u.bin_counts_ > 0).all() and u.n_bins_ == 3
    constant = BinnedAllocator(budget=2, n_bins=5, max_budget=4, kind="success_prob").fit(np.full((9, 1), 0.3))
    assert constant.n_bins_ == 1
    np.testing.assert_array_equal(constant.bin_budgets_, [2])


def test_binned_uses_empirical_marginal_rewards_from_y():
    from skadapt.targets import marginal_rewards

    rng = np.random.default_rng(8)
    true_lam = rng.uniform(size=400)
    R = (rng.uniform(size=(400, 8)) < true_lam[:, None]).astype(float)
    miscalibrated = true_lam**3  # same order, wrong values
    a = BinnedAllocator(budget=3, n_bins=5, max_budget=8, kind="success_prob").fit(true_lam[:, None], R)
    b = BinnedAllocator(budget=3, n_bins=5, max_budget=8, kind="success_prob").fit(miscalibrated[:, None], R)
    np.testing.assert_array_equal(a.bin_budgets_, b.bin_budgets_)
    np.testing.assert_allclose(a.bin_marginal_rewards_, b.bin_marginal_rewards_)
    # per-bin means of the exact empirical marginal rewards
    bins = np.searchsorted(a.bin_edges_[1:-1], true_lam, side="right")
    delta = marginal_rewards(R, 8)
    for k in range(a.n_bins_):
        np.testing.assert_allclose(a.bin_marginal_rewards_[k], delta[bins == k].mean(axis=0))
    without_y = BinnedAllocator(budget=3, n_bins=5, max_budget=8, kind="success_prob").fit(miscalibrated[:, None])
    assert not np.allclose(without_y.bin_marginal_rewards_, b.bin_marginal_rewards_)


def test_binned_short_y_uses_predictions_beyond_samples_with_warning():
    X = -np.sort(-np.random.default_rng(9).uniform(size=(20, 4)), axis=1)
    y = np.ones((20, 2))
    y[0, 1] = np.nan
    with pytest.warns(UserWarning, match="fewer than max_budget=4 observed samples for 20 of 20"):
        alloc = BinnedAllocator(budget=2, n_bins=1).fit(X, y)
    expected = np.r_[1.0, 0.0, X[:, 2:].mean(axis=0)]
    # rewards all 1: a second sample adds nothing, except for row 0 (one sample),
    # whose second marginal reward is its prediction
    expected[1] = X[0, 1] / 20
    np.testing.assert_allclose(alloc.bin_marginal_rewards_[0], expected)


# ------------------------------------------------------ binned, price solution


@st.composite
def binned_instances(draw, monotone):
    k = draw(st.integers(1, 4))
    rows = [draw(st.lists(st.sampled_from(VALUES), min_size=4, max_size=4)) for _ in range(k)]
    if monotone:
        rows = [sorted(row, reverse=True) for row in rows]
    sizes = np.array(draw(st.lists(st.integers(1, 6), min_size=k, max_size=k)))
    min_budget = draw(st.integers(0, 2))
    total = min(int(sizes.sum()) * min_budget + draw(st.integers(0, 60)), int(sizes.sum()) * 4)
    marginals = np.array(rows)
    values = np.zeros((k, 5))
    values[:, 1:] = np.cumsum(marginals, axis=1) * sizes[:, None]
    return marginals, values, sizes, total, min_budget


def binned_value(values, levels):
    return sum(values[b, level] for b, level in enumerate(levels))


@SETTINGS
@given(binned_instances(monotone=True))
def test_binned_price_solution_is_within_one_unit_of_the_optimum(instance):
    marginals, values, sizes, total, min_budget = instance
    levels = solve_binned(values, sizes, total, min_budget, max_dp_bytes=0)  # force the price solution
    assert ((levels >= min_budget) & (levels <= 4)).all()
    assert np.dot(sizes, levels) <= total
    # Lagrangian bound: short of the optimum by less than one unit of one bin
    one_unit = max(0.0, float((marginals[:, min_budget:] * sizes[:, None]).max(initial=0.0)))
    optimum = brute_force_binned(values, sizes, total, min_budget)
    assert binned_value(values, levels) >= optimum - one_unit - 1e-9
    # units of negative value are never bought
    for b, level in enumerate(levels):
        assert (marginals[b, min_budget:level] >= 0).all()


@SETTINGS
@given(binned_instances(monotone=False))
def test_binned_price_solution_on_rows_that_increase(instance):
    # Ironing pools units; a bin stopped inside a pool keeps its best level there,
    # so the solution is feasible and never worse than everyone at min_budget.
    _, values, sizes, total, min_budget = instance
    levels = solve_binned(values, sizes, total, min_budget, max_dp_bytes=0)
    assert ((levels >= min_budget) & (levels <= 4)).all()
    assert np.dot(sizes, levels) <= total
    assert binned_value(values, levels) >= values[:, min_budget].sum() - 1e-9
    assert binned_value(values, levels) <= brute_force_binned(values, sizes, total, min_budget) + 1e-9


def test_binned_large_fit_uses_price_solution_close_to_exact(monkeypatch):
    rng = np.random.default_rng(10)
    lam = rng.beta(0.5, 0.8, size=(20000, 1))
    exact = BinnedAllocator(budget=4, n_bins=12, max_budget=32, kind="success_prob")
    monkeypatch.setattr(_binned, "DP_MAX_BYTES", 1 << 40)
    exact.fit(lam)
    monkeypatch.setattr(_binned, "DP_MAX_BYTES", 0)
    price = clone(exact).fit(lam)
    sizes = price.bin_counts_
    assert sizes @ price.bin_budgets_ <= 80000 and price.expected_budget_ <= 4

    def value(levels):
        return float((price.bin_marginal_rewards_ * sizes[:, None] * (np.arange(32) < levels[:, None])).sum())

    one_unit = float((price.bin_marginal_rewards_ * sizes[:, None]).max())
    assert value(exact.bin_budgets_) - one_unit <= value(price.bin_budgets_) <= value(exact.bin_budgets_)
    assert np.abs(price.bin_budgets_ - exact.bin_budgets_).max() <= 1


def test_binned_fit_memory_does_not_grow_with_n():
    # The exact DP's table had n_bins * budget * n cells (178 MiB here, and
    # 6 GiB for n = 1e6 with budget 32); the price solution needs
    # O(n_bins * max_budget) beyond the O(n) binning of the queries.
    n, max_budget = 200_000, 32
    lam = np.random.default_rng(11).beta(0.5, 0.8, size=(n, 1))
    tracemalloc.start()
    try:
        alloc = BinnedAllocator(budget=4, n_bins=100, max_budget=max_budget, kind="success_prob").fit(lam)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < n * max_budget * 8 / 4
    assert alloc.expected_budget_ == pytest.approx(4, rel=0.01)


# ---------------------------------------------------- binned, spend guard and pacing


def drifted_stream(seed=12):
    """Held-out predictions ~ Beta(1, 3) (mostly hard), a stream ~ Beta(3, 1) (mostly easy)."""
    rng = np.random.default_rng(seed)
    return rng.beta(1, 3, size=(4000, 1)), rng.beta(3, 1, size=(2000, 1))


def drift_allocator(**params):
    return BinnedAllocator(budget=4, n_bins=10, max_budget=16, kind="success_prob", **params)


def expected_successes(lam, budgets):
    return float((1 - (1 - lam.ravel()) ** budgets.ravel()).sum())


def test_spend_guard_warns_on_drifted_batches_with_figures():
    held_out, stream = drifted_stream()
    alloc = drift_allocator().fit(held_out)
    with pytest.warns(BudgetOverrunWarning) as record:
        budgets = alloc.transform(stream[:500])
    assert len(record) == 1
    message = str(record[0].message)
    assert f"spent {budgets.mean():.4g} units per query" in message
    assert "budget=4" in message and "500 queries" in message
    assert abs(budgets.mean() / 4 - 1) > 0.05  # the drift is real
    assert record[0].filename == __file__  # points at the caller


def test_spend_guard_quiet_in_distribution_for_single_queries_and_when_off():
    held_out, stream = drifted_stream()
    alloc = drift_allocator().fit(held_out)
    fresh = np.random.default_rng(13).beta(1, 3, size=(1000, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert alloc.transform(fresh).mean() == pytest.approx(4, rel=0.05)
        # one query is not evidence of drift: its budget is its bin's
        for x in stream[:50]:
            alloc.transform(x[None])
        drift_allocator(spend_tolerance=None).fit(held_out).transform(stream)
        drift_allocator(spend_tolerance=0.5).fit(held_out).transform(stream)
    with pytest.warns(BudgetOverrunWarning):
        drift_allocator(spend_tolerance=0.1).fit(held_out).transform(stream)


def test_pacing_holds_the_budget_on_drifted_batches():
    held_out, stream = drifted_stream()
    fixed = drift_allocator().fit(held_out)
    paced = drift_allocator(pacing=True).fit(held_out)
    spent_fixed = spent_paced = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pacing keeps the guard quiet
        for k, start in enumerate(range(0, 2000, 250), start=1):
            batch = stream[start : start + 250]
            with pytest.warns(BudgetOverrunWarning):
                spent_fixed += fixed.transform(batch).sum()
            budgets = paced.transform(batch).ravel()
            spent_paced += budgets.sum()
            assert spent_paced / (250 * k) == pytest.approx(4, rel=0.05)
            # still one budget per bin within a call
            bins = _binned.assign_bins(paced.bin_edges_, batch[:, 0])
            assert all(np.unique(budgets[bins == b]).size == 1 for b in np.unique(bins))
    assert abs(spent_fixed / 2000 / 4 - 1) > 0.05
    account = paced.spend_account()
    assert account.queries == 2000 and account.units == spent_paced
    assert account.last_queries == 250 and account.balance == pytest.approx(4 * 2000 - spent_paced)
    # adaptive at the same spend: beats uniform best-of-4 on the stream
    budgets = drift_allocator(pacing=True).fit(held_out).transform(stream)
    assert budgets.mean() == pytest.approx(4, rel=0.01)
    assert expected_successes(stream, budgets) > expected_successes(stream, np.full(2000, 4))


def test_pacing_holds_the_budget_one_query_at_a_time():
    held_out, stream = drifted_stream()
    fixed = drift_allocator().fit(held_out)
    paced = drift_allocator(pacing=True).fit(held_out)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither warns: one query is no evidence of drift
        paced_budgets = np.array([paced.transform(x[None])[0, 0] for x in stream])
        fixed_budgets = np.array([fixed.transform(x[None])[0, 0] for x in stream[:300]])
    paced_average = np.cumsum(paced_budgets) / np.arange(1, 2001)
    # the account absorbs the first pacing_window queries' surprise, then holds
    assert np.abs(paced_average[200:] / 4 - 1).max() <= 0.05
    assert paced_average[-1] == pytest.approx(4, rel=0.01)
    # without pacing, the same queries (one at a time or not: no state) miss the budget
    np.testing.assert_array_equal(fixed_budgets, fixed.set_params(spend_tolerance=None).transform(stream[:300]).ravel())
    assert abs(fixed.transform(stream).mean() / 4 - 1) > 0.05
    assert paced.spend_account().last_queries == 1
    assert expected_successes(stream, paced_budgets) > expected_successes(stream, np.full(2000, 4))


def test_pacing_warns_when_the_budget_is_out_of_reach():
    # the low bin's units beyond the first are worth less than 0: a stream of
    # low queries cannot spend budget=2 however low the price
    high = np.tile([0.9, 0.5, 0.3, 0.2], (100, 1))
    low = np.tile([0.1, -0.1, -0.2, -0.3], (100, 1))
    alloc = BinnedAllocator(budget=2, n_bins=2, pacing=True).fit(np.vstack([high, low]))
    np.testing.assert_array_equal(alloc.bin_budgets_, [0, 4])
    with pytest.warns(BudgetOverrunWarning, match="spent 1 units per query .* since fit .*every unit worth at least 0"):
        budgets = alloc.transform(low)
    np.testing.assert_array_equal(budgets, 1)  # never a unit of negative value
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alloc.transform(high)  # back in reach: the deficit is paid back, no warning
    assert alloc.spend_account().average == pytest.approx(2)


def test_pacing_decides_each_query_from_its_bin_and_the_account():
    held_out, stream = drifted_stream()
    batch = stream[:300]
    perm = np.random.default_rng(14).permutation(300)
    a = drift_allocator(pacing=True).fit(held_out)
    b = clone(a).fit(held_out)
    np.testing.assert_array_equal(b.transform(batch[perm]), a.transform(batch)[perm])
    # same state, same answer; after reset_pacing and after fit, the first answer again
    first = a.reset_pacing().transform(batch)
    a.transform(stream[300:600])
    assert a.spend_account().queries == 600
    np.testing.assert_array_equal(a.reset_pacing().transform(batch), first)
    np.testing.assert_array_equal(a.fit(held_out).transform(batch), first)
    # a batch of at least pacing_window queries with an empty account is priced on
    # its own bins: it spends at most budget * n_queries, and close to it
    assert 4 * 300 - 300 < first.sum() <= 4 * 300


def test_pacing_state_and_spend_account():
    held_out, stream = drifted_stream()
    alloc = drift_allocator().fit(held_out)
    with pytest.raises(ValueError, match="only with pacing=True"):
        alloc.spend_account()
    alloc.set_params(pacing=True)  # no refit needed: pacing acts in transform only
    account = alloc.spend_account()
    assert account.queries == 0 and np.isnan(account.average)
    alloc.transform(stream[:10])
    alloc.transform(stream[10:13])
    account = alloc.spend_account()
    assert (account.queries, account.last_queries) == (13, 3)
    assert account.average == pytest.approx(account.units / 13)
    assert clone(alloc).fit(held_out).spend_account().queries == 0


# ---------------------------------------------- parameters checked again in transform


@pytest.mark.parametrize("cls", [GreedyAllocator, BinnedAllocator])
def test_transform_checks_parameters_changed_by_set_params(cls):
    X = -np.sort(-np.random.default_rng(15).uniform(size=(40, 4)), axis=1)
    alloc = cls(budget=2).fit(X)
    with pytest.raises(ValueError, match="min_budget=10 exceeds max_budget=4"):
        clone(alloc).fit(X).set_params(min_budget=10).transform(X)
    with pytest.raises(ValueError, match="min_budget=10 exceeds max_budget=4"):
        cls(budget=2, max_budget=4).fit(X).set_params(min_budget=10).transform(X)
    with pytest.raises(ValueError, match="'budget' parameter"):
        cls(budget=2).fit(X).set_params(budget=-3).transform(X)
    with pytest.raises(ValueError, match="budget=5 must lie in"):
        cls(budget=2).fit(X).set_params(budget=5).transform(X)
    with pytest.raises(ValueError, match="max_budget=6 but X has 4"):
        cls(budget=2).fit(X).set_params(max_budget=6).transform(X)


def test_greedy_transform_uses_current_parameters():
    X = -np.sort(-np.random.default_rng(16).uniform(size=(40, 4)), axis=1)
    alloc = GreedyAllocator(budget=2).fit(X)
    assert alloc.set_params(budget=1).transform(X).sum() == 40
    budgets = alloc.set_params(max_budget=2, min_budget=1, budget=1.5).transform(X)
    assert budgets.min() >= 1 and budgets.max() <= 2 and budgets.sum() == 60


def test_binned_transform_refuses_parameters_changed_since_fit():
    lam = np.random.default_rng(17).uniform(size=(200, 1))
    alloc = BinnedAllocator(budget=2, n_bins=4, max_budget=8, kind="success_prob").fit(lam)
    with pytest.raises(ValueError, match="changed since fit \\(budget: 2 -> 3, n_bins: 4 -> 5\\).*fit again"):
        alloc.set_params(budget=3, n_bins=5).transform(lam)
    # the parameters that act only in transform may change without a refit
    alloc.set_params(budget=2, n_bins=4, spend_tolerance=None, pacing_window=7)
    expected = alloc.bin_budgets_[_binned.assign_bins(alloc.bin_edges_, lam[:3, 0])]
    np.testing.assert_array_equal(alloc.transform(lam[:3]).ravel(), expected)


# ------------------------------------------------------------------ price mode


def _left_out_best(delta, budgets):
    """The best marginal reward the allocation left out (-inf if none)."""
    m = delta.shape[1]
    nxt = [delta[i, b] for i, b in enumerate(budgets) if b < m]
    return max(nxt, default=-np.inf)


@SETTINGS
@given(instances())
def test_fitted_price_gives_the_batch_greedy_allocation(instance):
    # The price that spends B on a batch is the Lagrangian dual of Eq. 5: it buys
    # the same units as the greedy, except units tied with the best one left out.
    delta, total, min_budget = instance
    n, m = delta.shape
    budget = total / n
    assert _greedy.total_units(budget, n) == total
    greedy = GreedyAllocator(budget, min_budget=min_budget).fit_transform(delta).ravel()
    alloc = GreedyAllocator(budget, min_budget=min_budget, price="fit").fit(delta)
    priced = alloc.transform(delta).ravel()
    assert priced.sum() <= total
    assert np.all(priced <= greedy) and np.all(priced >= min_budget)
    best_out = _left_out_best(delta, greedy)
    # what the greedy bought beyond the price is exactly the tie with the unit left out
    for i in range(n):
        assert np.all(delta[i, priced[i]:greedy[i]] == best_out)
    bought = [delta[i, min_budget:greedy[i]] for i in range(n)]
    if not any(np.any(row == best_out) for row in bought) or best_out < 0:
        np.testing.assert_array_equal(priced, greedy)
    # the same price on any one query alone gives that query's budget
    for i in range(n):
        assert alloc.transform(delta[i : i + 1])[0, 0] == priced[i]


@SETTINGS
@given(lam_instances())
def test_fitted_price_gives_the_batch_greedy_allocation_success_prob(instance):
    lam, total, m, min_budget = instance
    n = lam.size
    budget = total / n
    X = lam.reshape(-1, 1)
    greedy = GreedyAllocator(budget, max_budget=m, min_budget=min_budget,
                             kind="success_prob").fit_transform(X).ravel()
    alloc = GreedyAllocator(budget, max_budget=m, min_budget=min_budget, kind="success_prob",
                            price="fit").fit(X)
    priced = alloc.transform(X).ravel()
    assert priced.sum() <= total
    assert np.all(priced <= greedy) and np.all(priced >= min_budget)
    # without ties (distinct log marginal rewards, none underflowing) the two agree
    inner = (lam > 1e-6) & (lam < 1 - 1e-6)
    if inner.all():
        keys = np.log(lam)[:, None] + np.arange(m)[None, :] * np.log1p(-lam)[:, None]
        eligible = keys[:, min_budget:].ravel()
        if np.unique(eligible).size == eligible.size:
            np.testing.assert_array_equal(priced, greedy)


@SETTINGS
@given(instances(), st.sampled_from(VALUES), st.sampled_from(VALUES), st.randoms(use_true_random=False))
def test_price_mode_bounds_monotonicity_and_equivariance(instance, p1, p2, rnd):
    delta, _, min_budget = instance
    p1, p2 = sorted([abs(p1), abs(p2)])
    n, m = delta.shape
    low = GreedyAllocator(min_budget=min_budget, price=p1).fit_transform(delta).ravel()
    high = GreedyAllocator(min_budget=min_budget, price=p2).fit_transform(delta).ravel()
    assert np.all((min_budget <= high) & (high <= low) & (low <= m))  # a higher price buys less
    # exactly the units worth at least the price (ties at the price are bought)
    expected = min_budget + (delta[:, min_budget:] >= p1).sum(axis=1)
    np.testing.assert_array_equal(low, expected)
    perm = np.array(rnd.sample(range(n), n))
    permuted = GreedyAllocator(min_budget=min_budget, price=p1).fit_transform(delta[perm]).ravel()
    np.testing.assert_array_equal(permuted, low[perm])


def test_price_mode_success_prob_counts_units_worth_the_price():
    lam = np.array([[0.0], [0.1], [0.5], [0.9], [1.0]])
    # 0.5, 0.25, 0.125, ... : three units of lam=0.5 are worth >= 0.125 (tie bought)
    alloc = GreedyAllocator(max_budget=6, kind="success_prob", price=0.125).fit(lam)
    assert alloc.price_ == 0.125
    np.testing.assert_array_equal(alloc.transform(lam).ravel(), [0, 0, 3, 1, 1])
    # price 0 buys every unit (all worth >= 0), like the greedy at budget=max_budget
    np.testing.assert_array_equal(
        GreedyAllocator(max_budget=6, kind="success_prob", price=0).fit_transform(lam).ravel(),
        [6] * 5)
    # min_budget still holds
    np.testing.assert_array_equal(
        GreedyAllocator(max_budget=6, min_budget=2, kind="success_prob", price=0.6)
        .fit_transform(lam).ravel(), [2, 2, 2, 2, 2])


def test_price_mode_parameters():
    delta = np.array([[0.5, 0.2], [0.4, 0.1]])
    # budget is ignored (not even checked) at a fixed price
    assert GreedyAllocator(budget=99, price=0.3).fit_transform(delta).ravel().tolist() == [1, 1]
    with pytest.raises(ValueError, match="price"):
        GreedyAllocator(price=-0.1).fit(delta)
    with pytest.raises(ValueError, match="price"):
        GreedyAllocator(price="auto").fit(delta)
    with pytest.raises(ValueError, match="price"):
        GreedyAllocator(price=np.inf).fit(delta)
    # price="fit" checks budget as batch mode does, and refuses a budget changed since fit
    with pytest.raises(ValueError, match="budget=3"):
        GreedyAllocator(budget=3, price="fit").fit(delta)
    alloc = GreedyAllocator(budget=1, price="fit").fit(delta)
    assert alloc.price_ == np.nextafter(0.2, 1)
    alloc.set_params(budget=1.5)
    with pytest.raises(ValueError, match="Call fit again"):
        alloc.transform(delta)
    # a numeric price set after fit takes effect, as the other parameters do
    alloc.set_params(price=0.45)
    assert alloc.transform(delta).ravel().tolist() == [1, 0]
    # a refit in budget mode drops the price of the earlier fit
    alloc.set_params(price=None, budget=1)
    assert not hasattr(alloc.fit(delta), "price_")


def _realistic_success_prob(rng, n):
    """Success probabilities shaped like the shipped arithmetic data: many
    near-hopeless and many near-certain queries, a spread in between."""
    return rng.beta(0.35, 0.5, size=n)


@pytest.mark.parametrize("budget", [1, 2, 4, 8])
def test_fitted_price_spends_budget_on_a_stream(budget):
    rng = np.random.default_rng(budget)
    held_out = _realistic_success_prob(rng, 2000).reshape(-1, 1)
    alloc = GreedyAllocator(budget, max_budget=16, kind="success_prob", price="fit").fit(held_out)
    stream = _realistic_success_prob(rng, 3000).reshape(-1, 1)
    spent = [alloc.transform(x[None])[0, 0] for x in stream]  # one query at a time
    assert abs(np.mean(spent) - budget) <= 0.05 * budget


def test_fitted_price_spends_budget_on_a_stream_of_marginal_rewards():
    from skadapt.targets import geometric_marginal_rewards

    rng = np.random.default_rng(7)

    def curves(n):  # predicted curves of a noisy probe
        lam = np.clip(_realistic_success_prob(rng, n) + rng.normal(0, 0.05, n), 0, 1)
        return geometric_marginal_rewards(lam, 16)

    alloc = GreedyAllocator(3, price="fit").fit(curves(2000))
    spent = alloc.transform(curves(4000)).ravel()  # decided query by query
    assert abs(spent.mean() - 3) <= 0.05 * 3


# ------------------------------------------------------------ binned, price mode

# dyadic values: bin sums and the dynamic program's totals are exact in floats
DYADIC = [-0.5, -0.125, 0.0, 0.0, 0.125, 0.25, 0.375, 0.5, 0.875]
DYADIC_PRICES = [0.0, 0.125, 0.25, 0.375, 0.5, 0.875, 1.0]


@st.composite
def binned_price_instances(draw):
    n = draw(st.integers(1, 12))
    monotone = draw(st.booleans())
    rows = [draw(st.lists(st.sampled_from(DYADIC), min_size=4, max_size=4)) for _ in range(n)]
    if monotone:
        rows = [sorted(row, reverse=True) for row in rows]
    params = dict(n_bins=draw(st.integers(1, 4)), strategy=draw(st.sampled_from(["quantile", "uniform"])),
                  min_budget=draw(st.integers(0, 2)))
    return np.array(rows), monotone, params


def _spend(alloc):
    return int(alloc.bin_counts_ @ alloc.bin_budgets_)


@SETTINGS
@given(binned_price_instances(), st.sampled_from(DYADIC_PRICES), st.sampled_from(DYADIC_PRICES),
       st.floats(0, 1))
def test_binned_price_mode_properties(instance, p1, p2, fraction):
    X, monotone, params = instance
    n, min_budget = X.shape[0], params["min_budget"]
    # a fixed price buys fewer units the higher it is, within the bounds
    p1, p2 = sorted([p1, p2])
    low = BinnedAllocator(price=p1, **params).fit(X)
    high = BinnedAllocator(price=p2, **params).fit(X)
    assert low.price_ == p1
    assert np.all((min_budget <= high.bin_budgets_) & (high.bin_budgets_ <= low.bin_budgets_)
                  & (low.bin_budgets_ <= 4))
    np.testing.assert_array_equal(low.bin_edges_, high.bin_edges_)
    # price="fit": within budget, and the largest spend a price reaches there
    budget = min_budget + fraction * (4 - min_budget)
    total = _greedy.total_units(budget, n)
    fitted = BinnedAllocator(budget, price="fit", **params).fit(X)
    assert _spend(fitted) <= total
    if fitted.price_ > 0:
        # one float lower is the value of the best units left out: buying them overspends
        below = BinnedAllocator(price=float(np.nextafter(fitted.price_, -1)), **params).fit(X)
        assert _spend(below) > total
    # the learnt price, given as a number, gives the same bin budgets
    again = BinnedAllocator(price=fitted.price_, **params).fit(X)
    np.testing.assert_array_equal(again.bin_budgets_, fitted.bin_budgets_)
    # where the budget is exactly a price's spend on the fit data, price="fit"
    # buys that price's units, and for non-increasing rows so does the budget
    # mode (the price's allocation is then the unique optimum, by Lagrangian
    # duality), with the exact solver and with the price solution
    exact_budget = _spend(low) / n
    assert _greedy.total_units(exact_budget, n) == _spend(low)
    priced = BinnedAllocator(exact_budget, price="fit", **params).fit(X)
    np.testing.assert_array_equal(priced.bin_budgets_, low.bin_budgets_)
    if monotone:
        budget_mode = BinnedAllocator(exact_budget, **params).fit(X)
        np.testing.assert_array_equal(budget_mode.bin_budgets_, low.bin_budgets_)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_binned, "DP_MAX_BYTES", 0)
            np.testing.assert_array_equal(BinnedAllocator(exact_budget, **params).fit(X).bin_budgets_,
                                          low.bin_budgets_)


def _price_example():
    """Two bins of two queries; bin 1's mean rewards (0.625, 0.125, 0.25) increase at
    the third unit and are ironed to (0.625, 0.1875, 0.1875)."""
    return np.array([
        [0.25, 0.25, 0.125],   # bin 0: mean (0.3125, 0.125, 0.125)
        [0.375, 0.0, 0.125],
        [0.5, 0.125, 0.375],   # bin 1
        [0.75, 0.125, 0.125],
    ])


@pytest.mark.parametrize("price, min_budget, expected", [
    (0.7, 0, [0, 0]),          # nothing is worth that much
    (0.625, 0, [0, 1]),        # a unit worth exactly the price is bought
    (0.25, 0, [1, 1]),         # bin 1's third raw reward is 0.25, but its ironed value 0.1875
    (0.1875, 0, [1, 3]),       # the two ironed units of bin 1 together
    (0.125, 0, [3, 3]),
    (0.0, 0, [3, 3]),
    (0.7, 1, [1, 1]),          # min_budget is given whatever the price
    (0.2, 1, [1, 1]),          # beyond min_budget bin 1's units (0.125, 0.25) iron to 0.1875
    (0.1875, 1, [1, 3]),
])
def test_binned_fixed_price_by_hand(price, min_budget, expected):
    X = _price_example()
    # budget is ignored (not even checked) at a fixed price
    alloc = BinnedAllocator(budget=99, n_bins=2, min_budget=min_budget, price=price).fit(X)
    np.testing.assert_array_equal(alloc.bin_edges_, [0.25, 0.4375, 0.75])
    np.testing.assert_array_equal(alloc.bin_budgets_, expected)
    assert alloc.price_ == price and alloc.expected_budget_ == np.mean(expected)
    # transform: one query at a time, the budget of its bin
    np.testing.assert_array_equal(alloc.transform(X).ravel(), np.repeat(expected, 2))
    assert alloc.transform([[0.9, 0.0, 0.0]])[0, 0] == expected[1]


def test_binned_fitted_price_by_hand_and_the_tie_rule():
    X = _price_example()
    # ladder of (value, bin): (0.625, 1), (0.3125, 0), (0.1875, 1) x 2, (0.125, 0) x 2;
    # each unit costs 2 (two queries per bin), so the prices spend 2, 4, 8 and 12
    alloc = BinnedAllocator(budget=2, n_bins=2, price="fit").fit(X)  # 8 units
    np.testing.assert_array_equal(alloc.bin_budgets_, [1, 3])
    assert alloc.price_ == np.nextafter(0.125, 1)  # just above the units left out
    # 6 units: the two tied units of bin 1 (4 units) no longer fit, and a price buys
    # both or neither, so it spends 4; the budget mode fills the 6 units exactly
    alloc = BinnedAllocator(budget=1.5, n_bins=2, price="fit").fit(X)
    np.testing.assert_array_equal(alloc.bin_budgets_, [1, 1])
    assert alloc.price_ == np.nextafter(0.1875, 1) and alloc.expected_budget_ == 1.0
    assert BinnedAllocator(budget=1.5, n_bins=2).fit(X).expected_budget_ == 1.5
    # every unit worth at least zero fits: price 0
    alloc = BinnedAllocator(budget=3, n_bins=2, price="fit").fit(X)
    assert alloc.price_ == 0.0 and alloc.bin_budgets_.tolist() == [3, 3]
    # budget 0 buys nothing, at a price just above the best unit
    alloc = BinnedAllocator(budget=0, n_bins=2, price="fit").fit(X)
    assert alloc.price_ == np.nextafter(0.625, 1) and alloc.bin_budgets_.tolist() == [0, 0]


def test_binned_fixed_price_uses_empirical_rewards_from_y():
    # the probe says bin 0 (low predictions) is hard; y says it is always solved
    X = np.array([[0.1], [0.2], [0.8], [0.9]])
    y = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    alloc = BinnedAllocator(n_bins=2, max_budget=4, kind="success_prob", price=0.1).fit(X, y)
    # bin 0: the first sample always succeeds, later ones add nothing; bin 1: one
    # query in two succeeds once in four samples, pass@k = k/4, so 1/8 per sample
    np.testing.assert_array_equal(alloc.bin_marginal_rewards_, [[1, 0, 0, 0], [0.125] * 4])
    np.testing.assert_array_equal(alloc.bin_budgets_, [1, 4])
    # from the predictions alone: bin 0's units are worth 0.15, 0.1275, 0.108, 0.092
    # and bin 1's 0.85, 0.125, 0.0205, ...
    predicted = BinnedAllocator(n_bins=2, max_budget=4, kind="success_prob", price=0.1).fit(X)
    np.testing.assert_array_equal(predicted.bin_budgets_, [3, 2])


@pytest.mark.parametrize("budget", [1, 2.5, 4, 8])
def test_binned_fitted_price_spends_budget_on_a_stream(budget):
    # held-out predictions of a noisy probe and their Bernoulli outcomes; a stream
    # from the same mix then spends about budget, decided query by query
    rng = np.random.default_rng(int(budget * 10))

    def queries(n):
        lam = _realistic_success_prob(rng, n)
        return np.clip(lam + rng.normal(0, 0.05, n), 0, 1)[:, None], lam

    pred, lam = queries(2000)
    R = (rng.random((2000, 16)) < lam[:, None]).astype(float)
    alloc = BinnedAllocator(budget, n_bins=10, max_budget=16, kind="success_prob", price="fit")
    alloc.fit(pred, R)
    assert alloc.expected_budget_ <= budget
    stream, _ = queries(3000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BudgetOverrunWarning)  # in distribution: quiet
        spent = alloc.transform(stream).ravel()
        one_by_one = [alloc.transform(x[None])[0, 0] for x in stream[:200]]
    np.testing.assert_array_equal(one_by_one, spent[:200])
    assert abs(spent.mean() - budget) <= 0.05 * budget


def test_binned_price_mode_parameters_and_pacing():
    X = _price_example()
    for price in (-0.1, "auto", np.nan, np.inf):
        with pytest.raises(ValueError, match="'price' parameter of BinnedAllocator"):
            BinnedAllocator(price=price).fit(X)
    # price="fit" checks budget as the budget mode does
    with pytest.raises(ValueError, match="budget=5 must lie in"):
        BinnedAllocator(budget=5, price="fit").fit(X)
    # pacing moves the price, price mode holds it: the two are refused together,
    # also when pacing is switched on after fit
    with pytest.raises(ValueError, match="price=0.2 and pacing=True cannot be combined"):
        BinnedAllocator(price=0.2, pacing=True).fit(X)
    alloc = BinnedAllocator(n_bins=2, price="fit").fit(X)
    with pytest.raises(ValueError, match="price='fit' and pacing=True cannot be combined"):
        alloc.set_params(pacing=True).transform(X)
    alloc.set_params(pacing=False)
    # the bin budgets were solved at the price: a new price or budget needs a refit...
    with pytest.raises(ValueError, match=r"changed since fit \(budget: 1.0 -> 2\).*fit again"):
        alloc.set_params(budget=2).transform(X)
    with pytest.raises(ValueError, match=r"changed since fit \(price: 'fit' -> 0.1\)"):
        alloc.set_params(budget=1.0, price=0.1).transform(X)
    # ...except budget at a fixed price, which ignores it
    fixed = BinnedAllocator(n_bins=2, price=0.2).fit(X)
    np.testing.assert_array_equal(fixed.set_params(budget=3).transform(X).ravel(), [1, 1, 1, 1])
    # a refit in budget mode drops price_
    assert not hasattr(fixed.set_params(price=None, budget=1).fit(X), "price_")


def test_binned_price_mode_spend_guard_compares_with_the_held_out_spend():
    held_out, stream = drifted_stream()
    # at a fixed price budget means nothing: in distribution the guard is quiet
    # whatever budget says, and it compares a drifted batch with the held-out spend
    alloc = drift_allocator(price=0.05).fit(held_out)
    fresh = np.random.default_rng(13).beta(1, 3, size=(1000, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert alloc.transform(fresh).mean() == pytest.approx(alloc.expected_budget_, rel=0.05)
    assert abs(alloc.expected_budget_ / 4 - 1) > 0.05  # far from budget=4, yet quiet
    with pytest.warns(BudgetOverrunWarning) as record:
        spent = alloc.transform(stream[:500]).mean()
    message = str(record[0].message)
    assert f"spent {spent:.4g} units per query" in message
    assert f"the held-out queries spent {alloc.expected_budget_:.4g} at price_=0.05 (price=0.05)" in message
    assert "set price=None and pacing=True" in message
    # price="fit": the reference is the held-out spend at the learnt price
    fitted = drift_allocator(price="fit").fit(held_out)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted.transform(fresh)
    with pytest.warns(BudgetOverrunWarning, match="at price_=0.0"):
        fitted.transform(stream[:500])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        drift_allocator(price="fit", spend_tolerance=None).fit(held_out).transform(stream)


def test_binned_price_mode_clone_get_params_and_persistence(tmp_path):
    import pickle

    from skadapt import persistence

    lam = np.random.default_rng(18).uniform(size=(300, 1))
    alloc = BinnedAllocator(budget=2, n_bins=5, max_budget=8, kind="success_prob", price="fit")
    assert alloc.get_params()["price"] == "fit"
    assert clone(alloc).price == "fit" and not hasattr(clone(alloc.fit(lam)), "price_")
    for loaded in (pickle.loads(pickle.dumps(alloc)), (persistence.save(alloc, tmp_path / "a"),
                                                       persistence.load(tmp_path / "a"))[1]):
        assert loaded.price_ == alloc.price_ and loaded.price == "fit"
        np.testing.assert_array_equal(loaded.transform(lam), alloc.transform(lam))
