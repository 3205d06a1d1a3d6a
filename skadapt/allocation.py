"""Allocating compute budgets from predicted marginal rewards (section 3.2, Eq. 5).

Eq. 5 of the paper chooses one budget ``b_i`` per query to maximise the
expected total reward ``sum_i sum_{j <= b_i} Delta[i, j]`` subject to
``sum_i b_i <= floor(budget * n)`` and ``min_budget <= b_i <= max_budget``.

* :func:`greedy_allocate` and :func:`greedy_allocate_success_prob` solve it
  exactly for one batch (the *online* variant); :class:`GreedyAllocator`
  wraps them as a scikit-learn transformer.
* :class:`BinnedAllocator` is the *offline* variant: it learns one budget per
  bin of predicted first marginal reward on held-out data and maps each new
  query to its bin's budget without seeing the rest of the batch. Its
  spend guard (:class:`BudgetOverrunWarning`) reports when the predictions
  drift away from the held-out mix, and its pacing mode holds the realized
  average spend at ``budget`` across calls. Both allocators have a price
  mode (``price=``), the Lagrangian dual of Eq. 5: every unit worth at least
  the price is bought, a query (or a bin) at a time.

Routing between a weak and a strong decoder is the special case
``max_budget=1, min_budget=0``: ``budget`` is then the fraction of queries
sent to the strong decoder. See ``docs/allocation.md``.
"""

import math
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from skadapt import _greedy
from skadapt._allocator_base import _COMMON_CONSTRAINTS, _AllocatorMixin, _check_price
# BinnedAllocator lives in its own module; _SpendAccount is imported too so that
# pickles and skadapt.persistence folders naming skadapt.allocation._SpendAccount load
from skadapt._binned_allocator import BinnedAllocator, BudgetOverrunWarning, _SpendAccount  # noqa: F401
from skadapt._compat import (
    Interval,
    StrOptions,
    check_is_fitted,
    validate_data,
)
from skadapt._validation import (
    InputTypeError,
    as_float_array,
    check_nonnegative_int,
    check_positive_int,
    check_probabilities,
    format_value,
    naming_non_numeric,
    reject_complex,
    row_list,
)
from skadapt._versioning import VersionedPickleMixin

__all__ = [
    "greedy_allocate",
    "greedy_allocate_success_prob",
    "GreedyAllocator",
    "BinnedAllocator",
    "NonMonotoneRewardsWarning",
    "BudgetOverrunWarning",
]


class NonMonotoneRewardsWarning(UserWarning):
    """Rows of marginal rewards increased and were projected onto non-increasing rows.

    Eq. 5 is solved exactly by the greedy rule only when each row of marginal
    rewards is non-increasing (diminishing returns). A row that increases
    somewhere is replaced by its closest non-increasing row in the L2 sense
    (isotonic regression, pool-adjacent-violators) before allocating, and
    this warning says how many rows were affected.
    """


def _check_total(total_budget, n, min_budget, max_budget):
    if isinstance(total_budget, (bool, np.bool_)) or not isinstance(total_budget, numbers.Real):
        raise InputTypeError(f"total_budget must be a real number >= 0; got {total_budget!r}.")
    if not math.isfinite(float(total_budget)) or total_budget < 0:
        raise ValueError(f"total_budget must be a finite number >= 0; got {total_budget!r}.")
    if total_budget >= n * max_budget + 1:  # before rounding: a huge value is shown as given
        raise ValueError(
            f"total_budget={format_value(total_budget)} units exceeds n_queries * max_budget = "
            f"{n} * {max_budget} = {n * max_budget}: lower total_budget or raise max_budget."
        )
    total = _greedy.total_units(total_budget, 1)
    if total < n * min_budget:
        raise ValueError(
            f"total_budget={total} units is less than n_queries * min_budget = {n} * {min_budget} "
            f"= {n * min_budget}: every query must get at least min_budget units."
        )
    if total > n * max_budget:
        raise ValueError(
            f"total_budget={total} units exceeds n_queries * max_budget = {n} * {max_budget} "
            f"= {n * max_budget}: lower total_budget or raise max_budget."
        )
    return total


