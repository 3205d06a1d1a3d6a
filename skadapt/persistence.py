"""Save and load fitted estimators without pickle.

A policy (featurizer, probe, allocator, or a :class:`~sklearn.pipeline.Pipeline` of
them) is written to a folder that holds no code: parameters and scalar fitted
attributes as JSON, fitted arrays in a ``.npz`` file read with ``allow_pickle=False``,
and torch weights as safetensors. :func:`load` rebuilds only the skadapt estimators
listed in :data:`LOADABLE_CLASSES` and checks every array and tensor against what the
file says and what the rebuilt network expects, so a missing, extra or reshaped one is
an error that names it. Loading a pickle, by contrast, runs code from the file (see
``docs/persistence.md``).

Layout of a saved folder::

    skadapt.json            format, skadapt version, class, params, fitted attributes
    arrays.npz              fitted numpy arrays, by attribute path
    <module>.safetensors    state of each torch module (e.g. module_.safetensors)
    steps/<i>/              one folder per step of a Pipeline
    estimators/<i>/         one folder per estimator held by another (a search's)

Everything in an estimator's ``__dict__`` that is not a parameter is written: numbers,
strings, None, lists, tuples, dicts with string keys, numpy arrays and scalars, the
torch modules the estimator names in ``_torch_module_attrs``, and two fitted helper
objects (the probe's :class:`~sklearn.neighbors.NearestNeighbors`, refitted on its
stored rows, and the allocator's pacing account). Anything else is a ``TypeError``
at :func:`save`, naming the attribute, rather than an attribute silently left out.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import math
import os
import re
import shutil
import tempfile
import warnings
import zipfile

import numpy as np

from ._versioning import InconsistentVersionWarning, current_version, warn_if_other_version

__all__ = ["LOADABLE_CLASSES", "InconsistentVersionWarning", "load", "save"]

FORMAT = "skadapt-estimator"
FORMAT_VERSION = 1
_MANIFEST = "skadapt.json"
_ARRAYS = "arrays.npz"
_PIPELINE = "sklearn.pipeline.Pipeline"

#: Classes that :func:`load` rebuilds, by qualified name (nothing else is imported).
LOADABLE_CLASSES = (
    "skadapt.allocation.GreedyAllocator",
    "skadapt.allocation.BinnedAllocator",
    "skadapt.probes.SuccessProbClassifier",
    "skadapt.probes.MarginalRewardRegressor",
    "skadapt.featurizer.HiddenStateFeaturizer",
    "skadapt.lora.LoRAProbe",
    "skadapt.routing.Router",
    "skadapt.routing.BestOfKPreference",
    "skadapt.budget_search.BudgetSearchCV",
    "skadapt.calibration.CalibratedCurves",
    _PIPELINE,
)
# Plain-data helper objects a fitted estimator may hold (rebuilt from their fields).
_DATACLASSES = ("skadapt.allocation._SpendAccount",)
_NEAREST_NEIGHBORS = "sklearn.neighbors._unsupervised.NearestNeighbors"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _qualname(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


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
        return (not isinstance(value, type) and hasattr(value, "get_params")
                and _qualname(type(value)) in LOADABLE_CLASSES)

    def _estimator(self, value, where):
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


# ---------------------------------------------------------------------------- save
def save(estimator, path, *, overwrite=False):
    """Write a (fitted or unfitted) estimator to the folder ``path``, without pickle.

    Parameters
    ----------
    estimator : estimator
        One of the classes in :data:`LOADABLE_CLASSES` (exactly, not a subclass), or a
        :class:`~sklearn.pipeline.Pipeline` whose steps are (or are ``"passthrough"``
        / None).
    path : str or path-like
        Folder to create. Its contents are written to a temporary folder beside it
        first and renamed into place, so a failed save leaves no half-written folder.
    overwrite : bool, default=False
        Replace ``path`` if it holds an earlier save (a folder with ``skadapt.json``).
        Any other existing file or folder is never replaced.

    Raises
    ------
    TypeError
        When the estimator, one of its parameters or one of its fitted attributes
        cannot be written without pickle (the message names it). A
        :class:`~skadapt.HiddenStateFeaturizer` holding a model object, a
        ``random_state`` that is a ``RandomState``, or a ``cv`` splitter object are
        examples: pass names, paths and ints instead.
    FileExistsError
        When ``path`` exists and ``overwrite`` is False, or it is not an earlier save.

    See Also
    --------
    load : The inverse.

    Notes
    -----
    A :class:`~skadapt.HiddenStateFeaturizer` or :class:`~skadapt.LoRAProbe` stores
    the *name or path* of its language model, not its weights (a LoRA probe stores its
    adapters and head): :func:`load` needs the same model at the same place.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from skadapt import BinnedAllocator
    >>> from skadapt.persistence import load, save
    >>> lam = np.linspace(0.05, 0.95, 20).reshape(-1, 1)
    >>> alloc = BinnedAllocator(budget=2, max_budget=4, kind="success_prob").fit(lam)
    >>> folder = os.path.join(tempfile.mkdtemp(), "policy")
    >>> save(alloc, folder)
    >>> sorted(os.listdir(folder))
    ['arrays.npz', 'skadapt.json']
    >>> bool((load(folder).transform(lam) == alloc.transform(lam)).all())
    True
    """
    path = os.path.normpath(_check_path(path))
    if not isinstance(overwrite, (bool, np.bool_)):
        # a truthy string would replace an earlier save without being asked to
        raise TypeError(f"overwrite must be True or False; got {overwrite!r}.")
    _check_savable(estimator)
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.lexists(path):
        if not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace an earlier save.")
        if not os.path.isfile(os.path.join(path, _MANIFEST)):
            raise FileExistsError(
                f"{path} exists and is not an earlier skadapt save (no {_MANIFEST}); "
                "refusing to replace it."
            )
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=parent)
    except OSError as exc:  # the message would name a temporary folder or a parent only
        raise type(exc)(exc.errno, f"cannot save to {path}: cannot create a folder in "
                        f"{parent} ({exc.strerror})") from None
    try:
        _write(estimator, tmp)
        if os.path.lexists(path):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old.", dir=parent)
            os.rename(path, os.path.join(old, "x"))
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_path(path):
    """``path`` as a str; None, numbers and the empty string get a message naming it."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or path-like (a folder); got {type(path).__name__}.")
    path = os.fspath(path)
    if not isinstance(path, str):  # bytes
        path = os.fsdecode(path)
    if not path:
        raise ValueError("path is empty; pass the folder to write or read.")
    return path


