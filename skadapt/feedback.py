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
``skadapt._feedback_baselines``, :func:`phase_evidence` and the two-phase
policy in ``skadapt._two_phase``, the multi-round policy and the price rule in
``skadapt._multi_round``; import them from here.
"""

import numpy as np
import pandas as pd

from skadapt import _greedy, targets
from skadapt._feedback_baselines import adaptive_consistency, uab
from skadapt._multi_round import (  # noqa: F401 (the tests import the private helpers from here)
    _posterior_marginals,
    _vote_race,
    _vote_race_value,
    multi_round,
    price_rule,
)
from skadapt._stored_samples import (
    FeedbackResult,
    StoredSamples,
    _check_budget,
    _check_cap,
    _check_samples,
    _exact,
)
from skadapt._two_phase import EVIDENCE_FEATURES, phase_evidence, two_phase, two_phase_training_data
from skadapt._validation import as_float_array, check_probabilities
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
