"""Tests of skadapt.feedback: policies with feedback, replayed on stored samples.

Reference implementations here are deliberately plain (loops, Counter, scipy.stats) so
that they share no code with the vectorised module.
"""

import itertools
import math
import os
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

from skadapt import metrics, targets
from skadapt.datasets import majority_vote_outcomes
from skadapt.feedback import (
    EVIDENCE_FEATURES,
    FeedbackResult,
    StoredSamples,
    adaptive_consistency,
    compare_policies,
    multi_round,
    one_shot,
    phase_evidence,
    price_rule,
    quality_at_spend,
    split_sample_oracle,
    sweep_policy,
    two_phase,
    two_phase_training_data,
    uab,
    uniform,
)
from skadapt.selection import majority_vote_curve

SETTINGS = settings(
    max_examples=int(os.environ.get("SKADAPT_HYPOTHESIS_EXAMPLES", "40")),
    deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------- plain references


def vote(drawn, ref):
    """Majority vote of drawn answers: NaN abstains, ties split evenly, nothing fails."""
    votes = Counter(a for a in drawn if not math.isnan(a))
    if not votes:
        return 0.0
    top = max(votes.values())
    leaders = [a for a, c in votes.items() if c == top]
    return (ref in leaders) / len(leaders)


def ac_draws(row, order, threshold, cap):
    """Adaptive-Consistency on one order, as the reference implementation does it."""
    seen = []
    for t, j in enumerate(order[:cap], start=1):
        seen.append("none" if math.isnan(row[j]) else row[j])
        counts = sorted(Counter(seen).values(), reverse=True) + [0]
        if 1 - stats.beta.cdf(0.5, counts[0] + 1, counts[1] + 1) >= threshold:
            return t
    return cap


def product_orders(n, m):
    """Every combination of one order per query: the exact expectation for batch policies."""
    perms = list(itertools.permutations(range(m)))
    worlds = list(itertools.product(range(len(perms)), repeat=n))
    return np.array([[perms[w[i]] for w in worlds] for i in range(n)])


def greedy_units(values, units):
    """Buy the `units` best non-negative units; values[i] is row i's non-increasing list."""
    cands = [(-v, j, i) for i, row in enumerate(values) for j, v in enumerate(row) if v >= 0]
    extra = [0] * len(values)
    for _, _, i in sorted(cands)[:units]:
        extra[i] += 1
    return extra


@st.composite
def answer_data(draw, max_n=3, max_m=6, min_m=1):
    m = draw(st.integers(min_m, max_m))
    n = draw(st.integers(1, max_n))
    values = st.sampled_from([0.0, 1.0, 2.0, np.nan])
    answers = np.array(draw(st.lists(st.lists(values, min_size=m, max_size=m), min_size=n, max_size=n)))
    reference = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)))
    return answers, reference


def synthetic(n=300, m=16, seed=0):
    rng = np.random.default_rng(seed)
    lam = rng.beta(0.6, 0.6, n)
    correct = rng.random((n, m)) < lam[:, None]
    answers = np.where(correct, 1.0, rng.integers(2, 5, (n, m)).astype(float))
    answers[rng.random((n, m)) < 0.05] = np.nan
    logprob = -np.abs(rng.normal(0.3 - 0.2 * correct, 0.1))
    return dict(answers=answers, reference=np.ones(n), mean_logprob=logprob, min_logprob=5 * logprob,
                n_tokens=rng.integers(3, 20, (n, m))), lam


# ----------------------------------------------------------------- stored samples


def test_stored_samples_outcomes_and_codes():
    s = StoredSamples(answers=[[3, 3, 4, np.nan]], reference=[3], n_permutations=5)
    np.testing.assert_array_equal(s.outcomes, [[1, 1, 0, 0]])
    assert s.orders.shape == (1, 5, 4)
    assert (np.sort(s.orders, axis=2) == np.arange(4)).all()
    # NaN outcome (verifier failed) counts as not verified
    s = StoredSamples([[1, np.nan, 0]])
    np.testing.assert_array_equal(s.outcomes, [[1, 0, 0]])
    assert s.selections == ("oracle",)


def test_stored_samples_all_orders_and_seed():
    s = StoredSamples([[1, 0, 0], [0, 1, 0]], n_permutations="all")
    assert s.n_worlds == 6
    for i in range(2):
        assert len({tuple(o) for o in s.orders[i]}) == 6
    a = StoredSamples([[1, 0, 0, 1]], n_permutations=7, random_state=3).orders
    b = StoredSamples([[1, 0, 0, 1]], n_permutations=7, random_state=3).orders
    np.testing.assert_array_equal(a, b)


