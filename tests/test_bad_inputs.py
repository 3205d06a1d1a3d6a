"""Bad-input suite: every public function and estimator of skadapt, fed what a
careful user or a fuzzer would feed it.

Each case names one call with one bad argument and asserts the exception type
*and* that the message names the offending argument or value (issue 11). The
classes of bad input: wrong shape or number of dimensions, empty arrays,
NaN/inf, values out of range (probabilities outside [0, 1], negative budgets
or counts, non-integers where integers are needed, huge values such as
10**20), complex numbers (which must raise rather than lose their imaginary
part), strings and object arrays, mismatched lengths between arguments, and
parameters changed with ``set_params`` after ``fit``.

The last part holds the cases that must *not* raise but must not go wrong
either: probe probabilities for features of very large magnitude, the memory
of ``BinnedAllocator`` on a million queries, the spend guard on shifted data.
"""

import functools
import os
import re
import tempfile
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skadapt import (
    AllocationByDifficultyDisplay,
    AllocationCurveDisplay,
    BinnedAllocator,
    GreedyAllocator,
    MarginalRewardRegressor,
    SuccessCalibrationDisplay,
    SuccessProbClassifier,
    allocation,
    datasets,
    distributed,
    evaluation,
    feedback,
    metrics,
    persistence,
    routing,
    sampling,
    scoring,
    selection,
    shift,
    targets,
    verifiers,
)

# ----------------------------------------------------------------- fixtures (plain data)

R = np.array(  # 6 queries x 4 binary outcomes
    [[1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1]],
    dtype=float,
)
R_REAL = R * 0.5 + 0.25
P = np.array([0.1, 0.5, 0.9, 0.0, 1.0, 0.3])
DELTA = targets.marginal_rewards(R, 4)
CX = np.array([[1 + 1j, 0.0, 0.0, 1.0]] * 6)  # complex (nonzero imaginary part)
STR = np.array([["a", "b", "c", "d"]] * 6)
OBJ = np.array([[1, "x", 0, 1]] * 6, dtype=object)
HUGE = 10**20
# a path that can never exist (under a file; /nonexistent is the home folder of
# "nobody" and exists on some machines): a model that fails only where it is loaded
NO_MODEL = "/dev/null/skadapt-model"
R_NAN_ROW = R.copy()
R_NAN_ROW[2] = np.nan
R_INF = R.copy()
R_INF[1, 1] = np.inf
ANSWERS = np.array([[1.0, 2.0, 1.0, np.nan]] * 6)
REFERENCE = np.ones(6)


@functools.lru_cache(maxsize=None)
def samples():
    return feedback.StoredSamples(R, answers=ANSWERS, reference=REFERENCE, n_permutations=2)


@functools.lru_cache(maxsize=None)
def fitted(name):
    """Small fitted estimators, built once."""
    X = np.random.default_rng(0).normal(size=(40, 3))
    Y = (np.random.default_rng(1).uniform(size=(40, 4)) < 0.5).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "greedy":
            return GreedyAllocator(budget=2, max_budget=4, kind="success_prob").fit(P[:, None])
        if name == "greedy_marginal":
            return GreedyAllocator(budget=2).fit(DELTA)
        if name == "binned":
            return BinnedAllocator(budget=2, max_budget=4, n_bins=3, kind="success_prob").fit(P[:, None])
        if name == "classifier":
            return SuccessProbClassifier(max_iter=3, random_state=0, hidden_layer_sizes=(8,)).fit(X, Y)
        if name == "regressor":
            return MarginalRewardRegressor(max_iter=3, random_state=0, hidden_layer_sizes=(8,)).fit(X, Y)
    raise KeyError(name)


class _NeverFitted:
    """A probe stand-in: the shift_evaluation cases fail before any fit."""

    def fit(self, X, y):  # pragma: no cover - reaching it is a failed case
        raise AssertionError("fit reached: the bad input was not caught first")


class _BadProba:
    """A classifier whose predict_proba leaves [0, 1] (a bug two_phase must not clip away)."""

    classes_ = np.array([0, 1])

    def predict_proba(self, Z):
        return np.tile([-0.5, 1.5], (len(Z), 1))


class _OvershootingRegressor:
    def predict(self, Z):
        return np.linspace(-0.2, 1.3, len(Z))


def _ray_reached(*args, **kwargs):
    raise AssertionError("Ray reached: the bad argument was not caught before Ray")


def _no_ray(call):
    """``call`` with skadapt.distributed's Ray entry points replaced by a failure."""
    from unittest import mock

    from skadapt import _ray_collection, _ray_features

    def run():
        # patched where featurize and collect look them up
        with mock.patch.object(_ray_features, "_import_ray", _ray_reached), \
                mock.patch.object(_ray_features, "_run_pipeline", _ray_reached), \
                mock.patch.object(_ray_collection, "_import_ray", _ray_reached), \
                mock.patch.object(_ray_collection, "_run_pipeline", _ray_reached):
            return call()
    return run


class _GreedySubclass(GreedyAllocator):
    """Not in persistence.LOADABLE_CLASSES: a subclass is refused, never saved as its base."""


def _sklearn_scaler():
    from sklearn.preprocessing import StandardScaler

    return StandardScaler()


def _pipeline_with_scaler():
    from sklearn.pipeline import Pipeline

    return Pipeline([("scale", _sklearn_scaler()), ("allocate", GreedyAllocator())])


X6 = np.arange(12.0).reshape(6, 2)
GROUPS = np.array(list("aabbcc"))


def reset(name, **params):
    """A fitted estimator with parameters changed after fit (a fresh copy each time)."""
    import copy

    est = copy.deepcopy(fitted(name))
    return est.set_params(**params)


# ------------------------------------------------------------------------- the table

