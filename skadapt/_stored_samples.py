"""Stored samples, the worlds they are replayed in, and the scoring of a replay.

The data structure and the scoring shared by every policy of
:mod:`skadapt.feedback` (see its docstring for how the evaluation works). The
public names, :class:`StoredSamples` and :class:`FeedbackResult`, are imported
from :mod:`skadapt.feedback`.
"""

import itertools
import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from sklearn.utils import check_random_state

from skadapt import _greedy, targets
from skadapt._validation import InputTypeError, as_float_array, check_positive_int, row_list
from skadapt.selection import _answer_codes, majority_vote_curve

# Largest mean/min token log-probability accepted (0 up to rounding).
_LOGPROB_SLACK = 1e-4
_MAX_ALL_ORDERS = 5040  # 7!
_CHUNK = 512  # queries per chunk when drawing random orders
_EXCLUDED = -2.0  # marginal reward of a unit that must never be bought (the feedback policies)


# --------------------------------------------------------------------------
# Stored samples and the worlds they are replayed in
# --------------------------------------------------------------------------


def _matrix(values, name, shape=None, allow_nan=True, allow_neg_inf=False, like="the other sample arrays",
            maximum=None):
    array = as_float_array(values, name)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"{name} must be a non-empty 2-D array of shape (n_queries, n_samples); got shape "
            f"{array.shape}."
        )
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} must have shape {shape} like {like}; got {array.shape}.")
    bad = np.isposinf(array) if allow_neg_inf else np.isinf(array)
    if not allow_nan:
        bad |= np.isnan(array)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        what = "infinite" if allow_nan else "NaN or infinite"
        raise ValueError(f"{name} contains {what} values in row(s) {row_list(rows)}.")
    if maximum is not None:
        low, high = maximum
        out = (array < low) | (array > high)  # NaN compares False: missing stays allowed
        if out.any():
            rows = np.flatnonzero(out.any(axis=1))
            raise ValueError(
                f"{name} must lie in [{low:g}, {high:g}]; found {float(array[out][0])!r} in row(s) "
                f"{row_list(rows)}."
            )
    return array


