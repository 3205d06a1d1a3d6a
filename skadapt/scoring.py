"""Scorers for difficulty probes and allocators, on skadapt's targets.

A probe's ``y`` is rarely a vector of class labels: it is an (n, m) outcome matrix,
success rates with their sample counts, or one 0/1 label per sample with the rows of
``X`` repeated (the three forms :class:`~skadapt.SuccessProbClassifier` accepts). The
metrics here read every form, weigh each query by its number of samples, and so give
the same value for the same data in any form (in the per-sample form,
:func:`soft_log_loss` *is* scikit-learn's ``log_loss`` and :func:`soft_brier_score`
its ``brier_score_loss``).

Metrics (``y_true`` in any form, ``y_prob`` the success probability)
    :func:`soft_log_loss` (Eq. 7), :func:`soft_brier_score`, :func:`calibration_error`
    and :func:`loss_skill`, the paper's normalised loss ``(Avg - ours) / (Avg - Opt)``
    (Table 1).

Scorers (``scorer(estimator, X, y, sample_weight=None)``, greater is better)
    :func:`make_probe_scorer` builds one; :func:`get_scorer` returns one by name
    (:func:`get_scorer_names`), and falls back on scikit-learn's names.
    :func:`make_allocation_scorer` scores the budgets a pipeline ending in an allocator
    gives (exact expected success or reward, minus a price per sample).

scikit-learn has no registry for third-party scorer names, and its ``scoring=``
parameters accept only the names it knew when it was imported, so pass the scorer
*object*: ``cross_val_score(probe, X, R, scoring=get_scorer("neg_soft_log_loss"))``.
Every probe scorer takes ``sample_weight`` and routes it with metadata routing
(``scorer.set_score_request(sample_weight=True)``).
"""

from __future__ import annotations

import copy
import numbers

import numpy as np
from scipy.special import xlogy
from sklearn.base import is_regressor
from sklearn.metrics import get_scorer as _sklearn_get_scorer
from sklearn.metrics import get_scorer_names as _sklearn_get_scorer_names
from sklearn.metrics import r2_score
from sklearn.utils.metadata_routing import MetadataRequest

from ._target_forms import NoClassLabelsError, group_rows
from ._validation import as_float_array, check_array_memory, row_list
from ._heads import marginal_reward_targets, success_prob_targets
from .metrics import make_allocation_scorer

__all__ = [
    "NoClassLabelsError",
    "calibration_error",
    "get_scorer",
    "get_scorer_names",
    "loss_skill",
    "make_allocation_scorer",
    "make_probe_scorer",
    "soft_brier_score",
    "soft_log_loss",
]


# ---------------------------------------------------------------------- validation
def _rates_and_weights(y_true, sample_weight):
    """Success rate and weight (observed samples x sample_weight) of each row of y."""
    y = as_float_array(y_true, "y_true")  # complex or strings: an error naming y_true
    if y.ndim not in (1, 2):
        raise ValueError(
            "y_true must be an (n, m) outcome matrix (NaN = missing sample), success rates "
            f"or one 0/1 label per sample; got an array of shape {y.shape}."
        )
    rate = success_prob_targets(y)  # the fit's checks and messages
    samples = (~np.isnan(y)).sum(axis=1).astype(np.float64) if y.ndim == 2 else np.ones(len(y))
    if sample_weight is None:
        weight = samples
    else:
        weight = samples * _sample_weight(sample_weight, len(y))
    if not weight.sum() > 0:
        raise ValueError("The total sample weight is zero: there is nothing to score.")
    return rate, weight


def _sample_weight(sample_weight, n):
    """``sample_weight`` as float64 of shape (n,), finite and non-negative."""
    sw = as_float_array(sample_weight, "sample_weight")
    if sw.shape != (n,):
        raise ValueError(
            f"sample_weight must have shape ({n},), one weight per row of y; got {sw.shape}."
        )
    if not np.isfinite(sw).all() or (sw < 0).any():
        raise ValueError("sample_weight must be finite and non-negative.")
    return sw


