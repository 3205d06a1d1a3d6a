"""Featurization and collection as Ray Data pipelines, written as Parquet shards.

The paper's setting (a 7B model, thousands of queries, 64-100 samples each) is days
of single-process work. This module runs the two LM-bound steps on a Ray cluster
(or a local Ray instance) with the results written as Parquet shards in a folder:

* :func:`featurize` computes :class:`~skadapt.HiddenStateFeaturizer` features;
  :func:`read_features` returns them as the ``(n, d)`` array that
  ``featurizer.fit_transform(queries)`` returns, in query order.
* :func:`collect` samples and verifies answers with
  :func:`skadapt.sampling.sample_and_score`; :func:`read_collection` returns the
  :class:`~skadapt.sampling.SamplingResult` that a single ``sample_and_score``
  call returns (feed it to :func:`skadapt.datasets.write_dataset` to get the
  dataset files ``skadapt collect`` writes).

How the work is split. The queries are cut into shards of whole LM batches; each
shard is one row of a Ray Data dataset, mapped by a fixed pool of actors that each
load the LM once (``map_batches`` with an ``ActorPoolStrategy``). An actor writes
each shard it finishes under a name derived from the shard's range and a digest of
the run's settings and the shard's queries, to a temporary name first and then
renamed, so a killed run leaves whole shards only.
A restarted call skips the shards already there; a folder written with other
settings (other weights, verifier, sampling parameters, queries or shard size) is
refused with a message naming what differs (the run's identity is kept in
``skadapt-shards.json``).

Why the results equal the single-process ones. Per-query seeds are what
:mod:`skadapt.sampling` uses already (query ``q`` samples from
``query_seed(random_state, q)``), but an LM's floating-point output for a query
also depends, in its last bits, on which other queries share its padded batch. So
the shards are made of the very batches the single-process path forms: for
sampling, consecutive ``batch_size`` queries (as ``skadapt collect --part`` does);
for features, consecutive ``batch_size`` queries of the length-sorted order that
:class:`~skadapt.HiddenStateFeaturizer` uses (the driver tokenizes the queries to
sort them, without loading weights). With the same settings, library versions,
hardware and number of torch threads, the outputs are bitwise the single-process
ones whatever the number of actors.

Ray is an optional extra: ``pip install "skadapt[ray]"``. This module imports it
only when a pipeline runs; the readers need only pyarrow.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import uuid
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

__all__ = [
    "ShardReport",
    "collect",
    "featurize",
    "read_collection",
    "read_features",
]

MANIFEST = "skadapt-shards.json"
FORMAT_VERSION = 1
# Batches per shard when shard_size is not given: few enough shards that the
# per-shard overhead (a Ray task, a file) is small, enough to spread the work.
DEFAULT_BATCHES_PER_SHARD = 32


@dataclass
class ShardReport:
    """What a call to :func:`featurize` or :func:`collect` did.

    Attributes
    ----------
    folder : str
        The output folder.
    shards : list of str
        File names of every shard of the run, in query order (features: in the
        length-sorted order).
    written : list of str
        Shards written by this call.
    skipped : list of str
        Shards that were already there (a resumed run).
    """

    folder: str
    shards: list
    written: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    @property
    def complete(self):
        """Whether every shard of the run is on disk."""
        return all(os.path.exists(os.path.join(self.folder, s)) for s in self.shards)


# ---------------------------------------------------------------------------
# imports, checks and small helpers
# ---------------------------------------------------------------------------

def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "skadapt.distributed needs Ray Data, an optional extra: "
            "`pip install \"skadapt[ray]\"` (or `pip install \"ray[data]\"`)"
        ) from exc
    return ray


def _import_pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "reading and writing Parquet shards needs pyarrow: "
            "`pip install \"skadapt[ray]\"` (or `pip install pyarrow`)"
        ) from exc
    return pyarrow


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _digest(obj):
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_ids(ids, n):
    """Query ids as plain Python values: unique, all ``int`` or all ``str``
    (a Parquet column has one type)."""
    if ids is None:
        return list(range(n))
    if isinstance(ids, (str, bytes)):
        raise TypeError("ids must be a list of query ids, not a single string")
    plain = [i.item() if isinstance(i, np.generic) else i for i in ids]
    if len(plain) != n:
        raise ValueError(f"got {len(plain)} ids for {n} queries")
    if all(isinstance(i, str) for i in plain):
        pass
    elif not all(isinstance(i, Integral) and not isinstance(i, bool) for i in plain):
        raise TypeError("ids must be all strings or all integers (one Parquet column)")
    else:
        plain = [int(i) for i in plain]
    if len(set(plain)) != len(plain):
        raise ValueError("ids must be unique")
    return plain


def _check_count(name, value, *, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_resources(num_actors, num_cpus_per_actor, num_gpus_per_actor, max_shards):
    _check_count("num_actors", num_actors)
    for name, value in (("num_cpus_per_actor", num_cpus_per_actor),
                        ("num_gpus_per_actor", num_gpus_per_actor)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) \
                or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    _check_count("max_shards", max_shards, allow_none=True)


def _check_output(output):
    """``output`` as a str, refused before any work when it cannot be a folder."""
    if not isinstance(output, (str, os.PathLike)):
        raise TypeError(f"output must be a folder path, got {type(output).__name__}")
    output = os.fspath(output)
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"output {output!r} exists and is not a folder")
    return output


def _check_device_name(device):
    """A torch device string, read as torch reads it (whether the actors have that
    device is known only on them, once Ray has started)."""
    import torch

    if not isinstance(device, str):
        raise TypeError(f"device must be a string, got {type(device).__name__}")
    try:
        torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device {device!r} is not a torch device") from None


def _shard_size(shard_size, batch_size):
    if shard_size is None:
        return DEFAULT_BATCHES_PER_SHARD * batch_size
    shard_size = _check_count("shard_size", shard_size)
    if shard_size % batch_size:
        raise ValueError(
            f"shard_size={shard_size} must be a multiple of batch_size={batch_size}: "
            "a shard is made of whole batches, so that every query is computed in "
            "the batch the single-process path gives it")
    return shard_size


def _shard_name(kind, start, stop, digest):
    return f"{kind}-{start:09d}-{stop:09d}-{digest[:16]}.parquet"


def _write_atomic(path, data):
    """Write ``data`` to ``path`` through a temporary file and a rename, so that
    a killed writer leaves either the whole file or no file under ``path``."""
    tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read_manifest(folder):
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the run description {path}: {exc}") from None
    if not isinstance(manifest, dict) or "config" not in manifest \
            or "shards" not in manifest:
        raise ValueError(f"{path} is not a skadapt shard manifest")
    return manifest


def _differences(saved, config, prefix=""):
    """Names of the entries that differ between two nested dicts."""
    out = []
    for key in sorted(set(saved) | set(config)):
        a, b = saved.get(key), config.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} ({a!r} there, {b!r} now)")
    return out


def _open_folder(output, config, plan):
    """Create ``output`` (or check the run it holds) and return its manifest.

    ``plan`` is called only for a new folder and returns the shard list.
    """
    if not isinstance(output, (str, os.PathLike)):
        raise TypeError(f"output must be a folder path, got {type(output).__name__}")
    output = os.fspath(output)
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"output {output!r} exists and is not a folder")
    os.makedirs(output, exist_ok=True)
    # JSON round trip: the saved config compares equal to a fresh one
    config = json.loads(json.dumps(config, default=_json_default))
    manifest = _read_manifest(output)
    if manifest is not None:
        diff = _differences(manifest["config"], config)
        if diff:
            raise ValueError(
                f"{output} holds shards of another run; what differs: "
                + "; ".join(diff) + ". Use another output folder (or delete this one)")
        return output, manifest
    manifest = {"format": FORMAT_VERSION, "config": config, "shards": plan()}
    _write_atomic(os.path.join(output, MANIFEST),
                  json.dumps(manifest, separators=(",", ":")).encode())
    return output, manifest


class _quiet_ray_data:
    """Silence Ray Data's progress bars and execution logs unless ``verbose``."""

    def __init__(self, verbose):
        self.verbose = verbose

    def __enter__(self):
        import ray.data

        ctx = ray.data.DataContext.get_current()
        self.saved = ctx.enable_progress_bars
        ctx.enable_progress_bars = bool(self.verbose)
        # execution logs, and the notice that progress bars are off
        self.levels = {}
        if not self.verbose:
            for name, level in (("ray.data", logging.WARNING),
                                ("ray.data._internal.progress", logging.ERROR)):
                logger = logging.getLogger(name)
                self.levels[name] = logger.level
                logger.setLevel(level)
        return self

    def __exit__(self, *exc):
        import ray.data

        ray.data.DataContext.get_current().enable_progress_bars = self.saved
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)
        return False


