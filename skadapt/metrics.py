"""Evaluation metrics for adaptive compute allocation and routing.

Quality of an allocation
    :func:`expected_success` and :func:`expected_reward` score per-query budgets
    on a matrix of observed rewards with the exact estimators of
    :mod:`skadapt.targets` (Eq. 9 and Eq. 10 of the paper, without bootstrap
    bias), the means over queries of :func:`per_query_value` (also what
    :mod:`skadapt.evaluation` bootstraps). :func:`best_of_k_curve` is the uniform baseline,
    :func:`oracle_budgets` the allocation solved with the true marginal
    rewards, and :func:`compute_savings` compares an adaptive curve with the
    uniform one at matched quality and at matched compute.

Routing
    :func:`routing_reward` scores a routing decision, :func:`random_routing`
    is the exact expected reward of the random-routing baseline, and
    :func:`apgr` / :func:`cpt` are the routing metrics of RouteLLM (Ong et
    al., 2024).

Probes
    :func:`probe_report` gives the intrinsic metrics of Table 1 of the paper.

Model selection
    :func:`make_allocation_scorer` builds a scikit-learn scorer that scores
    the budgets of an allocator on a reward matrix passed as ``y``.
"""


import numpy as np
from scipy.special import xlogy
from sklearn.utils import Bunch

from skadapt import targets
from skadapt._validation import (
    as_float_array,
    check_finite_number,
    check_int_per_row,
    check_nonnegative_int,
    check_positive_int,
    check_reward_matrix,
)

__all__ = [
    "expected_success",
    "expected_reward",
    "per_query_value",
    "best_of_k_curve",
    "oracle_budgets",
    "routing_reward",
    "random_routing",
    "compute_savings",
    "probe_report",
    "apgr",
    "cpt",
    "make_allocation_scorer",
]


def _check_default(default, binary):
    """``default`` as a float; a success probability (in [0, 1]) for binary rewards."""
    default = check_finite_number(default, "default")
    if binary and not 0.0 <= default <= 1.0:
        raise ValueError(
            f"default must lie in [0, 1]: it is the success credited to a query given no "
            f"sample, a probability for binary rewards; got {default!r}."
        )
    return default


def _per_query_at_budgets(R, budgets, default, binary, name="R"):
    """Exact per-query value of best-of-budgets[i], with ``default`` where the budget is 0."""
    R, n_observed = check_reward_matrix(R, name=name, binary=binary)
    default = _check_default(default, binary)
    budgets = check_int_per_row(
        budgets, R.shape[0], name="budgets", minimum=0, maximum=n_observed,
        maximum_name=f"the number of observed samples of that row of {name}",
    )
    values = np.full(R.shape[0], default)
    spent = budgets > 0
    if spent.any():
        values[spent] = targets.expected_max_reward(R[spent], budgets[spent])
    return values


def per_query_value(rewards, budgets, *, binary=True, default=0.0):
    """Exact expected value of best-of-``budgets[i]`` for each query.

    The per-query terms whose mean is :func:`expected_success` (``binary=True``,
    Eq. 9) or :func:`expected_reward` (``binary=False``, Eq. 10); for paired
    comparisons and bootstrap intervals over queries
    (:func:`skadapt.evaluation.bootstrap_interval`). Also importable from
    :mod:`skadapt.evaluation`, its former home.

    Parameters
    ----------
    rewards : array-like of shape (n_queries, n_samples)
        Observed per-sample rewards, NaN for a missing sample.
    budgets : array-like of shape (n_queries,) or (n_queries, 1)
        Number of samples per query; 0 scores ``default``.
    binary : bool, default=True
        Use the pass@k estimator (0/1 rewards) or the expected maximum.
    default : float, default=0.0
        Value of a query given no sample (an "I don't know" answer).

    Returns
    -------
    values : ndarray of shape (n_queries,)

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.metrics import per_query_value
    >>> R = np.array([[1, 0, 0, 0], [0, 0, 0, 0]], dtype=float)
    >>> per_query_value(R, [2, 0])
    array([0.5, 0. ])
    """
    return _per_query_at_budgets(rewards, budgets, default, binary=binary, name="rewards")


