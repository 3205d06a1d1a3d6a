"""Sampling backends: a batch of prompts to finished samples, on HF or vLLM.

Both backends of :func:`skadapt.sampling.sample_and_score` draw raw token ids (the
shared-prompt sampler of :mod:`skadapt._shared_prompt` in process, or a cached
``vllm.LLM`` engine) and end every sample by one rule, :func:`finish_sample`
(re-exported from :mod:`skadapt.sampling`), which makes its completion, token count
and log-probabilities.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ._shared_prompt import _stop_string_token_ids, _stop_token_ids, generate_shared


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
