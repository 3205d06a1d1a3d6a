"""Tests of skadapt.selection: exact quality curves of the selection rules."""

import itertools
import os
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import skadapt.datasets
from skadapt import targets
from skadapt.allocation import NonMonotoneRewardsWarning, greedy_allocate
from skadapt.selection import (
    concave_envelope,
    majority_vote_curve,
    majority_vote_marginal_rewards,
    selection_curve,
)

SETTINGS = settings(
    max_examples=int(os.environ.get("SKADAPT_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None, suppress_health_check=[HealthCheck.too_slow])


def brute_majority(row, ref, k):
    """Majority vote over every k-subset: NaN abstains, ties split evenly, all-abstain fails."""
    total = 0.0
    subsets = list(itertools.combinations(range(len(row)), k))
    for subset in subsets:
        votes = Counter(row[j] for j in subset if not np.isnan(row[j]))
        if not votes:
            continue
        top = max(votes.values())
        leaders = [a for a, c in votes.items() if c == top]
        total += (ref in leaders) / len(leaders)
    return total / len(subsets)


@st.composite
def answer_rows(draw, max_m=7):
    m = draw(st.integers(1, max_m))
    n = draw(st.integers(1, 3))
    # few distinct values so that ties are common; NaN abstains
    values = st.sampled_from([0.0, 1.0, 2.0, 3.0, np.nan])
    answers = np.array(draw(st.lists(st.lists(values, min_size=m, max_size=m), min_size=n, max_size=n)))
    reference = np.array(draw(st.lists(st.sampled_from([0.0, 1.0, 2.0]), min_size=n, max_size=n)))
    return answers, reference


@SETTINGS
@given(answer_rows())
def test_majority_curve_matches_enumeration_of_subsets(case):
    answers, reference = case
    curve = majority_vote_curve(answers, reference)
    n, m = answers.shape
    expected = np.array([[brute_majority(answers[i], reference[i], k) for k in range(1, m + 1)]
                         for i in range(n)])
    np.testing.assert_allclose(curve, expected, atol=1e-12)


@SETTINGS
@given(answer_rows())
def test_marginal_rewards_sum_to_the_curve(case):
    answers, reference = case
    delta = majority_vote_marginal_rewards(answers, reference)
    np.testing.assert_allclose(np.cumsum(delta, axis=1), majority_vote_curve(answers, reference), atol=1e-12)
    m = answers.shape[1]
    assert majority_vote_marginal_rewards(answers, reference, max_budget=m).shape == answers.shape


@SETTINGS
@given(st.integers(2, 7).flatmap(
    lambda m: st.lists(st.sampled_from([0.0, 1.0]), min_size=m, max_size=m)))
def test_two_candidates_even_budget_adds_nothing(row):
    # a random tie-break makes 2t votes exactly as good as 2t - 1 with two answers
    curve = majority_vote_curve([row], [0.0])[0]
    for k in range(2, len(row) + 1, 2):
        assert curve[k - 1] == pytest.approx(curve[k - 2], abs=1e-12)


def test_marginal_rewards_can_be_negative_and_non_monotone():
    answers = np.array([[5, 5, 7, 7, 5], [7, 7, 7, 5, 8]])
    delta = majority_vote_marginal_rewards(answers, [5, 5])
    np.testing.assert_allclose(delta, [[0.6, 0.0, 0.1, 0.0, 0.3], [0.2, 0.0, -0.1, -0.1, 0.0]], atol=1e-12)
    assert (np.diff(delta[0]) > 0).any()  # increases: not diminishing returns
    assert (delta[1] < 0).any()


@SETTINGS
@given(answer_rows(max_m=12), st.floats(-1e-10, 1e-10))
def test_majority_curve_equals_the_datasets_implementation(case, jitter):
    answers, reference = case
    answers = np.where(answers == reference[:, None], answers + jitter, answers)  # within 1e-9: correct
    np.testing.assert_allclose(majority_vote_curve(answers, reference),
                               skadapt.datasets.majority_vote_curve(answers, reference), atol=1e-12)


def test_selection_curve_rules():
    rng = np.random.default_rng(0)
    outcomes = (rng.random((5, 6)) < 0.4).astype(float)
    rewards = rng.normal(size=(5, 6))
    answers = rng.integers(0, 3, (5, 6)).astype(float)
    reference = np.zeros(5)
    oracle = selection_curve("oracle", outcomes=outcomes, max_budget=4)
    assert oracle.shape == (5, 4)
    for k in range(1, 5):
        np.testing.assert_allclose(oracle[:, k - 1], targets.pass_at_k(outcomes, k))
    bok = selection_curve("best_of_k", rewards=rewards)
    np.testing.assert_allclose(bok[:, 2], targets.expected_max_reward(rewards, 3))
    maj = selection_curve("majority", answers=answers, reference=reference, max_budget=3)
    np.testing.assert_allclose(maj, majority_vote_curve(answers, reference)[:, :3])


def test_selection_curve_errors():
    with pytest.raises(ValueError, match="rule must be one of"):
        selection_curve("vote", outcomes=[[1, 0]])
    with pytest.raises(ValueError, match="needs outcomes"):
        selection_curve("oracle")
    with pytest.raises(ValueError, match="needs answers and reference"):
        selection_curve("majority", answers=[[1, 2]])
    with pytest.raises(ValueError, match="max_budget=3 exceeds"):
        selection_curve("oracle", outcomes=[[1, 0]], max_budget=3)
    with pytest.raises(ValueError, match=r"reference must have shape \(n_queries,\) = \(2,\)"):
        majority_vote_marginal_rewards([[1, 2], [1, 1]], [1])
    with pytest.raises(ValueError, match="max_budget=5 exceeds"):
        majority_vote_marginal_rewards([[1, 2]], [1], max_budget=5)


def brute_envelope(row):
    """Least concave majorant at 1..B: max over chords between points (i, c_i) and (j, c_j)."""
    points = np.concatenate([[0.0], row])
    B = len(row)
    env = np.empty(B)
    for k in range(1, B + 1):
        best = points[k]
        for i in range(0, k + 1):
            for j in range(k, B + 1):
                if i == j:
                    continue
                best = max(best, points[i] + (points[j] - points[i]) * (k - i) / (j - i))
        env[k - 1] = best
    return env


@SETTINGS
@given(st.lists(st.lists(st.floats(-1, 1), min_size=1, max_size=7), min_size=1, max_size=4)
       .filter(lambda rows: len({len(r) for r in rows}) == 1))
def test_concave_envelope_is_the_least_concave_majorant(rows):
    curve = np.array(rows)
    env = concave_envelope(curve)
    expected = np.array([brute_envelope(row) for row in curve])
    np.testing.assert_allclose(env, expected, atol=1e-9)
    slopes = np.diff(env, axis=1, prepend=0.0)
    assert (np.diff(slopes, axis=1) <= 1e-9).all()


@SETTINGS
@given(answer_rows(), st.data())
def test_allocator_projection_equals_allocating_on_the_envelope(case, data):
    answers, reference = case
    n, m = answers.shape
    curve = majority_vote_curve(answers, reference)
    total = data.draw(st.integers(0, n * m))
    raw = np.diff(curve, axis=1, prepend=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonMonotoneRewardsWarning)
        projected = greedy_allocate(raw, total)
    envelope_delta = concave_envelope(curve, marginal_rewards=True)
    np.testing.assert_allclose(np.cumsum(envelope_delta, axis=1), concave_envelope(curve), atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonMonotoneRewardsWarning)
        on_envelope = greedy_allocate(envelope_delta, total)
    # both optimal on the envelope (budgets may differ only among exactly tied units)
    envelope = np.concatenate([np.zeros((n, 1)), concave_envelope(curve)], axis=1)
    rows = np.arange(n)
    assert envelope[rows, projected].sum() == pytest.approx(envelope[rows, on_envelope].sum(), abs=1e-9)


def test_concave_envelope_errors_and_example():
    np.testing.assert_allclose(concave_envelope([[0.6, 0.6, 0.7, 0.7, 1.0]]), [[0.6, 0.7, 0.8, 0.9, 1.0]])
    with pytest.raises(ValueError, match="2-D array"):
        concave_envelope([0.1, 0.2])
    with pytest.raises(ValueError, match="NaN or infinite"):
        concave_envelope([[0.1, np.nan]])
