"""Tests of skadapt.probes and the shared torch machinery (skadapt._heads, _networks,
_training, _torch_state, _cross_fit)."""

import io
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, ShuffleSplit, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skadapt._devices import DeviceWarning, resolve_device
from skadapt._heads import (
    BetaBinomialHead,
    MarginalRewardHead,
    SuccessProbHead,
    success_count_targets,
)
from skadapt._networks import ProbeNetwork
from skadapt._training import make_generator, predict_batches, train_module
from skadapt.metrics import probe_report
from skadapt.probes import MarginalRewardRegressor, SuccessProbClassifier
from skadapt.targets import (
    beta_marginal_rewards,
    geometric_marginal_rewards,
    marginal_rewards,
    success_rate,
)

pytestmark = [pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
              pytest.mark.usefixtures("one_torch_thread")]


def synthetic(n, d=8, m=32, seed=0, scale=2.0):
    """x ~ N(0, I), lam = sigmoid(w.x), outcomes ~ Bernoulli(lam) m times per query."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    w *= scale / np.linalg.norm(w)
    lam = 1.0 / (1.0 + np.exp(-X @ w))
    R = (rng.random((n, m)) < lam[:, None]).astype(float)
    return X, lam, R


def small(cls=SuccessProbClassifier, **params):
    # the mechanics under test, without the tuned defaults (early stopping, the
    # neighbours' curves) unless a test asks for them
    defaults = dict(hidden_layer_sizes=(16,), max_iter=30, random_state=0,
                    early_stopping=False)
    if cls is SuccessProbClassifier:
        defaults["neighbor_curves"] = 0
    return cls(**{**defaults, **params})


def expected_calibration_error(pred, truth, n_bins=10):
    bins = np.minimum((pred * n_bins).astype(int), n_bins - 1)
    return sum(
        np.mean(bins == b) * abs(pred[bins == b].mean() - truth[bins == b].mean())
        for b in range(n_bins)
        if np.any(bins == b)
    )


# ------------------------------------------------------------------------- the bars
@pytest.mark.parametrize("seed", [0, 1])
def test_classifier_near_optimal_loss_and_calibrated(seed):
    X, lam, R = synthetic(5000, m=32, seed=seed)
    train, test = slice(0, 3000), slice(3000, None)
    clf = SuccessProbClassifier(hidden_layer_sizes=(64,), random_state=0).fit(X[train], R[train])
    pred = clf.transform(X[test])[:, 0]
    # Scored against the true lam: Opt. is then the loss of the true probabilities,
    # the achievable optimum, and loss - Opt. is the mean KL(lam || prediction).
    report = probe_report(lam[test], pred)
    assert report["loss"] - report["opt_loss"] < 0.02
    assert report["loss"] < report["avg_loss"] - 0.1
    assert expected_calibration_error(pred, lam[test]) < 0.03


def test_regressor_recovers_geometric_curves():
    X, lam, R = synthetic(5000, m=16, seed=2)
    train, test = slice(0, 3000), slice(3000, None)
    reg = MarginalRewardRegressor(8, hidden_layer_sizes=(64,), random_state=0)
    reg.fit(X[train], R[train])
    truth = geometric_marginal_rewards(lam[test], 8)
    pred = reg.predict(X[test])
    # Eq. 6 per query (summed over budgets) against the true curves (Opt. = 0), and
    # the share of the curves' variance explained.
    assert np.mean(np.sum((pred - truth) ** 2, axis=1)) < 0.005
    assert 1 - np.sum((pred - truth) ** 2) / np.sum((truth - truth.mean(0)) ** 2) > 0.95
    # q(b) (cumulative sums) within 0.06 on average at every budget (measured: 0.044 at
    # b = 8; the classifier's geometric curves reach 0.014 on the same data, since one
    # probability is easier to learn than eight numbers from noisy targets).
    assert np.abs(np.cumsum(pred, 1) - np.cumsum(truth, 1)).mean(0).max() < 0.06


def test_regressor_recovers_continuous_reward_curves():
    # Rewards ~ Uniform(0, theta(x)): E[max of j] = theta j / (j + 1), so the true
    # marginal rewards are theta / (j (j + 1)).
    rng = np.random.default_rng(3)
    n, d, m, budget = 5000, 6, 16, 8
    X = rng.normal(size=(n, d))
    theta = 1.0 / (1.0 + np.exp(-X @ (rng.normal(size=d) / np.sqrt(d) * 2)))
    R = rng.random((n, m)) * theta[:, None]
    j = np.arange(1, budget + 1)
    truth = theta[:, None] / (j * (j + 1))
    reg = MarginalRewardRegressor(budget, hidden_layer_sizes=(64,), random_state=0)
    reg.fit(X[:3000], R[:3000])
    pred = reg.predict(X[3000:])
    assert np.mean(np.sum((pred - truth[3000:]) ** 2, axis=1)) < 0.002
    assert np.abs(pred - truth[3000:]).mean() < 0.01
    assert reg.nonnegative_


# ----------------------------------------------------------- monotone parameterisation
@settings(max_examples=50, deadline=None)
@given(
    raw=st.lists(
        st.lists(st.floats(-1e4, 1e4, allow_nan=False, width=32), min_size=5, max_size=5),
        min_size=1, max_size=6,
    ),
    nonnegative=st.booleans(),
)
def test_marginal_head_is_monotone_by_construction(raw, nonnegative):
    out = MarginalRewardHead(5, nonnegative)(torch.tensor(raw, dtype=torch.float32))
    out = out.numpy().astype(np.float64)
    assert np.all(np.diff(out, axis=1) <= 0)
    if nonnegative:
        assert np.all(out >= 0)


def test_regressor_predictions_monotone_far_from_data():
    X, _, R = synthetic(300, m=8)
    reg = small(MarginalRewardRegressor, max_budget=8).fit(X, R)
    for factor in (1.0, 100.0, -1000.0):
        pred = reg.predict(X * factor)
        assert np.all(np.diff(pred, axis=1) <= 0) and np.all(pred >= 0)


def test_regressor_signed_rewards():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    R = rng.normal(loc=X[:, :1] - 1.0, size=(300, 6))
    reg = small(MarginalRewardRegressor, max_budget=4).fit(X, R)
    assert not reg.nonnegative_
    pred = reg.predict(X)
    assert np.all(np.diff(pred, axis=1) <= 0)
    assert (pred[:, 0] < 0).any()  # the mean reward is negative for many queries
    assert small(MarginalRewardRegressor, max_budget=4, nonnegative=True).fit(X, R).predict(X).min() >= 0


# ------------------------------------------------------------------ target contracts
def test_classifier_outcome_matrix_equals_soft_labels():
    X, _, R = synthetic(200, m=8)
    a = small().fit(X, R).predict_proba(X)
    b = small().fit(X, success_rate(R)).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    # missing samples are skipped, not counted as failures, and a query counts as many
    # times as it has observed samples: the rates with those counts as sample_weight
    R[0, :3] = np.nan
    counts = (~np.isnan(R)).sum(axis=1)
    a = small().fit(X, R).predict_proba(X)
    b = small().fit(X, success_rate(R), sample_weight=counts).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, small().fit(X, success_rate(R)).predict_proba(X))


def _three_forms(X, R, order="repeat"):
    """The same samples as (a) the outcome matrix, (b) rates with their counts as
    sample_weight and (c) one 0/1 label per sample with repeated rows (missing samples
    dropped), the queries in the same order."""
    counts = (~np.isnan(R)).sum(axis=1)
    if order == "repeat":  # each query's samples together
        rows = np.repeat(np.arange(len(X)), R.shape[1])
        labels = R.ravel()
    else:  # "tile": all first samples, then all second samples, ...
        rows = np.tile(np.arange(len(X)), R.shape[1])
        labels = R.T.ravel()
    seen = ~np.isnan(labels)
    return {
        "a": ((X, R), {}),
        "b": ((X, success_rate(R)), {"sample_weight": counts}),
        "c": ((X[rows[seen]], labels[seen]), {}),
    }, rows[seen]


@pytest.mark.parametrize("head", ["point", "beta"])
@pytest.mark.parametrize("order", ["repeat", "tile"])
def test_three_target_forms_give_the_same_model(head, order):
    X, _, R = synthetic(240, d=4, m=6, seed=3)
    # missing samples (fewer samples for a few queries), late enough that every query
    # still has its first row in the first round of the tiled form
    R[:5, -2:] = np.nan
    forms, rows_c = _three_forms(X, R, order)
    # the defaults that use stored outcomes (neighbours' curves) and early stopping
    params = dict(hidden_layer_sizes=(8,), max_iter=15, random_state=0, head=head, max_budget=4,
                  cv=3)
    fitted = {name: SuccessProbClassifier(**params).fit(*args, **kw)
              for name, (args, kw) in forms.items()}
    a = fitted["a"]
    assert [fitted[k].target_form_ for k in "abc"] == ["outcomes", "rates", "labels"]
    for name in "bc":
        # the queries are trained on in the same order, with the same targets and
        # weights: the same network, bit for bit
        np.testing.assert_array_equal(fitted[name].predict_proba(X), a.predict_proba(X))
        np.testing.assert_array_equal(fitted[name].predict_distribution(X),
                                      a.predict_distribution(X))
        # the stored outcomes give the neighbours the same exact curves
        np.testing.assert_allclose(fitted[name].transform(X), a.transform(X), rtol=0, atol=1e-12)
        assert fitted[name].mean_success_rate_ == pytest.approx(a.mean_success_rate_, abs=1e-15)
        assert fitted[name].loss_curve_ == a.loss_curve_
    assert a.mean_success_rate_ == pytest.approx(np.nanmean(R))
    # cross-fitting keeps a query's samples in one fold: the same folds, the same fold
    # models, one row per sample. (c)'s folds predict on the repeated rows: a float32
    # matrix product of another batch shape may round a row differently (1 ulp)
    out = {k: SuccessProbClassifier(**params).fit_transform(*args, **kw)
           for k, (args, kw) in forms.items()}
    np.testing.assert_allclose(out["b"], out["a"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["c"], out["a"][rows_c], rtol=0, atol=1e-6)


def test_shuffled_samples_give_an_equally_good_model():
    # The same samples in another order are the same loss, met in another mini-batch
    # order: the model differs by SGD noise only, so no exact equality is promised.
    X, lam, R = synthetic(400, d=4, m=8, seed=4)
    forms, _ = _three_forms(X, R)
    Xc, yc = forms["c"][0]
    perm = np.random.default_rng(0).permutation(len(yc))
    a = small(max_iter=60).fit(X, R).predict_proba(X)[:, 1]
    c = small(max_iter=60).fit(Xc[perm], yc[perm]).predict_proba(X)[:, 1]
    assert np.abs(a - c).max() < 0.05
    assert np.corrcoef(c, lam)[0, 1] > 0.95


def test_stored_outcomes_of_each_form():
    X, _, R = synthetic(60, d=3, m=4, seed=5)
    R[0, :2] = np.nan
    forms, _ = _three_forms(X, R)
    stored = {k: small(neighbor_curves=5).fit(*args, **kw).neighbor_outcomes_
              for k, (args, kw) in forms.items()}
    np.testing.assert_array_equal(stored["a"], R.astype(np.float32))
    # (b) and (c) keep counts, not the order of the samples: k ones of m observed
    for name in "bc":
        assert stored[name].shape == R.shape
        np.testing.assert_array_equal(np.nansum(stored[name], axis=1), np.nansum(R, axis=1))
        np.testing.assert_array_equal(np.isnan(stored[name]).sum(1), np.isnan(R).sum(1))
        np.testing.assert_allclose(marginal_rewards(stored[name], 4, extrapolate="geometric"),
                                   marginal_rewards(stored["a"], 4, extrapolate="geometric"))
    # rates without counts, or with weights that are not counts, say nothing about the
    # samples: the rate is stored (the plug-in curve), as for any soft label
    rates = success_rate(R)
    for kw in ({}, {"sample_weight": np.full(len(X), 0.5)}):
        out = small(neighbor_curves=5).fit(X, rates, **kw).neighbor_outcomes_
        np.testing.assert_array_equal(out, rates[:, None].astype(np.float32))
    # hard labels without repeated rows: one sample per query
    labels = np.nan_to_num(R[:, 2])
    out = small(neighbor_curves=5).fit(X, labels).neighbor_outcomes_
    np.testing.assert_array_equal(out, labels[:, None])


def test_head_auto_reads_the_sample_counts_of_every_form():
    X, _, R = synthetic(60, d=3, m=4, seed=6)
    forms, _ = _three_forms(X, R)
    for name, (args, kw) in forms.items():
        assert small(head="auto").fit(*args, **kw).head_ == "beta", name
    assert small(head="auto").fit(X, success_rate(R)).head_ == "point"  # rates, no counts
    assert small(head="auto").fit(X, R[:, 0]).head_ == "point"  # one sample per query
    with pytest.raises(ValueError, match="number of samples as sample_weight"):
        small(head="beta").fit(X, success_rate(R))


def test_sample_weight_equals_repeated_rows():
    # One 0/1 label per row: an integer weight is that many repeated rows and a weight
    # of 0 removes the row; the rows are grouped into queries either way.
    rng = np.random.default_rng(7)
    X, _, R = synthetic(120, d=3, m=4, seed=7)
    forms, _ = _three_forms(X, R)
    Xc, yc = forms["c"][0]
    w = rng.integers(0, 4, size=len(yc))
    keep = np.repeat(np.arange(len(yc)), w)
    for head in ("point", "beta"):
        weighted = small(head=head, neighbor_curves=5, max_budget=3).fit(Xc, yc, sample_weight=w)
        repeated = small(head=head, neighbor_curves=5, max_budget=3).fit(Xc[keep], yc[keep])
        np.testing.assert_array_equal(weighted.predict_proba(X), repeated.predict_proba(X))
        np.testing.assert_allclose(weighted.transform(X), repeated.transform(X), atol=1e-12)
    # the outcome matrix: weight 0 removes the query, weights 1 change nothing
    w = np.ones(len(X))
    w[::3] = 0
    kept = small(max_budget=3, neighbor_curves=5)
    np.testing.assert_array_equal(
        kept.fit(X, R, sample_weight=w).predict_proba(X),
        small(max_budget=3, neighbor_curves=5).fit(X[w > 0], R[w > 0]).predict_proba(X))
    np.testing.assert_array_equal(small().fit(X, R, sample_weight=np.ones(len(X))).predict_proba(X),
                                  small().fit(X, R).predict_proba(X))


@pytest.mark.parametrize("head", ["point", "beta"])
def test_sample_weight_is_a_repetition_of_the_query(head):
    # one constant feature, full batches: a query of weight 3 and the same query three
    # times are the same loss, so training reaches the same constant prediction
    X = np.zeros((200, 1))
    R = (np.random.default_rng(12).random((200, 4)) < np.r_[np.full(100, 0.9),
                                                          np.full(100, 0.2)][:, None]) * 1.0
    w = np.r_[np.full(100, 3), np.full(100, 1)]
    # a fixed number of epochs: stopping on a loss that is equal up to rounding could
    # stop the two fits at different epochs
    params = dict(head=head, hidden_layer_sizes=(), max_iter=200, learning_rate_init=0.05,
                  n_iter_no_change=1000, batch_size=1000)
    weighted = small(**params).fit(X, R, sample_weight=w)
    repeated = small(**params).fit(np.repeat(X, w, axis=0), np.repeat(R, w, axis=0))
    np.testing.assert_allclose(weighted.predict_distribution(X[:1]),
                               repeated.predict_distribution(X[:1]), rtol=1e-4)
    rate = np.average(R.mean(axis=1), weights=w)
    assert weighted.mean_success_rate_ == pytest.approx(rate)
    if head == "point":  # the cross-entropy's minimiser is the weighted success rate
        assert weighted.predict_proba(X[:1])[0, 1] == pytest.approx(rate, abs=1e-3)
    unweighted = small(**params).fit(X, R).predict_proba(X[:1])[0, 1]
    assert abs(unweighted - weighted.predict_proba(X[:1])[0, 1]) > 0.05


def test_regressor_sample_weight():
    X = np.zeros((200, 1))
    R = np.zeros((200, 4))
    R[:100] = 1.0
    w = np.r_[np.full(100, 3.0), np.full(100, 1.0)]
    reg = small(MarginalRewardRegressor, hidden_layer_sizes=(), max_iter=300,
                learning_rate_init=0.05, tol=0.0, max_budget=2).fit(X, R, sample_weight=w)
    # Delta_1 is the mean reward, 0.75 under the weights; Delta_2 = 0 for 0/1 queries
    # that always or never succeed
    np.testing.assert_allclose(reg.mean_marginal_rewards_, [0.75, 0.0])
    np.testing.assert_allclose(reg.predict(X[:1])[0], [0.75, 0.0], atol=0.02)
    # weight 0 removes a query; weights 1 change nothing
    X, _, R = synthetic(120, d=3, m=4, seed=8)
    w = np.ones(len(X))
    w[::4] = 0
    np.testing.assert_array_equal(
        small(MarginalRewardRegressor).fit(X, R, sample_weight=w).predict(X),
        small(MarginalRewardRegressor).fit(X[w > 0], R[w > 0]).predict(X))
    np.testing.assert_array_equal(
        small(MarginalRewardRegressor).fit(X, R, sample_weight=np.ones(len(X))).predict(X),
        small(MarginalRewardRegressor).fit(X, R).predict(X))


@pytest.mark.parametrize("cls", [SuccessProbClassifier, MarginalRewardRegressor])
def test_sample_weight_containers_and_shape(cls):
    X, _, R = synthetic(60, d=3, m=4, seed=9)
    y = R[:, 0] if cls is SuccessProbClassifier else R
    w = np.linspace(0.5, 2.0, len(X))
    reference = small(cls, max_iter=5).fit(X, y, sample_weight=w).predict(X)
    for container in (list, pd.Series):
        pred = small(cls, max_iter=5).fit(X, y, sample_weight=container(w)).predict(X)
        np.testing.assert_array_equal(pred, reference)
    original = w.copy()
    small(cls, max_iter=5).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(w, original)  # not overwritten
    for bad, match in ((w[:-1], "sample_weight"), (-w, "Negative"),
                       (np.zeros(len(X)), "non-zero")):
        with pytest.raises(ValueError, match=match):
            small(cls, max_iter=5).fit(X, y, sample_weight=bad)


def test_sample_weight_routed_with_metadata_routing():
    from sklearn import config_context
    from sklearn.model_selection import cross_validate

    X, _, R = synthetic(150, d=3, m=4, seed=10)
    rates, counts = success_rate(R), np.full(len(X), 4.0)
    counts[::2] = 1.0
    with config_context(enable_metadata_routing=True):
        probe = small().set_fit_request(sample_weight=True)
        pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False), probe)
        pipe.fit(X, rates, sample_weight=counts)
        direct = small().fit(StandardScaler().fit_transform(X), rates, sample_weight=counts)
        np.testing.assert_array_equal(pipe.predict_proba(X),
                                      direct.predict_proba(StandardScaler().fit(X).transform(X)))
        # the weights reach each fold's fit
        res = cross_validate(
            small().set_fit_request(sample_weight=True).set_score_request(sample_weight=True),
            X, rates, params={"sample_weight": counts}, cv=KFold(3), return_estimator=True)
        unweighted = cross_validate(small(), X, rates, cv=KFold(3), return_estimator=True)
    train = np.setdiff1d(np.arange(len(X)), np.arange(50))
    np.testing.assert_array_equal(
        res["estimator"][0].predict_proba(X),
        small().fit(X[train], rates[train], sample_weight=counts[train]).predict_proba(X))
    assert not np.array_equal(res["estimator"][0].predict_proba(X),
                              unweighted["estimator"][0].predict_proba(X))


def test_classes_only_with_class_labels():
    X, _, R = synthetic(60, d=3, m=4, seed=11)
    from skadapt.scoring import NoClassLabelsError

    with pytest.raises(AttributeError, match="not fitted"):
        small().classes_
    assert not hasattr(small(), "classes_")
    for y in (R, success_rate(R)):
        clf = small(max_iter=5).fit(X, y)
        assert not hasattr(clf, "classes_")
        with pytest.raises(NoClassLabelsError, match="0/1 label per sample"):
            clf.classes_
        with pytest.raises(ValueError):
            clf.classes_
        assert clf.predict(X).dtype == np.int64  # predict does not need class labels
    clf = small(max_iter=5).fit(np.repeat(X, 4, axis=0), R.ravel())
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    # a probe pickled before target_form_ existed keeps its stored classes_
    state = clf.__getstate__()
    del state["target_form_"]
    state["classes_"] = np.array([0, 1])
    old = SuccessProbClassifier.__new__(SuccessProbClassifier)
    old.__setstate__(state)
    np.testing.assert_array_equal(old.classes_, [0, 1])
    # ... and so does one whose attributes are restored one by one (skadapt.persistence)
    old = small()
    for name, value in state.items():
        if name != "_torch_state":
            setattr(old, name, value)
    np.testing.assert_array_equal(old.classes_, [0, 1])


def test_classifier_outputs():
    X, lam, R = synthetic(300, m=16)
    clf = small(max_iter=60).fit(X, R)
    proba = clf.predict_proba(X)
    assert not hasattr(clf, "classes_")  # fitted on an outcome matrix: no class labels
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), (proba[:, 1] > 0.5).astype(int))
    np.testing.assert_allclose(clf.transform(X)[:, 0], proba[:, 1])
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba)
    assert clf.get_feature_names_out().tolist() == ["success_prob"]
    # the default score is what the probe minimises: minus the soft log-loss of Eq. 7
    assert clf.score(X, R) == pytest.approx(-probe_report(success_rate(R), proba[:, 1])["loss"])
    for out in (proba, clf.predict(X), clf.transform(X)):
        assert isinstance(out, np.ndarray)


def test_regressor_target_contracts():
    X, _, R = synthetic(200, m=8)
    from_rewards = small(MarginalRewardRegressor, max_budget=4).fit(X, R)
    given = small(MarginalRewardRegressor, target="marginal_rewards").fit(X, marginal_rewards(R, 4))
    assert from_rewards.max_budget_ == given.max_budget_ == 4
    np.testing.assert_allclose(from_rewards.predict(X), given.predict(X), rtol=1e-6, atol=1e-7)
    assert small(MarginalRewardRegressor).fit(X, R).max_budget_ == 8  # default: m
    assert from_rewards.get_feature_names_out().tolist() == [f"marginal_reward_{j}" for j in range(1, 5)]
    # 1-D y: one column, and predict is 1-D as for other regressors
    one = small(MarginalRewardRegressor, target="marginal_rewards").fit(X, R[:, 0])
    assert one.predict(X).shape == (200,) and one.transform(X).shape == (200, 1)
    assert -1 <= from_rewards.score(X, R) <= 1


def test_missing_samples_are_fine():
    X, _, R = synthetic(200, m=8)
    R[::3, ::2] = np.nan
    small().fit(X, R)
    small(MarginalRewardRegressor, max_budget=4).fit(X, R)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda X, R: (np.where(np.eye(*X.shape) > 0, np.nan, X), R[:, 0]), "NaN"),
        (lambda X, R: (np.where(np.eye(*X.shape) > 0, np.inf, X), R[:, 0]), "infinity"),
        (lambda X, R: (X, np.r_[np.nan, R[1:, 0]]), "NaN"),
        (lambda X, R: (X, np.r_[1.5, R[1:, 0]]), r"\[0, 1\]"),
        (lambda X, R: (X, np.r_[-0.1, R[1:, 0]]), r"\[0, 1\]"),
        (lambda X, R: (X, np.where(np.eye(*R.shape) > 0, np.inf, R)), "infinity"),
        (lambda X, R: (X, np.where(np.eye(*R.shape) > 0, 2.0, R)), r"\[0, 1\]"),
        (lambda X, R: (X, np.r_[[np.full(R.shape[1], np.nan)], R[1:]]), "no observed sample"),
        (lambda X, R: (X, R[:, :, None]), "dim 3"),
        (lambda X, R: (X, R[:-1]), "inconsistent numbers of samples"),
        (lambda X, R: (X, None), "requires y"),
    ],
)
def test_classifier_bad_input(make, match):
    X, _, R = synthetic(20, d=3, m=4)
    X, y = make(X, R)
    with pytest.raises(ValueError, match=match):
        small(max_iter=2).fit(X, y)


@pytest.mark.parametrize(
    "params, make, match",
    [
        ({}, lambda R: np.where(np.eye(*R.shape) > 0, np.inf, R), "infinit"),
        ({}, lambda R: np.r_[[np.full(R.shape[1], np.nan)], R[1:]], "no observed sample"),
        ({"max_budget": 9}, lambda R: R, "max_budget=9 exceeds"),
        ({"target": "marginal_rewards"}, lambda R: np.where(np.eye(*R.shape) > 0, np.nan, R), "NaN"),
        ({"target": "marginal_rewards", "max_budget": 3}, lambda R: R, "max_budget=3"),
        ({}, lambda R: R[:, :, None], "dim 3"),
    ],
)
def test_regressor_bad_input(params, make, match):
    X, _, R = synthetic(20, d=3, m=8)
    with pytest.raises(ValueError, match=match):
        small(MarginalRewardRegressor, max_iter=2, **params).fit(X, make(R))


@pytest.mark.parametrize("cls", [SuccessProbClassifier, MarginalRewardRegressor])
def test_bad_input_at_predict(cls):
    X, _, R = synthetic(30, d=3, m=4)
    est = small(cls, max_iter=2).fit(X, R)
    with pytest.raises(ValueError, match="NaN"):
        est.predict(np.where(np.eye(*X.shape) > 0, np.nan, X))
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :2])


# -------------------------------------------- what the expected common-check failures probe
@pytest.mark.parametrize("cls", [SuccessProbClassifier, MarginalRewardRegressor])
def test_dtypes_one_feature_and_containers(cls):
    X, _, R = synthetic(60, d=3, m=4)
    y = (R[:, 0] if cls is SuccessProbClassifier else R).astype(int)
    reference = small(cls, max_iter=5).fit(X, y).predict(X)
    for X_in in (X.astype(np.float32), X.tolist(), pd.DataFrame(X)):
        pred = small(cls, max_iter=5).fit(X_in, y).predict(X_in)
        np.testing.assert_allclose(pred, reference, atol=1e-5)
    small(cls, max_iter=5).fit(np.round(X * 10).astype(np.int64), y).predict(X)
    small(cls, max_iter=5).fit(X[:, :1], y).predict(X[:, :1])
    small(cls, max_iter=5).fit(X, pd.DataFrame(y) if y.ndim == 2 else pd.Series(y))


@pytest.mark.parametrize("labels", [["no", "yes"], [-1, 1], [1, 2], [0, 1, 2]])
def test_classifier_rejects_class_labels(labels):
    X, _, R = synthetic(30, d=3, m=4)
    y = np.take(labels, (R[:, 0] > 0).astype(int) + (np.arange(30) % 7 == 0) * (len(labels) > 2))
    with pytest.raises(ValueError):
        small(max_iter=2).fit(X, y)


def test_column_vector_is_an_outcome_matrix_with_one_sample():
    X, _, R = synthetic(60, d=3, m=4)
    a = small(max_iter=5).fit(X, R[:, 0]).predict_proba(X)
    b = small(max_iter=5).fit(X, R[:, :1]).predict_proba(X)
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ seeds and training
@pytest.mark.parametrize("cls", [SuccessProbClassifier, MarginalRewardRegressor])
def test_same_seed_same_model_global_rng_untouched(cls):
    X, _, R = synthetic(200, m=4)
    torch.manual_seed(123)
    np.random.seed(7)
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()
    a = small(cls).fit(X, R).predict(X)
    b = small(cls).fit(X, R).predict(X)
    c = small(cls, random_state=1).fit(X, R).predict(X)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_loss_curve_and_stopping():
    X, _, R = synthetic(400, m=16)
    clf = small(max_iter=300, tol=1e-3, n_iter_no_change=3).fit(X, R)
    assert len(clf.loss_curve_) == clf.n_iter_ < 300
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        small(max_iter=2).fit(X, R)


def test_early_stopping_keeps_best_weights():
    # Pure noise: validation loss stops improving quickly.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 20))
    y = rng.random(400)
    clf = small(hidden_layer_sizes=(128,), max_iter=500, early_stopping=True,
                validation_fraction=0.25, n_iter_no_change=5, learning_rate_init=1e-2)
    clf.fit(X, y)
    assert clf.n_iter_ < 500
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    # The restored weights reproduce the best validation score, not the last one.
    assert clf.validation_scores_[-1] < clf.best_validation_score_
    # too few rows for a validation set: train without early stopping, and say so
    with pytest.warns(UserWarning, match="validation set would be too small"):
        tiny = small(early_stopping=True, validation_fraction=0.01).fit(X[:50], y[:50])
    assert tiny.validation_scores_ is None and tiny.best_loss_ is not None


def test_verbose_progress_bar(capsys):
    X, _, R = synthetic(50, d=3, m=4)
    small(max_iter=3).fit(X, R)
    assert capsys.readouterr().err == ""
    small(max_iter=3, verbose=True).fit(X, R)
    assert "epochs" in capsys.readouterr().err


def test_standardize_makes_scale_irrelevant():
    X, _, R = synthetic(200, d=4, m=8)
    shift = np.array([1e3, -5.0, 0.0, 1e-3])
    scale = np.array([1e4, 1.0, 1e-4, 3.0])
    a = small().fit(X, R).predict_proba(X)
    b = small().fit(X * scale + shift, R).predict_proba(X * scale + shift)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_device_resolution():
    assert small(max_iter=1, device="cpu").fit(*synthetic(20, m=2)[::2]).device_ == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            small(max_iter=1, device="cuda").fit(*synthetic(20, m=2)[::2])


def test_train_module_on_a_token_model():
    """The loop trains any module: here bag-of-token batches given as dicts, as a LM would take."""
    rng = np.random.default_rng(0)
    n, vocab, length = 400, 50, 6
    tokens = torch.as_tensor(rng.integers(0, vocab, size=(n, length)))
    # success probability driven by whether token 0 appears
    lam = torch.where((tokens == 0).any(1), 0.9, 0.2).float()

    class Body(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.EmbeddingBag(vocab, 8)
            self.out = torch.nn.Linear(8, 1)

        def forward(self, input_ids):
            return self.out(self.embed(input_ids))

    with torch.random.fork_rng():
        torch.manual_seed(0)
        head = SuccessProbHead()
        module = ProbeNetwork(Body(), head)
    with torch.no_grad():
        module.body.out.bias.copy_(head.initial_bias(lam))

    def get_batch(idx):
        return {"input_ids": tokens[idx]}, lam[idx]

    result = train_module(
        module, n_samples=n, get_batch=get_batch,
        compute_loss=lambda m, b: m.head.loss(m(**b[0]), b[1]),
        generator=make_generator(0), batch_size=32, max_iter=60, learning_rate_init=0.05,
        early_stopping=True, n_iter_no_change=5,
    )
    pred = predict_batches(module, n_samples=n, get_batch=get_batch,
                           forward=lambda m, b: m.head.predict(m(**b[0])), batch_size=128)
    assert result.n_iter == len(result.loss_curve) == len(result.validation_scores)
    assert pred.dtype == np.float64 and pred.shape == (n,)
    assert np.abs(pred - lam.numpy()).mean() < 0.05
    assert not module.training


# ------------------------------------------------------------------- cross-fitting
@pytest.mark.parametrize("cls", [SuccessProbClassifier, MarginalRewardRegressor])
def test_fit_transform_is_cross_fitted(cls):
    X, _, R = synthetic(120, m=4)
    cv = KFold(3, shuffle=True, random_state=0)
    est = small(cls, cv=cv)
    oof = est.fit_transform(X, R)
    # out of fold: each block equals the prediction of a clone fitted on the other folds
    for train, test in cv.split(X):
        fold = small(cls).fit(X[train], R[train])
        np.testing.assert_allclose(oof[test], fold.transform(X[test]), rtol=1e-6, atol=1e-7)
    # and the estimator itself is fitted on all data afterwards
    full = small(cls).fit(X, R)
    np.testing.assert_allclose(est.transform(X), full.transform(X), rtol=1e-6, atol=1e-7)
    assert not np.allclose(oof, est.transform(X))
    # an int cv shuffles with random_state: reproducible
    np.testing.assert_array_equal(small(cls, cv=4).fit_transform(X, R),
                                  small(cls, cv=4).fit_transform(X, R))


@pytest.mark.parametrize(
    "cv, n, match",
    [(5, 4, "at least 5 samples"), (KFold(6), 5, "at least 6 samples"),
     (ShuffleSplit(3, test_size=0.2, random_state=0), 40, "partition")],
)
def test_fit_transform_bad_cv(cv, n, match):
    X, _, R = synthetic(n, m=4)
    with pytest.raises(ValueError, match=match):
        small(cv=cv, max_iter=2).fit_transform(X, R)


def test_set_output_pandas():
    X, _, R = synthetic(60, d=3, m=4)
    clf = small(max_iter=3, cv=3).set_output(transform="pandas")
    out = clf.fit_transform(pd.DataFrame(X, columns=["a", "b", "c"]), R)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["success_prob"]
    assert list(clf.transform(pd.DataFrame(X, columns=["a", "b", "c"])).columns) == ["success_prob"]


# ---------------------------------------------------------------------- pickling
@pytest.mark.parametrize("cls", [SuccessProbClassifier, MarginalRewardRegressor])
def test_joblib_round_trip(cls, tmp_path):
    X, _, R = synthetic(100, m=4)
    est = small(cls).fit(X, R)
    joblib.dump(est, tmp_path / "probe.joblib")
    loaded = joblib.load(tmp_path / "probe.joblib")
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    assert loaded.device_ == est.device_ and loaded.n_iter_ == est.n_iter_


def test_pickle_holds_cpu_state_and_survives_missing_device():
    X, _, R = synthetic(100, m=4)
    clf = small().fit(X, R)
    state = clf.__getstate__()
    assert "module_" not in state
    tensors = state["_torch_state"]["modules"]["module_"]
    assert all(t.device.type == "cpu" for t in tensors.values())
    # A model saved on a GPU this machine lacks loads on CPU with a warning.
    state["_torch_state"]["device"] = "cuda:7"
    blob = io.BytesIO()
    pickle.dump(state, blob)
    restored = SuccessProbClassifier.__new__(SuccessProbClassifier)
    with pytest.warns(DeviceWarning, match="cuda:7"):
        restored.__setstate__(pickle.loads(blob.getvalue()))
    assert restored.device_ == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_clone_is_unfitted_and_cheap():
    X, _, R = synthetic(50, m=4)
    clf = small(max_iter=2).fit(X, R)
    fresh = clone(clf)
    assert not hasattr(fresh, "module_") and fresh.get_params() == clf.get_params()


# ------------------------------------------------------------------- composition
class _Recorder(TransformerMixin, BaseEstimator):
    """Records what the next pipeline step sees in fit."""

    def fit(self, X, y=None):
        self.seen_ = np.asarray(X).copy()
        return self

    def transform(self, X):
        return X


def test_pipeline_step_after_probe_sees_out_of_fold_predictions():
    X, _, R = synthetic(90, m=4)
    pipe = make_pipeline(small(cv=3), _Recorder()).fit(X, R)
    np.testing.assert_allclose(pipe[-1].seen_, small(cv=3).fit_transform(X, R))
    assert not np.allclose(pipe[-1].seen_, pipe[0].transform(X))


@pytest.fixture
def allocation():
    return pytest.importorskip("skadapt.allocation")


def test_pipeline_with_allocator_cross_val_and_grid_search(allocation):
    from skadapt.metrics import expected_success, make_allocation_scorer

    X, lam, R = synthetic(240, d=4, m=8, seed=5)
    X_new = X[200:]
    pipe = make_pipeline(
        StandardScaler(),
        small(cv=3),
        allocation.GreedyAllocator(budget=2, kind="success_prob", max_budget=8),
    )
    pipe.fit(X[:200], R[:200])
    budgets = pipe.transform(X_new)
    assert budgets.shape == (40, 1)
    assert budgets.sum() == 80 and budgets.max() <= 8 and budgets.min() >= 0
    # the adaptive allocation beats uniform allocation at the same budget
    assert expected_success(R[200:], budgets[:, 0]) >= expected_success(R[200:], np.full(40, 2)) - 0.02

    scorer = make_allocation_scorer(cost_per_unit=0.01)
    scores = cross_val_score(pipe, X[:200], R[:200], cv=3, scoring=scorer)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))

    search = GridSearchCV(
        pipe,
        {"greedyallocator__budget": [1, 4],
         "successprobclassifier__hidden_layer_sizes": [(8,), (16,)]},
        cv=2, scoring=scorer,
    ).fit(X[:200], R[:200])
    assert search.best_params_["greedyallocator__budget"] in (1, 4)
    assert search.best_estimator_.transform(X_new).shape == (40, 1)


def test_binned_allocator_pipeline_and_joblib(allocation, tmp_path):
    X, _, R = synthetic(200, d=4, m=8, seed=6)
    pipe = make_pipeline(
        small(cv=3),
        allocation.BinnedAllocator(budget=2, n_bins=4, kind="success_prob", max_budget=8),
    ).fit(X, R)
    budgets = pipe.transform(X)
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "pipe.joblib").transform(X), budgets)


def test_regressor_pipeline_with_marginal_allocator(allocation):
    X, _, R = synthetic(200, d=4, m=8, seed=7)
    pipe = make_pipeline(
        small(MarginalRewardRegressor, max_budget=8, cv=3),
        allocation.GreedyAllocator(budget=3, kind="marginal"),
    ).fit(X, R)
    budgets = pipe.transform(X)
    assert budgets.sum() == 600 and budgets.max() <= 8
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeviceWarning)
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(pipe)).transform(X), budgets)


# ------------------------------------------ uncertainty-aware curves and the novelty hedge
def test_beta_binomial_loss_is_the_negative_log_likelihood():
    from scipy.stats import betabinom

    rng = np.random.default_rng(0)
    raw = torch.tensor(rng.normal(scale=2.0, size=(50, 2)))
    m = rng.integers(1, 40, size=50)
    k = rng.integers(0, m + 1)
    head = BetaBinomialHead()
    out = head(raw)
    mean, c = head.predict(out).numpy().T
    a, b = mean * c, (1 - mean) * c
    want = -betabinom.logpmf(k, m, a, b).sum() / m.sum()
    got = head.loss(out, torch.tensor(np.column_stack([k, m]), dtype=torch.float32))
    np.testing.assert_allclose(float(got), want, rtol=1e-9)
    # extreme raw outputs stay inside the documented concentration bounds
    bounds = head.predict(head(torch.tensor([[0.0, -1e4], [0.0, 1e4]]))).numpy()[:, 1]
    np.testing.assert_allclose(bounds, [BetaBinomialHead.C_MIN, BetaBinomialHead.C_MAX], rtol=1e-5)


def test_beta_head_starts_from_the_population_beta():
    rng = np.random.default_rng(0)
    lam = rng.beta(2.0, 6.0, size=20000)
    m = rng.integers(4, 20, size=20000)
    k = rng.binomial(m, lam)
    head = BetaBinomialHead()
    mean, c = head.predict(head(head.initial_bias(np.column_stack([k, m]))[None])).numpy()[0]
    assert abs(mean - 0.25) < 0.01 and abs(c - 8.0) < 0.8


def test_success_count_targets():
    R = np.array([[1, 0, np.nan, 1], [np.nan, 0, 0, np.nan], [1, 1, 1, 1]])
    np.testing.assert_array_equal(success_count_targets(R), [[2, 3], [0, 2], [4, 4]])
    np.testing.assert_array_equal(success_count_targets(np.array([1.0, 0.0])), [[1, 1], [0, 1]])
    with pytest.raises(ValueError, match="outcome matrix"):
        success_count_targets(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="no observed sample"):
        success_count_targets(np.array([[np.nan, np.nan], [1, 0]]))


def test_beta_head_recovers_a_known_dispersion():
    # lam ~ Beta(0.5, 0.5) whatever x: each query is nearly hopeless or nearly solved.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4))
    lam = rng.beta(0.5, 0.5, size=2000)
    R = (rng.random((2000, 16)) < lam[:, None]).astype(float)
    beta = SuccessProbClassifier(hidden_layer_sizes=(16,), head="beta", random_state=0,
                                 neighbor_curves=0)
    point = SuccessProbClassifier(hidden_layer_sizes=(16,), random_state=0,
                                  neighbor_curves=0)
    beta.fit(X[:1500], R[:1500])
    point.fit(X[:1500], R[:1500])
    mean, concentration = beta.predict_distribution(X[1500:]).T
    assert abs(np.median(concentration) - 1.0) < 0.3  # measured: 1.01
    assert abs(np.median(mean) - 0.5) < 0.05
    assert np.isinf(point.predict_distribution(X[1500:])[:, 1]).all()
    # Expected best-of-b success: the beta head's curves match the truth, the plug-in
    # curves of the point head overestimate it (Jensen) for every b >= 2.
    truth = np.cumsum(beta_marginal_rewards([0.5], [1.0], 8)[0])
    q_beta = np.cumsum(beta.predict_marginal_rewards(X[1500:], 8), axis=1).mean(0)
    q_point = np.cumsum(point.predict_marginal_rewards(X[1500:], 8), axis=1).mean(0)
    assert np.abs(q_beta - truth).max() < 0.02  # measured: 0.006
    assert np.all(q_point[1:] - truth[1:] > 0.1)
    assert q_point[3] - truth[3] > 0.15 and q_point[7] - truth[7] > 0.15  # measured: 0.21, 0.19


def test_beta_head_mean_matches_point_head_on_well_specified_data():
    X, lam, R = synthetic(3000, m=16)
    beta = SuccessProbClassifier(hidden_layer_sizes=(32,), head="beta", random_state=0)
    point = SuccessProbClassifier(hidden_layer_sizes=(32,), random_state=0)
    mean, concentration = beta.fit(X[:2000], R[:2000]).predict_distribution(X[2000:]).T
    lam_point = point.fit(X[:2000], R[:2000]).predict_proba(X[2000:])[:, 1]
    assert np.abs(mean - lam_point).mean() < 0.02  # measured: 0.011
    assert np.abs(mean - lam[2000:]).mean() < 0.025  # measured: 0.016
    # lam is a function of x here: little dispersion left (measured median: 230)
    assert np.median(concentration) > 50
    np.testing.assert_allclose(beta.predict_proba(X[2000:])[:, 1], mean)


def test_beta_head_needs_sample_counts():
    X, _, R = synthetic(60, d=3, m=4)
    with pytest.raises(ValueError, match="outcome matrix"):
        small(head="beta", max_iter=2).fit(X, success_rate(R))
    # hard 0/1 labels are one sample per query: the same likelihood as Eq. 7's
    a = small(head="beta", max_iter=5).fit(X, R[:, 0]).predict_proba(X)
    b = small(head="beta", max_iter=5).fit(X, R[:, :1]).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    R[::4, 1:] = np.nan  # missing samples are not counted
    small(head="beta", max_iter=2).fit(X, R)


def test_novelty_score_ranks_far_queries_above_in_distribution_ones():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 8))
    R = (rng.random((3000, 4)) < 0.5).astype(float)
    clf = small(max_iter=5).fit(X[:1000], R[:1000])
    q_in = clf.novelty_score(X[1000:])
    # in distribution: about uniform on [0, 1] (measured: mean 0.48, CDF within 0.04)
    grid = np.linspace(0.1, 0.9, 9)
    assert abs(q_in.mean() - 0.5) < 0.05
    assert np.abs((q_in[:, None] < grid).mean(0) - grid).max() < 0.08
    direction = rng.normal(size=8)
    direction /= np.linalg.norm(direction)
    means = [clf.novelty_score(X[1000:] + shift * direction).mean() for shift in (0, 1, 2, 4, 8)]
    assert np.all(np.diff(means) > 0)
    np.testing.assert_array_equal(clf.novelty_score(X[1000:] + 20 * direction), 1.0)
    # a training row is its own nearest neighbour: in-sample scores are low
    assert clf.novelty_score(X[:1000]).mean() < q_in.mean() - 0.1
    assert clf.nearest_neighbors_.n_samples_fit_ == 1000


def test_novelty_keeps_a_bounded_float32_subsample(monkeypatch):
    import skadapt._expected_curves as expected_curves

    monkeypatch.setattr(expected_curves, "_NOVELTY_MAX_ROWS", 300)
    monkeypatch.setattr(expected_curves, "_NOVELTY_REFERENCE_ROWS", 100)
    X, _, R = synthetic(500, d=4, m=4)
    clf = small(max_iter=2, novelty_neighbors=3).fit(X, R)
    assert clf.nearest_neighbors_.n_samples_fit_ == 300
    assert clf.nearest_neighbors_._fit_X.dtype == np.float32
    assert clf.novelty_reference_.shape == (100,)
    assert np.all(np.diff(clf.novelty_reference_) >= 0)
    assert clf.population_distribution_.shape == (300, 2)


@pytest.mark.parametrize("head", ["point", "beta"])
def test_hedge_gives_all_novel_queries_the_population_curve(head, allocation):
    X, _, R = synthetic(400, d=4, m=8)
    clf = small(head=head, hedge=0.5).fit(X, R)
    far = X[:40] + 50.0
    np.testing.assert_array_equal(clf.hedge_weights(far), 1.0)
    curves = clf.predict_marginal_rewards(far, 8)
    assert not np.allclose(clf.set_params(hedge=0.0).predict_marginal_rewards(far, 8), curves)
    # every row is the population curve: the average expected curve of the training rows
    mean, concentration = clf.population_distribution_.T
    population = beta_marginal_rewards(mean, concentration, 8).mean(0)
    np.testing.assert_array_equal(curves, np.broadcast_to(curves[0], curves.shape))
    np.testing.assert_allclose(curves[0], population, rtol=1e-12)
    # and a greedy allocation of identical curves is uniform best-of-k
    budgets = allocation.GreedyAllocator(budget=3, kind="marginal").fit_transform(curves)
    np.testing.assert_array_equal(budgets, 3)


def test_hedge_weights_and_curves():
    X, _, R = synthetic(1400, d=4, m=8)
    clf = small(head="beta", hedge=0.25).fit(X[:1000], R[:1000])
    q = clf.novelty_score(X[1000:])
    w = clf.hedge_weights(X[1000:])
    np.testing.assert_allclose(w, q**4)
    assert abs(w.mean() - 0.25 / 1.25) < 0.05  # documented average on in-distribution queries
    unhedged = clf.set_params(hedge=0.0).predict_marginal_rewards(X[1000:], 6)
    np.testing.assert_array_equal(clf.hedge_weights(X[1000:]), 0.0)
    dist = clf.predict_distribution(X[1000:])
    np.testing.assert_array_equal(unhedged, beta_marginal_rewards(dist[:, 0], dist[:, 1], 6))
    hedged = clf.set_params(hedge=0.25).predict_marginal_rewards(X[1000:], 6)
    population = clf._population_curve(6)
    np.testing.assert_allclose(hedged, (1 - w[:, None]) * unhedged + w[:, None] * population,
                               atol=1e-15)
    assert np.all(np.diff(hedged, axis=1) <= 0) and np.all(hedged >= 0)
    # more hedge, closer to the population curve
    stronger = clf.set_params(hedge=2.0).predict_marginal_rewards(X[1000:], 6)
    assert np.all(np.abs(stronger - population) <= np.abs(hedged - population) + 1e-15)


def test_transform_with_max_budget_returns_curves(allocation):
    X, _, R = synthetic(300, d=4, m=8)
    point = small(max_budget=6).fit(X, R)
    np.testing.assert_array_equal(
        point.transform(X), geometric_marginal_rewards(point.predict_proba(X)[:, 1], 6)
    )
    assert point.get_feature_names_out().tolist() == [f"marginal_reward_{j}" for j in range(1, 7)]
    # max_budget=None keeps the one success_prob column; the hedge does not touch it
    plain = small(hedge=1.0).fit(X, R)
    np.testing.assert_array_equal(plain.transform(X), point.predict_proba(X)[:, 1:])
    np.testing.assert_array_equal(plain.predict_marginal_rewards(X, 3).shape, (300, 3))
    with pytest.raises(ValueError, match="max_budget is needed"):
        plain.predict_marginal_rewards(X)
    out = small(head="beta", max_budget=4, hedge=0.5, cv=3).set_output(transform="pandas")
    frame = out.fit_transform(pd.DataFrame(X), R)
    assert list(frame.columns) == [f"marginal_reward_{j}" for j in range(1, 5)]


def test_curves_are_cross_fitted_and_survive_pickling(tmp_path):
    X, _, R = synthetic(150, d=4, m=6)
    cv = KFold(3, shuffle=True, random_state=0)
    params = dict(head="beta", max_budget=5, hedge=0.5, cv=cv)
    est = small(**params)
    oof = est.fit_transform(X, R)
    for train, test in cv.split(X):
        fold = small(**params).fit(X[train], R[train])
        np.testing.assert_allclose(oof[test], fold.transform(X[test]), rtol=1e-6, atol=1e-7)
    joblib.dump(est, tmp_path / "probe.joblib")
    loaded = joblib.load(tmp_path / "probe.joblib")
    far = X + 30.0
    for method in ("transform", "novelty_score", "hedge_weights", "predict_distribution"):
        np.testing.assert_array_equal(getattr(loaded, method)(far), getattr(est, method)(far))
    fresh = clone(est)
    assert {k: v for k, v in fresh.get_params().items() if k != "cv"} == {
        k: v for k, v in est.get_params().items() if k != "cv"}
    assert not hasattr(fresh, "nearest_neighbors_")


def test_pipeline_with_curves_and_marginal_allocators(allocation):
    X, _, R = synthetic(240, d=4, m=8, seed=5)
    for alloc in (allocation.GreedyAllocator(budget=2, kind="marginal"),
                  allocation.BinnedAllocator(budget=2, n_bins=4, kind="marginal")):
        pipe = make_pipeline(small(head="beta", max_budget=8, hedge=0.2, cv=3), alloc)
        budgets = pipe.fit(X[:200], R[:200]).transform(X[200:])
        assert budgets.shape == (40, 1) and budgets.max() <= 8
        if isinstance(alloc, allocation.GreedyAllocator):
            assert budgets.sum() == 80
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(pipe)).transform(X[200:]), budgets)


_CURVES_CROSS_FITTED = (
    "fit_transform returns cross-fitted (out-of-fold) curves by design, hedged with each "
    "fold's novelty score, while fit().transform() scores training rows against themselves "
    "(their own nearest neighbour); on the check's 30-row blobs the hedge weights differ by "
    "up to 0.28, beyond atol=0.01 (with hedge=0 the check passes; cross-fitting is tested in "
    "test_curves_are_cross_fitted_and_survive_pickling)"
)
_SOFT_LABELS = (
    "feeds class labels {1, 2}: y holds success probabilities or an outcome matrix; the same "
    "checks with 0/1 labels are tested in test_dtypes_one_feature_and_containers"
)


@pytest.mark.usefixtures("one_torch_thread")
@parametrize_with_checks(
    [SuccessProbClassifier(cv=3, random_state=0, head="beta", max_budget=4, hedge=0.5)],
    expected_failed_checks=lambda est: {
        "check_estimators_dtypes": _SOFT_LABELS,
        "check_fit2d_1feature": _SOFT_LABELS,
        "check_classifier_data_not_an_array": _SOFT_LABELS,
        "check_classifiers_classes": "string and -1/1 class labels: the targets are probabilities",
        "check_supervised_y_2d": (
            "a 2-D y is the documented (n, m) outcome matrix, so no DataConversionWarning"
        ),
        "check_transformer_general": _CURVES_CROSS_FITTED,
        "check_transformer_data_not_an_array": _CURVES_CROSS_FITTED,
        **dict.fromkeys(
            ["check_sample_weights_pandas_series", "check_sample_weights_not_an_array",
             "check_sample_weights_shape", "check_sample_weights_not_overwritten"],
            "feeds class labels {1, 2} with sample_weight; tested with 0/1 labels in "
            "test_sample_weight_containers_and_shape"),
        "check_sample_weight_equivalence_on_dense_data": (
            "shuffles the weighted rows but not the repeated ones: the same loss in another "
            "mini-batch order; equal in the same order (test_sample_weight_equals_repeated_rows)"),
    },
)
def test_beta_head_with_curves_passes_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        check(estimator)


def test_neighbor_curves_are_the_exact_curves_of_the_nearest_training_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    R = (rng.random((400, 8)) < rng.uniform(size=(400, 1))).astype(float)
    probe = small(head="beta", max_iter=5, neighbor_curves=7, neighbor_weight=1.0,
                  max_budget=12).fit(X, R)
    np.testing.assert_array_equal(probe.neighbor_outcomes_, R.astype(np.float32))
    # with weight 1 the curve of a query is the average exact curve of its neighbours
    Z = (X[:5] - probe.feature_mean_) / probe.feature_scale_
    _, idx = probe.nearest_neighbors_.kneighbors(Z.astype(np.float32), n_neighbors=7)
    exact = marginal_rewards(R, 12, extrapolate="geometric")
    np.testing.assert_allclose(probe.transform(X[:5]), exact[idx].mean(axis=1), rtol=1e-6)
    # weight 0.5: halfway between the model's expected curve and the neighbours'
    half = clone(probe).set_params(neighbor_weight=0.5).fit(X, R)
    model = clone(probe).set_params(neighbor_curves=0).fit(X, R)
    np.testing.assert_allclose(half.transform(X[:5]),
                               0.5 * model.transform(X[:5]) + 0.5 * exact[idx].mean(1),
                               rtol=1e-5)


def test_neighbor_curves_keep_the_spread_a_point_estimate_hides():
    # two kinds of query that the features cannot tell apart: hopeless or easy
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 4))
    lam = np.where(rng.random(3000) < 0.5, 0.0, 0.8)
    R = (rng.random((3000, 16)) < lam[:, None]).astype(float)
    point = SuccessProbClassifier(hidden_layer_sizes=(8,), max_budget=16, random_state=0,
                                  neighbor_curves=0)
    blended = clone(point).set_params(neighbor_curves=50, neighbor_weight=1.0)
    truth = np.cumsum(np.mean([[0.0] * 16, 0.8 * 0.2 ** np.arange(16)], axis=0))
    q = {name: np.cumsum(p.fit(X[:2000], R[:2000]).transform(X[2000:]), axis=1).mean(0)
         for name, p in (("point", point), ("blended", blended))}
    # the plug-in curve of lam ~ 0.4 promises ~0.99 at 8 samples; the truth is 0.4
    assert q["point"][7] > 0.9
    assert abs(q["blended"][7] - truth[7]) < 0.05  # measured: 0.030 (finite samples)


def test_streaming_fit_from_a_memory_map_gives_the_same_model(tmp_path):
    """streaming=True reads X batch by batch (here a memory-mapped .npy file) and
    trains the model the in-memory fit trains."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype(np.float32) * [1, 1, 1, 1, 1, 100]
    lam = 1 / (1 + np.exp(-X[:, 0]))
    R = (rng.random((300, 4)) < lam[:, None]).astype(float)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    for est in (SuccessProbClassifier(max_budget=4, max_iter=15, random_state=0),
                MarginalRewardRegressor(max_budget=3, max_iter=15, random_state=0)):
        plain = clone(est).fit(X, R)
        streamed = clone(est).set_params(streaming=True).fit(mapped, R)
        np.testing.assert_array_equal(streamed.transform(X), plain.transform(X))
        assert streamed.loss_curve_ == plain.loss_curve_