class StoredSamples:
    """The ``m`` stored samples of ``n`` queries that feedback policies are replayed on.

    Holds, for every query, what a policy may look at (answers,
    log-probabilities, token counts) and what it is scored with (the oracle
    verifier's outcomes and the reference answer), together with the random
    sample orders ("worlds") every sequential policy is replayed in. All
    policies evaluated on one ``StoredSamples`` share its worlds (common
    random numbers), so their differences are estimated with little noise.
    The prefix statistics of the worlds are computed once, on first use.

    Parameters
    ----------
    outcomes : array-like of shape (n_queries, n_samples), default=None
        0/1 correctness of each sample under the oracle verifier. NaN (the
        verifier failed) counts as not verified, 0. ``None`` derives it from
        ``answers == reference``.
    answers : array-like of shape (n_queries, n_samples), default=None
        Extracted numeric answers, NaN where a sample has none. Needed for
        majority vote and for the policies that look at answers.
    reference : array-like of shape (n_queries,), default=None
        True answers; required with ``answers``. An answer within 1e-9 of
        it is correct.
    mean_logprob, min_logprob : array-like of shape (n_queries, n_samples), default=None
        Mean and minimum token log-probability of each sample (NaN = missing).
    n_tokens : array-like of shape (n_queries, n_samples), default=None
        Generated tokens of each sample.
    n_permutations : int or "all", default=64
        Number of random sample orders per query. ``"all"`` enumerates every
        order (``m!`` of them, ``m <= 7``), each query's list shuffled
        independently, so per-query policies are evaluated exactly.
    random_state : int, RandomState instance or None, default=0
        Seed of the sample orders.
    orders : array-like of shape (n_queries, n_worlds, n_samples), default=None
        Explicit sample orders (each a permutation of ``range(n_samples)``);
        overrides ``n_permutations``.

    Attributes
    ----------
    n_queries, n_samples, n_worlds : int
    outcomes : ndarray of shape (n_queries, n_samples)
        0/1 floats (NaN replaced by 0).

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples
    >>> answers = np.array([[3, 3, 4, np.nan], [7, 8, 9, 7]])
    >>> samples = StoredSamples(answers=answers, reference=[3, 7], n_permutations=8)
    >>> samples.n_queries, samples.n_samples, samples.n_worlds
    (2, 4, 8)
    >>> samples.outcomes
    array([[1., 1., 0., 0.],
           [1., 0., 0., 1.]])
    """

    def __init__(self, outcomes=None, answers=None, reference=None, *, mean_logprob=None,
                 min_logprob=None, n_tokens=None, n_permutations=64, random_state=0, orders=None):
        if outcomes is None and answers is None:
            raise ValueError("StoredSamples needs outcomes, or answers and reference.")
        shape = None
        self.answers = self.reference = self.codes = None
        if answers is not None:
            if reference is None:
                raise ValueError("answers needs reference (the true answer of each query).")
            self.answers = _matrix(answers, "answers")
            shape = self.answers.shape
            ref = as_float_array(reference, "reference").reshape(-1)
            if ref.shape[0] != shape[0]:
                raise ValueError(
                    f"reference must have shape (n_queries,) = ({shape[0]},); got {ref.shape[0]} entries."
                )
            self.reference = ref
            self.codes = _answer_codes(self.answers, ref)
        if outcomes is None:
            self.outcomes = (self.codes == 0).astype(np.float64)
        else:
            R = _matrix(outcomes, "outcomes", shape, like="answers")
            bad = ~np.isnan(R) & (R != 0) & (R != 1)
            if bad.any():
                raise ValueError(
                    f"outcomes must be 0, 1 or NaN; found {float(R[bad][0])!r} in row(s) "
                    f"{row_list(np.flatnonzero(bad.any(axis=1)))}."
                )
            self.outcomes = np.nan_to_num(R, nan=0.0)
        shape = self.outcomes.shape
        # log-probabilities are <= 0 (a little slack for rounding); token counts >= 0
        self.mean_logprob = None if mean_logprob is None else _matrix(
            mean_logprob, "mean_logprob", shape, allow_neg_inf=True, like="outcomes",
            maximum=(-np.inf, _LOGPROB_SLACK))
        self.min_logprob = None if min_logprob is None else _matrix(
            min_logprob, "min_logprob", shape, allow_neg_inf=True, like="outcomes",
            maximum=(-np.inf, _LOGPROB_SLACK))
        self.n_tokens = None if n_tokens is None else _matrix(
            n_tokens, "n_tokens", shape, like="outcomes", maximum=(0, np.inf))
        self.n_queries, self.n_samples = shape
        self.random_state = random_state
        self.n_permutations = n_permutations
        self.orders = self._make_orders(orders)
        self.n_worlds = self.orders.shape[1]
        self._prefix_cache = None
        self._cache = {}

    @classmethod
    def from_bunch(cls, data, rows=None, **kwargs):
        """Build from a :func:`skadapt.datasets.load_arithmetic`-style Bunch.

        Parameters
        ----------
        data : Bunch or dict
            With ``outcomes``, ``answers``, ``reference`` and optionally
            ``mean_logprob``, ``min_logprob``, ``n_tokens``.
        rows : array-like of int or bool, default=None
            Queries to keep (for example ``data.test_mask``).
        **kwargs
            ``n_permutations``, ``random_state``.

        Returns
        -------
        samples : StoredSamples
        """
        keys = ("outcomes", "answers", "reference", "mean_logprob", "min_logprob", "n_tokens")
        arrays = {}
        for key in keys:
            value = data.get(key) if hasattr(data, "get") else getattr(data, key, None)
            if value is not None and rows is not None:
                value = np.asarray(value)
                value = value[_check_rows(rows, value.shape[0])]
            arrays[key] = value
        for key in ("mean_logprob", "min_logprob"):
            if arrays[key] is not None and np.isnan(np.asarray(arrays[key], dtype=float)).all():
                arrays[key] = None  # collected without log-probabilities
        return cls(**arrays, **kwargs)

    def _make_orders(self, orders):
        n, m = self.n_queries, self.n_samples
        if orders is not None:
            orders = np.asarray(orders)
            if orders.ndim != 3 or orders.shape[0] != n or orders.shape[2] != m or orders.shape[1] == 0:
                raise ValueError(
                    f"orders must have shape (n_queries, n_worlds, n_samples) = ({n}, n_worlds, {m}); "
                    f"got {orders.shape}."
                )
            if not np.issubdtype(orders.dtype, np.integer) or not (
                    np.sort(orders, axis=2) == np.arange(m)).all():
                raise ValueError("orders must hold, for every query and world, a permutation of range(n_samples).")
            return orders.astype(np.int16)
        rng = check_random_state(self.random_state)
        if isinstance(self.n_permutations, str):
            if self.n_permutations != "all":
                raise ValueError(f"n_permutations must be a positive integer or 'all'; got {self.n_permutations!r}.")
            if math.factorial(m) > _MAX_ALL_ORDERS:
                raise ValueError(
                    f"n_permutations='all' needs n_samples! <= {_MAX_ALL_ORDERS} (n_samples <= 7); "
                    f"got n_samples={m}."
                )
            perms = np.array(list(itertools.permutations(range(m))), dtype=np.int16).reshape(-1, m)
            index = np.stack([rng.permutation(perms.shape[0]) for _ in range(n)])
            return perms[index]
        P = check_positive_int(self.n_permutations, "n_permutations")
        out = np.empty((n, P, m), dtype=np.int16)
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            out[start:stop] = rng.random_sample((stop - start, P, m)).argsort(axis=2)
        return out

    def subset(self, rows):
        """The queries ``rows``, with the same settings (and their own worlds).

        Parameters
        ----------
        rows : array-like of int or bool

        Returns
        -------
        samples : StoredSamples
        """
        rows = _check_rows(rows, self.n_queries)
        pick = (lambda a: None if a is None else a[rows])
        return StoredSamples(
            self.outcomes[rows], pick(self.answers), pick(self.reference),
            mean_logprob=pick(self.mean_logprob), min_logprob=pick(self.min_logprob),
            n_tokens=pick(self.n_tokens), n_permutations=self.n_permutations,
            random_state=self.random_state,
        )

    def curve(self, selection):
        """Exact quality of ``k = 1..n_samples`` samples drawn without replacement (cached).

        Parameters
        ----------
        selection : {"oracle", "majority"}

        Returns
        -------
        curve : ndarray of shape (n_queries, n_samples)
        """
        if selection not in self._cache:
            if selection == "oracle":
                R = self.outcomes
                c = np.column_stack([targets.pass_at_k(R, k) for k in range(1, self.n_samples + 1)])
            elif selection == "majority":
                self._need_answers("majority vote")
                c = majority_vote_curve(self.answers, self.reference)
            else:
                raise ValueError(f"selection must be 'oracle' or 'majority'; got {selection!r}.")
            self._cache[selection] = c
        return self._cache[selection]

    @property
    def selections(self):
        """Selection rules these samples can be scored with."""
        return ("oracle", "majority") if self.answers is not None else ("oracle",)

    def _need_answers(self, what):
        if self.answers is None:
            raise ValueError(f"{what} needs answers and reference in StoredSamples.")

    def _prefix(self):
        if self._prefix_cache is None:
            self._prefix_cache = _prefix_statistics(self.outcomes, self.codes, self.orders)
        return self._prefix_cache

    def _seen(self, values, t0, t1):
        """values (n, m) in the order of every world, positions t0..t1-1: (n, n_worlds, t1 - t0)."""
        idx = self.orders[:, :, t0:t1].astype(np.intp)
        return np.take_along_axis(values[:, None, :], idx, axis=2)

    def __repr__(self):
        return (f"StoredSamples(n_queries={self.n_queries}, n_samples={self.n_samples}, "
                f"n_worlds={self.n_worlds}, selections={self.selections})")