def expected_success(R, budgets, *, default=0.0):
    """Expected success rate of best-of-``budgets[i]`` per query (Eq. 9), exact.

    Averages over queries the unbiased pass@k estimate
    (:func:`skadapt.targets.pass_at_k`) at each query's own budget. A query
    with budget 0 draws no sample and scores ``default`` (the paper returns a
    default answer such as "I don't know", which scores 0).

    Parameters
    ----------
    R : array-like of shape (n_queries, n_samples)
        Observed binary outcomes; NaN marks a missing sample.
    budgets : int or array-like of shape (n_queries,) or (n_queries, 1)
        Number of samples per query, as returned by an allocator's
        ``transform``; at most the number of observed samples of the row.
    default : float, default=0.0
        Success credited to a query with budget 0.

    Returns
    -------
    expected_success : float

    Raises
    ------
    ValueError
        If ``R`` is not binary, or a budget is negative, non-integer or larger
        than the number of observed samples of its row.

    See Also
    --------
    expected_reward : The same for real-valued rewards (Eq. 10).
    per_query_value : The per-query values this averages.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.metrics import expected_success
    >>> R = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 0]])
    >>> expected_success(R, [4, 0, 1])
    0.5833333333333334
    """
    return float(_per_query_at_budgets(R, budgets, default, binary=True).mean())


def expected_reward(R, budgets, *, default=0.0):
    """Expected best-of-``budgets[i]`` reward per query (Eq. 10), exact.

    Averages over queries the unbiased expected maximum of ``budgets[i]``
    draws (:func:`skadapt.targets.expected_max_reward`), i.e. the reward of
    best-of-k with a perfect reranker. A query with budget 0 scores
    ``default``.

    Parameters
    ----------
    R : array-like of shape (n_queries, n_samples)
        Observed real-valued rewards; NaN marks a missing sample.
    budgets : int or array-like of shape (n_queries,) or (n_queries, 1)
        Number of samples per query, at most the row's observed samples.
    default : float, default=0.0
        Reward credited to a query with budget 0.

    Returns
    -------
    expected_reward : float

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.metrics import expected_reward
    >>> R = np.array([[0.2, 0.8], [0.5, np.nan]])
    >>> expected_reward(R, [2, 1])
    0.65
    """
    return float(_per_query_at_budgets(R, budgets, default, binary=False).mean())


def best_of_k_curve(R, budgets, *, default=0.0):
    """Expected quality of uniform best-of-k for each k in ``budgets``.

    The baseline of the paper: every query gets the same number of samples
    ``k``. Uses the exact pass@k estimator on 0/1 rewards (expected success)
    and the exact expected maximum otherwise (expected reward).

    Parameters
    ----------
    R : array-like of shape (n_queries, n_samples)
        Observed rewards; NaN marks a missing sample.
    budgets : int or array-like of int
        Budgets ``k >= 0`` to evaluate; ``k = 0`` scores ``default``. Every
        ``k`` must be at most the number of observed samples of every row.
    default : float, default=0.0
        Quality of a query with budget 0.

    Returns
    -------
    quality : ndarray of shape (n_budgets,)

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.metrics import best_of_k_curve
    >>> R = np.array([[1, 0, 0, 0], [1, 1, 0, 0]])
    >>> best_of_k_curve(R, [0, 1, 2, 4])
    array([0.        , 0.375     , 0.66666667, 1.        ])
    """
    R, n_observed = check_reward_matrix(R)
    ks = np.atleast_1d(np.asarray(budgets))
    if ks.ndim != 1 or ks.size == 0:
        raise ValueError(f"budgets must be an integer or a non-empty 1-D list of integers; got {budgets!r}.")
    ks = [check_nonnegative_int(k, "each entry of budgets") for k in ks.tolist()]
    m_min = int(n_observed.min())
    too_large = [k for k in ks if k > m_min]
    if too_large:
        raise ValueError(
            f"budgets contains {too_large[0]}, more than the {m_min} observed samples of row "
            f"{int(np.argmin(n_observed))}; uniform best-of-k needs k samples of every query."
        )
    return np.array([_per_query_at_budgets(R, k, default, binary=False).mean() for k in ks])


