"""LoRA probe: fine-tune the language model itself to predict marginal rewards.

The paper's second parameterisation of the marginal-reward predictor (section
3.1): parameter-efficient fine-tuning of the base LM with LoRA (Hu et al., 2022)
plus a small head on the pooled hidden state of the query prompt. It is the
variant the paper uses for its Math and GSM8K experiments.

:class:`LoRAProbe` takes raw query strings, like
:class:`~skadapt.HiddenStateFeaturizer` followed by an MLP probe, and has the same
targets, losses and outputs as :class:`~skadapt.SuccessProbClassifier`
(``kind="success_prob"``, soft-label cross-entropy, Eq. 7) or
:class:`~skadapt.MarginalRewardRegressor` (``kind="marginal"``, squared error,
Eq. 6, with the same monotone head). Training and seeds come from
:mod:`skadapt._training`, heads from :mod:`skadapt._heads`, devices from
:mod:`skadapt._devices`, pickling from :mod:`skadapt._torch_state` and cross-fitting
from :mod:`skadapt._cross_fit`; the forward pass and pooling from
:mod:`skadapt.featurizer`.
"""

from __future__ import annotations

import copy
import json
import numbers
import os
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import ClassifierTags, RegressorTags
from torch import nn

from ._compat import Interval, StrOptions, _fit_context, check_is_fitted
from ._lm import SMOLLM2_ALIAS, load_lm
from ._cross_fit import CrossFitTransformMixin
from ._devices import resolve_device
from ._heads import (
    MarginalRewardHead,
    SuccessProbHead,
    marginal_reward_targets,
    success_prob_targets,
)
from ._networks import ProbeNetwork, build_mlp
from ._torch_state import TorchModuleStateMixin
from ._training import (
    isolated_rng,
    make_generator,
    predict_batches,
    torch_seed,
    train_module,
)
from ._validation import as_float_array
from ._versioning import VersionedPickleMixin
from .featurizer import (
    check_queries,
    check_query_feature_names,
    encode_queries,
    length_sorted_batches,
    model_max_length,
    n_layers_of,
    pad_batch,
    pooled_hidden_states,
    resolve_layer,
)

__all__ = ["LoRAProbe"]

_SAVE_FORMAT = "skadapt-lora-probe-v1"


class _LoRABody(nn.Module):
    """LM with LoRA adapters -> pooled hidden state -> standardization -> MLP."""

    def __init__(self, lm, mlp, *, layer, pooling, n_features):
        super().__init__()
        self.lm = lm  # a peft.PeftModel
        self.mlp = mlp
        self.layer = layer
        self.pooling = pooling
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_scale", torch.ones(n_features))

    def pooled(self, input_ids, attention_mask):
        return pooled_hidden_states(
            self.lm.get_base_model(), input_ids, attention_mask,
            layer=self.layer, pooling=self.pooling,
        ).float()

    def forward(self, input_ids, attention_mask):
        h = self.pooled(input_ids, attention_mask)
        return self.mlp((h - self.feature_mean) / self.feature_scale)



def shared_weights_copy(model):
    """A copy of ``model``'s module tree whose tensors are ``model``'s own.

    ``copy.deepcopy`` with every parameter and buffer pre-entered in its memo:
    the modules (and so anything injected into them, such as LoRA layers) are
    new, the weights are not copied.
    """
    import itertools

    memo = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    return copy.deepcopy(model, memo)

