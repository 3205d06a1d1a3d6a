"""Multi-round allocation and the price rule: budgets from the posterior of a query's draws.

The expected marginal reward of more samples given those drawn so far (a
Beta posterior with a verifier, the value of more votes in a two-way race
without one), spent in batch rounds by :func:`multi_round` or one query at a
time by :func:`price_rule`. Both are imported from :mod:`skadapt.feedback`.
"""

import math
import numbers
from functools import lru_cache

import numpy as np
from scipy import special

from skadapt import _greedy
from skadapt._stored_samples import (
    _EXCLUDED, _check_budget, _check_cap, _check_samples, _replayed,
)
from skadapt._validation import check_positive_int


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