def oracle_budgets(R, budget, *, max_budget, min_budget=0, method="greedy", n_bins=10,
                   strategy="quantile", extrapolate=None):
    """Budgets of the oracle: the allocation solved with the true marginal rewards of R.

    The paper's "Oracle" (section 4.1) plugs the ground-truth marginal rewards
    into the allocation problem (Eq. 5). Here they are the exact marginal
    rewards :func:`skadapt.targets.marginal_rewards` of the observed samples,
    and the problem is solved exactly by
    :func:`skadapt.allocation.greedy_allocate` (``method="greedy"``, the
    online oracle) or by a :class:`skadapt.BinnedAllocator` fitted and applied
    on the same true marginal rewards (``method="binned"``, the best policy
    with one budget per bin of the true first marginal reward).

    Parameters
    ----------
    R : array-like of shape (n_queries, n_samples)
        Observed rewards; NaN marks a missing sample.
    budget : float
        Average budget per query ``B``; ``floor(B * n_queries)`` units in all.
        Must lie in ``[min_budget, max_budget]``.
    max_budget : int
        Largest budget of one query, ``B_max``. Needs that many observed
        samples per row unless ``extrapolate`` is set.
    min_budget : int, default=0
        Smallest budget of one query (the paper uses 1 for chat).
    method : {"greedy", "binned"}, default="greedy"
        Online oracle (exact optimum of Eq. 5) or binned oracle.
    n_bins : int, default=10
        Number of bins for ``method="binned"``.
    strategy : str, default="quantile"
        Bin strategy for ``method="binned"`` (see :class:`skadapt.BinnedAllocator`).
    extrapolate : {None, "geometric"}, default=None
        Passed to :func:`skadapt.targets.marginal_rewards`.

    Returns
    -------
    budgets : ndarray of shape (n_queries,), int

    Notes
    -----
    The greedy solution is exact when every row of marginal rewards is
    non-increasing beyond ``min_budget``. That holds for rewards >= 0 (binary
    outcomes in particular). With rewards that can be negative the first
    marginal reward (the mean reward, against 0 for no sample) may be smaller
    than the second; use ``min_budget=1`` there, as the paper does for chat.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.metrics import oracle_budgets, expected_success
    >>> R = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]])
    >>> b = oracle_budgets(R, 1, max_budget=4)
    >>> b
    array([1, 2, 0])
    >>> round(expected_success(R, b), 4)
    0.5
    """
    if method not in ("greedy", "binned"):
        raise ValueError(f"method must be 'greedy' or 'binned'; got {method!r}.")
    max_budget = check_positive_int(max_budget, "max_budget")
    min_budget = check_nonnegative_int(min_budget, "min_budget")
    budget = check_finite_number(budget, "budget")
    if min_budget > max_budget:
        raise ValueError(f"min_budget={min_budget} exceeds max_budget={max_budget}.")
    if not min_budget <= budget <= max_budget:
        raise ValueError(
            f"budget={budget} must lie in [min_budget, max_budget] = [{min_budget}, {max_budget}]."
        )
    delta = targets.marginal_rewards(R, max_budget, extrapolate=extrapolate)
    from skadapt._greedy import total_units
    from skadapt.allocation import BinnedAllocator, greedy_allocate

    if method == "greedy":
        # floor(budget * n), computed exactly as GreedyAllocator does
        total = total_units(budget, delta.shape[0])
        return np.asarray(greedy_allocate(delta, total, min_budget=min_budget)).ravel()
    allocator = BinnedAllocator(budget, n_bins=n_bins, strategy=strategy, max_budget=max_budget,
                                min_budget=min_budget, kind="marginal")
    return np.asarray(allocator.fit(delta).transform(delta)).ravel()


def _routing_means(R_strong, R_weak):
    R_strong, _ = check_reward_matrix(R_strong, name="R_strong")
    R_weak, _ = check_reward_matrix(R_weak, name="R_weak")
    if R_strong.shape[0] != R_weak.shape[0]:
        raise ValueError(
            f"R_strong and R_weak must have the same number of rows (queries); got "
            f"{R_strong.shape[0]} and {R_weak.shape[0]}."
        )
    return np.nanmean(R_strong, axis=1), np.nanmean(R_weak, axis=1)


