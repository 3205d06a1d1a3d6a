"""Marginal-reward predictors: MLP probes on numeric features (section 3.1).

:class:`SuccessProbClassifier` predicts the success probability ``lam`` of one sample
(binary rewards, Eq. 7; preference probability of the strong decoder for routing,
Eq. 8) and :class:`MarginalRewardRegressor` the vector of marginal rewards
``Delta_j = q(j) - q(j - 1)`` for ``j = 1..max_budget`` (general rewards, Eq. 6).
Both are two-layer MLPs by default (one hidden layer), trained with the shared torch
machinery of :mod:`skadapt._training` (heads and losses in :mod:`skadapt._heads`,
cross-fitting in :mod:`skadapt._cross_fit`), and both are transformers whose cross-fitted
``fit_transform`` feeds held-out predictions to the allocator fitted next in a
:class:`~sklearn.pipeline.Pipeline`.

:class:`SuccessProbClassifier` can also say how sure it is: with ``head="beta"`` it
predicts a Beta distribution of ``lam`` (beta-binomial likelihood of the observed
success counts) whose expected marginal-reward curve
(:func:`skadapt.targets.beta_marginal_rewards`) replaces the plug-in one, and its
novelty score (distance to the training features) can shrink the curves of queries
unlike anything it was trained on toward the population's curve (``hedge``).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_consistent_length

from ._compat import (
    Interval,
    StrOptions,
    _check_feature_names_in,
    _check_sample_weight,
    _fit_context,
    check_is_fitted,
    validate_data,
)
from ._cross_fit import CrossFitTransformMixin
from ._devices import resolve_device
from ._heads import (
    BetaBinomialHead,
    MarginalRewardHead,
    SuccessProbHead,
    marginal_reward_targets,
)
from ._networks import ProbeNetwork, build_mlp
from ._torch_state import TorchModuleStateMixin
from ._training import make_generator, predict_batches, torch_seed, train_module
from ._target_forms import NoClassLabelsError, group_rows, success_targets
from ._validation import check_positive_int, naming_non_numeric, reject_complex
from ._versioning import VersionedPickleMixin
from .targets import beta_marginal_rewards, marginal_rewards

__all__ = ["MarginalRewardRegressor", "SuccessProbClassifier"]

_PREDICT_BATCH = 8192
# Largest |standardized feature| the network sees (see _standardized).
_Z_LIMIT = 1e6
# Training rows kept for the novelty score (float32, standardized), and how many of
# them serve as reference queries for its leave-one-out distance distribution.
_NOVELTY_MAX_ROWS = 5000
_NOVELTY_REFERENCE_ROWS = 1000



# Rows of X read at a time in float64 when standardizing (16 MiB per chunk): peak
# memory of a fit is the float32 standardized copy plus a few chunks, not several
# float64 copies of X. Data up to 64 MiB in float64 are processed whole, as before
# (the same floating-point results).
_CHUNK_BYTES = 1 << 24
_WHOLE_BYTES = 1 << 26


def _row_chunks(X, rows):
    """``chunks()`` yields ``(start, X[rows[start:stop]] as float64)``."""
    n_cols = max(1, X.shape[1])
    single = len(rows) * 8 * n_cols <= _WHOLE_BYTES
    step = max(1, len(rows) if single else _CHUNK_BYTES // (8 * n_cols))
    identity = len(rows) == X.shape[0] and (
        len(rows) == 0 or (rows[0] == 0 and np.all(np.diff(rows) == 1)))

    def chunks():
        for start in range(0, len(rows), step):
            stop = min(start + step, len(rows))
            block = X[start:stop] if identity else X[rows[start:stop]]
            yield start, block.astype(np.float64, copy=False)

    chunks.n_rows = len(rows)
    chunks.single = single
    return chunks


def _column_moments(chunks):
    """Column means and standard deviations of the chunked rows, in float64."""
    if chunks.single:
        X = next(chunks())[1] if chunks.n_rows else np.zeros((0, 0))
        size = np.abs(X).max(axis=0)
        if size.max() > 1e150:  # squares in std would overflow: work on X / size
            size[size == 0] = 1.0
            return (X / size).mean(axis=0) * size, (X / size).std(axis=0) * size
        return X.mean(axis=0), X.std(axis=0)
    size = None
    for _, block in chunks():
        top = np.abs(block).max(axis=0)
        size = top if size is None else np.maximum(size, top)
    if size.max() <= 1e150:
        size = np.ones_like(size)
    size[size == 0] = 1.0
    n = chunks.n_rows
    total = sum((block / size).sum(axis=0) for _, block in chunks())
    mean = total / n
    squares = sum(((block / size - mean) ** 2).sum(axis=0) for _, block in chunks())
    return mean * size, np.sqrt(squares / n) * size

class _StandardizedRows:
    """Rows of the standardized training features, computed when indexed (the
    ``streaming=True`` fit): ``Z[idx]`` equals the precomputed copy's rows."""

    def __init__(self, probe, X, rows):
        self.probe, self.X, self.rows = probe, X, rows
        self.shape = (len(rows), X.shape[1])

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, idx):
        idx = np.asarray(idx)
        order = np.argsort(idx, kind="stable")  # sorted reads of a memory map
        block = np.asarray(self.X[self.rows[idx[order]]], dtype=np.float64)
        out = np.empty((len(idx), self.shape[1]), dtype=np.float32)
        out[order] = self.probe._standardized(block)
        return out


