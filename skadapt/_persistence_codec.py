"""The JSON form of parameter and attribute values for :mod:`skadapt.persistence`.

:class:`_Encoder` turns a value into JSON (numbers, strings, lists, tuples, dicts,
paths, numpy scalars, torch dtypes and devices, and, for fitted attributes, arrays,
DataFrames, a fitted ``NearestNeighbors``, the allowed dataclasses and nested
estimators), moving arrays aside for the ``.npz`` file; :class:`_Decoder` is its
strict inverse. The folder layout, :func:`~skadapt.persistence.save` and
:func:`~skadapt.persistence.load` stay in :mod:`skadapt.persistence`, which imports
this module: the nested-estimator cases import from it where they run.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import re

import numpy as np

# Plain-data helper objects a fitted estimator may hold (rebuilt from their fields).
_DATACLASSES = ("skadapt.allocation._SpendAccount",)
_NEAREST_NEIGHBORS = "sklearn.neighbors._unsupervised.NearestNeighbors"


# Classes defined in a private module, named by the public module that exports them,
# so that files keep naming the public path when a class moves between private modules
_PUBLIC_MODULES = {"skadapt._binned_allocator": "skadapt.allocation"}


def _qualname(cls):
    return f"{_PUBLIC_MODULES.get(cls.__module__, cls.__module__)}.{cls.__qualname__}"


def _import(qualname, allowed):
    if qualname not in allowed:
        raise ValueError(
            f"the file names the class {qualname!r}, which skadapt.persistence does not "
            f"load; it loads only {', '.join(allowed)}."
        )
    module, _, name = qualname.rpartition(".")
    return getattr(importlib.import_module(module), name)


# ------------------------------------------------------------------------ encoding
class _Encoder:
    """Turn a value into JSON, moving arrays to ``self.arrays`` (keyed by path)."""

    def __init__(self, owner, folder=None):
        self.owner = owner  # for messages
        self.arrays = {}
        # estimators held as parameters or attributes (a search's estimator_) are
        # saved whole in sub-folders estimators/<i>
        self.folder = folder
        self.n_estimators = 0

    def refuse(self, where, value, hint=""):
        raise TypeError(
            f"{self.owner}: {where} is a {type(value).__module__}.{type(value).__qualname__}, "
            f"which the non-pickle format cannot hold{hint}. Use pickle for it (only for "
            "files you trust; see docs/persistence.md)."
        )

    def param(self, name, value):
        try:
            if self._is_estimator(value):
                return self._estimator(value, f"parameter {name}")
            return self.encode(value, f"parameter {name}", arrays=False)
        except TypeError as exc:
            if name not in ("random_state", "cv"):
                raise
            raise TypeError(
                f"{exc} {name} only matters for fit: set it to an int or None before saving."
            ) from None

    def encode(self, value, where, *, arrays=True):
        if value is None or isinstance(value, (bool, str)):
            return value
        if type(value) is int:
            return value
        if type(value) is float:
            return value if math.isfinite(value) else {"$float": repr(value)}
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return {"$numpy_scalar": {"dtype": value.dtype.str,
                                      "value": self.encode(value.item(), where)}}
        if type(value) is list:
            return [self.encode(v, f"{where}[{i}]", arrays=arrays) for i, v in enumerate(value)]
        if type(value) is tuple:
            return {"$tuple": [self.encode(v, f"{where}[{i}]", arrays=arrays)
                               for i, v in enumerate(value)]}
        if type(value) is dict:
            bad = [k for k in value if not isinstance(k, str)]
            if bad:
                raise TypeError(f"{self.owner}: {where} has a key that is not a string: {bad[0]!r}")
            return {"$dict": {k: self.encode(v, _child(where, k), arrays=arrays)
                              for k, v in value.items()}}
        if isinstance(value, os.PathLike):
            return {"$path": os.fspath(value)}
        torch_value = self._torch_value(value)
        if torch_value is not None:
            return torch_value
        if arrays and type(value) is np.ndarray:
            return self._array(value, where)
        if arrays and _qualname(type(value)) == _NEAREST_NEIGHBORS:
            return {"$nearest_neighbors": {
                "params": self.encode(value.get_params(), f"{where}.params", arrays=False),
                # the rows it was fitted on (sklearn keeps them as _fit_X); refitting on
                # them rebuilds the same tree, hence the same neighbours and distances
                "fit_X": self._array(np.asarray(value._fit_X), f"{where}.fit_X"),
            }}
        if arrays and self._is_estimator(value):
            return self._estimator(value, where)
        if arrays and _qualname(type(value)) == "pandas.DataFrame":
            columns = [str(c) for c in value.columns]
            if columns != list(value.columns) or len(set(columns)) != len(columns):
                self.refuse(where, value, " (a DataFrame whose column names are not "
                                          "distinct strings)")
            return {"$dataframe": {
                "columns": columns,
                "data": {c: self._array(value[c].to_numpy(), _child(where, c))
                         for c in columns},
                "index": self._array(value.index.to_numpy(), f"{where}.index"),
            }}
        if arrays and dataclasses.is_dataclass(value) and _qualname(type(value)) in _DATACLASSES:
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return {"$dataclass": {"class": _qualname(type(value)),
                                   "fields": self.encode(fields, where)}}
        self.refuse(where, value)

    @staticmethod
    def _is_estimator(value):
        from .persistence import LOADABLE_CLASSES

        return (not isinstance(value, type) and hasattr(value, "get_params")
                and _qualname(type(value)) in LOADABLE_CLASSES)

    def _estimator(self, value, where):
        from .persistence import _write

        if self.folder is None:
            self.refuse(where, value, " (an estimator inside a Pipeline step's value)")
        sub = f"estimators/{self.n_estimators}"
        self.n_estimators += 1
        os.makedirs(os.path.join(self.folder, sub))
        try:
            _write(value, os.path.join(self.folder, sub))
        except TypeError as exc:
            raise TypeError(f"{self.owner}: {where}: {exc}") from None
        return {"$estimator": sub}

    def _torch_value(self, value):
        torch = _torch_if_loaded()
        if torch is None:
            return None
        if isinstance(value, torch.dtype):
            return {"$torch_dtype": str(value).removeprefix("torch.")}
        if isinstance(value, torch.device):
            return {"$torch_device": str(value)}
        return None

    def _array(self, value, where):
        if value.dtype.kind == "O":
            if not all(isinstance(v, str) for v in value.flat):
                self.refuse(where, value, " (an object array of non-strings)")
            return {"$str_array": {"shape": list(value.shape), "values": list(value.flat)}}
        if value.dtype.kind not in "biufcUS":
            self.refuse(where, value, f" (an array of dtype {value.dtype})")
        key, n = where, 1
        while key in self.arrays:
            n += 1
            key = f"{where}#{n}"
        self.arrays[key] = value
        return {"$array": key}


def _child(where, key):
    # array keys become file names inside the .npz: keep them plain
    return f"{where}.{re.sub(r'[^A-Za-z0-9_]', '_', key)}"


def _torch_if_loaded():
    import sys

    return sys.modules.get("torch")


# ------------------------------------------------------------------------ decoding
class _Decoder:
    """Inverse of :class:`_Encoder`; any unknown shape of JSON is an error."""

    def __init__(self, path, arrays, *, params_only=False):
        self.path = path
        self.arrays = arrays
        self.used = set()
        self.estimators = set()
        # parameters are plain JSON values (or whole estimators in sub-folders): no
        # arrays or fitted objects
        self.params_only = params_only

    def bad(self, where, message):
        raise ValueError(f"{self.path}: {where}: {message}")

    def decode(self, value, where):
        from .persistence import _ARRAYS, load

        if value is None or isinstance(value, (bool, str, int, float)):
            return value
        if isinstance(value, list):
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, dict) or len(value) != 1:
            self.bad(where, f"unexpected value {value!r}")
        (tag, body), = value.items()
        if self.params_only and tag in ("$array", "$str_array", "$nearest_neighbors",
                                        "$dataclass", "$dataframe"):
            self.bad(where, f"a parameter cannot hold {tag!r}")
        if tag == "$estimator" and isinstance(body, str):
            if not re.fullmatch(r"estimators/[0-9]+", body) or body in self.estimators:
                self.bad(where, f"bad estimator folder {body!r}")
            self.estimators.add(body)
            return load(os.path.join(self.path, body))
        if tag == "$dataframe" and isinstance(body, dict) \
                and set(body) == {"columns", "data", "index"}:
            import pandas as pd

            columns = body["columns"]
            if not isinstance(columns, list) or not isinstance(body["data"], dict) \
                    or list(body["data"]) != columns:
                self.bad(where, "a DataFrame's columns and data do not match")
            data = {c: self.decode(body["data"][c], f"{where}[{c!r}]") for c in columns}
            index = self.decode(body["index"], f"{where}.index")
            if not all(isinstance(v, np.ndarray) and v.shape == (len(index),)
                       for v in data.values()) or not isinstance(index, np.ndarray):
                self.bad(where, "a DataFrame's columns are not arrays of its length")
            return pd.DataFrame(data, index=index, columns=columns)
        if tag == "$float":
            if body not in ("nan", "inf", "-inf"):
                self.bad(where, f"bad float {body!r}")
            return float(body)
        if tag == "$tuple" and isinstance(body, list):
            return tuple(self.decode(v, f"{where}[{i}]") for i, v in enumerate(body))
        if tag == "$dict" and isinstance(body, dict):
            return {k: self.decode(v, f"{where}[{k!r}]") for k, v in body.items()}
        if tag == "$path" and isinstance(body, str):
            import pathlib

            return pathlib.Path(body)
        if tag == "$numpy_scalar" and isinstance(body, dict) and set(body) == {"dtype", "value"}:
            try:
                dtype = np.dtype(body["dtype"])
                if dtype.kind in "biuf":
                    return dtype.type(self.decode(body["value"], where))
            except (TypeError, ValueError, OverflowError):
                pass
            self.bad(where, f"bad numpy scalar {body!r}")
        if tag == "$torch_dtype" and isinstance(body, str):
            import torch

            dtype = getattr(torch, body, None)
            if not isinstance(dtype, torch.dtype):
                self.bad(where, f"unknown torch dtype {body!r}")
            return dtype
        if tag == "$torch_device" and isinstance(body, str):
            import torch

            try:
                return torch.device(body)
            except (RuntimeError, ValueError):
                self.bad(where, f"bad torch device {body!r}")
        if tag == "$array" and isinstance(body, str):
            if body not in self.arrays:
                self.bad(where, f"array {body!r} is not in {_ARRAYS}")
            self.used.add(body)
            return self.arrays[body]
        if tag == "$str_array" and isinstance(body, dict) and set(body) == {"shape", "values"}:
            values = body["values"]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                self.bad(where, "a string array holds something else than strings")
            out = np.empty(len(values), dtype=object)
            out[:] = values
            try:
                return out.reshape(body["shape"])
            except (TypeError, ValueError):
                self.bad(where, f"{len(values)} strings do not fit the shape {body['shape']}")
        if tag == "$nearest_neighbors" and isinstance(body, dict) and set(body) == {"params", "fit_X"}:
            from sklearn.neighbors import NearestNeighbors

            params = self.decode(body["params"], f"{where}.params")
            fit_X = self.decode(body["fit_X"], f"{where}.fit_X")
            if not isinstance(params, dict) or not isinstance(fit_X, np.ndarray):
                self.bad(where, "bad NearestNeighbors entry")
            unknown = set(params) - set(NearestNeighbors().get_params())
            if unknown:
                self.bad(where, f"unknown NearestNeighbors parameters {sorted(unknown)}")
            try:
                return NearestNeighbors(**params).fit(fit_X)
            except (TypeError, ValueError) as exc:
                self.bad(where, f"cannot refit NearestNeighbors: {exc}")
        if tag == "$dataclass" and isinstance(body, dict) and set(body) == {"class", "fields"}:
            cls = _import(body["class"], _DATACLASSES)
            fields = self.decode(body["fields"], where)
            expected = {f.name for f in dataclasses.fields(cls)}
            if not isinstance(fields, dict) or set(fields) != expected:
                self.bad(where, f"{body['class']} needs the fields {sorted(expected)}")
            return cls(**fields)
        self.bad(where, f"unknown entry {tag!r}")