# (id, call, exception type, regex the message must match)
CASES = [
    # ---- skadapt.targets
    ("success_rate-1d", lambda: targets.success_rate([1, 0, 1]), ValueError, r"R must be a 2-D"),
    ("success_rate-3d", lambda: targets.success_rate(np.zeros((2, 2, 2))), ValueError, r"R must be a 2-D"),
    ("success_rate-empty", lambda: targets.success_rate(np.empty((0, 4))), ValueError, r"R is empty"),
    ("success_rate-no-samples", lambda: targets.success_rate(np.empty((3, 0))), ValueError, r"R is empty"),
    ("success_rate-nan-row", lambda: targets.success_rate(R_NAN_ROW), ValueError, r"R has no observed .* row\(s\) \[2\]"),
    ("success_rate-inf", lambda: targets.success_rate(R_INF), ValueError, r"R contains infinite values in row\(s\) \[1\]"),
    ("success_rate-nonbinary", lambda: targets.success_rate(R_REAL), ValueError, r"R must hold binary"),
    ("success_rate-complex", lambda: targets.success_rate(CX), ValueError, r"R .*complex"),
    ("success_rate-complex-list", lambda: targets.success_rate([[1j, 0]]), ValueError, r"R .*complex"),
    ("success_rate-strings", lambda: targets.success_rate(STR), ValueError, r"R must contain numbers"),
    ("success_rate-object", lambda: targets.success_rate(OBJ), ValueError, r"R must contain numbers"),
    ("success_rate-ragged", lambda: targets.success_rate([[1, 0], [1]]), ValueError, r"R must contain numbers"),
    ("pass_at_k-k0", lambda: targets.pass_at_k(R, 0), ValueError, r"k must be >= 1"),
    ("pass_at_k-k-neg", lambda: targets.pass_at_k(R, -2), ValueError, r"k must be >= 1; found -2"),
    ("pass_at_k-k-float", lambda: targets.pass_at_k(R, 1.5), ValueError, r"k must be integers; found 1.5"),
    ("pass_at_k-k-nan", lambda: targets.pass_at_k(R, np.nan), ValueError, r"k contains NaN"),
    ("pass_at_k-k-huge", lambda: targets.pass_at_k(R, HUGE), ValueError, r"k=100000000000000000000 but only 4"),
    ("pass_at_k-k-huge-float", lambda: targets.pass_at_k(R, 1e20), ValueError, r"k=1e\+20|k=100000000000000000000"),
    ("pass_at_k-k-too-large", lambda: targets.pass_at_k(R, 5), ValueError, r"k=5 but only 4"),
    ("pass_at_k-k-length", lambda: targets.pass_at_k(R, [1, 2]), ValueError, r"k must be a scalar or have shape \(6,\)"),
    ("pass_at_k-k-string", lambda: targets.pass_at_k(R, "two"), ValueError, r"k must contain numbers"),
    ("pass_at_k-k-complex", lambda: targets.pass_at_k(R, 2 + 1j), ValueError, r"k .*complex"),
    ("expected_max_reward-k0", lambda: targets.expected_max_reward(R_REAL, 0), ValueError, r"k must be >= 1"),
    ("expected_max_reward-1d", lambda: targets.expected_max_reward([0.5, 0.2], 1), ValueError, r"R must be a 2-D"),
    ("marginal_rewards-max0", lambda: targets.marginal_rewards(R, 0), ValueError, r"max_budget must be an integer >= 1; got 0"),
    ("marginal_rewards-max-float", lambda: targets.marginal_rewards(R, 2.5), ValueError, r"max_budget must be an integer >= 1; got 2.5"),
    ("marginal_rewards-max-str", lambda: targets.marginal_rewards(R, "4"), TypeError, r"max_budget must be an integer"),
    ("marginal_rewards-max-too-large", lambda: targets.marginal_rewards(R, 5), ValueError, r"max_budget=5 exceeds the number of observed samples"),
    ("marginal_rewards-max-huge-extrapolated", lambda: targets.marginal_rewards(R, HUGE, extrapolate="geometric"), ValueError, r"max_budget=100000000000000000000"),
    ("marginal_rewards-extrapolate", lambda: targets.marginal_rewards(R, 2, extrapolate="linear"), ValueError, r"extrapolate must be None or 'geometric'; got 'linear'"),
    ("marginal_rewards-extrapolate-nonbinary", lambda: targets.marginal_rewards(R_REAL, 8, extrapolate="geometric"), ValueError, r"R must hold binary"),
    ("geometric-p-above-1", lambda: targets.geometric_marginal_rewards([0.5, 1.5], 3), ValueError, r"success_prob must lie in \[0, 1\]; found 1.5"),
    ("geometric-p-negative", lambda: targets.geometric_marginal_rewards([-0.1], 3), ValueError, r"success_prob must lie in \[0, 1\]; found -0.1"),
    ("geometric-p-nan", lambda: targets.geometric_marginal_rewards([np.nan], 3), ValueError, r"success_prob contains NaN"),
    ("geometric-p-empty", lambda: targets.geometric_marginal_rewards([], 3), ValueError, r"success_prob is empty"),
    ("geometric-p-2d", lambda: targets.geometric_marginal_rewards(np.ones((2, 2)) / 2, 3), ValueError, r"success_prob must have shape \(n,\) or \(n, 1\)"),
    ("geometric-p-complex", lambda: targets.geometric_marginal_rewards(np.array([0.5 + 0.1j]), 3), ValueError, r"success_prob .*complex"),
    ("geometric-p-strings", lambda: targets.geometric_marginal_rewards(["high"], 3), ValueError, r"success_prob must contain numbers"),
    ("geometric-max-huge", lambda: targets.geometric_marginal_rewards([0.5], HUGE), ValueError, r"max_budget=100000000000000000000"),
    ("geometric-max-neg", lambda: targets.geometric_marginal_rewards([0.5], -1), ValueError, r"max_budget must be an integer >= 1; got -1"),
    ("beta-mean-out", lambda: targets.beta_marginal_rewards([1.2], 2.0, 3), ValueError, r"mean must lie in \[0, 1\]"),
    ("beta-concentration-neg", lambda: targets.beta_marginal_rewards([0.5], -1.0, 3), ValueError, r"concentration must be >= 0"),
    ("beta-concentration-nan", lambda: targets.beta_marginal_rewards([0.5], np.nan, 3), ValueError, r"concentration must be >= 0"),
    ("beta-concentration-length", lambda: targets.beta_marginal_rewards([0.5, 0.2], [1.0, 2.0, 3.0], 3), ValueError, r"concentration must be a number or have shape \(2,\)"),
    ("beta-concentration-complex", lambda: targets.beta_marginal_rewards([0.5], 1 + 1j, 3), ValueError, r"concentration .*complex"),
    ("beta-concentration-str", lambda: targets.beta_marginal_rewards([0.5], "x", 3), ValueError, r"concentration must contain numbers"),
    ("beta-max-huge", lambda: targets.beta_marginal_rewards([0.5], 2.0, HUGE), ValueError, r"max_budget=100000000000000000000"),
    ("preference-rows", lambda: targets.preference_probability(R, R[:3]), ValueError, r"R_strong and R_weak must have the same number of rows"),
    ("preference-weak-inf", lambda: targets.preference_probability(R, R_INF), ValueError, r"R_weak contains infinite"),
    ("preference-strong-1d", lambda: targets.preference_probability([1.0], R), ValueError, r"R_strong must be a 2-D"),
    ("preference-strong-complex", lambda: targets.preference_probability(CX, R), ValueError, r"R_strong .*complex"),
    # ---- skadapt.metrics
    ("expected_success-default-2", lambda: metrics.expected_success(R, 1, default=2.0), ValueError, r"default must lie in \[0, 1\].*got 2.0"),
    ("expected_success-default-neg", lambda: metrics.expected_success(R, 1, default=-0.5), ValueError, r"default must lie in \[0, 1\]"),
    ("expected_success-default-nan", lambda: metrics.expected_success(R, 1, default=np.nan), ValueError, r"default must be a finite number"),
    ("expected_success-default-str", lambda: metrics.expected_success(R, 1, default="0"), TypeError, r"default must be a"),
    ("expected_success-budgets-neg", lambda: metrics.expected_success(R, [1, 1, -1, 1, 1, 1]), ValueError, r"budgets must be >= 0; found -1 at row\(s\) \[2\]"),
    ("expected_success-budgets-float", lambda: metrics.expected_success(R, 1.5), ValueError, r"budgets must be integers; found 1.5"),
    ("expected_success-budgets-huge", lambda: metrics.expected_success(R, HUGE), ValueError, r"budgets=100000000000000000000"),
    ("expected_success-budgets-huge-float", lambda: metrics.expected_success(R, 1e20), ValueError, r"budgets=1e\+20|budgets=100000000000000000000"),
    ("expected_success-budgets-too-many", lambda: metrics.expected_success(R, 5), ValueError, r"budgets exceeds its maximum .*budgets=5"),
    ("expected_success-budgets-length", lambda: metrics.expected_success(R, [1, 2, 3]), ValueError, r"budgets must be a scalar or have shape \(6,\)"),
    ("expected_success-budgets-2col", lambda: metrics.expected_success(R, np.ones((6, 2))), ValueError, r"budgets must be a scalar or have shape \(6,\)"),
    ("expected_success-budgets-nan", lambda: metrics.expected_success(R, [np.nan] * 6), ValueError, r"budgets contains NaN"),
    ("expected_success-budgets-complex", lambda: metrics.expected_success(R, np.ones(6) * (1 + 1j)), ValueError, r"budgets .*complex"),
    ("expected_success-budgets-str", lambda: metrics.expected_success(R, ["1"] * 5 + ["x"]), ValueError, r"budgets must contain numbers"),
    ("expected_success-nonbinary", lambda: metrics.expected_success(R_REAL, 1), ValueError, r"R must hold binary"),
    ("expected_success-empty", lambda: metrics.expected_success(np.empty((0, 3)), []), ValueError, r"R is empty"),
    ("expected_reward-default-inf", lambda: metrics.expected_reward(R_REAL, 1, default=np.inf), ValueError, r"default must be a finite number"),
    ("expected_reward-budgets-neg", lambda: metrics.expected_reward(R_REAL, -1), ValueError, r"budgets must be >= 0"),
    ("best_of_k_curve-neg", lambda: metrics.best_of_k_curve(R, [1, -1]), ValueError, r"each entry of budgets must be an integer >= 0; got -1"),
    ("best_of_k_curve-float", lambda: metrics.best_of_k_curve(R, [1.5]), ValueError, r"each entry of budgets must be an integer >= 0; got 1.5"),
    ("best_of_k_curve-empty", lambda: metrics.best_of_k_curve(R, []), ValueError, r"budgets must be an integer or a non-empty 1-D list"),
    ("best_of_k_curve-2d", lambda: metrics.best_of_k_curve(R, [[1, 2]]), ValueError, r"budgets must be an integer or a non-empty 1-D list"),
    ("best_of_k_curve-huge", lambda: metrics.best_of_k_curve(R, [HUGE]), ValueError, r"budgets contains 100000000000000000000"),
    ("best_of_k_curve-str", lambda: metrics.best_of_k_curve(R, ["2"]), TypeError, r"each entry of budgets must be an integer"),
    ("best_of_k_curve-default-str", lambda: metrics.best_of_k_curve(R, [1], default="a"), TypeError, r"default must be a"),
    ("oracle-budget-neg", lambda: metrics.oracle_budgets(R, -3, max_budget=4), ValueError, r"budget=-3.0 must lie in \[min_budget, max_budget\]"),
    ("oracle-budget-above-max", lambda: metrics.oracle_budgets(R, 5, max_budget=4), ValueError, r"budget=5.0 must lie in"),
    ("oracle-budget-nan", lambda: metrics.oracle_budgets(R, np.nan, max_budget=4), ValueError, r"budget must be a finite number"),
    ("oracle-budget-complex", lambda: metrics.oracle_budgets(R, 2 + 0j, max_budget=4), TypeError, r"budget must be a"),
    ("oracle-max-0", lambda: metrics.oracle_budgets(R, 1, max_budget=0), ValueError, r"max_budget must be an integer >= 1; got 0"),
    ("oracle-min-above-max", lambda: metrics.oracle_budgets(R, 2, max_budget=2, min_budget=3), ValueError, r"min_budget=3 exceeds max_budget=2"),
    ("oracle-method", lambda: metrics.oracle_budgets(R, 2, max_budget=4, method="heap"), ValueError, r"method must be 'greedy' or 'binned'; got 'heap'"),
    ("oracle-n_bins-0", lambda: metrics.oracle_budgets(R, 2, max_budget=4, method="binned", n_bins=0), ValueError, r"n_bins"),
    ("oracle-strategy", lambda: metrics.oracle_budgets(R, 2, max_budget=4, method="binned", strategy="kmeans"), ValueError, r"strategy"),
    ("routing_reward-routed-2", lambda: metrics.routing_reward(R, R, [2, 0, 0, 0, 0, 0]), ValueError, r"routed exceeds its maximum"),
    ("routing_reward-routed-neg", lambda: metrics.routing_reward(R, R, [-1, 0, 0, 0, 0, 0]), ValueError, r"routed must be >= 0"),
    ("routing_reward-routed-length", lambda: metrics.routing_reward(R, R, [1, 0]), ValueError, r"routed must be a scalar or have shape \(6,\)"),
    ("routing_reward-routed-str", lambda: metrics.routing_reward(R, R, ["yes"] * 6), ValueError, r"routed must contain numbers"),
    ("routing_reward-routed-complex", lambda: metrics.routing_reward(R, R, np.ones(6) * 1j), ValueError, r"routed .*complex"),
    ("routing_reward-rows", lambda: metrics.routing_reward(R, R[:2], [1, 0]), ValueError, r"R_strong and R_weak must have the same number of rows"),
    ("random_routing-fraction-above", lambda: metrics.random_routing(R, R, 1.5), ValueError, r"fraction must lie in \[0, 1\]; got 1.5"),
    ("random_routing-fraction-nan", lambda: metrics.random_routing(R, R, np.nan), ValueError, r"fraction must lie in \[0, 1\]"),
    ("random_routing-fraction-str", lambda: metrics.random_routing(R, R, "half"), ValueError, r"fraction must"),
    ("random_routing-fraction-complex", lambda: metrics.random_routing(R, R, 0.5 + 0.5j), ValueError, r"fraction .*complex"),
    ("compute_savings-length", lambda: metrics.compute_savings([1, 2], [0.5], [1, 2], [0.4, 0.5]), ValueError, r"budgets and quality must have the same length"),
    ("compute_savings-neg", lambda: metrics.compute_savings([-1], [0.5], [1, 2], [0.4, 0.5]), ValueError, r"budgets must be >= 0"),
    ("compute_savings-nan", lambda: metrics.compute_savings([1], [np.nan], [1, 2], [0.4, 0.5]), ValueError, r"budgets and quality must be finite"),
    ("compute_savings-uniform-dup", lambda: metrics.compute_savings([1], [0.5], [1, 1], [0.4, 0.5]), ValueError, r"uniform_budgets contains duplicate"),
    ("compute_savings-uniform-empty", lambda: metrics.compute_savings([1], [0.5], [], []), ValueError, r"uniform_budgets is empty"),
    ("compute_savings-str", lambda: metrics.compute_savings(["a"], [0.5], [1, 2], [0.4, 0.5]), ValueError, r"budgets must contain numbers"),
    ("compute_savings-complex", lambda: metrics.compute_savings([1j], [0.5], [1, 2], [0.4, 0.5]), ValueError, r"budgets .*complex"),
    ("probe_report-shapes", lambda: metrics.probe_report([0.1, 0.2], [0.1]), ValueError, r"y_true and y_pred must have the same shape"),
    ("probe_report-loss", lambda: metrics.probe_report([0.1], [0.1], loss="hinge"), ValueError, r"loss must be 'auto'"),
    ("probe_report-split", lambda: metrics.probe_report([0.1], [0.1], split="half"), ValueError, r"split must be 'each' or 'true'"),
    ("probe_report-empty", lambda: metrics.probe_report([], []), ValueError, r"y_true is empty"),
    ("probe_report-nan", lambda: metrics.probe_report([np.nan], [0.1]), ValueError, r"y_true contains NaN"),
    ("probe_report-log_loss-range", lambda: metrics.probe_report([0.1], [1.5], loss="log_loss"), ValueError, r"y_pred must lie in \[0, 1\]"),
    ("probe_report-3d", lambda: metrics.probe_report(np.zeros((1, 1, 1)), np.zeros((1, 1, 1))), ValueError, r"y_true must be 1-D or 2-D"),
    ("probe_report-str", lambda: metrics.probe_report(["a"], [0.1]), ValueError, r"y_true must contain numbers"),
    ("probe_report-complex", lambda: metrics.probe_report([0.1j], [0.1]), ValueError, r"y_true .*complex"),
    ("apgr-equal-quality", lambda: metrics.apgr([0, 1], [0.5, 0.5], weak_quality=0.5, strong_quality=0.5), ValueError, r"strong_quality equals weak_quality"),
    ("apgr-fractions-out", lambda: metrics.apgr([0, 2], [0.4, 0.6], weak_quality=0.4, strong_quality=0.6), ValueError, r"strong_fractions must lie in \[0, 1\]"),
    ("apgr-length", lambda: metrics.apgr([0, 1], [0.4], weak_quality=0.4, strong_quality=0.6), ValueError, r"strong_fractions and quality must have the same length"),
    ("apgr-weak-nan", lambda: metrics.apgr([0, 1], [0.4, 0.6], weak_quality=np.nan, strong_quality=0.6), ValueError, r"weak_quality must be a finite number"),
    ("cpt-level-0", lambda: metrics.cpt([0, 1], [0.4, 0.6], 0.0, weak_quality=0.4, strong_quality=0.6), ValueError, r"level must lie in \(0, 1\]"),
    ("cpt-level-2", lambda: metrics.cpt([0, 1], [0.4, 0.6], 2, weak_quality=0.4, strong_quality=0.6), ValueError, r"level must lie in \(0, 1\]"),
    ("scorer-metric", lambda: metrics.make_allocation_scorer("f1"), ValueError, r"metric must be 'success' or 'reward'; got 'f1'"),
    ("scorer-cost-neg", lambda: metrics.make_allocation_scorer(cost_per_unit=-1), ValueError, r"cost_per_unit must be >= 0"),
    ("scorer-cost-nan", lambda: metrics.make_allocation_scorer(cost_per_unit=np.nan), ValueError, r"cost_per_unit must be a finite number"),
    ("scorer-default-2", lambda: metrics.make_allocation_scorer("success", default=2.0), ValueError, r"default must lie in \[0, 1\]"),
    ("scorer-y-rows", lambda: metrics.make_allocation_scorer()(fitted("greedy"), P[:, None], R[:2]), ValueError, r"y must be the \(n_queries, n_samples\) reward matrix of the 6 queries of X; got shape \(2, 4\)"),
    ("scorer-y-1d", lambda: metrics.make_allocation_scorer()(fitted("greedy"), P[:, None], R[:, 0]), ValueError, r"y must be the \(n_queries, n_samples\) reward matrix .*got shape \(6,\)"),
    # ---- skadapt.allocation (functions)
    ("greedy_allocate-1d", lambda: allocation.greedy_allocate([0.5, 0.2], 1), ValueError, r"marginal_rewards must be a 2-D array"),
    ("greedy_allocate-empty", lambda: allocation.greedy_allocate(np.empty((0, 3)), 0), ValueError, r"marginal_rewards is empty"),
    ("greedy_allocate-nan", lambda: allocation.greedy_allocate([[0.5, np.nan]], 1), ValueError, r"marginal_rewards contains NaN .*row\(s\) \[0\]"),
    ("greedy_allocate-complex", lambda: allocation.greedy_allocate(DELTA * 1j, 3), ValueError, r"marginal_rewards .*complex"),
    ("greedy_allocate-str", lambda: allocation.greedy_allocate(STR, 3), ValueError, r"marginal_rewards must contain numbers"),
    ("greedy_allocate-total-neg", lambda: allocation.greedy_allocate(DELTA, -3), ValueError, r"total_budget must be a finite number >= 0; got -3"),
    ("greedy_allocate-total-nan", lambda: allocation.greedy_allocate(DELTA, np.nan), ValueError, r"total_budget must be a finite number >= 0; got nan"),
    ("greedy_allocate-total-huge", lambda: allocation.greedy_allocate(DELTA, HUGE), ValueError, r"total_budget=100000000000000000000 units exceeds"),
    ("greedy_allocate-total-str", lambda: allocation.greedy_allocate(DELTA, "3"), TypeError, r"total_budget must be a real number"),
    ("greedy_allocate-total-complex", lambda: allocation.greedy_allocate(DELTA, 3 + 0j), TypeError, r"total_budget must be a real number"),
    ("greedy_allocate-total-array", lambda: allocation.greedy_allocate(DELTA, np.array([3, 4])), TypeError, r"total_budget must be a real number"),
    ("greedy_allocate-total-below-min", lambda: allocation.greedy_allocate(DELTA, 3, min_budget=1), ValueError, r"total_budget=3 units is less than n_queries \* min_budget"),
    ("greedy_allocate-min-above-max", lambda: allocation.greedy_allocate(DELTA, 30, min_budget=5), ValueError, r"min_budget=5 exceeds max_budget=4"),
    ("greedy_allocate-min-neg", lambda: allocation.greedy_allocate(DELTA, 3, min_budget=-1), ValueError, r"min_budget must be an integer >= 0; got -1"),
    ("greedy_allocate-min-float", lambda: allocation.greedy_allocate(DELTA, 3, min_budget=0.5), ValueError, r"min_budget must be an integer >= 0; got 0.5"),
    ("greedy_allocate-min-huge", lambda: allocation.greedy_allocate(DELTA, 3, min_budget=HUGE), ValueError, r"min_budget=100000000000000000000 exceeds"),
    ("greedy_sp-p-out", lambda: allocation.greedy_allocate_success_prob([1.5, 0.2], 2, max_budget=2), ValueError, r"success_prob must lie in \[0, 1\]; found 1.5"),
    ("greedy_sp-p-nan", lambda: allocation.greedy_allocate_success_prob([np.nan, 0.2], 2, max_budget=2), ValueError, r"success_prob contains NaN"),
    ("greedy_sp-p-complex", lambda: allocation.greedy_allocate_success_prob(np.array([0.5j, 0.2]), 2, max_budget=2), ValueError, r"success_prob .*complex"),
    ("greedy_sp-max-0", lambda: allocation.greedy_allocate_success_prob(P, 2, max_budget=0), ValueError, r"max_budget must be an integer >= 1; got 0"),
    ("greedy_sp-max-None", lambda: allocation.greedy_allocate_success_prob(P, 2, max_budget=None), TypeError, r"max_budget must be an integer"),
    ("greedy_sp-max-float", lambda: allocation.greedy_allocate_success_prob(P, 2, max_budget=2.5), ValueError, r"max_budget must be an integer >= 1; got 2.5"),
    ("greedy_sp-total-neg", lambda: allocation.greedy_allocate_success_prob(P, -1, max_budget=4), ValueError, r"total_budget must be a finite number >= 0; got -1"),
    ("greedy_sp-total-huge", lambda: allocation.greedy_allocate_success_prob(P, HUGE, max_budget=4), ValueError, r"total_budget=100000000000000000000 units exceeds"),
    # ---- allocators: fit
    ("greedy-fit-budget-neg", lambda: GreedyAllocator(budget=-3).fit(DELTA), ValueError, r"'budget' parameter of GreedyAllocator must be"),
    ("greedy-fit-budget-str", lambda: GreedyAllocator(budget="2").fit(DELTA), TypeError, r"'budget' parameter"),
    ("greedy-fit-budget-nan", lambda: GreedyAllocator(budget=np.nan).fit(DELTA), ValueError, r"'budget' parameter"),
    ("greedy-fit-budget-inf", lambda: GreedyAllocator(budget=np.inf).fit(DELTA), ValueError, r"'budget' parameter of GreedyAllocator .*Got inf"),
    ("greedy-fit-budget-above", lambda: GreedyAllocator(budget=5).fit(DELTA), ValueError, r"budget=5 must lie in \[min_budget, max_budget\] = \[0, 4\]"),
    ("greedy-fit-min-above-max", lambda: GreedyAllocator(budget=2, min_budget=10, max_budget=4).fit(DELTA), ValueError, r"min_budget=10 exceeds max_budget=4"),
    ("greedy-fit-max-float", lambda: GreedyAllocator(max_budget=2.5).fit(DELTA), ValueError, r"'max_budget' parameter"),
    ("greedy-fit-max-huge", lambda: GreedyAllocator(max_budget=HUGE).fit(DELTA), ValueError, r"max_budget=100000000000000000000 but X has 4 feature"),
    ("greedy-fit-kind", lambda: GreedyAllocator(kind="prob").fit(DELTA), ValueError, r"'kind' parameter"),
    ("greedy-fit-sp-2cols", lambda: GreedyAllocator(max_budget=4, kind="success_prob").fit(DELTA), ValueError, r"kind='success_prob' expects X of shape \(n_queries, 1\)"),
    ("greedy-fit-sp-no-max", lambda: GreedyAllocator(kind="success_prob").fit(P[:, None]), ValueError, r"max_budget is required when kind='success_prob'"),
    ("greedy-fit-sp-out", lambda: GreedyAllocator(max_budget=4, kind="success_prob").fit([[1.5]]), ValueError, r"X \(success probabilities\) must lie in \[0, 1\]; found 1.5"),
    ("greedy-fit-nan", lambda: GreedyAllocator().fit([[0.5, np.nan]]), ValueError, r"Input X contains NaN"),
    ("greedy-fit-complex", lambda: GreedyAllocator().fit(DELTA * 1j), ValueError, r"Complex data not supported: X must hold real numbers"),
    ("greedy-fit-1d", lambda: GreedyAllocator().fit([0.5, 0.2]), ValueError, r"Expected a 2-dimensional container|Expected 2D array"),
    ("greedy-fit-empty", lambda: GreedyAllocator().fit(np.empty((0, 3))), ValueError, r"0 sample"),
    ("greedy-fit-str", lambda: GreedyAllocator().fit(STR), TypeError, r"X must contain numbers; could not convert"),
    ("greedy-transform-str", lambda: fitted("greedy").transform([["high"]]), TypeError, r"X must contain numbers; could not convert"),
    # ---- allocators: transform after set_params (issue 11: must re-validate)
    ("greedy-transform-min-above-max", lambda: reset("greedy", min_budget=10, max_budget=4).transform(P[:, None]), ValueError, r"min_budget=10 exceeds max_budget=4"),
    ("greedy-transform-budget-neg", lambda: reset("greedy", budget=-3).transform(P[:, None]), ValueError, r"'budget' parameter of GreedyAllocator must be"),
    ("greedy-transform-budget-above", lambda: reset("greedy", budget=9).transform(P[:, None]), ValueError, r"budget=9 must lie in \[min_budget, max_budget\] = \[0, 4\]"),
    ("greedy-transform-max-none", lambda: reset("greedy", max_budget=None).transform(P[:, None]), ValueError, r"max_budget is required"),
    ("greedy-transform-kind", lambda: reset("greedy_marginal", kind="success_prob").transform(DELTA), ValueError, r"kind='success_prob' expects X of shape \(n_queries, 1\)"),
    ("greedy-transform-max-above-columns", lambda: reset("greedy_marginal", max_budget=8).transform(DELTA), ValueError, r"max_budget=8 but X has 4 feature"),
    ("greedy-transform-width", lambda: fitted("greedy_marginal").transform(DELTA[:, :2]), ValueError, r"X has 2 features, but GreedyAllocator is expecting 4"),
    ("greedy-transform-sp-out", lambda: fitted("greedy").transform([[2.0]]), ValueError, r"X \(success probabilities\) must lie in \[0, 1\]; found 2"),
    ("greedy-transform-nan", lambda: fitted("greedy").transform([[np.nan]]), ValueError, r"Input X contains NaN"),
    ("greedy-transform-complex", lambda: fitted("greedy").transform([[0.5j]]), ValueError, r"Complex data not supported: X must hold real numbers"),
    ("greedy-transform-unfitted", lambda: GreedyAllocator().transform(DELTA), Exception, r"not fitted yet"),
    ("binned-transform-min-above-max", lambda: reset("binned", min_budget=10, max_budget=4).transform(P[:, None]), ValueError, r"min_budget=10 exceeds max_budget=4"),
    ("binned-transform-budget-neg", lambda: reset("binned", budget=-3).transform(P[:, None]), ValueError, r"'budget' parameter of BinnedAllocator must be"),
    ("binned-transform-budget-changed", lambda: reset("binned", budget=3).transform(P[:, None]), ValueError, r"parameters changed since fit \(budget: 2 -> 3\)"),
    ("binned-transform-n_bins-changed", lambda: reset("binned", n_bins=5).transform(P[:, None]), ValueError, r"n_bins: 3 -> 5"),
    ("binned-transform-tolerance-neg", lambda: reset("binned", spend_tolerance=-1).transform(P[:, None]), ValueError, r"'spend_tolerance' parameter"),
    ("binned-transform-window-0", lambda: reset("binned", pacing=True, pacing_window=0).transform(P[:, None]), ValueError, r"'pacing_window' parameter"),
    ("binned-transform-sp-out", lambda: fitted("binned").transform([[-0.5]]), ValueError, r"X \(success probabilities\) must lie in \[0, 1\]; found -0.5"),
    ("greedy-fit-budget-bool", lambda: GreedyAllocator(budget=True).fit(DELTA), TypeError, r"The 'budget' parameter of GreedyAllocator must be a number, not a bool; got True"),
    ("greedy-fit-max-bool", lambda: GreedyAllocator(max_budget=True, kind="success_prob").fit(P[:, None]), TypeError, r"The 'max_budget' parameter of GreedyAllocator must be a number, not a bool"),
    ("greedy-fit-min-bool", lambda: GreedyAllocator(min_budget=False).fit(DELTA), TypeError, r"The 'min_budget' parameter of GreedyAllocator must be a number, not a bool; got False"),
    ("greedy-fit-price-bool", lambda: GreedyAllocator(price=True).fit(DELTA), TypeError, r"The 'price' parameter of GreedyAllocator must be a number, not a bool"),
    ("greedy-transform-budget-bool", lambda: reset("greedy", budget=True).transform(P[:, None]), TypeError, r"The 'budget' parameter of GreedyAllocator must be a number, not a bool"),
    ("binned-fit-budget-bool", lambda: BinnedAllocator(budget=True).fit(DELTA), TypeError, r"The 'budget' parameter of BinnedAllocator must be a number, not a bool"),
    ("binned-fit-n_bins-bool", lambda: BinnedAllocator(n_bins=True).fit(DELTA), TypeError, r"The 'n_bins' parameter of BinnedAllocator must be a number, not a bool"),
    ("binned-fit-tolerance-bool", lambda: BinnedAllocator(spend_tolerance=True).fit(DELTA), TypeError, r"The 'spend_tolerance' parameter of BinnedAllocator must be a number, not a bool"),
    ("binned-fit-window-bool", lambda: BinnedAllocator(pacing=True, pacing_window=True).fit(DELTA), TypeError, r"The 'pacing_window' parameter of BinnedAllocator must be a number, not a bool"),
    ("binned-fit-sp-max-1e7", lambda: BinnedAllocator(budget=4, max_budget=10**7, kind="success_prob").fit(P[:, None]), ValueError, r"max_budget=10000000 is too large for kind='success_prob' on 6 queries: .*share 24 units, so at fit no query gets more than 24; lower max_budget \(at most 131072 here\)"),
    ("binned-fit-sp-max-huge", lambda: BinnedAllocator(budget=4, max_budget=HUGE, kind="success_prob").fit(P[:, None]), ValueError, r"max_budget=100000000000000000000 is too large"),
    ("binned-fit-X-str", lambda: BinnedAllocator().fit(STR), TypeError, r"X must contain numbers; could not convert"),
    ("binned-fit-n_bins-0", lambda: BinnedAllocator(n_bins=0).fit(DELTA), ValueError, r"'n_bins' parameter"),
    ("binned-fit-strategy", lambda: BinnedAllocator(strategy="kmeans").fit(DELTA), ValueError, r"'strategy' parameter"),
    ("binned-fit-y-rows", lambda: BinnedAllocator().fit(DELTA, R[:3]), ValueError, r"inconsistent numbers of samples"),
    ("binned-fit-y-3d", lambda: BinnedAllocator().fit(DELTA, np.zeros((6, 2, 2))), ValueError, r"y must have shape \(n_queries, n_samples\)"),
    ("binned-fit-y-str", lambda: BinnedAllocator().fit(DELTA, STR), ValueError, r"y must contain numbers"),
    ("binned-fit-y-complex", lambda: BinnedAllocator().fit(DELTA, CX), ValueError, r"y .*complex"),
    ("binned-fit-y-inf", lambda: BinnedAllocator().fit(DELTA, R_INF), ValueError, r"y contains infinite"),
    ("binned-fit-y-nan-row", lambda: BinnedAllocator().fit(DELTA, R_NAN_ROW), ValueError, r"y has no observed .*row\(s\) \[2\]"),
    ("binned-fit-price-bool", lambda: BinnedAllocator(price=True).fit(DELTA), TypeError, r"The 'price' parameter of BinnedAllocator must be a number, not a bool"),
    ("binned-fit-price-neg", lambda: BinnedAllocator(price=-0.1).fit(DELTA), ValueError, r"'price' parameter of BinnedAllocator must be None, a float in the range \[0.0, inf\) or a str among \{'fit'\}"),
    ("binned-fit-price-str", lambda: BinnedAllocator(price="auto").fit(DELTA), ValueError, r"'price' parameter of BinnedAllocator .*Got 'auto'"),
    ("binned-fit-price-nan", lambda: BinnedAllocator(price=np.nan).fit(DELTA), ValueError, r"'price' parameter of BinnedAllocator .*Got nan"),
    ("binned-fit-price-inf", lambda: BinnedAllocator(price=np.inf).fit(DELTA), ValueError, r"'price' parameter of BinnedAllocator .*Got inf"),
    ("binned-fit-price-complex", lambda: BinnedAllocator(price=0.5j).fit(DELTA), ValueError, r"'price' parameter of BinnedAllocator"),
    ("binned-fit-sp-max-1e7-price", lambda: BinnedAllocator(budget=99, max_budget=10**7, kind="success_prob", price=0.1).fit(P[:, None]), ValueError, r"max_budget=10000000 is too large .*which takes minutes\. Lower max_budget \(at most 131072 here\)"),
    ("binned-fit-price-pacing", lambda: BinnedAllocator(price=0.1, pacing=True).fit(DELTA), ValueError, r"price=0.1 and pacing=True cannot be combined"),
    ("binned-fit-price-fit-budget-above", lambda: BinnedAllocator(budget=9, max_budget=4, kind="success_prob", price="fit").fit(P[:, None]), ValueError, r"budget=9 must lie in \[min_budget, max_budget\] = \[0, 4\]"),
    ("binned-transform-price-changed", lambda: reset("binned", price=0.1).transform(P[:, None]), ValueError, r"parameters changed since fit \(price: None -> 0.1\)"),
    ("binned-transform-price-pacing", lambda: reset("binned", price="fit", pacing=True).transform(P[:, None]), ValueError, r"price='fit' and pacing=True cannot be combined"),
    ("binned-transform-price-neg", lambda: reset("binned", price=-1).transform(P[:, None]), ValueError, r"'price' parameter of BinnedAllocator"),
    ("binned-spend_account-no-pacing", lambda: fitted("binned").spend_account(), ValueError, r"only with pacing=True"),
    # ---- skadapt.evaluation
    ("per_query_value-budgets-neg", lambda: evaluation.per_query_value(R, -1), ValueError, r"budgets must be >= 0"),
    ("per_query_value-default-2", lambda: evaluation.per_query_value(R, 1, default=2.0), ValueError, r"default must lie in \[0, 1\]"),
    ("per_query_value-rewards-1d", lambda: evaluation.per_query_value([1.0, 0.0], 1), ValueError, r"rewards must be a 2-D"),
    ("bootstrap-empty", lambda: evaluation.bootstrap_interval([]), ValueError, r"values is empty|at least one"),
    ("bootstrap-confidence", lambda: evaluation.bootstrap_interval([0.5, 0.2], confidence=1.5), ValueError, r"confidence must be in \(0, 1\)"),
    ("bootstrap-confidence-nan", lambda: evaluation.bootstrap_interval([0.5, 0.2], confidence=np.nan), ValueError, r"confidence must be"),
    ("bootstrap-resamples-0", lambda: evaluation.bootstrap_interval([0.5, 0.2], n_resamples=0), ValueError, r"n_resamples must be an integer >= 1; got 0"),
    ("bootstrap-resamples-neg", lambda: evaluation.bootstrap_interval([0.5, 0.2], n_resamples=-5), ValueError, r"n_resamples must be an integer >= 1; got -5"),
    ("bootstrap-resamples-float", lambda: evaluation.bootstrap_interval([0.5, 0.2], n_resamples=10.5), ValueError, r"n_resamples must be an integer >= 1; got 10.5"),
    ("bootstrap-nan", lambda: evaluation.bootstrap_interval([0.5, np.nan]), ValueError, r"values contains NaN"),
    ("bootstrap-str", lambda: evaluation.bootstrap_interval(["a", "b"]), ValueError, r"values must contain numbers"),
    ("bootstrap-complex", lambda: evaluation.bootstrap_interval([0.5j, 0.2]), ValueError, r"values .*complex"),
    ("bootstrap-scalar", lambda: evaluation.bootstrap_interval(0.5), ValueError, r"values must"),
    ("allocation_budgets-method", lambda: evaluation.allocation_budgets(R, P, 2, method="best", max_budget=4), ValueError, r"method must be one of .*got 'best'"),
    ("allocation_budgets-uniform-float", lambda: evaluation.allocation_budgets(R, P, 1.5, method="uniform", max_budget=4), ValueError, r"uniform best-of-k needs an integer budget, got 1.5"),
    ("allocation_budgets-uniform-neg", lambda: evaluation.allocation_budgets(R, P, -2, method="uniform", max_budget=4), ValueError, r"budget=-2 must lie in"),
    ("allocation_budgets-uniform-above", lambda: evaluation.allocation_budgets(R, P, 9, method="uniform", max_budget=4), ValueError, r"budget=9 must lie in"),
    ("allocation_budgets-online-neg", lambda: evaluation.allocation_budgets(R, P, -2, method="online", max_budget=4), ValueError, r"budget"),
    ("allocation_budgets-offline-no-held-out", lambda: evaluation.allocation_budgets(R, P, 2, method="offline", max_budget=4), ValueError, r"method='offline' needs held_out"),
    ("allocation_budgets-predictions-length", lambda: evaluation.allocation_budgets(R, P[:3], 2, method="online", max_budget=4), ValueError, r"predictions .*6"),
    ("allocation_budgets-predictions-str", lambda: evaluation.allocation_budgets(R, ["a"] * 6, 2, method="online", max_budget=4), ValueError, r"predictions must contain numbers"),
    ("allocation_budgets-predictions-complex", lambda: evaluation.allocation_budgets(R, P * 1j, 2, method="online", max_budget=4), ValueError, r"predictions .*complex"),
    ("allocation_budgets-rewards-str", lambda: evaluation.allocation_budgets(STR, P, 2, method="oracle", max_budget=4), ValueError, r"rewards must contain numbers"),
    ("allocation_curves-rewards-1d", lambda: evaluation.allocation_curves([1.0, 0.0], P[:2]), ValueError, r"rewards must be a 2-D"),
    ("allocation_curves-methods", lambda: evaluation.allocation_curves(R, P, methods=["magic"]), ValueError, r"unknown methods \['magic'\]"),
    ("allocation_curves-max-above", lambda: evaluation.allocation_curves(R, P, max_budget=9), ValueError, r"max_budget=9 exceeds the 4 observed samples"),
    ("allocation_curves-max-0", lambda: evaluation.allocation_curves(R, P, max_budget=0), ValueError, r"max_budget must be an integer >= 1; got 0"),
    ("allocation_curves-budgets-neg", lambda: evaluation.allocation_curves(R, P, budgets=[-1], methods=["online"]), ValueError, r"budget"),
    ("allocation_curves-budgets-empty", lambda: evaluation.allocation_curves(R, P, budgets=[]), ValueError, r"budgets is empty|budgets must"),
    ("allocation_curves-predictions-length", lambda: evaluation.allocation_curves(R, P[:3], budgets=[1], methods=["online"]), ValueError, r"predictions .*6"),
    ("allocation_curves-nan-row", lambda: evaluation.allocation_curves(R_NAN_ROW, P), ValueError, r"rewards has no observed"),
    ("allocation_curves-default-2", lambda: evaluation.allocation_curves(R, P, budgets=[1], default=2.0), ValueError, r"default must lie in \[0, 1\]"),
    # ---- skadapt.shift
    ("leave_group_out-2d", lambda: shift.leave_group_out(np.zeros((2, 2))), ValueError, r"groups must be a non-empty 1-D array"),
    ("leave_group_out-empty", lambda: shift.leave_group_out([]), ValueError, r"groups must be a non-empty 1-D array"),
    ("leave_group_out-n_splits-1", lambda: shift.leave_group_out([0, 1, 2], n_splits=1), ValueError, r"n_splits must be an integer >= 2, got 1"),
    ("leave_group_out-n_splits-float", lambda: shift.leave_group_out([0, 1, 2], n_splits=2.0), ValueError, r"n_splits must be an integer >= 2, got 2.0"),
    ("leave_group_out-n_splits-above", lambda: shift.leave_group_out([0, 1, 1], n_splits=3), ValueError, r"n_splits=3 exceeds the 2 distinct groups"),
    ("leave_group_out-n_splits-huge", lambda: shift.leave_group_out([0, 1, 1], n_splits=HUGE), ValueError, r"n_splits=100000000000000000000 exceeds"),
    ("split_samples-1d", lambda: shift.split_samples([1.0, 0.0]), ValueError, r"R must be 2-D with at least 2 samples"),
    ("split_samples-n_allocate-0", lambda: shift.split_samples(R, 0), ValueError, r"n_allocate must be an integer in \[1, 3\], got 0"),
    ("split_samples-n_allocate-all", lambda: shift.split_samples(R, 4), ValueError, r"n_allocate must be an integer in \[1, 3\], got 4"),
    ("split_samples-n_allocate-float", lambda: shift.split_samples(R, 1.5), ValueError, r"n_allocate must be an integer in \[1, 3\], got 1.5"),
    ("split_samples-str", lambda: shift.split_samples(STR), ValueError, r"R must contain numbers"),
    ("split_samples-complex", lambda: shift.split_samples(CX), ValueError, r"R .*complex"),
    ("split_samples-empty", lambda: shift.split_samples(np.empty((0, 4))), ValueError, r"R is empty"),
    ("split_sample_oracle-budget-neg", lambda: shift.split_sample_oracle(R, -1, max_budget=4), ValueError, r"budget=-1.0 must lie in"),
    ("split_sample_oracle-max-None", lambda: shift.split_sample_oracle(R, 1, max_budget=None), TypeError, r"max_budget must be an integer"),
    ("split_sample_oracle-max-str", lambda: shift.split_sample_oracle(R, 1, max_budget="4"), TypeError, r"max_budget must be an integer"),
    ("split_sample_oracle-str", lambda: shift.split_sample_oracle(STR, 1, max_budget=4), ValueError, r"R_allocate must contain numbers"),
    ("split_sample_oracle-1d", lambda: shift.split_sample_oracle([1.0, 0.0], 1, max_budget=4), ValueError, r"R_allocate must be a 2-D"),
    ("split_sample_oracle-complex", lambda: shift.split_sample_oracle(CX, 1, max_budget=4), ValueError, r"R_allocate .*complex"),
    ("shift_eval-R-rows", lambda: shift.shift_evaluation(_NeverFitted(), X6, R[:4]), ValueError, r"R must be 2-D with one row per query of X \(6\)"),
    ("shift_eval-R-complex", lambda: shift.shift_evaluation(_NeverFitted(), X6, CX), ValueError, r"R must hold real numbers"),
    ("shift_eval-groups-length", lambda: shift.shift_evaluation(_NeverFitted(), X6, R, groups=GROUPS[:4]), ValueError, r"groups must have shape \(6,\)"),
    ("shift_eval-budgets-float", lambda: shift.shift_evaluation(_NeverFitted(), X6, R, budgets=[1.5]), ValueError, r"each entry of budgets must be an integer >= 1; got 1.5"),
    ("shift_eval-budgets-str", lambda: shift.shift_evaluation(_NeverFitted(), X6, R, budgets="12"), ValueError, r"budgets must be a list of integers, got '12'"),
    ("shift_eval-random-state-str", lambda: shift.shift_evaluation(_NeverFitted(), X6, R, random_state="x"), ValueError, r"random_state must be None, an int or a numpy RandomState, got 'x'"),
    ("shift_eval-budgets-above", lambda: shift.shift_evaluation(_NeverFitted(), X6, R, budgets=[9]), ValueError, r"budgets must lie in \[1, 2\] .*got \[9\]"),
    ("shift_eval-min-neg", lambda: shift.shift_evaluation(_NeverFitted(), X6, R, min_budget=-1), ValueError, r"min_budget must be an integer >= 0; got -1"),
    ("shift_eval-n_allocate", lambda: shift.shift_evaluation(_NeverFitted(), X6, R, n_allocate=4), ValueError, r"n_allocate must be an integer in \[1, 3\], got 4"),
    ("shift_eval-n_splits", lambda: shift.shift_evaluation(_NeverFitted(), X6, R, groups=GROUPS, n_splits=5, budgets=[1]), ValueError, r"n_splits=5 exceeds the 3 distinct groups"),
    # ---- skadapt.display (errors come before any plotting)
    ("calibration-y_true-out", lambda: SuccessCalibrationDisplay.from_predictions(P * 2, P), ValueError, r"y_true must hold success rates in \[0, 1\]"),
    ("calibration-y_true-nan", lambda: SuccessCalibrationDisplay.from_predictions([np.nan] * 6, P), ValueError, r"y_true must hold success rates"),
    ("calibration-y_true-3d", lambda: SuccessCalibrationDisplay.from_predictions(np.zeros((6, 1, 1)), P), ValueError, r"y_true must be 1-D or 2-D"),
    ("calibration-y_true-nonbinary", lambda: SuccessCalibrationDisplay.from_predictions(R_REAL, P), ValueError, r"R must hold binary"),
    ("calibration-y_prob-out", lambda: SuccessCalibrationDisplay.from_predictions(P, P * 2), ValueError, r"y_prob must be probabilities in \[0, 1\]"),
    ("calibration-y_prob-complex", lambda: SuccessCalibrationDisplay.from_predictions(P, P * 1j), ValueError, r"y_prob must hold real numbers"),
    ("calibration-lengths", lambda: SuccessCalibrationDisplay.from_predictions(P, P[:3]), ValueError, r"y_true has 6 queries but y_prob has 3"),
    ("calibration-n_bins-0", lambda: SuccessCalibrationDisplay.from_predictions(P, P, n_bins=0), ValueError, r"n_bins must be an integer >= 1; got 0"),
    ("calibration-n_bins-float", lambda: SuccessCalibrationDisplay.from_predictions(P, P, n_bins=2.5), ValueError, r"n_bins must be an integer >= 1; got 2.5"),
    ("calibration-n_bins-huge", lambda: SuccessCalibrationDisplay.from_predictions(P, P, n_bins=HUGE, strategy="uniform"), ValueError, r"n_bins=100000000000000000000 needs arrays"),
    ("calibration-strategy", lambda: SuccessCalibrationDisplay.from_predictions(P, P, strategy="kmeans"), ValueError, r"strategy must be 'quantile' or 'uniform', got 'kmeans'"),
    ("difficulty-y_prob-out", lambda: AllocationByDifficultyDisplay.from_predictions(P + 1), ValueError, r"y_prob must lie in \[0, 1\]; found 1.1"),
    ("difficulty-y_prob-nan", lambda: AllocationByDifficultyDisplay.from_predictions([np.nan] * 6), ValueError, r"y_prob contains NaN"),
    ("difficulty-too-few", lambda: AllocationByDifficultyDisplay.from_predictions([0.5, 0.2]), ValueError, r"need at least 3 queries for tertiles, got 2"),
    ("difficulty-budget-above", lambda: AllocationByDifficultyDisplay.from_predictions(P, budgets=[64], max_budget=32), ValueError, r"budget=64 must lie in \[min_budget, max_budget\] = \[0, 32\]"),
    ("curve-predictions-length", lambda: AllocationCurveDisplay.from_predictions(R, P[:3]), ValueError, r"predictions must have one row per query, shape \(6,\)"),
    ("curve-rewards-str", lambda: AllocationCurveDisplay.from_predictions(STR, P), ValueError, r"rewards must contain numbers"),
    # ---- skadapt.selection
    ("majority_curve-1d", lambda: selection.majority_vote_curve([1.0, 2.0], [1.0]), ValueError, r"answers must be a non-empty 2-D array"),
    ("majority_curve-reference-length", lambda: selection.majority_vote_curve(ANSWERS, [1.0]), ValueError, r"reference must have shape \(n_queries,\) = \(6,\)"),
    ("majority_curve-str", lambda: selection.majority_vote_curve(STR, REFERENCE), ValueError, r"answers must contain numbers"),
    ("majority_curve-complex", lambda: selection.majority_vote_curve(ANSWERS * 1j, REFERENCE), ValueError, r"answers .*complex"),
    ("majority_curve-reference-complex", lambda: selection.majority_vote_curve(ANSWERS, REFERENCE * 1j), ValueError, r"reference .*complex"),
    ("majority_curve-reference-nan", lambda: selection.majority_vote_curve(ANSWERS, [np.nan] * 6), ValueError, r"reference contains NaN"),
    ("majority_curve-inf-answer", lambda: selection.majority_vote_curve(ANSWERS * np.inf, REFERENCE), ValueError, r"answers contains infinite"),
    ("majority_marginal-max-above", lambda: selection.majority_vote_marginal_rewards(ANSWERS, REFERENCE, 5), ValueError, r"max_budget=5 exceeds the number of stored samples \(4\)"),
    ("majority_marginal-max-0", lambda: selection.majority_vote_marginal_rewards(ANSWERS, REFERENCE, 0), ValueError, r"max_budget must be an integer >= 1; got 0"),
    ("selection_curve-rule", lambda: selection.selection_curve("vote", outcomes=R), ValueError, r"rule must be one of .*got 'vote'"),
    ("selection_curve-missing-outcomes", lambda: selection.selection_curve("oracle"), ValueError, r"rule='oracle' needs outcomes"),
    ("selection_curve-missing-reference", lambda: selection.selection_curve("majority", answers=ANSWERS), ValueError, r"rule='majority' needs answers and reference"),
    ("selection_curve-nonbinary", lambda: selection.selection_curve("oracle", outcomes=R_REAL), ValueError, r"outcomes must hold binary"),
    ("selection_curve-max-above", lambda: selection.selection_curve("best_of_k", rewards=R_REAL, max_budget=5), ValueError, r"max_budget=5 exceeds the fewest observed samples"),
    ("concave-1d", lambda: selection.concave_envelope([0.1, 0.2]), ValueError, r"curve must be a non-empty 2-D array"),
    ("concave-nan", lambda: selection.concave_envelope([[0.1, np.nan]]), ValueError, r"curve contains NaN"),
    ("concave-complex", lambda: selection.concave_envelope([[0.1j, 0.2]]), ValueError, r"curve .*complex"),
    ("concave-str", lambda: selection.concave_envelope([["a"]]), ValueError, r"curve must contain numbers"),
    # ---- skadapt.feedback
    ("stored-nothing", lambda: feedback.StoredSamples(), ValueError, r"StoredSamples needs outcomes, or answers and reference"),
    ("stored-no-reference", lambda: feedback.StoredSamples(answers=ANSWERS), ValueError, r"answers needs reference"),
    ("stored-outcomes-nonbinary", lambda: feedback.StoredSamples(R_REAL), ValueError, r"outcomes"),
    ("stored-outcomes-1d", lambda: feedback.StoredSamples([1.0, 0.0]), ValueError, r"outcomes"),
    ("stored-outcomes-complex", lambda: feedback.StoredSamples(CX), ValueError, r"outcomes .*complex"),
    ("stored-outcomes-str", lambda: feedback.StoredSamples(STR), ValueError, r"outcomes must contain numbers"),
    ("stored-outcomes-inf", lambda: feedback.StoredSamples(R_INF), ValueError, r"outcomes contains .*row\(s\) \[1\]"),
    ("stored-answers-shape", lambda: feedback.StoredSamples(R, answers=ANSWERS[:, :2], reference=REFERENCE), ValueError, r"outcomes must have shape \(6, 2\) like answers; got \(6, 4\)"),
    ("stored-reference-length", lambda: feedback.StoredSamples(R, answers=ANSWERS, reference=[1.0]), ValueError, r"reference"),
    ("stored-logprob-shape", lambda: feedback.StoredSamples(R, mean_logprob=np.zeros((6, 2))), ValueError, r"mean_logprob must have shape \(6, 4\)"),
    ("stored-logprob-positive", lambda: feedback.StoredSamples(R, mean_logprob=np.ones((6, 4))), ValueError, r"mean_logprob must lie in \[-inf, 0.0001\]; found 1.0"),
    ("stored-n_permutations-0", lambda: feedback.StoredSamples(R, n_permutations=0), ValueError, r"n_permutations must be an integer >= 1; got 0"),
    ("stored-n_permutations-str", lambda: feedback.StoredSamples(R, n_permutations="many"), ValueError, r"n_permutations must be a positive integer or 'all'; got 'many'"),
    ("stored-orders-bad", lambda: feedback.StoredSamples(R, orders=np.zeros((6, 1, 4), dtype=int)), ValueError, r"orders must hold, for every query and world, a permutation"),
    ("uniform-k-0", lambda: feedback.uniform(samples(), 0), ValueError, r"k must be an integer >= 1; got 0"),
    ("uniform-k-above", lambda: feedback.uniform(samples(), 5), ValueError, r"k=5 must lie in \[1, 4\]"),
    ("uniform-k-huge", lambda: feedback.uniform(samples(), HUGE), ValueError, r"k=100000000000000000000 must lie in \[1, 4\]"),
    ("uniform-not-samples", lambda: feedback.uniform(R, 1), TypeError, r"samples must be a StoredSamples"),
    ("one_shot-predictions-length", lambda: feedback.one_shot(samples(), P[:3], 2), ValueError, r"predictions"),
    ("one_shot-predictions-out", lambda: feedback.one_shot(samples(), P + 1, 2), ValueError, r"predictions .*\[0, 1\]"),
    ("one_shot-predictions-complex", lambda: feedback.one_shot(samples(), P * 1j, 2), ValueError, r"predictions .*complex"),
    ("one_shot-budget-neg", lambda: feedback.one_shot(samples(), P, -1), ValueError, r"budget=-1 must lie in \[0, 4\]"),
    ("one_shot-budget-nan", lambda: feedback.one_shot(samples(), P, np.nan), ValueError, r"budget must be a finite number"),
    ("one_shot-budget-str", lambda: feedback.one_shot(samples(), P, "2"), TypeError, r"budget must be a"),
    ("one_shot-kind", lambda: feedback.one_shot(samples(), P, 2, kind="probability"), ValueError, r"kind must be 'success_prob' or 'marginal'; got 'probability'"),
    ("one_shot-max-above", lambda: feedback.one_shot(samples(), P, 2, max_budget=9), ValueError, r"max_budget=9 must lie in \[1, 4\]"),
    ("split_oracle-selection", lambda: feedback.split_sample_oracle(samples(), 1, selection="vote"), ValueError, r"selection must be one of .*got 'vote'"),
    ("split_oracle-budget-neg", lambda: feedback.split_sample_oracle(samples(), -1), ValueError, r"budget=-1 must lie in"),
    ("two_phase-first-0", lambda: feedback.two_phase(samples(), lambda Z: np.full(len(Z), 0.5), 2, first_samples=0), ValueError, r"first_samples must be an integer >= 1; got 0"),
    ("two_phase-budget-below-first", lambda: feedback.two_phase(samples(), lambda Z: np.full(len(Z), 0.5), 0.5, first_samples=1), ValueError, r"budget=0.5 must lie in \[1, 4\]"),
    ("two_phase-predictor-nan", lambda: feedback.two_phase(samples(), lambda Z: np.full(len(Z), np.nan), 2), ValueError, r"predictor returned NaN"),
    ("two_phase-predictor-length", lambda: feedback.two_phase(samples(), lambda Z: np.full(2, 0.5), 2), ValueError, r"predictor"),
    ("two_phase-X-rows", lambda: feedback.two_phase(samples(), lambda Z: np.full(len(Z), 0.5), 2, X=np.zeros((2, 3))), ValueError, r"X must have shape \(n_queries, n_features\) = \(6, n_features\)"),
    ("two_phase_training-first-all", lambda: feedback.two_phase_training_data(samples(), first_samples=4), ValueError, r"first_samples=4 must be smaller than n_samples=4"),
    ("two_phase_training-draws-0", lambda: feedback.two_phase_training_data(samples(), n_draws=0), ValueError, r"n_draws must be an integer >= 1; got 0"),
    ("multi_round-rounds-0", lambda: feedback.multi_round(samples(), 2, rounds=0), ValueError, r"rounds must be an integer >= 1; got 0"),
    ("multi_round-prior-out", lambda: feedback.multi_round(samples(), 2, prior=1.5), ValueError, r"prior must be a probability"),
    ("multi_round-prior_strength-neg", lambda: feedback.multi_round(samples(), 2, prior=0.5, prior_strength=-1), ValueError, r"prior_strength must be a positive number; got -1"),
    ("price_rule-price-nan", lambda: feedback.price_rule(samples(), np.nan), ValueError, r"price must be a finite number; got nan"),
    ("price_rule-max_samples-0", lambda: feedback.price_rule(samples(), 0.1, max_samples=0), ValueError, r"max_samples must be an integer >= 1; got 0"),
    ("ac-threshold-0", lambda: feedback.adaptive_consistency(samples(), threshold=0.0), ValueError, r"threshold must lie in \(0, 1\]; got 0.0"),
    ("ac-threshold-str", lambda: feedback.adaptive_consistency(samples(), threshold="high"), ValueError, r"threshold must be a number in \[0, 1\]; got 'high'"),
    ("ac-max_samples-0", lambda: feedback.adaptive_consistency(samples(), max_samples=0), ValueError, r"max_samples must be an integer >= 1; got 0"),
    ("uab-no-logprob", lambda: feedback.uab(samples(), 2), ValueError, r"uab needs mean_logprob"),
    ("phase_evidence-0d", lambda: feedback.phase_evidence(1.0), ValueError, r"answers_seen must have shape \(\.\.\., r\) with r >= 1"),
    ("phase_evidence-str", lambda: feedback.phase_evidence([["a"]]), ValueError, r"answers_seen must contain numbers"),
    ("phase_evidence-complex", lambda: feedback.phase_evidence([[1j]]), ValueError, r"answers_seen .*complex"),
    ("phase_evidence-logprob-shape", lambda: feedback.phase_evidence([[1.0, 2.0]], mean_logprob_seen=[[0.0]]), ValueError, r"mean_logprob_seen"),
    ("quality_at_spend-length", lambda: feedback.quality_at_spend([1, 2], [0.5], 1.5), ValueError, r"avg_samples and quality must be non-empty and of equal length"),
    ("quality_at_spend-target-nan", lambda: feedback.quality_at_spend([1, 2], [0.5, 0.6], np.nan), ValueError, r"target"),
    ("sweep_policy-param", lambda: feedback.sweep_policy(feedback.uniform, samples(), "kk", [1]), TypeError, r"kk"),
    ("subset-out-of-range", lambda: samples().subset([0, 9]), ValueError, r"rows holds 9, outside the 6 queries"),
    ("subset-mask-length", lambda: samples().subset([True, False]), ValueError, r"rows as a boolean mask must have shape \(6,\); got \(2,\)"),
    ("subset-float", lambda: samples().subset([0.5]), TypeError, r"rows must hold integer indices or a boolean mask"),
    ("subset-empty", lambda: samples().subset([]), ValueError, r"rows is empty"),
    ("from_bunch-rows", lambda: feedback.StoredSamples.from_bunch({"outcomes": R}, rows=[0, 99]), ValueError, r"rows holds 99, outside the 6 queries"),
    ("curve-selection", lambda: samples().curve("vote"), ValueError, r"selection must be 'oracle' or 'majority'; got 'vote'"),
    ("compare-success_prob-out", lambda: feedback.compare_policies(samples(), [1], success_prob=P * 2), ValueError, r"success_prob must lie in \[0, 1\]"),
    ("compare-success_prob-length", lambda: feedback.compare_policies(samples(), [1], success_prob=[0.5]), ValueError, r"success_prob must have shape \(n_queries,\) = \(6,\); got \(1,\)"),
    ("compare-budgets-complex", lambda: feedback.compare_policies(samples(), [1j]), ValueError, r"budgets must hold real numbers"),
    ("compare-budgets-neg", lambda: feedback.compare_policies(samples(), [-1]), ValueError, r"budget=-1.0 must lie in \[0, 2\]"),
    ("sweep-values-empty", lambda: feedback.sweep_policy(feedback.uniform, samples(), "k", []), ValueError, r"values must be a non-empty list of values of k"),
    ("two_phase-predictor-int", lambda: feedback.two_phase(samples(), 5, 2), TypeError, r"predictor must be a fitted scikit-learn classifier .*got int"),
    ("uab-tau-neg", lambda: feedback.uab(feedback.StoredSamples(R, mean_logprob=-np.ones((6, 4))), 2, tau=-1), ValueError, r"tau must be a positive number; got -1"),
    ("uab-easy-out", lambda: feedback.uab(feedback.StoredSamples(R, mean_logprob=-np.ones((6, 4))), 2, easy_threshold=2), ValueError, r"easy_threshold must lie in \[0, 1\]; got 2"),
    ("uab-confidence", lambda: feedback.uab(feedback.StoredSamples(R, mean_logprob=-np.ones((6, 4))), 2, confidence="x"), ValueError, r"confidence must be 'exp' or 'sigmoid'; got 'x'"),
    ("price_rule-prior-without-verifier", lambda: feedback.price_rule(samples(), 0.1, verifier_at_inference=False, prior=0.5), ValueError, r"prior is used only with verifier_at_inference=True"),
    ("multi_round-prior-length", lambda: feedback.multi_round(samples(), 2, prior=[0.5, 0.5]), ValueError, r"prior must be a probability or an array of shape \(6,\)"),
    ("ac-max_samples-float", lambda: feedback.adaptive_consistency(samples(), max_samples=2.5), ValueError, r"max_samples must be an integer >= 1; got 2.5"),
    ("two_phase-predictor-above-1", lambda: feedback.two_phase(samples(), lambda Z: np.full(len(Z), 1.2), 2), ValueError, r"predictor returned success probabilities outside \[0, 1\]: the predictor's output has 6 of 6 values outside \[0, 1\] \(range \[1.2, 1.2\]\) at row\(s\) \[0, 1"),
    ("two_phase-predictor-negative", lambda: feedback.two_phase(samples(), lambda Z: np.where(np.arange(len(Z)) == 3, -0.1, 0.5), 2), ValueError, r"the predictor's output has 1 of 6 values outside \[0, 1\] \(range \[-0.1, 0.5\]\) at row\(s\) \[3\]"),
    ("two_phase-classifier-above-1", lambda: feedback.two_phase(samples(), _BadProba(), 2), ValueError, r"the predictor's output has 6 of 6 values outside \[0, 1\]"),
    ("two_phase-predictor-complex", lambda: feedback.two_phase(samples(), lambda Z: np.full(len(Z), 0.5j), 2), TypeError, r"the predictor's output must hold real numbers"),
    ("two_phase-predictor-strings", lambda: feedback.two_phase(samples(), lambda Z: ["high"] * len(Z), 2), TypeError, r"the predictor's output must contain numbers"),
    ("two_phase-X-complex", lambda: feedback.two_phase(samples(), lambda Z: np.full(len(Z), 0.5), 2, X=np.ones((6, 2)) * 1j), TypeError, r"X must hold real numbers"),
    ("two_phase_training-X-complex", lambda: feedback.two_phase_training_data(samples(), X=np.ones((6, 2)) * 1j), TypeError, r"X must hold real numbers"),
    ("stored-n_tokens-neg", lambda: feedback.StoredSamples(R, n_tokens=-np.ones((6, 4))), ValueError, r"n_tokens must lie in \[0, inf\]; found -1.0"),
    # ---- skadapt.datasets
    ("arithmetic-n-neg", lambda: datasets.make_arithmetic_tasks(-1), ValueError, r"n_queries must be an integer >= 0, got -1"),
    ("arithmetic-n-float", lambda: datasets.make_arithmetic_tasks(2.5), ValueError, r"n_queries must be an integer >= 0, got 2.5"),
    ("arithmetic-n-huge", lambda: datasets.make_arithmetic_tasks(HUGE), ValueError, r"n_queries=100000000000000000000"),
    ("arithmetic-n-str", lambda: datasets.make_arithmetic_tasks("10"), ValueError, r"n_queries must be an integer >= 0, got '10'"),
    ("arithmetic-mix-family", lambda: datasets.make_arithmetic_tasks(5, mix={("div", 1): 1.0}), ValueError, r"unknown family 'div'"),
    ("arithmetic-mix-neg", lambda: datasets.make_arithmetic_tasks(5, mix={("addition", 1): -1.0}), ValueError, r"mix needs finite non-negative weights .*-1.0"),
    ("arithmetic-mix-nan", lambda: datasets.make_arithmetic_tasks(5, mix={("addition", 1): np.nan}), ValueError, r"mix needs finite non-negative weights .*nan"),
    ("arithmetic-mix-key", lambda: datasets.make_arithmetic_tasks(5, mix={"addition": 1.0}), ValueError, r"mix keys must be \(family, level\) pairs; got 'addition'"),
    ("arithmetic-random_state", lambda: datasets.make_arithmetic_tasks(5, random_state="seed"), ValueError, r"random_state|seed"),
    ("diverse-n-neg", lambda: datasets.make_diverse_tasks(-1), ValueError, r"n_queries must be an integer >= 0, got -1"),
    ("diverse-n-huge", lambda: datasets.make_diverse_tasks(HUGE), ValueError, r"n_queries=100000000000000000000"),
    ("diverse-family", lambda: datasets.make_diverse_tasks(5, families=["poetry"]), ValueError, r"unknown family 'poetry'"),
    ("diverse-template", lambda: datasets.make_diverse_tasks(5, templates=["shout"]), ValueError, r"unknown template 'shout'"),
    ("diverse-families-str", lambda: datasets.make_diverse_tasks(5, families="add"), ValueError, r"families must be a list of names, not the string 'add'"),
    ("load_arithmetic-missing", lambda: datasets.load_arithmetic(path="/nonexistent/skadapt"), FileNotFoundError, r"/nonexistent/skadapt"),
    ("load_diverse-missing", lambda: datasets.load_diverse(path="/nonexistent/skadapt"), FileNotFoundError, r"/nonexistent/skadapt"),
    ("broader-n-neg", lambda: datasets.make_broader_tasks(-1), ValueError, r"n_queries must be an integer >= 0, got -1"),
    ("broader-family", lambda: datasets.make_broader_tasks(5, families=["addition"]), ValueError, r"unknown family 'addition'; choose from \['area'"),
    ("broader-template", lambda: datasets.make_broader_tasks(5, templates=["shout"]), ValueError, r"unknown template 'shout'"),
    ("broader-families-str", lambda: datasets.make_broader_tasks(5, families="gcd"), ValueError, r"families must be a list of names, not the string 'gcd'"),
    ("broader-exhausted", lambda: datasets.make_broader_tasks(100, families=["factorial"], templates=["question"]), ValueError, r"fewer than n_queries=100 distinct queries"),
    ("load_broader-missing", lambda: datasets.load_broader(path="/nonexistent/skadapt"), FileNotFoundError, r"/nonexistent/skadapt"),
    # ---- probes
    ("classifier-y-out", lambda: SuccessProbClassifier(max_iter=1).fit(np.zeros((4, 2)), [0.5, 2.0, 0.1, 0.2]), ValueError, r"y must hold soft labels in \[0, 1\]|values in \[0.1, 2\]"),
    ("classifier-y-length", lambda: SuccessProbClassifier(max_iter=1).fit(np.zeros((4, 2)), [0.5, 0.2]), ValueError, r"inconsistent numbers of samples"),
    ("classifier-y-complex", lambda: SuccessProbClassifier(max_iter=1).fit(np.zeros((4, 2)), np.array([0.5, 0.2, 0.1, 0.1]) * 1j), ValueError, r"[Cc]omplex"),
    ("classifier-y-str", lambda: SuccessProbClassifier(max_iter=1).fit(np.zeros((4, 2)), ["a", "b", "c", "d"]), TypeError, r"^y must contain numbers; could not convert"),
    ("classifier-fit-X-str", lambda: SuccessProbClassifier(max_iter=1).fit(STR[:4], [0.5, 0.2, 0.1, 0.1]), TypeError, r"^X must contain numbers; could not convert it: could not convert string to float"),
    ("classifier-fit-X-and-y-str", lambda: SuccessProbClassifier(max_iter=1).fit(STR[:4], ["a", "b", "c", "d"]), TypeError, r"^X must contain numbers"),
    ("classifier-fit-X-object", lambda: SuccessProbClassifier(max_iter=1).fit(OBJ[:4], [0.5, 0.2, 0.1, 0.1]), TypeError, r"^X must contain numbers"),
    ("classifier-transform-X-str", lambda: fitted("classifier").transform(STR[:2, :3]), TypeError, r"^X must contain numbers; could not convert"),
    ("classifier-predict_proba-X-str", lambda: fitted("classifier").predict_proba([["a", "b", "c"]]), TypeError, r"^X must contain numbers"),
    ("regressor-fit-X-str", lambda: MarginalRewardRegressor(max_iter=1).fit(STR, R), TypeError, r"^X must contain numbers; could not convert"),
    ("regressor-fit-y-str", lambda: MarginalRewardRegressor(max_iter=1).fit(np.zeros((6, 2)), STR), TypeError, r"^y must contain numbers"),
    ("regressor-predict-X-str", lambda: fitted("regressor").predict(STR[:2, :3]), TypeError, r"^X must contain numbers; could not convert"),
    ("classifier-X-complex", lambda: SuccessProbClassifier(max_iter=1).fit(np.zeros((4, 2)) * 1j, [0.5, 0.2, 0.1, 0.1]), ValueError, r"[Cc]omplex"),
    ("classifier-X-nan", lambda: SuccessProbClassifier(max_iter=1).fit([[np.nan, 1.0]] * 4, [0.5, 0.2, 0.1, 0.1]), ValueError, r"Input X contains NaN"),
    ("classifier-alpha-neg", lambda: SuccessProbClassifier(alpha=-1).fit(np.zeros((4, 2)), [0.5, 0.2, 0.1, 0.1]), ValueError, r"'alpha' parameter"),
    ("classifier-hidden-0", lambda: SuccessProbClassifier(hidden_layer_sizes=(0,)).fit(np.zeros((4, 2)), [0.5, 0.2, 0.1, 0.1]), ValueError, r"hidden_layer_sizes must be positive integers"),
    ("classifier-device", lambda: SuccessProbClassifier(max_iter=1, device="tpu").fit(np.zeros((4, 2)), [0.5, 0.2, 0.1, 0.1]), ValueError, r"device='tpu'|device 'tpu' is not a torch device"),
    ("classifier-transform-width", lambda: fitted("classifier").transform(np.zeros((2, 5))), ValueError, r"X has 5 features, but SuccessProbClassifier is expecting 3"),
    ("classifier-transform-inf", lambda: fitted("classifier").transform([[np.inf, 0.0, 0.0]]), ValueError, r"Input X contains infinity"),
    ("classifier-marginal-max-0", lambda: fitted("classifier").predict_marginal_rewards(np.zeros((2, 3)), max_budget=0), ValueError, r"max_budget"),
    ("classifier-transform-complex-list", lambda: fitted("classifier").transform([[1j, 0, 0]]), ValueError, r"Complex data not supported: X must hold real numbers"),
    ("classifier-fit-y-complex-list", lambda: SuccessProbClassifier(max_iter=1).fit(np.zeros((2, 2)), [0.5j, 0.2]), ValueError, r"Complex data not supported: y must hold real numbers"),
    ("classifier-transform-empty", lambda: fitted("classifier").transform(np.zeros((0, 3))), ValueError, r"Found array with 0 sample"),
    ("classifier-marginal-max-huge", lambda: fitted("classifier").predict_marginal_rewards(np.zeros((2, 3)), max_budget=HUGE), ValueError, r"max_budget=100000000000000000000 needs arrays"),
    ("classifier-marginal-max-str", lambda: fitted("classifier").predict_marginal_rewards(np.zeros((2, 3)), max_budget="4"), TypeError, r"max_budget must be an integer >= 1; got '4'"),
    ("regressor-transform-complex-list", lambda: fitted("regressor").transform([[1j, 0, 0]]), ValueError, r"Complex data not supported: X must hold real numbers"),
    ("regressor-max-above", lambda: MarginalRewardRegressor(max_budget=9, max_iter=1).fit(np.zeros((6, 2)), R), ValueError, r"max_budget=9 exceeds the number of observed samples"),
    ("regressor-target", lambda: MarginalRewardRegressor(target="gains", max_iter=1).fit(np.zeros((6, 2)), R), ValueError, r"'target' parameter"),
    ("regressor-y-inf", lambda: MarginalRewardRegressor(max_iter=1).fit(np.zeros((6, 2)), R_INF), ValueError, r"y contains infinity"),
    ("regressor-y-complex", lambda: MarginalRewardRegressor(max_iter=1).fit(np.zeros((6, 2)), CX), ValueError, r"[Cc]omplex"),
    ("regressor-y-3d", lambda: MarginalRewardRegressor(max_iter=1).fit(np.zeros((6, 2)), np.zeros((6, 2, 2))), ValueError, r"y"),
    # ---- skadapt.verifiers
    ("graded_numeric-scale-nan", lambda: verifiers.graded_numeric("5", 5, scale=np.nan), ValueError, r"scale must be positive and finite, got nan"),
    ("graded_numeric-scale-inf", lambda: verifiers.graded_numeric("5", 5, scale=np.inf), ValueError, r"scale must be positive and finite, got inf"),
    ("graded_numeric-scale-str", lambda: verifiers.graded_numeric("5", 5, scale="wide"), TypeError, r"scale must contain numbers"),
    ("graded_reward-reference-one-for-many", lambda: verifiers.graded_reward(np.ones((2, 3)), [1.0]), ValueError, r"reference must be a scalar or hold one value per query .*got shape \(1,\)"),
    ("graded_reward-reference-length", lambda: verifiers.graded_reward(np.ones((2, 3)), np.ones(3)), ValueError, r"reference must be .*shape \(2,\) or \(2, 1\).*got shape \(3,\)"),
    ("graded_reward-reference-columns", lambda: verifiers.graded_reward(np.ones((2, 3)), np.ones((1, 3))), ValueError, r"reference must be .*got shape \(1, 3\)"),
    ("graded_reward-scale-shape", lambda: verifiers.graded_reward(np.ones((2, 3)), np.ones(2), scale=[1.0, 2.0, 3.0]), ValueError, r"scale must be a scalar or hold one value per query"),
    ("graded_reward-answers-str", lambda: verifiers.graded_reward(["85"] * 2 + ["eighty"], 85.0), TypeError, r"answers must contain numbers"),
    ("graded_reward-reference-str", lambda: verifiers.graded_reward([85.0], "eighty-five"), TypeError, r"reference must contain numbers"),
    ("graded_reward-answers-complex", lambda: verifiers.graded_reward([85 + 1j], 85.0), TypeError, r"answers must hold real numbers"),
    ("graded_reward-reference-complex", lambda: verifiers.graded_reward([85.0], 85 + 1j), TypeError, r"reference must hold real numbers"),
    ("graded_reward-scale-zero", lambda: verifiers.graded_reward([1.0], 1.0, scale=0.0), ValueError, r"scale must be positive and finite, got 0"),
    ("graded_reward-scale-nan-entry", lambda: verifiers.graded_reward([1.0, 2.0], [1.0, 2.0], scale=[1.0, np.nan]), ValueError, r"scale must be positive and finite, got nan"),
    ("exact_numeric-reference-complex", lambda: verifiers.exact_numeric("4", 4 + 1j), TypeError, r"reference must be a real number or a string holding one; got \(4\+1j\)"),
    ("exact_numeric-reference-None", lambda: verifiers.exact_numeric("4", None), TypeError, r"reference must be a real number .*got None"),
    ("exact_numeric-reference-bool", lambda: verifiers.exact_numeric("1", True), TypeError, r"reference must be a real number .*got True"),
    ("exact_numeric-reference-list", lambda: verifiers.exact_numeric("4", [4]), TypeError, r"reference must be a real number .*got \[4\]"),
    ("exact_numeric-reference-no-number", lambda: verifiers.exact_numeric("4", "four"), ValueError, r"reference 'four' contains no number"),
    ("exact_numeric-completion-int", lambda: verifiers.exact_numeric(4, 4), TypeError, r"completion must be a str, got int"),
    ("graded_numeric-reference-complex", lambda: verifiers.graded_numeric("4", 4 + 1j), TypeError, r"reference must be a real number"),
    ("verifier_identity-not-callable", lambda: verifiers.verifier_identity(5), TypeError, r"verifier must be callable, got int"),
    ("verifier_identity-lambda", lambda: verifiers.verifier_identity(lambda c, r: 1.0), ValueError, r"cannot identify the verifier: a lambda .*verifier_id"),
    # ---- skadapt.routing
    ("preference_from_success-length", lambda: routing.preference_from_success(P, P[:3]), ValueError, r"p_strong and p_weak must have the same length .*got 6 and 3"),
    ("preference_from_success-out", lambda: routing.preference_from_success(P * 2, P), ValueError, r"p_strong must lie in \[0, 1\]; found 1.8"),
    ("preference_from_success-nan", lambda: routing.preference_from_success(P, [np.nan] * 6), ValueError, r"p_weak contains NaN"),
    ("preference_from_success-complex", lambda: routing.preference_from_success(P * 1j, P), TypeError, r"p_strong must hold real numbers"),
    ("preference_from_success-str", lambda: routing.preference_from_success(["a"], [0.5]), TypeError, r"p_strong must contain numbers"),
    ("preference_from_success-2d", lambda: routing.preference_from_success(np.ones((2, 2)) / 2, np.ones((2, 2)) / 2), ValueError, r"p_strong must have shape \(n,\) or \(n, 1\)"),
    ("best_of_k_preference-kind", lambda: routing.best_of_k_preference(P, 2, kind="probability"), ValueError, r"kind must be 'success_prob' or 'marginal'; got 'probability'"),
    ("best_of_k_preference-k-0", lambda: routing.best_of_k_preference(P, 0), ValueError, r"k must be an integer >= 1; got 0"),
    ("best_of_k_preference-k-bool", lambda: routing.best_of_k_preference(P, True), TypeError, r"k must be an integer >= 1; got True"),
    ("best_of_k_preference-k-float", lambda: routing.best_of_k_preference(P, 2.5), ValueError, r"k must be an integer >= 1; got 2.5"),
    ("best_of_k_preference-sp-out", lambda: routing.best_of_k_preference(P + 1, 2), ValueError, r"X \(success probabilities\) must lie in \[0, 1\]"),
    ("best_of_k_preference-sp-2cols", lambda: routing.best_of_k_preference(DELTA, 2), ValueError, r"X \(success probabilities\) must have shape \(n,\) or \(n, 1\)"),
    ("best_of_k_preference-marginal-complex", lambda: routing.best_of_k_preference(DELTA * 1j, 2, kind="marginal"), TypeError, r"X \(marginal rewards\) must hold real numbers"),
    ("best_of_k_preference-marginal-str", lambda: routing.best_of_k_preference(STR, 2, kind="marginal"), TypeError, r"X \(marginal rewards\) must contain numbers"),
    ("best_of_k_preference-marginal-1d", lambda: routing.best_of_k_preference(P, 1, kind="marginal"), ValueError, r"X \(marginal rewards\) must be a non-empty 2-D array"),
    ("best_of_k_preference-marginal-k-above", lambda: routing.best_of_k_preference(DELTA, 5, kind="marginal"), ValueError, r"k=5 but X \(marginal rewards\) has 4 column"),
    ("best_of_k_preference-marginal-k-huge", lambda: routing.best_of_k_preference(DELTA, HUGE, kind="marginal"), ValueError, r"k=100000000000000000000 but X"),
    ("best_of_k_preference-marginal-nan", lambda: routing.best_of_k_preference([[0.5, np.nan]], 2, kind="marginal"), ValueError, r"X \(marginal rewards\) contains NaN .*row\(s\) \[0\]"),
    ("routing_curve-scores-complex", lambda: routing.routing_curve(R, R, P * 1j), TypeError, r"scores must hold real numbers"),
    ("routing_curve-scores-str", lambda: routing.routing_curve(R, R, ["a"] * 6), TypeError, r"scores must contain numbers"),
    ("routing_curve-scores-length", lambda: routing.routing_curve(R, R, P[:3]), ValueError, r"scores must hold one value per query, shape \(6,\) or \(6, 1\); got shape \(3,\)"),
    ("routing_curve-scores-nan", lambda: routing.routing_curve(R, R, P * np.nan), ValueError, r"scores contains NaN or infinite"),
    ("routing_curve-fractions-complex", lambda: routing.routing_curve(R, R, P, fractions=[0.5j]), TypeError, r"fractions must hold real numbers"),
    ("routing_curve-fractions-str", lambda: routing.routing_curve(R, R, P, fractions=["half"]), TypeError, r"fractions must contain numbers"),
    ("routing_curve-fractions-out", lambda: routing.routing_curve(R, R, P, fractions=[1.5]), ValueError, r"fractions must lie in \[0, 1\]"),
    ("routing_curve-fractions-empty", lambda: routing.routing_curve(R, R, P, fractions=[]), ValueError, r"fractions must be a non-empty 1-D list"),
    ("routing_curve-rows", lambda: routing.routing_curve(R, R[:3], P), ValueError, r"R_strong and R_weak must have the same number of rows .*got 6 and 3"),
    ("routing_curve-R-complex", lambda: routing.routing_curve(CX, R, P), TypeError, r"R_strong must hold real numbers"),
    ("routing_curve-R-1d", lambda: routing.routing_curve(R, [1.0] * 6, P), ValueError, r"R_weak must be a 2-D"),
    ("router-fit-complex", lambda: routing.Router().fit(P[:, None] * 1j), TypeError, r"Complex data not supported: X must hold real numbers"),
    ("router-fit-complex-list", lambda: routing.Router().fit([[1j], [0.5]]), TypeError, r"Complex data not supported: X must hold real numbers"),
    ("router-fit-str", lambda: routing.Router().fit([["a"], ["b"]]), TypeError, r"X must contain numbers; could not convert"),
    ("router-fit-2cols", lambda: routing.Router().fit(np.ones((3, 2))), ValueError, r"Router expects X of shape \(n_queries, 1\)"),
    ("router-fit-1d", lambda: routing.Router().fit(P), ValueError, r"Expected 2D array"),
    ("router-fit-nan", lambda: routing.Router().fit(P[:, None] * np.nan), ValueError, r"Input X contains NaN"),
    ("router-fit-empty", lambda: routing.Router().fit(np.empty((0, 1))), ValueError, r"0 sample"),
    ("router-fraction-bool", lambda: routing.Router(fraction=True).fit(P[:, None]), ValueError, r"'fraction' parameter of Router must be a number, not a bool"),
    ("router-fraction-out", lambda: routing.Router(fraction=1.5).fit(P[:, None]), ValueError, r"'fraction' parameter of Router must be a float in the range \[0.0, 1.0\]\. Got 1.5"),
    ("router-fraction-nan", lambda: routing.Router(fraction=np.nan).fit(P[:, None]), ValueError, r"'fraction' parameter of Router .*Got nan"),
    ("router-threshold-nan", lambda: routing.Router(threshold=np.nan).fit(P[:, None]), ValueError, r"'threshold' parameter of Router .*Got nan"),
    ("router-threshold-inf", lambda: routing.Router(threshold=np.inf).fit(P[:, None]), ValueError, r"'threshold' parameter of Router .*Got inf"),
    ("router-threshold-str", lambda: routing.Router(threshold="auto").fit(P[:, None]), ValueError, r"'threshold' parameter of Router .*Got 'auto'"),
    ("router-threshold-bool", lambda: routing.Router(threshold=True).fit(P[:, None]), ValueError, r"'threshold' parameter of Router must be a number, not a bool"),
    ("router-transform-unfitted", lambda: routing.Router().transform(P[:, None]), Exception, r"not fitted yet"),
    ("router-transform-width", lambda: routing.Router().fit(P[:, None]).transform(np.ones((2, 2))), ValueError, r"X has 2 features, but Router is expecting 1"),
    ("router-transform-set_params", lambda: routing.Router().fit(P[:, None]).set_params(fraction=2).transform(P[:, None]), ValueError, r"'fraction' parameter of Router .*Got 2"),
    ("router-transform-complex", lambda: routing.Router().fit(P[:, None]).transform([[0.5j]]), TypeError, r"Complex data not supported: X must hold real numbers"),
    ("router-transform-str", lambda: routing.Router().fit(P[:, None]).transform(STR[:, :1]), TypeError, r"X must contain numbers; could not convert"),
    # ---- skadapt.persistence (argument checks; the file-system cases are below the table)
    ("save-path-None", lambda: persistence.save(fitted("greedy"), None), TypeError, r"path must be a str or path-like \(a folder\); got NoneType"),
    ("save-path-int", lambda: persistence.save(fitted("greedy"), 5), TypeError, r"path must be a str or path-like .*got int"),
    ("save-path-empty", lambda: persistence.save(fitted("greedy"), ""), ValueError, r"path is empty"),
    ("save-overwrite-str", lambda: persistence.save(fitted("greedy"), NO_MODEL, overwrite="yes"), TypeError, r"overwrite must be True or False; got 'yes'"),
    ("save-not-an-estimator", lambda: persistence.save(5, NO_MODEL), TypeError, r"skadapt.persistence saves only .*; got a builtins.int"),
    ("save-a-class", lambda: persistence.save(GreedyAllocator, NO_MODEL), TypeError, r"saves only .*; got a builtins.type"),
    ("save-sklearn-estimator", lambda: persistence.save(_sklearn_scaler(), NO_MODEL), TypeError, r"saves only .*; got a sklearn.preprocessing._data.StandardScaler"),
    ("save-pipeline-foreign-step", lambda: persistence.save(_pipeline_with_scaler(), NO_MODEL), TypeError, r"Pipeline step 'scale': skadapt.persistence saves only"),
    ("save-subclass", lambda: persistence.save(_GreedySubclass(), NO_MODEL), TypeError, r"saves only .*; got a .*_GreedySubclass"),
    ("load-path-None", lambda: persistence.load(None), TypeError, r"path must be a str or path-like .*got NoneType"),
    ("load-path-empty", lambda: persistence.load(""), ValueError, r"path is empty"),
    ("load-missing", lambda: persistence.load(NO_MODEL), FileNotFoundError, r"/dev/null/skadapt-model is not a folder written by skadapt.persistence.save"),
    # ---- skadapt.scoring (metrics and scorers on bad y)
    ("soft_log_loss-y-3d", lambda: scoring.soft_log_loss(np.zeros((6, 2, 2)), P), ValueError, r"y_true must be an \(n, m\) outcome matrix .*got an array of shape \(6, 2, 2\)"),
    ("soft_log_loss-y-scalar", lambda: scoring.soft_log_loss(0.5, 0.5), ValueError, r"y_true must be an \(n, m\) outcome matrix .*shape \(\)"),
    ("soft_log_loss-y-str", lambda: scoring.soft_log_loss(STR, P), TypeError, r"y_true must contain numbers"),
    ("soft_log_loss-y-complex", lambda: scoring.soft_log_loss(CX, P), TypeError, r"y_true must hold real numbers"),
    ("soft_log_loss-y-out", lambda: scoring.soft_log_loss(R * 2, P), ValueError, r"y as an \(n, m\) outcome matrix must hold outcomes in \[0, 1\]"),
    ("soft_log_loss-y-nan-rows", lambda: scoring.soft_log_loss(np.full((6, 4), np.nan), P), ValueError, r"y has 6 row\(s\) with no observed sample"),
    ("soft_log_loss-y-empty", lambda: scoring.soft_log_loss(np.empty((0, 4)), []), ValueError, r"is empty"),
    ("soft_log_loss-prob-length", lambda: scoring.soft_log_loss(R, P[:3]), ValueError, r"y_prob must hold one success probability per row of y_true \(6 rows\)"),
    ("soft_log_loss-prob-complex", lambda: scoring.soft_log_loss(R, P * 1j), TypeError, r"y_prob must hold real numbers"),
    ("soft_log_loss-prob-str", lambda: scoring.soft_log_loss(R, ["a"] * 6), TypeError, r"y_prob must contain numbers"),
    ("soft_log_loss-prob-out", lambda: scoring.soft_log_loss(R, P * 2), ValueError, r"y_prob must hold probabilities in \[0, 1\]"),
    ("soft_log_loss-sw-length", lambda: scoring.soft_log_loss(R, P, sample_weight=[1, 2]), ValueError, r"sample_weight must have shape \(6,\), one weight per row of y; got \(2,\)"),
    ("soft_log_loss-sw-str", lambda: scoring.soft_log_loss(R, P, sample_weight=["a"] * 6), TypeError, r"sample_weight must contain numbers"),
    ("soft_log_loss-sw-complex", lambda: scoring.soft_log_loss(R, P, sample_weight=np.ones(6) * 1j), TypeError, r"sample_weight must hold real numbers"),
    ("soft_log_loss-sw-neg", lambda: scoring.soft_log_loss(R, P, sample_weight=-np.ones(6)), ValueError, r"sample_weight must be finite and non-negative"),
    ("soft_brier-y-3d", lambda: scoring.soft_brier_score(np.zeros((6, 2, 2)), P), ValueError, r"y_true must be an \(n, m\) outcome matrix"),
    ("soft_brier-prob-length", lambda: scoring.soft_brier_score(R, P[:3]), ValueError, r"y_prob must hold one success probability per row of y_true"),
    ("calibration_error-n_bins-0", lambda: scoring.calibration_error(R, P, n_bins=0), ValueError, r"n_bins must be a positive integer; got 0"),
    ("calibration_error-n_bins-bool", lambda: scoring.calibration_error(R, P, n_bins=True), ValueError, r"n_bins must be a positive integer; got True"),
    ("calibration_error-n_bins-huge", lambda: scoring.calibration_error(R, P, n_bins=HUGE), ValueError, r"n_bins=100000000000000000000 needs arrays"),
    ("calibration_error-strategy", lambda: scoring.calibration_error(R, P, strategy="kmeans"), ValueError, r"strategy must be 'uniform' or 'quantile'; got 'kmeans'"),
    ("loss_skill-loss", lambda: scoring.loss_skill(R, P, baseline=0.5, loss="hinge"), ValueError, r"loss must be 'log_loss' or 'squared_error'; got 'hinge'"),
    ("loss_skill-baseline-nan", lambda: scoring.loss_skill(R, P, baseline=np.nan), ValueError, r"baseline must be a success rate in \[0, 1\]; got nan"),
    ("loss_skill-baseline-str", lambda: scoring.loss_skill(R, P, baseline="avg"), TypeError, r"baseline must contain numbers"),
    ("loss_skill-baseline-array", lambda: scoring.loss_skill(R, P, baseline=[0.5, 0.5]), ValueError, r"baseline must be one success rate \(a number\) with loss='log_loss'; got shape \(2,\)"),
    ("loss_skill-groups-length", lambda: scoring.loss_skill(R.ravel(), np.repeat(P, 4), baseline=0.5, groups=[1, 2]), ValueError, r"groups must have one entry per row of y_true"),
    ("loss_skill-sq-shapes", lambda: scoring.loss_skill(DELTA, DELTA[:, :2], baseline=0.5, loss="squared_error"), ValueError, r"y_true and y_pred must both have shape \(n, B\); got \(6, 4\) and \(6, 2\)"),
    ("loss_skill-sq-3d", lambda: scoring.loss_skill(np.zeros((6, 2, 2)), np.zeros((6, 2, 2)), baseline=0.5, loss="squared_error"), ValueError, r"y_true and y_pred must both have shape \(n, B\)"),
    ("loss_skill-sq-baseline-length", lambda: scoring.loss_skill(DELTA, DELTA, baseline=[0.5, 0.5], loss="squared_error"), ValueError, r"baseline must be one marginal-reward curve of shape \(4,\) .*got shape \(2,\)"),
    ("loss_skill-sq-baseline-nan", lambda: scoring.loss_skill(DELTA, DELTA * 0.5, baseline=np.nan, loss="squared_error"), ValueError, r"baseline contains NaN or infinite values"),
    ("loss_skill-sq-sw-length", lambda: scoring.loss_skill(DELTA, DELTA * 0.5, baseline=0.5, loss="squared_error", sample_weight=[1, 2]), ValueError, r"sample_weight must have shape \(6,\)"),
    ("loss_skill-sq-y-complex", lambda: scoring.loss_skill(DELTA * 1j, DELTA, baseline=0.5, loss="squared_error"), TypeError, r"y_true must hold real numbers"),
    ("loss_skill-sq-y-str", lambda: scoring.loss_skill(STR, DELTA, baseline=0.5, loss="squared_error"), TypeError, r"y_true must contain numbers"),
    ("loss_skill-sq-y-nan", lambda: scoring.loss_skill(DELTA * np.nan, DELTA, baseline=0.5, loss="squared_error"), ValueError, r"y_true contains NaN or infinite values in row\(s\) \[0, 1"),
    ("loss_skill-sq-pred-nan", lambda: scoring.loss_skill(DELTA, np.where(DELTA > 0.3, np.nan, DELTA), baseline=0.5, loss="squared_error"), ValueError, r"y_pred contains NaN or infinite values"),
    ("loss_skill-constant", lambda: scoring.loss_skill(np.ones((3, 2)), [0.5] * 3, baseline=1.0), ValueError, r"loss_skill is undefined on this data"),
    ("get_scorer-name", lambda: scoring.get_scorer("soft_log_loss"), ValueError, r"'soft_log_loss' is not a valid scoring value\. skadapt's scorers: .*neg_soft_log_loss"),
    ("get_scorer-int", lambda: scoring.get_scorer(5), ValueError, r"5 is not a valid scoring value"),
    ("make_probe_scorer-metric", lambda: scoring.make_probe_scorer("f1"), ValueError, r"metric must be one of .*got 'f1'"),
    ("make_probe_scorer-baseline", lambda: scoring.make_probe_scorer("loss_skill", baseline="val"), ValueError, r"baseline must be 'train' or 'test'; got 'val'"),
    ("make_probe_scorer-n_bins-bool", lambda: scoring.make_probe_scorer("calibration_error", n_bins=True), ValueError, r"n_bins must be a positive integer; got True"),
    ("scorer-classifier-y-rows", lambda: scoring.get_scorer("neg_soft_log_loss")(fitted("classifier"), np.zeros((6, 3)), R[:3]), ValueError, r"y has 3 rows but X has 6; y must hold one row per row of X"),
    ("scorer-classifier-y-3d", lambda: scoring.get_scorer("neg_soft_brier_score")(fitted("classifier"), np.zeros((6, 3)), np.zeros((6, 2, 2))), ValueError, r"y_true must be an \(n, m\) outcome matrix"),
    ("scorer-classifier-y-str", lambda: scoring.get_scorer("neg_soft_log_loss")(fitted("classifier"), np.zeros((6, 3)), STR), TypeError, r"y_true must contain numbers"),
    ("scorer-classifier-skill-y-rows", lambda: scoring.get_scorer("loss_skill")(fitted("classifier"), np.zeros((6, 3)), R[:3]), ValueError, r"y has 3 rows but X has 6"),
    ("scorer-regressor-y-rows", lambda: scoring.get_scorer("marginal_reward_r2")(fitted("regressor"), np.zeros((6, 3)), R[:3]), ValueError, r"y has 3 rows but X has 6"),
    ("scorer-regressor-y-3d", lambda: scoring.get_scorer("neg_marginal_reward_mse")(fitted("regressor"), np.zeros((6, 3)), np.zeros((6, 4, 2))), ValueError, r"y must be a 1-D or 2-D array for target='rewards'; got shape \(6, 4, 2\)"),
    ("scorer-regressor-y-str", lambda: scoring.get_scorer("neg_marginal_reward_mse")(fitted("regressor"), np.zeros((6, 3)), STR), TypeError, r"y must contain numbers"),
    ("scorer-regressor-y-complex", lambda: scoring.get_scorer("neg_marginal_reward_mse")(fitted("regressor"), np.zeros((6, 3)), CX), TypeError, r"y must hold real numbers"),
    ("scorer-regressor-y-too-few-samples", lambda: scoring.get_scorer("marginal_reward_r2")(fitted("regressor"), np.zeros((6, 3)), R[:, :2]), ValueError, r"max_budget=4 exceeds the number of observed samples"),
    ("scorer-regressor-sw-length", lambda: scoring.get_scorer("neg_marginal_reward_mse")(fitted("regressor"), np.zeros((6, 3)), R, sample_weight=[1, 2]), ValueError, r"sample_weight must have shape \(6,\)"),
    # ---- skadapt.distributed (every case fails before Ray is imported or started)
    ("collect-model-int", _no_ray(lambda: distributed.collect(5, ["a"], [1], verifiers.exact_numeric, 2, "out")), TypeError, r"model must be a name or path: each Ray actor loads the model itself \(got int\)"),
    ("collect-queries-str", _no_ray(lambda: distributed.collect(NO_MODEL, "abc", [1], verifiers.exact_numeric, 2, "out")), TypeError, r"queries must be a list of strings, not a single string"),
    ("collect-output-None", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, None)), TypeError, r"output must be a folder path, got NoneType"),
    ("collect-output-file", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, os.devnull)), ValueError, r"output '/dev/null' exists and is not a folder"),
    ("collect-device-int", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, "out", device=0)), TypeError, r"device must be a string, got int"),
    ("collect-device-bogus", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, "out", device="gpu9")), ValueError, r"device 'gpu9' is not a torch device"),
    ("collect-num_actors-0", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, "out", num_actors=0)), ValueError, r"num_actors must be an integer >= 1, got 0"),
    ("collect-num_cpus-neg", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, "out", num_cpus_per_actor=-1)), ValueError, r"num_cpus_per_actor must be a number >= 0, got -1"),
    ("collect-num_cpus-bool", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, "out", num_cpus_per_actor=True)), ValueError, r"num_cpus_per_actor must be a number >= 0, got True"),
    ("collect-num_gpus-nan", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, "out", num_gpus_per_actor=np.nan)), ValueError, r"num_gpus_per_actor must be a number >= 0, got nan"),
    ("collect-max_shards-0", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, "out", max_shards=0)), ValueError, r"max_shards must be an integer >= 1, got 0"),
    ("collect-shard_size-not-multiple", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, "out", shard_size=3, batch_size=2)), ValueError, r"shard_size=3 must be a multiple of batch_size=2"),
    ("collect-shard_size-0", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, "out", shard_size=0)), ValueError, r"shard_size must be an integer >= 1, got 0"),
    ("collect-batch_size-0", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, "out", batch_size=0)), ValueError, r"batch_size must be an integer >= 1, got 0"),
    ("collect-verifier-lambda", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], lambda c, r: 1.0, 2, "out")), ValueError, r"cannot identify the verifier: a lambda .*verifier_id"),
    ("collect-verifier-int", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], 5, 2, "out")), TypeError, r"verifier must be callable, got int"),
    ("collect-references-length", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1, 2], verifiers.exact_numeric, 2, "out")), ValueError, r"got 2 references for 1 queries"),
    ("collect-references-str", _no_ray(lambda: distributed.collect(NO_MODEL, ["a", "b"], "12", verifiers.exact_numeric, 2, "out")), TypeError, r"references must be a list with one reference per query"),
    ("collect-n_samples-0", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 0, "out")), ValueError, r"n_samples must be an integer >= 1, got 0"),
    ("collect-ids-dup", _no_ray(lambda: distributed.collect(NO_MODEL, ["a", "b"], [1, 2], verifiers.exact_numeric, 2, "out", ids=[1, 1])), ValueError, r"ids must be unique"),
    ("collect-ids-mixed", _no_ray(lambda: distributed.collect(NO_MODEL, ["a", "b"], [1, 2], verifiers.exact_numeric, 2, "out", ids=[1, "b"])), TypeError, r"ids must be all strings or all integers"),
    ("collect-template", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, "out", prompt_template="Q: ")), ValueError, r"prompt_template must be 'chat', None, or a string containing"),
    ("collect-model-missing", _no_ray(lambda: distributed.collect(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, "out")), ValueError, r"model path '/dev/null/skadapt-model' does not exist"),
    ("featurize-not-a-featurizer", _no_ray(lambda: distributed.featurize(5, ["a"], "out")), TypeError, r"featurizer must be a HiddenStateFeaturizer, got int"),
    ("featurize-model-object", _no_ray(lambda: distributed.featurize(_featurizer(object()), ["a"], "out")), TypeError, r"featurizer.model must be a name or path"),
    ("featurize-params", _no_ray(lambda: distributed.featurize(_featurizer(NO_MODEL, batch_size=0), ["a"], "out")), ValueError, r"'batch_size' parameter of HiddenStateFeaturizer"),
    ("featurize-queries-str", _no_ray(lambda: distributed.featurize(_featurizer(NO_MODEL), "abc", "out")), ValueError, r"X must be a sequence of query strings, got a single string"),
    ("featurize-output-None", _no_ray(lambda: distributed.featurize(_featurizer(NO_MODEL), ["a"], None)), TypeError, r"output must be a folder path, got NoneType"),
    ("featurize-output-file", _no_ray(lambda: distributed.featurize(_featurizer(NO_MODEL), ["a"], os.devnull)), ValueError, r"output '/dev/null' exists and is not a folder"),
    ("featurize-num_actors-float", _no_ray(lambda: distributed.featurize(_featurizer(NO_MODEL), ["a"], "out", num_actors=1.5)), ValueError, r"num_actors must be an integer >= 1, got 1.5"),
    ("featurize-shard_size", _no_ray(lambda: distributed.featurize(_featurizer(NO_MODEL, batch_size=4), ["a"], "out", shard_size=6)), ValueError, r"shard_size=6 must be a multiple of batch_size=4"),
    ("featurize-ids-length", _no_ray(lambda: distributed.featurize(_featurizer(NO_MODEL), ["a"], "out", ids=[1, 2])), ValueError, r"got 2 ids for 1 queries"),
    ("read_features-None", lambda: distributed.read_features(None), TypeError, r"folder must be a folder path, got NoneType"),
    ("read_features-missing", lambda: distributed.read_features(NO_MODEL), FileNotFoundError, r"no skadapt-shards.json in /dev/null/skadapt-model: not a shard folder"),
    ("read_collection-int", lambda: distributed.read_collection(5), TypeError, r"folder must be a folder path, got int"),
    ("read_collection-missing", lambda: distributed.read_collection(NO_MODEL), FileNotFoundError, r"not a shard folder"),
    # ---- skadapt.sampling (every check runs before the model is touched or loaded)
    ("generate_shared-prompts-str", lambda: sampling.generate_shared(None, None, "hi", 2), TypeError, r"prompts must be a list of strings, not a single string"),
    ("generate_shared-prompts-int", lambda: sampling.generate_shared(None, None, ["a", 1], 2), TypeError, r"prompts must be strings, got int at index 1"),
    ("generate_shared-prompts-empty", lambda: sampling.generate_shared(None, None, [], 2), ValueError, r"prompts is empty"),
    ("generate_shared-seeds-str", lambda: sampling.generate_shared(None, None, ["a", "b"], 2, seeds="ab"), TypeError, r"seeds must be a list of integers, one per prompt, got 'ab'"),
    ("generate_shared-seeds-int", lambda: sampling.generate_shared(None, None, ["a"], 2, seeds=3), TypeError, r"seeds must be a list of integers"),
    ("generate_shared-seeds-float", lambda: sampling.generate_shared(None, None, ["a"], 2, seeds=[1.5]), TypeError, r"seeds must hold integers, got 1.5"),
    ("generate_shared-seeds-length", lambda: sampling.generate_shared(None, None, ["a"], 2, seeds=[1, 2]), ValueError, r"got 2 seeds for 1 prompts"),
    ("generate_shared-n-0", lambda: sampling.generate_shared(None, None, ["a"], 0), ValueError, r"n_samples must be an integer >= 1, got 0"),
    ("generate_shared-top_p-bool", lambda: sampling.generate_shared(None, None, ["a"], 1, top_p=True), ValueError, r"top_p must be in \(0, 1\], got True"),
    ("generate_shared-temperature-bool", lambda: sampling.generate_shared(None, None, ["a"], 1, temperature=True), ValueError, r"temperature must be a finite float >= 0, got True"),
    ("generate_shared-temperature-nan", lambda: sampling.generate_shared(None, None, ["a"], 1, temperature=np.nan), ValueError, r"temperature must be a finite float >= 0, got nan"),
    ("generate_shared-stop_strings-int", lambda: sampling.generate_shared(None, None, ["a"], 1, stop_strings=5), TypeError, r"stop_strings must be a string or a list of strings, got int"),
    ("query_seed-str", lambda: sampling.query_seed("x", "q1"), TypeError, r"random_state must be an integer, got 'x'"),
    ("query_seed-float", lambda: sampling.query_seed(1.5, "q1"), TypeError, r"random_state must be an integer, got 1.5"),
    ("query_seed-bool", lambda: sampling.query_seed(True, "q1"), TypeError, r"random_state must be an integer, got True"),
    ("sample_and_score-queries-str", lambda: sampling.sample_and_score(NO_MODEL, "hi", [1], verifiers.exact_numeric, 2), TypeError, r"queries must be a list of strings, not a single string"),
    ("sample_and_score-references-str", lambda: sampling.sample_and_score(NO_MODEL, ["a", "b"], "12", verifiers.exact_numeric, 2), TypeError, r"references must be a list with one reference per query, got str"),
    ("sample_and_score-references-None", lambda: sampling.sample_and_score(NO_MODEL, ["a"], None, verifiers.exact_numeric, 2), TypeError, r"references must be a list .*got NoneType"),
    ("sample_and_score-references-length", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [1, 2], verifiers.exact_numeric, 2), ValueError, r"got 2 references for 1 queries"),
    ("sample_and_score-references-json", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [object()], verifiers.exact_numeric, 2), ValueError, r"references must be JSON-serialisable"),
    ("sample_and_score-verifier", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [1], 5, 2), TypeError, r"verifier must be callable, got int"),
    ("sample_and_score-n-float", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2.0), ValueError, r"n_samples must be an integer >= 1, got 2.0"),
    ("sample_and_score-template", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, prompt_template="Q: "), ValueError, r"prompt_template must be 'chat', None, or a string containing '\{query\}'; got 'Q: '"),
    ("sample_and_score-batch-0", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, batch_size=0), ValueError, r"batch_size must be an integer >= 1, got 0"),
    ("sample_and_score-random_state-str", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, random_state="x"), ValueError, r"random_state must be an integer, got 'x'"),
    ("sample_and_score-backend", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, backend="tf"), ValueError, r"backend must be 'hf' or 'vllm', got 'tf'"),
    ("sample_and_score-ids-str", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, ids="a"), TypeError, r"ids must be a list of query ids, not a single string"),
    ("sample_and_score-ids-dup", lambda: sampling.sample_and_score(NO_MODEL, ["a", "b"], [1, 2], verifiers.exact_numeric, 2, ids=[1, 1]), ValueError, r"ids must be unique"),
    ("sample_and_score-verifier_id-empty", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, verifier_id=""), ValueError, r"verifier_id must be a non-empty string, got ''"),
    ("sample_and_score-model-int", lambda: sampling.sample_and_score(5, ["a"], [1], verifiers.exact_numeric, 2, tokenizer=object()), TypeError, r"model must be a name, a path or a loaded transformers model, got int"),
    ("sample_and_score-model-missing", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2), ValueError, r"model path '/dev/null/skadapt-model' does not exist"),
    ("sample_and_score-checkpoint-int", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, checkpoint=5), TypeError, r"checkpoint must be a file path, got int"),
    ("sample_and_score-checkpoint-folder", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [1], verifiers.exact_numeric, 2, checkpoint="/dev/null/ckpt.jsonl"), ValueError, r"checkpoint folder '/dev/null' does not exist \(or is not a folder\)"),
    ("sample_and_score-lambda-checkpoint", lambda: sampling.sample_and_score(NO_MODEL, ["a"], [1], lambda c, r: 1.0, 2, checkpoint=os.path.join(tempfile.gettempdir(), "skadapt-never-written.jsonl")), ValueError, r"cannot identify the verifier: a lambda .*verifier_id"),
]


