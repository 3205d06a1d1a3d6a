"""Exact, unbiased reward estimators: the supervision targets of skadapt.

Every function takes a matrix ``R`` of observed per-sample rewards, one row per
query and one column per sample drawn from the language model for that query
(``R[i, s]`` is the reward of sample ``s`` of query ``i``). ``NaN`` marks a
missing sample: each row uses only its own observed samples, so rows may hold
different numbers of samples.

The estimators treat the ``m`` observed samples of a row as a simple random
sample of the model's output distribution and return the *exact* expectation
over all ways of drawing ``k`` of them without replacement. This is the
unbiased estimator of the quantity of interest (Chen et al., 2021 for pass@k;
the order-statistic form for the expected maximum). It is what the paper's
bootstrap (drawing ``k`` samples *with* replacement) approximates, except
that the bootstrap is biased low: a resample of ``k`` draws with replacement
repeats samples and so sees fewer distinct ones than ``k`` fresh model samples
would. See ``docs/evaluation.md``.

The functions here return one value per query; :mod:`skadapt.metrics` averages
them into the evaluation metrics of the paper.
"""

import numpy as np
from scipy.special import expit

from skadapt._validation import (
    as_float_array,
    check_array_memory,
    check_int_per_row,
    check_positive_int,
    check_probabilities,
    check_reward_matrix,
    format_value,
    row_list,
)

__all__ = [
    "success_rate",
    "pass_at_k",
    "expected_max_reward",
    "marginal_rewards",
    "geometric_marginal_rewards",
    "beta_marginal_rewards",
    "preference_probability",
]

# Rows processed per chunk: bounds temporary memory at about
# _CHUNK_ROWS * n_samples floats per intermediate array.
_CHUNK_ROWS = 8192


def _check_k(k, n_observed, name="k"):
    """k as an (n,) int array with 1 <= k[i] <= n_observed[i]."""
    def too_large(rows, row, value, limit):
        return (
            f"{name} exceeds the number of observed samples in row(s) {rows} "
            f"(row {row}: {name}={value} but only {limit} observed sample(s)). "
            f"An exact estimate of best-of-{name} needs at least {name} samples per query."
        )

    return check_int_per_row(k, n_observed.shape[0], name=name, minimum=1, maximum=n_observed,
                             maximum_message=too_large)


def success_rate(R):
    """Per-query success rate: the mean of the observed binary outcomes.

    This is the single-sample success probability ``lambda`` of section 3.3 of
    the paper, the target of :class:`skadapt.SuccessProbClassifier`.

    Parameters
    ----------
    R : array-like of shape (n_queries, n_samples)
        Binary outcomes (1 = correct, 0 = wrong); NaN marks a missing sample.
        Each row needs at least one observed outcome.

    Returns
    -------
    success_rate : ndarray of shape (n_queries,)
        Fraction of observed samples of each query that succeeded.

    See Also
    --------
    pass_at_k : Success probability of best-of-k.
    geometric_marginal_rewards : Marginal rewards implied by a success rate.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.targets import success_rate
    >>> R = np.array([[1, 0, 1, 1], [0, 0, np.nan, 1]])
    >>> success_rate(R)
    array([0.75      , 0.33333333])
    """
    R, n_observed = check_reward_matrix(R, binary=True)
    return np.nansum(R, axis=1) / n_observed


def pass_at_k(R, k):
    """Exact unbiased probability that best-of-k succeeds, per query.

    With ``m`` observed samples of which ``c`` succeeded, the probability that
    ``k`` samples drawn without replacement contain at least one success is
    ``1 - C(m - c, k) / C(m, k)``, the unbiased pass@k estimator of Chen et
    al. (2021). It is computed in their numerically stable product form
    ``1 - prod_{j=m-c+1}^{m} (1 - k / j)``, which never forms a binomial
    coefficient.

    Parameters
    ----------
    R : array-like of shape (n_queries, n_samples)
        Binary outcomes; NaN marks a missing sample. Each row uses its own
        number of observed samples ``m_i``.
    k : int or array-like of shape (n_queries,)
        Number of samples drawn (the best-of-k budget), one for all queries or
        one per query. Requires ``1 <= k <= m_i`` in every row.

    Returns
    -------
    pass_at_k : ndarray of shape (n_queries,)
        Probability that at least one of ``k`` samples is correct.

    Raises
    ------
    ValueError
        If ``R`` is not a binary matrix, or ``k`` is not an integer >= 1, or
        ``k`` exceeds the number of observed samples of some row (the error
        names the rows).

    See Also
    --------
    expected_max_reward : The same estimator for real-valued rewards.
    skadapt.metrics.expected_success : Mean over queries at per-query budgets.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.targets import pass_at_k
    >>> R = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    >>> pass_at_k(R, 2)
    array([0.5       , 0.83333333, 0.        ])
    >>> pass_at_k(R, [1, 2, 4])
    array([0.25      , 0.83333333, 0.        ])
    """
    R, n_observed = check_reward_matrix(R, binary=True)
    k = _check_k(k, n_observed)
    n_success = np.nansum(R, axis=1).astype(np.int64)
    return _pass_at_k_counts(n_observed, n_success, k)


