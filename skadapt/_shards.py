"""The shard folder and Ray Data plumbing shared by :mod:`skadapt.distributed`'s pipelines.

The run description (``skadapt-shards.json``) and its checks, shard names and atomic
writes, the argument checks both pipelines make before Ray starts, the actor-pool
runner, the actors' check that they load the driver's weights, and
:class:`ShardReport`. Featurization is in :mod:`skadapt._ray_features`, collection in
:mod:`skadapt._ray_collection`.
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
