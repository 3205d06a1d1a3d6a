"""Collection (sampling + verification) on Ray Data: :func:`collect` and :func:`read_collection`.

Public from :mod:`skadapt.distributed`, whose docstring says how the work is split
and why the samples equal the single-process ones.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from ._shards import (
    ShardReport,
    _check_count,
    _check_device_name,
    _check_ids,
    _check_output,
    _check_resources,
    _check_same_weights,
    _digest,
    _ids_from_column,
    _import_pyarrow,
    _import_ray,
    _json_default,
    _open_folder,
    _run_pipeline,
    _shard_files,
    _shard_name,
    _shard_size,
    _with_metadata,
    _write_shard,
)

_LIST_FIELDS = ("completions", "rewards", "errors", "n_tokens", "mean_logprob",
                "min_logprob")


class _CollectWorker:
    """Ray Data actor: loads the LM once, then samples and scores one shard per call."""

    def __init__(self, model, device, verifier, settings, model_sha256, folder):
        from ._lm import load_lm

        if settings.get("backend", "hf") == "vllm":
            # the engine is built on the first shard and kept (sampling caches it)
            self.model, self.tokenizer = model, None
        else:
            options = dict(settings.get("backend_options") or {})
            self.model, self.tokenizer = load_lm(
                model, device=device, dtype=options.get("dtype"),
                model_kwargs=options.get("model_kwargs"))
            settings = dict(settings, backend_options=None)
        self.model_sha256 = _check_same_weights(model, model_sha256)
        self.verifier, self.settings, self.folder = verifier, settings, folder

    def __call__(self, batch):
        import pyarrow as pa

        from .sampling import sample_and_score

        names = []
        for name, spec in zip(batch["shard"], batch["spec"]):
            spec = json.loads(spec)
            references = [json.loads(r) for r in spec["references"]]
            res = sample_and_score(
                self.model, spec["queries"], references, self.verifier,
                tokenizer=self.tokenizer, ids=spec["ids"], **self.settings)
            def matrix(values):
                return [[None if math.isnan(v) else float(v) for v in row]
                        for row in np.asarray(values, dtype=float)]
            table = pa.table({
                "position": pa.array(range(spec["start"], spec["stop"]),
                                     type=pa.int64()),
                "id": pa.array(spec["ids"]),
                "query": pa.array(spec["queries"], type=pa.string()),
                "reference": pa.array(spec["references"], type=pa.string()),
                "completions": pa.array(res.completions,
                                        type=pa.list_(pa.string())),
                # NaN (a verifier that raised) is stored as null
                "rewards": pa.array(matrix(res.rewards), type=pa.list_(pa.float64())),
                "errors": pa.array(res.errors, type=pa.list_(pa.string())),
                "n_tokens": pa.array(res.n_tokens.tolist(),
                                     type=pa.list_(pa.int64())),
                "mean_logprob": pa.array(matrix(res.mean_logprob),
                                         type=pa.list_(pa.float64())),
                "min_logprob": pa.array(matrix(res.min_logprob),
                                        type=pa.list_(pa.float64())),
            })
            table = _with_metadata(table, {"model_sha256": self.model_sha256,
                                           "device": str(self.model.device),
                                           "digest": spec["digest"]})
            names.append(_write_shard(self.folder, name, table))
        return {"shard": np.array(names, dtype=object)}


def collect(model, queries, references, verifier, n_samples, output, *, ids=None,
            prompt_template="chat", max_new_tokens=24, temperature=0.7, top_p=1.0,
            stop_strings=None, batch_size=8, random_state=0, verifier_id=None,
            extra_config=None, device="cpu", shard_size=None, num_actors=1,
            num_cpus_per_actor=1, num_gpus_per_actor=0, max_shards=None,
            backend="hf", backend_options=None, verbose=False):
    """Sample and verify LM answers on Ray Data, as Parquet shards in ``output``.

    :func:`skadapt.sampling.sample_and_score` run by a pool of Ray actors that
    each load the LM once, one shard of queries per call. Shards are written to
    ``output`` as they finish; calling again with the same arguments skips the
    shards already there. Read the result with :func:`read_collection`.

    Parameters
    ----------
    model : str or path-like
        A model name, folder or ``.gguf`` file, or ``"smollm2"``; each actor
        loads it with :func:`skadapt._lm.load_lm`.
    queries, references, verifier, n_samples
        As for :func:`~skadapt.sampling.sample_and_score`. The verifier travels
        to the actors (Ray pickles it with cloudpickle).
    output : str or path-like
        Folder for the shards and the run description (``skadapt-shards.json``);
        created if missing; shared by all machines of a cluster, as for
        :func:`featurize`.
    ids, prompt_template, max_new_tokens, temperature, top_p, stop_strings, \
