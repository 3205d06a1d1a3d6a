"""The MLP probe shared by :class:`~skadapt.SuccessProbClassifier` and
:class:`~skadapt.MarginalRewardRegressor`: parameters, standardization of the
features (read in chunks, or streamed from a memory map), the fit that trains the
network and the batched prediction of its head (not public).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_consistent_length

from ._compat import (
    Interval,
    StrOptions,
    _check_sample_weight,
    _fit_context,
    check_is_fitted,
    validate_data,
)
from ._cross_fit import CrossFitTransformMixin
from ._devices import resolve_device
from ._networks import ProbeNetwork, build_mlp
from ._torch_state import TorchModuleStateMixin
from ._training import make_generator, predict_batches, torch_seed, train_module
from ._validation import naming_non_numeric, reject_complex
from ._versioning import VersionedPickleMixin

_PREDICT_BATCH = 8192
# Largest |standardized feature| the network sees (see _standardized).
_Z_LIMIT = 1e6

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
