"""Baseline success-probability predictors, for comparison with the MLP probe.

What a user could do instead of reading the LM's hidden state: predict the
average (the paper's "Avg." row), fit a linear model or nearest neighbours on
the same features (the similarity baseline of routers such as RouteLLM), or
read only the query's characters (a text-only baseline that never runs the LM).
All take soft labels in [0, 1] and return probabilities.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class ConstantSuccessProb(RegressorMixin, BaseEstimator):
    """Predict the training mean success rate for every query."""

    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


class SoftLabelLogistic(RegressorMixin, BaseEstimator):
    """Logistic regression on soft labels.

    Cross-entropy with a soft label ``lam`` equals the weighted cross-entropy
    of two copies of the row, labelled 1 with weight ``lam`` and 0 with weight
    ``1 - lam``; scikit-learn's solver fits that exactly.
    """

    def __init__(self, C=1.0, max_iter=1000):
        self.C = C
        self.max_iter = max_iter

    def fit(self, X, y):
        y = np.asarray(y, dtype=float)
        n = y.shape[0]
        X2 = _vstack(X, X)
        labels = np.r_[np.ones(n), np.zeros(n)]
        weights = np.r_[y, 1.0 - y]
        self.model_ = LogisticRegression(C=self.C, max_iter=self.max_iter)
        self.model_.fit(X2, labels, sample_weight=weights)
        return self

    def predict(self, X):
        return self.model_.predict_proba(X)[:, 1]


def _vstack(a, b):
    import scipy.sparse as sp

    if sp.issparse(a):
        return sp.vstack([a, b]).tocsr()
    return np.vstack([a, b])


def feature_baselines(random_state=0):
    """Baselines on a numeric feature matrix (e.g. the LM's hidden states)."""
    return {
        "constant (Avg.)": ConstantSuccessProb(),
        "logistic (soft labels)": make_pipeline(StandardScaler(), SoftLabelLogistic(C=0.1)),
        "kNN (k=25)": make_pipeline(StandardScaler(),
                                    KNeighborsRegressor(n_neighbors=25, weights="distance")),
    }


def text_baseline():
    """Text-only baseline: character n-grams of the raw query, soft-label logistic."""
    return make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
        SoftLabelLogistic(C=1.0),
    )


def fit_predict(baseline, X_train, y_train, X_test):
    """Fit a fresh clone and return clipped probabilities for ``X_test``."""
    model = clone(baseline).fit(X_train, y_train)
    return np.clip(np.asarray(model.predict(X_test), dtype=float), 1e-6, 1 - 1e-6)