def _monotone_eligible(delta, min_budget):
    """Project the part of each row after the min_budget forced units, warning once."""
    eligible = delta[:, min_budget:]
    rows, largest = _greedy.nonincreasing_violations(eligible)
    if rows.size == 0:
        return delta
    warnings.warn(
        f"{rows.size} of {delta.shape[0]} rows of marginal rewards increase along the budget "
        f"axis (largest increase {largest:.3g}, row(s) {row_list(rows)}); Eq. 5 assumes "
        "diminishing returns, so each such row was replaced by its closest non-increasing "
        "row (isotonic regression) before allocating. See docs/allocation.md.",
        NonMonotoneRewardsWarning,
        stacklevel=3,
    )
    delta = delta.copy()
    delta[rows, min_budget:] = _greedy.project_nonincreasing(eligible[rows])
    return delta


def _as_marginal_matrix(marginal_rewards):
    delta = as_float_array(marginal_rewards, "marginal_rewards")
    if delta.ndim != 2:
        raise ValueError(
            "marginal_rewards must be a 2-D array of shape (n_queries, max_budget); got "
            f"shape {delta.shape}."
        )
    if delta.shape[0] == 0 or delta.shape[1] == 0:
        raise ValueError(f"marginal_rewards is empty (shape {delta.shape}).")
    if not np.isfinite(delta).all():
        rows = np.flatnonzero(~np.isfinite(delta).all(axis=1))
        raise ValueError(f"marginal_rewards contains NaN or infinite values in row(s) {row_list(rows)}.")
    return delta


def greedy_allocate(marginal_rewards, total_budget, *, min_budget=0):
    """Exact optimum of Eq. 5 for one batch of predicted marginal rewards.

    Every query first receives ``min_budget`` units; the remaining units go
    to the largest remaining marginal rewards, which is optimal because each
    row is non-increasing. Units with a negative marginal reward are never
    bought (beyond ``min_budget``), so fewer than ``total_budget`` units may
    be spent; units worth exactly zero are bought.

    The solution is found in O(n * max_budget) time by selecting the
    threshold marginal reward with ``np.partition`` (no heap). Ties at the
    threshold are settled deterministically: the unit with the smaller unit
    index ``j`` first, then the query with the smaller row index. Hence
    permuting the rows permutes the budgets, except among queries whose
    units tie exactly at the threshold: those receive the same multiset of
    budgets (differing by at most one), in row order.

    Parameters
    ----------
    marginal_rewards : array-like of shape (n_queries, max_budget)
        ``marginal_rewards[i, j - 1]`` is the expected gain of the j-th unit of
        compute for query ``i``. Rows should be non-increasing from column
        ``min_budget`` on; a row that is not is projected onto the closest
        non-increasing row (isotonic regression) with a
        :class:`NonMonotoneRewardsWarning`. Negative values are allowed.
    total_budget : int or float
        Total number of units for the batch (``B * n`` in Eq. 5). A
        non-integer value is rounded down.
    min_budget : int, default=0
        Units every query receives, whatever its marginal rewards.

    Returns
    -------
    budgets : ndarray of shape (n_queries,), int64
        ``min_budget <= budgets <= max_budget`` and ``budgets.sum() <= total_budget``.

    Raises
    ------
    ValueError
        If ``marginal_rewards`` is not a non-empty finite 2-D array, or
        ``total_budget`` is outside ``[n * min_budget, n * max_budget]``, or
        ``min_budget > max_budget``.

    See Also
    --------
    greedy_allocate_success_prob : The same for best-of-k with binary rewards.
    GreedyAllocator : Transformer wrapper.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.allocation import greedy_allocate
    >>> delta = np.array([[0.5, 0.25, 0.125],
    ...                   [0.9, 0.05, 0.0],
    ...                   [0.3, 0.2, 0.1]])
    >>> greedy_allocate(delta, 5)
    array([2, 1, 2])
    >>> greedy_allocate(delta, 6, min_budget=1)
    array([3, 1, 2])
    """
    delta = _as_marginal_matrix(marginal_rewards)
    n, max_budget = delta.shape
    min_budget = check_nonnegative_int(min_budget, "min_budget")
    if min_budget > max_budget:
        raise ValueError(
            f"min_budget={min_budget} exceeds max_budget={max_budget} (the number of columns "
            "of marginal_rewards)."
        )
    total = _check_total(total_budget, n, min_budget, max_budget)
    delta = _monotone_eligible(delta, min_budget)
    return _greedy.allocate_matrix(delta, total, min_budget)


