"""Verifiers: score an LM completion against a reference answer.

A verifier is any plain callable ``verifier(completion, reference) -> reward``
with ``reward`` a float (``1.0``/``0.0`` for exact checks). The sampler
(:func:`skadapt.sampling.sample_and_score`) calls it once per sample and records
a verifier that raises as a failure of that one sample (reward ``NaN`` and the
error text), never a lost run.

The numeric verifiers read the *last* number of a completion, the convention of
math benchmarks (the answer comes last), tolerant of ``"x = 5"``, ``"5.0"``,
``"$5$"``, ``"1,234"``, ``"-3"`` and ``"\\boxed{5}"`` (a boxed answer wins over
later numbers).

:func:`verifier_identity` describes a verifier by its qualified name and its
arguments, so that a resumed sampling run can refuse a checkpoint scored by another
verifier (another function, or the same one with other arguments).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import re
import types

import numbers

import numpy as np

from skadapt._validation import InputTypeError, as_float_array, format_value

__all__ = [
    "exact_numeric",
    "extract_last_number",
    "graded_numeric",
    "graded_reward",
    "verifier_identity",
]

# A number: optional minus sign (only when it cannot be a binary minus, i.e. not
# right after a digit, letter or closing bracket), digits with optional
# thousands separators, an optional fraction.
_NUMBER = re.compile(
    r"(?:(?<![\w)\]}])-|(?<![\w)\]}])\u2212)?"
    r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
    r"|(?:(?<![\w)\]}])-)?\.\d+"
)
_BOXED = re.compile(r"\\boxed\s*\{([^{}]*)\}")


def _to_float(token: str) -> float:
    return float(token.replace(",", "").replace("\u2212", "-"))


def extract_last_number(completion):
    """The last number written in ``completion``, as a float (``None`` if none).

    A ``\\boxed{...}`` answer, when present, is preferred: the last number inside
    the last box is returned.

    Parameters
    ----------
    completion : str
        Text produced by the LM.

    Returns
    -------
    number : float or None

    Examples
    --------
    >>> from skadapt.verifiers import extract_last_number
    >>> extract_last_number("37 + 48 = 85")
    85.0
    >>> extract_last_number("so x = -1,234.5.")
    -1234.5
    >>> extract_last_number(r"$\\boxed{12}$ (not 13)")
    12.0
    >>> extract_last_number("no digits") is None
    True
    """
    if not isinstance(completion, str):
        raise TypeError(
            f"completion must be a str, got {type(completion).__name__}"
        )
    boxed = _BOXED.findall(completion)
    if boxed:
        inside = _NUMBER.findall(boxed[-1])
        if inside:
            return _to_float(inside[-1])
    found = _NUMBER.findall(completion)
    if not found:
        return None
    return _to_float(found[-1])


def _reference_value(reference) -> float:
    if isinstance(reference, str):
        value = extract_last_number(reference)
        if value is None:
            raise ValueError(f"reference {reference!r} contains no number")
        return value
    if isinstance(reference, np.ndarray) and reference.ndim == 0:
        reference = reference[()]
    if isinstance(reference, (bool, np.bool_)) or not isinstance(reference, numbers.Real):
        # float() would take True as 1 and fail on 4+1j with a message naming nothing
        raise InputTypeError(
            f"reference must be a real number or a string holding one; got {reference!r} "
            f"({type(reference).__name__})."
        )
    value = float(reference)
    if not math.isfinite(value):
        raise ValueError(f"reference must be finite, got {reference!r}")
    return value


def exact_numeric(completion, reference, *, rel_tol=0.0, abs_tol=1e-9):
    """1.0 if the last number of ``completion`` equals ``reference``, else 0.0.

    Parameters
    ----------
    completion : str
        Text produced by the LM.
    reference : float, int or str
        The true answer (a string is read with :func:`extract_last_number`).
    rel_tol, abs_tol : float
        Tolerances of :func:`math.isclose`; the defaults demand the exact value.

    Returns
    -------
    reward : float
        ``1.0`` or ``0.0`` (``0.0`` when the completion holds no number).

    Examples
    --------
    >>> from skadapt.verifiers import exact_numeric
    >>> exact_numeric("The answer is $85$.", 85)
    1.0
    >>> exact_numeric("x = 85.0", "85")
    1.0
    >>> exact_numeric("about 84", 85)
    0.0
    """
    truth = _reference_value(reference)
    answer = extract_last_number(completion)
    if answer is None:
        return 0.0
    return float(math.isclose(answer, truth, rel_tol=rel_tol, abs_tol=abs_tol))


def graded_reward(answers, reference, *, scale=None):
    """Graded reward of numeric answers: ``1 / (1 + |answer - truth| / scale)``.

    1 for the exact answer, decreasing with the distance from the truth, 0 when
    there is no answer (``NaN``). Computed from stored answers, so a dataset's
    extracted answers give a continuous reward without new sampling.

    Parameters
    ----------
    answers : array-like of float
        Extracted answers, ``NaN`` where a sample gave no number.
    reference : float or array-like of float
        True answers: a scalar for every answer, one per query (shape ``(n,)`` or
        ``(n, 1)`` for an ``(n, m)`` answer matrix) or one per answer. Any other
        shape (a one-element list for many queries, say) is an error, not a
        broadcast.
    scale : float or array-like, default=None
        Distance at which the reward halves, positive and finite, shaped like
        ``reference``; ``None`` uses ``max(|truth|, 1)`` (a relative error).

    Returns
    -------
    reward : ndarray of float in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.verifiers import graded_reward
    >>> graded_reward(np.array([[85.0, 80.0, np.nan]]), np.array([[85.0]])).round(3)
    array([[1.   , 0.944, 0.   ]])
    """
    answers = as_float_array(answers, "answers")
    truth = _per_answer(as_float_array(reference, "reference"), answers, "reference")
    if not np.all(np.isfinite(truth)):
        raise ValueError("reference must be finite")
    if scale is None:
        scale = np.maximum(np.abs(truth), 1.0)
    scale = _per_answer(as_float_array(scale, "scale"), answers, "scale")
    bad = ~(np.isfinite(scale) & (scale > 0))
    if bad.any():
        # NaN would slip through "scale <= 0" and make every reward NaN; inf
        # would give every answer the reward 1
        raise ValueError(f"scale must be positive and finite, got {format_value(scale[bad][0])}")
    with np.errstate(invalid="ignore"):
        reward = 1.0 / (1.0 + np.abs(answers - truth) / scale)
    return np.where(np.isnan(answers), 0.0, reward)


def _per_answer(values, answers, name):
    """``values`` (a scalar, one per query, or one per answer) shaped to broadcast.

    A scalar applies to every answer; an array has one row per query (row of
    ``answers``): shape ``(n,)`` reads as ``(n, 1, ...)``, and any other
    dimension must match ``answers`` or be 1. Plain broadcasting would spread a
    one-element array over every query, and a ``(n,)`` reference over the
    columns of an ``(n, n)`` answer matrix, without a word.
    """
    if values.ndim == 0:
        return values
    if answers.ndim >= 1 and values.ndim == 1 and values.shape[0] == answers.shape[0]:
        values = values.reshape(values.shape + (1,) * (answers.ndim - 1))
    ok = (
        values.ndim == answers.ndim and values.shape[0] == answers.shape[0]
        and all(v in (1, a) for v, a in zip(values.shape[1:], answers.shape[1:]))
    )
    if not ok:
        n = answers.shape[0] if answers.ndim else 1
        raise ValueError(
            f"{name} must be a scalar or hold one value per query (shape ({n},) or ({n}, 1)) or "
            f"per answer (shape {answers.shape}) to match answers of shape {answers.shape}; "
            f"got shape {values.shape}."
        )
    return values


def graded_numeric(completion, reference, *, scale=None):
    """Graded verifier: :func:`graded_reward` of the completion's last number.

    Parameters
    ----------
    completion : str
        The model's answer; its last number is graded.
    reference : number or str
        The correct value.
    scale : float, default=None
        Distance at which the reward halves; ``None`` uses ``max(|truth|, 1)``
        (as in :func:`graded_reward`).

    Returns
    -------
    reward : float
        In [0, 1]; 0.0 when the completion holds no number.

    Examples
    --------
    >>> from skadapt.verifiers import graded_numeric
    >>> graded_numeric("85", 85), graded_numeric("none", 85)
    (1.0, 0.0)
    """
    truth = _reference_value(reference)
    answer = extract_last_number(completion)
    value = np.nan if answer is None else answer
    return float(graded_reward(np.array([value]), truth, scale=scale)[0])


class _NoIdentity(Exception):
    """Raised inside :func:`verifier_identity` for a value it cannot describe."""


def _qualified(obj):
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not name:
        raise _NoIdentity(f"{obj!r} has no name")
    if "<lambda>" in name:
        raise _NoIdentity("a lambda has no stable name")
    if "<locals>" in name:
        raise _NoIdentity(f"{name} is defined inside a function (a closure)")
    return f"{module}.{name}" if module else name


def _describe(value, depth=0):
    """A canonical, process-independent text for a verifier or one of its arguments."""
    if depth > 20:
        raise _NoIdentity("arguments nested too deeply")
    if isinstance(value, np.generic):  # before float: np.float64 is a float
        return _describe(value.item(), depth + 1)
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return repr(value)
    if isinstance(value, float):
        return repr(value)  # shortest round-trip repr: stable across runs
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise _NoIdentity("an object array argument")
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return f"ndarray({value.dtype.str}, {value.shape}, sha256={digest[:16]})"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_describe(v, depth + 1) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner},)"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(_describe(v, depth + 1) for v in value)) + "}"
    if isinstance(value, dict):
        items = sorted((_describe(k, depth + 1), _describe(v, depth + 1))
                       for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(value, functools.partial):
        parts = [_describe(value.func, depth + 1)]
        parts += [_describe(a, depth + 1) for a in value.args]
        parts += [f"{k}={_describe(v, depth + 1)}"
                  for k, v in sorted(value.keywords.items())]
        return f"functools.partial({', '.join(parts)})"
    if isinstance(value, types.FunctionType):
        name = _qualified(value)
        if value.__closure__:
            raise _NoIdentity(f"{name} is a closure")
        defaults = list(value.__defaults__ or ())
        kwdefaults = dict(value.__kwdefaults__ or {})
        if defaults or kwdefaults:
            # the defaults are arguments too: a default changed between runs is
            # another verifier
            extra = [_describe(d, depth + 1) for d in defaults]
            extra += [f"{k}={_describe(v, depth + 1)}"
                      for k, v in sorted(kwdefaults.items())]
            return f"{name}[defaults: {', '.join(extra)}]"
        return name
    if isinstance(value, (types.BuiltinFunctionType, type)):
        return _qualified(value)
    if isinstance(value, types.MethodType):
        return f"{_describe(value.__self__, depth + 1)}.{value.__func__.__name__}"
    # a callable object: its parameters, when it says what they are
    cls = type(value)
    if hasattr(value, "get_params") and callable(value.get_params):
        params = value.get_params(deep=False)
    elif dataclasses.is_dataclass(value):
        params = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    else:
        raise _NoIdentity(
            f"an instance of {cls.__qualname__} has no get_params() nor dataclass "
            "fields to tell its arguments"
        )
    args = ", ".join(f"{k}={_describe(v, depth + 1)}" for k, v in sorted(params.items()))
    return f"{_qualified(cls)}({args})"


def verifier_identity(verifier):
    """A stable text that identifies a verifier: its qualified name and arguments.

    Two verifiers with the same identity give the same rewards (as far as can be
    told without running them). It is recorded in a sampling checkpoint so that a
    resumed run refuses to mix rewards from different verifiers.

    - a module-level function: ``module.qualname``, plus its default argument
      values when it has any;
    - ``functools.partial``: the function, its positional arguments and its
      keywords (so ``partial(exact_numeric, abs_tol=0.5)`` differs from
      ``partial(exact_numeric, abs_tol=0.1)``);
    - a callable object with ``get_params()`` (scikit-learn style) or a dataclass:
      its class and parameters;
    - a bound method: its object's identity and the method name.

    Arguments may be ``None``, numbers, strings, bytes, numpy scalars and arrays
    (by content), lists, tuples, sets, dicts and any of the above.

    Parameters
    ----------
    verifier : callable

    Returns
    -------
    identity : str

    Raises
    ------
    ValueError
        For a verifier whose identity cannot be told from the outside: a lambda,
        a closure (a function defined inside another), an object without
        ``get_params()``, or one with arguments of other types. Pass an explicit
        ``verifier_id`` to the sampler then. Editing a function's code is not
        seen either: change its ``verifier_id`` (or name) when its rewards change.

    Examples
    --------
    >>> from functools import partial
    >>> from skadapt.verifiers import exact_numeric, verifier_identity
    >>> verifier_identity(exact_numeric)
    'skadapt.verifiers.exact_numeric[defaults: abs_tol=1e-09, rel_tol=0.0]'
    >>> loose = verifier_identity(partial(exact_numeric, abs_tol=0.5))
    >>> loose == verifier_identity(partial(exact_numeric, abs_tol=0.1))
    False
    >>> verifier_identity(lambda c, r: 1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: cannot identify the verifier: a lambda has no stable name; pass verifier_id=...
    """
    if not callable(verifier):
        raise TypeError(f"verifier must be callable, got {type(verifier).__name__}")
    try:
        return _describe(verifier)
    except _NoIdentity as exc:
        raise ValueError(
            f"cannot identify the verifier: {exc}; pass verifier_id=... (a name "
            "that you change whenever the verifier's rewards change)"
        ) from None
