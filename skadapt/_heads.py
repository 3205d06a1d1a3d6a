"""Output heads of skadapt's probe networks: their losses and training targets.

A head is an ``nn.Module`` without parameters applied to the raw outputs of the
network's body; each says how many raw outputs it needs (``n_outputs``), how to turn
them into predictions (``predict``), the loss to train them with (``loss(out, target,
weight=None)``, the weighted mean over rows when ``weight`` is given) and the bias of
the body's last layer that makes an untrained network predict the average target
(``initial_bias(targets, weight=None)``). The targets come from the raw sample
outcomes through the function named for them.

``SuccessProbHead()``
    1 raw output -> logit; loss: soft-label cross-entropy (Eq. 7 of Damani et al.,
    2025); prediction: sigmoid. Targets: ``success_prob_targets(y) -> (n,)``, soft labels
    in [0, 1] from a 1-D vector of soft labels or an (n, m) 0/1 outcome matrix (NaN =
    missing sample).
``BetaBinomialHead()``
    2 raw outputs -> ``[logit(mean), log(concentration)]`` of a Beta distribution of
    the success probability; loss: beta-binomial negative log-likelihood per observed
    sample; prediction: ``[mean, concentration]``. Targets: ``success_count_targets(y)
    -> (n, 2)``, ``[successes, samples]`` per query.
``MarginalRewardHead(max_budget, nonnegative)``
    B raw outputs -> a row of B marginal rewards that is non-increasing by construction
    (and non-negative when asked); loss: squared error summed over budgets, averaged over
    queries (Eq. 6). Targets: ``marginal_reward_targets(y, *, target, max_budget) ->
    ((n, B), B)``, from raw per-sample rewards or a given marginal-reward matrix.

The target functions take numpy and return numpy, and raise ``ValueError`` naming the
problem on bad input.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "BetaBinomialHead",
    "MarginalRewardHead",
    "SuccessProbHead",
    "marginal_reward_targets",
    "success_count_targets",
    "success_prob_targets",
]


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
