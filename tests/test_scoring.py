"""Tests of skadapt.scoring and of scikit-learn's scorers on the probes."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn import config_context
from sklearn.dummy import DummyClassifier
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    cross_val_predict,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skadapt import GreedyAllocator, MarginalRewardRegressor, SuccessProbClassifier
from skadapt.metrics import expected_success, probe_report
from skadapt.scoring import (
    NoClassLabelsError,
    calibration_error,
    get_scorer,
    get_scorer_names,
    loss_skill,
    make_probe_scorer,
    soft_brier_score,
    soft_log_loss,
)
from skadapt.targets import marginal_rewards, success_rate

pytestmark = [pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
              pytest.mark.usefixtures("one_torch_thread")]

M = 8  # samples per query


def synthetic(n=360, d=4, m=M, seed=0):
    """lam = sigmoid(2 x_0): a probe on X can learn it, one on noise cannot."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    lam = 1.0 / (1.0 + np.exp(-2.5 * X[:, 0]))
    R = (rng.random((n, m)) < lam[:, None]).astype(float)
    noise = rng.normal(size=(n, d))
    return X, noise, lam, R


def per_sample(X, R):
    """Form (c): one 0/1 label per sample, each query's rows together; query ids."""
    return np.repeat(X, R.shape[1], axis=0), R.ravel(), np.repeat(np.arange(len(X)), R.shape[1])


def probe(**params):
    return SuccessProbClassifier(**{"hidden_layer_sizes": (8,), "max_iter": 100,
                                    "learning_rate_init": 0.01, "random_state": 0,
                                    "neighbor_curves": 0, **params})


# ------------------------------------------------------------------------- metrics
def test_metrics_agree_across_the_three_forms_and_with_scikit_learn():
    _, _, lam, R = synthetic(50, m=6)
    R[0, :2] = np.nan
    p = np.clip(lam + 0.1, 0, 1)
    counts = (~np.isnan(R)).sum(axis=1)
    labels, seen = R.ravel(), ~np.isnan(R.ravel())
    p_rows = np.repeat(p, R.shape[1])[seen]
    for metric in (soft_log_loss, soft_brier_score, calibration_error):
        a = metric(R, p)
        assert metric(success_rate(R), p, sample_weight=counts) == pytest.approx(a, abs=1e-12)
        assert metric(labels[seen], p_rows) == pytest.approx(a, abs=1e-12)
        assert metric(R, np.column_stack([1 - p, p])) == a  # predict_proba output
    # one label per sample: they are scikit-learn's metrics
    assert soft_log_loss(labels[seen], p_rows) == pytest.approx(log_loss(labels[seen], p_rows))
    assert soft_brier_score(labels[seen], p_rows) == pytest.approx(
        brier_score_loss(labels[seen], p_rows))
    # complete matrix: the per-query mean of Eq. 7, the loss of the paper's Table 1
    R = R[1:]
    assert soft_log_loss(R, p[1:]) == pytest.approx(probe_report(success_rate(R), p[1:])["loss"])
    # Brier = squared error to the rates + their variance (the floor)
    rate = success_rate(R)
    assert soft_brier_score(R, p[1:]) == pytest.approx(
        np.mean((p[1:] - rate) ** 2) + np.mean(rate * (1 - rate)))


def test_calibration_error():
    rng = np.random.default_rng(1)
    lam = rng.random(4000)
    R = (rng.random((4000, 50)) < lam[:, None]).astype(float)
    assert calibration_error(R, lam) < 0.01
    assert calibration_error(R, lam, strategy="quantile", n_bins=5) < 0.01
    # overconfident: the predicted probabilities pushed away from 0.5
    over = np.clip(0.5 + 1.6 * (lam - 0.5), 0, 1)
    assert calibration_error(R, over) > 0.05
    assert calibration_error(R, np.clip(lam + 0.2, 0, 1)) > 0.15
    # a constant prediction of the overall rate is calibrated: read it next to a loss
    assert calibration_error(R, np.full(4000, R.mean())) < 1e-12
    with pytest.raises(ValueError, match="n_bins"):
        calibration_error(R, lam, n_bins=0)
    with pytest.raises(ValueError, match="strategy"):
        calibration_error(R, lam, strategy="kmeans")