def test_stored_samples_errors():
    with pytest.raises(ValueError, match="needs outcomes, or answers and reference"):
        StoredSamples()
    with pytest.raises(ValueError, match="answers needs reference"):
        StoredSamples(answers=[[1, 2]])
    with pytest.raises(ValueError, match=r"reference must have shape \(n_queries,\) = \(2,\)"):
        StoredSamples(answers=[[1, 2], [3, 4]], reference=[1])
    with pytest.raises(ValueError, match="outcomes must be 0, 1 or NaN; found 2.0"):
        StoredSamples([[1, 2]])
    with pytest.raises(ValueError, match=r"mean_logprob must have shape \(1, 2\)"):
        StoredSamples([[1, 0]], mean_logprob=[[0.1, 0.2, 0.3]])
    with pytest.raises(ValueError, match="n_samples <= 7"):
        StoredSamples(np.zeros((1, 8)), n_permutations="all")
    with pytest.raises(ValueError, match="n_permutations must be a positive integer or 'all'"):
        StoredSamples([[1, 0]], n_permutations="some")
    with pytest.raises(ValueError, match="permutation of range"):
        StoredSamples([[1, 0]], orders=[[[0, 0]]])
    with pytest.raises(ValueError, match="must be a StoredSamples"):
        uniform(np.ones((2, 2)), 1)


@SETTINGS
@given(answer_data(max_m=7), st.integers(0, 2 ** 16))
def test_prefix_statistics_match_counting(case, seed):
    answers, reference = case
    s = StoredSamples(answers=answers, reference=reference, n_permutations=3, random_state=seed)
    stats_ = s._prefix()
    n, m = answers.shape
    for i in range(n):
        for p in range(3):
            order = s.orders[i, p]
            for t in range(m + 1):
                drawn = [answers[i, j] for j in order[:t]]
                with_none = sorted(Counter("none" if math.isnan(a) else a for a in drawn).values(),
                                   reverse=True) + [0, 0]
                real = sorted(Counter(a for a in drawn if not math.isnan(a)).values(), reverse=True) + [0, 0]
                assert (stats_["ac1"][i, p, t], stats_["ac2"][i, p, t]) == tuple(with_none[:2])
                assert (stats_["mv1"][i, p, t], stats_["mv2"][i, p, t]) == tuple(real[:2])
                ties = stats_["ties"][i, p, t]
                value = 0.0 if ties < 0 else 1.0 / (ties + 1)
                assert value == pytest.approx(vote(drawn, reference[i]))


# ----------------------------------------------------------------- unbiasedness


@SETTINGS
@given(answer_data(max_m=6), st.data())
def test_all_orders_average_equals_exact_curves(case, data):
    answers, reference = case
    m = answers.shape[1]
    k = data.draw(st.integers(1, m))
    s = StoredSamples(answers=answers, reference=reference, n_permutations="all")
    # a per-query policy that always draws k samples, replayed on every order
    fixed = price_rule(s, -1.0, verifier_at_inference=False, max_samples=k)
    np.testing.assert_array_equal(fixed.samples_used, k)
    np.testing.assert_allclose(fixed.quality_per_query["majority"],
                               majority_vote_curve(answers, reference)[:, k - 1], atol=1e-12)
    np.testing.assert_allclose(fixed.quality_per_query["oracle"], targets.pass_at_k(s.outcomes, k), atol=1e-12)
    exact = uniform(s, k)
    for key in ("oracle", "majority"):
        np.testing.assert_allclose(fixed.quality_per_query[key], exact.quality_per_query[key], atol=1e-12)


def test_random_orders_estimate_is_close_to_exact():
    answers = np.array([[1, 1, 2, 2, 3, np.nan], [1, 2, 2, 2, 3, 3]])
    s = StoredSamples(answers=answers, reference=[1, 2], n_permutations=4000, random_state=1)
    estimate = price_rule(s, -1.0, verifier_at_inference=False, max_samples=3).quality_per_query["majority"]
    np.testing.assert_allclose(estimate, majority_vote_curve(answers, [1, 2])[:, 2], atol=0.03)


# ----------------------------------------------------------------- Adaptive-Consistency


