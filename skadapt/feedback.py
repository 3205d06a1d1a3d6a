"""Allocation with feedback: policies that look at a query's own samples.

The paper's allocator decides every budget before any sample is drawn (one
shot, Eq. 5 on predicted marginal rewards). A policy *with feedback* draws
some samples first, looks at them (their answers, their log-probabilities
and, when a verifier is available at inference, whether one is correct) and
then decides how many more to draw. This module implements such policies,
the published baselines they are compared with, and an evaluation of all of
them from ``m`` stored samples per query, without running a model.

Evaluation without bias
    A sequential policy draws a query's stored samples one after another, in
    a uniformly random order, without replacement: exactly the law of
    drawing fresh i.i.d. samples, as long as it needs at most ``m``. Each
    policy is run on ``n_permutations`` random orders of every query's
    samples ("worlds"; world ``p`` uses the ``p``-th order of every query, so
    batch policies see a whole batch), and its per-query quality is averaged
    over the worlds. The average is an unbiased estimate of the expected
    quality; with ``n_permutations="all"`` (``m <= 7``) it is the exact
    expectation for the per-query policies. A policy only ever scores on
    the samples it drew, and it sees all of them, as it would at inference.
    Policies whose budgets do not depend on any sample (uniform, one shot,
    the split-sample oracle) are scored in closed form (pass@k and the exact
    majority-vote curve).

Final quality of the drawn samples
    ``"oracle"``: the query succeeds iff some drawn sample is correct (an
    oracle verifier picks it). ``"majority"``: the most frequent extracted
    answer among the drawn samples, samples without an answer abstaining,
    ties broken uniformly at random (the reference answer among ``t`` tied
    leaders scores ``1 / t``).

See ``docs/feedback.md`` for the user guide. :class:`StoredSamples`,
:class:`FeedbackResult` and the scoring of a replay are defined in the private
module ``skadapt._stored_samples``, the published baselines in
``skadapt._feedback_baselines``; import them from here.
"""

import math
import numbers
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import special
from sklearn.utils import Bunch, check_random_state

from skadapt import _greedy, targets
from skadapt._feedback_baselines import adaptive_consistency, uab
from skadapt._stored_samples import (
    FeedbackResult,
    StoredSamples,
    _check_budget,
    _check_cap,
    _check_samples,
    _exact,
    _replayed,
)
from skadapt._validation import (
    InputTypeError,
    as_float_array,
    check_positive_int,
    check_probabilities,
    row_list,
)
from skadapt.allocation import greedy_allocate, greedy_allocate_success_prob
from skadapt.selection import concave_envelope, majority_vote_curve

__all__ = [
    "StoredSamples",
    "FeedbackResult",
    "EVIDENCE_FEATURES",
    "phase_evidence",
    "uniform",
    "one_shot",
    "split_sample_oracle",
    "two_phase",
    "two_phase_training_data",
    "multi_round",
    "price_rule",
    "adaptive_consistency",
    "uab",
    "sweep_policy",
    "quality_at_spend",
    "compare_policies",
]

#: Columns of :func:`phase_evidence`.
EVIDENCE_FEATURES = ("mean_logprob", "min_logprob", "agreement", "n_distinct", "answered", "n_tokens")

_EXCLUDED = -2.0  # marginal reward of a unit that must never be bought


# --------------------------------------------------------------------------
# Evidence of the samples seen so far
# --------------------------------------------------------------------------


def _nan_reduce(values, reduce):
    finite = np.isfinite(values)
    count = finite.sum(axis=-1)
    if reduce == "mean":
        out = np.where(finite, values, 0.0).sum(axis=-1) / np.maximum(count, 1)
    else:
        out = np.where(finite, values, np.inf).min(axis=-1)
    return np.where(count > 0, out, np.nan)


def phase_evidence(answers_seen, mean_logprob_seen=None, min_logprob_seen=None, n_tokens_seen=None):
    """Features of the samples of a query seen so far (the evidence of a first phase).

    Parameters
    ----------
    answers_seen : array-like of shape (..., r)
        Extracted answers of the ``r`` samples seen (NaN = none).
    mean_logprob_seen, min_logprob_seen : array-like of shape (..., r), default=None
        Mean and minimum token log-probability of each seen sample.
    n_tokens_seen : array-like of shape (..., r), default=None
        Generated tokens of each seen sample.

    Returns
    -------
    evidence : ndarray of shape (..., 6)
        Columns :data:`EVIDENCE_FEATURES`: the mean over seen samples of
        their mean log-probability; the smallest token log-probability of
        any seen sample; *agreement*, the share of seen samples giving the
        most frequent answer; the number of distinct answers; the fraction of
        samples with an extractable answer; the mean number of tokens.
        A column whose input is ``None`` is 0 (constant, so harmless to a
        model); a log-probability column is NaN where no seen sample has
        one.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import phase_evidence
    >>> phase_evidence([[4, 4, 5, np.nan]], [[-0.1, -0.3, -0.2, -0.2]])
    array([[-0.2 ,  0.  ,  0.5 ,  2.  ,  0.75,  0.  ]])
    """
    a = as_float_array(answers_seen, "answers_seen")
    if a.ndim < 1 or a.shape[-1] == 0:
        raise ValueError(f"answers_seen must have shape (..., r) with r >= 1; got {a.shape}.")
    r = a.shape[-1]
    out = np.zeros(a.shape[:-1] + (len(EVIDENCE_FEATURES),))
    for col, values, reduce, name in ((0, mean_logprob_seen, "mean", "mean_logprob_seen"),
                                      (1, min_logprob_seen, "min", "min_logprob_seen"),
                                      (5, n_tokens_seen, "mean", "n_tokens_seen")):
        if values is None:
            continue
        values = as_float_array(values, name)
        if values.shape != a.shape:
            raise ValueError(
                f"{EVIDENCE_FEATURES[col]} of the seen samples must have the shape of answers_seen "
                f"{a.shape}; got {values.shape} in {name}."
            )
        out[..., col] = _nan_reduce(values, reduce)
    same = a[..., :, None] == a[..., None, :]  # NaN equals nothing
    support = same.sum(axis=-1)
    answered = np.isfinite(a)
    out[..., 2] = support.max(axis=-1) / r
    out[..., 3] = np.where(answered, 1.0 / np.maximum(support, 1), 0.0).sum(axis=-1)
    out[..., 4] = answered.mean(axis=-1)
    return out