def _finite(values, name):
    if not np.isfinite(values).all():
        rows = np.flatnonzero(~np.isfinite(values).reshape(len(values), -1).all(axis=1))
        raise ValueError(f"{name} contains NaN or infinite values in row(s) {row_list(rows)}.")


def _success_prob(y_prob, n):
    p = as_float_array(y_prob, "y_prob")
    if p.ndim == 2 and p.shape[1] in (1, 2):
        p = p[:, -1]  # predict_proba's success column, or transform's one column
    if p.shape != (n,):
        raise ValueError(
            f"y_prob must hold one success probability per row of y_true ({n} rows), or be "
            f"predict_proba's (n, 2) output; got shape {np.shape(y_prob)}."
        )
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("y_prob must hold probabilities in [0, 1].")
    return p


def _cross_entropy(rate, p):
    # Eq. 7 per query, with the probabilities clipped as scikit-learn's log_loss does
    eps = np.finfo(np.float64).eps
    p = np.clip(p, eps, 1 - eps)
    return -(xlogy(rate, p) + xlogy(1 - rate, 1 - p))


def _binary_entropy(rate):
    return -(xlogy(rate, rate) + xlogy(1 - rate, 1 - rate))


# ------------------------------------------------------------------------- metrics
def soft_log_loss(y_true, y_prob, *, sample_weight=None):
    """Cross-entropy of predicted success probabilities with soft labels (Eq. 7).

    ``sum_i w_i [-lam_i log p_i - (1 - lam_i) log(1 - p_i)] / sum_i w_i`` with
    ``lam_i`` the query's success rate and ``w_i`` its number of observed samples
    times its sample weight: the mean log-loss per observed sample. With one 0/1 label
    per row it is :func:`sklearn.metrics.log_loss`; with the same number of samples
    per query it is the unweighted mean of Eq. 7 over queries (the "Ours" column of
    the paper's Table 1). Probabilities are clipped to ``[eps, 1 - eps]``.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, m)
        Outcome matrix (0/1, NaN = missing sample), success rates or 0/1 labels.
    y_prob : array-like of shape (n,) or (n, 2)
        Predicted success probability (or ``predict_proba`` output).
    sample_weight : array-like of shape (n,), default=None
        Weight of each row; with success rates, pass the number of samples behind
        each rate.

    Returns
    -------
    loss : float
        Lower is better; the mean binary entropy of the rates is the floor.

    See Also
    --------
    loss_skill : The same loss between a constant predictor and the oracle.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.scoring import soft_log_loss
    >>> R = np.array([[1, 1, 0, 1], [0, 0, 0, 1]])        # two queries, 4 samples each
    >>> p = np.array([0.75, 0.25])
    >>> round(soft_log_loss(R, p), 4)
    0.5623
    >>> labels = R.ravel()                                  # one label per sample
    >>> round(soft_log_loss(labels, np.repeat(p, 4)), 4)
    0.5623
    >>> round(soft_log_loss([0.75, 0.25], p, sample_weight=[4, 4]), 4)
    0.5623
    """
    rate, weight = _rates_and_weights(y_true, sample_weight)
    p = _success_prob(y_prob, len(rate))
    return float(np.average(_cross_entropy(rate, p), weights=weight))


