"""Published baselines of allocation with feedback: Adaptive-Consistency and UAB.

Both are imported from :mod:`skadapt.feedback`, which compares them with its
own policies on the same stored samples.
"""

import numbers
from functools import lru_cache

import numpy as np
from scipy import special

from skadapt._stored_samples import _check_budget, _check_cap, _check_samples, _replayed
from skadapt._validation import InputTypeError, check_positive_int
from skadapt.allocation import greedy_allocate_success_prob


def _check_probability(value, name, *, open_low=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a number in [0, 1]; got {value!r}.")
    if not (0 < value <= 1 if open_low else 0 <= value <= 1):
        raise ValueError(f"{name} must lie in {'(0, 1]' if open_low else '[0, 1]'}; got {value!r}.")
    return float(value)


@lru_cache(maxsize=64)
def _ac_stop_table(size, threshold):
    v = np.arange(size + 1)
    # P(X > 1/2) for X ~ Beta(v1 + 1, v2 + 1), by symmetry of the regularized incomplete beta
    prob = special.betainc(v[None, :] + 1, v[:, None] + 1, 0.5)
    return prob >= threshold - 1e-12


def adaptive_consistency(samples, *, threshold=0.95, max_samples=40):
    """Adaptive-Consistency (Aggarwal, Madaan, Yang, Mausam; EMNLP 2023), Beta stopping rule.

    "Let's Sample Step by Step: Adaptive-Consistency for Efficient Reasoning
    and Coding with LLMs". Samples of a query are drawn one at a time. After
    each draw, with ``v1 >= v2`` the counts of the two most frequent answers
    so far (``v2 = 0`` with a single distinct answer; a sample without an
    extractable answer counts as one more candidate answer, as in the
    reference implementation), sampling stops when
    ``P(X > 1/2) >= threshold`` for ``X ~ Beta(v1 + 1, v2 + 1)``, or after
    ``max_samples`` draws. With ``threshold=0.95`` four unanimous answers
    stop (``1 - 0.5**5 = 0.969``) and three do not (``0.9375``). The final
    answer is the majority vote (self-consistency) of the drawn samples,
    scored with the majority rule of :mod:`skadapt.feedback` (samples
    without an answer abstain, ties broken at random).

    The budget is not fixed in advance: compare at equal *average* samples
    by sweeping ``threshold`` and ``max_samples`` (:func:`sweep_policy`,
    :func:`compare_policies`).

    Parameters
    ----------
    samples : StoredSamples
    threshold : float, default=0.95
        In (0, 1]; the reference implementation's default.
    max_samples : int, default=40
        The reference implementation's cap; capped at the stored samples.

    Returns
    -------
    result : FeedbackResult
        ``rounds`` is the number of sequential draws of the longest query.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples, adaptive_consistency
    >>> answers = np.array([[7] * 8, [7, 7, 7, 8, 8, 8, 7, 8]])
    >>> result = adaptive_consistency(StoredSamples(answers=answers, reference=[7, 7]))
    >>> float(result.samples_used[0]), result.params["max_samples"]
    (4.0, 8)
    """
    samples = _check_samples(samples)
    samples._need_answers("adaptive_consistency")
    threshold = _check_probability(threshold, "threshold", open_low=True)
    cap = min(check_positive_int(max_samples, "max_samples"), samples.n_samples)
    drawn = np.minimum(_ac_stop_times(samples, threshold), cap)
    return _replayed("adaptive_consistency", samples, drawn, drawn.max(axis=0),
                     {"threshold": threshold, "max_samples": cap})


def _ac_stop_times(samples, threshold):
    """Draws until Adaptive-Consistency stops without a cap, (n_queries, n_worlds) (cached)."""
    key = ("ac", threshold)
    if key not in samples._cache:
        stats = samples._prefix()
        stop = _ac_stop_table(samples.n_samples, threshold)[stats["ac1"][:, :, 1:], stats["ac2"][:, :, 1:]]
        samples._cache[key] = np.where(stop.any(axis=2), stop.argmax(axis=2) + 1, samples.n_samples)
    return samples._cache[key]


def uab(samples, budget, *, tau=0.2, confidence="exp", max_budget=None, easy_threshold=None,
        hard_threshold=None):
    """UAB, uncertainty-aware budget allocation (Nguyen, Gupta, Le; 2026, arXiv 2605.26849).

    Round 0 draws one sample per query; its average negative log-likelihood
    ``ANLL = -mean_logprob`` gives the training-free confidence
    ``p = exp(-ANLL / tau)`` (``confidence="exp"``, the authors' example uses
    ``tau = 0.2``) or ``1 / (1 + exp(ANLL / tau))`` (``"sigmoid"``). The
    remaining ``floor(budget * n) - n`` samples go by marginal greedy on
    ``p (1 - p)**c`` with ``c`` starting at 0 (the paper's Eq. 5 for binary
    rewards with ``p`` in place of a probe: :func:`~skadapt.allocation.greedy_allocate_success_prob`),
    at most ``max_budget - 1`` more per query. Optional early exits (off by
    default): queries with ``p > easy_threshold`` get no more samples;
    queries whose chance of success with the cap, ``1 - (1 - p)**max_budget``,
    is below ``hard_threshold`` are skipped. The final answer is the
    majority vote over all of a query's samples, round 0 included.

    A round-0 sample without a log-probability (NaN) gets the mean
    confidence of the other round-0 samples of the batch.

    Parameters
    ----------
    samples : StoredSamples
        Needs ``mean_logprob``.
    budget : float
        Average samples per query ``N``, in ``[1, max_budget]``.
    tau : float, default=0.2
    confidence : {"exp", "sigmoid"}, default="exp"
    max_budget : int, default=None
        Most samples of one query; ``None`` means ``n_samples``.
    easy_threshold, hard_threshold : float, default=None

    Returns
    -------
    result : FeedbackResult
        ``rounds`` is 2 (1 when no sample is left after round 0).

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples, uab
    >>> p = np.array([0.8, 0.5, 0.15])                   # confidence of each query
    >>> logprob = np.repeat(0.2 * np.log(p)[:, None], 4, axis=1)
    >>> answers = np.array([[1, 1, 1, 2], [1, 2, 1, 2], [3, 1, 3, 3]])
    >>> samples = StoredSamples(answers=answers, reference=[1, 1, 1], mean_logprob=logprob)
    >>> uab(samples, 8 / 3, max_budget=4).samples_used   # 5 extra: .8 .5 .25 .16 .15
    array([3., 3., 2.])
    """
    samples = _check_samples(samples)
    if samples.mean_logprob is None:
        raise ValueError("uab needs mean_logprob (the round-0 sample's mean token log-probability).")
    if isinstance(tau, (bool, np.bool_)) or not isinstance(tau, numbers.Real) or not 0 < tau < np.inf:
        raise ValueError(f"tau must be a positive number; got {tau!r}.")
    if confidence not in ("exp", "sigmoid"):
        raise ValueError(f"confidence must be 'exp' or 'sigmoid'; got {confidence!r}.")
    for name, value in (("easy_threshold", easy_threshold), ("hard_threshold", hard_threshold)):
        if value is not None:
            _check_probability(value, name)
    n, P = samples.n_queries, samples.n_worlds
    cap = _check_cap(max_budget, samples.n_samples)
    total = _check_budget(budget, 1, cap, n)
    anll = -samples._seen(samples.mean_logprob, 0, 1)[:, :, 0]  # (n, P)
    if confidence == "exp":
        p = np.exp(-anll / tau)
    else:
        p = special.expit(-anll / tau)
    p = np.clip(p, 0.0, 1.0)
    drawn = np.ones((n, P), dtype=np.int64)
    rounds = np.ones(P)
    for w in range(P):
        pw = p[:, w]
        missing = np.isnan(pw)
        if missing.any():
            pw = np.where(missing, pw[~missing].mean() if (~missing).any() else 0.5, pw)
        eligible = np.ones(n, dtype=bool)
        if easy_threshold is not None:
            eligible &= ~(pw > easy_threshold)
        if hard_threshold is not None:
            eligible &= ~(1.0 - (1.0 - pw) ** cap < hard_threshold)
        units = min(total - n, int(eligible.sum()) * (cap - 1))
        if units <= 0:
            continue
        drawn[eligible, w] += greedy_allocate_success_prob(pw[eligible], units, max_budget=cap - 1)
        rounds[w] += 1
    params = {"budget": budget, "tau": tau, "confidence": confidence, "max_budget": cap,
              "easy_threshold": easy_threshold, "hard_threshold": hard_threshold}
    return _replayed("uab", samples, drawn, rounds, params)