def greedy_allocate_success_prob(success_prob, total_budget, *, max_budget, min_budget=0):
    """Exact optimum of Eq. 5 for best-of-k with binary rewards.

    With single-sample success probability ``lam``, the marginal reward of the
    j-th sample is ``lam * (1 - lam)**(j - 1)`` (section 3.3), non-increasing
    in ``j``. The (n, max_budget) matrix is never built: units are ranked by
    their log marginal reward ``log(lam) + (j - 1) * log1p(-lam)``, the
    number of units of a query above a threshold has a closed form, and the
    threshold is found by a bracketing search. Time is about linear in n and
    memory O(n) whatever ``max_budget``. Queries with ``lam == 0`` have only
    zero marginal rewards; such units are bought last, evenly. Ties are
    settled as in :func:`greedy_allocate`.

    Comparisons use the log marginal rewards, so this function agrees with
    ``greedy_allocate(lam * (1 - lam)**arange(max_budget), ...)`` except where
    two different queries' marginal rewards differ by a rounding error
    (then either choice is optimal to within that rounding error), and
    except that it still ranks marginal rewards that underflow to 0.0 as
    the positive numbers they are.

    Parameters
    ----------
    success_prob : array-like of shape (n_queries,) or (n_queries, 1)
        Predicted single-sample success probabilities in [0, 1].
    total_budget : int or float
        Total number of samples for the batch; a non-integer value is rounded
        down.
    max_budget : int
        Largest budget of one query (``B_max``).
    min_budget : int, default=0
        Samples every query receives.

    Returns
    -------
    budgets : ndarray of shape (n_queries,), int64

    Raises
    ------
    ValueError
        If ``success_prob`` is empty, not finite or outside [0, 1], or the
        budget bounds are inconsistent.

    See Also
    --------
    greedy_allocate : For an explicit matrix of marginal rewards.
    skadapt.targets.geometric_marginal_rewards : The implied matrix.

    Examples
    --------
    >>> from skadapt.allocation import greedy_allocate_success_prob
    >>> greedy_allocate_success_prob([0.9, 0.5, 0.1, 0.0], 8, max_budget=4)
    array([2, 3, 3, 0])
    """
    lam = check_probabilities(success_prob, name="success_prob")
    max_budget = check_positive_int(max_budget, "max_budget")
    min_budget = check_nonnegative_int(min_budget, "min_budget")
    if min_budget > max_budget:
        raise ValueError(f"min_budget={min_budget} exceeds max_budget={max_budget}.")
    total = _check_total(total_budget, lam.shape[0], min_budget, max_budget)
    return _greedy.allocate_geometric(lam, total, max_budget, min_budget)