def _check_savable(estimator):
    qualname = _qualname(type(estimator))
    if qualname not in LOADABLE_CLASSES:
        raise TypeError(
            f"skadapt.persistence saves only {', '.join(LOADABLE_CLASSES)}; got a "
            f"{qualname}. Use pickle for it (only for files you trust; see "
            "docs/persistence.md)."
        )
    if qualname == _PIPELINE:
        for name, step in estimator.steps:
            if step is None or (isinstance(step, str) and step == "passthrough"):
                continue
            try:
                _check_savable(step)
            except TypeError as exc:
                raise TypeError(f"Pipeline step {name!r}: {exc}") from None


def _manifest(estimator, **content):
    import sklearn

    return {"format": FORMAT, "format_version": FORMAT_VERSION,
            "skadapt_version": current_version(), "sklearn_version": sklearn.__version__,
            "class": _qualname(type(estimator)), **content}


def _write_json(obj, path):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=1, allow_nan=False)
        fh.write("\n")


def _write(estimator, folder):
    if _qualname(type(estimator)) == _PIPELINE:
        return _write_pipeline(estimator, folder)
    owner = type(estimator).__name__
    encoder = _Encoder(owner, folder)
    params = estimator.get_params(deep=False)
    encoded_params = {k: encoder.param(k, v) for k, v in params.items()}
    module_names = set(getattr(estimator, "_torch_module_attrs", ()))
    attributes, modules = {}, {}
    for name, value in vars(estimator).items():
        if name in params:
            continue
        _check_attribute_name(type(estimator), name, params, lambda m: TypeError(f"{owner}: {m}"))
        if name in module_names:
            modules[name] = _write_module(estimator, name, value, folder)
        else:
            attributes[name] = encoder.encode(value, name)
    _write_arrays(encoder.arrays, os.path.join(folder, _ARRAYS))
    arrays = {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in encoder.arrays.items()}
    _write_json(
        _manifest(estimator, params=encoded_params, attributes=attributes, arrays=arrays,
                  modules=modules, estimators=encoder.n_estimators),
        os.path.join(folder, _MANIFEST),
    )


def _write_arrays(arrays, file):
    # what np.savez does, without passing the keys as keyword arguments (a key named
    # "file" or "allow_pickle" would collide) and with pickling turned off
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in arrays.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)