def _world_evidence(samples, p, r):
    """phase_evidence of the first r samples of world p, (n_queries, 6)."""
    idx = samples.orders[:, p, :r].astype(np.intp)
    take = (lambda v: None if v is None else np.take_along_axis(v, idx, axis=1))
    answers = take(samples.answers)
    if answers is None:
        answers = np.full(idx.shape, np.nan)
    return phase_evidence(answers, take(samples.mean_logprob), take(samples.min_logprob),
                          take(samples.n_tokens))


# --------------------------------------------------------------------------
# Policies without feedback
# --------------------------------------------------------------------------


def uniform(samples, k):
    """Best-of-``k`` / majority of ``k`` for every query: the non-adaptive baseline.

    Scored exactly (pass@k and the exact majority-vote curve).

    Parameters
    ----------
    samples : StoredSamples
    k : int
        Samples per query, ``1 <= k <= n_samples``.

    Returns
    -------
    result : FeedbackResult

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples, uniform
    >>> samples = StoredSamples(answers=[[3, 3, 4, np.nan]], reference=[3])
    >>> {key: round(value, 4) for key, value in uniform(samples, 2).quality.items()}
    {'oracle': 0.8333, 'majority': 0.6667}
    """
    samples = _check_samples(samples)
    k = _check_cap(k, samples.n_samples, "k")
    return _exact("uniform", samples, np.full(samples.n_queries, k), {"k": k})


def one_shot(samples, predictions, budget, *, kind="success_prob", max_budget=None, min_budget=0):
    """The paper's policy: all budgets decided before any sample (Eq. 5, greedy).

    Budgets come from :func:`skadapt.allocation.greedy_allocate_success_prob`
    (``kind="success_prob"``) or :func:`skadapt.allocation.greedy_allocate`
    (``kind="marginal"``; non-increasing rows expected, others projected
    with a :class:`~skadapt.allocation.NonMonotoneRewardsWarning`). They do
    not depend on any sample, so both selection rules are scored exactly.

    Parameters
    ----------
    samples : StoredSamples
    predictions : array-like of shape (n_queries,) or (n_queries, max_budget)
        Predicted success probabilities (``kind="success_prob"``) or
        predicted marginal rewards (``kind="marginal"``), made before any
        sample (for example by a probe on the query's hidden state).
    budget : float
        Average samples per query.
    kind : {"success_prob", "marginal"}, default="success_prob"
    max_budget : int, default=None
        Largest budget of a query; ``None`` means ``n_samples`` (for
        ``kind="marginal"``, at most the number of columns).
    min_budget : int, default=0

    Returns
    -------
    result : FeedbackResult

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples, one_shot
    >>> outcomes = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]])
    >>> result = one_shot(StoredSamples(outcomes), [0.9, 0.3, 0.01], 2, max_budget=4)
    >>> result.samples_used, round(result.quality["oracle"], 4)
    (array([2., 4., 0.]), 0.6667)
    """
    samples = _check_samples(samples)
    n, m = samples.n_queries, samples.n_samples
    if kind == "success_prob":
        if np.shape(predictions)[:1] != (n,):
            raise ValueError(
                f"predictions must have shape (n_queries,) = ({n},) with kind='success_prob'; got "
                f"{np.shape(predictions)}."
            )
        predictions = check_probabilities(predictions, name="predictions")
        cap = _check_cap(max_budget, m)
        total = _check_budget(budget, 0, cap, n)
        budgets = greedy_allocate_success_prob(predictions, total, max_budget=cap, min_budget=min_budget)
    elif kind == "marginal":
        delta = as_float_array(predictions, "predictions")
        if delta.ndim != 2 or delta.shape[0] != n:
            raise ValueError(
                f"predictions must have shape (n_queries, max_budget) = ({n}, max_budget) with "
                f"kind='marginal'; got {delta.shape}."
            )
        cap = _check_cap(max_budget, min(m, delta.shape[1]))
        total = _check_budget(budget, 0, cap, n)
        budgets = greedy_allocate(delta[:, :cap], total, min_budget=min_budget)
    else:
        raise ValueError(f"kind must be 'success_prob' or 'marginal'; got {kind!r}.")
    return _exact("one_shot", samples, budgets, {"budget": budget, "kind": kind, "max_budget": cap})


