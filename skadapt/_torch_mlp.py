"""Shared torch machinery for skadapt's neural probes.

One place for what every torch-backed probe needs: the MLP body, the output heads and
their losses (Eq. 6 and Eq. 7 of Damani et al., 2025), the derivation of training
targets from raw sample outcomes, the mini-batch training loop (Adam, L2, early
stopping, progress bar), seeds, devices, pickling and cross-fitted ``fit_transform``.
:mod:`skadapt.probes` (MLP on numeric features) and :mod:`skadapt.lora` (LoRA on a
language model) both build on it; neither keeps a copy.

API
---
Targets (numpy in, numpy out; ``ValueError`` naming the problem on bad input)
    ``success_prob_targets(y) -> (n,)``: soft labels in [0, 1] from a 1-D vector of
    soft labels or an (n, m) 0/1 outcome matrix (NaN = missing sample).
    ``marginal_reward_targets(y, *, target, max_budget) -> ((n, B), B)``: marginal
    rewards from raw per-sample rewards (``target="rewards"``) or a given matrix
    (``target="marginal_rewards"``).
    ``success_count_targets(y) -> (n, 2)``: ``[successes, samples]`` per query from an
    (n, m) outcome matrix (or 1-D hard 0/1 labels, one sample each), for the
    beta-binomial head.

Heads (``nn.Module`` without parameters, applied to the body's raw outputs)
    ``SuccessProbHead()``: 1 raw output -> logit; ``loss`` = soft-label cross-entropy
    (Eq. 7); ``predict`` = sigmoid.
    ``BetaBinomialHead()``: 2 raw outputs -> ``[logit(mean), log(concentration)]`` of a
    Beta distribution of the success probability; ``loss`` = beta-binomial negative
    log-likelihood of the success counts per observed sample; ``predict`` =
    ``[mean, concentration]``.
    ``MarginalRewardHead(max_budget, nonnegative)``: B raw outputs -> a row of B marginal
    rewards that is non-increasing by construction (and non-negative when asked);
    ``loss`` = squared error summed over budgets, averaged over queries (Eq. 6).
    Each head has ``n_outputs``, ``initial_bias(targets, weight=None)`` (bias of the
    final linear layer that makes an untrained network predict the average target) and
    ``predict(out)``; ``loss(out, target, weight=None)`` takes optional per-row weights
    and is then their weighted mean (per observed sample for the beta-binomial head).

Modules
    ``build_mlp(n_features, hidden_layer_sizes, n_outputs, *, activation, generator)``
    -> ``nn.Sequential`` initialised from ``generator`` (global RNG untouched).
    ``ProbeNetwork(body, head)``: ``forward(*inputs) = head(body(*inputs))``. Any body
    works, for instance a language model with a pooled linear layer on top.

Training
    ``train_module(module, *, n_samples, get_batch, compute_loss, ...)`` trains any
    ``nn.Module``: ``get_batch(indices)`` turns a CPU ``LongTensor`` of sample indices
    into a batch on the device (tensors, dicts of token ids, ...), and
    ``compute_loss(module, batch)`` returns the mean loss of that batch. Returns a
    :class:`TrainingResult` (``loss_curve``, ``validation_scores``, ``n_iter``, ...).
    ``predict_batches(module, *, n_samples, get_batch, forward, batch_size)`` -> numpy
    float64, under ``torch.inference_mode``.

Seeds and devices
    ``torch_seed(random_state) -> int`` (drawn with ``check_random_state``),
    ``make_generator(seed) -> torch.Generator`` (CPU), ``isolated_rng(seed, device)``
    (context manager for third-party modules that initialise from the global RNG: the
    global state is restored on exit), ``resolve_device(device) -> torch.device``
    (``"auto"``: CUDA when available, else CPU), ``device_available(device)``.

Estimator mixins
    ``TorchModuleStateMixin``: pickles the modules named in ``_torch_module_attrs`` as
    CPU state dicts and rebuilds them with ``self._build_module(name)`` on unpickling,
    on the saved device when it exists, else on CPU with a :class:`DeviceWarning`.
    ``CrossFitTransformMixin``: ``fit_transform(X, y)`` returns out-of-fold
    ``transform`` outputs over ``self.cv`` and leaves the estimator fitted on all data.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.base import TransformerMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, check_cv
from sklearn.utils import check_random_state
from torch import nn
from torch.nn import functional as F

from ._compat import _fit_context, _num_samples, _safe_indexing

__all__ = [
    "BetaBinomialHead",
    "CrossFitTransformMixin",
    "DeviceWarning",
    "MarginalRewardHead",
    "ProbeNetwork",
    "SuccessProbHead",
    "TorchModuleStateMixin",
    "TrainingResult",
    "build_mlp",
    "device_available",
    "isolated_rng",
    "make_generator",
    "marginal_reward_targets",
    "predict_batches",
    "resolve_device",
    "success_count_targets",
    "success_prob_targets",
    "torch_seed",
    "train_module",
]


class DeviceWarning(UserWarning):
    """A pickled probe was saved on a device that this machine does not have."""


# ---------------------------------------------------------------- seeds and devices
def torch_seed(random_state) -> int:
    """Draw a torch seed from ``random_state`` (None, int or RandomState)."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``: all randomness of a fit draws from it."""
    generator = torch.Generator(device="cpu")
    generator.manual_seed(int(seed))
    return generator


