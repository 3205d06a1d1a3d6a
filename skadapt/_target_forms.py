"""The three forms of a success target, reduced to one row per query.

:class:`~skadapt.SuccessProbClassifier` learns the success probability ``lam`` of a
query from its observed samples (Eq. 7). scikit-learn users hold those samples in one
of three forms, and each reduces to the same per-query quantities: the number of
successes ``k``, the number of samples ``m`` and a query weight ``w``.

(a) ``y`` of shape (n, m): the outcome matrix, one row per query, NaN = missing sample.
    ``k`` and ``m`` are counted from the observed outcomes; ``w`` is ``sample_weight``.
(b) ``y`` of shape (n,): success rates, with the number of samples behind each rate as
    ``sample_weight``: ``m = sample_weight``, ``k = y * m``, ``w = 1``.
(c) ``y`` of shape (N,): one 0/1 label per sample, the rows of ``X`` repeated for each
    sample of a query. Identical rows of ``X`` are one query: ``k`` is the (weighted)
    number of successes, ``m`` the (weighted) number of samples, ``w = 1``.

(b) and (c) are one code path: a 1-D ``y`` is grouped by identical rows of ``X``
(without repeated rows, each group is one row). For the soft-label cross-entropy of
Eq. 7 this grouping loses nothing: the loss is linear in the label, so a query's
samples summed equal its ``m`` times the cross-entropy at its rate ``k / m``. It also
keeps one query's samples on one side of a validation split and out of one another's
nearest neighbours. Groups keep the order of their first row, so the three forms of the
same data in the same query order give the same training set, row for row; rows and
queries of weight 0 are dropped, as if absent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._heads import success_prob_targets

__all__ = ["NoClassLabelsError", "QueryTargets", "group_rows", "success_targets"]

# Largest number of samples per query for which a 1-D y's stored outcomes are rebuilt
# as an outcome matrix (the neighbours' exact curves); beyond, the rate is stored.
_MAX_REBUILT_SAMPLES = 4096


@dataclass
class QueryTargets:
    """Per-query success targets (see the module docstring).

    Attributes
    ----------
    rows : ndarray of int, shape (n_queries,)
        Row of ``X`` holding each query's features (its first row).
    successes, samples : ndarray of float, shape (n_queries,)
        ``k`` and ``m``.
    weight : ndarray of float, shape (n_queries,)
        ``w``: how much the query's samples count.
    rate : ndarray of float, shape (n_queries,)
        ``k / m`` (for form (a) exactly :func:`skadapt.targets.success_rate`, for an
        ungrouped 1-D ``y`` exactly ``y``).
    form : {"outcomes", "rates", "labels"}
        (a), (b) or (c); a 1-D ``y`` of 0/1 values only is ``"labels"``.
    outcomes : ndarray of shape (n_queries, m_max) or (n_queries, 1)
        Each query's outcomes (0/1, NaN padding) when the counts are whole numbers,
        else its rate as one column.
    """

    rows: np.ndarray
    successes: np.ndarray
    samples: np.ndarray
    weight: np.ndarray
    rate: np.ndarray
    form: str
    outcomes: np.ndarray

    def loss_weight(self):
        """Per-query weight of the cross-entropy of Eq. 7 (``w * m``), None if constant.

        Weighting a query by its number of samples makes the loss the mean
        cross-entropy per observed sample, the likelihood of the samples; with the same
        number of samples everywhere it is the unweighted loss of the paper.
        """
        return _none_if_constant(self.weight * self.samples)

    def query_weight(self):
        """``w`` (for the beta-binomial likelihood, which counts ``m`` itself), or None."""
        return _none_if_constant(self.weight)

    def mean_rate(self):
        """Training success rate of all samples (weighted): the "Avg." predictor."""
        n = self.weight * self.samples
        return float(np.dot(n, self.rate) / n.sum())


def _none_if_constant(values):
    values = np.asarray(values, dtype=np.float64)
    return None if values.size == 0 or np.all(values == values[0]) else values


def group_rows(X):
    """Group identical rows of ``X``, in the order of their first occurrence.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Numeric features.

    Returns
    -------
    first : ndarray of int, shape (n_groups,)
        Index of the first row of each group, increasing.
    inverse : ndarray of int, shape (n_rows,)
        Group of each row.
    """
    X = np.ascontiguousarray(X)
    n = X.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    keys = X.reshape(n, -1).view(np.dtype((np.void, X.dtype.itemsize * max(X[0].size, 1))))
    _, first, inverse = np.unique(keys.ravel(), return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return first[order], rank[inverse.ravel()]


def _rebuilt_outcomes(successes, samples, rate):
    """0/1 outcome rows with ``k`` ones of ``m`` (NaN padding) when counts are whole.

    The exact marginal-reward curve of binary outcomes depends on ``k`` and ``m`` only
    (:func:`skadapt.targets.marginal_rewards`), so the rebuilt rows give the same
    curves as the original samples in any order.
    """
    k, m = np.rint(successes), np.rint(samples)
    whole = (np.allclose(k, successes, rtol=0, atol=1e-6)
             and np.allclose(m, samples, rtol=0, atol=1e-6) and m.min() >= 1)
    if not whole or m.max() > _MAX_REBUILT_SAMPLES:
        return rate[:, None].copy()
    width = int(m.max())
    j = np.arange(width)[None, :]
    out = np.where(j < k[:, None], 1.0, 0.0)
    out[j >= m[:, None]] = np.nan
    return out


def success_targets(X, y, sample_weight=None):
    """Reduce ``y`` in any of the three forms to per-query targets.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Validated numeric features (used to group the rows of a 1-D ``y``).
    y : ndarray of shape (n_rows,) or (n_rows, m)
        Rates, labels or the outcome matrix.
    sample_weight : ndarray of shape (n_rows,) or None
        Validated, non-negative.

    Returns
    -------
    targets : QueryTargets
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if y.ndim == 2:
        rate = success_prob_targets(y)  # validates the matrix, with its messages
        keep = np.flatnonzero(sw > 0)
        _check_kept(keep)
        observed = ~np.isnan(y[keep])
        return QueryTargets(
            rows=keep,
            successes=np.where(observed, y[keep], 0.0).sum(axis=1),
            samples=observed.sum(axis=1).astype(np.float64),
            weight=sw[keep],
            rate=rate[keep],
            form="outcomes",
            outcomes=y[keep],
        )
    values = success_prob_targets(y)  # 1-D checks and messages
    form = "labels" if np.all((values == 0) | (values == 1)) else "rates"
    keep = np.flatnonzero(sw > 0)
    _check_kept(keep)
    first, group = group_rows(X[keep])
    n_groups = first.size
    samples = np.bincount(group, weights=sw[keep], minlength=n_groups)
    successes = np.bincount(group, weights=sw[keep] * values[keep], minlength=n_groups)
    sizes = np.bincount(group, minlength=n_groups)
    # an ungrouped row keeps its rate exactly (k / m could round it)
    rate = np.where(sizes == 1, values[keep][first], successes / samples)
    return QueryTargets(
        rows=keep[first],
        successes=successes,
        samples=samples,
        weight=np.ones(n_groups),
        rate=rate,
        form=form,
        outcomes=_rebuilt_outcomes(successes, samples, rate),
    )


