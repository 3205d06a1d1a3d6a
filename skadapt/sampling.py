"""Sample k responses per query from a causal LM and score them with a verifier.

The method of the paper needs, for each training query, many sampled responses
scored by a verifier: the ``(n, m)`` reward matrix from which
:mod:`skadapt.targets` estimates success probabilities and marginal rewards.
This module produces that matrix.

* :func:`generate_shared` samples ``k`` continuations per prompt with a Hugging
  Face model. Prompts are left-padded and batched across queries; the prompt's
  forward pass runs once per query and its key/value cache is repeated ``k``
  times along the batch, so the ``k`` samples share it instead of recomputing
  it. Decoding is a plain token-by-token loop (temperature, top-p) that keeps only
  the last position's logits and drops finished rows from the batch.
* :func:`sample_and_score` runs it over a query list, scores every sample with a
  verifier (a verifier that raises is recorded as a failure of that sample, reward
  ``NaN``), checkpoints each finished batch of queries to a JSONL file (flushed and
  fsynced) and resumes from it: an interrupted run continues where it stopped,
  without redoing or duplicating finished queries. The checkpoint records the
  run's identity (a content hash of the model's weights, the verifier's name and
  arguments, the sampling settings) and a run with another identity is refused
  (:mod:`skadapt._checkpoint`); all of this is checked before the model loads.
* ``backend="vllm"`` runs the same interface on vLLM (``LLM.generate`` with
  ``SamplingParams(n=k, seed=...)``) when vLLM is installed; engine options
  (tensor parallelism, dtype, maximum length, prefix caching) pass through
  ``backend_options``. Both backends hand their raw token ids to one function,
  :func:`finish_sample`, which applies the stop tokens and stop strings and makes
  the completion, its token count and its log-probabilities: the same tokens give
  the same record whichever backend drew them.

Reproducibility: each query draws its samples from its own ``torch.Generator``
seeded from ``(random_state, query id)``, and queries are grouped into batches by
their position in the query list, so the same call on the same machine and library
versions gives the same samples, and a resumed run gives the samples an
uninterrupted run would have given (up to floating-point differences when a batch
was only partly written before the interruption and is recomputed with fewer
queries).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from . import _checkpoint
from ._validation import InputTypeError

__all__ = [
    "SamplingResult",
    "finish_sample",
    "generate_shared",
    "query_seed",
    "sample_and_score",
]

# Beyond these, a call could only fail later (memory) or overflow torch's int64
# indices; a clear error now is better.
MAX_SAMPLES = 1 << 20
MAX_NEW_TOKENS = 1 << 20


def query_seed(random_state, query_id) -> int:
    """Seed of one query's sampling generator, from the run seed and its id.

    Parameters
    ----------
    random_state : int
        The run's seed.
    query_id : object
        The query's id; its ``str`` is hashed with the seed.

    Returns
    -------
    seed : int
        A non-negative 63-bit integer, the same for the same seed and id in any
        process or order.

    Examples
    --------
    >>> from skadapt.sampling import query_seed
    >>> query_seed(0, "q1") == query_seed(0, "q1") != query_seed(1, "q1")
    True
    """
    # int() would take True as 1 and 1.5 as 1, and name nothing for "x"
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, (int, np.integer)):
        raise InputTypeError(f"random_state must be an integer, got {random_state!r}")
    digest = hashlib.sha256(f"{int(random_state)}:{query_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _stop_token_ids(model, tokenizer):
    ids = set()
    cfg = getattr(model, "generation_config", None)
    for source in (getattr(cfg, "eos_token_id", None),
                   getattr(model.config, "eos_token_id", None),
                   getattr(tokenizer, "eos_token_id", None)):
        if source is None:
            continue
        if isinstance(source, (list, tuple)):
            ids.update(int(i) for i in source)
        else:
            ids.add(int(source))
    return sorted(ids)


def _check_count(name, value, high):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")


def _check_sampling_params(n_samples, max_new_tokens, temperature, top_p):
    _check_count("n_samples", n_samples, MAX_SAMPLES)
    _check_count("max_new_tokens", max_new_tokens, MAX_NEW_TOKENS)
    # a bool is an int to isinstance: top_p=True would sample with top_p=1
    if isinstance(temperature, (bool, np.bool_)) \
            or not isinstance(temperature, (int, float, np.number)) or not (
            temperature >= 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite float >= 0, got {temperature!r}")
    if isinstance(top_p, (bool, np.bool_)) or not isinstance(top_p, (int, float, np.number)) \
            or not (0 < top_p <= 1):
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")


def _check_stop_strings(stop_strings):
    """``stop_strings`` as a list of non-empty strings (or ``None``).

    A single string is one stop string, never split into its characters.
    """
    if stop_strings is None:
        return None
    if isinstance(stop_strings, str):
        stop_strings = [stop_strings]
    elif isinstance(stop_strings, (bytes, dict)) or not hasattr(stop_strings, "__iter__"):
        raise TypeError("stop_strings must be a string or a list of strings, got "
                        f"{type(stop_strings).__name__}")
    stop_strings = list(stop_strings)
    for s in stop_strings:
        if not isinstance(s, str) or not s:
            raise ValueError("stop_strings must hold non-empty strings (an empty "
                             f"one would stop at every token), got {s!r}")
    return stop_strings or None


def _next_token_probs(logits, temperature, top_p):
    """Sampling distribution of the next token: temperature then nucleus (top-p)."""
    import torch

    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        cumulative = torch.cumsum(sorted_probs, dim=-1)
        # keep the smallest prefix whose mass reaches top_p (always the first token)
        drop = (cumulative - sorted_probs) >= top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


_CACHE_ARG = {}


def _cache_arg(model):
    """``"cache"`` (transformers >= 5.24) or the older ``"past_key_values"``."""
    cls = type(model)
    if cls not in _CACHE_ARG:
        import inspect

        params = inspect.signature(model.forward).parameters
        _CACHE_ARG[cls] = "cache" if "cache" in params else "past_key_values"
    return _CACHE_ARG[cls]


def _forward(model, input_ids, attention_mask, position_ids, cache):
    name = _cache_arg(model)
    out = model(
        input_ids=input_ids, attention_mask=attention_mask,
        position_ids=position_ids, use_cache=True, logits_to_keep=1,
        **{name: cache},
    )
    new_cache = getattr(out, name, None)
    return out.logits[:, -1, :], cache if new_cache is None else new_cache


class _BufferedLayer:
    """Key/value cache layer that writes into preallocated room.

    :class:`transformers.DynamicLayer` concatenates at every step, copying the
    whole cache (a fifth of a decoding step on CPU); this layer reserves
    ``extra`` positions once and exposes a view of the filled part.
    """

    @staticmethod
    def make(extra):
        from transformers.cache_utils import DynamicLayer

        class BufferedLayer(DynamicLayer):
            def __init__(self):
                super().__init__()
                self._extra = extra
                self._length = 0

            def _refresh(self):
                self.keys = self._kbuf[:, :, :self._length]
                self.values = self._vbuf[:, :, :self._length]

            def update(self, key_states, value_states, *args, **kwargs):
                if not self.is_initialized:
                    self.lazy_initialization(key_states, value_states)
                    b, h, n, d = key_states.shape
                    cap = n + self._extra
                    self._kbuf = key_states.new_empty((b, h, cap, d))
                    self._vbuf = value_states.new_empty(
                        (b, h, cap, value_states.shape[-1]))
                    self._length = 0
                n = key_states.shape[-2]
                if self._length + n > self._kbuf.shape[2]:
                    grow = max(n, self._extra, 1)
                    self._kbuf = torch_cat_room(self._kbuf, grow)
                    self._vbuf = torch_cat_room(self._vbuf, grow)
                self._kbuf[:, :, self._length:self._length + n] = key_states
                self._vbuf[:, :, self._length:self._length + n] = value_states
                self._length += n
                self._refresh()
                return self.keys, self.values

            def batch_repeat_interleave(self, repeats):
                if self.is_initialized and self._length > 0:
                    self._kbuf = self._kbuf.repeat_interleave(repeats, dim=0)
                    self._vbuf = self._vbuf.repeat_interleave(repeats, dim=0)
                    self._refresh()

            def batch_select_indices(self, indices):
                if self.is_initialized and self._length > 0:
                    self._kbuf = self._kbuf[indices]
                    self._vbuf = self._vbuf[indices]
                    self._refresh()

        return BufferedLayer


def torch_cat_room(buf, grow):
    import torch

    shape = list(buf.shape)
    shape[2] = grow
    return torch.cat([buf, buf.new_empty(shape)], dim=2)


def _new_cache(model, extra):
    from transformers import DynamicCache

    layer_cls = _BufferedLayer.make(extra)
    cache = DynamicCache()
    n_layers = model.config.get_text_config(decoder=True).num_hidden_layers
    cache.layers = [layer_cls() for _ in range(n_layers)]
    return cache


_STOP_TOKENS = {}


def _stop_string_token_ids(tokenizer, stop_strings):
    """Ids of the vocabulary tokens whose text contains one of ``stop_strings``."""
    key = (id(tokenizer), len(tokenizer), tuple(stop_strings))
    if key not in _STOP_TOKENS:
        ids = []
        for tok_id in range(len(tokenizer)):
            text = tokenizer.decode([tok_id])
            if any(s in text for s in stop_strings):
                ids.append(tok_id)
        _STOP_TOKENS[key] = ids
    return _STOP_TOKENS[key]


def finish_sample(token_ids, tokenizer, *, stop_strings=None, stop_token_ids=(),
                  logprobs=None):
    """A sample's completion from its generated token ids: the one shared rule.

    Both backends of :func:`sample_and_score` end a sample here, the same way: at
    the first token that is a stop token (end of sequence) or whose own text
    contains one of ``stop_strings``. That token and everything after it are
    dropped; the completion is the decoded text of the tokens before it (special
    tokens skipped). Stop strings are matched per token, as the HF sampler stops
    (a string split across two tokens is not a stop), and vLLM is given the same
    stopping tokens, so the same token ids give the same record on either backend.

    Parameters
    ----------
    token_ids : sequence of int
        Generated token ids, as a backend returned them (the stopping token may
        or may not be among them).
    tokenizer : transformers tokenizer
    stop_strings : list of str, default=None
    stop_token_ids : collection of int, default=()
        End-of-sequence ids.
    logprobs : sequence of float, default=None
        One log-probability per generated token (possibly one more than
        ``token_ids``: a stopping token the backend did not return).

    Returns
    -------
    completion : str
    n_tokens : int
        Tokens kept (the stopping token excluded).
    logprobs : list of float or None
        The kept tokens' log-probabilities, followed by the stopping token's
        when the sample stopped.

    Examples
    --------
    >>> from skadapt.sampling import finish_sample
    >>> from transformers import AutoTokenizer  # doctest: +SKIP
    >>> tok = AutoTokenizer.from_pretrained("gpt2")  # doctest: +SKIP
    >>> finish_sample(tok.encode("42\\nmore"), tok, stop_strings=["\\n"])  # doctest: +SKIP
    ('42', 1, None)
    """
    ids = [int(t) for t in token_ids]
    stop_token_ids = set(int(t) for t in stop_token_ids)
    cut, stopped = len(ids), False
    for i, tok_id in enumerate(ids):
        if tok_id in stop_token_ids or (stop_strings and any(
                s in tokenizer.decode([tok_id]) for s in stop_strings)):
            cut, stopped = i, True
            break
    completion = tokenizer.decode(ids[:cut], skip_special_tokens=True)
    if logprobs is not None:
        logprobs = [float(v) for v in logprobs]
        logprobs = logprobs[:cut + 1] if stopped else logprobs
    return completion, cut, logprobs


def generate_shared(model, tokenizer, prompts, n_samples, *, max_new_tokens=24,
                    temperature=0.7, top_p=1.0, seeds=None, stop_strings=None,
                    return_logprobs=False):
    """Sample ``n_samples`` continuations of each prompt, sharing the prompt pass.

    All prompts form one batch (left-padded). The prompt's forward pass runs once;
    its key/value cache is repeated ``n_samples`` times along the batch and the
    ``len(prompts) * n_samples`` rows are decoded token by token, keeping only the
    last position's logits. A row stops at an end-of-sequence token; finished rows
    leave the batch once they are a tenth of it.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A causal LM in eval mode.
    tokenizer : transformers tokenizer
        Its tokenizer (needs a pad token).
    prompts : list of str
        Full prompt texts (already formatted, see :func:`skadapt._lm.format_prompt`).
    n_samples : int
        Samples per prompt (k >= 1).
    max_new_tokens : int, default=24
        Most tokens generated per sample.
    temperature : float, default=0.7
        Softmax temperature; ``0`` means greedy decoding.
    top_p : float, default=1.0
        Nucleus sampling mass.
    seeds : list of int, default=None
        One seed per prompt for its ``torch.Generator``; ``None`` uses ``0, 1, ...``.
    stop_strings : str or list of str, default=None
        A generated token whose text contains one of these strings ends the
        sample (the token is not kept), e.g. ``["\\n"]`` to keep the first line;
        a single string is one stop string. Matched per token: a string split
        across tokens is not seen.
    return_logprobs : bool, default=False
        Also return each decoded token's log-probability under the model
        (``log_softmax`` of its logits, temperature 1 and no top-p: the model's
        own confidence, whatever the sampling settings), the stopping token
        included.

    Returns
    -------
    tokens : list of list of list of int
        ``tokens[i][j]``: generated token ids of sample ``j`` of prompt ``i``,
        the stopping token excluded.
    finished : ndarray of bool, shape (n_prompts, n_samples)
        Whether the sample ended with a stop token (``False`` when it was cut at
        ``max_new_tokens``).
    logprobs : list of list of list of float
        Only with ``return_logprobs``: ``logprobs[i][j]`` holds one entry per
        decoded token of sample ``j`` of prompt ``i``, the stopping token
        included (so one more than ``tokens[i][j]`` when the sample finished).

    Examples
    --------
    >>> from skadapt._lm import load_lm, format_prompt  # doctest: +SKIP
    >>> model, tok = load_lm("smollm2")  # doctest: +SKIP
    >>> prompt = format_prompt(tok, "What is 2 + 2? Answer with just the number.")
    ... # doctest: +SKIP
    >>> tokens, _ = generate_shared(model, tok, [prompt], 4)  # doctest: +SKIP
    >>> [tok.decode(t) for t in tokens[0]]  # doctest: +SKIP
    ['4', '2 + 2 = 4', ...]
    """
    import torch

    _check_sampling_params(n_samples, max_new_tokens, temperature, top_p)
    stop_strings = _check_stop_strings(stop_strings)
    if isinstance(prompts, (str, bytes)):
        # list("hi") would sample the one-character prompts "h" and "i"
        raise InputTypeError("prompts must be a list of strings, not a single string; "
                             "wrap one prompt in a list: [prompt]")
    prompts = list(prompts)
    if not prompts:
        raise ValueError("prompts is empty: need at least one prompt")
    bad = next((i for i, p in enumerate(prompts) if not isinstance(p, str)), None)
    if bad is not None:
        raise InputTypeError(f"prompts must be strings, got {type(prompts[bad]).__name__} "
                             f"at index {bad}: {prompts[bad]!r}")
    n_prompts, k = len(prompts), int(n_samples)
    if seeds is None:
        seeds = list(range(n_prompts))
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__len__"):
        raise InputTypeError(f"seeds must be a list of integers, one per prompt, got {seeds!r}")
    if len(seeds) != n_prompts:
        raise ValueError(f"got {len(seeds)} seeds for {n_prompts} prompts")
    bad = next((s for s in seeds if isinstance(s, (bool, np.bool_))
                or not isinstance(s, (int, np.integer))), None)
    if bad is not None:
        raise InputTypeError(f"seeds must hold integers, got {bad!r}")
    generators = []
    for seed in seeds:
        gen = torch.Generator(device=model.device)
        gen.manual_seed(int(seed))
        generators.append(gen)
    stop = set(_stop_token_ids(model, tokenizer))
    if stop_strings:
        stop.update(_stop_string_token_ids(tokenizer, list(stop_strings)))
    device = model.device
    stop_ids = torch.tensor(sorted(stop), dtype=torch.long, device=device)
    if tokenizer.pad_token_id is None:
        raise ValueError("tokenizer has no pad token; set tokenizer.pad_token")

    from skadapt._lm import pad_batch

    # left padding, without changing the shared tokenizer's padding_side
    ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    input_ids, attention_mask = pad_batch(ids, tokenizer.pad_token_id, "left")
    input_ids = input_ids.to(model.device)
    attention_mask = attention_mask.to(model.device)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp_min(0)

    tokens = [[[] for _ in range(k)] for _ in range(n_prompts)]
    token_logprobs = [[[] for _ in range(k)] for _ in range(n_prompts)]
    finished = np.zeros((n_prompts, k), dtype=bool)
    with torch.inference_mode():
        cache = _new_cache(model, max_new_tokens)
        logits, cache = _forward(model, input_ids, attention_mask, position_ids, cache)
        # share the prompt pass: every sample of a prompt starts from its cache
        cache.batch_repeat_interleave(k)
        logits = logits.repeat_interleave(k, dim=0)
        attention_mask = attention_mask.repeat_interleave(k, dim=0)
        next_pos = position_ids[:, -1:].repeat_interleave(k, dim=0) + 1
        # original row index of each batch row
        rows = torch.arange(n_prompts * k, device=device)
        alive = torch.ones(len(rows), dtype=torch.bool, device=device)
        for step in range(max_new_tokens):
            chosen = torch.full((len(rows),), int(tokenizer.pad_token_id),
                                dtype=torch.long, device=device)
            if temperature == 0:
                chosen[alive] = logits[alive].argmax(dim=-1)
            else:
                live = alive.nonzero().squeeze(1)
                probs = _next_token_probs(logits[live], temperature, top_p)
                owner = rows[live] // k
                # inverse-CDF sampling with one uniform per row (torch.multinomial
                # draws one exponential per vocabulary entry: a fifth of a step);
                # each prompt draws from its own generator, so its samples do not
                # depend on which other prompts share the batch
                uniform = torch.empty(len(live), dtype=probs.dtype, device=device)
                for p in torch.unique(owner).tolist():
                    sel = (owner == p).nonzero().squeeze(1)
                    uniform[sel] = torch.rand(len(sel), generator=generators[p],
                                              dtype=probs.dtype, device=device)
                cdf = probs.cumsum(dim=-1)
                target = (uniform * cdf[:, -1]).unsqueeze(1)
                drawn = torch.searchsorted(cdf, target, right=True).squeeze(1)
                chosen[live] = drawn.clamp_max(probs.shape[-1] - 1)
            is_stop = torch.isin(chosen, stop_ids) & alive
            if return_logprobs:
                live_logits = logits[alive].float()
                picked = live_logits.gather(1, chosen[alive][:, None]).squeeze(1)
                step_lp = (picked - torch.logsumexp(live_logits, dim=-1)).tolist()
            for pos, (r, tok_id, halt) in enumerate(zip(
                    rows[alive].tolist(), chosen[alive].tolist(),
                    is_stop[alive].tolist())):
                if return_logprobs:
                    token_logprobs[r // k][r % k].append(step_lp[pos])
                if halt:
                    finished[r // k, r % k] = True
                else:
                    tokens[r // k][r % k].append(tok_id)
            alive &= ~is_stop
            n_alive = int(alive.sum())
            if n_alive == 0 or step == max_new_tokens - 1:
                break
            if len(rows) - n_alive >= max(1, len(rows) // 10):
                # drop finished rows once they are worth the copy of the cache
                idx = alive.nonzero().squeeze(1)
                cache.batch_select_indices(idx)
                rows, chosen, alive = rows[idx], chosen[idx], alive[idx]
                attention_mask, next_pos = attention_mask[idx], next_pos[idx]
            attention_mask = torch.cat(
                [attention_mask, attention_mask.new_ones((len(rows), 1))], dim=1)
            logits, cache = _forward(model, chosen[:, None], attention_mask,
                                     next_pos, cache)
            next_pos = next_pos + 1
    if return_logprobs:
        return tokens, finished, token_logprobs
    return tokens, finished


@dataclass
class SamplingResult:
    """Outcome of :func:`sample_and_score`, in the order of the queries.

    Attributes
    ----------
    ids : list
        Query ids.
    rewards : ndarray of shape (n_queries, n_samples)
        Verifier rewards; ``NaN`` where the verifier raised.
    completions : list of list of str
        Decoded completions.
    errors : list of list of str or None
        Verifier error text per sample (``None`` when it succeeded).
    n_tokens : ndarray of int, shape (n_queries, n_samples)
        Generated tokens per sample (end-of-sequence token excluded).
    mean_logprob, min_logprob : ndarray of shape (n_queries, n_samples)
        Mean and minimum over a sample's decoded tokens (the stopping token
        included) of their log-probability under the model at temperature 1:
        evidence on the query that sampling gives for free. ``NaN`` where a
        sample decoded no token, or for records of a checkpoint written before
        skadapt stored them.
    config : dict
        The run configuration written in the checkpoint header.
    """

    ids: list
    rewards: np.ndarray
    completions: list
    errors: list
    n_tokens: np.ndarray
    config: dict = field(default_factory=dict)
    mean_logprob: np.ndarray = None
    min_logprob: np.ndarray = None


def _plain(value):
    """A JSON-serialisable copy of a reference answer (numpy scalars -> Python)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _json_default(value):
    """``json.dumps`` hook: numpy scalars and arrays as Python values."""
    if isinstance(value, (np.generic, np.ndarray)):
        return _plain(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _verifier_name(verifier):
    module = getattr(verifier, "__module__", None) or ""
    name = getattr(verifier, "__qualname__", None) or type(verifier).__qualname__
    return f"{module}.{name}" if module else name


def _check_ids(ids, n):
    """Query ids as plain JSON values (numpy scalars -> Python), unique."""
    if ids is None:
        return list(range(n))
    if isinstance(ids, (str, bytes)):
        raise TypeError("ids must be a list of query ids, not a single string")
    plain = [_plain(i) for i in ids]
    if len(plain) != n:
        raise ValueError(f"got {len(plain)} ids for {n} queries")
    keys = []
    for i in plain:
        if not isinstance(i, (str, int)) or isinstance(i, bool):
            raise TypeError("ids must be strings or integers (JSON keys of the "
                            f"checkpoint), got {i!r} of type {type(i).__name__}")
        keys.append(json.dumps(i))
    if len(set(keys)) != len(keys):
        raise ValueError("ids must be unique")
    return plain


def _score(verifier, completion, reference):
    try:
        reward = float(verifier(completion, reference))
    except Exception as exc:  # noqa: BLE001 - a verifier bug costs one sample, never the run
        return math.nan, f"{type(exc).__name__}: {exc}"
    return reward, None


def _logprob_summary(logprobs):
    """``(mean, min)`` of one sample's token log-probabilities (``None`` if empty)."""
    if not logprobs:
        return None, None
    return float(np.mean(logprobs)), float(np.min(logprobs))


def _hf_batch(model, tokenizer, prompts, k, seeds, max_new_tokens, temperature,
              top_p, stop_strings):
    tokens, _, logprobs = generate_shared(
        model, tokenizer, prompts, k, max_new_tokens=max_new_tokens,
        temperature=temperature, top_p=top_p, seeds=seeds,
        stop_strings=stop_strings, return_logprobs=True)
    stop_ids = _stop_token_ids(model, tokenizer)
    return _finish_all(tokens, logprobs, tokenizer, stop_strings, stop_ids)


def _finish_all(tokens, logprobs, tokenizer, stop_strings, stop_ids):
    """:func:`finish_sample` over a batch: completions, token counts, summaries."""
    completions, n_tokens, summaries = [], [], []
    for row_tokens, row_lp in zip(tokens, logprobs):
        done = [finish_sample(t, tokenizer, stop_strings=stop_strings,
                              stop_token_ids=stop_ids, logprobs=lp)
                for t, lp in zip(row_tokens, row_lp)]
        completions.append([c for c, _, _ in done])
        n_tokens.append([n for _, n, _ in done])
        summaries.append([_logprob_summary(lp) for _, _, lp in done])
    return completions, n_tokens, summaries


def _vllm_stop_ids(llm, tokenizer):
    """End-of-sequence ids as the HF path takes them (generation config, model
    config and tokenizer)."""
    ids = set()
    for source in (getattr(tokenizer, "eos_token_id", None),):
        if source is not None:
            ids.add(int(source))
    try:
        config = llm.llm_engine.model_config.hf_config
        eos = getattr(config, "eos_token_id", None)
        ids.update([int(e) for e in eos] if isinstance(eos, (list, tuple))
                   else [] if eos is None else [int(eos)])
    except AttributeError:
        pass
    return sorted(ids)


def _vllm_batch(llm, prompts, k, seeds, max_new_tokens, temperature, top_p,
                stop_strings):
    from vllm import SamplingParams

    tokenizer = llm.get_tokenizer()
    stop_ids = _vllm_stop_ids(llm, tokenizer)
    # vLLM stops on the same tokens as the HF path: end of sequence, and every
    # token whose text contains a stop string (not vLLM's own text matching, which
    # would also stop inside a token or across two); finish_sample then applies
    # the one shared rule to the raw ids. logprobs=0: the sampled token's own
    # log-probability, nothing more.
    stopping = sorted(set(stop_ids) | set(
        _stop_string_token_ids(tokenizer, list(stop_strings)) if stop_strings else ()))
    params = [SamplingParams(n=k, temperature=temperature, top_p=top_p,
                             max_tokens=max_new_tokens, seed=int(s) % (2 ** 31),
                             stop_token_ids=stopping, skip_special_tokens=True,
                             logprobs=0)
              for s in seeds]
    outputs = llm.generate(prompts, params, use_tqdm=False)
    tokens = [[list(o.token_ids) for o in out.outputs] for out in outputs]
    logprobs = [[[step[t].logprob for step, t in zip(o.logprobs or [], o.token_ids)]
                 for o in out.outputs] for out in outputs]
    return _finish_all(tokens, logprobs, tokenizer, stop_strings, stop_ids)


_VLLM_ENGINES = {}


def _load_vllm(model, options=None):
    try:
        import vllm
    except ImportError as exc:
        raise ImportError(
            "backend='vllm' needs vLLM, an optional extra: `pip install vllm` "
            "(or `pip install skadapt[vllm]`), or use backend='hf'"
        ) from exc
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError("backend='vllm' takes the model as a name or path")
    key = (os.fspath(model), json.dumps(options or {}, sort_keys=True))
    if key not in _VLLM_ENGINES:  # one engine per process and configuration
        _VLLM_ENGINES[key] = vllm.LLM(model=os.fspath(model), **dict(options or {}))
    llm = _VLLM_ENGINES[key]
    return llm, llm.get_tokenizer()


def sample_and_score(model, queries, references, verifier, n_samples, *,
                     tokenizer=None, ids=None, prompt_template="chat",
                     max_new_tokens=24, temperature=0.7, top_p=1.0,
                     stop_strings=None, batch_size=8, random_state=0,
                     checkpoint=None, backend="hf", backend_options=None,
                     verifier_id=None, extra_config=None, verbose=False):
    """Sample ``n_samples`` responses per query and score them with ``verifier``.

    Parameters
    ----------
    model : str, path-like or transformers.PreTrainedModel
        A model name, folder or ``.gguf`` file (loaded with
        :func:`skadapt._lm.load_lm`; ``"smollm2"`` is SmolLM2-135M-Instruct) or a
        loaded model (then pass ``tokenizer``).
    queries : list of str
        Query texts; each is wrapped with ``prompt_template``.
    references : list
        Reference answer of each query, passed to the verifier.
    verifier : callable
        ``verifier(completion, reference) -> float``, e.g.
        :func:`skadapt.verifiers.exact_numeric`.
    n_samples : int
        Samples per query (``1 <= k <= 2**20``).
    tokenizer : transformers tokenizer, default=None
        Needed when ``model`` is a loaded model.
    ids : list of str or int, default=None
        Unique query ids (default ``0..n-1``; numpy scalars are accepted); the
        checkpoint identifies finished queries by id.
    prompt_template : {"chat"}, str or None, default="chat"
        See :func:`skadapt._lm.format_prompt`.
    max_new_tokens : int, default=24
    temperature : float, default=0.7
        ``0`` is greedy decoding.
    top_p : float, default=1.0
    stop_strings : str or list of str, default=None
        See :func:`generate_shared`; e.g. ``"\\n"`` or ``["\\n"]`` keeps the
        first line.
    batch_size : int, default=8
        Queries per batch (``batch_size * n_samples`` rows are decoded together).
        Also the checkpoint granularity.
    random_state : int, default=0
        Run seed; query ``q`` samples with seed ``query_seed(random_state, q)``.
    checkpoint : str or path-like, default=None
        JSONL file, in an existing folder. Finished batches are appended (flushed
        and fsynced) and, when the file exists, its finished queries are loaded
        instead of resampled. A checkpoint written by another run is refused with
        a ``ValueError`` that says what differs: the model weights (a content
        hash of the GGUF file, or of a folder's weight, config and tokenizer
        files), the verifier, or the sampling settings. The location and the
        checkpoint's content are checked before the model loads.
    backend : {"hf", "vllm"}, default="hf"
        ``"vllm"`` needs vLLM installed and ``model`` given as a name or path.
        Both backends end samples by the same rule (:func:`finish_sample`).
    backend_options : dict, default=None
        Loading options, JSON-serialisable and part of the run's identity. For
        ``"vllm"``: keyword arguments of ``vllm.LLM``, e.g.
        ``{"tensor_parallel_size": 2, "dtype": "bfloat16", "max_model_len": 4096,
        "enable_prefix_caching": True}``. For ``"hf"`` with a named model:
        ``dtype``, ``device`` and ``model_kwargs`` of
        :func:`skadapt._lm.load_lm`.
    verifier_id : str, default=None
        The verifier's identity in the checkpoint. By default it is
        :func:`skadapt.verifiers.verifier_identity` (qualified name and
        arguments, ``functools.partial`` included); a lambda, a closure or a
        callable object without ``get_params()`` has none, so a run with a
        ``checkpoint`` needs ``verifier_id`` for it. Change it whenever the
        verifier's rewards change.
    extra_config : dict, default=None
        JSON-serialisable entries added to the checkpoint header and checked on
        resume.
    verbose : bool, default=False
        Show a progress bar (samples/s).

    Returns
    -------
    result : SamplingResult

    Examples
    --------
    >>> from skadapt.sampling import sample_and_score  # doctest: +SKIP
    >>> from skadapt.verifiers import exact_numeric  # doctest: +SKIP
    >>> res = sample_and_score("smollm2", ["What is 2 + 2? Answer with just the number."],
    ...                        [4], exact_numeric, 8)  # doctest: +SKIP
    >>> res.rewards.shape  # doctest: +SKIP
    (1, 8)
    """
    run = _prepare_run(
        model, queries, references, verifier, n_samples, tokenizer=tokenizer,
        ids=ids, prompt_template=prompt_template, max_new_tokens=max_new_tokens,
        temperature=temperature, top_p=top_p, stop_strings=stop_strings,
        batch_size=batch_size, random_state=random_state, checkpoint=checkpoint,
        backend=backend, verifier_id=verifier_id, extra_config=extra_config,
        verbose=verbose, backend_options=backend_options)
    return run.execute()


def _check_backend_options(backend, options, is_name):
    if options is None:
        return None
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise ValueError(f"backend_options must be a dict with string keys, got "
                         f"{options!r}")
    try:
        options = json.loads(json.dumps(options))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"backend_options must be JSON-serialisable (they are part "
                         f"of the run's identity): {exc}") from None
    if backend == "hf":
        unknown = sorted(set(options) - {"dtype", "device", "model_kwargs"})
        if unknown:
            raise ValueError(f"backend_options for backend='hf' take dtype, device "
                             f"and model_kwargs; got {unknown}")
        if not is_name:
            raise ValueError("backend_options apply to a model given by name or "
                             "path; a loaded model is used as it is")
    elif "model" in options:
        raise ValueError("backend_options must not set 'model': pass it as model")
    return options