def _prefix_statistics(outcomes, codes, orders):
    """Everything a policy or the scoring needs about every prefix of every world.

    One pass over the draw positions keeps, per (query, world), the count of
    every answer and updates in O(1): the top two counts with "no answer" as
    a candidate (Adaptive-Consistency), the top two counts of real answers,
    and the majority-vote state (how many wrong answers tie the reference's
    count, or that the reference is not among the leaders). This works
    because a count only ever grows by one.
    """
    n, P, m = orders.shape
    rows = n * P
    order = orders.reshape(rows, m).astype(np.intp)
    query = np.repeat(np.arange(n), P)[:, None]
    hit = outcomes[query, order] > 0.5
    stats = {"first_correct": np.where(hit.any(axis=1), hit.argmax(axis=1), m).reshape(n, P)}
    if codes is None:
        return stats
    pc = codes[query, order]
    none = m + 1
    counts = np.zeros((rows, m + 2), dtype=np.int16)
    ar = np.arange(rows)
    ac1, ac2, mv1, mv2 = (np.zeros(rows, dtype=np.int16) for _ in range(4))
    best_rival = np.zeros(rows, dtype=np.int16)
    n_best_rivals = np.zeros(rows, dtype=np.int16)
    keep = {key: np.zeros((rows, m + 1), dtype=np.int16) for key in ("ac1", "ac2", "mv1", "mv2", "ties")}
    keep["ties"][:, 0] = -1
    for t in range(m):
        x = pc[:, t]
        counts[ar, x] += 1
        c = counts[ar, x]
        # a count that passes the top count belonged to a leader, so the runner-up is unchanged
        up = c > ac1
        ac2 = np.where(up, ac2, np.maximum(ac2, c))
        ac1 = np.where(up, c, ac1)
        cp = np.where(x != none, c, 0)
        up = cp > mv1
        mv2 = np.where(up, mv2, np.maximum(mv2, cp))
        mv1 = np.where(up, cp, mv1)
        rival = (x != none) & (x != 0)
        cr = np.where(rival, c, 0)
        n_best_rivals = np.where(cr > best_rival, 1,
                                 np.where(rival & (cr == best_rival), n_best_rivals + 1, n_best_rivals))
        best_rival = np.maximum(best_rival, cr)
        c0 = counts[:, 0]
        ties = np.where(c0 > best_rival, 0, np.where((c0 == best_rival) & (c0 > 0), n_best_rivals, -1))
        for key, value in (("ac1", ac1), ("ac2", ac2), ("mv1", mv1), ("mv2", mv2), ("ties", ties)):
            keep[key][:, t + 1] = value
    stats.update({key: value.reshape(n, P, m + 1) for key, value in keep.items()})
    return stats