@pytest.mark.parametrize("call, exc, match", [pytest.param(c, e, m, id=i) for i, c, e, m in CASES])
def test_bad_input_raises_naming_the_argument(call, exc, match):
    with warnings.catch_warnings():
        # a ComplexWarning would mean the imaginary part was dropped
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with pytest.raises(exc, match=match):
            call()


def test_case_ids_are_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


# ------------------------------------------- language-model estimators (tiny model)

QUERIES = ["What is 2 + 2?", "Name a colour.", "What is 3 * 5?", "Spell cat."]

# (id, build(path) -> call, exception type, regex); the call fails before any training
LM_CASES = [
    ("featurizer-layer-out", lambda p: lambda: _featurizer(p, layer=99).fit_transform(QUERIES), ValueError, r"layer=99 is out of range for a model with 3 layers"),
    ("featurizer-layer-float", lambda p: lambda: _featurizer(p, layer=1.5).fit(QUERIES), ValueError, r"'layer' parameter"),
    ("featurizer-pooling", lambda p: lambda: _featurizer(p, pooling="max").fit(QUERIES), ValueError, r"'pooling' parameter"),
    ("featurizer-batch-0", lambda p: lambda: _featurizer(p, batch_size=0).fit(QUERIES), ValueError, r"'batch_size' parameter"),
    ("featurizer-max_length-0", lambda p: lambda: _featurizer(p, max_length=0).fit(QUERIES), ValueError, r"'max_length' parameter"),
    ("featurizer-device-bogus", lambda p: lambda: _featurizer(p, device="gpu9").fit(QUERIES), ValueError, r"device 'gpu9' is not a torch device"),
    ("featurizer-template", lambda p: lambda: _featurizer(p, prompt_template="Q: ").fit_transform(QUERIES), ValueError, r"prompt template must be 'chat', None, or a string containing '\{query\}'; got 'Q: '"),
    ("featurizer-dtype", lambda p: lambda: _featurizer(p, dtype="float13").fit(QUERIES), ValueError, r"dtype 'float13' is not a torch dtype"),
    ("featurizer-model-missing", lambda p: lambda: _featurizer("/nonexistent/skadapt-model").fit(QUERIES), ValueError, r"model path '/nonexistent/skadapt-model' does not exist"),
    ("featurizer-model-int", lambda p: lambda: _featurizer(5).fit(QUERIES), ValueError, r"model must be a name, a path or a transformers model, got int"),
    ("featurizer-X-string", lambda p: lambda: _featurizer(p).fit(QUERIES).transform("What?"), ValueError, r"X must be a sequence of query strings, got a single string"),
    ("featurizer-X-empty", lambda p: lambda: _featurizer(p).fit(QUERIES).transform([]), ValueError, r"X is empty"),
    ("featurizer-X-numbers", lambda p: lambda: _featurizer(p).fit(QUERIES).transform([1, 2]), ValueError, r"X must contain only strings; item 0 is int"),
    ("featurizer-X-blank", lambda p: lambda: _featurizer(p).fit(QUERIES).transform(["ok", "  "]), ValueError, r"X contains an empty query string at index 1"),
    ("featurizer-X-2d", lambda p: lambda: _featurizer(p).fit(QUERIES).transform(np.array([["a", "b"]])), ValueError, r"X must be a 1-D sequence of query strings, got an array of shape \(1, 2\)"),
    ("featurizer-X-None", lambda p: lambda: _featurizer(p).fit(QUERIES).transform(None), ValueError, r"X must be a sequence of query strings, got NoneType"),
    ("lora-y-length", lambda p: lambda: _lora(p).fit(QUERIES, [0.5, 0.5]), ValueError, r"X has 4 queries but y has shape \(2,\)"),
    ("lora-y-complex", lambda p: lambda: _lora(p).fit(QUERIES, np.array([0.5, 0.5, 0.1, 0.1]) * 1j), ValueError, r"y must hold real numbers"),
    ("lora-y-strings", lambda p: lambda: _lora(p).fit(QUERIES, ["a", "b", "c", "d"]), ValueError, r"y must contain numbers"),
    ("lora-y-out", lambda p: lambda: _lora(p).fit(QUERIES, [0.5, 1.5, 0.1, 0.1]), ValueError, r"y must hold soft labels in \[0, 1\]"),
    ("lora-y-nan", lambda p: lambda: _lora(p).fit(QUERIES, [0.5, np.nan, 0.1, 0.1]), ValueError, r"y contains NaN or infinity"),
    ("lora-y-None", lambda p: lambda: _lora(p).fit(QUERIES, None), ValueError, r"LoRAProbe requires y"),
    ("lora-r-0", lambda p: lambda: _lora(p, r=0).fit(QUERIES, [0.5, 0.5, 0.1, 0.1]), ValueError, r"'r' parameter of LoRAProbe"),
    ("lora-kind", lambda p: lambda: _lora(p, kind="prob").fit(QUERIES, [0.5, 0.5, 0.1, 0.1]), ValueError, r"'kind' parameter of LoRAProbe"),
    ("lora-layer-out", lambda p: lambda: _lora(p, layer=99).fit(QUERIES, [0.5, 0.5, 0.1, 0.1]), ValueError, r"layer=99 is out of range"),
    ("lora-X-string", lambda p: lambda: _lora(p).fit("abc", [0.5]), ValueError, r"X must be a sequence of query strings, got a single string"),
    ("lora-max_budget-above", lambda p: lambda: _lora(p, kind="marginal", max_budget=9).fit(QUERIES, np.ones((4, 4))), ValueError, r"max_budget=9 exceeds the number of observed samples"),
    ("lora-max_budget-success_prob", lambda p: lambda: _lora(p, max_budget=9).fit(QUERIES, np.ones((4, 4))), ValueError, r"max_budget and target apply to kind='marginal' only"),
]