def test_ac_stops_after_four_unanimous_answers_not_three():
    answers = np.array([[7, 7, 7, 7, 8, 8, 8, 8], [7, 7, 7, 8, 8, 8, 8, 8], [np.nan] * 4 + [7] * 4])
    identity = np.tile(np.arange(8), (3, 1, 1))
    s = StoredSamples(answers=answers, reference=[7, 7, 7], orders=identity)
    result = adaptive_consistency(s, threshold=0.95)
    # 1 - 0.5**5 = 0.969 >= 0.95 after four 7s; 0.9375 after three, then the 8s keep it going
    assert result.samples_used[0] == 4
    assert result.samples_used[1] == ac_draws(answers[1], np.arange(8), 0.95, 8) == 8
    # unparsable answers are one candidate: four of them stop the query, and the vote fails
    assert result.samples_used[2] == 4
    np.testing.assert_allclose(result.quality_per_query["majority"], [1.0, 0.0, 0.0])
    # at threshold 0.9375 three unanimous answers are enough
    assert adaptive_consistency(s, threshold=0.9375).samples_used[0] == 3
    # the cap of the reference implementation (40) is capped at the stored samples
    assert result.params["max_samples"] == 8
    assert adaptive_consistency(s, threshold=0.95, max_samples=2).samples_used.tolist() == [2, 2, 2]


@SETTINGS
@given(answer_data(max_n=2, max_m=6), st.sampled_from([0.6, 0.8, 0.9, 0.95, 0.99]), st.integers(1, 6))
def test_ac_exact_against_every_order(case, threshold, cap):
    answers, reference = case
    n, m = answers.shape
    s = StoredSamples(answers=answers, reference=reference, n_permutations="all")
    result = adaptive_consistency(s, threshold=threshold, max_samples=cap)
    cap = min(cap, m)
    for i in range(n):
        draws, maj, orc = [], [], []
        for order in itertools.permutations(range(m)):
            t = ac_draws(answers[i], order, threshold, cap)
            drawn = [answers[i, j] for j in order[:t]]
            draws.append(t)
            maj.append(vote(drawn, reference[i]))
            orc.append(any(a == reference[i] for a in drawn))
        assert result.samples_used[i] == pytest.approx(np.mean(draws))
        assert result.quality_per_query["majority"][i] == pytest.approx(np.mean(maj))
        assert result.quality_per_query["oracle"][i] == pytest.approx(np.mean(orc))
    assert result.total_samples.max() <= n * cap


# ----------------------------------------------------------------- UAB


def uab_case():
    p = np.array([0.8, 0.5, 0.15])
    logprob = np.repeat(0.2 * np.log(p)[:, None], 4, axis=1)
    answers = np.array([[1, 1, 1, 2], [1, 2, 1, 2], [3, 1, 3, 3]], dtype=float)
    return StoredSamples(answers=answers, reference=[1, 1, 1], mean_logprob=logprob,
                         n_permutations="all"), answers


def test_uab_hand_computed_allocation():
    s, answers = uab_case()
    # p = exp(-ANLL / 0.2) = [.8, .5, .15]; 8 samples, 3 in round 0, 5 extra by p (1 - p)**c:
    # .8, .5, .25, .16, .15 (next: .1275, .125) -> extra [2, 2, 1] (cap 4 -> at most 3 extra)
    result = uab(s, 8 / 3, max_budget=4)
    np.testing.assert_array_equal(result.samples_used, [3, 3, 2])
    assert result.rounds == 2
    # budgets do not depend on the order here, so the majority score is the exact curve
    np.testing.assert_allclose(result.quality_per_query["majority"],
                               majority_vote_outcomes(answers, [1, 1, 1], np.array([3, 3, 2])))
    # easy exit: p > 0.7 gets no more samples, its share goes to the others
    easy = uab(s, 8 / 3, max_budget=4, easy_threshold=0.7)
    np.testing.assert_array_equal(easy.samples_used, [1, 4, 3])
    # hard exit: 1 - 0.85**4 = 0.478 < 0.5 is skipped
    hard = uab(s, 8 / 3, max_budget=4, hard_threshold=0.5)
    np.testing.assert_array_equal(hard.samples_used, [3, 4, 1])
    # the sigmoid confidence 1 / (1 + exp(ANLL / tau)) orders the queries the same way
    assert uab(s, 8 / 3, max_budget=4, confidence="sigmoid").samples_used[2] < 3


@SETTINGS
@given(st.integers(1, 3), st.integers(2, 4), st.data())
def test_uab_uses_the_round_zero_sample_only(n, m, data):
    logprob = np.array(data.draw(st.lists(st.lists(st.sampled_from([-0.05, -0.2, -0.5, -1.0]),
                                                             min_size=m, max_size=m), min_size=n, max_size=n)))
    answers = np.array(data.draw(st.lists(st.lists(st.sampled_from([1.0, 2.0]), min_size=m, max_size=m),
                                          min_size=n, max_size=n)))
    budget = data.draw(st.integers(n, n * m)) / n
    orders = product_orders(n, m)
    s = StoredSamples(answers=answers, reference=np.ones(n), mean_logprob=logprob, orders=orders)
    result = uab(s, budget, tau=0.2)
    total = int(np.floor(budget * n + 1e-9))
    used, maj = np.zeros(n), np.zeros(n)
    for w in range(orders.shape[1]):
        p = [math.exp(logprob[i, orders[i, w, 0]] / 0.2) for i in range(n)]
        extra = greedy_units([[p[i] * (1 - p[i]) ** c for c in range(m - 1)] for i in range(n)], total - n)
        for i in range(n):
            k = 1 + extra[i]
            used[i] += k
            maj[i] += vote([answers[i, j] for j in orders[i, w, :k]], 1.0)
    np.testing.assert_allclose(result.samples_used, used / orders.shape[1])
    np.testing.assert_allclose(result.quality_per_query["majority"], maj / orders.shape[1])
    assert result.total_samples.max() <= total


