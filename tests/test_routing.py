"""Tests of skadapt.routing: the Router's exact shares, monotonicity and tie rule,
agreement with GreedyAllocator(max_budget=1), the threshold modes, the Eq. 11
and Eq. 13-14 formulas against direct computations, the exact routing curve,
and bad input."""

import itertools
import os
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone

import skadapt
from skadapt import GreedyAllocator, metrics, routing, targets
from skadapt.routing import (
    Router,
    best_of_k_preference,
    preference_from_success,
    routing_curve,
)

SETTINGS = settings(
    max_examples=int(os.environ.get("SKADAPT_HYPOTHESIS_EXAMPLES", "80")),
    deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Few distinct values, so that ties are common; negative ones included.
scores_st = st.lists(st.sampled_from([-1.0, -0.25, 0.0, 0.1, 0.5, 0.5, 0.9, 2.0]),
                     min_size=1, max_size=40).map(np.array)
fraction_st = st.floats(0, 1, allow_nan=False)


def routed(scores, **params):
    return Router(**params).fit_transform(np.asarray(scores, dtype=float)[:, None]).ravel()


# ---------------------------------------------------------------- the decision


@SETTINGS
@given(scores_st, fraction_st)
def test_fraction_is_exact_and_takes_the_largest_scores(scores, fraction):
    decision = routed(scores, fraction=fraction)
    n_strong = int(np.floor(fraction * scores.size * (1 + 1e-12) + 1e-12))
    assert decision.dtype == np.int64
    assert set(np.unique(decision)) <= {0, 1}
    assert decision.sum() == n_strong
    if 0 < n_strong < scores.size:
        assert scores[decision == 1].min() >= scores[decision == 0].max()


@SETTINGS
@given(scores_st, fraction_st, fraction_st)
def test_monotone_in_fraction(scores, a, b):
    low, high = sorted((a, b))
    # a larger share routes a superset of queries
    assert np.all(routed(scores, fraction=low) <= routed(scores, fraction=high))


def test_ties_go_to_the_smaller_row_index():
    scores = np.array([0.2, 0.7, 0.5, 0.7, 0.5, 0.5])
    np.testing.assert_array_equal(routed(scores, fraction=3 / 6), [0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(routed(scores, fraction=4 / 6), [0, 1, 1, 1, 1, 0])
    # decimal shares round to whole queries as the allocators do: 0.29 * 100 is 29
    assert routed(np.linspace(1, 0, 100), fraction=0.29).sum() == 29


@SETTINGS
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=30, unique=True),
       fraction_st, st.randoms(use_true_random=False))
def test_permutation_equivariant_without_ties(values, fraction, rnd):
    scores = np.array(values)
    perm = np.arange(scores.size)
    rnd.shuffle(perm)
    np.testing.assert_array_equal(routed(scores[perm], fraction=fraction),
                                  routed(scores, fraction=fraction)[perm])


@SETTINGS
@given(scores_st, fraction_st)
def test_agrees_with_greedy_allocator_on_nonnegative_scores(scores, fraction):
    scores = np.abs(scores)  # ties kept, including ties at zero
    greedy = GreedyAllocator(budget=fraction, max_budget=1).fit_transform(scores[:, None])
    np.testing.assert_array_equal(routed(scores, fraction=fraction), greedy.ravel())


def test_negative_scores_are_routed_where_the_allocator_refuses():
    gain = np.array([0.3, -0.1, -0.2, 0.1])
    greedy = GreedyAllocator(budget=0.75, max_budget=1).fit_transform(gain[:, None]).ravel()
    np.testing.assert_array_equal(greedy, [1, 0, 0, 1])  # never pays for a negative gain
    np.testing.assert_array_equal(routed(gain, fraction=0.75), [1, 1, 0, 1])
    # the documented way to skip negative gains
    np.testing.assert_array_equal(routed(gain, threshold=0.0), [1, 0, 0, 1])


def test_fixed_threshold_decides_one_query_at_a_time():
    scores = np.array([0.3, 0.5, 0.49, 0.9, 0.5])
    router = Router(fraction=0.0, threshold=0.5).fit(scores[:, None])  # fraction unused
    np.testing.assert_array_equal(router.transform(scores[:, None]).ravel(), [0, 1, 0, 1, 1])
    assert router.threshold_ == 0.5
    assert router.fraction_ == pytest.approx(0.6)
    # each decision depends only on its own score
    for i in range(scores.size):
        assert router.transform(scores[i:i + 1, None])[0, 0] == (scores[i] >= 0.5)


@SETTINGS
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=40, unique=True),
       fraction_st)
