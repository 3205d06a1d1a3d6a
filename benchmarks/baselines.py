"""Baselines for the probe benchmarks: what a user could do instead of the MLP probe.

The success-probability baselines live in :mod:`skadapt._baselines` (the demo uses
them too) and are re-exported here: the constant predictor (the paper's "Avg."), soft-
label logistic regression on the same features, and k-nearest neighbours (the
similarity baseline of routers such as RouteLLM). This module adds the same three for
the marginal-reward regressor (one prediction per budget), and one helper that fits a
baseline and returns its predictions for a test set.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skadapt._baselines import ConstantSuccessProb, SoftLabelLogistic, feature_baselines

__all__ = [
    "ConstantSuccessProb",
    "SoftLabelLogistic",
    "ConstantCurve",
    "success_prob_baselines",
    "marginal_reward_baselines",
    "fit_predict",
]


class ConstantCurve(RegressorMixin, BaseEstimator):
    """Predict the training mean marginal-reward curve for every query (Avg.)."""

    def fit(self, X, y):
        self.mean_ = np.asarray(y, dtype=float).mean(axis=0)
        return self

    def predict(self, X):
        return np.tile(self.mean_, (len(X), 1))


def success_prob_baselines(random_state=0):
    """name -> unfitted baseline predicting success probabilities from soft labels."""
    return feature_baselines(random_state=random_state)


def marginal_reward_baselines():
    """name -> unfitted baseline predicting (n, max_budget) marginal rewards.

    Ridge and kNN are not monotone by construction; their predictions are made
    non-increasing (running minimum) and clipped at 0 before allocation.
    """
    return {
        "constant curve (Avg.)": ConstantCurve(),
        "ridge": make_pipeline(StandardScaler(), Ridge(alpha=10.0)),
        "kNN (k=25)": make_pipeline(StandardScaler(),
                                    KNeighborsRegressor(n_neighbors=25, weights="distance")),
    }


def fit_predict(baseline, X_train, y_train, X_test, *, kind="success_prob"):
    """Fit a clone on the training data; predictions for ``X_test``, made valid for ``kind``."""
    pred = np.asarray(clone(baseline).fit(X_train, y_train).predict(X_test), dtype=float)
    if kind == "success_prob":
        return np.clip(pred, 1e-6, 1 - 1e-6)
    return np.minimum.accumulate(np.clip(pred, 0.0, None), axis=1)