def _write_pipeline(pipe, folder):
    owner = "Pipeline"
    encoder = _Encoder(owner)
    params = pipe.get_params(deep=False)
    extra = sorted(set(vars(pipe)) - set(params))
    if extra:
        raise TypeError(f"Pipeline: attributes {extra} are not parameters; cannot save them.")
    steps = []
    for i, (name, step) in enumerate(pipe.steps):
        if step is None or (isinstance(step, str) and step == "passthrough"):
            steps.append({"name": name, "value": step})
            continue
        sub = os.path.join("steps", str(i))
        os.makedirs(os.path.join(folder, sub))
        _write(step, os.path.join(folder, sub))
        steps.append({"name": name, "folder": f"steps/{i}"})
    encoded = {k: encoder.param(k, v) for k, v in params.items() if k != "steps"}
    _write_json(_manifest(pipe, params=encoded, steps=steps), os.path.join(folder, _MANIFEST))


def _flatten(state, prefix=""):
    flat = {}
    for key, value in state.items():
        if "/" in key:  # "/" separates the levels of nested state dicts
            raise ValueError(f"state key {key!r} contains '/'")
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _unflatten(flat):
    state = {}
    for key, value in flat.items():
        *levels, last = key.split("/")
        node = state
        for level in levels:
            node = node.setdefault(level, {})
        node[last] = value
    return state


def _tensor_info(tensors):
    return {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)}
            for k, v in tensors.items()}


def _write_module(estimator, name, module, folder):
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous()
               for k, v in _flatten(estimator._module_state(name, module)).items()}
    filename = f"{name}.safetensors"
    save_file(tensors, os.path.join(folder, filename), metadata={"format": "pt"})
    return {"file": filename, "tensors": _tensor_info(tensors)}


def _check_attribute_name(cls, name, params, error):
    # a name that shadows a method or class attribute (``predict``, ``__class__``)
    # would change behaviour rather than state
    if (not isinstance(name, str) or not _NAME.match(name) or name.startswith("__")
            or name in params or hasattr(cls, name)):
        raise error(f"attribute name {name!r} is not a fitted attribute "
                    "(it shadows a parameter, a method or a class attribute, or is not an identifier)")


# ---------------------------------------------------------------------------- load
def load(path):
    """Rebuild an estimator written by :func:`save`.

    Only the classes in :data:`LOADABLE_CLASSES` are rebuilt and no pickle is read:
    arrays are loaded with ``allow_pickle=False`` and weights from safetensors.
    Loading is strict: an array or tensor that is missing, unexpected, or of another
    shape or dtype than the file and the rebuilt network expect is an error naming it.

    Parameters
    ----------
    path : str or path-like
        Folder written by :func:`save`.

    Returns
    -------
    estimator : estimator
        The estimator, fitted if it was saved fitted. Torch modules go to the device
        they were saved on when it exists here, else to CPU with a
        :class:`~skadapt._devices.DeviceWarning` (``device_`` is then ``"cpu"``).

    Raises
    ------
    FileNotFoundError
        When ``path`` or one of its files is missing.
    ValueError
        When the folder is not a skadapt save, names a class outside
        :data:`LOADABLE_CLASSES`, or its arrays, tensors, parameters or attributes do
        not match (the message names the first problem).

    Warns
    -----
    InconsistentVersionWarning
        When the file was written by another skadapt version.

    See Also
    --------
    save : The inverse.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from skadapt import GreedyAllocator
    >>> from skadapt.persistence import load, save
    >>> folder = os.path.join(tempfile.mkdtemp(), "greedy")
    >>> save(GreedyAllocator(budget=2, max_budget=4, kind="success_prob").fit([[0.5]]), folder)
    >>> load(folder).transform([[0.9], [0.5], [0.1], [0.0]]).ravel()
    array([2, 3, 3, 0])
    """
    path = _check_path(path)
    manifest = _read_manifest(path)
    cls = _import(manifest["class"], LOADABLE_CLASSES)
    warn_if_other_version(cls.__name__, manifest["skadapt_version"])
    if manifest["class"] == _PIPELINE:
        return _load_pipeline(path, manifest, cls)
    _require_keys(path, manifest, {"params", "attributes", "arrays", "modules"})
    arrays = _read_arrays(path, manifest["arrays"])
    decoder = _Decoder(path, arrays)
    decoder.estimators = set()
    estimator = _construct(path, cls, _decode_params(
        path, cls, manifest["params"], decoder.estimators,
        saved_version=manifest["skadapt_version"]))
    params = estimator.get_params(deep=False)
    attributes = manifest["attributes"]
    modules = manifest["modules"]
    if not isinstance(attributes, dict) or not isinstance(modules, dict):
        raise ValueError(f"{path}: 'attributes' and 'modules' must be JSON objects")
    for name in list(attributes) + list(modules):
        _check_attribute_name(cls, name, params, lambda m: ValueError(f"{path}: {m}"))
    for name, value in attributes.items():
        setattr(estimator, name, decoder.decode(value, f"attribute {name}"))
    unused = sorted(set(arrays) - decoder.used)
    if unused:
        raise ValueError(f"{path}: {_ARRAYS} holds arrays that no attribute uses: {unused}")
    n_estimators = manifest.get("estimators", 0)
    folder = os.path.join(path, "estimators")
    on_disk = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    expected = sorted(str(i) for i in range(n_estimators)) \
        if isinstance(n_estimators, int) else None
    used = sorted(e.split("/")[1] for e in decoder.estimators)
    if expected is None or on_disk != expected or sorted(used, key=int) != sorted(
            expected, key=int):
        raise ValueError(f"{path}: the estimators/ folder holds {on_disk}, the manifest "
                         f"lists {n_estimators} and the parameters and attributes use "
                         f"{used}")
    if modules:
        _load_modules(path, estimator, modules)
    elif "device_" in attributes:
        _fall_back_device(path, estimator)
    return estimator