# ----------------------------------------------------------------- two phases


def test_two_phase_spends_on_disagreeing_queries():
    answers = np.array([[1, 1, 1, 1, 1, 1], [1, 2, 1, 3, 1, 2], [5, 5, 5, 5, 5, 5]])
    s = StoredSamples(answers=answers, reference=[1, 1, 4], n_permutations="all")
    agreement = lambda Z: Z[:, 2] * 0.9 + 0.05  # noqa: E731
    result = two_phase(s, agreement, 3, first_samples=2)
    p_disagree = 1 - (3 * 2 + 2 * 1) / 30  # first two answers of the middle query differ
    np.testing.assert_allclose(result.samples_used,
                               [2 + (1 - p_disagree), 2 + 3 * p_disagree + (1 - p_disagree), 2 + (1 - p_disagree)])
    assert result.total_samples.max() <= 9
    assert result.rounds == 2


def test_two_phase_with_verifier_skips_solved_queries():
    outcomes = np.array([[1, 1, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    s = StoredSamples(outcomes, n_permutations="all")
    result = two_phase(s, lambda Z: np.full(len(Z), 0.3), 2, first_samples=1, verifier_at_inference=True)
    # query 0 is always solved after one sample: its share goes to the other two
    assert result.samples_used[0] == 1
    assert result.total_samples.max() <= 6
    blind = two_phase(s, lambda Z: np.full(len(Z), 0.3), 2, first_samples=1)
    assert blind.samples_used[0] > 1
    assert result.quality["oracle"] > blind.quality["oracle"]


@SETTINGS
@given(st.integers(1, 2), st.integers(2, 3), st.integers(1, 2), st.booleans(), st.data())
def test_two_phase_exact_against_every_order(n, m, r, verifier, data):
    r = min(r, m)
    answers = np.array(data.draw(st.lists(st.lists(st.sampled_from([1.0, 2.0, 3.0, np.nan]),
                                                   min_size=m, max_size=m), min_size=n, max_size=n)))
    budget = data.draw(st.integers(r * n, m * n)) / n
    orders = product_orders(n, m)
    s = StoredSamples(answers=answers, reference=np.ones(n), orders=orders)

    def predictor(Z):
        return 0.1 + 0.7 * Z[:, 2] - 0.05 * Z[:, 3] + 0.1 * Z[:, 4]

    result = two_phase(s, predictor, budget, first_samples=r, verifier_at_inference=verifier)
    total = int(np.floor(budget * n + 1e-9))
    used, orc = np.zeros(n), np.zeros(n)
    for w in range(orders.shape[1]):
        rows = []
        for i in range(n):
            seen = [answers[i, j] for j in orders[i, w, :r]]
            real = [a for a in seen if not math.isnan(a)]
            agree = max(Counter(real).values()) / r if real else 0.0
            lam = min(max(0.1 + 0.7 * agree - 0.05 * len(set(real)) + 0.1 * len(real) / r, 0.0), 1.0)
            solved = any(a == 1.0 for a in seen)
            if verifier:
                rows.append([-1.0] * (m - r) if solved else [lam * (1 - lam) ** c for c in range(m - r)])
            else:
                rows.append([lam * (1 - lam) ** (r + c) for c in range(m - r)])
        extra = greedy_units(rows, total - r * n)
        for i in range(n):
            k = r + extra[i]
            used[i] += k
            orc[i] += any(answers[i, j] == 1.0 for j in orders[i, w, :k])
    np.testing.assert_allclose(result.samples_used, used / orders.shape[1])
    np.testing.assert_allclose(result.quality_per_query["oracle"], orc / orders.shape[1])


def test_two_phase_accepts_estimators_and_marginal_outputs():
    from sklearn.linear_model import LinearRegression, LogisticRegression

    data, _ = synthetic(n=200, m=8)
    train, test = StoredSamples.from_bunch(data, rows=np.arange(100)), StoredSamples.from_bunch(
        data, rows=np.arange(100, 200), n_permutations=4)
    td = two_phase_training_data(train, first_samples=2, n_draws=2)
    reg = LinearRegression().fit(td.X, td.success_prob)
    clf = LogisticRegression().fit(td.X, td.success_prob > 0.5)
    for predictor in (reg, clf):
        result = two_phase(test, predictor, 4, first_samples=2)
        assert result.total_samples.max() <= 400
    marginal = lambda Z: np.tile(np.linspace(0.5, 0.1, 6), (len(Z), 1))  # noqa: E731
    assert two_phase(test, marginal, 3, first_samples=2).total_samples.max() <= 300
    with pytest.raises(ValueError, match="6 are needed"):
        two_phase(test, lambda Z: np.ones((len(Z), 3)), 3, first_samples=2)
    with pytest.raises(ValueError, match=r"predictor returned shape \(3,\) for 100 queries"):
        two_phase(test, lambda Z: np.ones(3), 3, first_samples=2)
    with pytest.raises(ValueError, match=r"budget=1 must lie in \[2, 8\]"):
        two_phase(test, reg, 1, first_samples=2)
    with pytest.raises(ValueError, match=r"X must have shape \(n_queries, n_features\) = \(100"):
        two_phase(test, reg, 3, first_samples=2, X=np.ones((5, 2)))


def test_two_phase_training_data_has_no_leakage():
    # sample j of every query has mean log-prob -j and only sample 0 is correct:
    # the seen sample is identified by its evidence, and must be absent from the targets
    n, m = 50, 6
    logprob = -np.tile(np.arange(m, dtype=float), (n, 1))
    outcomes = np.zeros((n, m))
    outcomes[:, 0] = 1
    s = StoredSamples(outcomes, mean_logprob=logprob)
    data = two_phase_training_data(s, X=np.arange(n)[:, None], first_samples=1, n_draws=4, random_state=0)
    assert data.X.shape == (n * 4, 1 + len(EVIDENCE_FEATURES))
    assert data.feature_names[0] == "x0" and data.feature_names[1:] == list(EVIDENCE_FEATURES)
    np.testing.assert_array_equal(data.X[:, 0], data.query_index)
    seen = -data.X[:, 1]  # mean log-prob of the one seen sample
    assert data.outcomes_rest.shape == (n * 4, m - 1)
    np.testing.assert_array_equal(data.outcomes_rest.sum(axis=1), (seen != 0).astype(float))
    np.testing.assert_array_equal(data.phase1_solved, seen == 0)
    np.testing.assert_allclose(data.success_prob, data.outcomes_rest.mean(axis=1))
    assert 0 < data.phase1_solved.mean() < 0.5  # the seen sample is random
    with pytest.raises(ValueError, match="first_samples=6 must be smaller than n_samples=6"):
        two_phase_training_data(s, first_samples=6)


def test_phase_evidence_hand_computed():
    ev = phase_evidence([[4, 4, 5, np.nan]], [[-0.1, -0.3, -0.2, -0.2]], [[-1.0, -2.0, np.nan, -0.5]],
                        [[3, 5, 4, 4]])
    np.testing.assert_allclose(ev, [[-0.2, -2.0, 0.5, 2.0, 0.75, 4.0]])
    ev = phase_evidence(np.full((2, 3, 2), np.nan), np.full((2, 3, 2), np.nan))
    assert ev.shape == (2, 3, 6)
    assert np.isnan(ev[..., 0]).all() and (ev[..., 2:5] == 0).all()
    with pytest.raises(ValueError, match=r"mean_logprob of the seen samples must have the shape"):
        phase_evidence([[1, 2]], [[0.1]])


# ----------------------------------------------------------------- multi-round and price rule


def posterior_marginal(a, b, j):
    """E[lam (1 - lam)**(j - 1)] = B(a + 1, b + j - 1) / B(a, b) for lam ~ Beta(a, b)."""
    return math.exp(special.betaln(a + 1, b + j - 1) - special.betaln(a, b))


def test_posterior_marginal_reference():
    a, b, j = 0.7, 1.9, 3
    value, _ = integrate.quad(lambda x: stats.beta.pdf(x, a, b) * x * (1 - x) ** (j - 1), 0, 1)
    assert posterior_marginal(a, b, j) == pytest.approx(value)


def test_posterior_marginals_closed_form():
    from skadapt.feedback import _posterior_marginals

    a = np.array([0.5, 1.0, 2.7])
    b = np.array([1.5, 4.0, 0.3])
    got = _posterior_marginals(a, b, 6)
    expected = [[posterior_marginal(a[i], b[i], j) for j in range(1, 7)] for i in range(3)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@SETTINGS
@given(st.integers(1, 2), st.integers(2, 3), st.integers(1, 3), st.data())
def test_multi_round_with_verifier_exact_against_every_order(n, m, rounds, data):
    outcomes = np.array(data.draw(st.lists(st.lists(st.sampled_from([0.0, 1.0]), min_size=m, max_size=m),
                                           min_size=n, max_size=n)))
    cap = data.draw(st.integers(1, m))
    budget = data.draw(st.integers(0, cap * n)) / n
    prior = np.array([0.3, 0.55])[:n]
    orders = product_orders(n, m)
    s = StoredSamples(outcomes, orders=orders)
    result = multi_round(s, budget, rounds=rounds, max_budget=cap, prior=prior, prior_strength=2.7)
    total = int(np.floor(budget * n + 1e-9))
    a0, b0 = 2.7 * prior, 2.7 * (1 - prior)
    used, orc = np.zeros(n), np.zeros(n)
    for w in range(orders.shape[1]):
        c, spent = [0] * n, 0
        for t in range(rounds):
            units = total * (t + 1) // rounds - spent
            rows = []
            for i in range(n):
                solved = any(outcomes[i, j] for j in orders[i, w, :c[i]])
                rows.append([] if solved else
                            [posterior_marginal(a0[i], b0[i] + c[i], j) for j in range(1, cap - c[i] + 1)])
            extra = greedy_units(rows, max(units, 0))
            c = [c[i] + extra[i] for i in range(n)]
            spent += sum(extra)
        for i in range(n):
            used[i] += c[i]
            orc[i] += any(outcomes[i, j] for j in orders[i, w, :c[i]])
    np.testing.assert_allclose(result.samples_used, used / orders.shape[1], atol=1e-9)
    np.testing.assert_allclose(result.quality_per_query["oracle"], orc / orders.shape[1], atol=1e-9)
    assert result.total_samples.max() <= total


def test_multi_round_beats_uniform_with_a_verifier():
    rng = np.random.default_rng(0)
    lam = np.where(rng.random(400) < 0.5, 0.9, 0.1)
    outcomes = (rng.random((400, 16)) < lam[:, None]).astype(float)
    s = StoredSamples(outcomes, n_permutations=16)
    base = uniform(s, 2).quality["oracle"]
    result = multi_round(s, 2, rounds=4)
    # best possible here is about base + 0.045 (one more sample for each unsolved query)
    assert result.quality["oracle"] > base + 0.03
    assert result.total_samples.max() <= 800
    assert result.rounds == 4


def test_vote_race_value_matches_integration():
    from skadapt.feedback import _vote_race, _vote_race_value

    V = _vote_race_value(6)

    def direct(v1, v2, j):
        def f(x):
            y = np.arange(j + 1)
            lead = v1 + y - (v2 + j - y)
            pmf = stats.binom.pmf(y, j, x)
            W = pmf[lead > 0].sum() + 0.5 * pmf[lead == 0].sum()
            return stats.beta.pdf(x, v1 + 1, v2 + 1) * (W if x > 0.5 else 1 - W)
        return integrate.quad(f, 0, 0.5)[0] + integrate.quad(f, 0.5, 1)[0]

    for v1, v2, j in [(0, 0, 0), (0, 0, 1), (3, 1, 0), (3, 1, 3), (4, 4, 5), (6, 0, 6), (2, 1, 2)]:
        assert V[v1, v2, j] == pytest.approx(direct(v1, v2, j), abs=1e-9)
    # V(0) is Adaptive-Consistency's statistic P(X > 1/2), X ~ Beta(v1 + 1, v2 + 1)
    assert V[4, 0, 0] == pytest.approx(1 - 0.5 ** 5)
    table = _vote_race(6)
    assert (np.diff(table, axis=2) <= 1e-15).all()
    assert table[0, 0, 0] == pytest.approx(0.25)


def test_multi_round_without_verifier_follows_agreement():
    answers = np.array([[4.0] * 8, [1, 2, 1, 2, 1, 2, 1, 2]])
    s = StoredSamples(answers=answers, reference=[4, 1], n_permutations=32)
    result = multi_round(s, 4, rounds=4, verifier_at_inference=False)
    assert result.samples_used[1] > result.samples_used[0]
    assert result.total_samples.max() <= 8
    with pytest.raises(ValueError, match="prior is used only with verifier_at_inference=True"):
        multi_round(s, 4, verifier_at_inference=False, prior=0.5)
    with pytest.raises(ValueError, match="needs answers and reference"):
        multi_round(StoredSamples([[1, 0]]), 1, verifier_at_inference=False)


@SETTINGS
@given(st.lists(st.lists(st.sampled_from([0.0, 1.0]), min_size=4, max_size=4), min_size=1, max_size=3),
       st.floats(0.01, 0.6), st.floats(0.05, 0.95))
def test_price_rule_with_verifier_exact(rows, price, prior):
    outcomes = np.array(rows)
    s = StoredSamples(outcomes, n_permutations="all")
    result = price_rule(s, price, prior=prior, prior_strength=3.0)
    a, b = 3.0 * prior, 3.0 * (1 - prior)
    for i in range(len(rows)):
        draws, orc = [], []
        for order in itertools.permutations(range(4)):
            t = 0
            while t < 4 and a / (a + b + t) >= price and not any(outcomes[i, j] for j in order[:t]):
                t += 1
            draws.append(t)
            orc.append(any(outcomes[i, j] for j in order[:t]))
        assert result.samples_used[i] == pytest.approx(np.mean(draws))
        assert result.quality_per_query["oracle"][i] == pytest.approx(np.mean(orc))


def test_price_rule_without_verifier_stops_on_agreement():
    answers = np.array([[4.0] * 8, [1, 2, 1, 2, 1, 2, 1, 2]])
    s = StoredSamples(answers=answers, reference=[4, 1], n_permutations="all" if False else 64)
    result = price_rule(s, 0.01, verifier_at_inference=False)
    assert result.samples_used[0] < result.samples_used[1]
    assert price_rule(s, 0.3, verifier_at_inference=False).avg_samples == 0  # first sample worth 0.25
    assert price_rule(s, 0.25, verifier_at_inference=False).samples_used.min() >= 1


# ----------------------------------------------------------------- budgets fixed in advance


def test_one_shot_is_scored_exactly():
    data, lam = synthetic(n=120, m=8)
    s = StoredSamples.from_bunch(data)
    result = one_shot(s, lam, 3, max_budget=8)
    budgets = result.samples_used.astype(int)
    assert budgets.sum() <= 360 and budgets.max() <= 8
    assert result.quality["oracle"] == pytest.approx(metrics.expected_success(s.outcomes, budgets))
    on = budgets > 0
    np.testing.assert_allclose(result.quality_per_query["majority"][on],
                               majority_vote_outcomes(data["answers"][on], data["reference"][on], budgets[on]))
    assert (result.quality_per_query["majority"][~on] == 0).all()
    delta = targets.geometric_marginal_rewards(lam, 8)
    marginal = one_shot(s, delta, 3, kind="marginal")
    np.testing.assert_array_equal(marginal.samples_used, result.samples_used)
    with pytest.raises(ValueError, match=r"predictions must have shape \(n_queries,\) = \(120,\)"):
        one_shot(s, lam[:5], 3)
    with pytest.raises(ValueError, match="kind must be"):
        one_shot(s, lam, 3, kind="probs")


def test_split_sample_oracle_scores_on_the_other_half():
    # query 0 looks solved on its first half and hopeless on its second; query 1 the reverse
    outcomes = np.array([[1, 1, 0, 0], [0, 0, 1, 1]])
    s = StoredSamples(outcomes)
    one_way = split_sample_oracle(s, 1, cross_fit=False)
    np.testing.assert_array_equal(one_way.samples_used, [1, 1])  # spare units are worth 0 and are bought
    np.testing.assert_array_equal(one_way.quality_per_query["oracle"], [0, 1])
    both = split_sample_oracle(s, 1)
    np.testing.assert_array_equal(both.quality_per_query["oracle"], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"budget=3 must lie in \[0, 2\]"):
        split_sample_oracle(s, 3)
    with pytest.raises(ValueError, match="selection must be one of"):
        split_sample_oracle(s, 1, selection="majority")


def test_split_sample_oracle_majority_allocates_on_the_envelope():
    answers = np.array([[1, 2, 1, 2, 1, 2, 1, 2], [1, 1, 1, 1, 1, 1, 1, 1]], dtype=float)
    s = StoredSamples(answers=answers, reference=[1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NonMonotoneRewardsWarning: the envelope is monotone
        result = split_sample_oracle(s, 2, selection="majority")
    assert result.samples_used[1] <= result.samples_used[0]
    assert result.total_samples.max() <= 4


# ----------------------------------------------------------------- budgets are never exceeded


@SETTINGS
@given(answer_data(max_n=4, max_m=6, min_m=2), st.data())
def test_budgets_are_never_exceeded(case, data):
    answers, reference = case
    n, m = answers.shape
    cap = data.draw(st.integers(1, m))
    budget = data.draw(st.integers(n, n * cap)) / n
    logprob = -np.abs(np.nan_to_num(answers, nan=3.0)) / 4
    s = StoredSamples(answers=answers, reference=reference, mean_logprob=logprob, n_permutations=6)
    total = int(np.floor(budget * n + 1e-9))
    results = [
        multi_round(s, budget, rounds=data.draw(st.integers(1, 3)), max_budget=cap),
        multi_round(s, budget, rounds=2, max_budget=cap, verifier_at_inference=False),
        uab(s, budget, max_budget=cap),
        two_phase(s, lambda Z: Z[:, 2], budget, first_samples=1, max_budget=cap),
        one_shot(s, np.linspace(0.1, 0.9, n), budget, max_budget=cap),
    ]
    if cap <= m // 2:
        results.append(split_sample_oracle(s, budget, max_budget=cap))
    for result in results:
        assert result.total_samples.max() <= total, result.policy
        assert result.samples_used.max() <= cap + 1e-12, result.policy
        for value in result.quality_per_query.values():
            assert ((value >= 0) & (value <= 1 + 1e-12)).all()


# ----------------------------------------------------------------- comparing at equal spend


def test_quality_at_spend():
    np.testing.assert_allclose(quality_at_spend([1, 2, 4, 3], [0.5, 0.6, 0.9, 0.5], [1.5, 3, 5]),
                               [0.55, 0.75, np.nan])
    assert quality_at_spend([2, 2], [0.4, 0.6], 2) == pytest.approx(0.6)
    assert np.isnan(quality_at_spend([np.nan], [0.5], 1))
    with pytest.raises(ValueError, match="equal length"):
        quality_at_spend([1, 2], [0.5], 1)


def test_compare_policies_at_equal_spend():
    data, lam = synthetic(n=150, m=8)
    s = StoredSamples.from_bunch(data, n_permutations=8)
    frame = compare_policies(s, [1.5, 2, 4], success_prob=lam, predictor=lambda Z: Z[:, 2], first_samples=1,
                             rounds=(2,))
    assert list(frame.columns) == ["policy", "selection", "target_budget", "avg_samples", "quality", "rounds"]
    assert set(frame.policy) == {"uniform", "one_shot", "split_sample_oracle", "two_phase", "multi_round_2",
                                 "uab", "adaptive_consistency", "price_rule"}
    assert set(frame.selection) == {"oracle", "majority"}
    spent = frame.avg_samples.notna()
    assert (frame.avg_samples[spent] <= frame.target_budget[spent] + 1e-9).all()
    assert frame.quality[frame.avg_samples.isna()].isna().all()  # a front that does not reach the target
    swept = frame[frame.policy.isin(["adaptive_consistency", "price_rule"]) & frame.quality.notna()]
    at_target = np.isclose(swept.avg_samples, swept.target_budget)
    assert at_target.sum() >= len(swept) - 2
    # a policy that cannot spend the target reports its best setting, spending less
    for _, row in swept[~at_target].iterrows():
        same = swept[(swept.policy == row.policy) & (swept.selection == row.selection)]
        assert row.avg_samples < row.target_budget and row.quality == same.quality.max()
    uni = frame[(frame.policy == "uniform") & (frame.selection == "oracle")].set_index("target_budget").quality
    curve = s.curve("oracle").mean(axis=0)
    assert uni[2] == pytest.approx(curve[1])
    assert uni[1.5] == pytest.approx((curve[0] + curve[1]) / 2)


def test_sweep_policy_rows():
    s = StoredSamples(answers=[[7, 7, 7, 7, 8, 7]], reference=[7])
    frame = sweep_policy(adaptive_consistency, s, "threshold", [0.6, 0.95])
    assert frame.columns.tolist() == ["threshold", "avg_samples", "rounds", "quality_oracle", "quality_majority"]
    assert frame.avg_samples.iloc[0] < frame.avg_samples.iloc[1]


def test_feedback_result_summary():
    s = StoredSamples([[1, 0, 0, 1]])
    result = uniform(s, 2)
    assert isinstance(result, FeedbackResult)
    assert result.avg_samples == 2 and result.rounds == 1 and result.evaluation == "exact"
    assert "uniform" in repr(result)


def test_policy_argument_errors():
    s = StoredSamples(answers=[[1, 2, 1]], reference=[1])
    with pytest.raises(ValueError, match=r"threshold must lie in \(0, 1\]"):
        adaptive_consistency(s, threshold=0)
    with pytest.raises(ValueError, match="uab needs mean_logprob"):
        uab(s, 2)
    with pytest.raises(ValueError, match=r"k=4 must lie in \[1, 3\]"):
        uniform(s, 4)
    with pytest.raises(ValueError, match="prior_strength must be a positive number"):
        multi_round(s, 2, prior_strength=0)
    with pytest.raises(ValueError, match=r"prior must be a probability or an array of shape \(1,\)"):
        price_rule(s, 0.1, prior=[0.2, 0.3])
    with pytest.raises(ValueError, match="price must be a finite number"):
        price_rule(s, np.nan)
    with pytest.raises(ValueError, match="adaptive_consistency needs answers"):
        adaptive_consistency(StoredSamples([[1, 0]]))