# --------------------------------------------------------------------------
# Results and scoring
# --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FeedbackResult:
    """What a policy achieved on stored samples.

    Attributes
    ----------
    policy : str
        Name of the policy.
    quality_per_query : dict of str to ndarray of shape (n_queries,)
        Expected quality of each query under each selection rule
        (``"oracle"``, and ``"majority"`` when answers are stored).
    samples_used : ndarray of shape (n_queries,)
        Expected number of samples drawn for each query.
    rounds : float
        Sequential generation steps the batch needs (a round of parallel
        draws is one step; a one-at-a-time policy needs as many steps as its
        longest query), averaged over the worlds.
    total_samples : ndarray of shape (n_worlds,)
        Samples drawn for the whole batch in each world (one entry when the
        evaluation is exact): a fixed-budget policy never exceeds its budget
        in any world.
    evaluation : {"exact", "permutations"}
        Closed form, or the average over the worlds of the samples.
    params : dict
        The policy's parameters.
    """

    policy: str
    quality_per_query: dict
    samples_used: np.ndarray
    rounds: float
    total_samples: np.ndarray
    evaluation: str
    params: dict = field(default_factory=dict)

    @property
    def quality(self):
        """Mean quality over queries, per selection rule."""
        return {key: float(np.mean(value)) for key, value in self.quality_per_query.items()}

    @property
    def avg_samples(self):
        """Average samples per query."""
        return float(np.mean(self.samples_used))

    def __repr__(self):
        quality = ", ".join(f"{k}={v:.4f}" for k, v in self.quality.items())
        return (f"FeedbackResult(policy={self.policy!r}, avg_samples={self.avg_samples:.3f}, "
                f"{quality}, rounds={self.rounds:.2f})")