def split_sample_oracle(samples, budget, *, selection="oracle", max_budget=None, cross_fit=True):
    """Skyline: allocate on the true curves of half the samples, score on the other half.

    The paper's oracle allocates with the true marginal rewards and scores
    on the same samples, which rewards it for the noise of those samples.
    Here the exact curves of samples ``1..m // 2`` of each query choose the
    budgets (Eq. 5, greedy; for majority vote on the curve's
    :func:`~skadapt.selection.concave_envelope`, since its marginal rewards
    are not monotone) and the remaining samples score them, so no sample
    both chooses and scores a budget. With ``cross_fit`` the halves then
    swap roles and the two scores are averaged. Budgets are at most
    ``min(m // 2, m - m // 2)``.

    Parameters
    ----------
    samples : StoredSamples
    budget : float
        Average samples per query.
    selection : {"oracle", "majority"}, default="oracle"
        The curve the budgets are allocated on; both rules are scored.
    max_budget : int, default=None
        Largest budget of a query; ``None`` means ``m // 2``.
    cross_fit : bool, default=True

    Returns
    -------
    result : FeedbackResult

    See Also
    --------
    skadapt.shift.split_sample_oracle : The budgets alone, for a reward matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples, split_sample_oracle
    >>> outcomes = np.array([[1, 1, 1, 1], [0, 1, 1, 0], [0, 0, 0, 0]])
    >>> result = split_sample_oracle(StoredSamples(outcomes), 1)
    >>> result.samples_used, round(result.quality["oracle"], 4)
    (array([1., 2., 0.]), 0.6667)
    """
    samples = _check_samples(samples)
    if selection not in samples.selections:
        raise ValueError(f"selection must be one of {samples.selections}; got {selection!r}.")
    n, m = samples.n_queries, samples.n_samples
    if m < 2:
        raise ValueError("split_sample_oracle needs at least 2 stored samples per query.")
    half = m // 2
    cap = _check_cap(max_budget, min(half, m - half))
    total = _check_budget(budget, 0, cap, n)
    first, second = np.arange(half), np.arange(half, m)

    def curves(cols):
        out = {"oracle": np.column_stack(
            [targets.pass_at_k(samples.outcomes[:, cols], k) for k in range(1, cap + 1)])}
        if samples.codes is not None:
            out["majority"] = majority_vote_curve(samples.answers[:, cols], samples.reference)[:, :cap]
        return out

    key = ("halves", cap)
    if key not in samples._cache:
        samples._cache[key] = [curves(first), curves(second)]
    halves = samples._cache[key]
    runs = []
    for choose, score in ((0, 1), (1, 0)) if cross_fit else ((0, 1),):
        # majority vote: allocate on the concave envelope (= the allocator's projection)
        delta = concave_envelope(halves[choose][selection], marginal_rewards=True)
        budgets = _greedy.allocate_matrix(delta, total, 0)
        runs.append(_exact("split_sample_oracle", samples, budgets, {}, curves=halves[score]))
    quality = {key: np.mean([run.quality_per_query[key] for run in runs], axis=0) for key in samples.selections}
    used = np.mean([run.samples_used for run in runs], axis=0)
    total_samples = np.concatenate([run.total_samples for run in runs])
    return FeedbackResult("split_sample_oracle", quality, used, max(run.rounds for run in runs),
                          total_samples, "exact",
                          {"budget": budget, "selection": selection, "max_budget": cap, "cross_fit": cross_fit})


# --------------------------------------------------------------------------
# Two phases: look at r samples, then allocate the rest
# --------------------------------------------------------------------------


def _predict(predictor, Z):
    if hasattr(predictor, "predict_proba"):
        proba = np.asarray(predictor.predict_proba(Z))
        classes = list(getattr(predictor, "classes_", [0, 1]))
        out = proba[:, classes.index(1) if 1 in classes else -1]
    elif hasattr(predictor, "predict"):
        out = predictor.predict(Z)
    elif callable(predictor):
        out = predictor(Z)
    else:
        raise InputTypeError(
            "predictor must be a fitted scikit-learn classifier (predict_proba), regressor "
            f"(predict) or a callable; got {type(predictor).__name__}."
        )
    out = as_float_array(out, "the predictor's output")  # complex or strings: a clear error
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape[0] != Z.shape[0] or out.ndim not in (1, 2):
        raise ValueError(
            f"predictor returned shape {out.shape} for {Z.shape[0]} queries; expected "
            "(n_queries,) success probabilities or (n_queries, k) marginal rewards."
        )
    if not np.isfinite(out).all():
        raise ValueError("predictor returned NaN or infinite values.")
    return out


def _success_prob_output(predictor, pred):
    """The predictor's 1-D output as success probabilities; out of [0, 1] is never silent.

    A scikit-learn regressor (``predict`` without ``predict_proba``) fitted to
    success rates overshoots [0, 1] by construction: its output is clipped, with
    a warning that says how much. Any other predictor (a classifier, a callable)
    outside [0, 1] is an error.
    """
    bad = np.flatnonzero((pred < 0) | (pred > 1))
    if not bad.size:
        return pred
    found = (f"{bad.size} of {pred.size} values outside [0, 1] (range "
             f"[{pred.min():.3g}, {pred.max():.3g}]) at row(s) {row_list(bad)}")
    if hasattr(predictor, "predict") and not hasattr(predictor, "predict_proba"):
        warnings.warn(
            f"the predictor's output (a regressor's predict) has {found}; clipped to [0, 1] "
            "as success probabilities.", UserWarning, stacklevel=3)
        return np.clip(pred, 0.0, 1.0)
    raise ValueError(
        f"predictor returned success probabilities outside [0, 1]: the predictor's output has "
        f"{found}; return probabilities (np.clip(..., 0, 1) if clipping is what you want)."
    )


def _hidden_features(X, n):
    if X is None:
        return None
    X = as_float_array(X, "X")  # complex X raises instead of losing its imaginary part
    if X.ndim != 2 or X.shape[0] != n:
        raise ValueError(f"X must have shape (n_queries, n_features) = ({n}, n_features); got {X.shape}.")
    return X


