"""Featurization on Ray Data: :func:`featurize` and :func:`read_features`.

Public from :mod:`skadapt.distributed`, whose docstring says how the work is split
and why the features equal the single-process ones.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ._shards import (
    ShardReport,
    _check_ids,
    _check_output,
    _check_resources,
    _check_same_weights,
    _digest,
    _ids_from_column,
    _import_pyarrow,
    _import_ray,
    _open_folder,
    _run_pipeline,
    _shard_files,
    _shard_name,
    _shard_size,
    _with_metadata,
    _write_shard,
)


def _featurizer_identity(featurizer):
    """The featurizer's settings that change its output, as JSON values."""
    params = featurizer.get_params(deep=False)
    for name in ("memory", "verbose", "tokenizer"):
        params.pop(name, None)
    params["model"] = os.fspath(params["model"])
    if params.get("dtype") is not None:
        params["dtype"] = str(params["dtype"]).replace("torch.", "")
    return params


def _prompt_lengths(featurizer, queries):
    """Token counts of the prompts ``featurizer`` reads, from its tokenizer and
    config only (no weights are loaded), truncation included."""
    from types import SimpleNamespace

    from transformers import AutoConfig, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ._lm import resolve_model_source
    from .featurizer import encode_queries, model_max_length

    source, gguf_file = resolve_model_source(featurizer.model, featurizer.gguf_file)
    kwargs = {}
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    if featurizer.revision is not None:
        kwargs["revision"] = featurizer.revision
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        config = AutoConfig.from_pretrained(source, **kwargs)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    limit = model_max_length(SimpleNamespace(config=config))
    if featurizer.max_length is not None:
        limit = featurizer.max_length if limit is None else min(limit,
                                                               featurizer.max_length)
    ids, _ = encode_queries(tokenizer, queries, featurizer.prompt_template, limit)
    return [len(r) for r in ids]



class _FeatureWorker:
    """Ray Data actor: loads the LM once, then featurizes one shard per call."""

    def __init__(self, params, model_sha256, folder):
        from .featurizer import HiddenStateFeaturizer

        self.featurizer = HiddenStateFeaturizer(**params).fit()
        _check_same_weights(params["model"], model_sha256, params["gguf_file"],
                            params["revision"])
        self.folder = folder

    def __call__(self, batch):
        import pyarrow as pa

        names = []
        for name, spec in zip(batch["shard"], batch["spec"]):
            spec = json.loads(spec)
            # the shard's queries come in length-sorted order: transform's own
            # stable sort keeps it, so its batches are the single-process ones
            X = self.featurizer.transform(spec["queries"])
            d = X.shape[1]
            features = pa.FixedSizeListArray.from_arrays(
                pa.array(X.reshape(-1), type=pa.float32()), d)
            table = pa.table({
                "position": pa.array(spec["positions"], type=pa.int64()),
                "id": pa.array(spec["ids"]),
                "features": features,
            })
            table = _with_metadata(table, {
                "device": self.featurizer.device_, "n_features": d,
                "digest": spec["digest"]})
            names.append(_write_shard(self.folder, name, table))
        return {"shard": np.array(names, dtype=object)}


