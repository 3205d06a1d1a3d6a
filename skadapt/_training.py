"""The training loop of skadapt's torch probes, and the seeds it draws from.

``train_module(module, *, n_samples, get_batch, compute_loss, ...)`` trains any
``nn.Module`` with Adam on shuffled mini-batches, as
:class:`~sklearn.neural_network.MLPRegressor` does (L2 ``alpha``, ``tol``,
``n_iter_no_change``, early stopping on a validation fraction, progress bar with
``verbose``): ``get_batch(indices)`` turns a CPU ``LongTensor`` of sample indices into
a batch on the device (tensors, dicts of token ids, ...), and ``compute_loss(module,
batch)`` returns the mean loss of that batch. It returns a :class:`TrainingResult`
(``loss_curve``, ``validation_scores``, ``n_iter``, ...) whose ``store`` sets the
estimator's fitted attributes. ``predict_batches(module, *, n_samples, get_batch,
forward, batch_size)`` applies a fitted module in batches (numpy float64, under
``torch.inference_mode``).

Seeds: ``torch_seed(random_state) -> int`` (drawn with ``check_random_state``),
``make_generator(seed) -> torch.Generator`` (CPU; all randomness of a fit draws from
it) and ``isolated_rng(seed, device)`` (a context manager for third-party modules that
initialise from the global RNG: the global state is restored on exit).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

__all__ = [
    "TrainingResult",
    "isolated_rng",
    "make_generator",
    "predict_batches",
    "torch_seed",
    "train_module",
]


# --------------------------------------------------------------------------- seeds
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