def soft_brier_score(y_true, y_prob, *, sample_weight=None):
    """Mean squared error of the predicted success probability per observed sample.

    ``sum_i w_i [lam_i (1 - p_i)^2 + (1 - lam_i) p_i^2] / sum_i w_i`` (``lam_i``,
    ``w_i`` as in :func:`soft_log_loss`): the Brier score of the samples, which is
    :func:`sklearn.metrics.brier_score_loss` with one 0/1 label per row. It equals the
    mean of ``(p_i - lam_i)^2`` plus the mean of ``lam_i (1 - lam_i)``, a floor no
    predictor goes below.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, m)
        Outcome matrix, success rates or 0/1 labels.
    y_prob : array-like of shape (n,) or (n, 2)
        Predicted success probability (or ``predict_proba`` output).
    sample_weight : array-like of shape (n,), default=None
        Weight of each row.

    Returns
    -------
    brier : float
        Lower is better.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.scoring import soft_brier_score
    >>> R = np.array([[1, 1, 0, 1], [0, 0, 0, 1]])
    >>> soft_brier_score(R, [0.75, 0.25])
    0.1875
    """
    rate, weight = _rates_and_weights(y_true, sample_weight)
    p = _success_prob(y_prob, len(rate))
    return float(np.average(rate * (1 - p) ** 2 + (1 - rate) * p**2, weights=weight))


def calibration_error(y_true, y_prob, *, sample_weight=None, n_bins=10, strategy="uniform"):
    """Expected calibration error of predicted success probabilities.

    The samples are binned by their predicted probability; the error is the
    sample-weighted mean over bins of ``|mean predicted - observed success rate|``
    (each query counts its number of observed samples, as in :func:`soft_log_loss`).
    0 for a calibrated predictor (in the limit of many samples); the constant
    prediction of the overall success rate also scores 0, so read it next to a loss.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, m)
        Outcome matrix, success rates or 0/1 labels.
    y_prob : array-like of shape (n,) or (n, 2)
        Predicted success probability (or ``predict_proba`` output).
    sample_weight : array-like of shape (n,), default=None
        Weight of each row.
    n_bins : int, default=10
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins on [0, 1], or bins holding equal sample weight (as in
        :func:`sklearn.calibration.calibration_curve`).

    Returns
    -------
    error : float
        In [0, 1]; lower is better.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.scoring import calibration_error
    >>> R = np.array([[1, 1, 0, 1], [0, 0, 0, 1]])
    >>> calibration_error(R, [0.75, 0.25])
    0.0
    >>> round(calibration_error(R, [0.95, 0.45]), 6)
    0.2
    """
    if not isinstance(n_bins, numbers.Integral) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}.")
    if strategy not in ("uniform", "quantile"):
        raise ValueError(f"strategy must be 'uniform' or 'quantile'; got {strategy!r}.")
    # the bin edges and counts have n_bins + 1 entries: numpy's "Maximum allowed size
    # exceeded" for 10**20 would name nothing
    check_array_memory((n_bins + 1,), name="n_bins", value=n_bins)
    rate, weight = _rates_and_weights(y_true, sample_weight)
    p = _success_prob(y_prob, len(rate))
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        order = np.argsort(p, kind="stable")
        cumulative = np.cumsum(weight[order]) / weight.sum()
        inner = np.interp(np.arange(1, n_bins) / n_bins, cumulative, p[order])
        edges = np.r_[0.0, inner, 1.0]
    bins = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, n_bins - 1)
    total = np.bincount(bins, weights=weight, minlength=n_bins)
    predicted = np.bincount(bins, weights=weight * p, minlength=n_bins)
    observed = np.bincount(bins, weights=weight * rate, minlength=n_bins)
    return float(np.abs(predicted - observed).sum() / total.sum())