def test_loss_skill():
    _, _, lam, R = synthetic(200, m=16)
    rate = success_rate(R)
    base = rate.mean()
    assert loss_skill(R, rate, baseline=base) == pytest.approx(1.0)
    assert loss_skill(R, np.full(200, base), baseline=base) == pytest.approx(0.0)
    report = probe_report(rate, lam)
    assert loss_skill(R, lam, baseline=base) == pytest.approx(
        (report["avg_loss"] - report["loss"]) / (report["avg_loss"] - report["opt_loss"]))
    assert loss_skill(R, np.full(200, 0.01), baseline=base) < 0  # worse than Avg.
    # one label per sample: Opt. from each query's rate, given the queries
    _, labels, groups = per_sample(np.zeros((200, 1)), R)
    p_rows = np.repeat(lam, 16)
    assert loss_skill(labels, p_rows, baseline=base, groups=groups) == pytest.approx(
        loss_skill(R, lam, baseline=base))
    # without the queries, each sample is its own query and Opt. is 0
    assert loss_skill(labels, p_rows, baseline=base) < loss_skill(R, lam, baseline=base)
    # squared error (Eq. 6): Opt. is 0
    delta = marginal_rewards(R, 4)
    assert loss_skill(delta, delta, baseline=delta.mean(0), loss="squared_error") == 1.0
    with pytest.raises(ValueError, match="undefined"):
        loss_skill(np.full((5, 4), 1.0), np.full(5, 0.9), baseline=1.0)
    with pytest.raises(ValueError, match="baseline"):
        loss_skill(R, lam, baseline=2.0)


@pytest.mark.parametrize("bad, match", [
    (lambda R, p: (R[:, :, None], p), "shape"),
    (lambda R, p: (R, p[:-1]), "y_prob"),
    (lambda R, p: (R, p + 2), r"\[0, 1\]"),
    (lambda R, p: (R * 2, p), r"\[0, 1\]"),
])
def test_metrics_bad_input(bad, match):
    _, _, lam, R = synthetic(20)
    with pytest.raises(ValueError, match=match):
        soft_log_loss(*bad(R, lam))


# -------------------------------------------------------------- the bar: rankings
def test_cross_val_score_ranks_a_good_probe_above_a_constant_predictor():
    X, noise, _, R = synthetic()
    Xc, yc, groups = per_sample(X, R)
    Nc = np.repeat(noise, M, axis=0)
    cv = KFold(3, shuffle=True, random_state=0)
    good, blind = {}, {}
    # default scoring: the probe's score, minus the soft log-loss of Eq. 7
    good["score"] = cross_val_score(probe(), X, R, cv=cv)
    blind["score"] = cross_val_score(probe(), noise, R, cv=cv)
    # every form scores the same data alike
    np.testing.assert_allclose(cross_val_score(probe(), Xc, yc, cv=GroupKFold(3), groups=groups),
                               cross_val_score(probe(), X, R, cv=GroupKFold(3),
                                               groups=np.arange(len(X))), rtol=1e-6)
    # scikit-learn's scorers on one label per sample, queries kept whole by GroupKFold
    for name in ("neg_log_loss", "neg_brier_score", "roc_auc"):
        good[name] = cross_val_score(probe(), Xc, yc, cv=GroupKFold(3), groups=groups,
                                     scoring=name, error_score="raise")
        blind[name] = cross_val_score(probe(), Nc, yc, cv=GroupKFold(3), groups=groups,
                                      scoring=name, error_score="raise")
    # ... and against scikit-learn's own constant predictor
    prior = cross_val_score(DummyClassifier(strategy="prior"), Xc, yc, cv=GroupKFold(3),
                            groups=groups, scoring="neg_log_loss", error_score="raise")
    assert (good["neg_log_loss"] > prior + 0.05).all()
    # skadapt's named scorers on the outcome matrix
    for name in ("neg_soft_log_loss", "neg_soft_brier_score", "loss_skill"):
        good[name] = cross_val_score(probe(), X, R, cv=cv, scoring=get_scorer(name),
                                     error_score="raise")
        blind[name] = cross_val_score(probe(), noise, R, cv=cv, scoring=get_scorer(name),
                                      error_score="raise")
    for name in good:
        assert np.isfinite(good[name]).all() and np.isfinite(blind[name]).all(), name
        assert good[name].mean() > blind[name].mean() + 0.02, name
        assert (good[name] > blind[name]).all(), name
    assert (good["loss_skill"] > 0.5).all() and (np.abs(blind["loss_skill"]) < 0.1).all()
    assert (good["roc_auc"] > 0.75).all() and (np.abs(blind["roc_auc"] - 0.5) < 0.1).all()
    ece = cross_val_score(probe(), X, R, cv=cv, scoring=get_scorer("neg_calibration_error"),
                          error_score="raise")
    assert np.isfinite(ece).all() and (ece > -0.1).all()