class _BaseMLPProbe(VersionedPickleMixin, TorchModuleStateMixin, CrossFitTransformMixin,
                     BaseEstimator):
    """Fit/predict plumbing shared by the two MLP probes (not public)."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "standardize": ["boolean"],
        "streaming": ["boolean"],
        "cv": ["cv_object"],
        "cross_fit": ["boolean"],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # ---------------------------------------------------------------- subclass hooks
    def _make_head(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit_targets(self, X, y, sample_weight):  # pragma: no cover - abstract
        """Return ``(rows, targets, weight, extra)``: the rows of ``X`` trained on, their
        targets, per-row loss weights (None: unweighted) and what ``_after_fit`` needs."""
        raise NotImplementedError

    # ------------------------------------------------------------------------- fit
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
        if any(not isinstance(h, numbers.Integral) or h < 1 for h in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers; got {sizes}.")
        return sizes

    def _build_module(self, name="module_", generator=None):
        head = self._make_head()
        body = build_mlp(
            self.n_features_in_, self._hidden_sizes(), head.n_outputs,
            activation=self.activation, generator=generator,
        )
        return ProbeNetwork(body, head)

    def _standardized(self, X):
        with np.errstate(over="ignore"):
            Z = X - self.feature_mean_
            Z /= self.feature_scale_
        # Features far outside the training range (1e39 overflows float32) would
        # turn into inf and then NaN probabilities: clip to +-_Z_LIMIT standard
        # deviations, where the network's output has long stopped changing.
        np.clip(Z, -_Z_LIMIT, _Z_LIMIT, out=Z)
        return Z.astype(np.float32)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the probe.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features, e.g. last hidden states of the language model.
        y : array-like
            Targets; see the class docstring for the accepted forms.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row of ``X``; see the class docstring for what
            it means with each form of ``y``. A weight of 0 removes the row. Routed by
            metadata routing after ``set_fit_request(sample_weight=True)``.

        Returns
        -------
        self : object
            Fitted probe.
        """
        if y is None:
            raise ValueError(
                f"This {type(self).__name__} estimator requires y to be passed, but the "
                "target y is None."
            )
        reject_complex(X)
        reject_complex(y, "y")
        # validate_data's messages name no argument (X is checked first, then y)
        with naming_non_numeric(y, "y"), naming_non_numeric(X):
            X, y = validate_data(
                self, X, y,
                validate_separately=(
                    {"dtype": [np.float64, np.float32]},
                    {"ensure_2d": False, "dtype": "numeric", "ensure_all_finite": "allow-nan"},
                ),
            )
        check_consistent_length(X, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        self._hidden_sizes()  # validate before any work
        rows, targets, weight, extra = self._fit_targets(X, y, sample_weight)
        device = resolve_device(self.device)
        self.device_ = str(device)
        seed = torch_seed(self.random_state)
        generator = make_generator(seed)

        # the rows trained on: the distinct queries of weight > 0. Memory stays in
        # proportion to X: X is read in float64 chunks of rows (never copied whole),
        # and the only full-size array made is the float32 standardized Z.
        rows = np.asarray(rows)
        chunks = _row_chunks(X, rows)
        if self.standardize:
            mean, scale = _column_moments(chunks)
            # Constant features: leave them unscaled, as StandardScaler does.
            scale[scale < 10 * np.finfo(np.float64).eps] = 1.0
            self.feature_mean_, self.feature_scale_ = mean, scale
        else:
            self.feature_mean_ = np.zeros(X.shape[1])
            self.feature_scale_ = np.ones(X.shape[1])

        module = self._build_module(generator=generator)
        with torch.no_grad():
            module.body[-1].bias.copy_(module.head.initial_bias(targets, weight))
        module.to(device)
        if self.streaming:
            Z = _StandardizedRows(self, X, rows)
        else:
            Z = np.empty((len(rows), X.shape[1]), dtype=np.float32)
            for start, block in chunks():
                Z[start:start + len(block)] = self._standardized(block)
        del X
        # Z stays in host memory; each mini-batch moves to the device as it is used
        y_t = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
        w_t = None if weight is None else torch.from_numpy(
            np.ascontiguousarray(weight, dtype=np.float32))

        def get_batch(idx):
            idx = idx.to("cpu")
            return (torch.from_numpy(np.ascontiguousarray(Z[idx.numpy()])).to(device),
                    y_t[idx].to(device), None if w_t is None else w_t[idx].to(device))

        def compute_loss(m, batch):
            return m.head.loss(m(batch[0]), batch[1], batch[2])

        n_samples = Z.shape[0]
        result = train_module(
            module,
            n_samples=n_samples,
            get_batch=get_batch,
            compute_loss=compute_loss,
            generator=generator,
            batch_size=min(200, n_samples) if self.batch_size == "auto" else self.batch_size,
            max_iter=self.max_iter,
            learning_rate_init=self.learning_rate_init,
            alpha=self.alpha,
            tol=self.tol,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change,
            verbose=self.verbose,
            name=type(self).__name__,
        )
        result.store(self, module)
        self._after_fit(Z, extra, seed)
        return self

    def _after_fit(self, Z, extra, seed):
        """Hook: learn more from the standardized training features ``Z`` (float32)."""

    # --------------------------------------------------------------------- predict
    def _standardized_input(self, X):
        check_is_fitted(self)
        reject_complex(X)  # a list of complex numbers: not float()'s TypeError
        with naming_non_numeric(X):  # validate_data's message names no argument
            X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        chunks = _row_chunks(X, np.arange(X.shape[0]))
        Z = np.empty(X.shape, dtype=np.float32)
        for start, block in chunks():
            Z[start:start + len(block)] = self._standardized(block)
        return Z

    def _predict_head(self, X):
        return self._predict_standardized(self._standardized_input(X))

    def _predict_standardized(self, Z):
        X_t = torch.from_numpy(Z)
        device = torch.device(self.device_)
        return predict_batches(
            self.module_,
            n_samples=X_t.shape[0],
            get_batch=lambda idx: X_t[idx].to(device),
            forward=lambda m, xb: m.head.predict(m(xb)),
            batch_size=_PREDICT_BATCH,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


_SHARED_PARAMS_DOC = """
    hidden_layer_sizes : array-like of int, default=(256,)
        Units of each hidden layer. The default is the paper's "two-layer MLP" (one
        hidden layer); ``()`` gives a linear model on the standardized features.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Activation of the hidden layers.
    alpha : float, default=1e-4
        Strength of the L2 penalty on the weight matrices, divided by the batch size
        (as in :class:`~sklearn.neural_network.MLPRegressor`).
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``min(200, n_samples)``.
    learning_rate_init : float, default=1e-3
        Adam learning rate.
    max_iter : int, default=200
        Maximum number of epochs.
    tol : float, default=1e-4
        Training stops when the loss (the validation score with ``early_stopping``)
        has not improved by ``tol`` for more than ``n_iter_no_change`` epochs.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop on its loss and
        keep the best weights.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    n_iter_no_change : int, default=10
        Epochs without improvement tolerated before stopping.
    standardize : bool, default=True
        Standardize the features inside the estimator (hidden states have a few
        dimensions with very large values).
    streaming : bool, default=False
        Read ``X`` one mini-batch at a time during training instead of holding a
        standardized float32 copy of it: for features larger than memory, passed
        as a memory-mapped array (``np.load(path, mmap_mode="r")``, an
        ``np.memmap``). Gives the same model as ``streaming=False`` (each batch is
        standardized exactly as the copy would be), at the cost of reading and
        standardizing every batch every epoch.
    cv : int, cross-validation splitter or iterable, default=5
        Folds of the cross-fitted :meth:`fit_transform` (an int means shuffled
        :class:`~sklearn.model_selection.KFold` seeded from ``random_state``). The
        test folds must partition the samples.
    cross_fit : bool, default=True
        Whether :meth:`fit_transform` returns out-of-fold predictions (``cv + 1``
        fits; what an allocator that learns from them, such as
        :class:`~skadapt.BinnedAllocator`, needs) or the in-sample predictions of the
        one model fitted on all data (one fit; enough before
        :class:`~skadapt.GreedyAllocator`, whose ``fit`` only checks their shape).
        :func:`skadapt.policy.make_policy` sets it from the step that follows.
    device : str or torch.device, default="auto"
        Torch device; ``"auto"`` is CUDA when available, else CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, the validation split and the folds of
        :meth:`fit_transform`. torch's global RNG is never touched; the same
        ``random_state`` gives the same fitted model on the same device.
    verbose : bool or int, default=False
        Show a tqdm progress bar over epochs.
"""

_SHARED_ATTRS_DOC = """
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.
    feature_mean_, feature_scale_ : ndarray of shape (n_features_in_,)
        Standardization learned in fit (zeros and ones when ``standardize=False``).
    module_ : torch.nn.Module
        The fitted network (``body`` MLP and ``head``), on ``device_``.
    device_ : str
        Device the network lives on.
    loss_curve_ : list of float
        Mean training loss per epoch (without the L2 term).
    n_iter_ : int
        Number of epochs run.
    best_loss_ : float or None
        Lowest training loss (None with early stopping).
    validation_scores_ : list of float or None
        Negative validation loss per epoch, with early stopping (else None).
    best_validation_score_ : float or None
        Best validation score, with early stopping (else None).
"""


class SuccessProbClassifier(ClassifierMixin, _BaseMLPProbe):
    """Predict the probability that one sample succeeds (binary rewards, Eq. 7).

    A two-layer MLP trained with cross-entropy on *soft* labels: the targets are
    empirical success rates ``lam_i`` rather than 0/1 labels, so the model learns the
    per-query success probability that determines every marginal reward of
    best-of-k, ``Delta_j = lam (1 - lam)^(j - 1)``. For routing, the soft label is the
    preference probability of the strong decoder over the weak one (Eq. 8).

    With ``head="beta"`` the network predicts a Beta distribution of ``lam`` instead
    of a point, and :meth:`predict_marginal_rewards` returns the *expected* curve
    ``E[lam (1 - lam)^(j - 1)]``, which the plug-in curve overestimates when the probe
    is unsure. ``hedge`` shrinks the curves of queries unlike the training features
    toward the population's curve.

    Parameters
    ----------
    {shared}
    head : {{"point", "beta", "auto"}}, default="point"
        ``"point"``: one output, the success probability, trained by the soft-label
        cross-entropy of Eq. 7. ``"beta"``: two outputs, the mean and concentration
        ``c`` of ``lam ~ Beta(mean c, (1 - mean) c)``, trained by the beta-binomial
        likelihood of each query's success count; ``c`` is kept in [1e-2, 1e4]. Needs
        the (n, m) outcome matrix as ``y`` (see Notes). ``"auto"``: ``"beta"`` when
        ``y`` is an outcome matrix with at least 2 samples per query, ``"point"`` for
        soft labels (the resolved choice is ``head_``).
    max_budget : int or None, default=None
        What :meth:`transform` returns. ``None``: the success probability, one column
        (for an allocator with ``kind="success_prob"``). An int ``B``: the expected,
        hedged marginal-reward curves of :meth:`predict_marginal_rewards` for
        ``j = 1..B``, ``B`` columns (for an allocator with ``kind="marginal"``).
    hedge : float, default=0.0
        Strength of the novelty hedge of :meth:`predict_marginal_rewards`, >= 0.
        ``0`` turns it off; a query's weight on the population curve is
        ``novelty ** (1 / hedge)`` (see Notes and :meth:`hedge_weights`), so larger
        values shrink more queries, toward the population curve for all as ``hedge``
        grows.
        The success probability (:meth:`predict_proba`, and :meth:`transform` with
        ``max_budget=None``) is never hedged.
    novelty_neighbors : int, default=10
        Number of nearest training points whose mean distance defines the novelty
        score (:meth:`novelty_score`).
    neighbor_curves : int, default=25
        ``k > 0`` blends into each query's expected curve the average *exact*
        marginal-reward curve (:func:`skadapt.targets.marginal_rewards` of the observed
        outcomes) of its ``k`` nearest training rows, with weight
        ``neighbor_weight``: a calibrated curve that keeps the spread of difficulties
        the probe cannot tell apart, where it is most often wrong (queries unlike the
        training set). ``0`` turns it off.
    neighbor_weight : float, default=0.5
        Weight of the neighbours' curve, in [0, 1].
    neighbor_novelty_power : float or None, default=None
        ``p > 0`` raises the weight of a query unlike the training set toward 1:
        ``w = neighbor_weight + (1 - neighbor_weight) * novelty ** p`` with the
        novelty of :meth:`novelty_score`. ``None``: the same weight for every query.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        ``[0, 1]``: failure and success; only when fitted on one 0/1 label per sample
        (``target_form_ == "labels"``). Fitted on an outcome matrix or on rates, reading
        it raises :class:`skadapt.scoring.NoClassLabelsError` (a ``ValueError`` and an
        ``AttributeError``, so ``hasattr`` is False), which is what stops
        scikit-learn's classifier scorers from comparing probabilities with such a
        ``y`` (see Notes).
    target_form_ : {{"outcomes", "rates", "labels"}}
        The form of ``y`` in fit: an (n, m) outcome matrix, success rates (soft
        labels), or 0/1 labels only.
    mean_success_rate_ : float
        Success rate of all training samples (each query weighted by its number of
        samples and its sample weight): the constant predictor "Avg." of the paper's
        Table 1, which :func:`skadapt.scoring.loss_skill` scores against.
    nearest_neighbors_ : sklearn.neighbors.NearestNeighbors
        Fitted on (at most 5000 randomly chosen) training rows, standardized as the
        network sees them, in float32.
    novelty_reference_ : ndarray of shape (n_reference,)
        Sorted leave-one-out mean distances of (at most 1000) of those rows to their
        ``novelty_neighbors`` nearest other rows: the distribution the novelty score
        ranks a query's distance in.
    head_ : {{"point", "beta"}}
        The head that was fitted.
    neighbor_outcomes_ : ndarray of shape (n_rows, m)
        Training outcomes (or soft labels, one column) of the queries in
        ``nearest_neighbors_``, float32: the neighbours' exact curves come from them.
        For a 1-D ``y`` whose sample counts are whole numbers (labels grouped by
        repeated rows, or rates with their counts as ``sample_weight``) each query's
        ``k`` successes of ``m`` samples are stored as ``k`` ones and ``m - k`` zeros
        (NaN padding), which gives the same exact curves as the original samples; rates
        without counts are stored as one column (the plug-in curve).
    population_distribution_ : ndarray of shape (n_rows, 2)
        Predicted ``[mean, concentration]`` of the rows in ``nearest_neighbors_``; the
        population curve is the average of their expected curves.
    {attrs}

    See Also
    --------
    MarginalRewardRegressor : Marginal rewards for general (non-binary) rewards.
    skadapt.targets.success_rate : The soft labels derived from an outcome matrix.
    skadapt.targets.beta_marginal_rewards : The expected curve of a Beta ``lam``.
    skadapt.GreedyAllocator : Turns predicted success probabilities into budgets.

    Notes
    -----
    ``fit(X, y, sample_weight=None)`` accepts the same samples in three forms, which
    give the same model (the same network, bit for bit, when the queries come in the
    same order):

    - (a) the raw (n, m) matrix of sample outcomes (0/1, NaN = missing sample), one row
      per query; ``sample_weight`` weighs the queries;
    - (b) a 1-D vector of success rates in [0, 1] (or preference probabilities), with
      the number of samples behind each rate as ``sample_weight`` (without it, every
      rate counts once);
    - (c) one 0/1 label per sample, the row of ``X`` repeated for each sample of a
      query (e.g. ``np.repeat(X, m, axis=0)`` and ``R.ravel()``); ``sample_weight``
      weighs the samples.

    (a) and the 1-D forms are told apart by ``y.ndim`` (a column vector is an outcome
    matrix with one sample per query). A 1-D ``y`` is grouped by identical rows of
    ``X``: each group is one query whose rate is its (weighted) share of successes and
    whose number of samples is its total weight. The loss is the cross-entropy of Eq. 7
    per observed sample: each query's cross-entropy at its rate, weighted by its number
    of samples times its weight (with the same number of samples for every query, the
    paper's unweighted mean). Grouping loses nothing (the loss is linear in the label),
    keeps a query's samples on one side of the early-stopping split and of the folds of
    :meth:`fit_transform` (for an integer ``cv``), and out of one another's
    neighbours. Rows of weight 0 are dropped. Class labels other than 0/1 (strings,
    -1/1, multiclass) are rejected: the targets are probabilities.

    :meth:`transform` returns the predicted success probability as one column named
    ``success_prob`` so that the probe can sit in a :class:`~sklearn.pipeline.Pipeline`
    before an allocator with ``kind="success_prob"``; :meth:`fit_transform` returns
    cross-fitted (out-of-fold) predictions, like
    :class:`~sklearn.preprocessing.TargetEncoder`.

    **Scoring.** :meth:`score` is minus the soft log-loss of Eq. 7 (the quantity the
    probe minimises), the same for every form of ``y``. scikit-learn's classifier
    scorers (``"neg_log_loss"``, ``"roc_auc"``, ``"neg_brier_score"``, ...) need one
    0/1 label per sample, form (c), split by query (e.g.
    :class:`~sklearn.model_selection.GroupKFold`); on forms (a) and (b) they fail with
    :class:`~skadapt.scoring.NoClassLabelsError` (a NaN score and a warning in
    ``cross_val_score`` unless ``error_score="raise"``). :mod:`skadapt.scoring` has the
    probe metrics for every form (soft log-loss, Brier, calibration error and the
    paper's normalised loss).

    **Beta head.** The likelihood of ``k`` successes in ``m`` samples needs ``m``: fit
    it on the outcome matrix (each row's ``k`` and ``m`` are counted from its observed
    outcomes), on rates with their sample counts as ``sample_weight``, or on 0/1
    labels with repeated rows. 0/1 labels without repeated rows are one sample per
    query (which says nothing about the dispersion); rates without ``sample_weight``
    raise ``ValueError``. With the outcome matrix, ``sample_weight`` multiplies each
    query's log-likelihood.
    :meth:`predict_proba` returns the mean and :meth:`predict_distribution` the mean and
    concentration (``inf`` for the point head).

    **Novelty hedge.** A query's novelty ``q`` is the empirical quantile of its mean
    distance to its ``novelty_neighbors`` nearest training rows among the same
    (leave-one-out) distances of training rows: about uniform on [0, 1] for queries
    like the training set, 1 beyond the farthest of them. Its curve becomes
    ``(1 - w) Delta + w Delta_pop`` with ``w = q ** (1 / hedge)``: the expected curve
    when ``lam`` comes from the probe's belief with probability ``1 - w`` and from the
    population with probability ``w``. For in-distribution queries ``w`` averages
    ``hedge / (1 + hedge)`` (the price: that share of the adaptivity is given up on
    queries the probe knows); a batch of queries all beyond the training set gets the
    population curve for every query, and a greedy allocation of it is uniform.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt import SuccessProbClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4))
    >>> lam = 1 / (1 + np.exp(-2 * X[:, 0]))
    >>> R = (rng.random((300, 16)) < lam[:, None]).astype(float)  # 16 samples per query
    >>> clf = SuccessProbClassifier(hidden_layer_sizes=(16,), max_iter=100,
    ...                             random_state=0).fit(X, R)
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    >>> clf.transform(X[:3]).shape, clf.get_feature_names_out().tolist()
    ((3, 1), ['success_prob'])
    >>> bool(np.corrcoef(clf.transform(X)[:, 0], lam)[0, 1] > 0.9)
    True

    Expected marginal-reward curves from a beta head, hedged for a novel query:

    >>> beta = SuccessProbClassifier(hidden_layer_sizes=(16,), max_iter=100, head="beta",
    ...                              hedge=0.1, random_state=0).fit(X, R)
    >>> beta.predict_distribution(X[:2]).shape
    (2, 2)
    >>> far = X[:1] + 100.0
    >>> float(beta.novelty_score(far)[0]), float(beta.hedge_weights(far)[0])
    (1.0, 1.0)
    >>> curves = beta.predict_marginal_rewards(np.vstack([X[:2], far]), 4)
    >>> curves.shape
    (3, 4)
    """

    _parameter_constraints: dict = {
        **_BaseMLPProbe._parameter_constraints,
        "head": [StrOptions({"auto", "point", "beta"})],
        "max_budget": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "hedge": [Interval(numbers.Real, 0, None, closed="left")],
        "novelty_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "neighbor_curves": [Interval(numbers.Integral, 0, None, closed="left")],
        "neighbor_weight": [Interval(numbers.Real, 0, 1, closed="both")],
        "neighbor_novelty_power": [Interval(numbers.Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        activation="relu",
        alpha=1e-3,
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter=200,
        tol=1e-4,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        standardize=True,
        streaming=False,
        cv=5,
        cross_fit=True,
        device="auto",
        random_state=None,
        verbose=False,
        head="point",
        max_budget=None,
        hedge=0.0,
        novelty_neighbors=10,
        neighbor_curves=25,
        neighbor_weight=0.5,
        neighbor_novelty_power=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.standardize = standardize
        self.streaming = streaming
        self.cv = cv
        self.cross_fit = cross_fit
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.head = head
        self.max_budget = max_budget
        self.hedge = hedge
        self.novelty_neighbors = novelty_neighbors
        self.neighbor_curves = neighbor_curves
        self.neighbor_weight = neighbor_weight
        self.neighbor_novelty_power = neighbor_novelty_power

    def _make_head(self):
        return BetaBinomialHead() if self.head_ == "beta" else SuccessProbHead()

    def _fit_targets(self, X, y, sample_weight):
        # the three forms of y, one row per query (skadapt._target_forms)
        queries = success_targets(X, y, sample_weight)
        counted = queries.form != "rates" or sample_weight is not None
        head = self.head
        if head == "auto":
            # the beta-binomial likelihood needs several samples per query; soft labels
            # without sample counts get the point head
            head = "beta" if counted and (
                np.shape(y)[1] >= 2 if queries.form == "outcomes" else queries.samples.max() >= 2
            ) else "point"
        if head == "beta" and not counted:
            raise ValueError(
                "head='beta' fits the number of successes out of the number of samples of "
                "each query, which success rates alone do not tell: pass the (n, m) outcome "
                "matrix (0/1, NaN = missing sample), one 0/1 label per sample with the rows "
                "of X repeated, or the rates with the number of samples as sample_weight."
            )
        self.head_ = head
        self.target_form_ = queries.form
        self.mean_success_rate_ = queries.mean_rate()
        if head == "beta":
            targets = np.column_stack([queries.successes, queries.samples])
            weight = queries.query_weight()
        else:
            targets, weight = queries.rate, queries.loss_weight()
        return queries.rows, targets, weight, queries.outcomes

    def _cross_fit_groups(self, X, y):
        # samples of one query (repeated rows with a 1-D y) stay in one fold
        if np.ndim(y) != 1:
            return None
        try:
            X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=np.float64)
        except (TypeError, ValueError):
            return None  # fit reports the bad input
        if X.ndim != 2:
            return None
        return group_rows(X)[1]

    @property
    def classes_(self):
        """``[0, 1]`` (failure, success), when fitted on one 0/1 label per sample."""
        state = self.__dict__
        if "classes_" in state:  # set explicitly, or saved by skadapt <= 0.1.0
            return state["classes_"]
        if "target_form_" not in state:
            raise AttributeError(
                f"This {type(self).__name__} instance is not fitted yet: it has no classes_.")
        if state["target_form_"] != "labels":
            raise NoClassLabelsError(self.target_form_)
        return np.array([0, 1])

    @classes_.setter
    def classes_(self, value):
        # what skadapt <= 0.1.0 stored; skadapt.persistence restores attributes by setattr
        self.__dict__["classes_"] = value

    # --------------------------------------------------- novelty and population curve
    def _after_fit(self, Z, outcomes, seed):
        rng = np.random.default_rng(seed)
        n = Z.shape[0]
        rows = np.arange(n)
        if n > _NOVELTY_MAX_ROWS:
            rows = np.sort(rng.choice(n, _NOVELTY_MAX_ROWS, replace=False))
        stored = np.ascontiguousarray(Z[rows], dtype=np.float32)
        self.nearest_neighbors_ = NearestNeighbors().fit(stored)
        reference = stored
        if len(rows) > _NOVELTY_REFERENCE_ROWS:
            reference = stored[np.sort(rng.choice(len(rows), _NOVELTY_REFERENCE_ROWS,
                                                  replace=False))]
        if len(rows) > 1:
            # Leave one out: the nearest stored row of a stored row is itself.
            k = self._novelty_k()
            distances, _ = self.nearest_neighbors_.kneighbors(reference, n_neighbors=k + 1)
            self.novelty_reference_ = np.sort(distances[:, 1:].mean(axis=1))
        else:
            self.novelty_reference_ = np.zeros(1)
        mean, concentration = self._distribution_standardized(stored)
        self.population_distribution_ = np.column_stack([mean, concentration])
        # what the stored rows really did: their outcomes (or soft labels), from
        # which their exact marginal-reward curves are computed on demand
        self.neighbor_outcomes_ = np.asarray(outcomes)[rows].astype(np.float32)

    def _novelty_k(self):
        n_rows = self.nearest_neighbors_.n_samples_fit_
        return max(1, min(int(self.novelty_neighbors), n_rows - 1))

    def _novelty_standardized(self, Z):
        distances, _ = self.nearest_neighbors_.kneighbors(
            Z.astype(np.float32, copy=False), n_neighbors=self._novelty_k()
        )
        d = distances.mean(axis=1)
        ref = self.novelty_reference_
        # Mid-rank empirical quantile: ties with reference distances count half.
        below = np.searchsorted(ref, d, side="left")
        at_most = np.searchsorted(ref, d, side="right")
        return (below + at_most) / (2.0 * len(ref))

    def _hedge_weights_standardized(self, Z):
        if self.hedge == 0:
            return np.zeros(Z.shape[0])
        return self._novelty_standardized(Z) ** (1.0 / self.hedge)

    def _distribution_standardized(self, Z):
        out = self._predict_standardized(Z)
        if out.ndim == 1:
            return out, np.full_like(out, np.inf)
        return out[:, 0], out[:, 1]

    def _population_curve(self, max_budget):
        mean, concentration = self.population_distribution_.T
        curve = beta_marginal_rewards(mean, concentration, max_budget).mean(axis=0)
        # An average of non-increasing rows is non-increasing; keep it so despite rounding.
        return np.minimum.accumulate(curve)

    def _stored_curves(self, max_budget):
        """Exact marginal-reward curves of the stored training rows."""
        outcomes = self.neighbor_outcomes_.astype(np.float64)
        if outcomes.shape[1] == 1:
            # soft labels: no samples to be exact about, the plug-in curve
            return beta_marginal_rewards(outcomes[:, 0], np.inf, max_budget)
        return marginal_rewards(outcomes, max_budget, extrapolate="geometric")

    def _neighbor_weights(self, Z):
        w = np.full((Z.shape[0], 1), float(self.neighbor_weight))
        if self.neighbor_novelty_power is not None:
            # the less a query looks like the training set, the less the model's
            # own curve is trusted: up to the neighbours' curve alone
            q = self._novelty_standardized(Z)[:, None]
            w = w + (1.0 - w) * q ** float(self.neighbor_novelty_power)
        return w

    def _neighbor_curves(self, Z, max_budget):
        k = min(int(self.neighbor_curves), self.nearest_neighbors_.n_samples_fit_)
        _, idx = self.nearest_neighbors_.kneighbors(Z.astype(np.float32, copy=False),
                                                    n_neighbors=k)
        return self._stored_curves(max_budget)[idx].mean(axis=1)

    def novelty_score(self, X):
        """How unlike the training features each query is, in [0, 1].

        The mean Euclidean distance of a query to its ``novelty_neighbors`` nearest
        training rows (standardized as the network sees them), ranked among the same
        leave-one-out distances of training rows: about uniform on [0, 1] for queries
        drawn like the training set, 1 for queries farther out than any training row.
        Training rows themselves score low (they are their own nearest neighbour),
        like any in-sample prediction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        novelty : ndarray of shape (n_samples,)
            Empirical quantile (mid-rank) of each query's distance.
        """
        return self._novelty_standardized(self._standardized_input(X))

    def hedge_weights(self, X):
        """Weight of the population curve in each query's hedged curve.

        ``w = novelty_score(X) ** (1 / hedge)``, zero when ``hedge=0``. Monotone in the
        novelty and in ``hedge``; 1 for queries beyond the training set whenever
        ``hedge > 0``; averages ``hedge / (1 + hedge)`` over in-distribution queries.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        weights : ndarray of shape (n_samples,)
            Values in [0, 1].
        """
        return self._hedge_weights_standardized(self._standardized_input(X))

    def predict_distribution(self, X):
        """Predicted distribution of the success probability: ``[mean, concentration]``.

        With ``head="beta"``, ``lam ~ Beta(mean * c, (1 - mean) * c)`` with ``c`` the
        concentration; with ``head="point"``, ``c = inf`` (a point mass at the mean).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        distribution : ndarray of shape (n_samples, 2)
            ``[mean, concentration]`` per query.
        """
        mean, concentration = self._distribution_standardized(self._standardized_input(X))
        return np.column_stack([mean, concentration])

    def predict_marginal_rewards(self, X, max_budget=None):
        """Expected marginal rewards of best-of-k, with the novelty hedge applied.

        Row ``i`` is ``E[lam_i (1 - lam_i)^(j - 1)]`` for ``j = 1..max_budget`` under the
        predicted distribution of ``lam_i`` (:func:`skadapt.targets.beta_marginal_rewards`;
        the plug-in geometric curve for ``head="point"``), then, when ``hedge > 0``,
        ``(1 - w_i)`` times it plus ``w_i`` times the population curve (the average
        expected curve of the training rows), ``w_i`` from :meth:`hedge_weights`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.
        max_budget : int or None, default=None
            Number of budgets; ``None`` uses the ``max_budget`` parameter.

        Returns
        -------
        marginal_rewards : ndarray of shape (n_samples, max_budget)
            Non-negative and non-increasing along each row, for
            :class:`~skadapt.GreedyAllocator` with ``kind="marginal"``.
        """
        budget = self.max_budget if max_budget is None else max_budget
        if budget is None:
            raise ValueError(
                "max_budget is needed for marginal-reward curves: pass it here or set the "
                "max_budget parameter."
            )
        budget = check_positive_int(budget, "max_budget")
        Z = self._standardized_input(X)
        mean, concentration = self._distribution_standardized(Z)
        curves = beta_marginal_rewards(mean, concentration, budget)
        if self.neighbor_curves > 0:
            w = self._neighbor_weights(Z)
            if np.any(w > 0):
                curves = (1.0 - w) * curves + w * self._neighbor_curves(Z, budget)
        if self.hedge > 0:
            w = self._hedge_weights_standardized(Z)[:, None]
            curves = (1.0 - w) * curves + w * self._population_curve(budget)
            # A mixture of non-increasing curves is non-increasing; undo rounding.
            curves = np.minimum.accumulate(curves, axis=1)
        return curves

    # ---------------------------------------------------------------- classifier API
    def predict_proba(self, X):
        """Predicted probabilities of failure and success.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            ``[1 - lam, lam]`` per query (``lam`` the mean with ``head="beta"``).
        """
        lam, _ = self._distribution_standardized(self._standardized_input(X))
        return np.column_stack([1.0 - lam, lam])

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, 2)
            ``[log(1 - lam), log(lam)]`` per query.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predicted label: 1 where the success probability exceeds 0.5.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            0 or 1.
        """
        lam = self.predict_proba(X)[:, 1]
        return (lam > 0.5).astype(np.int64)

    def transform(self, X):
        """Predicted success probability, or marginal-reward curves with ``max_budget``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        X_out : ndarray of shape (n_samples, 1) or (n_samples, max_budget)
            ``max_budget=None``: the predicted probability that one sample succeeds
            (never hedged). Else :meth:`predict_marginal_rewards`.
        """
        if self.max_budget is None:
            return self.predict_proba(X)[:, 1:]
        return self.predict_marginal_rewards(X)

    def get_feature_names_out(self, input_features=None):
        """Output feature names: ``["success_prob"]``, or one per budget.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names, only checked against ``feature_names_in_`` and
            ``n_features_in_`` (a ``ValueError`` when they differ).

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``["success_prob"]`` when ``max_budget=None``, else
            ``marginal_reward_1 .. marginal_reward_{max_budget}``.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        if self.max_budget is None:
            return np.asarray(["success_prob"], dtype=object)
        return np.asarray(
            [f"marginal_reward_{j}" for j in range(1, self.max_budget + 1)], dtype=object
        )

    def score(self, X, y, sample_weight=None):
        """Minus the soft-label cross-entropy of Eq. 7, per observed sample.

        The quantity the probe minimises: :func:`skadapt.scoring.soft_log_loss` of
        :meth:`predict_proba`, negated so that greater is better. It has the same value
        for the same data in each form of ``y`` (with one 0/1 label per sample it is
        scikit-learn's ``"neg_log_loss"``), and it is what ``cross_val_score`` and
        ``GridSearchCV`` use by default.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.
        y : array-like
            Outcome matrix, success rates or 0/1 labels, as in :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row (with success rates: the number of samples behind each).

        Returns
        -------
        score : float
            ``-soft_log_loss(y, predict_proba(X))``; at most minus the mean binary
            entropy of the success rates.
        """
        from .scoring import soft_log_loss

        return -soft_log_loss(y, self.predict_proba(X), sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


class MarginalRewardRegressor(RegressorMixin, _BaseMLPProbe):
    """Predict the marginal reward of each extra unit of compute (Eq. 6).

    A two-layer MLP whose output row ``[Delta_1, ..., Delta_B]`` (``B = max_budget``,
    ``Delta_j = q(j) - q(j - 1)``, ``q(b)`` the expected reward of best-of-b) is
    trained with the squared error summed over budgets (Eq. 6). Each predicted row is
    non-increasing *by construction*, so the greedy allocator of Eq. 5 stays exact, and
    non-negative when the rewards are.

    Parameters
    ----------
    max_budget : int or None, default=None
        Largest budget ``B`` predicted. ``None``: the number of reward samples ``m``
        (``target="rewards"``) or the number of columns (``target="marginal_rewards"``).
    target : {{"rewards", "marginal_rewards"}}, default="rewards"
        How ``fit`` reads ``y`` (stated, never guessed from the shape):
        ``"rewards"``: the (n, m) matrix of raw per-sample rewards (NaN = missing
        sample), turned into marginal rewards by the exact unbiased estimator
        :func:`skadapt.targets.marginal_rewards`; ``"marginal_rewards"``: an already
        computed (n, max_budget) marginal-reward matrix (e.g. bootstrapped).
    nonnegative : bool or "auto", default="auto"
        Constrain predictions to be non-negative. ``"auto"``: when all rewards
        (``target="rewards"``) or all marginal rewards are >= 0.
    {shared}

    Attributes
    ----------
    max_budget_ : int
        Number of predicted budgets.
    nonnegative_ : bool
        Whether predictions are constrained to be non-negative.
    target_scale_ : float
        Root mean square of the training targets; the network is trained on targets
        divided by it, and ``loss_curve_``, ``tol`` and the validation scores are in
        those units.
    mean_marginal_rewards_ : ndarray of shape (max_budget_,)
        Mean training marginal-reward curve (weighted by ``sample_weight``): the
        constant predictor "Avg." of the paper's Table 1, which
        :func:`skadapt.scoring.loss_skill` scores against.
    marginal_reward_range_ : ndarray of shape (2,)
        Smallest and largest training marginal reward (0 included); predictions
        are clipped to this range (see Notes).
    {attrs}

    See Also
    --------
    SuccessProbClassifier : The binary-reward special case (one probability).
    skadapt.targets.marginal_rewards : The training targets from raw rewards.
    skadapt.GreedyAllocator : Turns predicted marginal rewards into budgets.

    Notes
    -----
    Parameterisation (``z`` the network's B raw outputs): non-negative,
    ``Delta_j = sum_{{k >= j}} softplus(z_k)``; signed, ``Delta_1 = z_1`` and
    ``Delta_j = Delta_{{j-1}} - softplus(z_j)``. With rewards that can be negative only
    ``Delta_1`` (the mean reward) can be negative, and the true curve is then not
    monotone when ``Delta_1 < Delta_2``; since best-of-k allocation depends on rewards
    only up to a shift, shift rewards to be >= 0 before fitting. A 1-D ``y`` is one
    column; :meth:`predict` then returns a 1-D array, like other scikit-learn
    regressors, while :meth:`transform` always returns (n, max_budget).
    :meth:`score` is :math:`R^2` on the marginal-reward targets, variance-weighted
    over budgets (late budgets have tiny variance): one minus the loss of Eq. 6 over
    that of the test data's mean curve, so it ranks models as the training loss does.

    ``sample_weight`` weighs the queries (rows of ``y``): the loss of Eq. 6 becomes
    their weighted mean; a weight of 0 removes the query.

    Predictions are clipped to ``marginal_reward_range_``, the range of the training
    marginal rewards: a ReLU network grows linearly far from its training data, so
    features of very large magnitude (1e39, clipped to 1e6 standard deviations like
    the classifier's) would otherwise predict marginal rewards of 1e5 where the
    rewards lie in [0, 1]. Clipping keeps each row non-increasing.

    **Scoring.** With ``target="rewards"``, ``y`` holds raw rewards while
    :meth:`predict` returns marginal rewards, so scikit-learn's regression scorers
    (``"r2"``, ``"neg_mean_squared_error"``, ...) would compare the two; when
    ``max_budget`` equals the number of samples the shapes even match and the score is
    silently meaningless (scikit-learn's scorers see only ``predict``, so the
    estimator cannot stop them). Use the default ``scoring=None`` (:meth:`score`) or
    :func:`skadapt.scoring.get_scorer` with ``"marginal_reward_r2"``,
    ``"neg_marginal_reward_mse"`` or ``"loss_skill"``, which read ``y`` as ``target``
    says. With ``target="marginal_rewards"`` the standard scorers are meaningful.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt import MarginalRewardRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4))
    >>> lam = 1 / (1 + np.exp(-2 * X[:, 0]))
    >>> R = (rng.random((300, 8)) < lam[:, None]).astype(float)  # 8 samples per query
    >>> reg = MarginalRewardRegressor(4, hidden_layer_sizes=(16,), max_iter=100,
    ...                               random_state=0).fit(X, R)
    >>> delta = reg.predict(X)
    >>> delta.shape
    (300, 4)
    >>> bool((np.diff(delta, axis=1) <= 0).all() and (delta >= 0).all())
    True
    """

    _parameter_constraints: dict = {
        **_BaseMLPProbe._parameter_constraints,
        "max_budget": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "target": [StrOptions({"rewards", "marginal_rewards"})],
        "nonnegative": ["boolean", StrOptions({"auto"})],
    }

    def __init__(
        self,
        max_budget=None,
        *,
        target="rewards",
        nonnegative="auto",
        hidden_layer_sizes=(256,),
        activation="relu",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter=200,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        standardize=True,
        streaming=False,
        cv=5,
        cross_fit=True,
        device="auto",
        random_state=None,
        verbose=False,
    ):
        self.max_budget = max_budget
        self.target = target
        self.nonnegative = nonnegative
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.standardize = standardize
        self.streaming = streaming
        self.cv = cv
        self.cross_fit = cross_fit
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _make_head(self):
        return MarginalRewardHead(self.max_budget_, self.nonnegative_)

    def _fit_targets(self, X, y, sample_weight):
        targets, budget = marginal_reward_targets(
            y, target=self.target, max_budget=self.max_budget
        )
        if self.nonnegative == "auto":
            observed = y[~np.isnan(y)] if self.target == "rewards" else targets
            nonnegative = bool(observed.size == 0 or observed.min() >= 0)
        else:
            nonnegative = bool(self.nonnegative)
        rows = np.arange(len(targets))
        weight = None
        if sample_weight is not None:
            # a weight of 0 removes the query; constant weights change nothing
            rows = np.flatnonzero(sample_weight > 0)
            if rows.size == 0:
                raise ValueError(
                    "Every sample weight is zero: there is nothing to fit (a weight of 0 "
                    "removes the sample).")
            if not np.all(sample_weight[rows] == sample_weight[rows[0]]):
                weight = sample_weight[rows]
        targets = targets[rows]
        scale = float(np.sqrt(np.mean(targets**2) if weight is None else np.average(
            np.mean(targets**2, axis=1), weights=weight)))
        self.max_budget_ = budget
        self.nonnegative_ = nonnegative
        self.target_scale_ = scale if np.isfinite(scale) and scale > 0 else 1.0
        self.mean_marginal_rewards_ = np.average(targets, axis=0, weights=weight)
        self.marginal_reward_range_ = np.array(
            [min(float(targets.min()), 0.0), max(float(targets.max()), 0.0)])
        self._y_1d = np.ndim(y) == 1
        return rows, targets / self.target_scale_, weight, None

    def transform(self, X):
        """Predicted marginal rewards, one column per budget.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        marginal_rewards : ndarray of shape (n_samples, max_budget_)
            Row ``i`` is ``[Delta_i1, ..., Delta_iB]``, non-increasing, within
            ``marginal_reward_range_``.
        """
        out = self._predict_head(X) * self.target_scale_
        bounds = getattr(self, "marginal_reward_range_", None)  # None: pickled before it existed
        if bounds is not None:
            # far from the training data the network extrapolates linearly (see Notes)
            np.clip(out, bounds[0], bounds[1], out=out)
        return out

    def predict(self, X):
        """Predicted marginal rewards (1-D when fitted on a 1-D ``y``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        marginal_rewards : ndarray of shape (n_samples, max_budget_) or (n_samples,)
            Row ``i`` is ``[Delta_i1, ..., Delta_iB]``, non-increasing.
        """
        out = self.transform(X)
        return out[:, 0] if self._y_1d else out

    def get_feature_names_out(self, input_features=None):
        """Output feature names ``marginal_reward_1 .. marginal_reward_{max_budget_}``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names, only checked against ``feature_names_in_`` and
            ``n_features_in_`` (a ``ValueError`` when they differ).

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per budget.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        return np.asarray(
            [f"marginal_reward_{j}" for j in range(1, self.max_budget_ + 1)], dtype=object
        )

    def score(self, X, y, sample_weight=None):
        """:math:`R^2` of the predicted marginal rewards, variance-weighted over budgets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.
        y : array-like
            Rewards or marginal rewards, as in :meth:`fit` (read with ``target``).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Coefficient of determination.
        """
        check_is_fitted(self)
        targets, _ = marginal_reward_targets(
            np.asarray(y, dtype=np.float64), target=self.target, max_budget=self.max_budget_
        )
        return r2_score(
            targets, self.transform(X), sample_weight=sample_weight,
            multioutput="variance_weighted",
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# SuccessProbClassifier's defaults were tuned by grouped cross-validation
# (benchmarks/RESULTS.md, "Shift"): a smaller, more regularised MLP with early stopping
_SUCCESS_PARAMS_DOC = (_SHARED_PARAMS_DOC
                       .replace("hidden_layer_sizes : array-like of int, default=(256,)",
                                "hidden_layer_sizes : array-like of int, default=(64,)")
                       .replace("alpha : float, default=1e-4", "alpha : float, default=1e-3")
                       .replace("early_stopping : bool, default=False",
                                "early_stopping : bool, default=True"))
SuccessProbClassifier.__doc__ = SuccessProbClassifier.__doc__.format(
    shared=_SUCCESS_PARAMS_DOC.strip("\n").lstrip(), attrs=_SHARED_ATTRS_DOC.strip("\n").lstrip()
)
MarginalRewardRegressor.__doc__ = MarginalRewardRegressor.__doc__.format(
    shared=_SHARED_PARAMS_DOC.strip("\n").lstrip(), attrs=_SHARED_ATTRS_DOC.strip("\n").lstrip()
)