def loss_skill(y_true, y_pred, *, baseline, loss="log_loss", groups=None, sample_weight=None):
    """The paper's normalised loss: ``(Avg - ours) / (Avg - Opt)``.

    How much of the gap between the constant predictor (Avg.) and the oracle (Opt.*)
    a probe closes (Table 1 of the paper; a skill score in forecasting terms): 1 for
    the oracle, 0 for the constant ``baseline``, negative when worse than it.

    Parameters
    ----------
    y_true : array-like
        ``loss="log_loss"``: outcome matrix, success rates or 0/1 labels (as in
        :func:`soft_log_loss`). ``loss="squared_error"``: the (n, B) marginal rewards.
    y_pred : array-like
        Predicted success probabilities, or marginal rewards of shape (n, B).
    baseline : float or array-like of shape (B,)
        The constant prediction Avg.: the success rate (or marginal-reward curve) of
        the *training* data, e.g. ``mean_success_rate_`` of a fitted
        :class:`~skadapt.SuccessProbClassifier`. Taking it from the scored data
        instead gives the paper's in-hindsight baseline (slightly optimistic).
    loss : {"log_loss", "squared_error"}, default="log_loss"
        :func:`soft_log_loss` (Eq. 7; Opt. is the mean binary entropy of the true
        success rates) or the squared error of Eq. 6 summed over budgets (Opt. = 0).
    groups : array-like of shape (n,), default=None
        Query of each row, for one 0/1 label per sample: Opt. then uses each query's
        success rate rather than each sample's 0/1 label (the losses of the probe and
        of Avg. do not change). None: every row is one query.
    sample_weight : array-like of shape (n,), default=None
        Weight of each row.

    Returns
    -------
    skill : float
        At most 1; greater is better.

    Raises
    ------
    ValueError
        When Avg. equals Opt. on this data (every query has the baseline's success
        rate, or the same marginal rewards): the ratio is undefined.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.scoring import loss_skill
    >>> R = np.array([[1, 1, 0, 1], [0, 0, 0, 1]])
    >>> loss_skill(R, [0.75, 0.25], baseline=0.5)           # the oracle
    1.0
    >>> loss_skill(R, [0.5, 0.5], baseline=0.5)             # the constant
    0.0
    >>> round(loss_skill(R.ravel(), np.repeat([0.6, 0.4], 4), baseline=0.5,
    ...                  groups=np.repeat([0, 1], 4)), 4)
    0.6189
    """
    if loss == "squared_error":
        y = as_float_array(y_true, "y_true")
        pred = as_float_array(y_pred, "y_pred")
        y = y[:, None] if y.ndim == 1 else y
        pred = pred[:, None] if pred.ndim == 1 else pred
        if y.ndim != 2 or pred.shape != y.shape:
            raise ValueError(
                f"y_true and y_pred must both have shape (n, B); got {y.shape} and {pred.shape}."
            )
        _finite(y, "y_true")  # NaN would make the skill NaN, or "undefined" for a wrong reason
        _finite(pred, "y_pred")
        base = as_float_array(baseline, "baseline")
        if base.shape not in ((), (y.shape[1],), (1, y.shape[1])):
            raise ValueError(
                f"baseline must be one marginal-reward curve of shape ({y.shape[1]},) (or a "
                f"number) for y_true of shape {y.shape}; got shape {base.shape}."
            )
        if not np.isfinite(base).all():
            raise ValueError("baseline contains NaN or infinite values.")
        base = np.broadcast_to(base.reshape(-1) if base.ndim else base, y.shape)
        weight = np.ones(len(y)) if sample_weight is None else _sample_weight(sample_weight, len(y))
        if not weight.sum() > 0:
            raise ValueError("The total sample weight is zero: there is nothing to score.")
        ours = np.average(((pred - y) ** 2).sum(axis=1), weights=weight)
        avg = np.average(((base - y) ** 2).sum(axis=1), weights=weight)
        opt = 0.0
    elif loss == "log_loss":
        rate, weight = _rates_and_weights(y_true, sample_weight)
        p = _success_prob(y_pred, len(rate))
        base = as_float_array(baseline, "baseline")
        if base.size != 1:
            raise ValueError(
                f"baseline must be one success rate (a number) with loss='log_loss'; got "
                f"shape {base.shape}."
            )
        base = float(base.reshape(-1)[0])
        if not 0 <= base <= 1:
            raise ValueError(f"baseline must be a success rate in [0, 1]; got {base}.")
        ours = np.average(_cross_entropy(rate, p), weights=weight)
        avg = np.average(_cross_entropy(rate, np.full_like(p, base)), weights=weight)
        if groups is not None:
            _, ids = np.unique(np.asarray(groups), return_inverse=True)
            ids = ids.ravel()
            if ids.shape != rate.shape:
                raise ValueError("groups must have one entry per row of y_true.")
            total = np.bincount(ids, weights=weight)
            group_rate = np.bincount(ids, weights=weight * rate) / np.maximum(total, 1e-300)
            opt = np.average(_binary_entropy(group_rate), weights=total)
        else:
            opt = np.average(_binary_entropy(rate), weights=weight)
    else:
        raise ValueError(f"loss must be 'log_loss' or 'squared_error'; got {loss!r}.")
    gap = avg - opt
    if not gap > 1e-12 * max(1.0, abs(avg)):
        raise ValueError(
            "loss_skill is undefined on this data: the constant baseline is already as good "
            f"as the oracle (Avg. loss {avg:.6g}, Opt. loss {opt:.6g}); every query has the "
            "baseline's target. Score more, or more varied, queries."
        )
    return float((avg - ours) / gap)