def test_learned_threshold_reproduces_the_share_on_fit_data(values, fraction):
    scores = np.array(values)[:, None]
    router = Router(fraction=fraction, threshold="fit").fit(scores)
    batch = routed(scores[:, 0], fraction=fraction)
    np.testing.assert_array_equal(router.transform(scores).ravel(), batch)
    assert router.fraction_ == pytest.approx(batch.mean())
    if batch.any():
        assert router.threshold_ == scores[batch == 1].min()
    else:
        assert router.threshold_ == np.inf


def test_learned_threshold_with_ties_and_on_new_batches():
    fit_scores = np.array([[0.1], [0.4], [0.4], [0.8]])
    router = Router(fraction=0.5, threshold="fit").fit(fit_scores)
    assert router.threshold_ == 0.4
    assert router.fraction_ == 0.75  # the tie at the threshold routes a third query
    new = np.array([[0.39], [0.4], [0.95]])
    np.testing.assert_array_equal(router.transform(new).ravel(), [0, 1, 1])
    np.testing.assert_array_equal(router.transform(new[::-1]).ravel(), [1, 1, 0])


def test_set_params_after_fit_takes_effect():
    scores = np.array([[0.1], [0.2], [0.3], [0.4]])
    router = Router(fraction=0.5).fit(scores)
    router.set_params(fraction=0.25)
    np.testing.assert_array_equal(router.transform(scores).ravel(), [0, 0, 0, 1])
    router.set_params(threshold=0.15)
    np.testing.assert_array_equal(router.transform(scores).ravel(), [0, 1, 1, 1])
    router.set_params(threshold=None, fraction=2.0)
    with pytest.raises(ValueError, match="'fraction' parameter of Router"):
        router.transform(scores)


@pytest.mark.parametrize("params, match", [
    ({"fraction": 1.5}, r"'fraction' parameter of Router must be a float in the range \[0.0, 1.0\]"),
    ({"fraction": -0.1}, r"'fraction' parameter of Router"),
    ({"fraction": np.nan}, r"'fraction' parameter of Router"),
    ({"fraction": "half"}, r"'fraction' parameter of Router"),
    ({"fraction": True}, r"'fraction' parameter of Router must be a number, not a bool"),
    ({"threshold": "auto"}, r"'threshold' parameter of Router must be None, a str among \{'fit'\}"),
    ({"threshold": np.inf}, r"'threshold' parameter of Router"),
    ({"threshold": np.nan}, r"'threshold' parameter of Router"),
    ({"threshold": False}, r"'threshold' parameter of Router must be a number, not a bool"),
])
def test_bad_parameters_name_the_parameter(params, match):
    with pytest.raises(ValueError, match=match):
        Router(**params).fit([[0.5], [0.2]])


def test_bad_scores():
    with pytest.raises(ValueError, match=r"one routing score per query.*got 2 columns"):
        Router().fit([[0.5, 0.1], [0.2, 0.3]])
    with pytest.raises(ValueError, match="NaN"):
        Router().fit([[0.5], [np.nan]])
    with pytest.raises(ValueError, match="infinity"):
        Router().fit([[0.5], [np.inf]])
    with pytest.raises(ValueError, match="Expected 2D array"):
        Router().fit([0.5, 0.2])
    router = Router().fit([[0.5], [0.2]])
    with pytest.raises(ValueError, match="X has 2 features, but Router is expecting 1"):
        router.transform([[0.5, 0.1]])


def test_estimator_plumbing():
    X = np.array([[0.2], [0.9], [0.4], [0.6]])
    router = Router(fraction=0.5, threshold="fit").fit(X)
    copy = clone(router)
    assert copy.get_params() == {"fraction": 0.5, "threshold": "fit"}
    assert not hasattr(copy, "threshold_")
    loaded = pickle.loads(pickle.dumps(router))
    assert loaded.threshold_ == router.threshold_ == 0.6
    np.testing.assert_array_equal(loaded.transform(X), router.transform(X))
    frame = Router(fraction=0.5).set_output(transform="pandas").fit_transform(X)
    assert list(frame.columns) == ["routed"]
    np.testing.assert_array_equal(frame["routed"], [0, 1, 0, 1])


