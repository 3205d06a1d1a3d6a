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
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = [
    "exact_numeric",
    "extract_last_number",
    "graded_numeric",
    "graded_reward",
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
        True answers, broadcast against ``answers`` (e.g. shape ``(n, 1)`` for an
        ``(n, m)`` answer matrix).
    scale : float or array-like, default=None
        Distance at which the reward halves; ``None`` uses ``max(|truth|, 1)``
        (a relative error).

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
    answers = np.asarray(answers, dtype=float)
    truth = np.asarray(reference, dtype=float)
    if not np.all(np.isfinite(truth)):
        raise ValueError("reference must be finite")
    if scale is None:
        scale = np.maximum(np.abs(truth), 1.0)
    scale = np.asarray(scale, dtype=float)
    if np.any(scale <= 0):
        raise ValueError(f"scale must be positive, got {scale!r}")
    with np.errstate(invalid="ignore"):
        reward = 1.0 / (1.0 + np.abs(answers - truth) / scale)
    return np.where(np.isnan(answers), 0.0, reward)


def graded_numeric(completion, reference, *, scale=None):
    """Graded verifier: :func:`graded_reward` of the completion's last number.

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