# ------------------------------------------------------------------------- scorers
def _n_rows(values):
    """Number of rows of an array-like (None when it has none, e.g. a scalar)."""
    shape = getattr(values, "shape", None)
    if shape is not None:
        return int(shape[0]) if len(shape) else None
    try:
        return len(values)
    except TypeError:
        return None


def _final_estimator(estimator):
    """The estimator that predicts: through fitted searches and pipelines."""
    for _ in range(100):
        if hasattr(estimator, "best_estimator_"):
            estimator = estimator.best_estimator_
        elif hasattr(estimator, "steps") and hasattr(estimator, "named_steps"):
            estimator = estimator.steps[-1][1]
        else:
            return estimator
    return estimator


def _group_ids(X, n):
    """Query id of each row of X (identical rows are one query), or None."""
    try:
        if hasattr(X, "to_numpy"):
            X = X.to_numpy()
        if hasattr(X, "tocsr"):  # sparse: rows are compared by value below
            X = X.toarray()
        arr = np.asarray(X)
        if arr.ndim == 1:  # e.g. query strings before a featurizer
            return np.unique(arr.astype(str), return_inverse=True)[1].ravel()
        if arr.ndim == 2 and len(arr) == n:
            if arr.dtype == object:
                arr = arr.astype(np.float64)
            return group_rows(arr)[1]
    except (TypeError, ValueError):
        pass
    return None


_METRICS = {
    # name: (sign, kind) ; kind "classifier" reads predict_proba, "regressor" predict
    "soft_log_loss": (-1, "classifier"),
    "soft_brier_score": (-1, "classifier"),
    "calibration_error": (-1, "classifier"),
    "loss_skill": (1, "auto"),
    "marginal_reward_mse": (-1, "regressor"),
    "marginal_reward_r2": (1, "regressor"),
}