class LoRAProbe(VersionedPickleMixin, TorchModuleStateMixin, CrossFitTransformMixin,
                BaseEstimator):
    """Marginal-reward predictor that fine-tunes the LM with LoRA (section 3.1).

    The LM reads the query's prompt (its chat template, as
    :class:`~skadapt.HiddenStateFeaturizer` does); LoRA adapters on its attention
    projections and a small head on the pooled hidden state are trained jointly,
    the base weights stay frozen. Targets, losses and outputs are those of
    :class:`~skadapt.SuccessProbClassifier` (``kind="success_prob"``) or
    :class:`~skadapt.MarginalRewardRegressor` (``kind="marginal"``), so a
    ``LoRAProbe`` takes the place of ``HiddenStateFeaturizer`` + MLP probe in a
    pipeline, before an allocator with the same ``kind``.

    Parameters
    ----------
    model : str or path-like, default="smollm2"
        A Hugging Face model name, a local folder, or ``"smollm2"``. Each fitted
        probe holds its own copy of the base model (LoRA layers are injected in
        place, and the copy loaded by :func:`skadapt._lm.load_lm` is shared with
        other estimators), but pickles and :meth:`save` hold only the adapter and
        the head.
    gguf_file : str, default=None
        GGUF file inside the ``model`` folder.
    revision : str, default=None
        Hub revision of a named model.
    kind : {"success_prob", "marginal"}, default="success_prob"
        ``"success_prob"``: predict the success probability of one sample, trained
        with cross-entropy on soft labels (Eq. 7); ``y`` is a vector of soft labels
        or an (n, m) 0/1 outcome matrix. ``"marginal"``: predict the marginal
        rewards ``Delta_1..Delta_B``, squared error (Eq. 6); ``y`` is read
        according to ``target``.
    max_budget : int, default=None
        ``kind="marginal"`` only: largest budget predicted (default: the number of
        reward samples or of marginal-reward columns).
    target : {"rewards", "marginal_rewards"}, default="rewards"
        ``kind="marginal"`` only: ``y`` holds raw per-sample rewards (NaN =
        missing) or precomputed marginal rewards.
    nonnegative : bool or "auto", default="auto"
        ``kind="marginal"`` only: constrain predictions to be non-negative
        (``"auto"``: when the training rewards are).
    layer : int, default=-1
        Hidden state read by the head, as in :class:`~skadapt.HiddenStateFeaturizer`
        (``-1``: last layer after the final norm).
    pooling : {"last", "mean"}, default="last"
        Last prompt token (where the LM starts its answer) or mean over the prompt.
    prompt_template : "chat", str or None, default="chat"
        How a query becomes the prompt the LM answers (see the featurizer).
    max_length : int, default=None
        Longer prompts keep their last ``max_length`` tokens, with a warning.
    r : int, default=8
        LoRA rank.
    lora_alpha : float, default=16
        LoRA scaling numerator (the update is scaled by ``lora_alpha / r``).
    lora_dropout : float, default=0.0
        Dropout on the LoRA input during training.
    target_modules : list of str, str or None, default=None
        Modules that receive adapters; ``None`` uses peft's default for the
        architecture (the query and value projections for Llama and Qwen2).
    hidden_layer_sizes : array-like of int, default=()
        Hidden layers of the head; ``()`` is a linear head on the standardized
        pooled state (the LoRA adapters already adapt the representation).
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Activation of the head's hidden layers.
    alpha : float, default=0.0
        L2 penalty on the weight matrices (adapters and head), divided by the
        batch size.
    batch_size : int, default=16
        Queries per training step.
    learning_rate_init : float, default=2e-4
        Adam learning rate.
    max_iter : int, default=3
        Training epochs (LoRA fine-tuning needs few).
    tol : float, default=1e-4
        Tolerance of the stopping rule (see :class:`~skadapt.SuccessProbClassifier`).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the queries and keep the best epoch.
    validation_fraction : float, default=0.1
        Share of the queries held out for early stopping.
    n_iter_no_change : int, default=10
        Epochs without improvement tolerated before stopping.
    standardize : bool, default=True
        Standardize the pooled state with its mean and scale under the untrained
        model (hidden states have a few dimensions with very large values).
    cv : int, cross-validation splitter or iterable, default=5
        Folds of the cross-fitted :meth:`fit_transform`. Each fold trains its own
        adapters, so ``fit_transform`` costs ``cv + 1`` fine-tunings.
    cross_fit : bool, default=True
        Whether :meth:`fit_transform` is cross-fitted over ``cv`` or returns the
        in-sample predictions of one fine-tuning (enough before
        :class:`~skadapt.GreedyAllocator`; :func:`skadapt.policy.make_policy` sets it
        from the step that follows).
    device : str, default="auto"
        Torch device; ``"auto"`` is CUDA when available, else CPU.
    dtype : str, default=None
        Weight dtype of the base model (``"bfloat16"`` on a GPU); adapters and
        head train in float32.
    random_state : int, RandomState instance or None, default=None
        Seeds adapter and head initialisation, shuffling and the folds.
    verbose : bool or int, default=False
        Progress bars over epochs.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        ``[0, 1]``, with ``kind="success_prob"``.
    max_budget_ : int
        Number of predicted budgets (1 with ``kind="success_prob"``).
    nonnegative_ : bool
        Whether marginal-reward predictions are constrained non-negative.
    target_scale_ : float
        ``kind="marginal"``: root mean square of the training targets (the network
        learns targets divided by it); 1.0 otherwise.
    layer_ : int
        ``layer`` resolved to ``0..n_layers``.
    n_features_hidden_ : int
        Hidden size of the LM.
    lora_config_ : dict
        The peft ``LoraConfig`` used, as a dict.
    module_ : torch.nn.Module
        The network: ``module_.body.lm`` (a ``peft.PeftModel``), the head MLP
        ``module_.body.mlp`` and the output head ``module_.head``.
    device_ : str
        Device of the network.
    loss_curve_ : list of float
        Mean training loss per epoch.
    n_iter_ : int
        Epochs run.
    best_loss_, validation_scores_, best_validation_score_
        As in :class:`~skadapt.SuccessProbClassifier`.

    See Also
    --------
    skadapt.HiddenStateFeaturizer : frozen features for the MLP probes.
    skadapt.SuccessProbClassifier, skadapt.MarginalRewardRegressor : MLP probes.

    Notes
    -----
    Persistence: ``pickle``/``joblib`` and :meth:`save` store the LoRA weights in
    peft's format (``get_peft_model_state_dict``; :meth:`save` writes
    ``adapter_config.json`` and ``adapter_model.safetensors`` with
    ``save_pretrained``), the head and the fitted attributes; never the base
    weights. Loading rebuilds the base model from ``model`` by name.

    Examples
    --------
    >>> from skadapt import LoRAProbe
    >>> queries = ["What is 2 + 2?", "Prove the Riemann hypothesis."]
    >>> R = [[1, 1, 1, 0], [0, 0, 0, 0]]  # 4 samples per query, 1 = correct
    >>> probe = LoRAProbe("smollm2", kind="success_prob", max_iter=1, cv=2)
    >>> probe.fit(queries, R).predict_proba(queries).shape  # doctest: +SKIP
    (2, 2)
    """

    _torch_module_attrs = ("module_",)

    _parameter_constraints: dict = {
        "model": [str, os.PathLike],
        "gguf_file": [str, None],
        "revision": [str, None],
        "kind": [StrOptions({"success_prob", "marginal"})],
        "max_budget": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "target": [StrOptions({"rewards", "marginal_rewards"})],
        "nonnegative": ["boolean", StrOptions({"auto"})],
        "layer": [numbers.Integral],
        "pooling": [StrOptions({"last", "mean"})],
        "prompt_template": [str, None],
        "max_length": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "r": [Interval(numbers.Integral, 1, None, closed="left")],
        "lora_alpha": [Interval(numbers.Real, 0, None, closed="neither")],
        "lora_dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "target_modules": [list, tuple, str, None],
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "standardize": ["boolean"],
        "cv": ["cv_object"],
        "cross_fit": ["boolean"],
        "device": [str, torch.device],
        "dtype": [str, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, model=SMOLLM2_ALIAS, *, gguf_file=None, revision=None,
                 kind="success_prob", max_budget=None, target="rewards",
                 nonnegative="auto", layer=-1, pooling="last", prompt_template="chat",
                 max_length=None, r=8, lora_alpha=16, lora_dropout=0.0,
                 target_modules=None, hidden_layer_sizes=(), activation="relu",
                 alpha=0.0, batch_size=16, learning_rate_init=2e-4, max_iter=3,
                 tol=1e-4, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, standardize=True, cv=5, cross_fit=True,
                 device="auto", dtype=None, random_state=None, verbose=False):
        self.model = model
        self.gguf_file = gguf_file
        self.revision = revision
        self.kind = kind
        self.max_budget = max_budget
        self.target = target
        self.nonnegative = nonnegative
        self.layer = layer
        self.pooling = pooling
        self.prompt_template = prompt_template
        self.max_length = max_length
        self.r = r
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.target_modules = target_modules
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
        self.cv = cv
        self.cross_fit = cross_fit
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ building
    def _shared_lm(self, device):
        return load_lm(self.model, gguf_file=self.gguf_file, revision=self.revision,
                       dtype=self.dtype, device=device)

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
        if any(not isinstance(h, numbers.Integral) or h < 1 for h in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers; got {sizes}.")
        return sizes

    def _make_head(self):
        if self.kind == "success_prob":
            return SuccessProbHead()
        return MarginalRewardHead(self.max_budget_, self.nonnegative_)

    def _build_module(self, name="module_", generator=None, seed=0):
        """LM copy + fresh LoRA adapters + head (weights are loaded or trained after)."""
        from peft import LoraConfig, get_peft_model

        shared, _ = self._shared_lm(getattr(self, "device_", "cpu"))
        # peft injects LoRA layers in place: never into the process-wide shared
        # model. Copy its module tree only; every weight and buffer tensor stays
        # the shared one (frozen), so a fit or a cross-fitting fold costs no copy
        # of the LM.
        base = shared_weights_copy(shared)
        for p in base.parameters():
            p.requires_grad_(False)
        config = LoraConfig(**self.lora_config_)
        with warnings.catch_warnings():
            # GPT-2's Conv1D needs fan_in_fan_out=True; peft says so and sets it
            warnings.filterwarnings("ignore", message=".*fan_in_fan_out.*")
            # peft asks transformers a deprecated question; not the user's concern
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*",
                                    category=FutureWarning)
            with isolated_rng(seed, getattr(self, "device_", "cpu")):
                lm = get_peft_model(base, config)
        # adapters train in float32 even on a bfloat16 base
        for n, p in lm.named_parameters():
            if p.requires_grad:
                p.data = p.data.float()
        head = self._make_head()
        generator = make_generator(seed) if generator is None else generator
        mlp = build_mlp(self.n_features_hidden_, self._hidden_sizes(), head.n_outputs,
                        activation=self.activation, generator=generator)
        body = _LoRABody(lm, mlp, layer=self.layer_, pooling=self.pooling,
                         n_features=self.n_features_hidden_)
        return ProbeNetwork(body, head).to(getattr(self, "device_", "cpu"))

    def _module_state(self, name, module):
        from peft import get_peft_model_state_dict

        adapter = get_peft_model_state_dict(module.body.lm)
        rest = {k: v for k, v in module.state_dict().items() if not k.startswith("body.lm.")}
        return {
            "adapter": {k: v.detach().to("cpu").clone() for k, v in adapter.items()},
            "head": {k: v.detach().to("cpu").clone() for k, v in rest.items()},
        }

    def _load_module_state(self, name, module, state):
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        expected = get_peft_model_state_dict(module.body.lm)
        absent = sorted(set(expected) - set(state["adapter"]))
        if absent:
            raise ValueError(f"the adapter lacks {len(absent)} LoRA tensors the model "
                             f"needs, e.g. {absent[:3]}")
        for k, v in state["adapter"].items():
            if k in expected and tuple(v.shape) != tuple(expected[k].shape):
                raise ValueError(f"adapter tensor {k} has shape {tuple(v.shape)}, the "
                                 f"model needs {tuple(expected[k].shape)}")
        result = set_peft_model_state_dict(module.body.lm, state["adapter"])
        unexpected = getattr(result, "unexpected_keys", None)
        if unexpected:
            raise ValueError(f"adapter weights do not fit the model: {unexpected[:3]}")
        try:
            missing = module.load_state_dict(state["head"], strict=False)
        except RuntimeError as exc:  # shape mismatches
            raise ValueError(f"head weights do not fit: {exc}") from None
        bad = [k for k in missing.missing_keys if not k.startswith("body.lm.")]
        if bad or missing.unexpected_keys:
            raise ValueError(
                f"head weights do not fit: missing {bad[:3]}, unexpected "
                f"{missing.unexpected_keys[:3]}"
            )
        module.eval()

    # ------------------------------------------------------------------ data
    def _encode(self, queries, tokenizer):
        ids, n_truncated = encode_queries(tokenizer, queries, self.prompt_template,
                                          self.max_length_)
        if n_truncated:
            warnings.warn(
                f"{n_truncated} of {len(queries)} prompts are longer than "
                f"max_length={self.max_length_} tokens; their first tokens were "
                f"dropped (the end of the prompt is kept)", UserWarning, stacklevel=3,
            )
        return ids

    def _pad(self, rows):
        input_ids, mask = pad_batch(rows, self.pad_token_id_, "right")
        return input_ids.to(self.device_), mask.to(self.device_)

    def _targets(self, y):
        if self.kind == "success_prob":
            targets = success_prob_targets(y)
            self.classes_ = np.array([0, 1])
            self.max_budget_, self.nonnegative_, self.target_scale_ = 1, True, 1.0
            self._y_1d = True
            return targets
        targets, budget = marginal_reward_targets(y, target=self.target,
                                                  max_budget=self.max_budget)
        y = np.asarray(y, dtype=np.float64)
        if self.nonnegative == "auto":
            observed = y[~np.isnan(y)] if self.target == "rewards" else targets
            nonnegative = bool(observed.size == 0 or observed.min() >= 0)
        else:
            nonnegative = bool(self.nonnegative)
        scale = float(np.sqrt(np.mean(targets ** 2)))
        self.max_budget_ = budget
        self.nonnegative_ = nonnegative
        self.target_scale_ = scale if np.isfinite(scale) and scale > 0 else 1.0
        self._y_1d = y.ndim == 1
        return targets / self.target_scale_

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fine-tune LoRA adapters and the head on query strings.

        Parameters
        ----------
        X : sequence of str of length n
            Query strings (list, 1-D array, pandas Series).
        y : array-like of shape (n,) or (n, m)
            ``kind="success_prob"``: soft labels or an (n, m) 0/1 outcome matrix;
            ``kind="marginal"``: rewards or marginal rewards (see ``target``).

        Returns
        -------
        self : LoRAProbe
        """
        if self.kind == "success_prob" and (
            self.max_budget is not None or self.target != "rewards"
        ):
            raise ValueError(
                "max_budget and target apply to kind='marginal' only; "
                "kind='success_prob' reads y as soft labels or an outcome matrix"
            )
        queries = check_queries(X)
        if y is None:
            raise ValueError("LoRAProbe requires y to be passed, but the target y is None "
                             "(y holds the outcomes or rewards per query)")
        y = as_float_array(y, "y")  # complex or strings: a clear error naming y
        if y.ndim == 0 or len(y) != len(queries):
            raise ValueError(
                f"X has {len(queries)} queries but y has shape {y.shape}; they must "
                f"have the same number of rows"
            )
        targets = self._targets(y)

        device = resolve_device(self.device)
        self.device_ = str(device)
        shared, tokenizer = self._shared_lm(self.device_)
        n_layers = n_layers_of(shared)
        self.layer_ = resolve_layer(self.layer, n_layers)
        config = shared.config.get_text_config() if hasattr(shared.config, "get_text_config") else shared.config
        self.n_features_hidden_ = int(config.hidden_size)
        limit = model_max_length(shared)
        if self.max_length is not None:
            limit = self.max_length if limit is None else min(limit, self.max_length)
        self.max_length_ = limit
        pad = tokenizer.pad_token_id
        self.pad_token_id_ = int(pad if pad is not None else (tokenizer.eos_token_id or 0))
        target_modules = self.target_modules
        if isinstance(target_modules, tuple):
            target_modules = list(target_modules)
        self.lora_config_ = {
            "r": int(self.r), "lora_alpha": float(self.lora_alpha),
            "lora_dropout": float(self.lora_dropout), "target_modules": target_modules,
            "bias": "none",
        }

        seed = torch_seed(self.random_state)
        generator = make_generator(seed)
        module = self._build_module(generator=generator, seed=seed)
        ids = self._encode(queries, tokenizer)

        if self.standardize:
            pooled = self._pooled_features(module, ids)
            mean = pooled.mean(axis=0)
            scale = pooled.std(axis=0)
            scale[scale < 1e-6 * max(1.0, float(np.abs(pooled).max()))] = 1.0
            with torch.no_grad():
                module.body.feature_mean.copy_(torch.from_numpy(mean))
                module.body.feature_scale.copy_(torch.from_numpy(scale))
        with torch.no_grad():
            module.body.mlp[-1].bias.copy_(module.head.initial_bias(targets))

        y_t = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32)).to(self.device_)

        def get_batch(idx):
            input_ids, mask = self._pad([ids[i] for i in idx.tolist()])
            return input_ids, mask, y_t[idx.to(self.device_)]

        def compute_loss(m, batch):
            return m.head.loss(m(batch[0], batch[1]), batch[2])

        result = train_module(
            module, n_samples=len(ids), get_batch=get_batch, compute_loss=compute_loss,
            generator=generator, batch_size=self.batch_size, max_iter=self.max_iter,
            learning_rate_init=self.learning_rate_init, alpha=self.alpha, tol=self.tol,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change, verbose=self.verbose,
            name=type(self).__name__,
        )
        result.store(self, module)
        return self

    # ------------------------------------------------------------------ predict
    def _run(self, module, ids, forward):
        """``forward(module, input_ids, mask)`` over length-sorted batches, input order."""
        batches = length_sorted_batches([len(r) for r in ids], self.batch_size)
        order = np.concatenate(batches)
        sorted_ids = [ids[i] for i in order]
        out = predict_batches(
            module, n_samples=len(ids),
            get_batch=lambda idx: self._pad([sorted_ids[i] for i in idx.tolist()]),
            forward=lambda m, batch: forward(m, *batch),
            batch_size=self.batch_size,
        )
        result = np.empty_like(out)
        result[order] = out
        return result

    def _pooled_features(self, module, ids):
        return self._run(module, ids, lambda m, i, a: m.body.pooled(i, a))

    def _predict_head(self, X):
        check_is_fitted(self, "module_")
        queries = check_queries(X)
        _, tokenizer = self._shared_lm(self.device_)
        ids = self._encode(queries, tokenizer)
        out = self._run(self.module_, ids, lambda m, i, a: m.head.predict(m(i, a)))
        return out if out.ndim == 2 else out[:, None]

    def _check_kind(self, method, kind):
        check_is_fitted(self, "module_")
        if self.kind != kind:
            raise AttributeError(
                f"{method} is available with kind={kind!r} only (this probe has "
                f"kind={self.kind!r})"
            )

    def transform(self, X):
        """Predicted success probability (one column) or marginal rewards.

        Parameters
        ----------
        X : sequence of str of length n
            Query strings.

        Returns
        -------
        out : ndarray of shape (n, 1) or (n, max_budget_)
            ``kind="success_prob"``: ``lam``; ``kind="marginal"``: rows
            ``[Delta_1 .. Delta_B]``, non-increasing.
        """
        out = self._predict_head(X)
        return out * self.target_scale_ if self.kind == "marginal" else out

    def predict_proba(self, X):
        """``[1 - lam, lam]`` per query (``kind="success_prob"``).

        Parameters
        ----------
        X : sequence of str of length n

        Returns
        -------
        proba : ndarray of shape (n, 2)
        """
        self._check_kind("predict_proba", "success_prob")
        lam = self._predict_head(X)[:, 0]
        return np.column_stack([1.0 - lam, lam])

    def predict(self, X):
        """Labels (``kind="success_prob"``: 1 where ``lam > 0.5``) or marginal rewards.

        Parameters
        ----------
        X : sequence of str of length n

        Returns
        -------
        y_pred : ndarray of shape (n,) or (n, max_budget_)
        """
        check_is_fitted(self, "module_")
        if self.kind == "success_prob":
            return self.classes_[(self._predict_head(X)[:, 0] > 0.5).astype(int)]
        out = self.transform(X)
        return out[:, 0] if self._y_1d else out

    def score(self, X, y, sample_weight=None):
        """Accuracy (``kind="success_prob"``) or variance-weighted :math:`R^2`.

        Parameters
        ----------
        X : sequence of str of length n
        y : array-like, as in :meth:`fit`
        sample_weight : array-like of shape (n,), default=None

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "module_")
        y = np.asarray(y, dtype=np.float64)
        if self.kind == "success_prob":
            labels = (success_prob_targets(y) > 0.5).astype(int)
            return accuracy_score(labels, self.predict(X), sample_weight=sample_weight)
        targets, _ = marginal_reward_targets(y, target=self.target,
                                             max_budget=self.max_budget_)
        return r2_score(targets, self.transform(X), sample_weight=sample_weight,
                        multioutput="variance_weighted")

    def get_feature_names_out(self, input_features=None):
        """``["success_prob"]`` or ``marginal_reward_1 .. marginal_reward_B``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            The name of the query column (X is one column of query strings), only
            checked: more than one name is a ``ValueError``.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "module_")
        check_query_feature_names(input_features)
        if self.kind == "success_prob":
            return np.asarray(["success_prob"], dtype=object)
        return np.asarray([f"marginal_reward_{j}" for j in range(1, self.max_budget_ + 1)],
                          dtype=object)

    # ------------------------------------------------------------------ save/load
    def save(self, path):
        """Write the adapter (peft format), the head and the fitted attributes.

        ``path`` becomes a folder with ``adapter_config.json`` and
        ``adapter_model.safetensors`` (peft's ``save_pretrained``, loadable with
        ``PeftModel.from_pretrained`` on the base model), ``head.safetensors`` and
        ``skadapt_probe.json``. No base weights are written, and nothing is
        pickled. :func:`skadapt.persistence.save` is the format shared with the
        other estimators.

        Parameters
        ----------
        path : str or path-like
            Folder to create or overwrite.
        """
        check_is_fitted(self, "module_")
        os.makedirs(path, exist_ok=True)
        self.module_.body.lm.save_pretrained(path)
        state = self._module_state("module_", self.module_)
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state["head"].items()},
                  os.path.join(path, "head.safetensors"))
        fitted = {
            k: v for k, v in self.__dict__.items()
            if k.endswith("_") and not k.startswith("_") and k != "module_"
        }
        fitted["_y_1d"] = self._y_1d
        meta = {"format": _SAVE_FORMAT, "params": self.get_params(deep=False),
                "fitted": _to_json(fitted)}
        with open(os.path.join(path, "skadapt_probe.json"), "w") as fh:
            json.dump(meta, fh, indent=1, default=str)

    @classmethod
    def load(cls, path, *, device=None):
        """Rebuild a probe written by :meth:`save` (the base model is loaded by name).

        Parameters
        ----------
        path : str or path-like
        device : str, default=None
            Where to put the network; default the saved device when available,
            else CPU.

        Returns
        -------
        probe : LoRAProbe
        """
        from safetensors.torch import load_file

        with open(os.path.join(path, "skadapt_probe.json")) as fh:
            meta = json.load(fh)
        if meta.get("format") != _SAVE_FORMAT:
            raise ValueError(f"{path} does not hold a saved LoRAProbe")
        params = meta["params"]
        if isinstance(params.get("hidden_layer_sizes"), list):
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        probe = cls(**params)
        for k, v in meta["fitted"].items():
            setattr(probe, k, np.asarray(v) if k == "classes_" else v)
        from ._devices import device_available

        if device is None:
            device = probe.device_ if device_available(probe.device_) else "cpu"
        probe.device_ = str(device)
        module = probe._build_module()
        adapter = load_file(os.path.join(path, "adapter_model.safetensors"))
        head_file = os.path.join(path, "head.safetensors")
        if os.path.exists(head_file):
            head = load_file(head_file)
        else:  # written by skadapt 0.1: tensors only, never arbitrary objects
            head = torch.load(os.path.join(path, "head.pt"), map_location="cpu",
                              weights_only=True)
        # strict: a missing, unexpected or reshaped tensor is an error naming it
        probe._load_module_state("module_", module, {"adapter": adapter, "head": head})
        probe.module_ = module.to(probe.device_).eval()
        return probe

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier" if self.kind == "success_prob" else "regressor"
        # the tags ClassifierMixin / RegressorMixin would add: LoRAProbe is either,
        # by its kind; a success probability is one binary outcome
        if self.kind == "success_prob":
            tags.classifier_tags = ClassifierTags(multi_class=False)
        else:
            tags.regressor_tags = RegressorTags()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.target_tags.required = True
        tags.target_tags.multi_output = self.kind == "marginal"
        tags.non_deterministic = True  # float reductions of the LM on GPU
        # strings in, float64 predictions out: no input dtype is preserved
        tags.transformer_tags.preserves_dtype = []
        return tags


def _to_json(obj):
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
