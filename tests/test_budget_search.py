"""Tests of BudgetSearchCV: cross-fitted, exactly scored budget selection."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skadapt import BudgetSearchCV, GreedyAllocator, SuccessProbClassifier
from skadapt.budget_search import NoBudgetReachesTargetError
from skadapt.evaluation import per_query_value

FITS = []  # (id of the probe, row ids it was fitted on)


class RecordingProbe(TransformerMixin, BaseEstimator):
    """Success probability = sigmoid(scale * X[:, 1]); X[:, 0] holds row ids.

    ``fit`` records the rows it saw and learns only the mean success rate, which
    shifts the prediction, so cross-fitting matters to the output.
    """

    def __init__(self, scale=2.0):
        self.scale = scale

    def fit(self, X, y):
        X = np.asarray(X)
        FITS.append(X[:, 0].astype(int))
        self.shift_ = float(np.nanmean(y)) - 0.5
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = np.asarray(X)
        return (1 / (1 + np.exp(-self.scale * X[:, 1] - self.shift_))).reshape(-1, 1)


def make_data(n=240, m=8, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    lam = 1 / (1 + np.exp(-2.5 * z))
    R = (rng.uniform(size=(n, m)) < lam[:, None]).astype(float)
    X = np.column_stack([np.arange(n), z + rng.normal(0, 0.3, n)])
    return X, R


def search(**params):
    params = {"max_budget": 8, "cv": 4, "random_state": 0, "n_resamples": 100, "target": 0.6, **params}
    return BudgetSearchCV(RecordingProbe(), **params)


def test_probe_is_cross_fitted_and_refit_once():
    X, R = make_data()
    FITS.clear()
    s = search().fit(X, R)
    assert len(FITS) == 4 + 1  # one fit per fold, then the refit on everything
    folds = list(KFold(4, shuffle=True, random_state=0).split(X))
    for (train, test), seen in zip(folds, FITS[:4]):
        np.testing.assert_array_equal(np.sort(seen), train)  # never the scored rows
        expected = clone(RecordingProbe()).fit(X[train], R[train]).transform(X[test])
        np.testing.assert_allclose(s.oof_predictions_[test], expected)
    np.testing.assert_array_equal(np.sort(FITS[4]), np.arange(len(X)))


def test_curve_is_the_exact_held_out_quality_of_each_budget():
    X, R = make_data()
    s = search(budgets=[0.5, 1, 2, 3.5]).fit(X, R)
    folds = list(KFold(4, shuffle=True, random_state=0).split(X))
    pred = s.oof_predictions_
    for row in s.curve_.itertuples():
        budgets = np.zeros(len(X), dtype=int)
        for _, test in folds:  # each test fold is one batch
            alloc = GreedyAllocator(row.budget, max_budget=8, kind="success_prob")
            budgets[test] = alloc.fit_transform(pred[test]).ravel()
        values = per_query_value(R, budgets)
        assert row.quality == pytest.approx(values.mean())
        assert row.spend == pytest.approx(budgets.mean())
        assert row.quality_low <= row.quality <= row.quality_high
    assert list(s.curve_.columns) == ["budget", "spend", "quality", "quality_low", "quality_high",
                                      "meets_objective"]
    assert set(s.cv_results_) == set(s.curve_.columns)


@pytest.mark.parametrize("target", [0.4, 0.6, 0.75])
def test_min_budget_is_the_smallest_spend_reaching_the_target(target):
    X, R = make_data()
    s = search(target=target).fit(X, R)
    curve = s.curve_
    reaching = curve[curve.quality >= target]
    assert s.best_spend_ == reaching.spend.min()
    assert s.best_score_ >= target
    assert not (curve[curve.spend < s.best_spend_].quality >= target).any()
    assert s.best_budget_ == curve.budget[s.best_index_]
    # the default grid: every multiple of 1/4 in [min_budget, max_budget]
    np.testing.assert_array_equal(curve.budget, np.arange(33) / 4)


def test_best_quality_within_a_spend():
    X, R = make_data()
    s = search(objective="best_quality", target=None, max_spend=2.6).fit(X, R)
    within = s.curve_[s.curve_.spend <= 2.6]
    assert s.best_spend_ <= 2.6
    assert s.best_score_ == within.quality.max()
    assert s.best_budget_ == 2.5  # quality rises with the budget


def test_no_budget_reaches_the_target_says_what_is_reachable():
    X, R = make_data()
    s = search(target=0.99)
    with pytest.raises(NoBudgetReachesTargetError, match=r"best reachable quality is 0\.\d+") as info:
        s.fit(X, R)
    assert len(s.curve_) == 33  # the curve is kept for inspection
    best = s.curve_.quality.idxmax()  # the first budget at the highest quality
    assert f"is {s.curve_.quality[best]:.4g}" in str(info.value)
    assert f"at budget={s.curve_.budget[best]:g}," in str(info.value)
    with pytest.raises(NoBudgetReachesTargetError, match="smallest spend is 1"):
        search(objective="best_quality", target=None, max_spend=0.5, budgets=[1, 2]).fit(X, R)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"target": None}, "needs target="),
        ({"max_spend": 3}, "max_spend is used only"),
        ({"objective": "best_quality", "target": None}, "needs max_spend="),
        ({"objective": "best_quality", "max_spend": 2}, "target is used only"),
        ({"budgets": [1, 9]}, r"budgets must lie in \[min_budget, max_budget\] = \[0, 8\]"),
        ({"max_budget": 9}, "only 8 observed samples"),
        ({"min_budget": 9, "max_budget": None}, "exceeds max_budget=8"),
        ({"objective": "cheapest"}, "objective"),
    ],
)
def test_parameter_errors(params, match):
    X, R = make_data(n=40)
    with pytest.raises(ValueError, match=match):
        search(**params).fit(X, R)


def test_price_allocator_reports_realized_spend_and_price():
    X, R = make_data(n=400)
    s = search(allocator="price", budgets=[1, 2, 4]).fit(X, R)
    # learnt on the other folds, the price spends about the budget on a test fold
    np.testing.assert_allclose(s.curve_.spend, s.curve_.budget, rtol=0.1)
    assert (np.diff(s.curve_.price) < 0).all()  # a larger budget is a lower price
    assert s.best_price_ == s.allocator_.price_ == s.curve_.price[s.best_index_]
    assert s.allocator_.price == "fit"
    # a stream: one query at a time gives the same budgets as the whole batch
    batch = s.predict(X[:20])
    np.testing.assert_array_equal([s.predict(X[i : i + 1])[0] for i in range(20)], batch)


def test_binned_allocator_search():
    X, R = make_data(n=400)
    s = search(allocator="binned", budgets=[1, 2, 4], n_bins=4).fit(X, R)
    assert np.all(np.abs(s.curve_.spend - s.curve_.budget) < 1)
    assert s.allocator_.n_bins_ <= 4
    assert s.best_score_ >= 0.6


def test_transform_predict_score_and_refit_false():
    X, R = make_data()
    s = search().fit(X, R)
    budgets = s.transform(X)
    assert budgets.shape == (len(X), 1) and budgets.dtype == np.int64
    assert budgets.sum() == np.floor(s.best_budget_ * len(X))  # greedy: one batch
    np.testing.assert_array_equal(s.predict(X), budgets.ravel())
    # score: the quality it optimises, on the given queries at their budgets
    assert s.score(X, R) == pytest.approx(per_query_value(R, budgets.ravel()).mean())
    assert s.get_feature_names_out().tolist() == ["budget"]
    assert s.n_features_in_ == 2
    lazy = search(refit=False).fit(X, R)
    assert not hasattr(lazy, "estimator_")
    with pytest.raises(NotFittedError):
        lazy.predict(X)


def test_pipeline_with_a_real_probe_beats_uniform():
    X, R = make_data(n=300)
    pipe = make_pipeline(StandardScaler(), SuccessProbClassifier(max_iter=200, random_state=0))
    s = BudgetSearchCV(pipe, target=0.6, max_budget=8, budgets=[1, 2, 3, 4], cv=3,
                       random_state=0, n_resamples=100).fit(X[:, 1:], R)
    uniform = {b: per_query_value(R, np.full(len(R), b)).mean() for b in (1, 2, 3, 4)}
    curve = s.curve_.set_index("budget")
    # adaptive allocation from a probe that never saw the scored queries beats best-of-B
    assert curve.quality[2] > uniform[2] and curve.quality[4] > uniform[4]