class _ProbeScorer:
    """``scorer(estimator, X, y, sample_weight=None)`` for a probe metric (see
    :func:`make_probe_scorer`). Greater is better."""

    def __init__(self, metric, baseline="train", n_bins=10, strategy="uniform"):
        self.metric = metric
        self.baseline = baseline
        self.n_bins = n_bins
        self.strategy = strategy
        self._sample_weight_request = None

    # -- metadata routing: the protocol of scikit-learn's own scorers
    def set_score_request(self, *, sample_weight=None):
        """Request ``sample_weight`` from metadata routing.

        Parameters
        ----------
        sample_weight : bool, str or None, default=None
            True: pass the routed ``sample_weight`` to the scorer; False: do not; a
            string: the name of the metadata to pass as ``sample_weight``.

        Returns
        -------
        self : object
            The scorer.
        """
        from sklearn.utils.metadata_routing import _routing_enabled

        if not _routing_enabled():
            raise RuntimeError(
                "This method is only available when metadata routing is enabled. You can "
                "enable it using sklearn.set_config(enable_metadata_routing=True)."
            )
        self._sample_weight_request = sample_weight
        return self

    def _get_metadata_request(self):
        request = MetadataRequest(owner=self)
        request.score.add_request(param="sample_weight", alias=self._sample_weight_request)
        return request

    def __repr__(self):
        extra = ""
        if self.metric == "loss_skill" and self.baseline != "train":
            extra = f", baseline={self.baseline!r}"
        if self.metric == "calibration_error":
            extra = f", n_bins={self.n_bins!r}, strategy={self.strategy!r}"
        return f"make_probe_scorer({self.metric!r}{extra})"

    # -- scoring
    def __call__(self, estimator, X, y_true, sample_weight=None):
        n_x, n_y = _n_rows(X), _n_rows(y_true)
        if n_x is not None and n_y is not None and n_x != n_y:
            # otherwise the predictions for X are said not to match y_true
            raise ValueError(
                f"y has {n_y} rows but X has {n_x}; y must hold one row per row of X."
            )
        sign, kind = _METRICS[self.metric]
        if kind == "auto":
            kind = "regressor" if is_regressor(estimator) else "classifier"
        if kind == "classifier":
            value = self._classifier_metric(estimator, X, y_true, sample_weight)
        else:
            value = self._regressor_metric(estimator, X, y_true, sample_weight)
        return sign * value

    def _classifier_metric(self, estimator, X, y, sample_weight):
        p = np.asarray(estimator.predict_proba(X))
        if self.metric == "soft_log_loss":
            return soft_log_loss(y, p, sample_weight=sample_weight)
        if self.metric == "soft_brier_score":
            return soft_brier_score(y, p, sample_weight=sample_weight)
        if self.metric == "calibration_error":
            return calibration_error(y, p, sample_weight=sample_weight, n_bins=self.n_bins,
                                     strategy=self.strategy)
        if self.baseline == "train":
            final = _final_estimator(estimator)
            baseline = getattr(final, "mean_success_rate_", None)
            if baseline is None:
                raise ValueError(
                    f"loss_skill with baseline='train' needs the training success rate, "
                    f"which {type(final).__name__} does not store (SuccessProbClassifier "
                    "stores it as mean_success_rate_); use "
                    "make_probe_scorer('loss_skill', baseline='test') for the paper's "
                    "in-hindsight baseline."
                )
        else:
            rate, weight = _rates_and_weights(y, sample_weight)
            baseline = float(np.average(rate, weights=weight))
        groups = _group_ids(X, len(y)) if np.ndim(y) == 1 else None
        return loss_skill(y, p, baseline=baseline, loss="log_loss", groups=groups,
                          sample_weight=sample_weight)

    def _regressor_metric(self, estimator, X, y, sample_weight):
        final = _final_estimator(estimator)
        y = as_float_array(y, "y")
        if hasattr(final, "max_budget_") and "target" in final.get_params(deep=False):
            # the regressor's own reading of y (raw rewards or marginal rewards)
            targets, _ = marginal_reward_targets(
                y, target=final.target, max_budget=final.max_budget_)
        else:
            targets = y[:, None] if y.ndim == 1 else y
        pred = np.asarray(estimator.predict(X), dtype=np.float64)
        pred = pred[:, None] if pred.ndim == 1 else pred
        if pred.shape != targets.shape:
            raise ValueError(
                f"The predictions have shape {pred.shape} but the marginal-reward targets "
                f"derived from y have shape {targets.shape}."
            )
        weight = None if sample_weight is None else _sample_weight(sample_weight, len(targets))
        if self.metric == "marginal_reward_r2":
            return float(r2_score(targets, pred, sample_weight=weight,
                                  multioutput="variance_weighted"))
        if self.metric == "marginal_reward_mse":
            return float(np.average(((pred - targets) ** 2).sum(axis=1), weights=weight))
        if self.baseline == "train":
            baseline = getattr(final, "mean_marginal_rewards_", None)
            if baseline is None:
                raise ValueError(
                    f"loss_skill with baseline='train' needs the training mean curve, which "
                    f"{type(final).__name__} does not store (MarginalRewardRegressor stores "
                    "it as mean_marginal_rewards_); use baseline='test'."
                )
        else:
            baseline = np.average(targets, axis=0, weights=weight)
        return loss_skill(targets, pred, baseline=baseline, loss="squared_error",
                          sample_weight=weight)