def _check_rows(rows, n, name="rows"):
    """Row indices (int or a boolean mask of length n) as an int array, checked."""
    rows = np.asarray(rows)
    if rows.dtype == bool:
        if rows.shape != (n,):
            raise ValueError(f"{name} as a boolean mask must have shape ({n},); got {rows.shape}.")
        rows = np.flatnonzero(rows)
    elif rows.size == 0:
        rows = rows.astype(np.intp)
    elif rows.dtype.kind not in "iu":
        raise InputTypeError(f"{name} must hold integer indices or a boolean mask; got dtype {rows.dtype}.")
    if rows.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {rows.shape}.")
    if rows.size == 0:
        raise ValueError(f"{name} is empty: keep at least one query.")
    bad = (rows < -n) | (rows >= n)
    if bad.any():
        raise ValueError(f"{name} holds {int(rows[bad][0])}, outside the {n} queries.")
    return rows


def _check_samples(samples):
    if not isinstance(samples, StoredSamples):
        raise InputTypeError(
            f"samples must be a StoredSamples instance (skadapt.feedback.StoredSamples); got "
            f"{type(samples).__name__}."
        )
    return samples


def _replayed(policy, samples, drawn, rounds, params):
    """Score a policy that drew the first ``drawn[i, p]`` samples of query i in world p."""
    stats = samples._prefix()
    quality = {"oracle": (drawn > stats["first_correct"]).mean(axis=1)}
    if samples.codes is not None:
        ties = np.take_along_axis(stats["ties"], drawn[:, :, None].astype(np.intp), axis=2)[:, :, 0]
        quality["majority"] = np.where(ties >= 0, 1.0 / (np.maximum(ties, 0) + 1.0), 0.0).mean(axis=1)
    return FeedbackResult(policy, quality, drawn.mean(axis=1), float(np.mean(rounds)),
                          drawn.sum(axis=0), "permutations", params)


def _exact(policy, samples, budgets, params, curves=None):
    """Score budgets fixed before any sample with the exact curves (budget 0 scores 0)."""
    quality = {}
    rows = np.arange(samples.n_queries)
    for selection in samples.selections:
        curve = samples.curve(selection) if curves is None else curves[selection]
        quality[selection] = np.where(budgets > 0, curve[rows, np.maximum(budgets, 1) - 1], 0.0)
    rounds = 1.0 if budgets.any() else 0.0
    return FeedbackResult(policy, quality, budgets.astype(np.float64), rounds,
                          np.array([budgets.sum()]), "exact", params)


def _check_budget(budget, low, high, n, name="budget"):
    if isinstance(budget, (bool, np.bool_)) or not isinstance(budget, numbers.Real):
        raise InputTypeError(f"{name} must be a finite number; got {budget!r}.")
    if not math.isfinite(budget):
        raise ValueError(f"{name} must be a finite number; got {budget!r}.")
    if not low <= budget <= high:
        raise ValueError(f"{name}={budget} must lie in [{low}, {high}] (samples per query).")
    return _greedy.total_units(budget, n)


def _check_cap(max_budget, m, name="max_budget", low=1):
    if max_budget is None:
        return m
    cap = check_positive_int(max_budget, name)
    if cap > m or cap < low:
        raise ValueError(f"{name}={cap} must lie in [{low}, {m}] (the stored samples per query).")
    return cap
