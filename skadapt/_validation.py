"""Input checks shared by the public functions and estimators of skadapt.

Every check raises ``ValueError`` with a message that names the offending
parameter, shape or value, so that a user sees at once what to fix. The checks
return clean ``numpy`` arrays (float64 rewards, int64 budgets) so that callers
can work on them without further conversion.

Other skadapt modules may import these helpers; they are private (not part of
the public API) and may change without deprecation.
"""

import numbers

import numpy as np

__all__ = [
    "check_reward_matrix",
    "check_probabilities",
    "check_int_per_row",
    "check_positive_int",
    "check_nonnegative_int",
    "row_list",
]


def row_list(rows, limit=10):
    """Format row indices for an error message: ``[0, 3, 7]`` or ``[0, 3, ... (12 rows)]``."""
    rows = [int(r) for r in np.asarray(rows).ravel()]
    if len(rows) <= limit:
        return str(rows)
    return "[" + ", ".join(map(str, rows[:limit])) + f", ... ({len(rows)} rows)]"


def _as_float_array(values, name):
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must contain numbers; could not convert it: {exc}") from None
    return array


def check_reward_matrix(R, *, name="R", binary=False, allow_missing=True):
    """Validate an (n_queries, n_samples) matrix of observed per-sample rewards.

    Parameters
    ----------
    R : array-like of shape (n_queries, n_samples)
        Observed rewards; NaN marks a missing sample when ``allow_missing``.
    name : str, default="R"
        Name used in error messages.
    binary : bool, default=False
        Require every observed value to be 0 or 1.
    allow_missing : bool, default=True
        Accept NaN as a missing-sample marker. Every row must still hold at
        least one observed value.

    Returns
    -------
    R : ndarray of shape (n_queries, n_samples), float64
        A copy-free float view when possible.
    n_observed : ndarray of shape (n_queries,), int64
        Number of observed (non-NaN) samples in each row.
    """
    R = _as_float_array(R, name)
    if R.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_queries, n_samples); got an array "
            f"with {R.ndim} dimension(s) and shape {R.shape}. For a single query use "
            f"{name}.reshape(1, -1)."
        )
    if R.shape[0] == 0 or R.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {R.shape}); need at least one query and one sample.")
    if np.isinf(R).any():
        rows = np.flatnonzero(np.isinf(R).any(axis=1))
        raise ValueError(f"{name} contains infinite values in row(s) {row_list(rows)}.")
    missing = np.isnan(R)
    if missing.any():
        if not allow_missing:
            rows = np.flatnonzero(missing.any(axis=1))
            raise ValueError(f"{name} contains NaN in row(s) {row_list(rows)}; missing values are not allowed here.")
        n_observed = (~missing).sum(axis=1).astype(np.int64)
    else:
        n_observed = np.full(R.shape[0], R.shape[1], dtype=np.int64)
    empty_rows = np.flatnonzero(n_observed == 0)
    if empty_rows.size:
        raise ValueError(
            f"{name} has no observed (non-NaN) sample in row(s) {row_list(empty_rows)}; "
            "every query needs at least one observed reward."
        )
    if binary:
        bad_mask = (R != 0) & (R != 1) & ~missing
        if bad_mask.any():
            rows = np.flatnonzero(bad_mask.any(axis=1))
            example = float(R[bad_mask][0])
            raise ValueError(
                f"{name} must hold binary rewards (0 or 1, NaN for a missing sample); found "
                f"{example!r} in row(s) {row_list(rows)}."
            )
    return R, n_observed


def check_probabilities(p, *, name="success_prob"):
    """Validate a vector of probabilities in [0, 1].

    Accepts shape (n,) or (n, 1) and returns a float64 array of shape (n,).
    """
    p = _as_float_array(p, name)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.ndim != 1:
        raise ValueError(f"{name} must have shape (n,) or (n, 1); got shape {p.shape}.")
    if p.shape[0] == 0:
        raise ValueError(f"{name} is empty; need at least one value.")
    if not np.isfinite(p).all():
        rows = np.flatnonzero(~np.isfinite(p))
        raise ValueError(f"{name} contains NaN or infinite values at index {row_list(rows)}.")
    bad = (p < 0) | (p > 1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{name} must lie in [0, 1]; found {p[bad][0]!r} at index {row_list(rows)}."
        )
    return p


def check_positive_int(value, name):
    """Return ``value`` as a Python int if it is an integer >= 1, else raise ValueError."""
    return _check_int_scalar(value, name, minimum=1)


def check_nonnegative_int(value, name):
    """Return ``value`` as a Python int if it is an integer >= 0, else raise ValueError."""
    return _check_int_scalar(value, name, minimum=0)


def _check_int_scalar(value, name, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, numbers.Real)):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        if not np.isfinite(value) or value != int(value):
            raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}.")
    return value


def check_int_per_row(values, n_rows, *, name, minimum=0, maximum=None, maximum_name=None):
    """Validate a scalar or per-row vector of integers (a sample count or a budget).

    Parameters
    ----------
    values : int or array-like of shape (n_rows,) or (n_rows, 1)
        Integer-valued numbers; floats are accepted only when integral.
    n_rows : int
        Expected number of rows.
    name : str
        Name used in error messages.
    minimum : int, default=0
        Smallest allowed value.
    maximum : int or ndarray of shape (n_rows,), default=None
        Largest allowed value, per row when an array.
    maximum_name : str, default=None
        What ``maximum`` is, for the error message (for example "the number of
        observed samples in that row").

    Returns
    -------
    values : ndarray of shape (n_rows,), int64
    """
    array = _as_float_array(values, name)
    if array.ndim == 0:
        array = np.full(n_rows, float(array))
    elif array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or array.shape[0] != n_rows:
        raise ValueError(
            f"{name} must be a scalar or have shape ({n_rows},) or ({n_rows}, 1) to match the "
            f"{n_rows} queries; got shape {np.shape(values)}."
        )
    if not np.isfinite(array).all():
        rows = np.flatnonzero(~np.isfinite(array))
        raise ValueError(f"{name} contains NaN or infinite values at row(s) {row_list(rows)}.")
    if (array != np.round(array)).any():
        rows = np.flatnonzero(array != np.round(array))
        raise ValueError(f"{name} must be integers; found {array[rows[0]]!r} at row(s) {row_list(rows)}.")
    result = array.astype(np.int64)
    low = np.flatnonzero(result < minimum)
    if low.size:
        raise ValueError(
            f"{name} must be >= {minimum}; found {result[low[0]]} at row(s) {row_list(low)}."
        )
    if maximum is not None:
        maximum = np.broadcast_to(np.asarray(maximum), result.shape)
        high = np.flatnonzero(result > maximum)
        if high.size:
            what = f" ({maximum_name})" if maximum_name else ""
            raise ValueError(
                f"{name} exceeds its maximum{what} at row(s) {row_list(high)}: {name}="
                f"{result[high[0]]} but the maximum there is {int(maximum[high[0]])}."
            )
    return result