def routing_reward(R_strong, R_weak, routed):
    """Expected reward of a routing decision: strong decoder where ``routed`` is 1.

    Each query gets one sample of the decoder it is routed to; its expected
    reward is the mean of that decoder's observed rewards for the query
    (exact and unbiased). Routing is the allocation problem with
    ``max_budget=1``: pass the budgets of ``GreedyAllocator(fraction,
    max_budget=1)`` as ``routed``.

    Parameters
    ----------
    R_strong : array-like of shape (n_queries, n_strong_samples)
        Rewards of samples of the strong decoder; NaN marks a missing sample.
    R_weak : array-like of shape (n_queries, n_weak_samples)
        Rewards of samples of the weak decoder.
    routed : array-like of shape (n_queries,) or (n_queries, 1)
        1 (or True) to use the strong decoder, 0 for the weak one.

    Returns
    -------
    reward : float
        Mean expected reward over queries.

    See Also
    --------
    random_routing : The random-routing baseline.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.metrics import routing_reward
    >>> R_strong = np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> R_weak = np.array([[0.0, 0.0], [1.0, 0.0]])
    >>> routing_reward(R_strong, R_weak, [1, 0])
    0.5
    """
    strong, weak = _routing_means(R_strong, R_weak)
    routed = check_int_per_row(routed, strong.shape[0], name="routed",
                               minimum=0, maximum=1, maximum_name="1 = strong decoder")
    return float(np.where(routed == 1, strong, weak).mean())


def random_routing(R_strong, R_weak, fraction):
    """Exact expected reward of routing a random fraction of queries to the strong decoder.

    The baseline "Random" of the paper (section 4.2): ``floor(fraction *
    n_queries)`` queries, chosen uniformly at random, go to the strong
    decoder (the same number of strong calls an allocator with ``budget =
    fraction`` and ``max_budget = 1`` makes). By linearity of expectation the
    expected reward over all such choices is
    ``mean(weak) + s / n * (mean(strong) - mean(weak))`` with ``s`` the number
    of strong calls, computed exactly here rather than simulated.

    Parameters
    ----------
    R_strong : array-like of shape (n_queries, n_strong_samples)
        Rewards of samples of the strong decoder; NaN marks a missing sample.
    R_weak : array-like of shape (n_queries, n_weak_samples)
        Rewards of samples of the weak decoder.
    fraction : float or array-like of float
        Fraction(s) of queries in [0, 1] routed to the strong decoder.

    Returns
    -------
    reward : float or ndarray
        One expected reward per fraction (a float for a scalar ``fraction``).

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.metrics import random_routing
    >>> R_strong = np.array([[1.0], [1.0], [0.0], [1.0]])
    >>> R_weak = np.array([[0.0], [1.0], [0.0], [0.0]])
    >>> random_routing(R_strong, R_weak, [0.0, 0.5, 1.0])
    array([0.25, 0.5 , 0.75])
    """
    strong, weak = _routing_means(R_strong, R_weak)
    fractions = as_float_array(fraction, "fraction")
    if not np.isfinite(fractions).all() or (fractions < 0).any() or (fractions > 1).any():
        raise ValueError(f"fraction must lie in [0, 1]; got {fraction!r}.")
    n = strong.shape[0]
    n_strong = np.floor(fractions * n)
    result = weak.mean() + n_strong / n * (strong.mean() - weak.mean())
    return float(result) if result.ndim == 0 else result


def _check_curve(x, y, x_name, y_name):
    x = as_float_array(x, x_name).ravel()
    y = as_float_array(y, y_name).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{x_name} and {y_name} must have the same length; got {x.size} and {y.size}.")
    if x.size == 0:
        raise ValueError(f"{x_name} is empty; need at least one point of the curve.")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(f"{x_name} and {y_name} must be finite.")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if (np.diff(x) == 0).any():
        raise ValueError(f"{x_name} contains duplicate values; give one point per {x_name[:-1] or x_name}.")
    return x, y