def _prepare_run(model, queries, references, verifier, n_samples, *, tokenizer,
                 ids, prompt_template, max_new_tokens, temperature, top_p,
                 stop_strings, batch_size, random_state, checkpoint, backend,
                 verifier_id, extra_config, verbose, backend_options=None):
    """Every check of :func:`sample_and_score` that needs no model: arguments,
    run identity and the checkpoint. Returns the run, ready to execute."""
    if isinstance(queries, str):
        raise TypeError("queries must be a list of strings, not a single string")
    if isinstance(references, (str, bytes)) or not hasattr(references, "__iter__"):
        # list("12") would give the references "1" and "2"
        raise TypeError("references must be a list with one reference per query, got "
                        f"{type(references).__name__}: {references!r}")
    queries = list(queries)
    references = list(references)
    if not queries:
        raise ValueError("queries is empty: need at least one query")
    if len(references) != len(queries):
        raise ValueError(f"got {len(references)} references for {len(queries)} queries")
    bad = next((q for q in queries if not isinstance(q, str)), None)
    if bad is not None:
        raise TypeError(f"queries must be strings, got {type(bad).__name__}: {bad!r}")
    if not callable(verifier):
        raise TypeError(f"verifier must be callable, got {type(verifier).__name__}")
    _check_sampling_params(n_samples, max_new_tokens, temperature, top_p)
    stop_strings = _check_stop_strings(stop_strings)
    if prompt_template not in (None, "chat") and not (
            isinstance(prompt_template, str) and "{query}" in prompt_template):
        # format_prompt says the same, but only once the model has loaded
        raise ValueError(
            "prompt_template must be 'chat', None, or a string containing '{query}'; "
            f"got {prompt_template!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if isinstance(random_state, bool) or not isinstance(random_state,
                                                        (int, np.integer)):
        raise ValueError(f"random_state must be an integer, got {random_state!r}")
    if backend not in ("hf", "vllm"):
        raise ValueError(f"backend must be 'hf' or 'vllm', got {backend!r}")
    if verifier_id is not None and (not isinstance(verifier_id, str) or not verifier_id):
        raise ValueError(f"verifier_id must be a non-empty string, got {verifier_id!r}")
    ids = _check_ids(ids, len(queries))
    is_name = isinstance(model, (str, os.PathLike))
    if not is_name and not callable(model):
        raise TypeError("model must be a name, a path or a loaded transformers model, got "
                        f"{type(model).__name__}")
    if backend == "vllm" and not is_name:
        raise TypeError("backend='vllm' takes the model as a name or path")
    backend_options = _check_backend_options(backend, backend_options, is_name)
    if not is_name and tokenizer is None:
        raise ValueError("pass tokenizer= when model is a loaded model")
    if extra_config is not None:
        try:
            extra_config = json.loads(json.dumps(extra_config, default=_json_default))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"extra_config must be JSON-serialisable: {exc}") from None
        if not isinstance(extra_config, dict):
            raise ValueError("extra_config must be a dict")
    try:
        json.dumps(references, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ValueError("references must be JSON-serialisable (they are stored "
                         f"with each record): {exc}") from None
    if checkpoint is not None:
        checkpoint = _checkpoint.check_location(checkpoint)

    from skadapt._lm import model_fingerprint
    from skadapt.verifiers import verifier_identity

    if verifier_id is not None:
        verifier_key = verifier_id
    elif checkpoint is not None:
        verifier_key = verifier_identity(verifier)  # ValueError: needs verifier_id
    else:
        try:
            verifier_key = verifier_identity(verifier)
        except ValueError:
            verifier_key = _verifier_name(verifier)  # a label for the result only
    if is_name:
        model_name = os.fspath(model)
        fingerprint = model_fingerprint(model_name)
    else:
        model_name = getattr(getattr(model, "config", None), "_name_or_path",
                             None) or type(model).__name__
        # hashing weights in memory costs a pass over them: only to resume
        fingerprint = model_fingerprint(model) if checkpoint is not None else None
    config = {
        "version": _checkpoint.CHECKPOINT_VERSION, "model": str(model_name),
        "model_sha256": fingerprint and fingerprint["sha256"],
        "model_files": fingerprint and fingerprint["files"],
        "prompt_template": prompt_template, "n_samples": int(n_samples),
        "max_new_tokens": int(max_new_tokens), "temperature": float(temperature),
        "top_p": float(top_p), "random_state": int(random_state),
        "stop_strings": stop_strings, "verifier": verifier_key, "backend": backend,
        "batch_size": int(batch_size),
    }
    if backend_options:
        # only when given: checkpoints written without options stay compatible
        config["backend_options"] = backend_options
    clash = sorted(set(extra_config or ()) & set(config))
    if clash:
        raise ValueError(f"extra_config may not set the sampler's own entries {clash}")
    config.update(extra_config or {})

    state = _checkpoint.Checkpoint(checkpoint) if checkpoint is not None else None
    # a hub model not downloaded yet has no hash before loading: checked after
    deferred = is_name and fingerprint is None
    if checkpoint is not None:
        state = _checkpoint.read_checkpoint(checkpoint)
        if state.config is not None:
            _checkpoint.check_same_run(
                checkpoint, state.config, config,
                skip=("model_sha256", "model_files", "model") if deferred else ())
        for i, query in enumerate(queries):
            record = state.records.get(json.dumps(ids[i]))
            if record is not None and record.get("query") != query:
                raise ValueError(
                    f"checkpoint {checkpoint} holds query id {ids[i]!r} with another "
                    f"text ({record.get('query')!r} vs {query!r}); use another "
                    "checkpoint path")
    return _Run(model=model, tokenizer=tokenizer, queries=queries,
                references=references, verifier=verifier,
                ids=ids, config=config, checkpoint=state, deferred=deferred,
                verbose=verbose)


@dataclass
class _Run:
    """A checked sampling run; :meth:`execute` loads the model and samples."""

    model: object
    tokenizer: object
    queries: list
    references: list
    verifier: object
    ids: list
    config: dict
    checkpoint: _checkpoint.Checkpoint | None
    deferred: bool
    verbose: bool

    def _load(self):
        from skadapt._lm import load_lm, model_fingerprint

        model, tokenizer, llm = self.model, self.tokenizer, None
        options = self.config.get("backend_options") or {}
        if self.config["backend"] == "vllm":
            llm, tokenizer = _load_vllm(model, options)
        elif isinstance(model, (str, os.PathLike)):
            model, tokenizer = load_lm(os.fspath(model), **options)
        if self.deferred:
            fingerprint = model_fingerprint(os.fspath(self.model))
            self.config["model_sha256"] = fingerprint and fingerprint["sha256"]
            self.config["model_files"] = fingerprint and fingerprint["files"]
            if self.checkpoint is not None and self.checkpoint.config is not None:
                _checkpoint.check_same_run(self.checkpoint.path,
                                           self.checkpoint.config, self.config)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return model, tokenizer, llm

    def execute(self):
        from skadapt._lm import format_prompt

        cfg = self.config
        k, batch_size = cfg["n_samples"], cfg["batch_size"]
        queries, ids = self.queries, self.ids
        model, tokenizer, llm = self._load()
        format_prompt(tokenizer, queries[0], cfg["prompt_template"])  # fails early

        ckpt = self.checkpoint
        done = dict(ckpt.records) if ckpt is not None else {}
        header = None
        if ckpt is not None and ckpt.config is None:
            header = {"type": "header", "config": cfg}
        keep_bytes = ckpt.keep_bytes if ckpt is not None else None
        key = [json.dumps(i) for i in ids]

        progress = None
        if self.verbose:
            from tqdm.auto import tqdm

            progress = tqdm(total=len(queries) * k, unit="sample", smoothing=0.05,
                            initial=sum(1 for kk in key if kk in done) * k)
        try:
            for start in range(0, len(queries), batch_size):
                chunk = [i for i in range(start, min(start + batch_size, len(queries)))
                         if key[i] not in done]
                if not chunk:
                    continue
                new, seconds = self._batch(model, tokenizer, llm, chunk)
                if ckpt is not None:
                    _checkpoint.append_records(ckpt.path, new, header=header,
                                               keep_bytes=keep_bytes)
                    header = keep_bytes = None
                for i, record in zip(chunk, new):
                    done[key[i]] = record
                if progress is not None:
                    progress.update(len(chunk) * k)
                    gen = sum(sum(r["n_tokens"]) for r in new)
                    progress.set_postfix(tok_s=f"{gen / max(seconds, 1e-9):.0f}")
        finally:
            if progress is not None:
                progress.close()

        records = [done[kk] for kk in key]
        rewards = np.array([[np.nan if r is None else r for r in rec["rewards"]]
                            for rec in records], dtype=float)
        return SamplingResult(
            ids=ids, rewards=rewards,
            completions=[rec["completions"] for rec in records],
            errors=[rec["errors"] for rec in records],
            n_tokens=np.array([rec["n_tokens"] for rec in records], dtype=int),
            config=cfg,
            mean_logprob=_float_matrix(records, "mean_logprob", k),
            min_logprob=_float_matrix(records, "min_logprob", k),
        )

    def _batch(self, model, tokenizer, llm, chunk):
        """Sample and score the queries at positions ``chunk``: their records."""
        from skadapt._lm import format_prompt

        cfg = self.config
        k = cfg["n_samples"]
        prompts = [format_prompt(tokenizer, self.queries[i], cfg["prompt_template"])
                   for i in chunk]
        seeds = [query_seed(cfg["random_state"], self.ids[i]) for i in chunk]
        tic = time.perf_counter()
        if llm is not None:
            completions, n_tokens, summaries = _vllm_batch(
                llm, prompts, k, seeds, cfg["max_new_tokens"], cfg["temperature"],
                cfg["top_p"], cfg["stop_strings"])
        else:
            completions, n_tokens, summaries = _hf_batch(
                model, tokenizer, prompts, k, seeds, cfg["max_new_tokens"],
                cfg["temperature"], cfg["top_p"], cfg["stop_strings"])
        seconds = time.perf_counter() - tic
        new = []
        for i, comps, ntok, summ in zip(chunk, completions, n_tokens, summaries):
            scored = [_score(self.verifier, c, self.references[i]) for c in comps]
            record = {
                "type": "query", "id": self.ids[i], "query": self.queries[i],
                "reference": _plain(self.references[i]), "completions": comps,
                "rewards": [None if math.isnan(r) else r for r, _ in scored],
                "errors": [e for _, e in scored], "n_tokens": ntok,
                "mean_logprob": [m for m, _ in summ],
                "min_logprob": [m for _, m in summ],
                "seconds": seconds / len(chunk),
            }
            new.append(json.loads(json.dumps(record, default=_json_default)))
        return new, seconds


def _float_matrix(records, name, k):
    """A per-sample field of the records as floats, ``NaN`` where missing."""
    return np.array([[np.nan if v is None else v
                      for v in rec.get(name) or [None] * k] for rec in records],
                    dtype=float).reshape(len(records), k)
