"""Choosing the budget by cross-validation: the smallest spend that reaches a target.

A grid search over ``budget`` only ever picks the largest budget (more compute
never hurts the expected reward). What users want is the other side of the
trade-off: the *smallest* average budget (or the price per unit, see
``GreedyAllocator(price=...)``) that reaches a target success rate or reward, or
the best quality within a spend. :class:`BudgetSearchCV` answers both from one
cross-validated quality-versus-spend curve, in the manner of scikit-learn's
:class:`~sklearn.model_selection.TunedThresholdClassifierCV`.
"""

import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.model_selection import KFold, check_cv
from sklearn.utils import indexable

from skadapt._compat import (
    HasMethods,
    Interval,
    StrOptions,
    _check_feature_names_in,
    _num_samples,
    _safe_indexing,
    check_is_fitted,
)
from skadapt._validation import check_reward_matrix
from skadapt._versioning import VersionedPickleMixin

__all__ = ["BudgetSearchCV", "NoBudgetReachesTargetError"]


class NoBudgetReachesTargetError(ValueError):
    """No candidate budget of a :class:`BudgetSearchCV` meets its objective.

    The message says what the best reachable is (the highest quality and its
    spend, or the smallest spend), so the target or the candidates can be
    changed accordingly. The full curve is still stored in ``curve_``.
    """


def _safe_rows(X, rows):
    return _safe_indexing(X, rows)