batch_size, random_state, extra_config
        As for :func:`~skadapt.sampling.sample_and_score`; ids must be all
        strings or all integers.
    verifier_id : str, default=None
        The verifier's identity in the run description (as a checkpoint's):
        by default :func:`skadapt.verifiers.verifier_identity`, which a lambda
        or closure lacks (then this is required).
    device : str, default="cpu"
        Torch device of each actor's model (``"cuda"`` with
        ``num_gpus_per_actor=1``). The single-process sampler runs on the CPU.
    shard_size : int, default=None
        Queries per shard, a multiple of ``batch_size``; ``None``: 32 batches.
    num_actors, num_cpus_per_actor, num_gpus_per_actor, max_shards, verbose
        As for :func:`featurize`.
    backend : {"hf", "vllm"}, default="hf"
        As for :func:`~skadapt.sampling.sample_and_score`: ``"vllm"`` makes each
        actor hold one vLLM engine (give it GPUs with ``num_gpus_per_actor``, and
        ``tensor_parallel_size`` in ``backend_options`` to match). Both backends
        end samples by the same rule (:func:`skadapt.sampling.finish_sample`).
        The vLLM path has not run anywhere yet (see docs/scaling.md).
    backend_options : dict, default=None
        As for :func:`~skadapt.sampling.sample_and_score` (part of the run's
        identity). With ``backend="hf"``, ``device`` comes from ``device``.

    Returns
    -------
    report : ShardReport

    Notes
    -----
    Shard ``i`` holds queries ``i * shard_size`` to ``(i + 1) * shard_size``, and
    each actor samples it with ``batch_size`` and the queries' own ids, so every
    query is decoded in the batch, and with the seed
    ``query_seed(random_state, id)``, that a single ``sample_and_score`` call over
    all queries gives it: the completions, rewards, token counts and
    log-probabilities are equal to that call's (same library versions, hardware
    and torch threads).

    Examples
    --------
    >>> from skadapt import distributed
    >>> from skadapt.verifiers import exact_numeric
    >>> report = distributed.collect("smollm2", ["What is 2 + 2?"], [4], exact_numeric,
    ...                              8, "samples/")  # doctest: +SKIP
    >>> distributed.read_collection("samples/").rewards.shape  # doctest: +SKIP
    (1, 8)
    """
    from .sampling import _prepare_run
    from .verifiers import verifier_identity

    if not isinstance(model, (str, os.PathLike)):
        raise TypeError("model must be a name or path: each Ray actor loads the "
                        f"model itself (got {type(model).__name__})")
    if isinstance(queries, str):
        raise TypeError("queries must be a list of strings, not a single string")
    queries = list(queries)
    ids = _check_ids(ids, len(queries))
    _check_resources(num_actors, num_cpus_per_actor, num_gpus_per_actor, max_shards)
    _check_device_name(device)
    _check_output(output)
    # the shard size before _prepare_run hashes the model's weights
    _shard_size(shard_size, _check_count("batch_size", batch_size))
    if verifier_id is None and callable(verifier):
        verifier_id = verifier_identity(verifier)  # ValueError: pass verifier_id
    settings = {
        "n_samples": n_samples, "prompt_template": prompt_template,
        "max_new_tokens": max_new_tokens, "temperature": temperature,
        "top_p": top_p, "stop_strings": stop_strings, "batch_size": batch_size,
        "random_state": random_state, "verifier_id": verifier_id,
        "extra_config": extra_config, "backend": backend,
        "backend_options": backend_options,
    }
    # every check of sample_and_score, and the run identity it would record
    run = _prepare_run(model, queries, references, verifier, tokenizer=None,
                       ids=ids, checkpoint=None, verbose=False, **settings)
    references = run.references
    size = _shard_size(shard_size, int(batch_size))
    _import_ray()
    _import_pyarrow()

    ref_text = [json.dumps(r, default=_json_default) for r in references]
    config = {
        "kind": "collection", "sampling": run.config, "n_queries": len(queries),
        "queries_sha256": _digest([ids, queries, ref_text]), "shard_size": size,
    }

    def plan():
        shards = []
        for start in range(0, len(queries), size):
            stop = min(start + size, len(queries))
            digest = _digest([config, ids[start:stop], queries[start:stop],
                              ref_text[start:stop]])
            shards.append({"name": _shard_name("collection", start, stop, digest),
                           "start": start, "stop": stop, "digest": digest})
        return shards

    folder, manifest = _open_folder(output, config, plan)
    todo, skipped = [], []
    for shard in manifest["shards"]:
        if os.path.isfile(os.path.join(folder, shard["name"])):
            skipped.append(shard["name"])
            continue
        lo, hi = shard["start"], shard["stop"]
        todo.append((shard["name"], {
            "start": lo, "stop": hi, "ids": ids[lo:hi], "queries": queries[lo:hi],
            "references": ref_text[lo:hi], "digest": shard["digest"]}))
    written = _run_pipeline(
        folder, todo, _CollectWorker,
        {"model": os.fspath(model), "device": device, "verifier": verifier,
         "settings": settings,
         "model_sha256": run.config.get("model_sha256")},
        num_actors=num_actors, num_cpus_per_actor=num_cpus_per_actor,
        num_gpus_per_actor=num_gpus_per_actor, max_shards=max_shards,
        verbose=verbose)
    return ShardReport(folder=folder, shards=[s["name"] for s in manifest["shards"]],
                       written=written, skipped=skipped)


def read_collection(folder):
    """Samples and rewards written by :func:`collect`, in query order.

    Parameters
    ----------
    folder : str or path-like
        The ``output`` folder of :func:`collect`.

    Returns
    -------
    result : skadapt.sampling.SamplingResult
        What one :func:`~skadapt.sampling.sample_and_score` call over all the
        queries returns (``rewards`` with ``NaN`` where the verifier raised,
        ``completions``, ``errors``, ``n_tokens``, ``mean_logprob``,
        ``min_logprob``, and the run's ``config``). Pass it to
        :func:`skadapt.datasets.write_dataset` for the files ``skadapt collect``
        writes.

    Raises
    ------
    ValueError
        When shards are missing (an unfinished run: call ``collect`` again), or
        when shards were sampled from models with different weights.

    Examples
    --------
    >>> from skadapt.distributed import read_collection
    >>> result = read_collection("samples/")  # doctest: +SKIP
    >>> result.rewards.mean(axis=1)  # success rate per query  # doctest: +SKIP
    """
    _import_pyarrow()
    import pyarrow.parquet as pq

    from .sampling import SamplingResult

    manifest, paths = _shard_files(folder, "collection")
    config = dict(manifest["config"]["sampling"])
    columns = {name: [] for name in ("id",) + _LIST_FIELDS}
    shas = set()
    for path in paths:
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[b"skadapt"])
        shas.add(meta.get("model_sha256"))
        columns["id"] += _ids_from_column(table.column("id"))
        for name in _LIST_FIELDS:
            columns[name] += table.column(name).to_pylist()
    if len(shas) > 1:
        raise ValueError(f"the shards in {folder} were sampled from models with "
                         f"different weights (sha256 {sorted(map(str, shas))})")
    if config.get("model_sha256") is None:
        config["model_sha256"] = next(iter(shas))
    n = manifest["config"]["n_queries"]
    if len(columns["id"]) != n:
        raise ValueError(f"the shards in {folder} hold {len(columns['id'])} of {n} "
                         "queries")
    k = config["n_samples"]

    def floats(rows):
        return np.array([[np.nan if v is None else v for v in row] for row in rows],
                        dtype=float).reshape(n, k)

    return SamplingResult(
        ids=columns["id"], rewards=floats(columns["rewards"]),
        completions=columns["completions"], errors=columns["errors"],
        n_tokens=np.array(columns["n_tokens"], dtype=int).reshape(n, k),
        config=config, mean_logprob=floats(columns["mean_logprob"]),
        min_logprob=floats(columns["min_logprob"]),
    )