def make_probe_scorer(metric, *, baseline="train", n_bins=10, strategy="uniform"):
    """Make a scorer for a probe metric, usable as ``scoring=`` anywhere in scikit-learn.

    The scorer is called as ``scorer(estimator, X, y, sample_weight=None)`` with ``y``
    in the form the probe was fitted on; it reads ``predict_proba`` (success
    probability) or ``predict`` (marginal rewards) of the estimator, which may be a
    :class:`~sklearn.pipeline.Pipeline` ending in the probe. Greater is better: losses
    are negated, as in scikit-learn's ``"neg_log_loss"``.

    Parameters
    ----------
    metric : str
        ``"soft_log_loss"`` (:func:`soft_log_loss`, Eq. 7), ``"soft_brier_score"``
        (:func:`soft_brier_score`), ``"calibration_error"`` (:func:`calibration_error`)
        for success-probability probes; ``"marginal_reward_mse"`` (Eq. 6: squared
        error summed over budgets, mean over queries) and ``"marginal_reward_r2"`` (the
        default score of :class:`~skadapt.MarginalRewardRegressor`) for marginal-reward
        regressors, which read ``y`` as the regressor's ``target`` parameter says;
        ``"loss_skill"`` (:func:`loss_skill`) for both: Eq. 7 for a classifier, Eq. 6
        for a regressor.
    baseline : {"train", "test"}, default="train"
        For ``"loss_skill"``: the constant predictor Avg. ``"train"``: the training
        data's success rate (``mean_success_rate_``) or mean marginal-reward curve
        (``mean_marginal_rewards_``) that the fitted probe stores, so that in
        cross-validation Avg. comes from the training folds, as a real constant
        predictor would. ``"test"``: the scored data's own mean, the paper's
        in-hindsight Avg.
    n_bins : int, default=10
        For ``"calibration_error"``.
    strategy : {"uniform", "quantile"}, default="uniform"
        For ``"calibration_error"``.

    Returns
    -------
    scorer : callable
        Picklable; ``scorer.set_score_request(sample_weight=True)`` routes the test
        fold's sample weights to it under metadata routing.

    See Also
    --------
    get_scorer : The same scorers by name.

    Notes
    -----
    With one 0/1 label per sample (the rows of ``X`` repeated for each sample of a
    query), ``"loss_skill"`` groups identical rows of ``X`` into queries to compute
    Opt. from their success rates; split such data with
    :class:`~sklearn.model_selection.GroupKFold` on the query so that a query's samples
    are not on both sides of a fold.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import cross_val_score
    >>> from skadapt import SuccessProbClassifier
    >>> from skadapt.scoring import make_probe_scorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3))
    >>> lam = 1 / (1 + np.exp(-2 * X[:, 0]))
    >>> R = (rng.random((300, 16)) < lam[:, None]).astype(float)
    >>> probe = SuccessProbClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01,
    ...                               random_state=0)
    >>> skill = cross_val_score(probe, X, R, cv=3, scoring=make_probe_scorer("loss_skill"))
    >>> bool((skill > 0.7).all())   # Avg. from the training folds scores 0, the oracle 1
    True
    """
    if metric not in _METRICS:
        raise ValueError(
            f"metric must be one of {sorted(_METRICS)}; got {metric!r}.")
    if baseline not in ("train", "test"):
        raise ValueError(f"baseline must be 'train' or 'test'; got {baseline!r}.")
    if not isinstance(n_bins, numbers.Integral) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}.")
    if strategy not in ("uniform", "quantile"):
        raise ValueError(f"strategy must be 'uniform' or 'quantile'; got {strategy!r}.")
    return _ProbeScorer(metric, baseline=baseline, n_bins=n_bins, strategy=strategy)