def _featurizer(model, **params):
    from skadapt import HiddenStateFeaturizer

    return HiddenStateFeaturizer(model, **{"device": "cpu", **params})


def _lora(model, **params):
    from skadapt import LoRAProbe

    return LoRAProbe(model, **{"max_iter": 1, "device": "cpu", **params})


@pytest.mark.parametrize("build, exc, match", [pytest.param(b, e, m, id=i) for i, b, e, m in LM_CASES])
def test_bad_input_to_language_model_estimators(build, exc, match, tiny_llama_path, one_torch_thread):
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with pytest.raises(exc, match=match):
            build(tiny_llama_path)()


def test_featurizer_cuda_without_gpu_names_the_device(tiny_llama_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match=r"device='cuda' (but no CUDA GPU is available|is not available on this machine: no CUDA GPU)"):
        _featurizer(tiny_llama_path, device="cuda").fit(QUERIES)


# --------------------------------------------- inputs that must work, and work right


@pytest.mark.parametrize("scale", [1e30, 1e39, 1e300])
@pytest.mark.filterwarnings("ignore::UserWarning")  # convergence, tiny data
def test_probe_probabilities_stay_finite_for_huge_features(scale, one_torch_thread):
    # 1e39 overflows float32: the standardized features were inf, then NaN
    clf = fitted("classifier")
    X = np.random.default_rng(2).normal(size=(5, 3)) * scale
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all() and ((proba >= 0) & (proba <= 1)).all()
    assert np.isfinite(clf.transform(X)).all()
    assert np.isfinite(clf.predict_marginal_rewards(X, max_budget=4)).all()
    assert np.isfinite(fitted("regressor").transform(X)).all()
    for standardize in (True, False):
        plain = SuccessProbClassifier(max_iter=2, hidden_layer_sizes=(4,), random_state=0,
                                      standardize=standardize).fit(X[:4], [0.2, 0.4, 0.6, 0.8])
        assert np.isfinite(plain.predict_proba(X)).all()