def _pass_at_k_counts(m, c, k):
    """pass@k from per-row sample counts m, success counts c and draws k (all (n,) ints)."""
    out = np.empty(m.shape[0])
    for start in range(0, m.shape[0], _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        out[rows] = _pass_at_k_product(m[rows], c[rows], k[rows])
    # Fewer failures than draws: every k-subset holds a success.
    out[m - c < k] = 1.0
    return out


def _pass_at_k_product(m, c, k):
    """1 - prod_{j=m-c+1}^{m} (1 - k/j) for vectors m, c, k (rows with m - c >= k)."""
    width = int(c.max(initial=0))
    if width == 0:
        return np.zeros(m.shape[0])
    t = np.arange(width)
    j = m[:, None] - t[None, :]  # m, m-1, ..., m-c+1 on the active part
    active = t[None, :] < c[:, None]
    safe_j = np.where(active & (j > 0), j, 1)
    terms = np.where(active, 1.0 - k[:, None] / safe_j, 1.0)
    return 1.0 - terms.prod(axis=1)


def _is_binary(R):
    """Whether every observed (non-NaN) value of R is 0 or 1."""
    return bool(np.all((R == 0) | (R == 1) | np.isnan(R)))


def _sort_descending(R):
    """Rows sorted in decreasing order with NaN (missing samples) last."""
    return -np.sort(-R, axis=1)


def _order_statistic_weights(n_observed, k, width):
    """Weights of the sorted (descending) rewards in E[max of k of m draws].

    Position ``s`` (0 = largest) of a row with ``m`` observed samples has
    ascending rank ``i = m - s`` and weight ``C(i - 1, k - 1) / C(m, k)``.
    The top weight is ``k / m`` and consecutive weights have the ratio
    ``w[s] / w[s - 1] = (m - s - k + 1) / (m - s)``, so the weights are a
    cumulative product of numbers in [0, 1]: no binomial coefficient is ever
    formed and nothing overflows, whatever ``m``.
    """
    m = n_observed[:, None].astype(np.float64)
    k = k[:, None].astype(np.float64)
    s = np.arange(width, dtype=np.float64)[None, :]
    numerator = m - s - k + 1.0
    denominator = m - s
    valid = (denominator > 0) & (numerator > 0)
    ratio = np.where(valid, numerator / np.where(denominator > 0, denominator, 1.0), 0.0)
    ratio[:, 0] = (k / m)[:, 0]
    return np.cumprod(ratio, axis=1)


def _expected_max_sorted(R_desc, n_observed, k):
    """E[max of k draws without replacement] from rows sorted descending (NaN last)."""
    out = np.empty(R_desc.shape[0])
    width = R_desc.shape[1]
    for start in range(0, R_desc.shape[0], _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        weights = _order_statistic_weights(n_observed[rows], k[rows], width)
        values = np.nan_to_num(R_desc[rows], nan=0.0)
        out[rows] = (weights * values).sum(axis=1)
    return out


def expected_max_reward(R, k):
    """Exact unbiased expected maximum reward of k draws, per query.

    For a row with ``m`` observed rewards sorted increasingly,
    ``r_(1) <= ... <= r_(m)``, the maximum of ``k`` samples drawn without
    replacement is ``r_(i)`` with probability ``C(i - 1, k - 1) / C(m, k)``,
    so the expected best-of-k reward is

        sum_{i=k}^{m} C(i - 1, k - 1) / C(m, k) * r_(i).

    This is the unbiased estimator of the expected best-of-k reward (with a
    perfect reranker) when the ``m`` samples are i.i.d. draws from the model.
    The weights are evaluated as a running product of ratios, which stays
    accurate for any ``m``. On 0/1 rewards it equals :func:`pass_at_k`, and
    for such rows it is computed with the pass@k product form (the same
    value, with fewer rounding errors).

    Parameters
    ----------
    R : array-like of shape (n_queries, n_samples)
        Real-valued rewards (any finite values); NaN marks a missing sample.
    k : int or array-like of shape (n_queries,)
        Number of draws, ``1 <= k <= m_i`` in every row.

    Returns
    -------
    expected_max_reward : ndarray of shape (n_queries,)

    Raises
    ------
    ValueError
        If ``R`` holds infinite values or an all-missing row, or ``k`` is not
        an integer in [1, m_i].

    See Also
    --------
    pass_at_k : The binary special case.
    skadapt.metrics.expected_reward : Mean over queries at per-query budgets.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.targets import expected_max_reward
    >>> R = np.array([[0.1, 0.5, 0.9], [2.0, -1.0, np.nan]])
    >>> expected_max_reward(R, 1)
    array([0.5, 0.5])
    >>> expected_max_reward(R, 2)
    array([0.76666667, 2.        ])
    """
    R, n_observed = check_reward_matrix(R)
    k = _check_k(k, n_observed)
    if _is_binary(R):
        # Same value; the pass@k product form rounds less (exact 0 and 1).
        return _pass_at_k_counts(n_observed, np.nansum(R, axis=1).astype(np.int64), k)
    return _expected_max_sorted(_sort_descending(R), n_observed, k)


def marginal_rewards(R, max_budget, *, extrapolate=None):
    """Exact marginal rewards ``Delta[i, j-1] = q(i, j) - q(i, j-1)``, j = 1..max_budget.

    ``q(i, b)`` is the expected best-of-b reward of query ``i``
    (:func:`expected_max_reward`, which is :func:`pass_at_k` on 0/1 rewards)
    and ``q(i, 0) = 0``, as in the paper's definition of the marginal reward
    (section 3). So ``Delta[:, 0]`` is the mean reward of one sample and the
    row sums ``Delta[i, :b].sum()`` recover ``q(i, b)``. From the second
    column on, each row is non-negative and non-increasing (``q`` is concave);
    the first column is the mean reward, which for rewards that can be
    negative may be smaller than the second (use ``min_budget=1`` when
    allocating, as the paper does for chat). These are the targets
    of :class:`skadapt.MarginalRewardRegressor` (Eq. 6) and the inputs of the
    allocation problem (Eq. 5).

    Parameters
    ----------
    R : array-like of shape (n_queries, n_samples)
        Observed rewards; NaN marks a missing sample.
    max_budget : int
        Largest budget ``B_max``: the number of columns returned.
    extrapolate : {None, "geometric"}, default=None
        What to do for rows with fewer observed samples than ``max_budget``:

        - ``None``: raise ``ValueError`` naming those rows. An exact estimate
          of ``q(b)`` needs ``b`` samples; with ``m`` samples the estimator of
          ``q(m)`` is already the best of all of them, so there is nothing to
          estimate ``q(m + 1)`` from.
        - ``"geometric"``: binary rewards only. Rows with too few samples get
          the geometric marginal rewards ``lam * (1 - lam)**(j - 1)`` of
          their success rate ``lam`` in *every* column (the model of section
          3.3, which assumes independent samples). Rows with enough samples
          keep the exact estimate. Note that the plug-in geometric curve
          ``1 - (1 - lam)**b`` is itself biased low for ``b > 1`` (Jensen's
          inequality), so prefer collecting ``max_budget`` samples.

    Returns
    -------
    marginal_rewards : ndarray of shape (n_queries, max_budget)

    Raises
    ------
    ValueError
        If ``max_budget`` is not a positive integer, or exceeds the number of
        observed samples of some row while ``extrapolate=None``, or
        ``extrapolate="geometric"`` is used on non-binary rewards.

    See Also
    --------
    geometric_marginal_rewards : Marginal rewards from a success probability.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.targets import marginal_rewards
    >>> R = np.array([[1, 0, 0, 0], [1, 1, 1, 0]])
    >>> marginal_rewards(R, 3)
    array([[0.25, 0.25, 0.25],
           [0.75, 0.25, 0.  ]])
    >>> marginal_rewards(R[:, :2], 3, extrapolate="geometric")
    array([[0.5  , 0.25 , 0.125],
           [1.   , 0.   , 0.   ]])
    """
    if extrapolate not in (None, "geometric"):
        raise ValueError(f"extrapolate must be None or 'geometric'; got {extrapolate!r}.")
    max_budget = check_positive_int(max_budget, "max_budget")
    R, n_observed = check_reward_matrix(R, binary=extrapolate == "geometric")
    short = n_observed < max_budget
    if short.any() and extrapolate is None:
        rows = np.flatnonzero(short)
        raise ValueError(
            f"max_budget={max_budget} exceeds the number of observed samples in row(s) "
            f"{row_list(rows)} (row {rows[0]} has {n_observed[rows[0]]}). Collect at least "
            "max_budget samples per query, lower max_budget, or pass "
            "extrapolate='geometric' for binary rewards."
        )
    n = R.shape[0]
    check_array_memory((n, max_budget), name="max_budget", value=max_budget)
    delta = np.empty((n, max_budget))
    exact = np.flatnonzero(~short)
    if exact.size:
        m = n_observed[exact]
        if _is_binary(R[exact]):
            block = _binary_marginals(m, np.nansum(R[exact], axis=1), max_budget)
        else:
            block = _real_marginals(_sort_descending(R[exact]), m, max_budget)
        delta[exact] = _remove_rounding_violations(block, np.nanmin(R[exact], axis=1) >= 0)
    if short.any():
        rows = np.flatnonzero(short)
        lam = np.nansum(R[rows], axis=1) / n_observed[rows]
        delta[rows] = geometric_marginal_rewards(lam, max_budget)
    return delta


def _binary_marginals(m, c, max_budget):
    """Exact marginal rewards of pass@j, j = 1..max_budget, without cancellation.

    With ``f = m - c`` failures, ``q(j) = 1 - r_j`` where ``r_j = C(f, j) / C(m, j)``
    obeys ``r_j = r_{j-1} (f - j + 1) / (m - j + 1)``. Hence
    ``Delta_j = r_{j-1} - r_j = r_{j-1} * c / (m - j + 1)``: a product of numbers
    in [0, 1] times ``c / (m - j + 1)``, never a difference of nearly equal
    numbers. Needs ``max_budget <= m`` in every row.
    """
    m = m.astype(np.float64)[:, None]
    c = np.asarray(c, dtype=np.float64)[:, None]
    j = np.arange(1, max_budget + 1, dtype=np.float64)[None, :]
    remaining = m - j + 1.0  # >= 1 because j <= max_budget <= m
    step = np.maximum(m - c - j + 1.0, 0.0) / remaining  # r_j / r_{j-1}
    r_before = np.ones_like(step)
    r_before[:, 1:] = np.cumprod(step[:, :-1], axis=1)
    return r_before * c / remaining


def _real_marginals(R_desc, n_observed, max_budget):
    """q(j) - q(j-1) for j = 1..max_budget from rows sorted descending (NaN last).

    Rows sharing a sample count share the (max_budget, m) matrix of
    order-statistic weights, so all budgets come from one matrix product.
    """
    values = np.nan_to_num(R_desc, nan=0.0)
    width = R_desc.shape[1]
    ks = np.arange(1, max_budget + 1)
    q = np.empty((R_desc.shape[0], max_budget))
    for m in np.unique(n_observed):
        rows = np.flatnonzero(n_observed == m)
        weights = _order_statistic_weights(np.full(max_budget, m), ks, width)
        q[rows] = values[rows] @ weights.T
    return np.diff(q, axis=1, prepend=0.0)


def _remove_rounding_violations(delta, nonnegative):
    """Make exactly true properties of Delta hold despite floating-point rounding.

    Mathematically ``Delta[:, j] >= 0`` for ``j >= 1`` (the best of more draws is
    never worse) and ``Delta`` is non-increasing from the second column on
    (the expected maximum of k draws is concave in k); for rows whose rewards
    are all >= 0 the first column is no smaller than the second too. Rounding
    can break these by about 1e-16, which would make an allocator see a
    spurious non-monotone row. The corrections below change values only by
    that much. For rows with negative rewards ``Delta[:, 0]`` (the mean reward)
    can genuinely be smaller than ``Delta[:, 1]`` and is left alone.
    """
    delta[:, 1:] = np.maximum(delta[:, 1:], 0.0)
    delta[:, 1:] = np.minimum.accumulate(delta[:, 1:], axis=1)
    rows = np.flatnonzero(nonnegative)
    delta[rows] = np.minimum.accumulate(delta[rows], axis=1)
    return delta


def geometric_marginal_rewards(success_prob, max_budget):
    """Marginal rewards of best-of-k for independent samples: ``lam (1 - lam)**(j - 1)``.

    With single-sample success probability ``lam`` and independent samples,
    best-of-b succeeds with probability ``q(b) = 1 - (1 - lam)**b`` (section
    3.3 of the paper), so ``Delta[:, j - 1] = q(j) - q(j - 1) =
    lam * (1 - lam)**(j - 1)``, non-increasing in ``j``.

    Parameters
    ----------
    success_prob : array-like of shape (n_queries,) or (n_queries, 1)
        Single-sample success probabilities in [0, 1].
    max_budget : int
        Number of columns ``B_max``.

    Returns
    -------
    marginal_rewards : ndarray of shape (n_queries, max_budget)

    See Also
    --------
    marginal_rewards : Exact marginal rewards from observed samples.
    beta_marginal_rewards : The expected curve when ``lam`` is uncertain.

    Examples
    --------
    >>> from skadapt.targets import geometric_marginal_rewards
    >>> geometric_marginal_rewards([0.5, 1.0, 0.0], 3)
    array([[0.5  , 0.25 , 0.125],
           [1.   , 0.   , 0.   ],
           [0.   , 0.   , 0.   ]])
    """
    lam = check_probabilities(success_prob, name="success_prob")
    max_budget = check_positive_int(max_budget, "max_budget")
    check_array_memory((lam.shape[0], max_budget), name="max_budget", value=max_budget)
    j = np.arange(max_budget)
    # np.power gives 0**0 == 1, so lam == 1 yields [1, 0, 0, ...].
    return lam[:, None] * np.power(1.0 - lam[:, None], j[None, :])


def beta_marginal_rewards(mean, concentration, max_budget):
    """Expected marginal rewards of best-of-k when the success probability is uncertain.

    If the single-sample success probability of a query is not known but
    distributed as ``lam ~ Beta(a, b)`` with ``a = mean * concentration`` and
    ``b = (1 - mean) * concentration``, the expected marginal reward of the
    j-th sample is

        E[lam (1 - lam)**(j - 1)] = B(a + 1, b + j - 1) / B(a, b),

    the expectation of the geometric marginal rewards of section 3.3 (``B`` the
    beta function). By Jensen's inequality this is *not* the plug-in curve
    ``mean * (1 - mean)**(j - 1)``: a query that is either hopeless or easy
    gains less from extra samples than one of middling difficulty with the same
    mean, and the plug-in best-of-b success ``1 - (1 - mean)**b`` overestimates
    the expected one for every ``b >= 2``.

    Consecutive terms have the ratio ``(b + j - 1) / (concentration + j)``, so
    the curve is computed as ``mean`` times a cumulative product of numbers in
    [0, 1]: the log-beta ratio summed term by term. This is exact in floating
    point where ``exp(betaln(a + 1, b + j - 1) - betaln(a, b))`` is not (it
    subtracts two large numbers and loses about half its digits at
    ``concentration = 1e8``), it is non-increasing in ``j`` exactly, and it
    covers the limits without special cases: ``concentration = 0`` (``lam`` is
    0 or 1, a Bernoulli(mean) mixture of hopeless and solved) gives
    ``[mean, 0, 0, ...]``, and ``mean`` of 0 or 1 gives the point-mass curves.

    Parameters
    ----------
    mean : array-like of shape (n_queries,) or (n_queries, 1)
        Expected success probabilities ``E[lam]`` in [0, 1].
    concentration : float or array-like of shape (n_queries,) or (n_queries, 1)
        Beta concentrations ``a + b >= 0``; larger means more certain. ``inf``
        gives the plug-in curve of :func:`geometric_marginal_rewards`.
    max_budget : int
        Number of columns ``B_max``.

    Returns
    -------
    marginal_rewards : ndarray of shape (n_queries, max_budget)
        Non-negative and non-increasing along each row; the first column is
        ``mean``. Row sums ``[:, :b].sum(1)`` are the expected best-of-b success
        probabilities ``1 - E[(1 - lam)**b]``.

    Raises
    ------
    ValueError
        If ``mean`` is not in [0, 1], ``concentration`` is negative or NaN or
        does not match ``mean`` in length, or ``max_budget`` is not a positive
        integer.

    See Also
    --------
    geometric_marginal_rewards : The curve for a known success probability.
    skadapt.SuccessProbClassifier : ``head="beta"`` predicts ``mean`` and
        ``concentration`` per query.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.targets import beta_marginal_rewards
    >>> beta_marginal_rewards([0.5, 0.5, 0.5], [np.inf, 2.0, 0.0], 3)
    array([[0.5       , 0.25      , 0.125     ],
           [0.5       , 0.16666667, 0.08333333],
           [0.5       , 0.        , 0.        ]])
    """
    mean = check_probabilities(mean, name="mean")
    max_budget = check_positive_int(max_budget, "max_budget")
    check_array_memory((mean.shape[0], max_budget), name="max_budget", value=max_budget)
    concentration = as_float_array(concentration, "concentration")
    if concentration.ndim == 2 and concentration.shape[1] == 1:
        concentration = concentration[:, 0]
    if concentration.ndim > 1 or (
        concentration.ndim == 1 and concentration.shape[0] != mean.shape[0]
    ):
        raise ValueError(
            f"concentration must be a number or have shape ({mean.shape[0]},) like mean; got "
            f"shape {concentration.shape}."
        )
    concentration = np.broadcast_to(concentration, mean.shape)
    bad = np.isnan(concentration) | (concentration < 0)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"concentration must be >= 0 (inf allowed); found {format_value(concentration[bad][0])} at "
            f"index {row_list(rows)}."
        )
    point = np.isinf(concentration)
    c = np.where(point, 1.0, concentration)[:, None]
    b = (1.0 - mean)[:, None] * c
    t = np.arange(1, max_budget, dtype=np.float64)[None, :]
    # E_{j+1} / E_j = B(a + 1, b + j) / B(a + 1, b + j - 1) = (b + j - 1) / (a + b + j).
    ratio = (b + t - 1.0) / (c + t)
    delta = np.empty((mean.shape[0], max_budget))
    delta[:, 0] = mean
    delta[:, 1:] = mean[:, None] * np.cumprod(ratio, axis=1)
    if point.any():
        # Bit for bit the plug-in curve, as the success_prob allocators compute it.
        delta[point] = geometric_marginal_rewards(mean[point], max_budget)
    return delta


def preference_probability(R_strong, R_weak):
    """Probability that the strong decoder's output is preferred (Eq. 11), per query.

    ``p(p^S > p^W | x) = E[sigmoid(r(x, y_S) - r(x, y_W))]`` with ``y_S`` a
    sample of the strong decoder and ``y_W`` one of the weak decoder. The
    exact estimate from observed samples averages the sigmoid of the reward
    difference over *all* pairs of an observed strong sample and an observed
    weak sample of the same query (``m_S * m_W`` pairs), the minimum-variance
    unbiased estimate from those samples, rather than the paper's Monte Carlo
    draw of pairs.

    Parameters
    ----------
    R_strong : array-like of shape (n_queries, n_strong_samples)
        Rewards of samples of the strong decoder; NaN marks a missing sample.
    R_weak : array-like of shape (n_queries, n_weak_samples)
        Rewards of samples of the weak decoder; NaN marks a missing sample.

    Returns
    -------
    preference_probability : ndarray of shape (n_queries,)
        Values in (0, 1); 0.5 when both decoders earn the same rewards.

    Raises
    ------
    ValueError
        If the matrices hold infinite values or all-missing rows, or have
        different numbers of rows.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.targets import preference_probability
    >>> R_strong = np.array([[1.0, 2.0], [0.0, np.nan]])
    >>> R_weak = np.array([[1.0, 1.0], [0.0, 0.0]])
    >>> preference_probability(R_strong, R_weak).round(4)
    array([0.6155, 0.5   ])
    """
    R_strong, n_strong = check_reward_matrix(R_strong, name="R_strong")
    R_weak, n_weak = check_reward_matrix(R_weak, name="R_weak")
    if R_strong.shape[0] != R_weak.shape[0]:
        raise ValueError(
            f"R_strong and R_weak must have the same number of rows (queries); got "
            f"{R_strong.shape[0]} and {R_weak.shape[0]}."
        )
    n = R_strong.shape[0]
    out = np.empty(n)
    chunk = max(1, _CHUNK_ROWS * 16 // (R_strong.shape[1] * R_weak.shape[1]))
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        diff = R_strong[rows, :, None] - R_weak[rows, None, :]
        prob = expit(diff)  # NaN where either sample is missing
        out[rows] = np.nansum(prob, axis=(1, 2))
    return out / (n_strong * n_weak)
