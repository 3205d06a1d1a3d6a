"""Selection rules and their exact quality curves from stored samples.

Once ``k`` samples of a query are drawn, a *selection rule* picks the answer:

* ``"oracle"``: an oracle verifier accepts the query if any drawn sample is
  correct; the exact probability is pass@k
  (:func:`skadapt.targets.pass_at_k`).
* ``"best_of_k"``: a reward model keeps the sample with the largest reward;
  the exact expected reward is :func:`skadapt.targets.expected_max_reward`.
* ``"majority"``: self-consistency (Wang et al., 2023) returns the most
  frequent extracted answer, ties broken uniformly at random and samples
  without an answer abstaining; the exact probability that it returns the
  reference answer is :func:`majority_vote_curve`.

All three are evaluated *exactly* from ``m`` stored samples per query, as the
expectation over drawing ``k`` of them without replacement (no Monte Carlo).

The first two curves are concave in ``k``, so their marginal rewards are
non-increasing and the greedy solution of Eq. 5 is exact. Majority vote is
not: going from 1 to 2 samples adds a tie that is broken at random, so with
two candidate answers the curve is flat from every odd ``k`` to the next even
one and then jumps, and when a wrong answer is the most frequent the curve
even decreases. :func:`majority_vote_marginal_rewards` therefore can be
negative and non-monotone. How the allocators treat that is explained in
:func:`concave_envelope` and in ``docs/feedback.md``.
"""

import numpy as np

from skadapt import datasets, targets
from skadapt._greedy import project_nonincreasing
from skadapt._validation import as_float_array, check_positive_int, row_list

__all__ = [
    "majority_vote_curve",
    "majority_vote_marginal_rewards",
    "selection_curve",
    "concave_envelope",
    "SELECTION_RULES",
]

#: Names accepted by :func:`selection_curve`.
SELECTION_RULES = ("oracle", "best_of_k", "majority")


_ANSWER_ATOL = 1e-9  # an answer this close to the reference is correct (as in skadapt.datasets)


def _answer_codes(answers, reference):
    """Codes of the answers: 0 = the reference answer, 1..d = distinct wrong answers, m + 1 = none."""
    n, m = answers.shape
    correct = np.isclose(answers, reference[:, None], rtol=0.0, atol=_ANSWER_ATOL)
    wrong = np.where(correct | np.isnan(answers), np.nan, answers)
    order = np.argsort(wrong, axis=1, kind="stable")  # NaN last
    s = np.take_along_axis(wrong, order, axis=1)
    new = np.isfinite(s)
    new[:, 1:] &= s[:, 1:] != s[:, :-1]
    rank = np.cumsum(new, axis=1)
    sorted_codes = np.where(np.isfinite(s), rank, m + 1)
    codes = np.empty((n, m), dtype=np.int16)
    np.put_along_axis(codes, order, sorted_codes.astype(np.int16), axis=1)
    codes[correct] = 0
    return codes