def test_the_skill_baseline_comes_from_the_training_folds():
    X, _, _, R = synthetic(240)
    train, test = np.arange(160), np.arange(160, 240)
    clf = probe().fit(X[train], R[train])
    assert clf.mean_success_rate_ == pytest.approx(R[train].mean())
    p = clf.predict_proba(X[test])[:, 1]
    skill = get_scorer("loss_skill")(clf, X[test], R[test])
    assert skill == pytest.approx(loss_skill(R[test], p, baseline=R[train].mean()))
    hindsight = make_probe_scorer("loss_skill", baseline="test")(clf, X[test], R[test])
    assert hindsight == pytest.approx(loss_skill(R[test], p, baseline=R[test].mean()))
    assert skill != hindsight
    # through a pipeline and a fitted search
    pipe = make_pipeline(StandardScaler(), probe()).fit(X[train], R[train])
    assert np.isfinite(get_scorer("loss_skill")(pipe, X[test], R[test]))
    # a classifier that does not store the training rate: a clear error
    Xc, yc, _ = per_sample(X[train], R[train])
    dummy = DummyClassifier().fit(Xc, yc)
    with pytest.raises(ValueError, match="mean_success_rate_"):
        get_scorer("loss_skill")(dummy, *per_sample(X[test], R[test])[:2])


def test_scorers_in_grid_search_multimetric_and_pickled():
    X, _, _, R = synthetic(240)
    scoring = {name: get_scorer(name) for name in
               ("neg_soft_log_loss", "loss_skill", "neg_calibration_error")}
    search = GridSearchCV(probe(), {"alpha": [1e-3, 10.0]}, cv=3, scoring=scoring,
                          refit="neg_soft_log_loss", error_score="raise").fit(X, R)
    assert search.best_params_ == {"alpha": 1e-3}
    for name in scoring:
        assert np.isfinite(search.cv_results_[f"mean_test_{name}"]).all()
    for scorer in scoring.values():
        again = pickle.loads(pickle.dumps(scorer))
        assert again(search, X, R) == scorer(search, X, R)
    assert repr(get_scorer("neg_calibration_error")).startswith("make_probe_scorer(")


def test_scorer_routes_sample_weight():
    X, _, _, R = synthetic(240)
    rates, counts = success_rate(R), np.full(len(X), float(M))
    scorer = get_scorer("neg_soft_log_loss")
    with pytest.raises(RuntimeError, match="metadata routing"):
        scorer.set_score_request(sample_weight=True)
    with config_context(enable_metadata_routing=True):
        weighted = cross_validate(
            probe().set_fit_request(sample_weight=True),
            X, rates, params={"sample_weight": counts}, cv=KFold(3),
            scoring={"ll": get_scorer("neg_soft_log_loss").set_score_request(sample_weight=True),
                     "skill": get_scorer("loss_skill").set_score_request(sample_weight=True)})
    matrix = cross_validate(probe(), X, R, cv=KFold(3),
                            scoring={"ll": get_scorer("neg_soft_log_loss"),
                                     "skill": get_scorer("loss_skill")})
    # rates with their counts are the outcome matrix: the same folds, models and scores
    for name in ("ll", "skill"):
        np.testing.assert_allclose(weighted[f"test_{name}"], matrix[f"test_{name}"], rtol=1e-9)