def _first_crossing(x, y, target):
    """Smallest x at which the piecewise-linear curve (x, y) reaches ``target``.

    NaN if the curve never reaches it, and NaN if its first point already lies
    above it (the crossing is then left of the known part of the curve).
    """
    if y[0] > target:
        return np.nan
    if y[0] == target:
        return x[0]
    above = np.flatnonzero(y >= target)
    if above.size == 0:
        return np.nan
    i = above[0]
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    return x0 + (target - y0) / (y1 - y0) * (x1 - x0)


def compute_savings(budgets, quality, uniform_budgets, uniform_quality):
    """Compute saved at matched quality, and quality gained at matched compute.

    Compares an adaptive curve (average budget ``budgets[p]``, quality
    ``quality[p]``) with the uniform best-of-k curve. Both curves are taken
    as piecewise linear between their points; for the uniform curve this is
    exact, because giving a fraction ``t`` of the queries ``k + 1`` samples
    and the rest ``k`` is a realizable policy whose average budget and
    expected quality are both linear in ``t``.

    For each adaptive point ``p``:

    - ``uniform_budget[p]``: the smallest average budget at which the uniform
      curve reaches ``quality[p]`` (NaN if it never does within its points,
      or if ``quality[p]`` is below the curve's first point).
    - ``compute_saved[p] = 1 - budgets[p] / uniform_budget[p]``: the fraction
      of compute the adaptive method saves at matched quality (0.4 means 40%
      fewer samples; negative when it needs more).
    - ``uniform_quality[p]``: the uniform curve's quality at ``budgets[p]``
      (NaN outside the range of ``uniform_budgets``).
    - ``quality_gain[p] = quality[p] - uniform_quality[p]``: the quality
      gained at equal compute.

    Parameters
    ----------
    budgets : array-like of shape (n_points,)
        Average budgets of the adaptive method.
    quality : array-like of shape (n_points,)
        Its expected success or reward at those budgets.
    uniform_budgets : array-like of shape (n_uniform,)
        Budgets of the uniform curve (distinct; include 0 with the default
        quality to cover low qualities).
    uniform_quality : array-like of shape (n_uniform,)
        Quality of uniform best-of-k at those budgets (see
        :func:`best_of_k_curve`).

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With array attributes ``budget``, ``quality``, ``uniform_budget``,
        ``compute_saved``, ``uniform_quality`` and ``quality_gain``, one entry
        per adaptive point, in the order given.

    Examples
    --------
    >>> from skadapt.metrics import compute_savings
    >>> s = compute_savings([2, 4], [0.6, 0.8], [0, 2, 4, 8], [0.0, 0.5, 0.6, 0.8])
    >>> s.uniform_budget
    array([4., 8.])
    >>> s.compute_saved
    array([0.5, 0.5])
    >>> s.quality_gain
    array([0.1, 0.2])
    """
    b = as_float_array(budgets, "budgets").ravel()
    q = as_float_array(quality, "quality").ravel()
    if b.shape != q.shape:
        raise ValueError(f"budgets and quality must have the same length; got {b.size} and {q.size}.")
    if not (np.isfinite(b).all() and np.isfinite(q).all()):
        raise ValueError("budgets and quality must be finite.")
    if (b < 0).any():
        raise ValueError("budgets must be >= 0.")
    ub, uq = _check_curve(uniform_budgets, uniform_quality, "uniform_budgets", "uniform_quality")
    matched = np.array([_first_crossing(ub, uq, target) for target in q])
    with np.errstate(divide="ignore", invalid="ignore"):
        saved = np.where(matched > 0, 1.0 - b / matched, np.nan)
    inside = (b >= ub[0]) & (b <= ub[-1])
    uq_at_b = np.where(inside, np.interp(b, ub, uq), np.nan)
    return Bunch(budget=b, quality=q, uniform_budget=matched, compute_saved=saved,
                 uniform_quality=uq_at_b, quality_gain=q - uq_at_b)