def two_phase(samples, predictor, budget, *, first_samples=1, X=None, max_budget=None,
              verifier_at_inference=False):
    """Draw ``first_samples`` for every query, then allocate the rest from what they show.

    Phase 1 draws ``r = first_samples`` samples per query. ``predictor`` maps
    ``[X, phase_evidence(phase-1 samples)]`` (hidden-state features, if any,
    followed by the :data:`EVIDENCE_FEATURES` of the ``r`` samples) to

    * a success probability ``lam`` of a fresh sample (a 1-D output, or a
      classifier's ``predict_proba[:, 1]``): the extra samples' marginal
      rewards continue the geometric best-of-k curve of section 3.3,
      ``lam (1 - lam)**(r + j - 1)`` for the ``j``-th extra sample (the phase-1
      samples still count). With ``verifier_at_inference=True`` a query whose
      phase-1 samples hold a verified answer gets no more, and the others use
      ``lam (1 - lam)**(j - 1)`` (they are known to have failed); or
    * marginal rewards of the 1st, 2nd, ... extra sample (a 2-D output with at
      least ``max_budget - r`` columns), used as they are.

    Phase 2 spends the remaining ``floor(budget * n) - r * n`` samples by the
    exact greedy (Eq. 5), at most ``max_budget - r`` per query. Build the
    predictor's training data on *other* queries with
    :func:`two_phase_training_data`.

    Parameters
    ----------
    samples : StoredSamples
    predictor : fitted estimator or callable
        Anything with ``predict_proba``, ``predict``, or a callable, applied to
        an ``(n_queries, n_features + 6)`` array. A 1-D output outside [0, 1]
        is an error, except from a regressor's ``predict``: that is clipped to
        [0, 1] with a ``UserWarning``.
    budget : float
        Average samples per query, in ``[first_samples, max_budget]``.
    first_samples : int, default=1
    X : array-like of shape (n_queries, n_features), default=None
        Features known before sampling (e.g. hidden states); must match what
        the predictor was trained on.
    max_budget : int, default=None
        Largest number of samples of a query; ``None`` means ``n_samples``.
    verifier_at_inference : bool, default=False
        Whether a verifier tells, after phase 1, which queries are solved.

    Returns
    -------
    result : FeedbackResult
        ``rounds`` is 2 (1 when nothing is left for phase 2).

    Examples
    --------
    A rule that trusts agreement: unanimous first samples mean an easy query.

    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples, two_phase
    >>> answers = np.array([[1, 1, 1, 1, 1, 1], [1, 2, 1, 3, 1, 2], [5, 5, 5, 5, 5, 5]])
    >>> samples = StoredSamples(answers=answers, reference=[1, 1, 4], n_permutations="all")
    >>> agreement = lambda Z: Z[:, 2] * 0.9 + 0.05     # column 2 of the evidence
    >>> result = two_phase(samples, agreement, 3, first_samples=2)
    >>> result.samples_used.round(2)                   # the middle query disagrees 73% of the time
    array([2.27, 4.47, 2.27])
    """
    samples = _check_samples(samples)
    n, m = samples.n_queries, samples.n_samples
    cap = _check_cap(max_budget, m)
    r = _check_cap(first_samples, cap, "first_samples")
    total = _check_budget(budget, r, cap, n)
    X = _hidden_features(X, n)
    first_correct = samples._prefix()["first_correct"]
    width = cap - r
    drawn = np.full((n, samples.n_worlds), r, dtype=np.int64)
    rounds = np.ones(samples.n_worlds)
    for p in range(samples.n_worlds):
        if width == 0 or total - r * n <= 0:
            break
        evidence = _world_evidence(samples, p, r)
        Z = evidence if X is None else np.hstack([X, evidence])
        pred = _predict(predictor, Z)
        if pred.ndim == 1:
            lam = _success_prob_output(predictor, pred)[:, None]
            offset = 0 if verifier_at_inference else r
            delta = lam * np.power(1.0 - lam, np.arange(offset, offset + width)[None, :])
        else:
            if pred.shape[1] < width:
                raise ValueError(
                    f"predictor returned {pred.shape[1]} marginal rewards per query; max_budget - "
                    f"first_samples = {width} are needed."
                )
            delta = pred[:, :width].copy()
        if verifier_at_inference:
            delta[first_correct[:, p] < r] = _EXCLUDED
        extra = greedy_allocate(delta, total - r * n)
        drawn[:, p] += extra
        rounds[p] += extra.sum() > 0
    params = {"budget": budget, "first_samples": r, "max_budget": cap,
              "verifier_at_inference": verifier_at_inference}
    return _replayed("two_phase", samples, drawn, rounds, params)


def two_phase_training_data(samples, X=None, *, first_samples=1, n_draws=1, random_state=0):
    """Training data for the predictor of :func:`two_phase`, without leakage.

    For each training query and each of ``n_draws`` draws, a random set of
    ``r = first_samples`` of its stored samples plays phase 1: its evidence
    (:func:`phase_evidence`) becomes the features, appended to ``X``. The
    targets come from the **other** ``m - r`` samples only (split-sample),
    so a target never reuses the samples its features were computed from.

    Parameters
    ----------
    samples : StoredSamples
        Training queries (never the queries the policy is evaluated on).
    X : array-like of shape (n_queries, n_features), default=None
        Features known before sampling, e.g. hidden states.
    first_samples : int, default=1
    n_draws : int, default=1
        Phase-1 draws per query (more rows, correlated within a query: group
        cross-validation by ``query_index``).
    random_state : int, RandomState instance or None, default=0

    Returns
    -------
    data : :class:`sklearn.utils.Bunch`
        ``X`` (n_queries * n_draws, n_features + 6) features; ``feature_names``;
        ``outcomes_rest`` (n_queries * n_draws, m - r) outcomes of the other
        samples, the ``y`` that :class:`skadapt.SuccessProbClassifier` and
        :class:`skadapt.MarginalRewardRegressor` accept; ``success_prob`` their
        mean (a soft label for a regressor); ``phase1_solved`` whether a
        phase-1 sample was correct; ``query_index`` the query of each row.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples, two_phase_training_data
    >>> samples = StoredSamples(answers=[[1, 1, 2, 1], [3, 4, 5, 6]], reference=[1, 3])
    >>> data = two_phase_training_data(samples, first_samples=2, n_draws=3)
    >>> data.X.shape, data.outcomes_rest.shape, data.query_index.tolist()
    ((6, 6), (6, 2), [0, 0, 0, 1, 1, 1])
    """
    samples = _check_samples(samples)
    n, m = samples.n_queries, samples.n_samples
    r = check_positive_int(first_samples, "first_samples")
    if r >= m:
        raise ValueError(f"first_samples={r} must be smaller than n_samples={m}: the targets need the others.")
    n_draws = check_positive_int(n_draws, "n_draws")
    X = _hidden_features(X, n)
    rng = check_random_state(random_state)
    order = rng.random_sample((n, n_draws, m)).argsort(axis=2).reshape(n * n_draws, m)
    query = np.repeat(np.arange(n), n_draws)
    take = (lambda v, cols: None if v is None else v[query[:, None], cols])
    seen, rest = order[:, :r], order[:, r:]
    answers = take(samples.answers, seen)
    evidence = phase_evidence(np.full(seen.shape, np.nan) if answers is None else answers,
                              take(samples.mean_logprob, seen), take(samples.min_logprob, seen),
                              take(samples.n_tokens, seen))
    outcomes_rest = take(samples.outcomes, rest)
    names = list(EVIDENCE_FEATURES)
    if X is not None:
        evidence = np.hstack([X[query], evidence])
        names = [f"x{j}" for j in range(X.shape[1])] + names
    return Bunch(X=evidence, feature_names=names, outcomes_rest=outcomes_rest,
                 success_prob=outcomes_rest.mean(axis=1),
                 phase1_solved=take(samples.outcomes, seen).max(axis=1) > 0.5, query_index=query)


