import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skadapt.verifiers import (
    exact_numeric,
    extract_last_number,
    graded_numeric,
    graded_reward,
)


@pytest.mark.parametrize("text, expected", [
    ("37 + 48 = 85", 85.0),
    ("x = 5", 5.0),
    ("5.0", 5.0),
    ("The answer is $5$.", 5.0),
    ("It costs 1,234 dollars", 1234.0),
    ("so -1,234.5.", -1234.5),
    ("x = -3", -3.0),
    ("12-5", 5.0),  # a binary minus is not a sign
    ("(3)-2", 2.0),
    (r"\boxed{42} and then 7", 42.0),
    (r"$\boxed{-2.5}$", -2.5),
    ("3, 4, 5", 5.0),
    ("1,2,3", 3.0),
    ("answer: .5", 0.5),
    ("The answer is 8.\n", 8.0),
    ("\u2212 4", 4.0),
    ("no number here", None),
    ("", None),
])
def test_extract_last_number(text, expected):
    assert extract_last_number(text) == expected


def test_extract_last_number_rejects_non_str():
    with pytest.raises(TypeError, match="completion must be a str"):
        extract_last_number(5)


def test_exact_numeric():
    assert exact_numeric("37 + 48 = 85", 85) == 1.0
    assert exact_numeric("85.0", "85") == 1.0
    assert exact_numeric("84", 85) == 0.0
    assert exact_numeric("no idea", 85) == 0.0
    assert exact_numeric("85.01", 85) == 0.0
    assert exact_numeric("85.01", 85, abs_tol=0.1) == 1.0
    with pytest.raises(ValueError, match="contains no number"):
        exact_numeric("5", "five")
    with pytest.raises(ValueError, match="finite"):
        exact_numeric("5", float("nan"))


def test_graded_reward_values():
    truth = np.array([[100.0]])
    got = graded_reward(np.array([[100.0, 90.0, 50.0, np.nan]]), truth)
    np.testing.assert_allclose(got, [[1.0, 1 / 1.1, 1 / 1.5, 0.0]])
    # scale defaults to max(|truth|, 1): small truths use absolute error
    np.testing.assert_allclose(graded_reward([1.0], 0.0), [0.5])
    np.testing.assert_allclose(graded_reward([3.0], 1.0, scale=2.0), [0.5])
    with pytest.raises(ValueError, match="scale must be positive"):
        graded_reward([1.0], 1.0, scale=0.0)
    with pytest.raises(ValueError, match="finite"):
        graded_reward([1.0], np.nan)
    assert graded_numeric("x = 100", 100) == 1.0
    assert graded_numeric("nothing", 100) == 0.0


@settings(max_examples=60, deadline=None)
@given(truth=st.integers(-10**6, 10**6), a=st.integers(-10**6, 10**6),
       b=st.integers(-10**6, 10**6))
def test_graded_reward_monotone_and_bounded(truth, a, b):
    ra, rb = graded_reward(np.array([a, b], dtype=float), float(truth))
    assert 0 < ra <= 1 and 0 < rb <= 1
    assert (ra == 1.0) == (a == truth)
    if abs(a - truth) < abs(b - truth):
        assert ra > rb


@settings(max_examples=60, deadline=None)
@given(value=st.integers(-10**9, 10**9))
def test_extract_roundtrip_integers(value):
    assert extract_last_number(f"the answer is {value}") == value
    assert extract_last_number(f"the answer is {value:,}") == value
    assert exact_numeric(f"= {value}.", value) == 1.0
    assert math.isfinite(graded_numeric(str(value), value))


# -- verifier_identity: what a resumed sampling run compares ---------------------

class _Scaled:
    """A scikit-learn style callable: its parameters are its identity."""

    def __init__(self, scale=1.0):
        self.scale = scale

    def get_params(self, deep=False):
        return {"scale": self.scale}

    def __call__(self, completion, reference):
        return graded_numeric(completion, reference, scale=self.scale)


def _module_level(completion, reference):
    return 1.0


def test_verifier_identity_tells_arguments_apart():
    from functools import partial

    from skadapt.verifiers import verifier_identity

    ident = verifier_identity
    assert ident(_module_level) == f"{__name__}._module_level"
    assert ident(exact_numeric) == ident(exact_numeric)
    assert ident(exact_numeric) != ident(graded_numeric)
    assert ident(partial(exact_numeric, abs_tol=0.5)) == \
        ident(partial(exact_numeric, abs_tol=0.5))
    assert ident(partial(exact_numeric, abs_tol=0.5)) != \
        ident(partial(exact_numeric, abs_tol=0.1))
    assert ident(partial(exact_numeric, abs_tol=0.5)) != ident(exact_numeric)
    # numpy scalars and arrays by value; dict order does not matter
    assert ident(partial(graded_numeric, scale=np.float64(2.0))) == \
        ident(partial(graded_numeric, scale=2.0))
    assert ident(partial(_module_level, np.arange(3))) != \
        ident(partial(_module_level, np.arange(1, 4)))
    assert ident(partial(_module_level, {"a": 1, "b": 2})) == \
        ident(partial(_module_level, {"b": 2, "a": 1}))
    assert ident(_Scaled(2.0)) == ident(_Scaled(2.0)) != ident(_Scaled(3.0))


def test_verifier_identity_refuses_what_it_cannot_tell():
    from functools import partial

    from skadapt.verifiers import verifier_identity

    threshold = 0.5

    def closure(completion, reference):
        return float(threshold > 0)

    class Opaque:
        def __call__(self, completion, reference):
            return 1.0

    for verifier, why in [(lambda c, r: 1.0, "lambda"), (closure, "inside a function"),
                          (partial(exact_numeric, abs_tol=object()), "object"),
                          (Opaque(), "get_params")]:
        with pytest.raises(ValueError, match=rf"{why}.*verifier_id"):
            verifier_identity(verifier)
    with pytest.raises(TypeError, match="callable"):
        verifier_identity("exact_numeric")