def probe_report(y_true, y_pred, *, loss="auto", split="each"):
    """Intrinsic metrics of a difficulty probe: Table 1 of the paper.

    Parameters
    ----------
    y_true : array-like of shape (n_queries,) or (n_queries, n_outputs)
        True soft labels: success rates or preference probabilities in
        [0, 1] (1-D), or marginal-reward vectors (2-D).
    y_pred : array-like of the same shape
        The probe's predictions.
    loss : {"auto", "log_loss", "squared_error"}, default="auto"
        ``"log_loss"``: cross-entropy with soft labels (Eq. 7),
        ``-mean(y log p + (1 - y) log(1 - p))``; needs values in [0, 1].
        ``"squared_error"``: squared error averaged over queries and outputs
        (Eq. 6 divided by ``n_outputs``). ``"auto"`` picks log loss for 1-D
        targets and squared error for 2-D targets.
    split : {"each", "true"}, default="each"
        Thresholds of the median-split accuracy. ``"each"``: the true labels
        are ``y_true > median(y_true)`` and the predicted labels
        ``y_pred > median(y_pred)``, which measures ranking only (a constant
        or random predictor scores about 50% when the true split is
        balanced). ``"true"``: predictions are thresholded at
        ``median(y_true)`` too, which also penalises miscalibration.
        For 2-D targets the split uses the first column (the first marginal
        reward, which :class:`skadapt.BinnedAllocator` bins on).

    Returns
    -------
    report : dict
        ``"loss"``: the probe's loss. ``"avg_loss"``: loss of predicting the
        mean of ``y_true`` for every query (Avg.). ``"opt_loss"``: the lowest
        achievable loss, that of predicting ``y_true`` itself (Opt.*): the
        mean binary entropy of the soft labels for log loss, 0 for squared
        error. ``"accuracy"``: median-split accuracy (Acc.).
        ``"loss_name"``: the loss used.

    Notes
    -----
    ``avg_loss`` uses the mean of the very labels it is scored on, so it is
    the best constant predictor in hindsight: a slightly optimistic baseline.

    Examples
    --------
    >>> from skadapt.metrics import probe_report
    >>> report = probe_report([0.0, 0.2, 0.6, 1.0], [0.1, 0.3, 0.5, 0.9])
    >>> {k: round(v, 3) for k, v in report.items() if k != "loss_name"}
    {'loss': 0.358, 'avg_loss': 0.688, 'opt_loss': 0.293, 'accuracy': 1.0}
    """
    if loss not in ("auto", "log_loss", "squared_error"):
        raise ValueError(f"loss must be 'auto', 'log_loss' or 'squared_error'; got {loss!r}.")
    if split not in ("each", "true"):
        raise ValueError(f"split must be 'each' or 'true'; got {split!r}.")
    y_true = as_float_array(y_true, "y_true")
    y_pred = as_float_array(y_pred, "y_pred")
    if y_true.ndim == 2 and y_true.shape[1] == 1 and loss != "squared_error":
        y_true = y_true[:, 0]
    if y_pred.ndim == 2 and y_pred.shape[1] == 1 and y_true.ndim == 1:
        y_pred = y_pred[:, 0]
    if y_true.ndim not in (1, 2):
        raise ValueError(f"y_true must be 1-D or 2-D; got shape {y_true.shape}.")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape; got {y_true.shape} and {y_pred.shape}.")
    if y_true.shape[0] == 0 or y_true.size == 0:
        raise ValueError("y_true is empty; need at least one query.")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name} contains NaN or infinite values.")
    if loss == "auto":
        loss = "log_loss" if y_true.ndim == 1 else "squared_error"
    if loss == "log_loss":
        for name, values in (("y_true", y_true), ("y_pred", y_pred)):
            if (values < 0).any() or (values > 1).any():
                raise ValueError(f"{name} must lie in [0, 1] for loss='log_loss'.")
        mean = y_true.mean(axis=0)
        report_loss = _soft_log_loss(y_true, y_pred)
        avg_loss = _soft_log_loss(y_true, np.broadcast_to(mean, y_true.shape))
        opt_loss = _soft_log_loss(y_true, y_true)
    else:
        mean = y_true.mean(axis=0)
        report_loss = float(np.mean((y_true - y_pred) ** 2))
        avg_loss = float(np.mean((y_true - mean) ** 2))
        opt_loss = 0.0
    t = y_true if y_true.ndim == 1 else y_true[:, 0]
    p = y_pred if y_pred.ndim == 1 else y_pred[:, 0]
    threshold_true = np.median(t)
    threshold_pred = np.median(p) if split == "each" else threshold_true
    accuracy = float(np.mean((t > threshold_true) == (p > threshold_pred)))
    return {"loss": report_loss, "avg_loss": avg_loss, "opt_loss": opt_loss,
            "accuracy": accuracy, "loss_name": loss}