@pytest.mark.parametrize("scale", [1e6, 1e39, 1e300])
@pytest.mark.parametrize("kind", ["binary", "real"])
@pytest.mark.filterwarnings("ignore::UserWarning")  # convergence, tiny data
def test_regressor_marginal_rewards_stay_in_the_training_range_for_huge_features(scale, kind, one_torch_thread):
    # 1e39 gave marginal rewards of about 1e5 for 0/1 rewards: the ReLU network grows
    # linearly out to the 1e6 standard deviations the features are clipped to. The
    # predictions are clipped to the training range of the marginal rewards, which keeps
    # |pred| <= max |training target| (factor 1) and each row non-increasing.
    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 3))
    R = (rng.uniform(size=(40, 4)) < 0.5).astype(float)
    if kind == "real":
        R = R * rng.uniform(-2, 3, size=R.shape)  # signed rewards: a signed head
    reg = MarginalRewardRegressor(max_iter=3, random_state=0, hidden_layer_sizes=(8,)).fit(X, R)
    train = targets.marginal_rewards(R, 4)
    lo, hi = min(train.min(), 0.0), max(train.max(), 0.0)
    np.testing.assert_allclose(reg.marginal_reward_range_, [lo, hi])
    far = rng.normal(size=(6, 3)) * scale
    pred = reg.predict(far)
    assert np.isfinite(pred).all()
    assert (pred >= lo).all() and (pred <= hi).all()
    assert np.abs(pred).max() <= np.abs(train).max()
    assert (np.diff(pred, axis=1) <= 1e-12).all()  # still non-increasing
    assert np.isclose(np.abs(pred).max(), hi) or np.isclose(np.abs(pred).max(), -lo)  # it was clipped