# --------------------------------------------------------------------------
# The value of more votes when no verifier is available
# --------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _vote_race_value(size):
    """Value of more votes in a two-way race, ``V[v1, v2, j]`` for counts and ``j`` up to ``size``.

    With ``v1 >= v2`` votes for the two leading answers and a uniform prior
    (Adaptive-Consistency's), the share ``x`` of the leader among votes for
    the two is ``Beta(v1 + 1, v2 + 1)``. ``V(j)`` is the probability that
    after ``j`` more votes the race is won by the answer that truly has the
    larger share (the leader if ``x > 1/2``; ties broken at random):
    ``V(0) = P(x > 1/2)`` is Adaptive-Consistency's stopping statistic and
    ``V(j) -> 1``. The integral over ``x`` is a polynomial, so Gauss-Legendre
    quadrature on ``[0, 1/2]`` and ``[1/2, 1]`` with enough nodes is exact.
    """
    nodes, weights = np.polynomial.legendre.leggauss(int(np.ceil((3 * size + 2) / 2)) + 1)
    x = np.concatenate([(nodes + 1) / 4, (nodes + 3) / 4])
    w = np.concatenate([weights, weights]) / 4
    j = np.arange(size + 1)
    y = np.arange(size + 1)
    log_pmf = (special.gammaln(j + 1)[:, None, None] - special.gammaln(y + 1)[None, :, None]
               - special.gammaln(np.maximum(j[:, None] - y[None, :], 0) + 1)[:, :, None]
               + special.xlogy(y[None, :, None], x) + special.xlog1py((j[:, None] - y[None, :])[:, :, None], -x))
    pmf = np.where((y[None, :] <= j[:, None])[:, :, None], np.exp(log_pmf), 0.0)  # (j, y, x)
    d = np.arange(size + 1)
    margin = 2 * y[None, None, :] - j[None, :, None] + d[:, None, None]  # leader's final lead
    win = np.where(margin > 0, 1.0, np.where(margin == 0, 0.5, 0.0))  # (d, j, y)
    W = np.einsum("djy,jyg->djg", win, pmf)
    right = np.where(x > 0.5, W, 1.0 - W)  # the true leader wins
    v1, v2 = np.meshgrid(np.arange(size + 1), np.arange(size + 1), indexing="ij")
    lo, hi = np.minimum(v1, v2), np.maximum(v1, v2)
    log_pdf = (special.xlogy(hi[..., None], x) + special.xlog1py(lo[..., None], -x)
               - special.betaln(hi + 1, lo + 1)[..., None])
    return np.einsum("abg,abjg->abj", np.exp(log_pdf) * w, right[hi - lo])


@lru_cache(maxsize=8)
def _vote_race(size):
    """``table[v1, v2, j - 1]``: the j-th marginal reward of the concave envelope of
    :func:`_vote_race_value` (its own increments are not monotone: ties at even counts)."""
    delta = np.diff(_vote_race_value(size), axis=2).reshape(-1, size)
    return _greedy.project_nonincreasing(delta).reshape(size + 1, size + 1, size)


def _beta_prior(prior, prior_strength, n):
    if isinstance(prior_strength, (bool, np.bool_)) or not isinstance(prior_strength, numbers.Real) \
            or not 0 < prior_strength < np.inf:
        raise ValueError(f"prior_strength must be a positive number; got {prior_strength!r}.")
    if prior is None:
        mu = np.full(n, 0.5)
    else:
        mu = np.asarray(prior, dtype=np.float64)
        mu = np.full(n, float(mu)) if mu.ndim == 0 else mu.reshape(-1)
        if mu.shape[0] != n or not np.isfinite(mu).all() or (mu < 0).any() or (mu > 1).any():
            raise ValueError(f"prior must be a probability or an array of shape ({n},) in [0, 1].")
    mu = np.clip(mu, 1e-6, 1 - 1e-6)
    return prior_strength * mu, prior_strength * (1.0 - mu)


def _posterior_marginals(a, b, width):
    """E[lam (1 - lam)**(j - 1)] for lam ~ Beta(a, b), j = 1..width: (n, width)."""
    j = np.arange(1, width)
    ratios = (b[:, None] + j[None, :] - 1) / (a[:, None] + b[:, None] + j[None, :])
    out = np.empty((a.shape[0], width))
    out[:, 0] = a / (a + b)
    out[:, 1:] = out[:, :1] * np.cumprod(ratios, axis=1)
    return out


# --------------------------------------------------------------------------
# Multi-round batch policy and its one-query-at-a-time counterpart
# --------------------------------------------------------------------------