def featurize(featurizer, queries, output, *, ids=None, shard_size=None,
              num_actors=1, num_cpus_per_actor=1, num_gpus_per_actor=0,
              max_shards=None, verbose=False):
    """Compute hidden-state features on Ray Data, as Parquet shards in ``output``.

    The same features as ``featurizer.fit_transform(queries)``, computed by a pool
    of Ray actors that each load the LM once. Shards are written to ``output`` as
    they finish; calling again with the same arguments skips the shards already
    there. Read the result with :func:`read_features`.

    Parameters
    ----------
    featurizer : HiddenStateFeaturizer
        Unfitted or fitted; its parameters are what count. Its ``model`` must be
        a name or path (each actor loads it; a model object cannot travel).
        ``memory`` is ignored (the shards are the cache).
    queries : sequence of str
        Query strings, as :meth:`HiddenStateFeaturizer.transform` takes them.
    output : str or path-like
        Folder for the shards and the run description (``skadapt-shards.json``);
        created if missing. The actors write the shards: on a cluster of several
        machines it must be a file system they all mount (NFS or the like) at
        the same path.
    ids : list of str or int, default=None
        Unique query ids stored with the features (default ``0..n-1``).
    shard_size : int, default=None
        Queries per shard, a multiple of ``featurizer.batch_size``; ``None``:
        32 batches.
    num_actors : int, default=1
        Size of the actor pool (LM copies).
    num_cpus_per_actor : float, default=1
        CPUs Ray reserves per actor; Ray also sets the actor's torch threads
        (``OMP_NUM_THREADS``) to it.
    num_gpus_per_actor : float, default=0
        GPUs per actor; with 1, ``device="auto"`` runs each actor on its GPU.
    max_shards : int, default=None
        Write at most this many new shards, then return (a time-boxed job; the
        next call continues).
    verbose : bool, default=False
        Show Ray Data's progress and logs.

    Returns
    -------
    report : ShardReport

    Notes
    -----
    The driver tokenizes every query (the tokenizer and model config only, no
    weights) to sort the queries by prompt length, as the featurizer does; shard
    ``i`` holds positions ``i * shard_size`` to ``(i + 1) * shard_size`` of that
    order, so every query is computed in the batch that
    ``featurizer.fit_transform(queries)`` gives it, and the features are
    bitwise equal to it (same library versions, hardware and torch threads).

    Ray is started by Ray Data if it is not running (a local instance using all
    cores); call ``ray.init(num_cpus=...)`` or ``ray.init(address=...)`` first
    to choose.

    Examples
    --------
    >>> import ray  # doctest: +SKIP
    >>> from skadapt import HiddenStateFeaturizer, distributed
    >>> ray.init(num_cpus=2)  # doctest: +SKIP
    >>> report = distributed.featurize(HiddenStateFeaturizer("smollm2"),
    ...                                ["What is 2 + 2?", "Name a prime."],
    ...                                "features/")  # doctest: +SKIP
    >>> distributed.read_features("features/").shape  # doctest: +SKIP
    (2, 576)
    """
    from .featurizer import HiddenStateFeaturizer, check_queries

    if not isinstance(featurizer, HiddenStateFeaturizer):
        raise TypeError("featurizer must be a HiddenStateFeaturizer, got "
                        f"{type(featurizer).__name__}")
    featurizer._validate_params()
    if not isinstance(featurizer.model, (str, os.PathLike)):
        raise TypeError("featurizer.model must be a name or path: each Ray actor "
                        "loads the model itself (a model object cannot travel)")
    queries = check_queries(queries)
    ids = _check_ids(ids, len(queries))
    size = _shard_size(shard_size, featurizer.batch_size)
    _check_resources(num_actors, num_cpus_per_actor, num_gpus_per_actor, max_shards)
    _check_output(output)  # before the model is hashed
    _import_ray()
    _import_pyarrow()

    from ._lm import model_fingerprint

    params = _featurizer_identity(featurizer)
    fingerprint = model_fingerprint(featurizer.model, featurizer.gguf_file,
                                    featurizer.revision)
    config = {
        "kind": "features", "featurizer": params,
        "model_sha256": fingerprint and fingerprint["sha256"],
        "n_queries": len(queries), "queries_sha256": _digest([ids, queries]),
        "shard_size": size,
    }

    def plan():
        lengths = _prompt_lengths(featurizer, queries)
        order = np.argsort(-np.asarray(lengths), kind="stable").tolist()
        shards = []
        for start in range(0, len(order), size):
            positions = order[start:start + size]
            digest = _digest([config, positions, [ids[i] for i in positions],
                              [queries[i] for i in positions]])
            shards.append({"name": _shard_name("features", start,
                                               start + len(positions), digest),
                           "positions": positions, "digest": digest})
        return shards

    folder, manifest = _open_folder(output, config, plan)
    todo, skipped = [], []
    for shard in manifest["shards"]:
        if os.path.isfile(os.path.join(folder, shard["name"])):
            skipped.append(shard["name"])
            continue
        positions = shard["positions"]
        todo.append((shard["name"], {
            "positions": positions, "ids": [ids[i] for i in positions],
            "queries": [queries[i] for i in positions], "digest": shard["digest"]}))
    worker_params = dict(featurizer.get_params(deep=False), memory=None, verbose=0)
    written = _run_pipeline(
        folder, todo, _FeatureWorker,
        {"params": worker_params, "model_sha256": config["model_sha256"]},
        num_actors=num_actors, num_cpus_per_actor=num_cpus_per_actor,
        num_gpus_per_actor=num_gpus_per_actor, max_shards=max_shards,
        verbose=verbose)
    return ShardReport(folder=folder, shards=[s["name"] for s in manifest["shards"]],
                       written=written, skipped=skipped)


def read_features(folder, *, return_ids=False):
    """Features written by :func:`featurize`, in query order.

    Parameters
    ----------
    folder : str or path-like
        The ``output`` folder of :func:`featurize`.
    return_ids : bool, default=False
        Also return the query ids.

    Returns
    -------
    X : ndarray of shape (n_queries, n_features), dtype float32
        Row ``i`` holds the features of query ``i`` of the ``featurize`` call:
        what ``featurizer.fit_transform(queries)`` returns.
    ids : list
        Only with ``return_ids``.

    Raises
    ------
    ValueError
        When shards are missing (an unfinished run: call ``featurize`` again).

    Examples
    --------
    >>> from skadapt.distributed import read_features
    >>> X = read_features("features/")  # doctest: +SKIP
    """
    _import_pyarrow()
    import pyarrow.parquet as pq

    manifest, paths = _shard_files(folder, "features")
    n = manifest["config"]["n_queries"]
    X, ids, seen = None, [None] * n, np.zeros(n, dtype=bool)
    for path in paths:
        table = pq.read_table(path)
        positions = table.column("position").to_numpy()
        column = table.column("features").combine_chunks()
        d = column.type.list_size
        block = column.flatten().to_numpy().reshape(len(column), d)
        if X is None:
            X = np.empty((n, d), dtype=np.float32)
        if seen[positions].any():
            raise ValueError(f"{path} repeats queries of another shard")
        X[positions] = block
        seen[positions] = True
        for p, i in zip(positions.tolist(), _ids_from_column(table.column("id"))):
            ids[p] = i
    if not seen.all():
        raise ValueError(f"the shards in {folder} cover {int(seen.sum())} of {n} "
                         "queries")
    return (X, ids) if return_ids else X