def _read_manifest(path):
    file = os.path.join(path, _MANIFEST)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path} is not a folder written by skadapt.persistence.save")
    if not os.path.isfile(file):
        raise FileNotFoundError(f"{path} has no {_MANIFEST}; it is not a skadapt save")

    def no_constants(token):
        raise ValueError(f"{file}: {token} is not valid JSON")

    try:
        with open(file, encoding="utf-8") as fh:
            manifest = json.load(fh, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{file} is not a skadapt save (format must be {FORMAT!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{file} has format_version {version!r}; this skadapt ({current_version()}) "
            f"reads format_version {FORMAT_VERSION} only"
        )
    _require_keys(path, manifest, {"skadapt_version", "sklearn_version", "class"})
    for key in ("class", "skadapt_version"):
        if not isinstance(manifest[key], str):
            raise ValueError(f"{file}: {key!r} must be a string")
    return manifest


def _require_keys(path, manifest, keys):
    missing = sorted(keys - set(manifest))
    if missing:
        raise ValueError(f"{path}/{_MANIFEST} lacks the entries {missing}")


def _decode_params(path, cls, encoded, estimators=None, *, saved_version=None):
    if not isinstance(encoded, dict):
        raise ValueError(f"{path}: 'params' must be a JSON object")
    decoder = _Decoder(path, {}, params_only=True)
    if estimators is not None:
        decoder.estimators = estimators  # shared with the attributes' decoder
    params = {k: decoder.decode(v, f"parameter {k}") for k, v in encoded.items()}
    signature = inspect.signature(cls.__init__).parameters
    expected = {k for k in signature if k not in ("self", "steps")}
    missing, unexpected = sorted(expected - set(params)), sorted(set(params) - expected)
    if saved_version != current_version():
        # a parameter added since that version: its default keeps the old behaviour
        # (the version warning has been raised); within one version, missing is tampering
        missing = [k for k in missing if signature[k].default is inspect.Parameter.empty]
    if missing or unexpected:
        raise ValueError(
            f"{path}: the parameters do not match {cls.__name__}: missing {missing}, "
            f"unexpected {unexpected}"
        )
    return params


def _read_arrays(path, listed):
    file = os.path.join(path, _ARRAYS)
    if not isinstance(listed, dict):
        raise ValueError(f"{path}: 'arrays' must be a JSON object")
    if not os.path.isfile(file):
        raise FileNotFoundError(f"{path} has no {_ARRAYS}")
    arrays = {}
    try:
        with np.load(file, allow_pickle=False) as npz:
            names = set(npz.files)
            missing, unexpected = sorted(set(listed) - names), sorted(names - set(listed))
            if missing or unexpected:
                raise ValueError(
                    f"{file} does not hold the arrays {_MANIFEST} lists: missing {missing}, "
                    f"unexpected {unexpected}"
                )
            for name in sorted(names):
                try:
                    value = npz[name]
                except ValueError as exc:
                    if "allow_pickle" in str(exc):
                        raise ValueError(
                            f"{file}: array {name!r} holds Python objects (a pickle); "
                            "refusing to load it"
                        ) from None
                    raise ValueError(f"{file}: array {name!r} cannot be read: {exc}") from None
                info = listed[name]
                if (not isinstance(info, dict) or value.dtype.str != info.get("dtype")
                        or list(value.shape) != info.get("shape")):
                    raise ValueError(
                        f"{file}: array {name!r} has dtype {value.dtype.str} and shape "
                        f"{list(value.shape)}; {_MANIFEST} says {info}"
                    )
                arrays[name] = value
    except (OSError, EOFError) as exc:  # not a zip file, truncated, ...
        raise ValueError(f"{file} cannot be read as .npz: {exc}") from None
    except ValueError as exc:
        if str(exc).startswith(file):
            raise
        raise ValueError(f"{file} cannot be read as .npz: {exc}") from None
    return arrays


def _fall_back_device(path, estimator):
    from ._devices import DeviceWarning, device_available

    device = estimator.device_
    try:
        available = isinstance(device, str) and device_available(device)
    except (TypeError, RuntimeError, ValueError):
        available = None
    if not isinstance(device, str) or available is None:
        raise ValueError(f"{path}: device_={device!r} is not a torch device")
    if not available:
        warnings.warn(
            f"{type(estimator).__name__} was saved on device {device!r}, which is not "
            "available here; it is loaded on 'cpu' (device_ is set to 'cpu').",
            DeviceWarning, stacklevel=3,
        )
        estimator.device_ = "cpu"


def _load_modules(path, estimator, modules):
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ._training import isolated_rng

    owner = type(estimator).__name__
    allowed = set(getattr(estimator, "_torch_module_attrs", ()))
    unknown = sorted(set(modules) - allowed)
    if unknown:
        raise ValueError(f"{path}: {owner} has no torch modules named {unknown}")
    _fall_back_device(path, estimator)
    device = estimator.device_
    for name, entry in modules.items():
        if (not isinstance(entry, dict) or set(entry) != {"file", "tensors"}
                or entry["file"] != f"{name}.safetensors"):
            raise ValueError(f"{path}: bad entry for module {name!r}: {entry!r}")
        file = os.path.join(path, entry["file"])
        if not os.path.isfile(file):
            raise FileNotFoundError(f"{path} has no {entry['file']} (the weights of {name})")
        try:
            tensors = load_file(file)
        except (SafetensorError, OSError, ValueError) as exc:
            raise ValueError(f"{file} cannot be read as safetensors: {exc}") from None
        if _tensor_info(tensors) != entry["tensors"]:
            raise ValueError(
                f"{file} does not hold the tensors {_MANIFEST} lists: "
                + _tensor_mismatch(_tensor_info(tensors), entry["tensors"])
            )
        # the architecture from the fitted attributes; its initial weights are
        # overwritten (the seed keeps torch's global RNG untouched)
        try:
            with isolated_rng(0, device):
                module = estimator._build_module(name)
            expected = _tensor_info(_flatten(estimator._module_state(name, module)))
        except (TypeError, ValueError, RuntimeError, KeyError, AttributeError) as exc:
            raise ValueError(
                f"{path}: cannot rebuild {owner}.{name} from the saved attributes: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        if _tensor_info(tensors) != expected:
            raise ValueError(
                f"{file} does not fit {owner}.{name} as its fitted attributes describe "
                "it: " + _tensor_mismatch(_tensor_info(tensors), expected)
            )
        estimator._load_module_state(name, module, _unflatten(tensors))
        setattr(estimator, name, module.to(device).eval())


def _tensor_mismatch(found, expected):
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    different = sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
    parts = []
    if missing:
        parts.append(f"missing tensors {missing[:5]}")
    if unexpected:
        parts.append(f"unexpected tensors {unexpected[:5]}")
    if different:
        k = different[0]
        parts.append(f"{len(different)} tensor(s) of another shape or dtype, e.g. {k!r}: "
                     f"{found[k]} instead of {expected[k]}")
    return "; ".join(parts)


def _load_pipeline(path, manifest, cls):
    _require_keys(path, manifest, {"params", "steps"})
    params = _decode_params(path, cls, manifest["params"],
                            saved_version=manifest["skadapt_version"])
    steps = manifest["steps"]
    if not isinstance(steps, list) or not steps:
        raise ValueError(f"{path}: 'steps' must be a non-empty list")
    loaded = []
    for i, entry in enumerate(steps):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError(f"{path}: bad Pipeline step {i}: {entry!r}")
        if set(entry) == {"name", "value"} and entry["value"] in (None, "passthrough"):
            loaded.append((entry["name"], entry["value"]))
        elif set(entry) == {"name", "folder"} and entry["folder"] == f"steps/{i}":
            loaded.append((entry["name"], load(os.path.join(path, "steps", str(i)))))
        else:
            raise ValueError(f"{path}: bad Pipeline step {i}: {entry!r}")
    return _construct(path, cls, {"steps": loaded, **params})


def _construct(path, cls, params):
    estimator = cls(**params)
    try:
        # a tampered parameter fails here, not deep inside the rebuilt network
        estimator._validate_params()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return estimator
