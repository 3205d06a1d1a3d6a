"""Per-query feature store: hidden-state features cached on disk, one row per query.

:class:`~skadapt.HiddenStateFeaturizer` with ``memory=`` keeps its features here.
A store is a folder named after a digest of every setting that changes the
features (the model's *content* fingerprint, layer, pooling, prompt template,
token limit, dtype, device). Inside it, features live in shards, each an ``.npz``
file of query keys (sha256 of the query text) and float32 rows, written to a
temporary name and renamed, so a killed run leaves whole shards only and the next
run featurizes just what is missing. Any fold of a cross-validation, any candidate
of a grid search and any later run reuse every query already featurized, whatever
list it arrived in.

``fit.json`` records what fitting learned from the model (number of layers, hidden
size, token limit), so a featurizer whose queries are all cached never loads the LM.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import numpy as np

FORMAT = "skadapt-features-v1"
_KEY_DTYPE = "S64"


def query_keys(queries):
    """sha256 hex digest of each query's UTF-8 text, as a fixed-width bytes array."""
    return np.array([hashlib.sha256(q.encode("utf-8")).hexdigest().encode("ascii")
                     for q in queries], dtype=_KEY_DTYPE)


def memory_location(memory):
    """Folder of a ``memory`` parameter (a path or a ``joblib.Memory``), or None."""
    if memory is None:
        return None
    if isinstance(memory, (str, os.PathLike)):
        return Path(memory).expanduser()
    if hasattr(memory, "location"):
        return None if memory.location is None else Path(memory.location).expanduser()
    raise ValueError(
        "memory must be None, a folder path or a joblib.Memory, got "
        f"{type(memory).__name__}"
    )


def _write_atomic(path, write):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class FeatureStore:
    """Features of single queries under one set of settings (see the module doc).

    Parameters
    ----------
    root : path-like
        The ``memory`` folder; the store lives in ``root/skadapt-features/<digest>``.
    settings : dict
        JSON-serialisable description of everything that changes the features.
    """

    def __init__(self, root, settings):
        self.settings = dict(settings, format=FORMAT)
        blob = json.dumps(self.settings, sort_keys=True, default=str)
        self.digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]
        self.path = Path(root) / "skadapt-features" / self.digest
        self._blob = blob

    # -- fit record -----------------------------------------------------------
    def read_fit_record(self):
        """What fitting learned from the model, or None when never recorded."""
        try:
            with open(self.path / "fit.json", encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def write_fit_record(self, record):
        self._ensure()
        _write_atomic(self.path / "fit.json", lambda tmp: tmp.write_text(
            json.dumps(record, sort_keys=True), encoding="utf-8"))

    # -- rows -----------------------------------------------------------------
    def _ensure(self):
        self.path.mkdir(parents=True, exist_ok=True)
        settings = self.path / "settings.json"
        if not settings.exists():
            _write_atomic(settings, lambda tmp: tmp.write_text(self._blob,
                                                               encoding="utf-8"))

    def shards(self):
        return sorted(self.path.glob("shard-*.npz")) if self.path.is_dir() else []

    def lookup(self, keys, n_features):
        """Rows of the stored keys among ``keys``.

        Returns
        -------
        features : ndarray of shape (len(keys), n_features), float32
            Stored rows; rows of keys not found are undefined.
        found : ndarray of bool, shape (len(keys),)
        """
        keys = np.asarray(keys, dtype=_KEY_DTYPE)
        features = np.zeros((len(keys), n_features), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        if len(keys) == 0:
            return features, found
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        for shard in self.shards():
            if found.all():
                break
            try:
                with np.load(shard, allow_pickle=False) as data:
                    stored = data["keys"]
                    where = np.searchsorted(sorted_keys, stored)
                    where = np.minimum(where, len(sorted_keys) - 1)
                    hit = (sorted_keys[where] == stored)
                    if not hit.any():
                        continue
                    rows = data["features"]
                    if rows.shape != (len(stored), n_features):
                        raise ValueError(f"has features of shape {rows.shape}")
            except Exception as exc:  # noqa: BLE001 - name the file, whatever broke
                raise ValueError(
                    f"feature cache shard {shard} is unreadable ({exc}); delete it "
                    f"(or the folder {self.path}) to featurize its queries again"
                ) from None
            # every position of a query that appears several times in ``keys``
            for i in np.flatnonzero(hit):
                lo = where[i]
                hi = np.searchsorted(sorted_keys, stored[i], side="right")
                targets = order[lo:hi]
                features[targets] = rows[i]
                found[targets] = True
        return features, found

    def add(self, keys, features):
        """Write one shard of rows (atomically)."""
        keys = np.asarray(keys, dtype=_KEY_DTYPE)
        features = np.ascontiguousarray(features, dtype=np.float32)
        if features.shape[0] != len(keys):
            raise ValueError(f"{len(keys)} keys for {features.shape[0]} feature rows")
        self._ensure()
        path = self.path / f"shard-{uuid.uuid4().hex}.npz"

        def write(tmp):
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=keys, features=features)

        _write_atomic(path, write)
        return path