def _soft_log_loss(y, p):
    eps = np.finfo(np.float64).eps
    p = np.clip(p, eps, 1 - eps)
    # xlogy(0, .) == 0, so hard labels and y == p == 0 or 1 contribute no loss.
    return float(-np.mean(xlogy(y, p) + xlogy(1 - y, 1 - p)))


def _pgr_curve(strong_fractions, quality, weak_quality, strong_quality):
    weak_quality = check_finite_number(weak_quality, "weak_quality")
    strong_quality = check_finite_number(strong_quality, "strong_quality")
    if strong_quality == weak_quality:
        raise ValueError("strong_quality equals weak_quality: the performance gap is zero, PGR is undefined.")
    x, y = _check_curve(strong_fractions, quality, "strong_fractions", "quality")
    if x[0] < 0 or x[-1] > 1:
        raise ValueError("strong_fractions must lie in [0, 1].")
    # A router that calls the strong model for no query is the weak model, and one
    # that calls it for every query is the strong model: add these end points.
    if x[0] > 0:
        x, y = np.r_[0.0, x], np.r_[weak_quality, y]
    if x[-1] < 1:
        x, y = np.r_[x, 1.0], np.r_[y, strong_quality]
    return x, (y - weak_quality) / (strong_quality - weak_quality)


def apgr(strong_fractions, quality, *, weak_quality, strong_quality):
    """Average performance gap recovered (APGR) of a router, as in RouteLLM.

    The performance gap recovered at a router setting is
    ``PGR = (quality - weak_quality) / (strong_quality - weak_quality)``;
    APGR is the area under PGR plotted against the fraction of calls to the
    strong model, over [0, 1], by the trapezoid rule (Ong et al., 2024). The
    end points (0, weak_quality) and (1, strong_quality), which every router
    attains, are added when absent. Random routing scores 0.5.

    Parameters
    ----------
    strong_fractions : array-like of shape (n_points,)
        Fraction of queries sent to the strong model at each router setting
        (distinct values in [0, 1], any order).
    quality : array-like of shape (n_points,)
        Expected reward (or success) of the routed system at those settings.
    weak_quality : float
        Quality when every query goes to the weak model.
    strong_quality : float
        Quality when every query goes to the strong model.

    Returns
    -------
    apgr : float

    See Also
    --------
    cpt : Fraction of strong calls needed to recover a given share of the gap.

    Examples
    --------
    >>> from skadapt.metrics import apgr
    >>> round(apgr([0.0, 0.5, 1.0], [0.6, 0.7, 0.8], weak_quality=0.6, strong_quality=0.8), 6)
    0.5
    >>> apgr([0.25, 0.5], [0.75, 0.8], weak_quality=0.6, strong_quality=0.8)
    0.8125
    """
    x, pgr = _pgr_curve(strong_fractions, quality, weak_quality, strong_quality)
    return float(np.sum(np.diff(x) * (pgr[1:] + pgr[:-1]) / 2))


def cpt(strong_fractions, quality, level, *, weak_quality, strong_quality):
    """Call-performance threshold CPT(x%): strong calls needed to recover x% of the gap.

    The smallest fraction of calls to the strong model at which the router's
    performance gap recovered (see :func:`apgr`) reaches ``level``, reading
    the curve as piecewise linear between its points (RouteLLM interpolates
    the same way), with the end points (0, weak) and (1, strong) added when
    absent. ``CPT(50%)`` is ``cpt(..., 0.5, ...)``.

    Parameters
    ----------
    strong_fractions : array-like of shape (n_points,)
        Fraction of queries sent to the strong model at each router setting.
    quality : array-like of shape (n_points,)
        Quality of the routed system at those settings.
    level : float
        Share of the performance gap to recover, in (0, 1].
    weak_quality, strong_quality : float
        Quality of the weak and of the strong model alone.

    Returns
    -------
    cpt : float
        A fraction in [0, 1]: the share of strong calls needed.

    Examples
    --------
    >>> from skadapt.metrics import cpt
    >>> round(cpt([0.25, 0.5], [0.75, 0.8], 0.5, weak_quality=0.6, strong_quality=0.8), 6)
    0.166667
    """
    level = check_finite_number(level, "level")
    if not 0 < level <= 1:
        raise ValueError(f"level must lie in (0, 1] (0.5 for CPT(50%)); got {level}.")
    x, pgr = _pgr_curve(strong_fractions, quality, weak_quality, strong_quality)
    return float(_first_crossing(x, pgr, level))