# ---------------------------------------------- scikit-learn's scorers: errors, not NaN
@pytest.mark.parametrize("scoring", ["neg_log_loss", "roc_auc", "neg_brier_score", "accuracy"])
@pytest.mark.parametrize("form", ["outcomes", "rates"])
def test_standard_scorers_on_soft_labels_raise_a_clear_error(scoring, form):
    X, _, _, R = synthetic(120)
    y = R if form == "outcomes" else success_rate(R)
    with pytest.raises(NoClassLabelsError, match="one 0/1 label per sample"):
        cross_val_score(probe(max_iter=5), X, y, cv=3, scoring=scoring, error_score="raise")
    # with the default error_score scikit-learn turns it into NaN: the warning says why
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = cross_val_score(probe(max_iter=5), X, y, cv=3, scoring=scoring)
    assert np.isnan(scores).all()
    assert any("skadapt.scoring" in str(w.message) for w in caught)


def test_standard_scorer_names_are_not_skadapt_names():
    # scikit-learn accepts only the scorer names it knew at import: pass objects
    X, _, _, R = synthetic(60)
    with pytest.raises(ValueError, match="scoring"):
        cross_val_score(probe(max_iter=5), X, R, cv=3, scoring="neg_soft_log_loss")
    assert "neg_soft_log_loss" in get_scorer_names()
    assert get_scorer("neg_log_loss") is not None  # scikit-learn's names pass through
    assert get_scorer(None) is None
    with pytest.raises(ValueError, match="skadapt's scorers"):
        get_scorer("soft_log_los")
    assert get_scorer("loss_skill") is not get_scorer("loss_skill")  # fresh copies
    with pytest.raises(ValueError, match="metric"):
        make_probe_scorer("auc")


def test_cross_val_predict_proba():
    X, _, _, R = synthetic(120)
    with pytest.raises(NoClassLabelsError):
        cross_val_predict(probe(max_iter=5), X, R, cv=3, method="predict_proba")
    Xc, yc, groups = per_sample(X, R)
    proba = cross_val_predict(probe(max_iter=5), Xc, yc, cv=GroupKFold(3), groups=groups,
                              method="predict_proba")
    assert proba.shape == (len(yc), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


# ------------------------------------------------------------------------ regressor
def test_regressor_scorers():
    X, noise, _, R = synthetic()
    reg = dict(hidden_layer_sizes=(8,), max_iter=100, learning_rate_init=0.01, random_state=0,
               max_budget=4)
    cv = KFold(3, shuffle=True, random_state=0)
    default = cross_val_score(MarginalRewardRegressor(**reg), X, R, cv=cv)
    r2 = cross_val_score(MarginalRewardRegressor(**reg), X, R, cv=cv,
                         scoring=get_scorer("marginal_reward_r2"))
    np.testing.assert_allclose(r2, default)  # the regressor's own score
    for name in ("neg_marginal_reward_mse", "loss_skill", "marginal_reward_r2"):
        good = cross_val_score(MarginalRewardRegressor(**reg), X, R, cv=cv,
                               scoring=get_scorer(name), error_score="raise")
        blind = cross_val_score(MarginalRewardRegressor(**reg), noise, R, cv=cv,
                                scoring=get_scorer(name), error_score="raise")
        assert np.isfinite(good).all() and (good > blind).all(), name
    fitted = MarginalRewardRegressor(**reg).fit(X[:240], R[:240])
    delta = marginal_rewards(R[240:], 4)
    assert get_scorer("neg_marginal_reward_mse")(fitted, X[240:], R[240:]) == pytest.approx(
        -np.mean(((fitted.predict(X[240:]) - delta) ** 2).sum(axis=1)))
    np.testing.assert_allclose(fitted.mean_marginal_rewards_, marginal_rewards(R[:240], 4).mean(0))


def test_allocation_scorer_by_name():
    X, _, _, R = synthetic(240)
    pipe = make_pipeline(probe(cv=3), GreedyAllocator(budget=2, kind="success_prob",
                                                      max_budget=M))
    pipe.fit(X[:160], R[:160])
    budgets = pipe.transform(X[160:])[:, 0]
    assert get_scorer("expected_success")(pipe, X[160:], R[160:]) == pytest.approx(
        expected_success(R[160:], budgets))