_FORM_NAMES = {
    "outcomes": "an (n, m) outcome matrix",
    "rates": "success rates (soft labels)",
}


class NoClassLabelsError(ValueError, AttributeError):
    """A success-probability probe fitted on soft labels has no class labels.

    Raised when ``classes_`` of a :class:`~skadapt.SuccessProbClassifier` fitted on an
    (n, m) outcome matrix or on success rates is read, which is the first thing
    scikit-learn's classifier scorers (``"neg_log_loss"``, ``"roc_auc"``,
    ``"neg_brier_score"``, ``"accuracy"``) and ``cross_val_predict(method="predict_proba")``
    do: they compare predictions with ``y`` as class labels, which such a ``y`` is not.
    A ``ValueError`` (the caller's data does not fit the request) and an
    ``AttributeError`` (``hasattr(probe, "classes_")`` is False), like
    :class:`~sklearn.exceptions.NotFittedError`.

    Parameters
    ----------
    form : str
        The target form the probe was fitted on (``"outcomes"``, ``"rates"``, ...),
        named in the message.
    """

    def __init__(self, form):
        super().__init__(
            f"This SuccessProbClassifier was fitted on {_FORM_NAMES.get(form, form)}, not on "
            "class labels, so it has no classes_: scikit-learn's classifier scorers "
            "('neg_log_loss', 'roc_auc', 'neg_brier_score', 'accuracy', ...) and "
            "cross_val_predict(method='predict_proba') would compare its probabilities with "
            "that y as if it held labels. Either fit and score on one 0/1 label per sample "
            "(the rows of X repeated for each sample of a query, e.g. "
            "np.repeat(X, m, axis=0) and R.ravel()), or score with the estimator's default "
            "score (scoring=None) or a skadapt.scoring scorer, e.g. "
            "skadapt.scoring.get_scorer('neg_soft_log_loss'). cross_val_score and "
            "GridSearchCV turn this error into a NaN score with a warning unless "
            "error_score='raise'."
        )


def _check_kept(keep):
    if keep.size == 0:
        raise ValueError(
            "Every sample weight is zero: there is nothing to fit (a weight of 0 removes "
            "the sample)."
        )