class _AllocationScorer:
    """Scorer(estimator, X, y): quality of ``estimator.transform(X)`` budgets on rewards ``y``."""

    def __init__(self, metric, cost_per_unit, default):
        self.metric = metric
        self.cost_per_unit = cost_per_unit
        self.default = default

    def __call__(self, estimator, X, y):
        budgets = np.asarray(estimator.transform(X), dtype=float)
        if budgets.ndim == 2 and budgets.shape[1] == 1:
            budgets = budgets[:, 0]
        if np.ndim(y) != 2 or len(y) != len(budgets):
            raise ValueError(
                f"y must be the (n_queries, n_samples) reward matrix of the {len(budgets)} "
                f"queries of X; got shape {np.shape(y)}"
            )
        score = (expected_success if self.metric == "success" else expected_reward)(
            y, budgets, default=self.default)
        return float(score - self.cost_per_unit * budgets.mean())

    def __repr__(self):
        return (f"make_allocation_scorer(metric={self.metric!r}, "
                f"cost_per_unit={self.cost_per_unit!r}, default={self.default!r})")


def make_allocation_scorer(metric="success", *, cost_per_unit=0.0, default=0.0):
    """Make a scikit-learn scorer for an allocator (or a pipeline ending in one).

    The scorer is called as ``scorer(estimator, X, y)``: it computes budgets
    with ``estimator.transform(X)`` and returns their exact expected quality
    on the reward matrix ``y`` (:func:`expected_success` or
    :func:`expected_reward`) minus ``cost_per_unit`` times the mean budget.
    Greater is better, so it plugs into ``GridSearchCV(scoring=...)`` and
    ``cross_val_score`` directly. Without a cost, a larger average budget
    always scores at least as well, so a grid over ``budget`` needs a cost to
    be meaningful: the search then finds the budget where one more unit of
    compute per query stops paying ``cost_per_unit`` in quality.

    Parameters
    ----------
    metric : {"success", "reward"}, default="success"
        :func:`expected_success` (binary ``y``) or :func:`expected_reward`.
    cost_per_unit : float, default=0.0
        Price of one unit of compute (one sample) per query, in units of the
        metric. Must be >= 0.
    default : float, default=0.0
        Quality credited to a query with budget 0.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``. Picklable.

    Notes
    -----
    ``y`` is the reward matrix (n_queries, n_samples) of the scored queries,
    so every step of the pipeline must accept that matrix as ``y`` in ``fit``
    (the cross-validation splits ``X`` and ``y`` by rows).

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.metrics import make_allocation_scorer
    >>> class Fixed:  # stands in for a fitted allocator
    ...     def transform(self, X):
    ...         return np.full((len(X), 1), 2)
    >>> R = np.array([[1, 0, 0, 0], [1, 1, 0, 0]])
    >>> scorer = make_allocation_scorer(cost_per_unit=0.1)
    >>> round(scorer(Fixed(), np.zeros((2, 1)), R), 4)
    0.4667
    """
    if metric not in ("success", "reward"):
        raise ValueError(f"metric must be 'success' or 'reward'; got {metric!r}.")
    cost_per_unit = check_finite_number(cost_per_unit, "cost_per_unit")
    if cost_per_unit < 0:
        raise ValueError(f"cost_per_unit must be >= 0; got {cost_per_unit}.")
    default = _check_default(default, binary=metric == "success")
    return _AllocationScorer(metric, cost_per_unit, default)