@contextlib.contextmanager
def isolated_rng(seed: int, device=None):
    """Seed torch's global RNG inside the block and restore its state afterwards.

    For modules built by third-party code (e.g. peft's LoRA layers) that initialise
    from the global RNG. Not thread-safe: prefer explicit generators where possible.
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


def device_available(device) -> bool:
    """Whether ``device`` (str or torch.device) exists on this machine."""
    device = torch.device(device)
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        return device.index is None or device.index < torch.cuda.device_count()
    backend = getattr(torch, device.type, None) or getattr(torch.backends, device.type, None)
    is_available = getattr(backend, "is_available", None)
    return bool(is_available()) if callable(is_available) else False


def resolve_device(device) -> torch.device:
    """Resolve the ``device`` parameter: ``"auto"`` is CUDA when available, else CPU."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a valid torch device: {exc}") from None
    if not device_available(resolved):
        raise ValueError(
            f"device={device!r} was requested but is not available on this machine; "
            "use device='auto' or 'cpu'."
        )
    return resolved


# --------------------------------------------------------------------------- targets
def _raw_matrix_rows_missing(y):
    missing = np.isnan(y).all(axis=1)
    if missing.any():
        rows = np.flatnonzero(missing)
        raise ValueError(
            f"y has {missing.sum()} row(s) with no observed sample (all NaN), e.g. rows "
            f"{rows[:5].tolist()}; every query needs at least one observed outcome."
        )


def success_prob_targets(y) -> np.ndarray:
    """Soft labels for Eq. 7 from soft labels or an (n, m) outcome matrix.

    ``y`` 1-D: soft labels in [0, 1] (success rates, or preference probabilities of the
    strong over the weak decoder for routing, Eq. 8), used as they are. ``y`` 2-D:
    sample outcomes in [0, 1] (normally 0/1) with NaN for a missing sample; the
    target is :func:`skadapt.targets.success_rate`. Told apart by ``y.ndim`` alone.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        if not np.isfinite(y).all():
            raise ValueError(
                "y contains NaN or infinity; soft labels must be finite (NaN marks a "
                "missing sample only in an (n, m) outcome matrix)."
            )
        if y.size and (y.min() < 0 or y.max() > 1):
            from sklearn.utils.multiclass import type_of_target

            raise ValueError(
                "Only binary classification is supported. y must hold soft labels in "
                "[0, 1] (success or preference probabilities) or be an (n, m) matrix of "
                f"0/1 outcomes; got a {type_of_target(y)} target with values in "
                f"[{y.min():g}, {y.max():g}]."
            )
        return y
    if y.ndim == 2:
        if np.isinf(y).any():
            raise ValueError("y contains infinity; an outcome matrix holds 0/1 or NaN.")
        observed = y[~np.isnan(y)]
        if observed.size and (observed.min() < 0 or observed.max() > 1):
            raise ValueError(
                "y as an (n, m) outcome matrix must hold outcomes in [0, 1] (0/1, NaN = "
                f"missing); got values in [{observed.min():g}, {observed.max():g}]."
            )
        _raw_matrix_rows_missing(y)
        from .targets import success_rate

        return np.asarray(success_rate(y), dtype=np.float64)
    raise ValueError(
        "y must be a 1-D vector of soft labels or an (n, m) outcome matrix; got an array "
        f"with shape {y.shape}."
    )


def success_count_targets(y) -> np.ndarray:
    """``[successes, samples]`` per query for the beta-binomial head.

    ``y`` 2-D: the (n, m) outcome matrix in [0, 1] (NaN = missing sample); a row's
    successes are the sum of its observed outcomes (fractional outcomes count
    fractionally) and its samples the number of observed ones. ``y`` 1-D: hard 0/1
    labels only, read as one sample per query (a column vector, as for
    :func:`success_prob_targets`). Success *rates* do not say how many samples they
    come from, and the beta-binomial likelihood needs that number, so a 1-D ``y`` with
    values strictly between 0 and 1 raises ``ValueError``.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        success_prob_targets(y)  # same checks and messages as the point head
        if not np.all((y == 0) | (y == 1)):
            raise ValueError(
                "head='beta' fits the number of successes out of the number of samples of "
                "each query, which success rates do not tell: pass the (n, m) outcome matrix "
                "(0/1, NaN = missing sample) instead of a 1-D vector of rates (a 1-D y may "
                "only hold hard 0/1 labels, read as one sample per query)."
            )
        y = y[:, None]
    success_prob_targets(y)  # validates the outcome matrix
    observed = ~np.isnan(y)
    return np.column_stack([np.where(observed, y, 0.0).sum(axis=1), observed.sum(axis=1)])