class BudgetSearchCV(VersionedPickleMixin, TransformerMixin, BaseEstimator):
    """Smallest average budget reaching a target quality, found by cross-validation.

    The probe (``estimator``) is cross-fitted: each query's prediction comes
    from a probe fitted on the other folds. For every candidate average budget,
    the allocator chosen by ``allocator`` turns the held-out predictions of a
    fold into budgets, and those budgets are scored *exactly* on the held-out
    queries' own observed rewards (pass@k for 0/1 rewards, the expected
    maximum otherwise; :func:`skadapt.evaluation.per_query_value`). No sample
    of a scored query trained the probe that predicted it, and nothing but
    predictions chose its budget, so the curve is an honest estimate of the
    quality new queries would get at each spend.

    Parameters
    ----------
    estimator : estimator
        A probe, or a :class:`~sklearn.pipeline.Pipeline` ending in one, whose
        ``fit(X, R)`` learns from the reward matrix and whose ``transform``
        returns success probabilities ``(n, 1)`` (e.g.
        :class:`~skadapt.SuccessProbClassifier`) or marginal-reward curves
        ``(n, >= max_budget)`` (e.g. :class:`~skadapt.MarginalRewardRegressor`).
    objective : {"min_budget", "best_quality"}, default="min_budget"
        ``"min_budget"``: the candidate with the smallest realized spend whose
        cross-validated quality is at least ``target``. ``"best_quality"``:
        the candidate with the highest quality whose spend is at most
        ``max_spend`` (ties go to the smaller spend).
    target : float, default=None
        Required with ``objective="min_budget"``: mean success rate (or
        reward) per query to reach.
    max_spend : float, default=None
        Required with ``objective="best_quality"``: largest average number of
        units per query.
    allocator : {"greedy", "price", "binned"}, default="greedy"
        How budgets are chosen for the scored queries, which is also the
        policy ``transform`` applies afterwards:

        * ``"greedy"``: :class:`~skadapt.GreedyAllocator`, the exact optimum of
          Eq. 5 for each batch (each test fold is one batch); spends the budget
          exactly.
        * ``"price"``: ``GreedyAllocator(price="fit")``, one query at a time.
          The price is learnt on the other folds' held-out predictions and
          applied to the test fold, so the curve reports the spend a stream
          would realize, not the budget asked for.
        * ``"binned"``: :class:`~skadapt.BinnedAllocator` fitted on the other
          folds' held-out predictions and their rewards, applied to the test
          fold (offline allocation); also scored at its realized spend.
    budgets : array-like of float or None, default=None
        Candidate average budgets, each in ``[min_budget, max_budget]``.
        None: every multiple of 1/4 in that range (at most 129 values; evenly
        spaced beyond that).
    max_budget : int, default=None
        Largest budget of one query; None means the number of samples per
        query in ``y`` (exact scoring needs that many samples).
    min_budget : int, default=0
        Budget every query receives.
    n_bins : int, default=10
        Bins of the ``"binned"`` allocator.
    cv : int or cross-validation generator, default=5
        Folds of queries. An integer gives a shuffled
        :class:`~sklearn.model_selection.KFold` seeded by ``random_state``
        (datasets are often stored sorted by difficulty); anything else goes
        through :func:`~sklearn.model_selection.check_cv`. Group splits
        (``GroupKFold``) are not routed here: pass their splits as an
        iterable of ``(train, test)`` pairs.
    binary : bool or None, default=None
        Score with pass@k (0/1 rewards) or the expected maximum; None: pass@k
        when every observed reward is 0 or 1.
    default : float, default=0.0
        Value of a query given no sample (budget 0, an "I don't know").
    confidence : float, default=0.95
        Level of the bootstrap intervals of the curve's quality.
    n_resamples : int, default=1000
        Bootstrap resamples over queries (the same resamples for every
        candidate).
    refit : bool, default=True
        Refit the probe on all queries (``estimator_``) and the allocator at
        the chosen budget on all held-out predictions (``allocator_``), so
        that ``transform`` gives budgets for new queries.
    random_state : int, RandomState instance or None, default=None
        Seeds the folds of an integer ``cv`` and the bootstrap.

    Attributes
    ----------
    best_budget_ : float
        The chosen candidate budget (``budget`` of the allocator).
    best_spend_ : float
        Its cross-validated average spend per query.
    best_score_ : float
        Its cross-validated mean quality per query.
    best_price_ : float
        With ``allocator="price"`` only: the price learnt at ``best_budget_``
        on all held-out predictions (the one ``allocator_`` uses).
    best_index_ : int
        Row of ``curve_`` chosen.
    curve_ : pandas.DataFrame
        One row per candidate: ``budget``, ``spend`` (realized units per
        query), ``quality`` with ``quality_low``/``quality_high`` (bootstrap
        interval), ``meets_objective``, and ``price`` with
        ``allocator="price"``.
    cv_results_ : dict of ndarray
        The same columns as ``curve_``, as scikit-learn's searches store them.
    oof_predictions_ : ndarray of shape (n_queries, n_outputs)
        Cross-fitted predictions of the probe.
    estimator_ : estimator
        The probe refitted on all queries (``refit=True``).
    allocator_ : GreedyAllocator or BinnedAllocator
        The allocator at ``best_budget_``, fitted on ``oof_predictions_``
        (``refit=True``).
    kind_ : {"success_prob", "marginal"}
        What the probe predicts.
    max_budget_ : int
        The resolved per-query maximum.
    n_features_in_ : int
        Number of features of ``X``, when the refitted probe records it.

    See Also
    --------
    GreedyAllocator : Batch allocation, and the price mode for streams.
    BinnedAllocator : Offline allocation by bins of predicted difficulty.
    sklearn.model_selection.TunedThresholdClassifierCV : The same idea for
        a classifier's decision threshold.

    Notes
    -----
    The curve is computed for every candidate from one set of cross-fitted
    predictions, so the probe is fitted ``n_splits`` times (plus once with
    ``refit``), whatever the number of candidates.

    With ``allocator="price"`` or ``"binned"``, the price or the bins of a
    test fold are learnt from the other folds' held-out predictions. Those
    were made by probes that saw the test fold's rewards, but only their
    distribution (no outcome) sets the price, so the test fold's outcomes
    never choose its own budgets.

    With ``allocator="greedy"`` the realized spend equals the budget up to
    rounding (``floor(budget * n)`` units per fold); the other two meet the
    budget only on average, and the objective is applied to the realized
    spend.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt import BudgetSearchCV, SuccessProbClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3))
    >>> lam = 1 / (1 + np.exp(-3 * X[:, 0]))
    >>> R = (rng.uniform(size=(300, 8)) < lam[:, None]).astype(float)
    >>> search = BudgetSearchCV(SuccessProbClassifier(max_iter=200, random_state=0),
    ...                         target=0.7, max_budget=8, cv=3, random_state=0,
    ...                         n_resamples=200).fit(X, R)
    >>> float(search.best_budget_)
    3.25
    >>> round(search.best_score_, 3)
    0.712
    >>> search.predict(X[:4])
    array([3, 3, 1, 6])
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "transform"])],
        "objective": [StrOptions({"min_budget", "best_quality"})],
        "target": [None, Interval(numbers.Real, None, None, closed="neither")],
        "max_spend": [None, Interval(numbers.Real, 0, None, closed="left")],
        "allocator": [StrOptions({"greedy", "price", "binned"})],
        "budgets": [None, "array-like"],
        "max_budget": [None, Interval(numbers.Integral, 1, None, closed="left")],
        "min_budget": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_bins": [Interval(numbers.Integral, 1, None, closed="left")],
        "cv": ["cv_object"],
        "binary": [None, "boolean"],
        "default": [Interval(numbers.Real, None, None, closed="neither")],
        "confidence": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_resamples": [Interval(numbers.Integral, 1, None, closed="left")],
        "refit": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator,
        *,
        objective="min_budget",
        target=None,
        max_spend=None,
        allocator="greedy",
        budgets=None,
        max_budget=None,
        min_budget=0,
        n_bins=10,
        cv=5,
        binary=None,
        default=0.0,
        confidence=0.95,
        n_resamples=1000,
        refit=True,
        random_state=None,
    ):
        self.estimator = estimator
        self.objective = objective
        self.target = target
        self.max_spend = max_spend
        self.allocator = allocator
        self.budgets = budgets
        self.max_budget = max_budget
        self.min_budget = min_budget
        self.n_bins = n_bins
        self.cv = cv
        self.binary = binary
        self.default = default
        self.confidence = confidence
        self.n_resamples = n_resamples
        self.refit = refit
        self.random_state = random_state

    # ------------------------------------------------------------------ checks

    def _check_objective(self):
        if self.objective == "min_budget":
            if self.target is None:
                raise ValueError(
                    "objective='min_budget' needs target=, the mean success rate (or reward) "
                    "per query to reach."
                )
            if self.max_spend is not None:
                raise ValueError(
                    "max_spend is used only with objective='best_quality'; with "
                    "objective='min_budget' set target= instead."
                )
        else:
            if self.max_spend is None:
                raise ValueError(
                    "objective='best_quality' needs max_spend=, the largest average number of "
                    "units per query."
                )
            if self.target is not None:
                raise ValueError(
                    "target is used only with objective='min_budget'; with "
                    "objective='best_quality' set max_spend= instead."
                )

    def _candidates(self, max_budget):
        lo, hi = self.min_budget, max_budget
        if self.budgets is None:
            steps = int(round(4 * (hi - lo)))
            if steps + 1 <= 129:
                return lo + np.arange(steps + 1) / 4.0
            return np.linspace(lo, hi, 129)
        budgets = np.asarray(self.budgets, dtype=np.float64).ravel()
        if budgets.size == 0 or not np.isfinite(budgets).all():
            raise ValueError(f"budgets must be a non-empty list of finite numbers; got {self.budgets!r}.")
        bad = budgets[(budgets < lo) | (budgets > hi)]
        if bad.size:
            raise ValueError(
                f"budgets must lie in [min_budget, max_budget] = [{lo}, {hi}]; got "
                f"{bad[:5].tolist()}."
            )
        return np.unique(budgets)

    def _folds(self, X, n):
        if isinstance(self.cv, numbers.Integral) and not isinstance(self.cv, bool):
            cv = KFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        else:
            cv = check_cv(self.cv)
        folds = list(cv.split(np.zeros((n, 1))))
        if len(folds) < 2:
            raise ValueError(f"cv gave {len(folds)} split(s); the search needs at least 2 folds.")
        return folds

    # --------------------------------------------------------------------- fit

    def fit(self, X, y):
        """Cross-validate every candidate budget and choose one.

        Parameters
        ----------
        X : array-like of shape (n_queries, ...)
            Whatever ``estimator`` takes (features, or query texts for a
            pipeline starting with a featurizer).
        y : array-like of shape (n_queries, n_samples)
            Observed per-sample rewards (NaN for a missing sample); a 1-D
            ``y`` is one sample per query.

        Returns
        -------
        self : BudgetSearchCV

        Raises
        ------
        NoBudgetReachesTargetError
            When no candidate meets the objective; the message names the best
            reachable quality or spend, and ``curve_`` is set.
        """
        from skadapt.evaluation import bootstrap_interval, per_query_value

        self._validate_params()
        self._check_objective()
        if y is None:
            raise ValueError(
                "BudgetSearchCV requires y to be passed, but the target y is None: pass the "
                "(n_queries, n_samples) matrix of observed rewards."
            )
        X, y = indexable(X, y)
        R = np.asarray(y, dtype=np.float64) if not hasattr(y, "to_numpy") else y.to_numpy(dtype=np.float64)
        if R.ndim == 1:
            R = R.reshape(-1, 1)
        R, n_observed = check_reward_matrix(R, name="y")
        n = R.shape[0]
        if _num_samples(X) != n:
            raise ValueError(f"X has {_num_samples(X)} queries but y has {n} rows.")
        max_budget = R.shape[1] if self.max_budget is None else self.max_budget
        if max_budget > int(n_observed.min()):
            raise ValueError(
                f"max_budget={max_budget} but some queries of y have only {int(n_observed.min())} "
                "observed samples; exact scoring of best-of-k needs k samples. Lower max_budget."
            )
        if self.min_budget > max_budget:
            raise ValueError(f"min_budget={self.min_budget} exceeds max_budget={max_budget}.")
        self.max_budget_ = max_budget
        candidates = self._candidates(max_budget)
        observed = R[~np.isnan(R)]
        binary = bool(np.isin(observed, (0.0, 1.0)).all()) if self.binary is None else self.binary
        folds = self._folds(X, n)

        pred = self._cross_fit(X, R, folds, max_budget)
        self.oof_predictions_ = pred
        kind = self.kind_ = "success_prob" if pred.shape[1] == 1 else "marginal"
        chosen = np.empty((candidates.size, n), dtype=np.int64)
        for c, budget in enumerate(candidates):
            for train, test in folds:
                alloc = self._allocator(budget, kind, max_budget)
                if self.allocator == "greedy":
                    alloc.fit(pred[test])
                else:
                    # learnt on the other folds' held-out predictions, applied to this fold
                    alloc.fit(pred[train], R[train]) if self.allocator == "binned" else alloc.fit(pred[train])
                chosen[c, test] = np.asarray(alloc.transform(pred[test])).ravel()
        values = np.stack(
            [per_query_value(R, chosen[c], binary=binary, default=self.default) for c in range(candidates.size)]
        )
        low, high = bootstrap_interval(
            values, n_resamples=self.n_resamples, confidence=self.confidence,
            random_state=self.random_state,
        )
        curve = {
            "budget": candidates,
            "spend": chosen.mean(axis=1),
            "quality": values.mean(axis=1),
            "quality_low": np.atleast_1d(low),
            "quality_high": np.atleast_1d(high),
        }
        if self.allocator == "price":
            curve["price"] = np.array(
                [self._allocator(b, kind, max_budget).fit(pred).price_ for b in candidates]
            )
        if self.objective == "min_budget":
            meets = curve["quality"] >= self.target
        else:
            meets = curve["spend"] <= self.max_spend + 1e-9
        curve["meets_objective"] = meets
        self.cv_results_ = curve
        self.curve_ = pd.DataFrame(curve)
        self.best_index_ = self._choose(curve, meets)
        best = self.best_index_
        self.best_budget_ = float(candidates[best])
        self.best_spend_ = float(curve["spend"][best])
        self.best_score_ = float(curve["quality"][best])
        if self.allocator == "price":
            self.best_price_ = float(curve["price"][best])
        if self.refit:
            self.estimator_ = clone(self.estimator).fit(X, R)
            alloc = self._allocator(self.best_budget_, kind, max_budget)
            self.allocator_ = alloc.fit(pred, R) if self.allocator == "binned" else alloc.fit(pred)
            for name in ("n_features_in_", "feature_names_in_"):
                if hasattr(self.estimator_, name):
                    setattr(self, name, getattr(self.estimator_, name))
        return self

    def _cross_fit(self, X, R, folds, max_budget):
        pred = None
        for train, test in folds:
            probe = clone(self.estimator).fit(_safe_rows(X, train), R[train])
            out = np.asarray(probe.transform(_safe_rows(X, test)), dtype=np.float64)
            if out.ndim == 1:
                out = out.reshape(-1, 1)
            if pred is None:
                pred = np.empty((R.shape[0], out.shape[1]))
            pred[test] = out
        if pred.shape[1] > 1 and pred.shape[1] < max_budget:
            raise ValueError(
                f"the estimator's transform gives {pred.shape[1]} columns of marginal rewards; "
                f"max_budget={max_budget} needs that many (or one column of success probabilities)."
            )
        return pred

    def _allocator(self, budget, kind, max_budget):
        from skadapt.allocation import BinnedAllocator, GreedyAllocator

        common = dict(max_budget=max_budget, min_budget=self.min_budget, kind=kind)
        if self.allocator == "binned":
            # the curve reports the realized spend itself: no spend warning
            return BinnedAllocator(budget, n_bins=self.n_bins, spend_tolerance=None, **common)
        price = "fit" if self.allocator == "price" else None
        return GreedyAllocator(budget, price=price, **common)

    def _choose(self, curve, meets):
        spend, quality, budget = curve["spend"], curve["quality"], curve["budget"]
        if not meets.any():
            if self.objective == "min_budget":
                i = int(np.argmax(quality))
                raise NoBudgetReachesTargetError(
                    f"no candidate budget reaches target={self.target:g}: the best reachable "
                    f"quality is {quality[i]:.4g} (interval {curve['quality_low'][i]:.4g} to "
                    f"{curve['quality_high'][i]:.4g}) at budget={budget[i]:g}, spending "
                    f"{spend[i]:.4g} units per query. Lower target, raise max_budget or add "
                    "budgets; curve_ holds every candidate."
                )
            i = int(np.argmin(spend))
            raise NoBudgetReachesTargetError(
                f"no candidate budget spends at most max_spend={self.max_spend:g}: the smallest "
                f"spend is {spend[i]:.4g} units per query (budget={budget[i]:g}, quality "
                f"{quality[i]:.4g}). Raise max_spend or add smaller budgets; curve_ holds every "
                "candidate."
            )
        rows = np.flatnonzero(meets)
        if self.objective == "min_budget":
            order = np.lexsort((budget[rows], spend[rows]))  # smallest spend, then budget
        else:
            order = np.lexsort((budget[rows], spend[rows], -quality[rows]))
        return int(rows[order[0]])

    # --------------------------------------------------------------- predict

    def transform(self, X):
        """Budget of each new query at ``best_budget_``.

        Parameters
        ----------
        X : array-like of shape (n_queries, ...)
            What ``estimator`` takes. With ``allocator="greedy"`` the rows
            are one batch (budgets depend on the whole batch); with
            ``"price"`` or ``"binned"`` each query is decided alone.

        Returns
        -------
        budgets : ndarray of shape (n_queries, 1), int64
        """
        check_is_fitted(self, "allocator_")
        return np.asarray(self.allocator_.transform(self.estimator_.transform(X)))

    def predict(self, X):
        """Budget of each new query, as a 1-D array.

        Parameters
        ----------
        X : array-like of shape (n_queries, ...)

        Returns
        -------
        budgets : ndarray of shape (n_queries,), int64
        """
        return self.transform(X).ravel()

    def score(self, X, y):
        """Mean exact quality per query of the budgets ``predict`` gives.

        The quantity the search compares candidates by: pass@k (or the
        expected maximum) of each query at its budget, averaged.

        Parameters
        ----------
        X : array-like of shape (n_queries, ...)
        y : array-like of shape (n_queries, n_samples)
            Observed rewards; at least ``max_budget_`` samples per query.

        Returns
        -------
        score : float
        """
        from skadapt.evaluation import per_query_value

        R = np.asarray(y, dtype=np.float64)
        if R.ndim == 1:
            R = R.reshape(-1, 1)
        R, _ = check_reward_matrix(R, name="y")
        observed = R[~np.isnan(R)]
        binary = bool(np.isin(observed, (0.0, 1.0)).all()) if self.binary is None else self.binary
        return float(np.mean(per_query_value(R, self.predict(X), binary=binary, default=self.default)))

    def get_feature_names_out(self, input_features=None):
        """Output feature name: the one column of budgets.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names, only checked against ``feature_names_in_`` and
            ``n_features_in_`` (those of the probe; a ``ValueError`` when they differ).

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``["budget"]``.
        """
        check_is_fitted(self, "allocator_")
        _check_feature_names_in(self, input_features)
        return np.asarray(["budget"], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = []  # outputs integer budgets
        return tags