def majority_vote_curve(answers, reference):
    """Exact success probability of majority vote over k samples, for every k.

    Majority vote (self-consistency) draws ``k`` of the ``m`` stored samples of a
    query uniformly without replacement and returns the most frequent answer;
    samples without an answer (``NaN``) abstain, ties are broken uniformly at
    random, and a draw where every sample abstains fails. The values are those
    of :func:`skadapt.datasets.majority_vote_curve` (exact counting, no Monte
    Carlo), which is evaluated once per distinct *vote profile* (number of
    correct samples, sorted counts of the wrong answers, abstentions): the
    curve depends on nothing else, and real data repeat profiles a lot.

    Parameters
    ----------
    answers : array-like of shape (n_queries, m)
        Extracted numeric answers, ``NaN`` where a sample gave none.
    reference : array-like of shape (n_queries,)
        True answers; an answer within 1e-9 of it is correct.

    Returns
    -------
    curve : ndarray of shape (n_queries, m)
        ``curve[i, k - 1]``: probability that majority vote over ``k`` samples of
        query ``i`` is correct. ``curve[:, 0]`` is the fraction of correct answers.

    See Also
    --------
    majority_vote_marginal_rewards : Its differences.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.selection import majority_vote_curve
    >>> majority_vote_curve(np.array([[5, 5, 7, np.nan]]), [5]).round(3)
    array([[0.5  , 0.667, 0.75 , 1.   ]])
    """
    answers, reference = _answer_inputs(answers, reference)
    n, m = answers.shape
    codes = _answer_codes(answers, reference)
    counts = np.zeros((n, m + 2), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(n), m), codes.ravel().astype(np.intp)), 1)
    rivals = -np.sort(-counts[:, 1:m + 1], axis=1)
    profile = np.column_stack([counts[:, 0], counts[:, m + 1], rivals])
    unique, inverse = np.unique(profile, axis=0, return_inverse=True)
    # one representative answer row per profile: reference 0, rival r answers r, NaN abstains
    rep = np.full((unique.shape[0], m), np.nan)
    for u, (n_correct, _, *rival_counts) in enumerate(unique):
        values = [0.0] * n_correct + [float(r + 1) for r, c in enumerate(rival_counts) for _ in range(c)]
        rep[u, :len(values)] = values
    return datasets.majority_vote_curve(rep, np.zeros(unique.shape[0]))[inverse.ravel()]


def _answer_inputs(answers, reference):
    answers = as_float_array(answers, "answers")
    reference = as_float_array(reference, "reference").reshape(-1)
    if answers.ndim != 2 or answers.shape[0] == 0 or answers.shape[1] == 0:
        raise ValueError(
            f"answers must be a non-empty 2-D array of shape (n_queries, n_samples); got shape "
            f"{answers.shape}."
        )
    if reference.shape[0] != answers.shape[0]:
        raise ValueError(
            f"reference must have shape (n_queries,) = ({answers.shape[0]},) to match answers; "
            f"got {reference.shape[0]} entries."
        )
    if not np.isfinite(reference).all():
        rows = np.flatnonzero(~np.isfinite(reference))
        raise ValueError(
            f"reference contains NaN or infinite values at row(s) {row_list(rows)}; every query "
            "needs its true answer."
        )
    if np.isinf(answers).any():
        rows = np.flatnonzero(np.isinf(answers).any(axis=1))
        raise ValueError(
            f"answers contains infinite values in row(s) {row_list(rows)}; use NaN for a sample "
            "without an answer."
        )
    return answers, reference


def _check_max_budget(max_budget, available, what):
    if max_budget is None:
        return available
    max_budget = check_positive_int(max_budget, "max_budget")
    if max_budget > available:
        raise ValueError(
            f"max_budget={max_budget} exceeds {what} ({available}); an exact curve at budget k "
            "needs k stored samples."
        )
    return max_budget