@pytest.mark.parametrize("params", [{"fraction": 0.3}, {"fraction": 0.3, "threshold": "fit"},
                                    {"threshold": 0.0}])
def test_one_column_estimator_behaviour(params, tmp_path):
    """What scikit-learn's common checks cover (they feed several columns; see test_common.py)."""
    import pandas as pd
    from sklearn.exceptions import NotFittedError

    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 1))
    router = Router(**params)
    with pytest.raises(NotFittedError):
        router.transform(X)
    assert router.fit(X) is router  # fit returns self
    assert router.get_params() == Router(**params).get_params()  # parameters untouched
    assert router.n_features_in_ == 1
    expected = router.transform(X)
    state = pickle.dumps(router.__dict__)
    router.transform(X)
    assert pickle.dumps(router.__dict__) == state  # transform changes nothing
    np.testing.assert_array_equal(clone(router).fit(X).transform(X), expected)  # idempotent
    np.testing.assert_array_equal(router.fit_transform(X), expected)
    # containers and dtypes give the same decisions
    memmap = np.memmap(tmp_path / "X.dat", dtype=np.float64, mode="w+", shape=X.shape)
    memmap[:] = X
    readonly = np.memmap(tmp_path / "X.dat", dtype=np.float64, mode="r", shape=X.shape)
    for variant in (X.tolist(), np.asfortranarray(X), X.astype(object), readonly,
                    pd.DataFrame(X, columns=["score"])):
        np.testing.assert_array_equal(Router(**params).fit(variant).transform(variant), expected)
    ints = np.arange(10)[:, None]
    np.testing.assert_array_equal(Router(**params).fit(ints).transform(ints),
                                  Router(**params).fit(ints.astype(np.float32)).transform(ints))
    # a single query
    assert Router(**params).fit(X[:1]).transform(X[:1]).shape == (1, 1)
    if "threshold" in params:
        # decided one query at a time: invariant to the batch around it
        perm = rng.permutation(40)
        np.testing.assert_array_equal(router.transform(X[perm]), expected[perm])
        np.testing.assert_array_equal(router.transform(X[:7]), expected[:7])


# ---------------------------------------------------------------- Eq. 11


def test_preference_from_success_is_eq11_over_all_pairs():
    rng = np.random.default_rng(0)
    R_strong = (rng.uniform(size=(30, 5)) < rng.uniform(size=(30, 1))).astype(float)
    R_weak = (rng.uniform(size=(30, 3)) < rng.uniform(size=(30, 1))).astype(float)
    # Eq. 11 computed pair by pair: E[sigmoid(r_S - r_W)] over all sample pairs
    direct = np.array([
        np.mean([1 / (1 + np.exp(-(s - w))) for s in R_strong[i] for w in R_weak[i]])
        for i in range(30)
    ])
    closed = preference_from_success(targets.success_rate(R_strong), targets.success_rate(R_weak))
    np.testing.assert_allclose(closed, direct, atol=1e-12)
    np.testing.assert_allclose(routing.preference_probability(R_strong, R_weak), direct, atol=1e-12)
    np.testing.assert_allclose(preference_from_success([1.0, 0.0, 0.3], [0.0, 1.0, 0.3]),
                               [1 / (1 + np.exp(-1)), 1 / (1 + np.exp(1)), 0.5])


def test_preference_from_success_bad_input():
    with pytest.raises(ValueError, match="p_strong must lie in"):
        preference_from_success([1.2], [0.5])
    with pytest.raises(ValueError, match="p_weak contains NaN"):
        preference_from_success([0.2], [np.nan])
    with pytest.raises(ValueError, match="same length.*got 2 and 1"):
        preference_from_success([0.2, 0.3], [0.5])


# ---------------------------------------------------------------- Eq. 13-14


