"""Honest evaluation under shift: leave-group-out splits and the split-sample oracle.

A policy is only as good as its probe on queries it has not seen. Two habits make
an evaluation honest:

* **Leave-group-out.** Score each query with a probe that never saw its group (its
  task family, or the phrasing it is asked in): :func:`leave_group_out` builds the
  folds, next to the random split that flatters a probe which only learned to
  recognise its training families.
* **Split-sample scoring.** The stored samples of a query are split in two: the
  *allocation* samples may choose budgets (the oracle's, for instance), the
  *scoring* samples measure the result. :func:`split_samples` splits the reward
  matrix and :func:`split_sample_oracle` is the oracle that allocates from the
  first part only. The usual *in-sample* oracle, which allocates and scores on the
  same samples, rewards luck in those samples and is optimistic.

:func:`shift_evaluation` runs the whole check for a probe: cross-fitted
predictions by group, the online (:class:`~skadapt.GreedyAllocator`) and offline
(:class:`~skadapt.BinnedAllocator`, at its realized spend) policies, uniform
best-of-k and the split-sample oracle, all scored on the scoring samples, with
paired bootstrap intervals, the share of the oracle's gain captured and the
compute saved at matched success.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

__all__ = [
    "leave_group_out",
    "shift_evaluation",
    "split_sample_oracle",
    "split_samples",
]


def leave_group_out(groups, *, n_splits=3):
    """Folds in which every query is tested by a model that never saw its group.

    A thin, checked wrapper of :class:`sklearn.model_selection.GroupKFold`.

    Parameters
    ----------
    groups : array-like of shape (n_queries,)
        Group of each query, e.g. its task family or its phrasing template.
    n_splits : int, default=3
        Number of folds; at most the number of distinct groups.

    Returns
    -------
    folds : list of (train_indices, test_indices)

    Examples
    --------
    >>> from skadapt.shift import leave_group_out
    >>> folds = leave_group_out(["a", "a", "b", "c"], n_splits=3)
    >>> sorted(len(test) for _, test in folds)
    [1, 1, 2]
    """
    from sklearn.model_selection import GroupKFold

    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.size == 0:
        raise ValueError(f"groups must be a non-empty 1-D array, got shape {groups.shape}")
    if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral) \
            or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    n_groups = len(np.unique(groups))
    if n_splits > n_groups:
        raise ValueError(f"n_splits={n_splits} exceeds the {n_groups} distinct groups")
    cv = GroupKFold(n_splits=n_splits)
    return [(train, test) for train, test in cv.split(groups, groups=groups)]


def split_samples(R, n_allocate=None):
    """Split each query's samples: the first ``n_allocate`` choose, the rest score.

    Samples of a query are exchangeable draws, so the first ones serve as well as
    any other subset.

    Parameters
    ----------
    R : array-like of shape (n_queries, n_samples)
        Per-sample rewards.
    n_allocate : int, default=None
        Samples that may choose budgets; default half of them (rounded down).

    Returns
    -------
    R_allocate : ndarray of shape (n_queries, n_allocate)
    R_score : ndarray of shape (n_queries, n_samples - n_allocate)

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.shift import split_samples
    >>> a, s = split_samples(np.arange(8.0).reshape(2, 4))
    >>> a.tolist(), s.tolist()
    ([[0.0, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]])
    """
    from skadapt._validation import as_float_array

    R = as_float_array(R, "R")
    if R.ndim != 2 or R.shape[1] < 2:
        raise ValueError("R must be 2-D with at least 2 samples per query, got shape "
                         f"{R.shape}")
    if R.shape[0] == 0:
        raise ValueError("R is empty (0 queries); need at least one query")
    m = R.shape[1]
    if n_allocate is None:
        n_allocate = m // 2
    if isinstance(n_allocate, bool) or not isinstance(n_allocate, numbers.Integral) \
            or not 1 <= n_allocate < m:
        raise ValueError(f"n_allocate must be an integer in [1, {m - 1}], got "
                         f"{n_allocate!r}")
    return R[:, :n_allocate], R[:, n_allocate:]


def split_sample_oracle(R_allocate, budget, *, max_budget, min_budget=0):
    """Budgets of the oracle that sees only the allocation samples.

    The exact marginal rewards of ``R_allocate`` (pass@k for 0/1 rewards, the
    expected maximum otherwise) are allocated exactly (Eq. 5). Scored on other
    samples of the same queries, this is the best an allocator could do with
    perfect knowledge of ``n_allocate`` samples per query, without the optimism
    of scoring on the samples that chose.

    Parameters
    ----------
    R_allocate : array-like of shape (n_queries, n_allocate)
        Samples that choose (see :func:`split_samples`).
    budget : float
        Average budget per query.
    max_budget : int
        Largest budget of one query; at most ``n_allocate`` unless the
        marginal rewards are extrapolated (they are, geometrically, for 0/1
        rewards).
    min_budget : int, default=0

    Returns
    -------
    budgets : ndarray of shape (n_queries,), int

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.shift import split_sample_oracle
    >>> R = np.array([[1, 1], [1, 0], [0, 0]], dtype=float)
    >>> split_sample_oracle(R, 1, max_budget=2).tolist()
    [1, 2, 0]
    """
    from skadapt._validation import check_positive_int, check_reward_matrix
    from skadapt.metrics import oracle_budgets

    R_allocate, _ = check_reward_matrix(R_allocate, name="R_allocate")
    max_budget = check_positive_int(max_budget, "max_budget")
    binary = bool(np.all(np.isin(R_allocate[~np.isnan(R_allocate)], (0.0, 1.0))))
    extrapolate = "geometric" if binary and max_budget > R_allocate.shape[1] else None
    return oracle_budgets(R_allocate, budget, max_budget=max_budget,
                          min_budget=min_budget, extrapolate=extrapolate)


def _kind_of(pred):
    return "success_prob" if pred.shape[1] == 1 else "marginal"


def _fold_predictions(probe, X, R_fit, folds, *, offline, budgets, max_budget,
                      min_budget, n_bins, fit_groups=None, extra=None, groups=None,
                      extra_split=None, random_state=0):
    """Out-of-fold predictions, and the offline policies' budgets fitted per fold.

    ``extra``: ``(X_extra, R_extra_fit, extra_groups)`` added to every fold's
    training rows (never predicted, never scored), except, with ``extra_split``
    (their labels in ``groups``), the rows of the groups a fold holds out.
    The offline budgets are ``{"offline": {B: budgets}, "offline_paced": {...}}``;
    the paced policy meets the test fold one query at a time, in a random order.
    """
    from sklearn.base import clone
    from sklearn.utils import check_random_state

    from skadapt.allocation import BinnedAllocator

    n = len(R_fit)
    pred = None
    offline_budgets = ({name: {b: np.zeros(n, dtype=int) for b in budgets}
                        for name in ("offline", "offline_paced")} if offline else {})
    rng = check_random_state(random_state)
    for train, test in folds:
        model = clone(probe)
        X_train, R_train = X[train], R_fit[train]
        train_groups = None if fit_groups is None else fit_groups[train]
        if extra is not None:
            keep = slice(None)
            if extra_split is not None:
                keep = ~np.isin(extra_split, groups[test])
            X_train = np.concatenate([X_train, extra[0][keep]])
            R_train = np.concatenate([R_train, extra[1][keep]])
            if train_groups is not None:
                train_groups = np.concatenate([train_groups, extra[2][keep]])
        kwargs = {} if train_groups is None else {"groups": train_groups}
        if offline_budgets:
            # cross-fitted predictions on the training rows feed the offline policy
            held = np.asarray(model.fit_transform(X_train, R_train, **kwargs),
                              dtype=float)
        else:
            model.fit(X_train, R_train, **kwargs)
        out = np.asarray(model.transform(X[test]), dtype=float)
        if pred is None:
            pred = np.zeros((n, out.shape[1]))
        pred[test] = out
        stream = rng.permutation(len(test))
        for b in budgets if offline else ():
            # no spend warning: the table reports the realized spend itself
            alloc = BinnedAllocator(b, n_bins=n_bins, max_budget=max_budget,
                                    min_budget=min_budget, kind=_kind_of(held),
                                    spend_tolerance=None)
            alloc.fit(held, R_train)
            offline_budgets["offline"][b][test] = np.asarray(alloc.transform(out)).ravel()
            paced = clone(alloc).set_params(pacing=True).fit(held, R_train)
            for i in stream:  # a stateful transform: one query at a time, as deployed
                offline_budgets["offline_paced"][b][test[i]] = int(
                    np.asarray(paced.transform(out[i:i + 1])).ravel()[0])
    return pred, offline_budgets


def _check_extra(X_extra, R_extra, extra_groups, X, R, fit_groups, n_allocate):
    """``(X_extra, R_extra's allocation samples, extra_groups)``, or None."""
    from skadapt._validation import as_float_array

    if X_extra is None and R_extra is None:
        if extra_groups is not None:
            raise ValueError("extra_groups is given without X_extra and R_extra")
        return None
    if X_extra is None or R_extra is None:
        given, missing = ("X_extra", "R_extra") if R_extra is None else ("R_extra", "X_extra")
        raise ValueError(f"{given} is given without {missing}; pass both")
    X, X_extra = np.asarray(X), np.asarray(X_extra)
    R_extra = as_float_array(R_extra, "R_extra")
    if X_extra.ndim != X.ndim or X_extra.shape[1:] != X.shape[1:]:
        expected = ", ".join(["n_extra"] + [str(d) for d in X.shape[1:]])
        raise ValueError(f"X_extra must have shape ({expected}) like X (one row per "
                         f"query), got {X_extra.shape}")
    if R_extra.shape != (len(X_extra), R.shape[1]):
        raise ValueError(f"R_extra must have shape ({len(X_extra)}, {R.shape[1]}): one row "
                         f"per query of X_extra and as many samples as R, got "
                         f"{R_extra.shape}")
    if fit_groups is not None and extra_groups is None:
        raise ValueError("fit_groups is given, so extra_groups must give the groups of "
                         "X_extra's queries too")
    if extra_groups is not None:
        if fit_groups is None:
            raise ValueError("extra_groups is only used with fit_groups; pass both")
        extra_groups = np.asarray(extra_groups)
        if extra_groups.shape != (len(X_extra),):
            raise ValueError(f"extra_groups must have shape ({len(X_extra)},), got "
                             f"{extra_groups.shape}")
    return X_extra, R_extra[:, :n_allocate], extra_groups


def shift_evaluation(probe, X, R, *, groups=None, n_splits=3, budgets=(1, 2, 4, 8, 16),
                     n_allocate=None, min_budget=0, offline=True, n_bins=10,
                     n_resamples=1000, confidence=0.95, random_state=0, fit_groups=None,
                     X_extra=None, R_extra=None, extra_groups=None,
                     extra_split_groups=None):
    """Allocation quality of a probe on queries from groups it never saw.

    Every query gets a prediction from a probe fitted on the other folds
    (:func:`leave_group_out` when ``groups`` is given, a shuffled ``KFold``
    otherwise: the random split). The budget is then allocated over the whole
    pool and scored on the *scoring* samples (:func:`split_samples`), exactly
    (pass@k for 0/1 rewards):

    * ``uniform``: best-of-``B`` for every query;
    * ``online``: :class:`~skadapt.GreedyAllocator` on the pooled predictions
      (``kind="success_prob"`` for a one-column prediction, ``"marginal"`` for
      curves);
    * ``offline``: a :class:`~skadapt.BinnedAllocator` fitted per fold on the
      training folds' cross-fitted predictions, applied to the test fold one
      query at a time: it is scored at its *realized* spend, which drifts from
      ``B`` when the test groups differ;
    * ``offline_paced``: the same policy with its spend guard,
      ``BinnedAllocator(pacing=True)``, fed the test fold one query at a time in
      a random order (``random_state``): it re-prices its bins to keep the
      running average spend at ``B``;
    * ``split_oracle``: :func:`split_sample_oracle` on the allocation samples.

    Parameters
    ----------
    probe : estimator
        A transformer whose ``fit(X, R)`` learns from the 0/1 outcome matrix and
        whose ``transform`` returns success probabilities ``(n, 1)`` or
        marginal-reward curves ``(n, max_budget)`` (e.g.
        :class:`~skadapt.SuccessProbClassifier`, a
        :class:`~sklearn.pipeline.Pipeline` ending in one).
    X : array-like of shape (n_queries, n_features)
        Query features.
    R : array-like of shape (n_queries, n_samples)
        Per-sample 0/1 outcomes.
    groups : array-like of shape (n_queries,), default=None
        Group of each query (family, template); ``None`` gives the random split.
    n_splits : int, default=3
    budgets : sequence of int, default=(1, 2, 4, 8, 16)
        Average budgets per query; the largest budget of one query is the number
        of scoring samples.
    n_allocate : int, default=None
        Allocation samples per query (default half). The probe is fitted on the
        allocation samples of the training queries only, so it never sees a
        scoring sample.
    min_budget : int, default=0
    offline : bool, default=True
        Include the offline (binned) policies, without and with pacing.
    n_bins : int, default=10
    n_resamples, confidence, random_state
        Paired bootstrap over queries for the intervals of the gains;
        ``random_state`` also seeds the random split and the order in which the
        paced offline policy meets the test queries.
    fit_groups : array-like of shape (n_queries,), default=None
        Passed, restricted to the training folds, to the probe's ``fit`` (and
        ``fit_transform``) as ``groups=``: for a probe that uses the training
        queries' groups, such as :class:`~skadapt.calibration.CalibratedCurves`
        (curves calibrated for unseen groups). Independent of ``groups``, which
        decides the outer split: the random-split row may pass the families here too.
    X_extra : array-like of shape (n_extra, n_features), default=None
        More training queries, added to *every* fold's training rows and never
        predicted or scored: queries of other groups than those evaluated (for
        example task families a deployment will not meet), to measure what broader
        supervision buys on held-out groups. Needs ``R_extra``.
    R_extra : array-like of shape (n_extra, n_samples), default=None
        Their per-sample outcomes, as many samples per query as ``R``; only their
        allocation samples (the first ``n_allocate``) are used.
    extra_groups : array-like of shape (n_extra,), default=None
        Their groups, passed with ``fit_groups`` (required when both ``fit_groups``
        and ``X_extra`` are given).
    extra_split_groups : array-like of shape (n_extra,), default=None
        Their labels in ``groups`` (needs ``groups``): each fold leaves out of its
        training rows the extra queries of the groups it holds out. Use it when the
        extra queries share the grouping being held out: with leave-phrasing-out
        and extra queries asked in the same phrasings, a probe trained on them would
        otherwise see the held-out phrasing.

    Returns
    -------
    table : pandas.DataFrame
        One row per budget: ``uniform``, ``online``, ``online_gain`` with
        ``online_low``/``online_high`` (interval of the paired gain over uniform,
        resampling queries), ``group_low``/``group_high`` (the same resampling
        whole groups, a cluster bootstrap: leave-group-out, how much the gain
        depends on *which* groups were held out, usually the larger uncertainty
        with a few dozen groups; NaN for the random split), ``offline`` and
        ``offline_spend`` (its realized average budget), ``offline_paced`` and
        ``offline_paced_spend``,
        ``split_oracle``, ``captured`` (share of the split-sample oracle's gain
        over uniform that online captures) and ``compute_saved`` (fraction of
        uniform's samples online saves at matched success; NaN where uniform
        never matches it).

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt import SuccessProbClassifier
    >>> from skadapt.shift import shift_evaluation
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4))
    >>> lam = 1 / (1 + np.exp(-2 * X[:, 0]))
    >>> R = (rng.uniform(size=(300, 16)) < lam[:, None]).astype(float)
    >>> groups = np.repeat(["a", "b", "c"], 100)
    >>> table = shift_evaluation(SuccessProbClassifier(max_iter=30, random_state=0),
    ...                          X, R, groups=groups, budgets=[1, 2], n_resamples=100)
    >>> table.columns[:4].tolist()
    ['budget', 'uniform', 'online', 'online_gain']
    """
    from sklearn.model_selection import KFold

    from skadapt.allocation import GreedyAllocator
    from skadapt.evaluation import bootstrap_interval, per_query_value
    from skadapt.metrics import compute_savings

    from skadapt._validation import as_float_array

    X = np.asarray(X)
    R = as_float_array(R, "R")
    if R.ndim != 2 or len(R) != len(X):
        raise ValueError(f"R must be 2-D with one row per query of X ({len(X)}), got "
                         f"shape {R.shape}")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (len(X),):
            raise ValueError(f"groups must have shape ({len(X)},), got {groups.shape}")
    if fit_groups is not None:
        fit_groups = np.asarray(fit_groups)
        if fit_groups.shape != (len(X),):
            raise ValueError(f"fit_groups must have shape ({len(X)},), got "
                             f"{fit_groups.shape}")
    R_allocate, R_score = split_samples(R, n_allocate)
    max_budget = R_score.shape[1]
    extra = _check_extra(X_extra, R_extra, extra_groups, X, R, fit_groups,
                         R_allocate.shape[1])
    if extra_split_groups is not None:
        if extra is None:
            raise ValueError("extra_split_groups is given without X_extra and R_extra")
        if groups is None:
            raise ValueError("extra_split_groups needs groups: it says which extra "
                             "queries belong to the groups each fold holds out")
        extra_split_groups = np.asarray(extra_split_groups)
        if extra_split_groups.shape != (len(extra[0]),):
            raise ValueError(f"extra_split_groups must have shape ({len(extra[0])},), "
                             f"got {extra_split_groups.shape}")
    from sklearn.utils import check_random_state

    from skadapt._validation import check_nonnegative_int, check_positive_int

    try:
        check_random_state(random_state)
    except ValueError:
        raise ValueError(f"random_state must be None, an int or a numpy RandomState, "
                         f"got {random_state!r}") from None
    if isinstance(budgets, str) or np.ndim(budgets) != 1:
        raise ValueError(f"budgets must be a list of integers, got {budgets!r}")
    budgets = [check_positive_int(b, "each entry of budgets") for b in budgets]
    min_budget = check_nonnegative_int(min_budget, "min_budget")
    if not budgets or min(budgets) < max(1, min_budget) or max(budgets) > max_budget:
        raise ValueError(f"budgets must lie in [{max(1, min_budget)}, {max_budget}] "
                         f"(the scoring samples per query), got {budgets}")
    if groups is None:
        cv = KFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        folds = list(cv.split(X))
    else:
        folds = leave_group_out(groups, n_splits=n_splits)
    pred, offline_budgets = _fold_predictions(
        probe, X, R_allocate, folds, offline=offline, budgets=budgets,
        max_budget=max_budget, min_budget=min_budget, n_bins=n_bins,
        fit_groups=fit_groups, extra=extra, groups=groups,
        extra_split=extra_split_groups, random_state=random_state)
    kind = _kind_of(pred)
    if kind == "marginal" and pred.shape[1] < max_budget:
        raise ValueError(f"the probe's curves have {pred.shape[1]} columns; need "
                         f"max_budget={max_budget} (the scoring samples per query)")
    pred = pred if kind == "success_prob" else pred[:, :max_budget]

    rows, per_query = [], []
    for b in budgets:
        chosen = {
            "uniform": np.full(len(R), b),
            "online": np.asarray(GreedyAllocator(b, max_budget=max_budget,
                                                 min_budget=min_budget, kind=kind)
                                 .fit_transform(pred)).ravel(),
            "split_oracle": split_sample_oracle(R_allocate, b, max_budget=max_budget,
                                                min_budget=min_budget),
        }
        for name in offline_budgets:
            chosen[name] = offline_budgets[name][b]
        values = {name: per_query_value(R_score, bud) for name, bud in chosen.items()}
        row = {"budget": b}
        row.update({name: float(v.mean()) for name, v in values.items()})
        for name in offline_budgets:
            row[f"{name}_spend"] = float(np.mean(chosen[name]))
        rows.append(row)
        per_query.append(values["online"] - values["uniform"])
    low, high = bootstrap_interval(np.vstack(per_query), n_resamples=n_resamples,
                                   confidence=confidence, random_state=random_state)
    if groups is not None:
        # resampling whole groups: how much the result depends on which were held out
        group_low, group_high = bootstrap_interval(
            np.vstack(per_query), n_resamples=n_resamples, confidence=confidence,
            random_state=random_state, groups=groups)
    else:
        group_low = group_high = np.full(len(budgets), np.nan)
    table = pd.DataFrame(rows)
    table.insert(3, "online_gain", table["online"] - table["uniform"])
    table.insert(4, "online_low", low)
    table.insert(5, "online_high", high)
    table.insert(6, "group_low", group_low)
    table.insert(7, "group_high", group_high)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["captured"] = ((table["online"] - table["uniform"])
                             / (table["split_oracle"] - table["uniform"]))
    # uniform best-of-k on the scoring samples at every k, for matched success
    ks = np.arange(0, max_budget + 1)
    uniform_curve = [0.0] + [float(per_query_value(R_score, np.full(len(R), k)).mean())
                             for k in ks[1:]]
    saved = compute_savings(table["budget"], table["online"], ks, uniform_curve)
    table["compute_saved"] = saved.compute_saved
    return table
