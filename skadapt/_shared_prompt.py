"""The shared-prompt sampler: ``k`` continuations per prompt from one prompt pass.

The engine behind :func:`skadapt.sampling.generate_shared` (re-exported there): the
checks of the sampling settings, the next-token distribution (temperature, top-p),
the key/value cache the ``k`` samples of a prompt share (written into preallocated
room) and the end-of-sequence and stop-string token ids.
"""

from __future__ import annotations

import math

import numpy as np

from ._validation import InputTypeError

# Beyond these, a call could only fail later (memory) or overflow torch's int64
# indices; a clear error now is better.
MAX_SAMPLES = 1 << 20
MAX_NEW_TOKENS = 1 << 20


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
                    self._kbuf = _grow_sequence(self._kbuf, grow)
                    self._vbuf = _grow_sequence(self._vbuf, grow)
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


def _grow_sequence(buf, grow):
    """``buf`` (batch, heads, seq, dim) with ``grow`` uninitialised positions appended."""
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