def best_of_k_by_enumeration(lam, k):
    """E[max of k independent 0/1 samples], summing over all 2**k outcomes."""
    total = 0.0
    for outcome in itertools.product([0, 1], repeat=k):
        prob = np.prod([lam if o else 1 - lam for o in outcome])
        total += prob * max(outcome)
    return total


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_transfer_success_prob_matches_the_paper(k):
    lam = np.array([0.0, 0.05, 0.3, 0.5, 0.8, 1.0])
    # Eq. 13: best-of-k minus one sample; Eq. 14: its sigmoid
    difficulty = np.array([best_of_k_by_enumeration(p, k) - p for p in lam])
    expected = 1 / (1 + np.exp(-difficulty))
    np.testing.assert_allclose(best_of_k_preference(lam, k), expected, rtol=1e-12)
    np.testing.assert_allclose(best_of_k_preference(lam[:, None], k), expected, rtol=1e-12)


def test_transfer_marginal_matches_exact_best_of_k_on_samples():
    rng = np.random.default_rng(3)
    R = rng.normal(size=(25, 8))
    k = 4
    # Eq. 13 directly: the exact expected best-of-k reward minus one sample's
    difficulty = targets.expected_max_reward(R, k) - targets.expected_max_reward(R, 1)
    delta = targets.marginal_rewards(R, 6)
    np.testing.assert_allclose(best_of_k_preference(delta, k, kind="marginal"),
                               1 / (1 + np.exp(-difficulty)), rtol=1e-12)


def test_transfer_kinds_agree_and_keep_the_demo_numbers():
    lam = np.random.default_rng(4).uniform(size=10_000)
    delta = targets.geometric_marginal_rewards(lam, 5)
    np.testing.assert_allclose(best_of_k_preference(delta, 5, kind="marginal"),
                               best_of_k_preference(lam, 5), rtol=1e-12)
    # bit for bit the expression the demo used before it called this function
    from scipy.special import expit
    np.testing.assert_array_equal(best_of_k_preference(lam, 5), expit((1 - (1 - lam) ** 5) - lam))
    assert np.all(best_of_k_preference(lam, 1) == 0.5)


@pytest.mark.parametrize("call, match", [
    (lambda: best_of_k_preference([0.5], 0), r"k must be an integer >= 1; got 0"),
    (lambda: best_of_k_preference([0.5], 2.5), r"k must be an integer >= 1; got 2.5"),
    (lambda: best_of_k_preference([0.5], 2, kind="preference"), r"kind must be 'success_prob' or 'marginal'"),
    (lambda: best_of_k_preference([1.5], 2), r"X \(success probabilities\) must lie in \[0, 1\]"),
    (lambda: best_of_k_preference([[0.5, 0.2]], 2), r"X \(success probabilities\) must have shape"),
    (lambda: best_of_k_preference([[0.5, 0.2]], 3, kind="marginal"), r"k=3 but X \(marginal rewards\) has 2 column"),
    (lambda: best_of_k_preference([[0.5, np.nan]], 2, kind="marginal"), r"NaN or infinite values in row\(s\) \[0\]"),
    (lambda: best_of_k_preference([0.5, 0.2], 1, kind="marginal"), r"must be a non-empty 2-D array"),
])
def test_transfer_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------- evaluation