def majority_vote_marginal_rewards(answers, reference, max_budget=None):
    """Exact marginal rewards of majority vote, ``Delta_k = curve_k - curve_{k-1}``.

    ``curve_k`` is the probability that majority vote over ``k`` of the
    stored samples (drawn without replacement) returns the reference answer
    (:func:`majority_vote_curve`), and ``curve_0 = 0`` (no sample, no
    answer), so ``Delta[:, 0]`` is the fraction of samples whose answer is
    correct and ``Delta[i, :b].sum()`` recovers ``curve_b``.

    Unlike best-of-k, these marginal rewards may be **negative** (when a
    wrong answer is the most frequent one, more votes make it win more
    often) and **non-monotone** (going from an odd to the next even number
    of samples adds ties: with two candidate answers ``Delta`` is exactly
    0 at every even ``k``, and the next odd ``k`` catches up). Allocating
    on them with :class:`skadapt.GreedyAllocator` or
    :func:`skadapt.allocation.greedy_allocate` projects each increasing row
    onto its closest non-increasing row, with a
    :class:`~skadapt.allocation.NonMonotoneRewardsWarning`; that projection
    equals the marginal rewards of the row's :func:`concave_envelope`, so
    the greedy then solves Eq. 5 on the envelope, and units with a negative
    marginal reward are never bought.

    Parameters
    ----------
    answers : array-like of shape (n_queries, n_samples)
        Extracted numeric answers of the stored samples; NaN where a sample
        has none (it abstains).
    reference : array-like of shape (n_queries,)
        True answers.
    max_budget : int, default=None
        Number of columns; ``None`` means ``n_samples``.

    Returns
    -------
    marginal_rewards : ndarray of shape (n_queries, max_budget)

    See Also
    --------
    majority_vote_curve : The curve itself.
    concave_envelope : The concave majorant an allocator effectively uses.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.selection import majority_vote_marginal_rewards
    >>> answers = np.array([[5, 5, 7, 7, 5],     # correct answer is the mode
    ...                     [7, 7, 7, 5, 8]])    # a wrong answer is the mode
    >>> majority_vote_marginal_rewards(answers, [5, 5]).round(3)
    array([[ 0.6,  0. ,  0.1,  0. ,  0.3],
           [ 0.2,  0. , -0.1, -0.1,  0. ]])
    """
    answers, reference = _answer_inputs(answers, reference)
    max_budget = _check_max_budget(max_budget, answers.shape[1], "the number of stored samples")
    curve = majority_vote_curve(answers, reference)[:, :max_budget]
    return np.diff(curve, axis=1, prepend=0.0)


def selection_curve(rule, outcomes=None, answers=None, reference=None, rewards=None, max_budget=None):
    """Exact expected quality of a selection rule at every budget ``k = 1..max_budget``.

    Parameters
    ----------
    rule : {"oracle", "best_of_k", "majority"}
        ``"oracle"``: probability that some of ``k`` samples is correct
        (pass@k), from ``outcomes``. ``"best_of_k"``: expected largest
        reward of ``k`` samples, from ``rewards``. ``"majority"``:
        probability that the majority vote of ``k`` samples is correct, from
        ``answers`` and ``reference``.
    outcomes : array-like of shape (n_queries, n_samples), default=None
        0/1 correctness of each stored sample (NaN = missing sample); for
        ``rule="oracle"``.
    answers : array-like of shape (n_queries, n_samples), default=None
        Extracted answers (NaN = none); for ``rule="majority"``.
    reference : array-like of shape (n_queries,), default=None
        True answers; for ``rule="majority"``.
    rewards : array-like of shape (n_queries, n_samples), default=None
        Real-valued rewards (NaN = missing sample); for ``rule="best_of_k"``.
    max_budget : int, default=None
        Largest budget; ``None`` means the smallest number of observed
        samples of any row (``n_samples`` for majority vote).

    Returns
    -------
    curve : ndarray of shape (n_queries, max_budget)
        ``curve[i, k - 1]`` is the expected quality of query ``i`` with ``k``
        samples. Its row differences are the marginal rewards of Eq. 5.

    Raises
    ------
    ValueError
        If ``rule`` is unknown, the input it needs is missing, or
        ``max_budget`` exceeds the samples available.

    See Also
    --------
    skadapt.targets.pass_at_k, skadapt.targets.expected_max_reward, majority_vote_curve

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.selection import selection_curve
    >>> outcomes = np.array([[1, 0, 0, 0]])
    >>> selection_curve("oracle", outcomes=outcomes)
    array([[0.25, 0.5 , 0.75, 1.  ]])
    >>> selection_curve("majority", answers=[[3, 4, 4, np.nan]], reference=[3]).round(3)
    array([[0.25 , 0.333, 0.25 , 0.   ]])
    """
    if rule not in SELECTION_RULES:
        raise ValueError(f"rule must be one of {SELECTION_RULES}; got {rule!r}.")
    if rule == "majority":
        if answers is None or reference is None:
            raise ValueError("rule='majority' needs answers and reference.")
        answers, reference = _answer_inputs(answers, reference)
        max_budget = _check_max_budget(max_budget, answers.shape[1], "the number of stored samples")
        return majority_vote_curve(answers, reference)[:, :max_budget]
    name = "outcomes" if rule == "oracle" else "rewards"
    R = outcomes if rule == "oracle" else rewards
    if R is None:
        raise ValueError(f"rule={rule!r} needs {name}.")
    from skadapt._validation import check_reward_matrix

    R, n_observed = check_reward_matrix(R, name=name, binary=rule == "oracle")
    max_budget = _check_max_budget(
        max_budget, int(n_observed.min()), f"the fewest observed samples of a row of {name}"
    )
    value = targets.pass_at_k if rule == "oracle" else targets.expected_max_reward
    return np.column_stack([value(R, k) for k in range(1, max_budget + 1)])


