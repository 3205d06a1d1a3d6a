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
from ._sampling_backends import _hf_batch, _load_vllm, _vllm_batch, finish_sample
# also imported from here: MAX_* by the CLI, _stop_token_ids by the tests
from ._shared_prompt import (  # noqa: F401
    MAX_NEW_TOKENS,
    MAX_SAMPLES,
    _check_sampling_params,
    _check_stop_strings,
    _stop_token_ids,
    generate_shared,
)
from ._validation import InputTypeError

__all__ = [
    "SamplingResult",
    "finish_sample",
    "generate_shared",
    "query_seed",
    "sample_and_score",
]


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