@SETTINGS
@given(st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_routing_curve_is_routing_reward_of_the_router(n, seed):
    rng = np.random.default_rng(seed)
    R_strong = rng.integers(0, 2, size=(n, 3)).astype(float)
    R_weak = rng.integers(0, 2, size=(n, 2)).astype(float)
    R_strong[rng.uniform(size=(n, 3)) < 0.2] = np.nan
    R_strong[:, 0] = rng.integers(0, 2, size=n)  # every row keeps an observed sample
    scores = rng.integers(0, 3, size=n).astype(float)  # ties
    curve = routing_curve(R_strong, R_weak, scores)
    np.testing.assert_allclose(curve.strong_fractions, np.arange(n + 1) / n)
    for s in range(n + 1):
        decision = routed(scores, fraction=s / n)
        np.testing.assert_allclose(curve.quality[s],
                                   metrics.routing_reward(R_strong, R_weak, decision), atol=1e-12)
    assert curve.weak_quality == pytest.approx(metrics.routing_reward(R_strong, R_weak, np.zeros(n)))
    assert curve.strong_quality == pytest.approx(metrics.routing_reward(R_strong, R_weak, np.ones(n)))
    # the oracle (true gain) is at least as good as any scores at every share
    oracle = routing_curve(R_strong, R_weak, np.nanmean(R_strong, 1) - np.nanmean(R_weak, 1))
    assert np.all(oracle.quality >= curve.quality - 1e-12)


def test_routing_curve_feeds_apgr_and_cpt():
    rng = np.random.default_rng(5)
    p_weak = rng.uniform(size=400)
    p_strong = np.clip(p_weak + rng.uniform(-0.05, 0.4, size=400), 0, 1)
    R_strong, R_weak = p_strong[:, None], p_weak[:, None]
    good = routing_curve(R_strong, R_weak, p_strong - p_weak)
    noise = routing_curve(R_strong, R_weak, rng.normal(size=400))
    assert routing.apgr(**good) > 0.7 > routing.apgr(**noise)
    assert routing.cpt(level=0.5, **good) < routing.cpt(level=0.5, **noise)
    coarse = routing_curve(R_strong, R_weak, p_strong - p_weak, fractions=[0.5, 0.1, 0.5001, 1.0])
    # shares that round to the same number of strong calls give one point, increasing
    np.testing.assert_allclose(coarse.strong_fractions, [0.1, 0.5, 1.0])
    np.testing.assert_allclose(coarse.quality, good.quality[[40, 200, 400]])


def test_routing_curve_bad_input():
    R = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"scores must hold one value per query, shape \(3,\)"):
        routing_curve(R, R, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"scores contains NaN or infinite values at index \[1\]"):
        routing_curve(R, R, [1.0, np.nan, 0.0])
    with pytest.raises(ValueError, match=r"fractions must lie in \[0, 1\]"):
        routing_curve(R, R, [1.0, 2.0, 0.0], fractions=[0.5, 1.2])
    with pytest.raises(ValueError, match="same number of rows"):
        routing_curve(R, np.ones((2, 2)), [1.0, 2.0, 0.0])


# ---------------------------------------------------------------- the public home


def test_public_home():
    assert routing.preference_probability is targets.preference_probability
    for name in ("apgr", "cpt", "routing_reward", "random_routing"):
        assert getattr(routing, name) is getattr(metrics, name)
    assert skadapt.Router is Router
    assert skadapt.routing is routing
    assert {"Router", "routing"} <= set(skadapt.__all__)
    assert set(routing.__all__) <= set(dir(routing))


def test_best_of_k_preference_step_in_a_pipeline():
    from skadapt.policy import make_policy
    from skadapt.routing import BestOfKPreference

    rng = np.random.default_rng(0)
    lam = rng.random((50, 1))
    delta = lam * (1 - lam) ** np.arange(6)
    step = BestOfKPreference(k=4, kind="marginal").fit(delta)
    np.testing.assert_allclose(step.transform(delta).ravel(),
                               best_of_k_preference(delta, 4, kind="marginal"))
    # on success probabilities: the same scores as from the curves they imply
    np.testing.assert_allclose(
        BestOfKPreference(k=4, kind="success_prob").fit_transform(lam), step.transform(delta))
    assert step.get_feature_names_out().tolist() == ["best_of_k_preference"]
    again = pickle.loads(pickle.dumps(step))
    np.testing.assert_array_equal(again.transform(delta), step.transform(delta))
    # probe -> transfer -> router: the fraction of the largest transferred scores
    policy = make_policy(BestOfKPreference(k=4), Router(0.3)).fit(delta)
    routed = policy.transform(delta).ravel()
    assert routed.sum() == 15
    top = np.argsort(-best_of_k_preference(delta, 4, kind="marginal"), kind="stable")[:15]
    assert set(np.flatnonzero(routed)) == set(top)
    with pytest.raises(ValueError, match="k=7"):
        BestOfKPreference(k=7).fit(delta)
    with pytest.raises(ValueError, match="one success probability per query; got 6 columns"):
        BestOfKPreference(kind="success_prob").fit(delta)
    with pytest.raises(ValueError, match="'k' parameter"):
        BestOfKPreference(k=0).fit(delta)
    with pytest.raises(ValueError, match="expecting 6 features"):
        step.transform(delta[:, :5])