def multi_round(samples, budget, *, rounds=2, max_budget=None, verifier_at_inference=True,
                prior=None, prior_strength=2.0):
    """``rounds`` rounds of parallel draws, each allocated from everything seen so far.

    Before round ``t`` the policy holds, for every query, the samples drawn
    in earlier rounds; it allocates the samples of round ``t`` by the exact
    greedy (Eq. 5) on the expected marginal rewards given those samples. The
    batch budget ``floor(budget * n)`` is released evenly over the rounds;
    what a round leaves unspent carries over.

    * With ``verifier_at_inference=True`` a query with a verified-correct
      sample drops out. The others have failed ``c`` times, so their
      success probability has the Beta posterior
      ``Beta(s * mu, s * (1 - mu) + c)`` (prior mean ``mu`` = ``prior``,
      strength ``s`` = ``prior_strength``), and the ``j``-th extra sample is
      worth ``E[lam (1 - lam)**(j - 1)]`` under it (non-increasing in ``j``).
    * Without a verifier (majority vote), the evidence is the agreement of
      the answers so far: the leading and second answers' counts
      ``v1 >= v2`` give the leader's share in a two-way race the posterior
      ``Beta(v1 + 1, v2 + 1)`` (Adaptive-Consistency's model and uniform
      prior), and ``j`` extra samples are worth the gain in the probability
      that the final vote goes to the answer with the larger true share.
      Those gains are not monotone in ``j`` (ties at even counts); the
      policy allocates on their concave envelope. ``prior`` must be None.

    Parameters
    ----------
    samples : StoredSamples
    budget : float
        Average samples per query, in ``[0, max_budget]``.
    rounds : int, default=2
    max_budget : int, default=None
        Most samples of one query; ``None`` means ``n_samples``.
    verifier_at_inference : bool, default=True
    prior : float or array-like of shape (n_queries,), default=None
        Prior mean success probability per query (e.g. a probe's prediction
        on the hidden state, or the population success rate); ``None`` is
        0.5 (with ``prior_strength=2``, the uniform prior).
    prior_strength : float, default=2.0
        Pseudo-samples of the prior.

    Returns
    -------
    result : FeedbackResult
        ``rounds``: rounds in which anything was drawn, averaged over worlds.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples, multi_round
    >>> outcomes = np.array([[1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0]])
    >>> samples = StoredSamples(outcomes, n_permutations="all")
    >>> result = multi_round(samples, 2, rounds=3)
    >>> result.samples_used.round(2), round(result.quality["oracle"], 3)
    (array([1. , 2.5, 2.5]), 0.5)
    """
    samples = _check_samples(samples)
    n, m, P = samples.n_queries, samples.n_samples, samples.n_worlds
    cap = _check_cap(max_budget, m)
    total = _check_budget(budget, 0, cap, n)
    rounds = check_positive_int(rounds, "rounds")
    stats = samples._prefix()
    if verifier_at_inference:
        a0, b0 = _beta_prior(prior, prior_strength, n)
    else:
        samples._need_answers("multi_round without a verifier (majority vote)")
        if prior is not None:
            raise ValueError(
                "prior is used only with verifier_at_inference=True; without a verifier the "
                "allocation uses Adaptive-Consistency's uniform prior on the vote race."
            )
        race = _vote_race(m)
    drawn = np.zeros((n, P), dtype=np.int64)
    spent = np.zeros(P, dtype=np.int64)
    used_rounds = np.zeros(P)
    rows = np.arange(n)
    for t in range(rounds):
        target = total * (t + 1) // rounds
        for p in range(P):
            units = target - spent[p]
            c = drawn[:, p]
            remaining = cap - c
            width = int(remaining.max())
            if units <= 0 or width == 0:
                continue
            if verifier_at_inference:
                delta = _posterior_marginals(a0, b0 + c, width)
                delta[stats["first_correct"][:, p] < c] = _EXCLUDED
            else:
                v1 = stats["mv1"][rows, p, c]
                v2 = stats["mv2"][rows, p, c]
                delta = race[v1, v2, :width].copy()
            delta[np.arange(1, width + 1)[None, :] > remaining[:, None]] = _EXCLUDED
            # rows that cannot take a unit and units beyond this round's do not change the
            # greedy's choice (ties are settled by unit index, then by row order): drop them
            open_rows = np.flatnonzero(delta[:, 0] >= 0)
            if open_rows.size == 0:
                continue
            delta = delta[open_rows, :min(width, int(units))]
            extra = _greedy.allocate_matrix(delta, int(units), 0)
            drawn[open_rows, p] += extra
            spent[p] += extra.sum()
            used_rounds[p] += extra.sum() > 0
    params = {"budget": budget, "rounds": rounds, "max_budget": cap,
              "verifier_at_inference": verifier_at_inference, "prior_strength": prior_strength}
    return _replayed("multi_round", samples, drawn, used_rounds, params)


