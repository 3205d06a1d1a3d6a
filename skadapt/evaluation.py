"""Side-by-side evaluation of allocation methods, with bootstrap intervals.

:func:`allocation_curves` turns a reward matrix and a probe's predictions into
the paper's comparison (Figure 3, right): expected success (or reward) against
the average budget for uniform best-of-k, online adaptive allocation
(:class:`~skadapt.GreedyAllocator`), offline adaptive allocation
(:class:`~skadapt.BinnedAllocator`, fitted on held-out predictions) and the
oracle. Point estimates are the means of the exact per-query values of
:func:`skadapt.metrics.per_query_value` (the metrics of :mod:`skadapt.metrics` are
those means); the 95% intervals come from a bootstrap over queries of those values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from skadapt._validation import (
    as_float_array,
    check_finite_number,
    check_nonnegative_int,
    check_positive_int,
    check_reward_matrix,
)

# per_query_value lives with the metrics it averages into (expected_success and
# expected_reward); it stays importable from here, where it was first published.
from skadapt.metrics import per_query_value

__all__ = ["METHODS", "allocation_budgets", "allocation_curves", "bootstrap_interval",
           "per_query_value"]

METHODS = ("uniform", "online", "offline", "oracle")


def bootstrap_interval(values, *, n_resamples=1000, confidence=0.95,
                       random_state=0, method="percentile", groups=None):
    """Bootstrap interval of the mean of ``values`` (per query), by
    :func:`scipy.stats.bootstrap`.

    ``values`` may be 2-D ``(n_curves, n_queries)``: the same resampled query
    indices are used for every row, so intervals of differences are paired.
    With ``groups``, whole groups are resampled instead of queries (a cluster
    bootstrap): the right interval when the groups, not the queries, were drawn,
    as in a leave-family-out check whose held-out families are a sample of the
    families a deployment will meet.

    Parameters
    ----------
    values : array-like of shape (n_queries,) or (n_curves, n_queries)
        Per-query values whose mean is bootstrapped.
    n_resamples : int, default=1000
        Number of bootstrap resamples of the queries.
    confidence : float, default=0.95
        Coverage of the interval, in (0, 1).
    random_state : int, RandomState instance or None, default=0
        Seeds the resampling.
    method : {"percentile", "BCa", "basic"}, default="percentile"
        :func:`scipy.stats.bootstrap`'s interval. ``"percentile"`` gives the
        intervals published in README and benchmarks/RESULTS.md; ``"BCa"``
        (bias-corrected and accelerated) is second-order accurate but about 5x
        slower at 4,000 queries (``benchmarks/bench_bootstrap.py``).
    groups : array-like of shape (n_queries,), default=None
        Group of each query: resample groups (each with all its queries) and
        bootstrap the mean over the queries of the resampled groups. None:
        resample queries.

    Returns
    -------
    low, high : ndarray
        Of shape ``values.shape[:-1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.evaluation import bootstrap_interval
    >>> low, high = bootstrap_interval(np.linspace(0, 1, 101), random_state=0)
    >>> bool(low < 0.5 < high)
    True

    Resampling 4 groups instead of 101 queries: a wider interval.

    >>> g_low, g_high = bootstrap_interval(np.linspace(0, 1, 101), random_state=0,
    ...                                    groups=np.arange(101) // 26)
    >>> bool(g_high - g_low > high - low)
    True
    """
    from scipy import stats

    values = as_float_array(values, "values")
    if values.ndim not in (1, 2):
        raise ValueError(
            f"values must be 1-D (n_queries,) or 2-D (n_curves, n_queries); got shape {values.shape}."
        )
    if values.shape[-1] == 0:
        raise ValueError("values is empty: bootstrap_interval needs at least one query")
    if not np.isfinite(values).all():
        raise ValueError("values contains NaN or infinite values; every query needs a finite value.")
    n_resamples = check_positive_int(n_resamples, "n_resamples")
    confidence = check_finite_number(confidence, "confidence")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if method not in ("percentile", "BCa", "basic"):
        raise ValueError(f"method must be 'percentile', 'BCa' or 'basic', got {method!r}")
    rng = check_random_state(random_state)
    n = values.shape[-1]
    if groups is not None:
        return _group_bootstrap(values, groups, n_resamples=n_resamples,
                                confidence=confidence, method=method, rng=rng)
    if n == 1:  # one query: every resample is that query
        return values[..., 0].copy(), values[..., 0].copy()
    rows = int(np.prod(values.shape[:-1], dtype=np.int64))
    # one sample resampled along the queries: every row (curve) sees the same
    # resampled indices, so differences are paired; batches bound the memory of
    # the n_resamples x n_queries resampled values
    result = stats.bootstrap(
        (values,), np.mean, axis=-1, vectorized=True, n_resamples=n_resamples,
        batch=max(1, 2_000_000 // max(n * rows, 1)), confidence_level=confidence,
        method=method, random_state=rng,
    )
    low = np.asarray(result.confidence_interval.low, dtype=float)
    high = np.asarray(result.confidence_interval.high, dtype=float)
    return low, high


def _group_bootstrap(values, groups, *, n_resamples, confidence, method, rng):
    """Cluster bootstrap of the mean of ``values`` over queries, resampling groups."""
    from scipy import stats

    groups = np.asarray(groups)
    n = values.shape[-1]
    if groups.shape != (n,):
        raise ValueError(f"groups must have shape ({n},), one group per query; got "
                         f"{groups.shape}.")
    _, ids = np.unique(groups, return_inverse=True)
    n_groups = int(ids.max()) + 1
    flat = values.reshape(-1, n)
    sums = np.zeros((flat.shape[0], n_groups))
    for row in range(flat.shape[0]):
        sums[row] = np.bincount(ids, weights=flat[row], minlength=n_groups)
    counts = np.bincount(ids, minlength=n_groups).astype(float)
    if n_groups == 1:  # one group: every resample is that group
        mean = (sums[:, 0] / counts[0]).reshape(values.shape[:-1])
        return mean.copy(), mean.copy()

    def ratio(s, c, axis=-1):
        return s.sum(axis=axis) / c.sum(axis=axis)

    result = stats.bootstrap(
        (sums, np.broadcast_to(counts, sums.shape).copy()), ratio, paired=True, axis=-1,
        vectorized=True, n_resamples=n_resamples, confidence_level=confidence,
        method=method, random_state=rng,
    )
    shape = values.shape[:-1]
    low = np.asarray(result.confidence_interval.low, dtype=float).reshape(shape)
    high = np.asarray(result.confidence_interval.high, dtype=float).reshape(shape)
    return low, high


def allocation_budgets(rewards, predictions, budget, *, method, kind="success_prob",
                       max_budget, min_budget=0, held_out=None, n_bins=10):
    """Per-query budgets chosen by one allocation method at one average budget.

    Parameters
    ----------
    rewards : ndarray of shape (n_queries, n_samples)
        Used only by ``method="oracle"``.
    predictions : ndarray
        Probe output for the queries: one column of success probabilities
        (``kind="success_prob"``) or a marginal-reward matrix (``kind="marginal"``).
    budget : float
        Average budget per query.
    method : {"uniform", "online", "offline", "oracle"}
    held_out : tuple (predictions, rewards), default=None
        Held-out (cross-fitted) predictions and their reward matrix, required by
        ``method="offline"``: the binned policy is fitted on them.

    Returns
    -------
    budgets : ndarray of shape (n_queries,) of int
    """
    from skadapt.allocation import BinnedAllocator, GreedyAllocator
    from skadapt.metrics import oracle_budgets

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    rewards, _ = check_reward_matrix(rewards, name="rewards")
    n = rewards.shape[0]
    predictions = _prediction_matrix(predictions, n, "predictions")
    max_budget = check_positive_int(max_budget, "max_budget")
    min_budget = check_nonnegative_int(min_budget, "min_budget")
    budget = check_finite_number(budget, "budget")
    if not min_budget <= budget <= max_budget:
        raise ValueError(
            f"budget={budget:g} must lie in [min_budget, max_budget] = [{min_budget}, {max_budget}]."
        )
    if method == "uniform":
        if budget != int(budget):
            raise ValueError(f"uniform best-of-k needs an integer budget, got {budget:g}")
        return np.full(n, int(budget))
    if method == "online":
        alloc = GreedyAllocator(budget, max_budget=max_budget, min_budget=min_budget,
                                kind=kind)
        return alloc.fit_transform(predictions).ravel()
    if method == "offline":
        if held_out is None:
            raise ValueError("method='offline' needs held_out=(predictions, rewards)")
        try:
            pred_held, rewards_held = held_out
        except (TypeError, ValueError):
            raise ValueError(
                f"held_out must be a pair (predictions, rewards); got {type(held_out).__name__}"
            ) from None
        rewards_held = as_float_array(rewards_held, "held_out rewards")
        pred_held = _prediction_matrix(pred_held, rewards_held.shape[0], "held_out predictions")
        if pred_held.shape[1] != predictions.shape[1]:
            raise ValueError(
                f"held_out predictions have {pred_held.shape[1]} column(s) but predictions have "
                f"{predictions.shape[1]}; both must come from the same probe"
            )
        # the realized spend is reported (average_budget): no warning needed
        alloc = BinnedAllocator(budget, n_bins=n_bins, max_budget=max_budget,
                                min_budget=min_budget, kind=kind, spend_tolerance=None)
        alloc.fit(pred_held, rewards_held)
        return alloc.transform(predictions).ravel()
    if method == "oracle":
        return np.asarray(oracle_budgets(rewards, budget, max_budget=max_budget,
                                         min_budget=min_budget)).ravel()


def _prediction_matrix(predictions, n, name):
    """Predictions as an (n, n_columns) float matrix: one row per query."""
    predictions = as_float_array(predictions, name)
    if predictions.ndim == 1:
        predictions = predictions.reshape(-1, 1)
    if predictions.ndim != 2 or predictions.shape[0] != n:
        raise ValueError(
            f"{name} must have one row per query, shape ({n},) or ({n}, n_columns); got "
            f"shape {predictions.shape}"
        )
    return predictions


def allocation_curves(rewards, predictions, *, budgets=(1, 2, 4, 8, 16),
                      kind="success_prob", max_budget=None, min_budget=0,
                      binary=True, held_out=None, methods=None, n_bins=10,
                      default=0.0, n_resamples=1000, confidence=0.95,
                      random_state=0):
    """Expected success (or reward) against average budget, per method.

    Parameters
    ----------
    rewards : array-like of shape (n_queries, n_samples)
        Per-sample rewards of the evaluation queries (NaN = missing).
    predictions : array-like
        The probe's predictions for those queries (see
        :func:`allocation_budgets`).
    budgets : sequence of int, default=(1, 2, 4, 8, 16)
        Average budgets per query.
    kind : {"success_prob", "marginal"}, default="success_prob"
    max_budget : int, default=None
        Largest budget per query; default the number of samples per query (the
        exact estimators cannot score more).
    min_budget : int, default=0
    binary : bool, default=True
        Score with pass@k (0/1 rewards) or the expected maximum reward.
    held_out : tuple (predictions, rewards), default=None
        Held-out predictions for the offline method; without it "offline" is
        left out.
    methods : sequence of str, default=None
        Subset of ``("uniform", "online", "offline", "oracle")``.
    n_bins : int, default=10
        Bins of the offline policy.
    default : float, default=0.0
        Value of a query allocated no sample.
    n_resamples, confidence, random_state
        Bootstrap over queries (paired across methods).

    Returns
    -------
    curves : pandas.DataFrame
        One row per (method, budget) with columns ``method``, ``budget``,
        ``average_budget`` (units actually spent per query), ``value``,
        ``low`` and ``high`` (bootstrap interval).

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.evaluation import allocation_curves
    >>> rng = np.random.default_rng(0)
    >>> lam = rng.uniform(size=200)
    >>> R = (rng.uniform(size=(200, 16)) < lam[:, None]).astype(float)
    >>> curves = allocation_curves(R, lam, budgets=[1, 4], methods=["uniform", "online"])
    >>> curves[["method", "budget"]].values.tolist()
    [['uniform', 1], ['uniform', 4], ['online', 1], ['online', 4]]
    """
    rewards, observed = check_reward_matrix(rewards, name="rewards", binary=binary)
    predictions = _prediction_matrix(predictions, rewards.shape[0], "predictions")
    if max_budget is None:
        max_budget = int(observed.min())
    max_budget = check_positive_int(max_budget, "max_budget")
    if isinstance(budgets, str) or np.ndim(budgets) != 1 or len(budgets) == 0:
        raise ValueError(f"budgets must be a non-empty list of average budgets; got {budgets!r}")
    if max_budget > observed.min():
        raise ValueError(
            f"max_budget={max_budget} exceeds the {observed.min()} observed samples "
            "of some query; the exact estimators cannot score larger budgets"
        )
    if methods is None:
        methods = [m for m in METHODS if m != "offline" or held_out is not None]
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    rows, per_query = [], []
    for method in methods:
        for budget in budgets:
            b = allocation_budgets(
                rewards, predictions, budget, method=method, kind=kind,
                max_budget=max_budget, min_budget=min_budget, held_out=held_out,
                n_bins=n_bins,
            )
            values = per_query_value(rewards, b, binary=binary, default=default)
            rows.append({"method": method, "budget": budget,
                         "average_budget": float(np.mean(b)),
                         "value": float(np.mean(values))})
            per_query.append(values)
    low, high = bootstrap_interval(np.vstack(per_query), n_resamples=n_resamples,
                                   confidence=confidence, random_state=random_state)
    frame = pd.DataFrame(rows)
    frame["low"] = low
    frame["high"] = high
    return frame