def marginal_reward_targets(y, *, target: str, max_budget=None):
    """Marginal-reward targets for Eq. 6 and the budget they span.

    ``target="rewards"``: ``y`` is the (n, m) matrix of raw per-sample rewards (NaN =
    missing sample; a 1-D ``y`` is one sample per query) and the targets are
    :func:`skadapt.targets.marginal_rewards` up to ``max_budget`` (default m).
    ``target="marginal_rewards"``: ``y`` already is the (n, B) marginal-reward matrix
    (1-D: B = 1) and must be finite; ``max_budget``, when given, must equal B.

    Returns ``(targets, max_budget)`` with ``targets`` of shape (n, max_budget).
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(
            f"y must be a 1-D or 2-D array for target={target!r}; got shape {y.shape}."
        )
    if target == "marginal_rewards":
        if not np.isfinite(y).all():
            raise ValueError(
                "y contains NaN or infinity; with target='marginal_rewards' every "
                "marginal reward must be given (NaN is allowed only with target='rewards')."
            )
        if max_budget is not None and max_budget != y.shape[1]:
            raise ValueError(
                f"max_budget={max_budget} but y has {y.shape[1]} marginal-reward columns; "
                "with target='marginal_rewards' they must agree (or leave max_budget=None)."
            )
        return y, y.shape[1]
    if target != "rewards":
        raise ValueError(f"target must be 'rewards' or 'marginal_rewards'; got {target!r}.")
    if np.isinf(y).any():
        raise ValueError("y contains infinity; rewards must be finite (NaN = missing sample).")
    _raw_matrix_rows_missing(y)
    budget = y.shape[1] if max_budget is None else int(max_budget)
    from .targets import marginal_rewards

    targets = np.asarray(marginal_rewards(y, budget), dtype=np.float64)
    return targets, budget


# ---------------------------------------------------------------------------- heads
def _inverse_softplus(value: torch.Tensor) -> torch.Tensor:
    return value + torch.log(-torch.expm1(-value))


def _weighted_mean(values, weight):
    """Mean over the first axis, weighted by ``weight`` (None: unweighted)."""
    if weight is None:
        return values.mean(0)
    weight = torch.as_tensor(weight, dtype=torch.float64).reshape(-1, *([1] * (values.ndim - 1)))
    return (weight * values).sum(0) / weight.sum()


class SuccessProbHead(nn.Module):
    """Binary-reward head: one logit, soft-label cross-entropy (Eq. 7)."""

    n_outputs = 1

    def forward(self, raw):
        return raw[..., 0]

    def loss(self, out, target, weight=None):
        # Eq. 7 negated, so that minimising it maximises the soft-label log-likelihood;
        # with weights, their weighted mean (MLPClassifier's convention).
        if weight is None:
            return F.binary_cross_entropy_with_logits(out, target)
        losses = F.binary_cross_entropy_with_logits(out, target, reduction="none")
        return (weight * losses).sum() / weight.sum()

    def predict(self, out):
        return torch.sigmoid(out)

    def initial_bias(self, targets, weight=None):
        mean = _weighted_mean(torch.as_tensor(targets, dtype=torch.float64), weight)
        mean = float(mean.clamp(1e-3, 1 - 1e-3))
        return torch.tensor([math.log(mean / (1 - mean))])


class BetaBinomialHead(nn.Module):
    """Beta-binomial head: a distribution of the success probability, not a point.

    The two raw outputs ``z`` parameterise ``lam ~ Beta(mean * c, (1 - mean) * c)``
    with ``mean = sigmoid(z_0)`` and ``log c = log(C_MIN) + log(C_MAX / C_MIN) *
    sigmoid(z_1)``, so the concentration ``c`` stays in ``[C_MIN, C_MAX]``: from nearly
    all-or-nothing to curves whose best-of-b success is within 0.002 of the plug-in one
    for every mean and every b <= 100. The
    observed ``k`` successes of ``m`` samples of a query are beta-binomial, and the loss
    is their negative log-likelihood

        -log C(m, k) - betaln(k + a, m - k + b) + betaln(a, b),

    summed over the batch and divided by its number of samples (so that it is per
    sample, on the scale of the cross-entropy of Eq. 7, and its minimiser is the
    maximum-likelihood estimate). It is evaluated in float64: at large concentrations
    the log-gamma terms are large and nearly cancel. The targets are
    ``[successes, samples]`` rows (:func:`success_count_targets`); ``forward`` returns
    ``[logit(mean), log(c)]`` and ``predict`` ``[mean, c]``.
    """

    n_outputs = 2
    C_MIN = 1e-2
    C_MAX = 1e4

    def _log_concentration(self, raw):
        low, high = math.log(self.C_MIN), math.log(self.C_MAX)
        return low + (high - low) * torch.sigmoid(raw)

    def forward(self, raw):
        return torch.stack([raw[..., 0], self._log_concentration(raw[..., 1])], dim=-1)

    def loss(self, out, target, weight=None):
        out, target = out.double(), target.double()
        log_c = out[..., 1]
        c = torch.exp(log_c)
        # a and b from log-sigmoids, so that a confident mean never rounds to a = 0.
        a = torch.exp(F.logsigmoid(out[..., 0]) + log_c)
        b = torch.exp(F.logsigmoid(-out[..., 0]) + log_c)
        k, m = target[..., 0], target[..., 1]
        log_lik = (
            torch.lgamma(m + 1) - torch.lgamma(k + 1) - torch.lgamma(m - k + 1)
            + torch.lgamma(k + a) + torch.lgamma(m - k + b) - torch.lgamma(m + c)
            - torch.lgamma(a) - torch.lgamma(b) + torch.lgamma(c)
        )
        if weight is None:
            return -log_lik.sum() / m.sum().clamp(min=1.0)
        # query weights: each of a query's m samples counts w times
        weight = weight.double()
        return -(weight * log_lik).sum() / (weight * m).sum()

    def predict(self, out):
        return torch.stack([torch.sigmoid(out[..., 0]), torch.exp(out[..., 1])], dim=-1)

    def initial_bias(self, targets, weight=None):
        # Start from the population's Beta, fitted by the method of moments: untrained
        # predictions are then the "Avg." baseline with its dispersion. With k_i of m_i,
        # Var(k_i / m_i) = mu (1 - mu) (rho + (1 - rho) / m_i), rho = 1 / (1 + c).
        targets = torch.as_tensor(targets, dtype=torch.float64).reshape(-1, 2)
        rate = targets[:, 0] / targets[:, 1]
        mu = float(rate.mean().clamp(1e-3, 1 - 1e-3))
        inv_m = float((1.0 / targets[:, 1]).mean())
        spread = float(((rate - rate.mean()) ** 2).mean()) / (mu * (1 - mu))
        # One sample per query (inv_m = 1) says nothing about the dispersion: start
        # near the plug-in end, as the point head assumes.
        rho = (spread - inv_m) / (1.0 - inv_m) if inv_m < 1.0 - 1e-9 else 0.0
        c = 1.0 / max(rho, 1e-12) - 1.0
        low, high = math.log(self.C_MIN), math.log(self.C_MAX)
        u = min(max((math.log(max(c, 1e-300)) - low) / (high - low), 0.1), 0.9)
        return torch.tensor([math.log(mu / (1 - mu)), math.log(u / (1 - u))])


class MarginalRewardHead(nn.Module):
    """Marginal-reward head: B raw outputs -> B marginal rewards, non-increasing per row.

    Non-negative (``nonnegative=True``): ``delta_j = sum_{k >= j} softplus(z_k)``, a
    reverse cumulative sum of non-negative increments, hence non-negative and
    non-increasing in ``j``. Signed: ``delta_1 = z_1`` and ``delta_j = delta_{j-1} -
    softplus(z_j)`` for ``j >= 2``. Both hold exactly in floating point (a cumulative
    sum of non-negative numbers never decreases under rounding), so the greedy
    allocator of Eq. 5 stays exact on the predictions. Loss: Eq. 6.
    """

    def __init__(self, max_budget: int, nonnegative: bool):
        super().__init__()
        self.n_outputs = int(max_budget)
        self.nonnegative = bool(nonnegative)

    def forward(self, raw):
        if self.nonnegative:
            return torch.flip(torch.cumsum(torch.flip(F.softplus(raw), (-1,)), -1), (-1,))
        drops = torch.cumsum(F.softplus(raw[..., 1:]), -1)
        return torch.cat([raw[..., :1], raw[..., :1] - drops], dim=-1)

    def loss(self, out, target, weight=None):
        squared = ((out - target) ** 2).sum(dim=-1)
        if weight is None:
            return squared.mean()
        return (weight * squared).sum() / weight.sum()

    def predict(self, out):
        return out

    def initial_bias(self, targets, weight=None):
        # Start from the average curve, made monotone: untrained predictions are then the
        # "Avg." baseline of the paper rather than a curve far from the data's scale.
        mean = _weighted_mean(
            torch.as_tensor(targets, dtype=torch.float64).reshape(-1, self.n_outputs), weight)
        floor = 1e-3
        if self.nonnegative:
            mean = torch.cummin(mean.clamp(min=0), 0).values
            steps = mean - torch.cat([mean[1:], mean.new_zeros(1)])
            return _inverse_softplus(steps.clamp(min=floor))
        first = mean[:1]
        drops = (mean[:-1] - mean[1:]).clamp(min=floor)
        return torch.cat([first, _inverse_softplus(drops)])


# -------------------------------------------------------------------------- modules
_ACTIVATIONS = {"identity": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh, "logistic": nn.Sigmoid}


def build_mlp(n_features, hidden_layer_sizes, n_outputs, *, activation="relu", generator=None):
    """An MLP (``nn.Sequential``) initialised like ``nn.Linear``, from ``generator``.

    Layers are created on the meta device and initialised in place from the given
    generator, so building a network never draws from torch's global RNG.
    """
    sizes = [int(n_features), *(int(h) for h in hidden_layer_sizes), int(n_outputs)]
    generator = make_generator(0) if generator is None else generator
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(fan_in, fan_out, device="meta").to_empty(device="cpu")
        # nn.Linear.reset_parameters, with an explicit generator.
        nn.init.kaiming_uniform_(linear.weight, a=math.sqrt(5), generator=generator)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        nn.init.uniform_(linear.bias, -bound, bound, generator=generator)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class ProbeNetwork(nn.Module):
    """``head(body(*inputs))``; the body ends with a layer of ``head.n_outputs`` units."""

    def __init__(self, body: nn.Module, head: nn.Module):
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, *inputs, **kwargs):
        return self.head(self.body(*inputs, **kwargs))


# ------------------------------------------------------------------------- training
@dataclass
class TrainingResult:
    """What :func:`train_module` learned about the optimisation."""

    loss_curve: list = field(default_factory=list)
    validation_scores: list | None = None
    best_loss: float = math.inf
    best_validation_score: float | None = None
    n_iter: int = 0
    converged: bool = False

    def store(self, estimator, module):
        """Set the fitted attributes of ``estimator`` (MLPRegressor's names).

        ``module_``, ``loss_curve_``, ``n_iter_``, and ``validation_scores_`` /
        ``best_validation_score_`` with early stopping or ``best_loss_`` without.
        """
        estimator.module_ = module
        estimator.loss_curve_ = self.loss_curve
        estimator.n_iter_ = self.n_iter
        # early stopping can be off despite the parameter (too few rows)
        stopped_early = self.validation_scores is not None
        estimator.validation_scores_ = self.validation_scores if stopped_early else None
        estimator.best_validation_score_ = (
            self.best_validation_score if stopped_early else None)
        estimator.best_loss_ = None if stopped_early else self.best_loss


def _trainable(module):
    return [(n, p) for n, p in module.named_parameters() if p.requires_grad]


def _mean_loss(module, indices, get_batch, compute_loss, batch_size):
    total, count = 0.0, 0
    was_training = module.training
    module.eval()
    with torch.no_grad():
        for start in range(0, len(indices), batch_size):
            idx = indices[start : start + batch_size]
            total += float(compute_loss(module, get_batch(idx))) * len(idx)
            count += len(idx)
    module.train(was_training)
    return total / max(count, 1)


def train_module(
    module,
    *,
    n_samples,
    get_batch,
    compute_loss,
    generator,
    batch_size=200,
    max_iter=200,
    learning_rate_init=1e-3,
    alpha=0.0,
    tol=1e-4,
    early_stopping=False,
    validation_fraction=0.1,
    n_iter_no_change=10,
    verbose=False,
    name="probe",
):
    """Train ``module`` with Adam on mini-batches; return a :class:`TrainingResult`.

    Mirrors :class:`~sklearn.neural_network.MLPRegressor` (solver ``"adam"``): L2 of
    strength ``alpha`` divided by the batch size on every trainable matrix (biases
    excluded), shuffled mini-batches drawn from ``generator``, and stopping when the
    training loss (or, with ``early_stopping``, the negative loss on a held-out
    ``validation_fraction``) has not improved by ``tol`` for more than
    ``n_iter_no_change`` consecutive epochs; with early stopping the best weights are
    restored. A :class:`~sklearn.exceptions.ConvergenceWarning` is raised when
    ``max_iter`` epochs end first. ``loss_curve`` holds the mean data loss per epoch
    (without the L2 term).
    """
    permutation = torch.randperm(n_samples, generator=generator)
    if early_stopping:
        n_val = int(round(validation_fraction * n_samples))
        if n_val < 2 or n_samples - n_val < 1:
            # early stopping is on by default: on tiny data, train without it
            warnings.warn(
                f"{name}: the validation set would be too small ({n_val} of {n_samples} "
                "samples) for early stopping; training without it (increase "
                "validation_fraction or the size of the dataset to use it).",
                UserWarning, stacklevel=3)
            early_stopping = False
    if early_stopping:
        val_idx, train_idx = permutation[:n_val], permutation[n_val:]
    else:
        val_idx, train_idx = None, permutation
    n_train = len(train_idx)
    batch_size = max(1, min(int(batch_size), n_train))
    params = _trainable(module)
    if not params:
        raise ValueError("The module has no trainable parameters.")
    decay = [p for _, p in params if p.ndim >= 2]
    no_decay = [p for _, p in params if p.ndim < 2]
    optimizer = torch.optim.Adam(
        [
            {"params": decay, "weight_decay": alpha / batch_size},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=learning_rate_init,
    )
    result = TrainingResult(validation_scores=[] if early_stopping else None)
    best_state, no_improvement = None, 0
    progress = None
    if verbose:
        from tqdm.auto import tqdm

        progress = tqdm(total=max_iter, desc=f"{name} epochs", leave=False)
    module.train()
    try:
        for epoch in range(max_iter):
            order = train_idx[torch.randperm(n_train, generator=generator)]
            running = torch.zeros((), dtype=torch.float64)
            for start in range(0, n_train, batch_size):
                idx = order[start : start + batch_size]
                loss = compute_loss(module, get_batch(idx))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                running += loss.detach().to("cpu", torch.float64) * len(idx)
            epoch_loss = float(running) / n_train
            if not math.isfinite(epoch_loss):
                raise ValueError(
                    f"{name}: the training loss became {epoch_loss} at epoch {epoch + 1}; "
                    "lower learning_rate_init or check the targets."
                )
            result.loss_curve.append(epoch_loss)
            result.n_iter = epoch + 1
            if early_stopping:
                score = -_mean_loss(module, val_idx, get_batch, compute_loss, batch_size)
                result.validation_scores.append(score)
                best = result.best_validation_score
                no_improvement = 0 if best is None or score >= best + tol else no_improvement + 1
                if best is None or score > best:
                    result.best_validation_score = score
                    best_state = {n: p.detach().clone() for n, p in _trainable(module)}
            else:
                no_improvement = (
                    no_improvement + 1 if epoch_loss > result.best_loss - tol else 0
                )
            result.best_loss = min(result.best_loss, epoch_loss)
            if progress is not None:
                postfix = {"loss": f"{epoch_loss:.4g}"}
                if early_stopping:
                    postfix["val_score"] = f"{result.validation_scores[-1]:.4g}"
                progress.set_postfix(postfix)
                progress.update(1)
            if no_improvement > n_iter_no_change:
                result.converged = True
                break
    finally:
        if progress is not None:
            progress.close()
    if best_state is not None:
        with torch.no_grad():
            for n, p in _trainable(module):
                p.copy_(best_state[n])
    module.eval()
    if not result.converged:
        warnings.warn(
            f"{name}: maximum iterations ({max_iter}) reached and the optimization hasn't "
            "converged yet.",
            ConvergenceWarning,
        )
    return result


def predict_batches(module, *, n_samples, get_batch, forward, batch_size=4096):
    """Apply ``forward(module, batch)`` to all samples in batches; numpy float64."""
    outputs = []
    was_training = module.training
    module.eval()
    with torch.inference_mode():
        for start in range(0, n_samples, batch_size):
            idx = torch.arange(start, min(start + batch_size, n_samples))
            outputs.append(forward(module, get_batch(idx)).to("cpu", torch.float64).numpy())
    module.train(was_training)
    if not outputs:
        raise ValueError("No samples to predict.")
    return np.concatenate(outputs, axis=0)


# ------------------------------------------------------------------ estimator mixins
class TorchModuleStateMixin:
    """Pickle torch modules as CPU state dicts; rebuild them on unpickling (skorch-style).

    Subclasses list their fitted module attributes in ``_torch_module_attrs`` and
    implement ``_build_module(name)``, which rebuilds the architecture from the fitted
    attributes. Override ``_module_state(name, module)`` to save less (for instance only
    the LoRA weights) and ``_load_module_state(name, module, state)`` accordingly.
    """

    _torch_module_attrs = ("module_",)

    def _build_module(self, name):  # pragma: no cover - abstract
        raise NotImplementedError

    def _module_state(self, name, module):
        return {k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()}

    def _load_module_state(self, name, module, state):
        module.load_state_dict(state)

    def __getstate__(self):
        state = super().__getstate__()
        if state is self.__dict__:
            state = state.copy()
        modules = {}
        for name in self._torch_module_attrs:
            if name in state:
                modules[name] = self._module_state(name, state.pop(name))
        if modules:
            state["_torch_state"] = {"modules": modules, "device": str(getattr(self, "device_", "cpu"))}
        return state

    def __setstate__(self, state):
        torch_state = state.pop("_torch_state", None)
        super().__setstate__(state)
        if torch_state is None:
            return
        device = torch_state["device"]
        if not device_available(device):
            warnings.warn(
                f"{type(self).__name__} was fitted on device {device!r}, which is not "
                "available here; its modules are loaded on 'cpu' (device_ is set to 'cpu').",
                DeviceWarning,
            )
            device = "cpu"
        self.device_ = str(device)
        for name, module_state in torch_state["modules"].items():
            module = self._build_module(name)
            self._load_module_state(name, module, module_state)
            setattr(self, name, module.to(device).eval())


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
    """

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
            For each sample, the prediction of a model that did not see it.
        """
        X, y = _indexable(X), _indexable(y)
        splits = self._cross_fit_splits(X, y)
        weights = {} if sample_weight is None else {"sample_weight": _indexable(sample_weight)}
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