def price_rule(samples, price, *, verifier_at_inference=True, prior=None, prior_strength=2.0,
               max_samples=None):
    """Serve one query at a time: keep drawing while the next sample is worth ``price``.

    The per-query counterpart of :func:`multi_round`: it needs nothing from
    other queries, so it can serve a stream. After each draw it computes the
    expected marginal reward of the next sample from the query's own draws,
    with the same models as :func:`multi_round`, and draws again while that
    is at least ``price`` (a Lagrange multiplier of the budget constraint of
    Eq. 5: sweep it to reach an average spend), up to ``max_samples``.

    * ``verifier_at_inference=True``: stop at the first verified-correct
      sample; after ``c`` failures the next sample is worth
      ``s mu / (s + c)``, the posterior mean success probability.
    * ``False``: the next sample is worth the first marginal reward of the
      concave envelope of the vote-race value (see :func:`multi_round`),
      which is 0.25 before any answer and shrinks as the answers agree.

    Parameters
    ----------
    samples : StoredSamples
    price : float
        Smallest marginal reward worth one more sample.
    verifier_at_inference : bool, default=True
    prior : float or array-like of shape (n_queries,), default=None
        Prior mean success probability (verifier mode only).
    prior_strength : float, default=2.0
    max_samples : int, default=None
        Cap per query; ``None`` means ``n_samples``.

    Returns
    -------
    result : FeedbackResult
        ``rounds`` is the number of sequential draws of the longest query.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples, price_rule
    >>> outcomes = np.array([[1, 1, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    >>> result = price_rule(StoredSamples(outcomes, n_permutations="all"), 0.25)
    >>> result.samples_used                          # 1 / (2 + c) >= 0.25 for c <= 2
    array([1.  , 2.25, 3.  ])
    """
    samples = _check_samples(samples)
    n, m = samples.n_queries, samples.n_samples
    if isinstance(price, (bool, np.bool_)) or not isinstance(price, numbers.Real) or not math.isfinite(price):
        raise ValueError(f"price must be a finite number; got {price!r}.")
    cap = _check_cap(max_samples, m, "max_samples")
    stats = samples._prefix()
    if verifier_at_inference:
        a0, b0 = _beta_prior(prior, prior_strength, n)
        c = np.arange(cap)
        worth = a0[:, None] / (a0[:, None] + b0[:, None] + c[None, :]) >= price  # non-increasing in c
        allowed = worth.sum(axis=1)
        drawn = np.minimum(stats["first_correct"] + 1, allowed[:, None])
    else:
        samples._need_answers("price_rule without a verifier (majority vote)")
        if prior is not None:
            raise ValueError("prior is used only with verifier_at_inference=True.")
        next_worth = _vote_race(m)[:, :, 0]
        go = next_worth[stats["mv1"][:, :, :cap], stats["mv2"][:, :, :cap]] >= price
        drawn = np.where(go.all(axis=2), cap, np.argmin(go, axis=2))
    params = {"price": price, "verifier_at_inference": verifier_at_inference, "max_samples": cap}
    return _replayed("price_rule", samples, drawn, drawn.max(axis=0), params)


# --------------------------------------------------------------------------
# Comparing policies at equal average spend
# --------------------------------------------------------------------------


