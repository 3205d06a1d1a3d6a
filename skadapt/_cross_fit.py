"""Cross-fitted ``fit_transform`` for probes used as a Pipeline step.

:class:`CrossFitTransformMixin` gives a probe the ``fit_transform`` of
:class:`~sklearn.preprocessing.TargetEncoder`: it fits on all data and returns, for
each sample, the prediction of a model fitted on the other folds of ``cv``, so that
the next step of a Pipeline is fitted on predictions as noisy as those it will see on
new queries. That costs ``cv + 1`` fits, wasted when the next step's ``fit`` does not
learn from the values it is given (:class:`~skadapt.GreedyAllocator` only checks their
shape): the probe's ``cross_fit=False`` then makes ``fit_transform`` one fit followed
by in-sample predictions.

Which steps need out-of-fold input is declared by the steps themselves, in the
attribute ``_fit_needs_held_out`` (a class attribute, or a property when it depends on
the parameters); :func:`fit_needs_held_out` reads it, assuming True for any estimator
that does not say (the safe choice: cross-fitting is only ever slower).
:func:`skadapt.policy.make_policy` sets each probe's ``cross_fit`` from the step after
it.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import TransformerMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, check_cv
from sklearn.utils import check_random_state

from ._compat import _fit_context, _num_samples, _safe_indexing

__all__ = ["CrossFitTransformMixin", "fit_needs_held_out"]


def fit_needs_held_out(estimator) -> bool:
    """Whether ``estimator.fit`` learns from the values of ``X`` it is given.

    When it does (:class:`~skadapt.BinnedAllocator` fits its bins on them), a probe
    before it in a Pipeline must hand it out-of-fold predictions (``cross_fit=True``);
    when it does not (:class:`~skadapt.GreedyAllocator`), in-sample predictions give
    the same fitted step at a fraction of the cost. Read from the estimator's
    ``_fit_needs_held_out`` attribute; True for estimators that do not declare it,
    for ``None`` and ``"passthrough"`` (the probe's output is then the pipeline's),
    and for a Pipeline, whose first step is asked in turn.
    """
    if estimator is None or isinstance(estimator, str):
        return True
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:
        return fit_needs_held_out(steps[0][1])
    return bool(getattr(estimator, "_fit_needs_held_out", True))


def _indexable(data):
    # Lists, arrays, sparse matrices and pandas objects are indexed as they are (a
    # LoRA probe takes a list of strings); other array-likes become arrays.
    if data is None or isinstance(data, (list, np.ndarray)) or hasattr(data, "iloc"):
        return data
    if hasattr(data, "tocsr"):
        return data
    return np.asarray(data)


class CrossFitTransformMixin(TransformerMixin):
    """Cross-fitted ``fit_transform``, as in :class:`~sklearn.preprocessing.TargetEncoder`.

    ``fit_transform(X, y)`` fits the estimator on all data (so that ``transform`` uses
    that model afterwards) and returns, for every sample, the ``transform`` output of a
    clone fitted on the other folds of ``self.cv``. An integer ``cv`` (or None, 5) means
    shuffled :class:`~sklearn.model_selection.KFold` seeded from ``random_state``; any
    splitter or iterable of ``(train, test)`` pairs whose test folds partition the
    samples is accepted. When ``_cross_fit_groups(X, y)`` returns group ids (rows that
    are samples of one query), an integer ``cv`` splits the groups, so that no query has
    samples on both sides of a fold.

    With ``self.cross_fit`` False, ``fit_transform(X, y)`` is ``fit(X, y).transform(X)``:
    one fit, in-sample predictions, for a next step that only checks their shape.
    Estimators pickled before the ``cross_fit`` parameter existed unpickle with it True
    (what they did).
    """

    def __setstate__(self, state):
        if isinstance(state, dict) and "cv" in state:
            state.setdefault("cross_fit", True)
        super().__setstate__(state)

    def _cross_fit_groups(self, X, y):
        """Group id of each row (0..n_groups-1, first-occurrence order) or None."""
        return None

    def _cross_fit_splits(self, X, y):
        n_samples = _num_samples(X)
        cv = 5 if self.cv is None else self.cv
        if isinstance(cv, numbers.Integral):
            groups = self._cross_fit_groups(X, y)
            n_units = n_samples if groups is None else int(groups.max(initial=-1)) + 1
            if n_units < cv:
                unit = "samples" if groups is None else "distinct queries (groups of rows)"
                raise ValueError(
                    f"cv={cv} folds need at least {cv} {unit} for the cross-fitted "
                    f"fit_transform; got {n_units}."
                )
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            cv = KFold(n_splits=int(cv), shuffle=True, random_state=seed)
            if groups is not None:
                # KFold over the groups in first-occurrence order: without repeated
                # rows these are the same folds as KFold over the rows
                cv = [
                    (np.flatnonzero(np.isin(groups, train)), np.flatnonzero(np.isin(groups, test)))
                    for train, test in cv.split(np.arange(n_units))
                ]
        cv = check_cv(cv)
        n_splits = cv.get_n_splits(X, y)
        if n_samples < n_splits:
            raise ValueError(
                f"cv with {n_splits} folds needs at least {n_splits} samples for the "
                f"cross-fitted fit_transform; got n_samples={n_samples}."
            )
        splits = list(cv.split(X, y))
        counts = np.zeros(n_samples, dtype=int)
        for _, test in splits:
            counts[test] += 1
        if not (counts == 1).all():
            raise ValueError(
                "cv must partition the samples for the cross-fitted fit_transform: every "
                "sample has to be in exactly one test fold."
            )
        for train, _ in splits:
            if len(train) == 0:
                raise ValueError("cv produced an empty training fold; use fewer folds.")
        return splits

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit on all data; return out-of-fold predictions (cross-fitting over ``cv``).

        With ``cross_fit=False``: fit on all data and return its in-sample predictions
        (one fit instead of ``cv + 1``), for a next step whose ``fit`` does not learn
        from them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        y : array-like
            Targets, as in ``fit``.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to ``fit`` (the folds get their rows' weights); only for estimators
            whose ``fit`` takes it.

        Returns
        -------
        X_out : ndarray of shape (n_samples, n_outputs)
            For each sample, the prediction of a model that did not see it (with
            ``cross_fit=False``, of the model fitted on all data).
        """
        X, y = _indexable(X), _indexable(y)
        weights = {} if sample_weight is None else {"sample_weight": _indexable(sample_weight)}
        if not getattr(self, "cross_fit", True):
            return np.asarray(self.fit(X, y, **weights).transform(X))
        splits = self._cross_fit_splits(X, y)
        self.fit(X, y, **weights)
        out = None
        for train, test in splits:
            fold = clone(self)
            if "verbose" in fold.get_params(deep=False):
                fold.set_params(verbose=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fold.fit(_safe_indexing(X, train), _safe_indexing(y, train),
                         **{k: _safe_indexing(v, train) for k, v in weights.items()})
            pred = np.asarray(fold.transform(_safe_indexing(X, test)))
            if out is None:
                out = np.empty((_num_samples(X), pred.shape[1]), dtype=pred.dtype)
            out[test] = pred
        return out