_SCORERS = {
    "neg_soft_log_loss": make_probe_scorer("soft_log_loss"),
    "neg_soft_brier_score": make_probe_scorer("soft_brier_score"),
    "neg_calibration_error": make_probe_scorer("calibration_error"),
    "loss_skill": make_probe_scorer("loss_skill"),
    "neg_marginal_reward_mse": make_probe_scorer("marginal_reward_mse"),
    "marginal_reward_r2": make_probe_scorer("marginal_reward_r2"),
    "expected_success": make_allocation_scorer("success"),
    "expected_reward": make_allocation_scorer("reward"),
}


def get_scorer_names():
    """Names of skadapt's scorers, for :func:`get_scorer`.

    Returns
    -------
    names : list of str
        Sorted. :func:`get_scorer` also accepts every name of
        :func:`sklearn.metrics.get_scorer_names`.

    Examples
    --------
    >>> from skadapt.scoring import get_scorer_names
    >>> get_scorer_names()[:3]
    ['expected_reward', 'expected_success', 'loss_skill']
    """
    return sorted(_SCORERS)


def get_scorer(scoring):
    """A scorer by name: skadapt's (:func:`get_scorer_names`) or scikit-learn's.

    scikit-learn's ``scoring=`` parameters accept only the names scikit-learn knew when
    it was imported, so skadapt's names cannot be passed as strings there; pass the
    object this function returns instead.

    ============================  ==================================================
    name                          score (greater is better)
    ============================  ==================================================
    ``"neg_soft_log_loss"``       minus :func:`soft_log_loss` (Eq. 7)
    ``"neg_soft_brier_score"``    minus :func:`soft_brier_score`
    ``"neg_calibration_error"``   minus :func:`calibration_error` (10 uniform bins)
    ``"loss_skill"``              :func:`loss_skill`, Avg. from the training data
    ``"neg_marginal_reward_mse"`` minus the squared error of Eq. 6
    ``"marginal_reward_r2"``      :math:`R^2` of the marginal rewards
    ``"expected_success"``        exact expected success of the allocated budgets
    ``"expected_reward"``         exact expected reward of the allocated budgets
    ============================  ==================================================

    The first six are :func:`make_probe_scorer` with default options, the last two
    :func:`make_allocation_scorer` without a price per sample.

    Parameters
    ----------
    scoring : str, callable or None
        A name; a callable or None is returned as it is.

    Returns
    -------
    scorer : callable or None
        A fresh copy for a name.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import cross_val_score
    >>> from skadapt import SuccessProbClassifier
    >>> from skadapt.scoring import get_scorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3))
    >>> lam = 1 / (1 + np.exp(-2 * X[:, 0]))
    >>> R = (rng.random((300, 16)) < lam[:, None]).astype(float)
    >>> probe = SuccessProbClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01,
    ...                               random_state=0)
    >>> loss = -cross_val_score(probe, X, R, cv=3, scoring=get_scorer("neg_soft_log_loss"))
    >>> bool((loss < 0.55).all())   # a constant predictor: about 0.69
    True
    """
    if scoring is None or callable(scoring):
        return scoring
    if isinstance(scoring, str) and scoring in _SCORERS:
        return copy.deepcopy(_SCORERS[scoring])
    try:
        return _sklearn_get_scorer(scoring)
    except ValueError:
        raise ValueError(
            f"{scoring!r} is not a valid scoring value. skadapt's scorers: "
            f"{get_scorer_names()}; scikit-learn's: sklearn.metrics.get_scorer_names() "
            f"({len(_sklearn_get_scorer_names())} names)."
        ) from None
