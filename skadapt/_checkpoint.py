"""Checkpoint files of resumable sampling runs, and the run identity they hold.

A checkpoint (written by :func:`skadapt.sampling.sample_and_score`) is a JSONL file:
a header line ``{"type": "header", "config": {...}}`` with the run's identity, then
one line per finished query. The identity is what decides whether a finished
record may stand for a sample of the current run:

- the **model weights**: a content hash of the GGUF file, or of a folder's weight,
  configuration and tokenizer files (:func:`skadapt._lm.model_fingerprint`), so a
  folder whose weights were rewritten in place is another model even when its file
  names and mtimes are the same;
- the **verifier**: its qualified name and arguments
  (:func:`skadapt.verifiers.verifier_identity`) or an explicit ``verifier_id``;
- the **sampling settings**: prompt template, number of samples, decoding
  parameters, seed, stop strings, backend, and the caller's extra entries.

A resumed run with another identity is refused with a message naming what differs.
Everything here runs before the model is loaded.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field

CHECKPOINT_VERSION = 2

# settings that may change between the runs that write one checkpoint
_FREE_KEYS = ("batch_size",)
_MODEL_KEYS = ("model_sha256", "model_files")
_RECORD_LISTS = ("completions", "rewards", "errors", "n_tokens")


@dataclass
class Checkpoint:
    """What a checkpoint file holds.

    ``config`` is ``None`` for a missing or empty file; ``records`` maps
    ``json.dumps(id)`` to the first record of that id; ``keep_bytes`` is the
    length to cut the file to before appending (``None`` when it ends cleanly; a
    torn last line, written when the run was killed, is dropped).
    """

    path: str
    config: dict | None = None
    records: dict = field(default_factory=dict)
    keep_bytes: int | None = None


def check_location(path):
    """The checkpoint path as a string, after checking that it can be written.

    Raises ``ValueError`` naming the path for a missing folder, a folder given
    instead of a file, or a location that cannot be written.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file path, got {type(path).__name__}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"checkpoint {path!r} is a folder; pass a file path such as "
                         f"{os.path.join(path, 'checkpoint.jsonl')!r}")
    if not os.path.isdir(folder):
        raise ValueError(f"checkpoint folder {folder!r} does not exist (or is not a "
                         "folder); create it first")
    try:
        if os.path.exists(path):
            with open(path, "r+b"):
                pass
        else:
            with tempfile.TemporaryFile(dir=folder):
                pass
    except OSError as exc:
        raise ValueError(f"checkpoint {path!r} cannot be written: "
                         f"{exc.strerror or exc}") from None
    return path


def _parse_line(path, number, line):
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"checkpoint {path}, line {number}: not a JSON record ({exc.msg}, "
            f"column {exc.colno}); the file is damaged or is not a skadapt "
            "checkpoint: remove that line, or use another checkpoint path"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"checkpoint {path}, line {number}: expected a JSON object, "
                         f"got {type(value).__name__}; use another checkpoint path")
    return value


def _check_record(path, number, record, n_samples):
    where = f"checkpoint {path}, line {number}"
    if record.get("type") != "query":
        raise ValueError(f"{where}: unknown record type {record.get('type')!r}")
    for name in ("id", "query", *_RECORD_LISTS):
        if name not in record:
            raise ValueError(f"{where}: query record without {name!r}")
    if not isinstance(record["query"], str):
        raise ValueError(f"{where}: 'query' is not a string")
    for name in _RECORD_LISTS:
        value = record[name]
        if not isinstance(value, list) or len(value) != n_samples:
            raise ValueError(f"{where}: {name!r} should be a list of n_samples="
                             f"{n_samples} entries")


