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

import inspect
import json
import os
import re
import shutil
import tempfile
import warnings
import zipfile

import numpy as np

from ._persistence_codec import _Decoder, _Encoder, _import, _qualname
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
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


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