def sweep_policy(policy, samples, param, values, **kwargs):
    """Run a policy for each value of one parameter; one row per value.

    Parameters
    ----------
    policy : callable
        A policy of this module (``policy(samples, **kwargs)``), e.g.
        :func:`adaptive_consistency` or :func:`price_rule`.
    samples : StoredSamples
    param : str
        Name of the swept keyword argument.
    values : iterable
    **kwargs
        Other keyword arguments of the policy.

    Returns
    -------
    frame : pandas.DataFrame
        Columns ``param``, ``avg_samples``, ``rounds`` and one ``quality_<rule>``
        per selection rule.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples, adaptive_consistency, sweep_policy
    >>> samples = StoredSamples(answers=[[7, 7, 7, 7, 8, 7]], reference=[7])
    >>> sweep_policy(adaptive_consistency, samples, "max_samples", [1, 3])["avg_samples"].tolist()
    [1.0, 3.0]
    """
    if isinstance(values, str) or len(values) == 0:
        raise ValueError(f"values must be a non-empty list of values of {param}; got {values!r}.")
    rows = []
    for value in values:
        result = policy(samples, **{param: value}, **kwargs)
        row = {param: value, "avg_samples": result.avg_samples, "rounds": result.rounds}
        row.update({f"quality_{key}": val for key, val in result.quality.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def quality_at_spend(avg_samples, quality, target):
    """Quality of a swept policy at a target average spend, by interpolation.

    Keeps the Pareto front of the ``(avg_samples, quality)`` points (a point
    is dropped when another spends no more and is at least as good) and
    interpolates it linearly: a point between two settings is achieved in
    expectation by drawing one of the two settings at random per query.

    Parameters
    ----------
    avg_samples, quality : array-like of shape (n_points,)
    target : float or array-like
        Average spends to read off.

    Returns
    -------
    quality : float or ndarray
        NaN outside the range of spends of the front.

    Examples
    --------
    >>> from skadapt.feedback import quality_at_spend
    >>> quality_at_spend([1, 2, 4, 3], [0.5, 0.6, 0.9, 0.5], [1.5, 3, 5])
    array([0.55, 0.75,  nan])
    """
    x = as_float_array(avg_samples, "avg_samples").ravel()
    y = as_float_array(quality, "quality").ravel()
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"avg_samples and quality must be non-empty and of equal length; got {x.size} and {y.size}.")
    keep = np.isfinite(x) & np.isfinite(y)
    t = as_float_array(target, "target")
    if not np.isfinite(t).all():
        raise ValueError(f"target must hold finite average spends; got {target!r}.")
    if not keep.any():
        return float("nan") if t.ndim == 0 else np.full(t.shape, np.nan)
    order = np.lexsort((-y[keep], x[keep]))
    x, y = x[keep][order], y[keep][order]
    front = y > np.concatenate([[-np.inf], np.maximum.accumulate(y)[:-1]])
    x, y = x[front], y[front]
    out = np.where((t >= x[0] - 1e-12) & (t <= x[-1] + 1e-12), np.interp(t, x, y), np.nan)
    return float(out) if out.ndim == 0 else out


def compare_policies(samples, budgets, *, success_prob=None, predictor=None, X=None, first_samples=1,
                     rounds=(2, 4), ac_thresholds=(0.6, 0.7, 0.8, 0.9, 0.95, 0.99),
                     ac_caps=None, prices=None, uab_tau=0.2):
    """Every policy of this module at equal average samples per query.

    Policies with a budget (``uniform``, ``one_shot``, ``split_sample_oracle``,
    ``two_phase``, ``multi_round_<R>``, ``uab``) run at each target budget
    (they may spend less, never more). Policies that set their own spend
    (``adaptive_consistency``, swept over ``ac_thresholds`` x ``ac_caps``;
    ``price_rule``, swept over ``prices``) are read off their Pareto front at
    each target with :func:`quality_at_spend` (above the largest spend of
    the sweep, its best setting is reported with its own, smaller, spend;
    below the smallest, NaN); ``uniform`` at a fractional
    budget interpolates its two neighbours in the same way. Under the
    ``"oracle"`` rule the verifier exists at inference, so the feedback
    policies use it (queries stop when solved); under ``"majority"`` they
    use agreement only. A policy whose inputs are missing is left out
    (``one_shot`` needs ``success_prob``, ``two_phase`` a ``predictor``,
    ``uab`` log-probabilities).

    Parameters
    ----------
    samples : StoredSamples
        The evaluation queries.
    budgets : iterable of float
        Target average samples per query.
    success_prob : array-like of shape (n_queries,), default=None
        A probe's predictions for these queries, made before sampling: the
        one-shot allocation and the prior of the verifier policies.
    predictor : estimator or callable, default=None
        The :func:`two_phase` predictor (trained on other queries), with
        ``X`` and ``first_samples``.
    X : array-like of shape (n_queries, n_features), default=None
    first_samples : int, default=1
    rounds : tuple of int, default=(2, 4)
        Round counts of ``multi_round``.
    ac_thresholds : tuple of float, default=(0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
    ac_caps : tuple of int, default=None
        ``None``: 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, ... up to ``n_samples``.
    prices : tuple of float, default=None
        ``None``: 24 prices from 0.5 down to 1e-4 (geometric).
    uab_tau : float, default=0.2

    Returns
    -------
    frame : pandas.DataFrame
        One row per (policy, selection, target_budget) with ``avg_samples``,
        ``quality`` and ``rounds``.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples, compare_policies
    >>> rng = np.random.default_rng(0)
    >>> lam = rng.beta(0.5, 0.5, size=200)
    >>> answers = np.where(rng.random((200, 8)) < lam[:, None], 1.0, rng.integers(2, 4, (200, 8)))
    >>> samples = StoredSamples(answers=answers, reference=np.ones(200), n_permutations=8)
    >>> frame = compare_policies(samples, [2, 4])
    >>> sorted(frame.policy.unique())
    ['adaptive_consistency', 'multi_round_2', 'multi_round_4', 'price_rule', 'split_sample_oracle', 'uniform']
    >>> frame.columns.tolist()
    ['policy', 'selection', 'target_budget', 'avg_samples', 'quality', 'rounds']
    """
    samples = _check_samples(samples)
    m = samples.n_samples
    budgets = [float(b) for b in np.atleast_1d(as_float_array(budgets, "budgets"))]
    if success_prob is not None:
        if np.shape(success_prob)[:1] != (samples.n_queries,):
            raise ValueError(
                f"success_prob must have shape (n_queries,) = ({samples.n_queries},); got "
                f"{np.shape(success_prob)}."
            )
        success_prob = check_probabilities(success_prob, name="success_prob")
    if ac_caps is None:
        ac_caps = sorted({c for c in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128) if c < m} | {m})
    if prices is None:
        prices = np.geomspace(0.5, 1e-4, 24)
    rows = []
    if samples.answers is not None:  # one sweep serves both selection rules
        ac_frame = pd.concat([sweep_policy(adaptive_consistency, samples, "max_samples", ac_caps, threshold=thr)
                              for thr in ac_thresholds], ignore_index=True)

    def add(policy, selection, target, result):
        rows.append({"policy": policy, "selection": selection, "target_budget": target,
                     "avg_samples": result.avg_samples, "quality": result.quality[selection],
                     "rounds": result.rounds})

    def add_front(policy, selection, frame):
        x, y = frame["avg_samples"].to_numpy(), frame[f"quality_{selection}"].to_numpy()
        r = frame["rounds"].to_numpy()
        best = int(np.lexsort((x, -y))[0])  # the best setting, and the cheapest among equals
        for target in budgets:
            quality = quality_at_spend(x, y, target)
            if np.isfinite(quality):
                spent, rounds_ = target, float(np.interp(target, *_sorted(x, r)))
            elif target > x[best]:  # cannot spend that much: its best setting stays within budget
                spent, quality, rounds_ = x[best], y[best], r[best]
            else:  # cannot spend that little
                spent = rounds_ = np.nan
            rows.append({"policy": policy, "selection": selection, "target_budget": target,
                         "avg_samples": spent, "quality": quality, "rounds": rounds_})

    for selection in samples.selections:
        verifier = selection == "oracle"
        curve = samples.curve(selection)
        for target in budgets:
            if 1 <= target <= m:
                low = int(np.floor(target))
                high = min(low + 1, m)
                frac = target - low
                quality = (1 - frac) * curve[:, low - 1].mean() + frac * curve[:, high - 1].mean()
                rows.append({"policy": "uniform", "selection": selection, "target_budget": target,
                             "avg_samples": target, "quality": quality, "rounds": 1.0})
            if success_prob is not None and target <= m:
                add("one_shot", selection, target, one_shot(samples, success_prob, target))
            if m >= 2 and target <= m // 2:
                add("split_sample_oracle", selection, target,
                    split_sample_oracle(samples, target, selection=selection))
            if predictor is not None and first_samples <= target <= m:
                add("two_phase", selection, target,
                    two_phase(samples, predictor, target, first_samples=first_samples, X=X,
                              verifier_at_inference=verifier))
            for n_rounds in rounds:
                if target <= m:
                    prior = success_prob if verifier else None
                    add(f"multi_round_{n_rounds}", selection, target,
                        multi_round(samples, target, rounds=n_rounds, prior=prior,
                                    verifier_at_inference=verifier))
            if samples.mean_logprob is not None and 1 <= target <= m:
                add("uab", selection, target, uab(samples, target, tau=uab_tau))
        if samples.answers is not None:
            add_front("adaptive_consistency", selection, ac_frame)
        if verifier or samples.answers is not None:
            prior = success_prob if verifier else None
            frame = sweep_policy(price_rule, samples, "price", prices, verifier_at_inference=verifier,
                                 prior=prior)
            add_front("price_rule", selection, frame)
    return pd.DataFrame(rows, columns=["policy", "selection", "target_budget", "avg_samples",
                                       "quality", "rounds"])


def _sorted(x, y):
    order = np.argsort(x, kind="stable")
    return x[order], y[order]
