"""Input checks shared by the public functions and estimators of skadapt.

Every check raises ``ValueError`` with a message that names the offending
parameter, shape or value, so that a user sees at once what to fix; an argument
of the wrong type (a string, complex numbers, ``None`` where a number is needed)
raises :class:`InputTypeError`, which is both a ``TypeError`` and a
``ValueError`` (as scikit-learn's ``InvalidParameterError`` is). The checks
return clean ``numpy`` arrays (float64 rewards, int64 budgets) so that callers
can work on them without further conversion.

Other skadapt modules may import these helpers; they are private (not part of
the public API) and may change without deprecation.
"""

import contextlib
import math
import numbers
import os
import warnings

import numpy as np

__all__ = [
    "InputTypeError",
    "as_float_array",
    "naming_non_numeric",
    "check_array_memory",
    "check_finite_number",
    "format_value",
    "reject_complex",
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


class InputTypeError(TypeError, ValueError):
    """An argument of the wrong type: a string or ``None`` for a number, complex numbers.

    A ``TypeError`` that is also a ``ValueError``, so that code catching the
    ``ValueError`` skadapt raised for such input before keeps working (the same
    choice as scikit-learn's ``InvalidParameterError``).
    """


def format_value(value):
    """A number for an error message: ``4``, ``1.5``, ``100000000000000000000``, ``nan``.

    Integral floats print as integers (so ``1e20`` reads as the ``10**20`` a user
    passed), other values as Python scalars (never ``np.float64(1.5)``).
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    return repr(value)


def as_float_array(values, name):
    """``values`` as a float64 array; strings, objects and complex numbers raise.

    Complex input raises :class:`InputTypeError` instead of losing its imaginary
    part (numpy would only warn).
    """
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise InputTypeError(f"{name} must contain numbers; could not convert it: {exc}") from None
    if array.dtype.kind == "c":
        raise InputTypeError(
            f"{name} must hold real numbers; got complex values (dtype {array.dtype}), whose "
            "imaginary part would be lost."
        )
    if array.dtype.kind in "fiub":
        return array.astype(np.float64, copy=False)
    try:
        with np.errstate(all="ignore"):
            return array.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InputTypeError(f"{name} must contain numbers; could not convert it: {exc}") from None



def reject_complex(X, name="X"):
    """Raise if ``X`` holds complex numbers, before ``validate_data`` sees it.

    ``validate_data`` says "Complex data not supported" for a complex array
    but fails with a bare ``TypeError`` from ``float()`` for a list of complex
    numbers; both get this one message (which keeps scikit-learn's words).
    """
    try:
        is_complex = np.iscomplexobj(X)
    except (TypeError, ValueError):  # ragged lists: validate_data explains
        return
    if is_complex:
        raise InputTypeError(f"Complex data not supported: {name} must hold real numbers.")


@contextlib.contextmanager
def naming_non_numeric(X, name="X"):
    """Re-raise a conversion error of ``X`` inside the block as one that names ``X``.

    ``validate_data`` reports strings in ``X`` with numpy's "could not convert
    string to float: 'a'", which names no argument. Wrap the call::

        with naming_non_numeric(X):
            X = validate_data(self, X, ...)

    Nothing is added on success: only after an error is ``X`` converted again,
    to tell whether it was the cause (and not ``y``, NaN, a shape or a sparse
    matrix, whose errors pass through unchanged).
    """
    try:
        yield
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputTypeError) or _is_sparse(X):
            raise
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as cause:
            raise InputTypeError(
                f"{name} must contain numbers; could not convert it: {cause}"
            ) from None
        raise


def _is_sparse(X):
    try:
        from scipy import sparse
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn
        return False
    return sparse.issparse(X)


def check_finite_number(value, name):
    """Return ``value`` as a float if it is a finite real number (not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a finite real number; got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}.")
    return value


def _available_memory():
    """Bytes of memory available to a new allocation (Linux: MemAvailable)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 1 << 40


def check_array_memory(shape, *, name, value, itemsize=8, copies=4):
    """Refuse an array that could not fit in the memory available now.

    ``name=value`` is the argument that sets the size; the error names it, the
    shape and the bytes needed, instead of numpy's ``MemoryError``, "Maximum
    allowed size exceeded" from deep inside, or the operating system killing
    the process. ``copies`` counts the array with the temporaries of its size
    that the computation makes.
    """
    n_bytes = float(itemsize) * copies * math.prod(int(d) for d in shape)
    limit = _available_memory()
    if n_bytes > limit:
        raise ValueError(
            f"{name}={format_value(value)} needs arrays of shape {tuple(int(d) for d in shape)} "
            f"(about {n_bytes / 2**30:.3g} GiB with temporaries), more than the memory "
            f"available ({limit / 2**30:.3g} GiB); lower {name}."
        )


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
    R = as_float_array(R, name)
    if R.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_queries, n_samples); got an array "
            f"with {R.ndim} dimension(s) and shape {R.shape}. For a single query use "
            f"{name}.reshape(1, -1)."
        )
    if R.shape[0] == 0 or R.shape[1] == 0:
        raise ValueError(
            f"{name} is empty (shape {R.shape}); need a 2-D array with at least one query and "
            "one sample."
        )
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
    p = as_float_array(p, name)
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
            f"{name} must lie in [0, 1]; found {format_value(p[bad][0])} at index {row_list(rows)}."
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
        raise InputTypeError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        if not np.isfinite(value) or value != int(value):
            raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}.")
    return value


def check_int_per_row(values, n_rows, *, name, minimum=0, maximum=None, maximum_name=None,
                      maximum_message=None):
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
    maximum_message : callable, default=None
        ``maximum_message(rows, row, value, limit)`` returns the whole message
        for values above ``maximum`` (``rows`` formatted, ``row`` the first,
        ``value`` and ``limit`` formatted numbers); overrides ``maximum_name``.

    Returns
    -------
    values : ndarray of shape (n_rows,), int64

    Notes
    -----
    Values are compared with ``minimum`` and ``maximum`` before they are cast
    to int64, so a huge value such as ``10**20`` is reported as it was given,
    never as the negative number an overflowing cast would make of it.
    """
    array = as_float_array(values, name)
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
        raise ValueError(
            f"{name} must be integers; found {format_value(array[rows[0]])} at row(s) {row_list(rows)}."
        )
    low = np.flatnonzero(array < minimum)
    if low.size:
        raise ValueError(
            f"{name} must be >= {minimum}; found {format_value(array[low[0]])} at row(s) {row_list(low)}."
        )
    if maximum is not None:
        maximum = np.broadcast_to(np.asarray(maximum), array.shape)
        high = np.flatnonzero(array > maximum)
        if high.size:
            row = high[0]
            value, limit = format_value(array[row]), format_value(maximum[row])
            if maximum_message is not None:
                raise ValueError(maximum_message(row_list(high), row, value, limit))
            what = f" ({maximum_name})" if maximum_name else ""
            raise ValueError(
                f"{name} exceeds its maximum{what} at row(s) {row_list(high)}: {name}="
                f"{value} but the maximum there is {limit}."
            )
    huge = np.flatnonzero(np.abs(array) >= 2.0**63)
    if huge.size:
        raise ValueError(
            f"{name} is too large: found {format_value(array[huge[0]])} at row(s) {row_list(huge)} "
            "(at most 2**63 - 1)."
        )
    return array.astype(np.int64)


class OneOutputNameMixin:
    """``get_feature_names_out`` for a transformer with one named output column.

    The class sets ``_output_name`` (``"budget"``, ``"routed"``, ...).
    """

    _output_name = None

    def get_feature_names_out(self, input_features=None):
        """Output feature name: the transformer's one output column.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names, only checked against ``feature_names_in_``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name: ``"budget"`` for the allocators, ``"routed"`` for
            :class:`~skadapt.Router`, ``"best_of_k_preference"`` for
            :class:`~skadapt.routing.BestOfKPreference`.
        """
        from ._compat import _check_feature_names_in, check_is_fitted

        check_is_fitted(self, "n_features_in_")
        _check_feature_names_in(self, input_features)
        return np.asarray([self._output_name], dtype=object)