def _run_pipeline(folder, todo, worker, constructor_kwargs, *, num_actors,
                  num_cpus_per_actor, num_gpus_per_actor, max_shards, verbose):
    """Map the pending shards ``todo`` (``[(name, spec)]``) with a pool of
    ``worker`` actors, each writing its shards into ``folder``; returns the
    names written."""
    ray = _import_ray()
    if max_shards is not None:
        # an actor pool computes ahead of the writer: hand out only what is kept
        todo = todo[:max_shards]
    if not todo:
        return []
    items = [{"shard": name, "spec": json.dumps(spec, default=_json_default)}
             for name, spec in todo]
    with _quiet_ray_data(verbose):
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.map_batches(
            worker, batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(num_actors, len(items))),
            fn_constructor_kwargs=dict(constructor_kwargs, folder=folder),
            num_cpus=num_cpus_per_actor, num_gpus=num_gpus_per_actor,
        )
        # the actors write the shards as they finish (the driver's iterator
        # would hand them over later); the driver only collects their names
        return [str(row["shard"]) for row in ds.take_all()]


def _write_shard(folder, name, table):
    """Write one shard (atomically) and return the row an actor hands back."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    _write_atomic(os.path.join(folder, name), sink.getvalue().to_pybytes())
    return str(name)


def _with_metadata(table, meta):
    return table.replace_schema_metadata(
        {b"skadapt": json.dumps(meta, default=_json_default).encode()})


def _shard_files(folder, kind):
    """The manifest's shards as full paths; raises when some are missing."""
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a folder path, got {type(folder).__name__}")
    folder = os.fspath(folder)
    manifest = _read_manifest(folder)
    if manifest is None:
        raise FileNotFoundError(f"no {MANIFEST} in {folder}: not a shard folder")
    if manifest["config"].get("kind") != kind:
        raise ValueError(f"{folder} holds {manifest['config'].get('kind')} shards, "
                         f"not {kind} shards")
    paths = [os.path.join(folder, s["name"]) for s in manifest["shards"]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(paths)} shards are missing in {folder} (first: "
            f"{os.path.basename(missing[0])}); run the same call again to finish")
    return manifest, paths


def _ids_from_column(column):
    return [v if isinstance(v, str) else int(v) for v in column.to_pylist()]


# ---------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------

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


def _check_same_weights(model, model_sha256, gguf_file=None, revision=None):
    """The content hash of ``model`` on this machine; a ``ValueError`` when the
    driver's (``model_sha256``, if known) is another."""
    from ._lm import model_fingerprint

    fingerprint = model_fingerprint(model, gguf_file, revision)
    sha = fingerprint and fingerprint["sha256"]
    if model_sha256 is not None and sha != model_sha256:
        import socket

        raise ValueError(
            f"the model {model!r} on {socket.gethostname()} has other weights "
            f"(sha256 {sha}) than the driver's ({model_sha256})")
    return sha


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


# ---------------------------------------------------------------------------
# collection (sampling + verification)
# ---------------------------------------------------------------------------

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
