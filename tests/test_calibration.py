"""CalibratedCurves: binned average exact curves of held-out queries (issue 9, item 3)."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from skadapt import GreedyAllocator, SuccessProbClassifier, persistence
from skadapt.calibration import CalibratedCurves
from skadapt.policy import make_policy
from skadapt.targets import marginal_rewards


def _probe(**params):
    return SuccessProbClassifier(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01,
                                 random_state=0, **params)


def _transferable(n=360, m=8, n_groups=6, seed=0):
    """Difficulty set by the first feature, the same rule in every group."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    lam = 1 / (1 + np.exp(-2.5 * X[:, 0]))
    R = (rng.random((n, m)) < lam[:, None]).astype(float)
    return X, R, np.repeat(np.arange(n_groups), n // n_groups)


def _group_identity(n_groups=8, per_group=50, m=8, seed=0):
    """Each group has its own success rate and its own region of feature space: a
    probe learns which group a query belongs to, which says nothing about a new group."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(n_groups, 4))
    rates = rng.permutation(np.linspace(0.02, 0.9, n_groups))
    groups = np.repeat(np.arange(n_groups), per_group)
    X = centres[groups] + rng.normal(scale=0.3, size=(len(groups), 4))
    R = (rng.random((len(groups), m)) < rates[groups, None]).astype(float)
    return X, R, groups


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_bin_curves_are_the_average_exact_curves_of_their_held_out_queries():
    X, R, groups = _transferable()
    cal = CalibratedCurves(_probe(), cv=3, n_bins=4).fit(X, R, groups=groups)
    exact = marginal_rewards(R, R.shape[1])
    bins = np.clip(np.searchsorted(cal.bin_edges_, cal.oof_key_, side="right") - 1, 0,
                   cal.n_bins_ - 1)
    assert cal.n_bins_ == 4 and cal.bin_counts_.sum() == len(X)
    for b in range(cal.n_bins_):
        np.testing.assert_allclose(cal.bin_curves_[b], exact[bins == b].mean(0), atol=1e-12)
    # the held-out predictions rank queries across groups: the bins' success rates rise
    assert np.all(np.diff(cal.bin_curves_[:, 0]) > 0)
    assert np.all(np.diff(cal.bin_curves_, axis=1) <= 1e-12)  # non-increasing curves
    # fit_transform is out of fold; transform averages the fold estimators' bins
    np.testing.assert_allclose(cal.fit_transform(X, R, groups=groups), cal.bin_curves_[bins])
    assert len(cal.estimators_) == 3
    out = cal.transform(X[:5])
    assert out.shape == (5, R.shape[1])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_ranking_that_does_not_transfer_gives_flat_curves_by_group_but_not_at_random():
    X, R, groups = _group_identity()
    by_group = CalibratedCurves(_probe(), cv=4, n_bins=4).fit(X, R, groups=groups)
    at_random = CalibratedCurves(_probe(), cv=4, n_bins=4, random_state=0).fit(X, R)
    spread = lambda cal: np.ptp(cal.bin_curves_[:, 0])  # noqa: E731
    # at random the probe recognises each query's group: the bins separate easy from hard
    assert spread(at_random) > 0.6
    # a held-out group's prediction says little: the bins' success rates stay close
    assert spread(by_group) < 0.5 * spread(at_random)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_in_a_policy_pipeline_with_groups_and_the_greedy_allocator():
    X, R, groups = _transferable()
    policy = make_policy(CalibratedCurves(_probe(), cv=3, n_bins=5),
                         GreedyAllocator(budget=2, max_budget=8, kind="marginal"))
    policy.fit(X, R, calibratedcurves__groups=groups)
    budgets = policy.transform(X)
    assert int(budgets.sum()) == 2 * len(X)
    # harder queries (low first feature) get fewer samples on average than easy ones
    lo, hi = X[:, 0] < -1, (X[:, 0] > 0) & (X[:, 0] < 1)
    assert budgets[lo].mean() < budgets[hi].mean()
    names = policy[:-1].get_feature_names_out()
    assert names[0] == "marginal_reward_1" and len(names) == 8


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_ensemble_false_refits_one_estimator_and_max_budget_shortens_the_curves():
    X, R, groups = _transferable(n=240)
    cal = CalibratedCurves(_probe(), cv=3, n_bins=3, ensemble=False, max_budget=4)
    cal.fit(X, R, groups=groups)
    assert len(cal.estimators_) == 1 and cal.bin_curves_.shape == (3, 4)
    assert cal.transform(X).shape == (240, 4)
    assert cal.n_features_in_ == 3


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sample_weight_weights_the_bins_and_the_probe():
    X, R, groups = _transferable(n=240)
    w = np.ones(len(X))
    w[::2] = 0.0
    cal = CalibratedCurves(_probe(), cv=3, n_bins=1).fit(X, R, groups=groups, sample_weight=w)
    exact = marginal_rewards(R, R.shape[1])
    np.testing.assert_allclose(cal.bin_curves_[0], exact[1::2].mean(0), atol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_success_probabilities_as_y_give_geometric_curves():
    X, R, _ = _transferable(n=240)
    lam = R.mean(1)
    cal = CalibratedCurves(_probe(), cv=3, n_bins=2, max_budget=3, random_state=0).fit(X, lam)
    bins = np.clip(np.searchsorted(cal.bin_edges_, cal.oof_key_, side="right") - 1, 0, 1)
    geometric = lam[:, None] * (1 - lam[:, None]) ** np.arange(3)
    np.testing.assert_allclose(cal.bin_curves_[1], geometric[bins == 1].mean(0), atol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pickle_persistence_and_clone(tmp_path):
    X, R, groups = _transferable(n=240)
    cal = CalibratedCurves(_probe(), cv=3, n_bins=3).fit(X, R, groups=groups)
    again = pickle.loads(pickle.dumps(cal))
    np.testing.assert_array_equal(again.transform(X), cal.transform(X))
    persistence.save(cal, tmp_path / "curves")
    np.testing.assert_array_equal(persistence.load(tmp_path / "curves").transform(X),
                                  cal.transform(X))
    assert clone(cal).get_params()["n_bins"] == 3


@pytest.mark.parametrize("kwargs, fit, match", [
    ({"n_bins": 0}, {}, "n_bins"),
    ({"cv": 7}, {"groups": np.repeat(np.arange(6), 40)}, "at least 7 groups"),
    ({"max_budget": 9}, {}, "max_budget=9"),
    ({}, {"groups": np.arange(5)}, r"groups must have shape \(240,\)"),
    ({}, {"sample_weight": -np.ones(240)}, "sample_weight"),
])
def test_bad_input_names_the_problem(kwargs, fit, match):
    X, R, _ = _transferable(n=240)
    with pytest.raises(ValueError, match=match):
        CalibratedCurves(_probe(), **kwargs).fit(X, R, **fit)


def test_bad_y_names_the_problem():
    X, R, _ = _transferable(n=240)
    with pytest.raises(ValueError, match="y has 239 rows"):
        CalibratedCurves(_probe()).fit(X, R[:-1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        CalibratedCurves(_probe()).fit(X, np.full(240, 2.0))
    with pytest.raises(ValueError, match="shape"):
        CalibratedCurves(_probe()).fit(X, np.zeros((240, 2, 2)))