def concave_envelope(curve, *, marginal_rewards=False):
    """Least concave majorant of each row of a quality curve, with ``curve_0 = 0``.

    For a row ``c_1, ..., c_B`` this is the smallest concave function of the
    budget ``k = 0..B`` that lies above the points ``(0, 0), (1, c_1), ...,
    (B, c_B)``, evaluated at ``k = 1..B``. Its differences are non-increasing,
    so Eq. 5 on the envelope is solved exactly by the greedy rule.

    Its marginal rewards are exactly the isotonic (non-increasing)
    regression of the row's marginal rewards, the projection that
    :class:`skadapt.GreedyAllocator` (``kind="marginal"``, ``min_budget=0``)
    applies to a non-monotone row before allocating (a classical identity:
    the slopes of the least concave majorant of a cumulative-sum diagram
    are the antitonic regression of the increments). So allocating on
    ``concave_envelope(curve, marginal_rewards=True)`` is what the
    allocator does with the raw marginal rewards, without the warning.

    The envelope touches the curve at its *vertices*; between two vertices
    it is a chord above the curve. A budget that falls between vertices
    earns the curve's value, not the chord's: for majority vote with two
    candidate answers the vertices are the odd budgets, so prefer odd
    per-query budgets there (compare ``curve`` with the envelope to find
    them).

    Parameters
    ----------
    curve : array-like of shape (n_queries, max_budget)
        Expected quality at budgets ``1..max_budget`` (for example
        :func:`selection_curve`).
    marginal_rewards : bool, default=False
        Return the envelope's marginal rewards (its increments, with
        ``envelope_0 = 0``) instead of its values. They are exactly
        non-increasing in floating point, ready for
        :func:`skadapt.allocation.greedy_allocate`; differencing the values
        instead can leave rounding increases of 1e-17.

    Returns
    -------
    envelope : ndarray of shape (n_queries, max_budget)
        ``envelope >= curve``, concave along each row (with the origin), or
        its marginal rewards.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.selection import concave_envelope
    >>> concave_envelope([[0.6, 0.6, 0.7, 0.7, 1.0]])
    array([[0.6, 0.7, 0.8, 0.9, 1. ]])
    >>> concave_envelope([[0.6, 0.6, 0.7, 0.7, 1.0]], marginal_rewards=True)
    array([[0.6, 0.1, 0.1, 0.1, 0.1]])
    """
    curve = as_float_array(curve, "curve")
    if curve.ndim != 2 or curve.shape[0] == 0 or curve.shape[1] == 0:
        raise ValueError(
            f"curve must be a non-empty 2-D array of shape (n_queries, max_budget); got shape "
            f"{curve.shape}."
        )
    if not np.isfinite(curve).all():
        raise ValueError("curve contains NaN or infinite values.")
    delta = project_nonincreasing(np.diff(curve, axis=1, prepend=0.0))
    return delta if marginal_rewards else np.cumsum(delta, axis=1)