class GreedyAllocator(VersionedPickleMixin, _AllocatorMixin, TransformerMixin, BaseEstimator):
    """Online allocation: the exact optimum of Eq. 5 for each batch passed to ``transform``.

    ``transform`` receives the predicted marginal rewards of a batch of
    ``n`` queries and returns each query's budget, spending
    ``floor(budget * n)`` units in total whenever the bounds allow it
    (never a unit with a negative marginal reward). This is the paper's
    "Online Ada-BoK" and, with ``max_budget=1``, its online routing.

    Parameters
    ----------
    budget : float, default=1.0
        Average budget per query, ``B`` in Eq. 5: a batch of ``n`` queries
        receives ``floor(budget * n)`` units (computed with a relative
        tolerance of 1e-12, so that 0.29 * 100 gives 29). Must lie in
        ``[min_budget, max_budget]``. For routing (``max_budget=1``) it is the
        fraction of queries sent to the strong decoder.
    max_budget : int, default=None
        Largest budget of one query. With ``kind="marginal"``, None means the
        number of columns of ``X``; a smaller value uses only the first
        ``max_budget`` columns. With ``kind="success_prob"`` it is required
        (there is no natural cap; the paper's ``B_max``).
    min_budget : int, default=0
        Budget every query receives (the paper uses 1 for chat, where an
        empty answer is not acceptable, and 0 for math and code, where "I
        don't know" is).
    kind : {"marginal", "success_prob"}, default="marginal"
        What ``X`` holds. ``"marginal"``: an (n, max_budget) matrix of
        predicted marginal rewards ``Delta[i, j-1]``, non-increasing along
        each row (e.g. from :class:`skadapt.MarginalRewardRegressor`).
        ``"success_prob"``: one column of predicted single-sample success
        probabilities (e.g. from :class:`skadapt.SuccessProbClassifier`),
        whose marginal rewards ``lam * (1 - lam)**(j - 1)`` are implied and
        never materialised.
    price : float, "fit" or None, default=None
        Price mode, the Lagrangian dual of Eq. 5: each query gets
        ``min_budget`` units plus every later unit whose predicted marginal
        reward is *at least* ``price`` (a unit worth exactly the price is
        bought), up to ``max_budget``. Each query is decided on its own, so
        queries may come one at a time (a stream). A number ``>= 0`` is used
        as given and ``budget`` is ignored (not even checked against the
        bounds). ``"fit"`` learns ``price_`` in ``fit``: the smallest price at
        which the queries given to ``fit`` (held-out predictions from the
        mix the stream will follow) spend at most ``floor(budget * n)``
        units; new queries then spend about ``budget`` each on average.
        None (default): exact batch allocation of ``budget``.

    Attributes
    ----------
    n_features_in_ : int
        Number of columns of ``X`` seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of ``X`` when it was a DataFrame with string column names.
    max_budget_ : int
        The per-query maximum resolved in ``fit``.
    price_ : float
        Only with ``price`` set: the price learnt in ``fit`` (``price="fit"``)
        or the ``price`` given to ``fit``.

    See Also
    --------
    BinnedAllocator : Offline variant; budgets independent of the batch.
    BudgetSearchCV : Chooses ``budget`` (or the price) by cross-validation.
    greedy_allocate : The function behind ``kind="marginal"``.
    greedy_allocate_success_prob : The function behind ``kind="success_prob"``.

    Notes
    -----
    The budgets of a query depend on the rest of the batch (that is the
    point of online allocation), so ``transform`` of a subset of rows differs
    from the same rows of ``transform`` of the whole batch. ``fit`` only
    validates and records the input shape; ``transform`` checks the
    parameters again and uses their current values, so a ``set_params``
    after ``fit`` takes effect (and an impossible one, such as a negative
    ``budget`` or ``min_budget > max_budget``, raises).

    Rows of marginal rewards that increase somewhere (beyond the
    ``min_budget`` forced units) are projected onto the closest
    non-increasing row (isotonic regression), with a
    :class:`NonMonotoneRewardsWarning`: for such rows the greedy rule would
    not solve Eq. 5, and a silently wrong allocation is worse than a
    documented projection.

    Ties are settled deterministically (smaller unit index first, then
    smaller row index), so permuting the rows permutes the budgets except
    among queries tied exactly at the threshold marginal reward.

    Price mode and batch mode agree: on a batch, the price learnt with
    ``price="fit"`` from that batch gives the same budgets as the batch
    greedy at the same ``budget``, unless a unit the greedy left out is worth
    exactly as much as one it bought (a tie at the threshold); the price
    mode then buys neither of the tied units' values, spending less (it
    cannot split a tie without looking at the batch). With ``price="fit"``,
    ``transform`` refuses a ``budget`` changed by ``set_params`` since
    ``fit``: the price was learnt for the old one.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt import GreedyAllocator
    >>> lam = np.array([[0.9], [0.5], [0.1], [0.0]])
    >>> GreedyAllocator(budget=2, max_budget=4, kind="success_prob").fit_transform(lam).ravel()
    array([2, 3, 3, 0])

    Routing: send the half of the queries with the largest predicted gain
    to the strong decoder.

    >>> gain = np.array([[0.1], [0.4], [0.3], [0.0]])
    >>> GreedyAllocator(budget=0.5, max_budget=1).fit_transform(gain).ravel()
    array([0, 1, 1, 0])

    A price per query for a stream: learn the price that spends 2 samples per
    query on held-out predictions, then decide each new query alone.

    >>> held_out = np.random.default_rng(0).uniform(size=(1000, 1))
    >>> alloc = GreedyAllocator(budget=2, max_budget=8, kind="success_prob", price="fit")
    >>> round(alloc.fit(held_out).price_, 3)
    0.118
    >>> alloc.transform([[0.3]]).ravel()
    array([3])
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "price": [None, Interval(numbers.Real, 0, None, closed="left"), StrOptions({"fit"})],
    }

    def __init__(self, budget=1.0, *, max_budget=None, min_budget=0, kind="marginal", price=None):
        self.budget = budget
        self.max_budget = max_budget
        self.min_budget = min_budget
        self.kind = kind
        self.price = price

    @property
    def _fit_needs_held_out(self):
        # fit learns from the values of X only for price="fit"; otherwise it checks
        # their shape, so a probe before it need not cross-fit (see
        # skadapt._cross_fit.fit_needs_held_out and skadapt.policy.make_policy)
        return self.price == "fit"

    def fit(self, X, y=None):
        """Validate the parameters and record the shape of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Predicted marginal rewards (``kind="marginal"``) or success
            probabilities (``kind="success_prob"``, one column).
        y : None
            Ignored.

        Returns
        -------
        self : GreedyAllocator
        """
        self._validate_params()
        reject_complex(X)
        with naming_non_numeric(X):  # validate_data's message names no argument
            X = validate_data(self, X, dtype=np.float64)
        self.max_budget_ = self._resolve_bounds(X)
        if self.price == "fit":
            self.price_ = self._fit_price(X, self.max_budget_)
            self._fitted_budget = self.budget
        elif self.price is not None:
            self.price_ = _check_price(self.price)
        else:
            # a refit in budget mode must not keep the price of an earlier fit
            self.__dict__.pop("price_", None)
        return self

    def _fit_price(self, X, max_budget):
        """The smallest price at which ``X`` spends at most ``floor(budget * n)`` units."""
        n = X.shape[0]
        total = _greedy.total_units(self.budget, n)
        min_budget = self.min_budget
        if self.kind == "success_prob":
            lam = X[:, 0]
            budgets = _greedy.allocate_geometric(lam, total, max_budget, min_budget)
            with np.errstate(under="ignore"):
                value = lam * np.power(1.0 - lam, budgets.astype(np.float64))
            values_next = np.where(budgets < max_budget, value, -np.inf)

            def count_at(price):
                return int(_greedy.price_counts_geometric(lam, price, max_budget, min_budget).sum())
        else:
            delta = _monotone_eligible(X[:, :max_budget], min_budget)
            budgets = _greedy.allocate_matrix(delta, total, min_budget)
            values_next = np.full(n, -np.inf)
            rows = np.flatnonzero(budgets < max_budget)
            values_next[rows] = delta[rows, budgets[rows]]

            def count_at(price):
                return int(_greedy.price_counts_matrix(delta, price, min_budget).sum())

        return _greedy.fit_price(count_at, budgets, values_next, total)

    def transform(self, X):
        """Budgets of the batch ``X``: an exact optimum of Eq. 5.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features_in_)
            The batch.

        Returns
        -------
        budgets : ndarray of shape (n_queries, 1), int64
            One budget per query; the column sum is at most
            ``floor(budget * n_queries)``.
        """
        check_is_fitted(self)
        max_budget = self._bounds_at_transform()
        reject_complex(X)
        with naming_non_numeric(X):  # validate_data's message names no argument
            X = validate_data(self, X, dtype=np.float64, reset=False)
        self._check_transform_input(X)
        if self.price is not None:
            return self._price_budgets(X, max_budget).reshape(-1, 1)
        total = _greedy.total_units(self.budget, X.shape[0])
        if self.kind == "success_prob":
            budgets = _greedy.allocate_geometric(X[:, 0], total, max_budget, self.min_budget)
        else:
            delta = _monotone_eligible(X[:, :max_budget], self.min_budget)
            budgets = _greedy.allocate_matrix(delta, total, self.min_budget)
        return budgets.reshape(-1, 1)

    def _price_budgets(self, X, max_budget):
        if self.price == "fit":
            if self.budget != self._fitted_budget:
                raise ValueError(
                    f"budget changed since fit ({self._fitted_budget!r} -> {self.budget!r}) with "
                    "price='fit': price_ was learnt for the old budget. Call fit again."
                )
            price = self.price_
        else:
            price = _check_price(self.price)
        if self.kind == "success_prob":
            return _greedy.price_counts_geometric(X[:, 0], price, max_budget, self.min_budget)
        delta = _monotone_eligible(X[:, :max_budget], self.min_budget)
        return _greedy.price_counts_matrix(delta, price, self.min_budget)
