"""Calibrated marginal-reward curves: what held-out queries with this prediction got.

A probe's curve for a query (the plug-in ``lam (1 - lam)**(j - 1)`` or a learnt one) is
what the allocator trusts. When the probe is unsure, or when new queries differ from the
training ones, that trust is misplaced: the allocator gives nothing to queries the probe
wrongly calls hopeless. :class:`CalibratedCurves` replaces each curve by the *average
exact curve* (:func:`skadapt.targets.marginal_rewards`) of held-out training queries whose
prediction fell in the same bin: the expected marginal rewards of a query, given only the
bin of its prediction (issue 9, "calibrated curves"; the binned analogue of
:class:`~sklearn.calibration.CalibratedClassifierCV`).

The folds decide what the curves are calibrated *for*. With random folds they describe
queries like the training ones. With ``groups`` (task families, say) each held-out fold is
a set of groups the fold's probe never saw, so the curves describe queries of an *unseen*
group: where the probe's ranking does not transfer across groups, the bins' curves all
look alike and the allocation stays close to uniform; where it does, they keep their
spread. Averaging exact curves is also the right way to handle uncertainty (no plug-in of
a point estimate into a concave curve), and the greedy allocation stays exact because
the averages are non-increasing.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, TransformerMixin, clone
from sklearn.model_selection import GroupKFold, KFold, check_cv
from scipy import sparse
from sklearn.utils import check_random_state, get_tags

from ._compat import HasMethods, Interval, _num_samples, _safe_indexing, check_is_fitted
from ._cross_fit import _indexable
from ._versioning import VersionedPickleMixin
from ._validation import as_float_array

__all__ = ["CalibratedCurves"]


class CalibratedCurves(VersionedPickleMixin, MetaEstimatorMixin, TransformerMixin,
                       BaseEstimator):
    """Marginal-reward curves calibrated on held-out queries, in bins of a probe's prediction.

    ``fit`` cross-fits ``estimator`` over ``cv`` (over ``groups`` when given), sorts the
    held-out queries into ``n_bins`` quantile bins of their predicted first marginal
    reward (the success probability for 0/1 rewards), and stores each bin's average
    exact marginal-reward curve, computed from the queries' observed rewards ``y``.
    ``transform`` maps a new query's prediction to its bin's curve, ready for
    ``GreedyAllocator(kind="marginal")``.

    Parameters
    ----------
    estimator : estimator, default=None
        A probe whose ``transform`` returns success probabilities ``(n, 1)`` or
        marginal-reward curves (its first column is the bin key); default
        ``SuccessProbClassifier()``. It may be a Pipeline (a featurizer and a probe).
    cv : int, cross-validation generator or iterable, default=5
        Folds of the cross-fit. An integer means ``GroupKFold(cv)`` when ``fit``
        receives ``groups`` (curves for queries of groups never seen) and shuffled
        ``KFold(cv)`` otherwise (curves for queries like the training ones).
    n_bins : int, default=10
        Largest number of quantile bins of the held-out predictions; fewer remain when
        quantiles coincide. Fewer bins: smoother curves, less spread between queries.
    max_budget : int, default=None
        Length of the curves; default the number of samples per query in ``y``
        (exact curves need that many samples).
    ensemble : bool, default=True
        True: ``transform`` averages the bin curves given by every fold's estimator
        (each used with the bins it was calibrated with; no refit on all data). False:
        refit ``estimator`` on all data and look up its prediction's bin.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffled ``KFold`` of an integer ``cv`` without groups.

    Attributes
    ----------
    estimators_ : list of estimators
        The fold estimators (``ensemble=True``) or the one refitted on all data.
    bin_edges_ : ndarray of shape (n_bins_ + 1,)
        Quantile edges of the held-out first marginal rewards (outer edges infinite).
    bin_curves_ : ndarray of shape (n_bins_, max_budget_)
        Average exact marginal-reward curve of the held-out queries in each bin.
    bin_counts_ : ndarray of shape (n_bins_,)
        Held-out queries per bin.
    n_bins_ : int
    max_budget_ : int
    oof_key_ : ndarray of shape (n_queries,)
        Each training query's held-out first marginal reward.
    n_features_in_ : int
        Only when the estimator records it.

    See Also
    --------
    skadapt.BinnedAllocator : One budget per bin of predictions (the offline policy).
    skadapt.shift.shift_evaluation : Pass ``fit_groups`` to calibrate for unseen groups.

    Notes
    -----
    ``fit_transform`` returns each training query's curve from the fold that did not
    see it (out of fold, as :class:`~sklearn.preprocessing.TargetEncoder` does), so a
    next step that learns from its input gets held-out values; it therefore differs
    from ``fit(X, y).transform(X)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt import GreedyAllocator, SuccessProbClassifier
    >>> from skadapt.calibration import CalibratedCurves
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3))
    >>> lam = 1 / (1 + np.exp(-2 * X[:, 0]))
    >>> R = (rng.random((300, 8)) < lam[:, None]).astype(float)
    >>> groups = np.repeat(np.arange(6), 50)
    >>> curves = CalibratedCurves(SuccessProbClassifier(max_iter=50, random_state=0),
    ...                           cv=3, n_bins=5).fit(X, R, groups=groups)
    >>> curves.bin_curves_.shape
    (5, 8)
    >>> bool(np.all(np.diff(curves.bin_curves_[:, 0]) > 0))  # a ranking that transfers
    True
    >>> budgets = GreedyAllocator(budget=2, kind="marginal").fit_transform(curves.transform(X))
    >>> int(budgets.sum())
    600
    """

    _parameter_constraints = {
        "estimator": [None, HasMethods(["fit", "transform"])],
        "cv": ["cv_object"],
        "n_bins": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_budget": [None, Interval(numbers.Integral, 1, None, closed="left")],
        "ensemble": ["boolean"],
        "random_state": ["random_state"],
    }
    # fit cross-fits internally and fit_transform is out of fold: a step before it
    # needs no held-out input
    _fit_needs_held_out = False

    def __init__(self, estimator=None, *, cv=5, n_bins=10, max_budget=None, ensemble=True,
                 random_state=None):
        self.estimator = estimator
        self.cv = cv
        self.n_bins = n_bins
        self.max_budget = max_budget
        self.ensemble = ensemble
        self.random_state = random_state

    def _estimator(self):
        if self.estimator is None:
            from .probes import SuccessProbClassifier

            return SuccessProbClassifier()
        return self.estimator

    def _exact_curves(self, y, n):
        y = as_float_array(y, "y")
        if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            lam = y.reshape(-1)
            if len(lam) != n:
                raise ValueError(f"y has {len(lam)} rows; X has {n} queries.")
            if np.any((lam < 0) | (lam > 1)) or not np.all(np.isfinite(lam)):
                raise ValueError("y as one success probability per query must lie in [0, 1].")
            m = 1 if self.max_budget is None else int(self.max_budget)
            j = np.arange(m)
            # the exact expected curve of a query whose success probability is lam
            return lam[:, None] * (1.0 - lam[:, None]) ** j
        if y.ndim != 2:
            raise ValueError(f"y must be an (n_queries, n_samples) reward matrix or one "
                             f"success probability per query; got shape {y.shape}.")
        if y.shape[0] != n:
            raise ValueError(f"y has {y.shape[0]} rows; X has {n} queries.")
        m = y.shape[1] if self.max_budget is None else int(self.max_budget)
        if m > y.shape[1]:
            raise ValueError(f"max_budget={m} needs at least {m} samples per query; y has "
                             f"{y.shape[1]}.")
        from .targets import marginal_rewards

        return marginal_rewards(y, m)

    def _splits(self, X, groups):
        cv = 5 if self.cv is None else self.cv
        n = _num_samples(X)
        if isinstance(cv, numbers.Integral):
            if groups is not None:
                n_groups = len(np.unique(groups))
                if n_groups < cv:
                    raise ValueError(f"cv={cv} folds over groups need at least {cv} groups; "
                                     f"got {n_groups}.")
                cv = GroupKFold(n_splits=int(cv))
            else:
                if n < cv:
                    raise ValueError(f"cv={cv} folds need at least {cv} queries; got n_samples={n}.")
                seed = int(check_random_state(self.random_state).randint(2**31 - 1))
                cv = KFold(n_splits=int(cv), shuffle=True, random_state=seed)
        splits = list(check_cv(cv).split(X, None, groups))
        counts = np.zeros(n, dtype=int)
        for train, test in splits:
            counts[test] += 1
            if len(train) == 0:
                raise ValueError("cv produced an empty training fold; use fewer folds.")
        if not (counts == 1).all():
            raise ValueError("cv must put every query in exactly one test fold.")
        return splits

    @staticmethod
    def _key(estimator, X):
        out = np.asarray(estimator.transform(X), dtype=float)
        if out.ndim == 1:
            out = out[:, None]
        if out.ndim != 2 or out.shape[1] < 1:
            raise ValueError(f"the estimator's transform must return an (n, k) array; got "
                             f"shape {out.shape}.")
        return out[:, 0]

    def _bins(self, key):
        return np.clip(np.searchsorted(self.bin_edges_, key, side="right") - 1,
                       0, self.n_bins_ - 1)

    def fit(self, X, y, groups=None, sample_weight=None):
        """Cross-fit the estimator, bin the held-out predictions, average exact curves.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features) or list of str
            What ``estimator`` reads.
        y : array-like of shape (n_queries, n_samples) or (n_queries,)
            Observed rewards of each query's samples (0/1 for success; any reward
            works, the curves are exact best-of-k differences), or one success
            probability per query (then the curves are ``lam (1 - lam)**(j - 1)``).
        groups : array-like of shape (n_queries,), default=None
            Group of each query (task family): an integer ``cv`` then holds out whole
            groups, and the curves describe queries of unseen groups.
        sample_weight : array-like of shape (n_queries,), default=None
            Passed to the estimator's ``fit`` and used to weight the bins' averages.

        Returns
        -------
        self : CalibratedCurves
        """
        self._validate_params()
        if sparse.issparse(X) and not get_tags(self).input_tags.sparse:
            raise TypeError(
                f"sparse input is not supported by {type(self._estimator()).__name__}; "
                "pass a dense array (X.toarray()).")
        X = _indexable(X)
        n = _num_samples(X)
        curves = self._exact_curves(y, n)
        y = _indexable(y)
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (n,):
                raise ValueError(f"groups must have shape ({n},); got {groups.shape}.")
        weights = None
        if sample_weight is not None:
            weights = as_float_array(sample_weight, "sample_weight")
            if weights.shape != (n,) or np.any(weights < 0) or not np.all(np.isfinite(weights)):
                raise ValueError(f"sample_weight must be {n} finite non-negative numbers; got "
                                 f"shape {weights.shape}.")
        estimator = self._estimator()
        key = np.empty(n)
        fold_estimators = []
        for train, test in self._splits(X, groups):
            params = {} if weights is None else {"sample_weight": weights[train]}
            fold = clone(estimator).fit(_safe_indexing(X, train), _safe_indexing(y, train),
                                        **params)
            key[test] = self._key(fold, _safe_indexing(X, test))
            fold_estimators.append(fold)
        w = np.ones(n) if weights is None else weights
        edges = np.unique(np.quantile(key, np.linspace(0, 1, self.n_bins + 1)))
        edges[0], edges[-1] = -np.inf, np.inf
        if len(edges) < 2:
            edges = np.array([-np.inf, np.inf])
        self.bin_edges_ = edges
        self.n_bins_ = len(edges) - 1
        bins = self._bins(key)
        table = np.zeros((self.n_bins_, curves.shape[1]))
        counts = np.bincount(bins, minlength=self.n_bins_)
        for b in range(self.n_bins_):
            rows = bins == b
            total = w[rows].sum()
            table[b] = (w[rows, None] * curves[rows]).sum(0) / total if total > 0 \
                else np.average(curves, axis=0, weights=w if w.sum() > 0 else None)
        # from the second unit on, an average of concave best-of-k curves is
        # non-increasing; enforce it against rounding so the greedy stays exact
        if table.shape[1] > 1:
            table[:, 1:] = np.minimum.accumulate(table[:, 1:], axis=1)
        self.bin_curves_ = table
        self.bin_counts_ = counts
        self.max_budget_ = table.shape[1]
        self.oof_key_ = key
        self._oof_curves = table[bins]
        if self.ensemble:
            self.estimators_ = fold_estimators
        else:
            params = {} if weights is None else {"sample_weight": weights}
            self.estimators_ = [clone(estimator).fit(X, y, **params)]
        if hasattr(self.estimators_[0], "n_features_in_"):
            self.n_features_in_ = self.estimators_[0].n_features_in_
        if hasattr(self.estimators_[0], "feature_names_in_"):
            self.feature_names_in_ = self.estimators_[0].feature_names_in_
        return self

    def transform(self, X):
        """Each query's calibrated marginal-reward curve.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features) or list of str
            What ``estimator`` reads.

        Returns
        -------
        curves : ndarray of shape (n_queries, max_budget_)
            The bin curve of the query's prediction (averaged over the fold
            estimators with ``ensemble=True``).
        """
        check_is_fitted(self, "bin_curves_")
        X = _indexable(X)
        out = np.zeros((_num_samples(X), self.max_budget_))
        for est in self.estimators_:
            out += self.bin_curves_[self._bins(self._key(est, X))]
        return out / len(self.estimators_)

    def fit_transform(self, X, y, groups=None, sample_weight=None):
        """Fit, and return each training query's curve from the fold that did not see it.

        Parameters
        ----------
        X, y, groups, sample_weight
            As in :meth:`fit`.

        Returns
        -------
        curves : ndarray of shape (n_queries, max_budget_)
            Out-of-fold calibrated curves.
        """
        self.fit(X, y, groups=groups, sample_weight=sample_weight)
        return self._oof_curves.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the estimator reads X: it decides whether sparse input is accepted
        tags.input_tags.sparse = get_tags(self._estimator()).input_tags.sparse
        return tags

    def get_feature_names_out(self, input_features=None):
        """Names of the curve's columns: ``marginal_reward_1`` ... ``marginal_reward_<max_budget_>``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Checked against ``feature_names_in_`` when the estimator recorded names.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self, "bin_curves_")
        if input_features is not None and hasattr(self, "feature_names_in_"):
            if list(input_features) != list(self.feature_names_in_):
                raise ValueError("input_features is not equal to feature_names_in_.")
        return np.asarray([f"marginal_reward_{j + 1}" for j in range(self.max_budget_)],
                          dtype=object)