@pytest.mark.filterwarnings("ignore::UserWarning")  # convergence, tiny data
def test_probe_fitted_on_huge_features_matches_the_scaled_fit(one_torch_thread):
    # the squares in the standard deviation overflowed beyond ~1e154: every
    # standardized feature became 0 and the probe predicted a constant
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    y = 1 / (1 + np.exp(-2 * X[:, 0]))
    params = dict(max_iter=5, hidden_layer_sizes=(8,), random_state=0, early_stopping=False)
    small = SuccessProbClassifier(**params).fit(X, y)
    huge = SuccessProbClassifier(**params).fit(X * 1e300, y)
    np.testing.assert_allclose(huge.predict_proba(X * 1e300), small.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert np.ptp(huge.predict_proba(X * 1e300)[:, 1]) > 0.01  # not a constant


def test_two_phase_clips_a_regressor_with_a_warning_naming_its_output():
    # a regressor fitted to success rates overshoots [0, 1]: clipped, never silently
    with pytest.warns(UserWarning, match=r"the predictor's output \(a regressor's predict\) has 2 of 6 "
                      r"values outside \[0, 1\] \(range \[-0.2, 1.3\]\) at row\(s\) \[0, 5\]; clipped"):
        clipped = feedback.two_phase(samples(), _OvershootingRegressor(), 2)
    inside = feedback.two_phase(samples(), lambda Z: np.clip(np.linspace(-0.2, 1.3, len(Z)), 0, 1), 2)
    np.testing.assert_array_equal(clipped.samples_used, inside.samples_used)


def test_persistence_paths_and_files(tmp_path):
    est = fitted("greedy")
    (tmp_path / "a_file").write_text("not a save")
    with pytest.raises(FileExistsError, match=r"a_file exists; pass overwrite=True"):
        persistence.save(est, tmp_path / "a_file")
    with pytest.raises(FileExistsError, match=r"a_file exists and is not an earlier skadapt save"):
        persistence.save(est, tmp_path / "a_file", overwrite=True)
    assert (tmp_path / "a_file").read_text() == "not a save"  # never replaced
    # a folder inside a file: the message names the path asked for, not a temporary folder
    with pytest.raises(OSError, match=r"cannot save to .*a_file/sub: cannot create a folder in .*a_file"):
        persistence.save(est, tmp_path / "a_file" / "sub")
    with pytest.raises(FileNotFoundError, match=r"a_file is not a folder written by skadapt.persistence.save"):
        persistence.load(tmp_path / "a_file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty has no skadapt.json; it is not a skadapt save"):
        persistence.load(tmp_path / "empty")
    # a parameter the format cannot hold: named, and nothing is left behind
    with pytest.raises(TypeError, match=r"parameter random_state is a numpy.random.*RandomState.*set it to an int or None"):
        persistence.save(SuccessProbClassifier(random_state=np.random.RandomState(0)), tmp_path / "rs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "empty"]
    # an unfitted estimator round-trips unfitted, and says so when used
    persistence.save(GreedyAllocator(budget=2), tmp_path / "unfitted")
    loaded = persistence.load(tmp_path / "unfitted")
    assert loaded.get_params() == GreedyAllocator(budget=2).get_params()
    with pytest.raises(Exception, match=r"not fitted yet"):
        loaded.transform(DELTA)
    # a manifest that is not JSON, or names a class that is not loadable
    persistence.save(est, tmp_path / "saved")
    manifest = tmp_path / "saved" / "skadapt.json"
    text = manifest.read_text()
    manifest.write_text(text.replace("skadapt.allocation.GreedyAllocator", "os.system"))
    with pytest.raises(ValueError, match=r"names the class 'os.system', which skadapt.persistence does not load"):
        persistence.load(tmp_path / "saved")
    manifest.write_text("{not json")
    with pytest.raises(ValueError, match=r"skadapt.json"):
        persistence.load(tmp_path / "saved")


def test_binned_allocator_memory_on_a_million_queries():
    # n = 1e6, 100 bins, max_budget 32: the exact DP table was ~6 GiB (MemoryError)
    n, max_budget = 1_000_000, 32
    lam = np.random.default_rng(4).beta(0.5, 0.8, size=(n, 1))
    tracemalloc.start()
    try:
        alloc = BinnedAllocator(budget=4, n_bins=100, max_budget=max_budget, kind="success_prob").fit(lam)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * n * 8  # a few copies of the (n,) inputs; no n x max_budget table
    assert alloc.expected_budget_ == pytest.approx(4, rel=0.01)
    assert alloc.bin_budgets_.shape == (alloc.n_bins_,) and alloc.n_bins_ <= 100


def test_binned_allocator_warns_when_shifted_data_overspend():
    rng = np.random.default_rng(5)
    held_out = rng.beta(3, 1, size=(2000, 1))  # mostly easy queries
    shifted = rng.beta(1, 3, size=(500, 1))  # mostly hard: their bins buy more
    alloc = BinnedAllocator(budget=4, n_bins=10, max_budget=16, kind="success_prob").fit(held_out)
    with pytest.warns(allocation.BudgetOverrunWarning, match=r"spent .* units per query .*budget=4"):
        budgets = alloc.transform(shifted)
    assert budgets.mean() > 4 * 1.05
    with warnings.catch_warnings():
        warnings.simplefilter("error", allocation.BudgetOverrunWarning)
        alloc.transform(held_out[:500])  # the held-out mix: no warning


def test_binned_allocator_huge_n_bins_is_capped_by_the_queries():
    alloc = BinnedAllocator(budget=2, n_bins=HUGE).fit(DELTA)
    assert alloc.n_bins_ <= DELTA.shape[0]
    assert alloc.transform(DELTA).shape == (6, 1)


def test_generators_refuse_more_queries_than_they_draw():
    assert datasets.MAX_QUERIES == 1_000_000
    with pytest.raises(ValueError, match=r"n_queries=1000001 exceeds 1,000,000"):
        datasets.make_arithmetic_tasks(datasets.MAX_QUERIES + 1)


# ------------------------------------------------------------------ hypothesis fuzz

# SKADAPT_HYPOTHESIS_EXAMPLES=2000 for a deeper (slow) search, as in test_allocation.py
FUZZ = settings(max_examples=int(os.environ.get("SKADAPT_HYPOTHESIS_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=64)


@FUZZ
@given(hnp.arrays(np.float64, st.integers(1, 8), elements=ANY_FLOAT), st.integers(1, 6))
def test_fuzz_success_prob_is_checked_or_used(lam, max_budget):
    valid = np.isfinite(lam).all() and ((lam >= 0) & (lam <= 1)).all()
    if not valid:
        with pytest.raises(ValueError, match=r"success_prob (contains NaN|must lie in \[0, 1\])"):
            targets.geometric_marginal_rewards(lam, max_budget)
        with pytest.raises(ValueError, match=r"success_prob"):
            allocation.greedy_allocate_success_prob(lam, 0, max_budget=max_budget)
        return
    delta = targets.geometric_marginal_rewards(lam, max_budget)
    assert np.isfinite(delta).all() and (np.diff(delta, axis=1) <= 0).all()


@FUZZ
@given(st.one_of(st.integers(-10**30, 10**30), ANY_FLOAT))
def test_fuzz_budgets_are_reported_as_given(budget):
    # never an int64 wrap-around: 10**20 once read as -9223372036854775808
    valid = float(budget) == float(budget) and abs(float(budget)) != np.inf \
        and float(budget) == int(budget) and 0 <= budget <= 4
    if valid:
        assert 0 <= metrics.expected_success(R, budget) <= 1
        return
    with pytest.raises(ValueError, match=r"^budgets ") as info:
        metrics.expected_success(R, budget)
    assert "-9223372036854775808" not in str(info.value)
    if float(budget) == float(budget) and abs(float(budget)) != np.inf and float(budget) == int(budget):
        assert str(int(budget)) in str(info.value)


@FUZZ
@given(hnp.arrays(np.complex128, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
                  elements=st.complex_numbers(allow_nan=False, allow_infinity=False, max_magnitude=10)))
def test_fuzz_complex_input_always_raises(values):
    calls = [
        lambda: targets.success_rate(values),
        lambda: targets.geometric_marginal_rewards(values, 2),
        lambda: allocation.greedy_allocate(values, 1),
        lambda: selection.concave_envelope(values),
        lambda: evaluation.bootstrap_interval(values),
        lambda: metrics.compute_savings(values, values, [1, 2], [0.1, 0.2]),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"real numbers"):
            call()


@FUZZ
@given(budget=st.floats(-5, 10), min_budget=st.integers(0, 12), max_budget=st.one_of(st.none(), st.integers(1, 12)))
def test_fuzz_allocators_recheck_set_params_at_transform(budget, min_budget, max_budget):
    X = P[:, None]
    for est in (GreedyAllocator(budget=2, max_budget=4, kind="success_prob").fit(X),
                GreedyAllocator(budget=2).fit(DELTA)):
        est.set_params(budget=budget, min_budget=min_budget, max_budget=max_budget)
        data = X if est.kind == "success_prob" else DELTA
        cap = max_budget if max_budget is not None else (None if est.kind == "success_prob" else 4)
        ok = cap is not None and (est.kind == "success_prob" or cap <= 4) \
            and min_budget <= budget <= cap and min_budget <= cap
        if not ok:
            with pytest.raises(ValueError, match=r"budget|max_budget"):
                est.transform(data)
            continue
        out = est.transform(data).ravel()
        assert ((out >= min_budget) & (out <= cap)).all()
        assert out.sum() <= np.floor(budget * len(out) + 1e-9)


@FUZZ
@given(min_budget=st.integers(0, 3), extra=st.integers(0, 20), huge=st.integers(30, 10**25))
def test_fuzz_huge_max_budget_changes_no_allocation(min_budget, extra, huge):
    # a query never gets more than every unit left, so capping max_budget there is exact
    lam = np.array([0.9, 0.5, 0.1, 0.0, 1.0, 0.3, 0.02])
    total = len(lam) * min_budget + extra
    exact = allocation.greedy_allocate_success_prob(lam, total, max_budget=min_budget + extra + 1,
                                                    min_budget=min_budget)
    big = allocation.greedy_allocate_success_prob(lam, total, max_budget=huge, min_budget=min_budget)
    np.testing.assert_array_equal(exact, big)


@FUZZ
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                  elements=st.one_of(st.sampled_from([0.0, 1.0, np.nan]), ANY_FLOAT)),
       st.integers(-2, 5))
def test_fuzz_reward_matrices_are_checked_or_scored(R_any, k):
    # every outcome: a ValueError naming R or k, or finite values in range; nothing else
    for call, lo, hi in ((lambda: targets.pass_at_k(R_any, k), 0, 1),
                         (lambda: targets.expected_max_reward(R_any, k), -np.inf, np.inf),
                         (lambda: targets.marginal_rewards(R_any, k), -np.inf, np.inf),
                         (lambda: metrics.expected_success(R_any, k), 0, 1)):
        try:
            out = np.asarray(call())
        except ValueError as exc:
            assert re.match(r"(R|k|max_budget|budgets)[ =]", str(exc)), str(exc)
            continue
        assert np.isfinite(out).all() and (out >= lo).all() and (out <= hi).all()


@FUZZ
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
                  elements=st.one_of(st.just(np.nan), st.floats(-100, 100))),
       hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2, max_side=4),
                  elements=st.floats(-100, 100)))
def test_fuzz_graded_reward_never_broadcasts_a_reference_silently(answers, reference):
    # a reference is one number, one per query (row) or one per answer; anything else
    # raises naming it (a one-element list once spread over every query)
    n = answers.shape[0]
    ok = (reference.ndim == 0 or reference.shape in ((n,), answers.shape)
          or (answers.ndim == 2 and reference.shape == (n, 1)))
    if not ok:
        with pytest.raises(ValueError, match=r"^reference must be a scalar or hold one value per query"):
            verifiers.graded_reward(answers, reference)
        return
    reward = verifiers.graded_reward(answers, reference)
    assert reward.shape == answers.shape
    assert ((reward >= 0) & (reward <= 1)).all()
    assert (reward[np.isnan(answers)] == 0).all()
    # per query: row i of the answers is compared with reference i
    truth = np.broadcast_to(reference.reshape(n, *([1] * (answers.ndim - 1)))
                            if reference.shape == (n,) else reference, answers.shape)
    exact = ~np.isnan(answers) & (answers == truth)
    assert (reward[exact] == 1).all()