def read_checkpoint(path):
    """Parse a checkpoint file without changing it.

    Every line is checked; a line that is not a record of this format is a
    ``ValueError`` naming the file and the line.

    Parameters
    ----------
    path : str

    Returns
    -------
    checkpoint : Checkpoint
    """
    result = Checkpoint(path)
    if not os.path.exists(path):
        return result
    with open(path, "rb") as fh:
        data = fh.read()
    keep = len(data)
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1  # a torn last line: dropped before appending
        result.keep_bytes = keep
    body = data[:keep]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[:exc.start].count(b"\n") + 1
        raise ValueError(f"checkpoint {path}, line {line}: not UTF-8 text; use "
                         "another checkpoint path") from None
    lines = text.split("\n")[:-1]
    if not lines:
        return result
    header = _parse_line(path, 1, lines[0])
    if header.get("type") != "header" or not isinstance(header.get("config"), dict):
        raise ValueError(f"checkpoint {path}, line 1: not a header line; remove the "
                         "file or pick another checkpoint path")
    config = header["config"]
    version = config.get("version")
    if version != CHECKPOINT_VERSION:
        raise ValueError(
            f"checkpoint {path} has format version {version!r}; this skadapt "
            f"writes version {CHECKPOINT_VERSION}, which records the model's "
            "content hash and the verifier's arguments, and cannot check that an "
            "older checkpoint belongs to this run: move it away or use another "
            "checkpoint path"
        )
    n_samples = config.get("n_samples")
    for number, line in enumerate(lines[1:], start=2):
        record = _parse_line(path, number, line)
        _check_record(path, number, record, n_samples)
        # first copy wins: a record written twice is read once
        result.records.setdefault(json.dumps(record["id"]), record)
    result.config = config
    return result


def _model_detail(saved, config):
    before, now = saved.get("model_files"), config.get("model_files")
    if isinstance(before, dict) and isinstance(now, dict):
        changes = [f"{name} changed" for name in sorted(set(before) & set(now))
                   if before[name] != now[name]]
        changes += [f"{name} removed" for name in sorted(set(before) - set(now))]
        changes += [f"{name} added" for name in sorted(set(now) - set(before))]
        if changes:
            return "; ".join(changes)

    def short(sha):
        return sha[:12] if isinstance(sha, str) else repr(sha)

    return (f"sha256 checkpoint {short(saved.get('model_sha256'))} vs now "
            f"{short(config.get('model_sha256'))}")


def run_differences(saved, config, *, skip=()):
    """``{what: detail}`` for the parts of two run identities that differ.

    ``what`` is ``"model weights"``, ``"verifier"`` or ``"sampling settings"``.
    The model's name or path counts only when a content hash is missing: the
    same weights under another path are the same model.
    """
    ignore = set(_FREE_KEYS) | set(skip)
    hashed = saved.get("model_sha256") is not None and \
        config.get("model_sha256") is not None
    if hashed:
        ignore.add("model")
    out = {}
    if any(saved.get(k) != config.get(k) for k in _MODEL_KEYS if k not in ignore):
        out["model weights"] = _model_detail(saved, config)
    if "verifier" not in ignore and saved.get("verifier") != config.get("verifier"):
        out["verifier"] = (f"checkpoint {saved.get('verifier')!r} vs now "
                           f"{config.get('verifier')!r}")
    settings = [
        f"{key}: checkpoint {saved.get(key)!r} vs now {config.get(key)!r}"
        for key in sorted(set(saved) | set(config))
        if key not in ignore and key not in _MODEL_KEYS and key != "verifier"
        and saved.get(key) != config.get(key)
    ]
    if settings:
        out["sampling settings"] = ", ".join(settings)
    return out


def check_same_run(path, saved, config, *, skip=()):
    """Refuse to resume ``path`` (written with ``saved``) under another ``config``."""
    differ = run_differences(saved, config, skip=skip)
    if differ:
        details = "; ".join(f"{what}: {detail}" for what, detail in differ.items())
        raise ValueError(
            f"checkpoint {path} was written by another run ({' and '.join(differ)} "
            f"differ). {details}. Resume with the same model, verifier and settings, "
            "or use another checkpoint path"
        )


def append_records(path, records, *, header=None, keep_bytes=None):
    """Append lines to a checkpoint (after cutting a torn line), flushed and fsynced."""
    if keep_bytes is not None:
        os.truncate(path, keep_bytes)
    with open(path, "a", encoding="utf-8") as fh:
        if header is not None:
            fh.write(json.dumps(header) + "\n")
        fh.writelines(json.dumps(record) + "\n" for record in records)
        fh.flush()
        os.fsync(fh.fileno())
