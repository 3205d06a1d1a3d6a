"""Offline allocation (section 3.2): :class:`~skadapt.allocation.BinnedAllocator`.

One budget per bin of predicted first marginal reward, learnt on held-out
queries, with the spend guard (:class:`~skadapt.allocation.BudgetOverrunWarning`)
and the pacing state (``_SpendAccount``). The bin-constrained solver itself is
:mod:`skadapt._binned`. Public names are imported from :mod:`skadapt.allocation`.
"""

import dataclasses
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Bunch, check_consistent_length

from skadapt import _binned, _greedy
from skadapt._allocator_base import _COMMON_CONSTRAINTS, _AllocatorMixin, _check_price, _fixed_price
from skadapt._compat import (
    Interval,
    StrOptions,
    check_is_fitted,
    validate_data,
)
from skadapt._validation import (
    as_float_array,
    check_array_memory,
    check_reward_matrix,
    format_value,
    naming_non_numeric,
    reject_complex,
)
from skadapt._versioning import VersionedPickleMixin


class BudgetOverrunWarning(UserWarning):
    """A :class:`BinnedAllocator` spent clearly more or less than its ``budget``.

    The offline allocator meets ``budget`` only in expectation over the
    held-out predictions it was fitted on. When the predictions passed to
    ``transform`` come from another mix (drift), the realized average spend
    moves away from ``budget``. This warning reports the realized average
    and the budget; the remedies are to refit on recent predictions or to
    turn on ``pacing``. In price mode (``price`` set) the reference is the
    held-out spend at the price, ``expected_budget_``, instead of
    ``budget``. See the ``spend_tolerance`` parameter.
    """


# With kind="success_prob", BinnedAllocator.fit makes one pass over the queries
# per unit of max_budget: beyond these (units; queries x units) it would take
# minutes, and it refuses.
_MAX_GEOMETRIC_UNITS = 1 << 17
_MAX_GEOMETRIC_WORK = 2 * 10**9


class BinnedAllocator(VersionedPickleMixin, _AllocatorMixin, TransformerMixin, BaseEstimator):
    """Offline allocation: one budget per bin of predicted first marginal reward.

    ``fit`` on held-out queries divides them into bins by their predicted
    first marginal reward (for ``kind="success_prob"`` that is the success
    probability itself) and solves Eq. 5 with the extra constraint that all
    queries of a bin get the same budget, *exactly* (a small knapsack,
    solved by dynamic programming). ``transform`` then maps each query to the
    budget of its bin, independently of the rest of the batch; the average
    budget matches ``budget`` in expectation when new queries follow the
    held-out distribution (section 3.2, "Offline allocation").

    When ``fit`` also receives the held-out reward matrix ``y``, each bin
    uses the empirical marginal rewards of its queries (the exact unbiased
    estimates of :func:`skadapt.targets.marginal_rewards`; pass@k
    differences for binary rewards) instead of the predicted ones, which
    corrects a miscalibrated probe: only the ranking of the predictions
    matters then.

    Parameters
    ----------
    budget : float, default=1.0
        Average budget per held-out query; the fit data receive at most
        ``floor(budget * n)`` units. Must lie in ``[min_budget, max_budget]``.
        Ignored at a fixed ``price`` (not even checked).
    n_bins : int, default=10
        Largest number of bins. Fewer bins remain when quantile edges
        coincide (many equal predictions) or a uniform bin is empty.
    strategy : {"quantile", "uniform"}, default="quantile"
        Bins with (about) equally many held-out queries, or of equal width
        in the first marginal reward.
    max_budget : int, default=None
        Largest budget of one query; as in :class:`GreedyAllocator`.
    min_budget : int, default=0
        Budget every query receives.
    kind : {"marginal", "success_prob"}, default="marginal"
        What ``X`` holds; as in :class:`GreedyAllocator`.
    spend_tolerance : float or None, default=0.05
        Spend guard: ``transform`` emits a :class:`BudgetOverrunWarning` when
        the realized average spend leaves ``budget`` by more than
        ``spend_tolerance * budget`` plus the sampling error of the queries
        averaged (three standard deviations of the held-out budgets over
        ``sqrt(m)`` for ``m`` queries, so that a call of one query, whose
        budget is its bin's and far from the average, does not warn while a
        drifted batch does). Without pacing, the average of each call is
        checked. With pacing, the running average since ``fit`` or
        :meth:`reset_pacing` is checked whenever a call's promised spend is
        out of reach of any price (every unit worth at least 0 is bought, or
        the ``min_budget`` units alone exceed it); a deficit that pacing is
        still paying back does not warn. In price mode (``price`` set) there
        is no promised budget: the average is compared with
        ``expected_budget_``, the held-out spend at ``price_``, so the guard
        reports a stream whose mix left the held-out one. None turns the
        guard off.
    pacing : bool, default=False
        Hold the realized average spend at ``budget`` across successive
        ``transform`` calls, even when the predictions drift away from the
        held-out mix. Each call then re-chooses the bins' budgets: it buys
        the bins' units in decreasing order of their ironed mean marginal
        reward (a falling *price*) while the call's expected spend fits what
        a running account promises it (``budget`` per query, plus or minus
        the account's surplus or deficit so far). A bin whose next unit would
        not fit stops there; cheaper units of other bins may still fill the
        rest. Each query's budget depends only on its own bin and the call's
        decision, so queries may come one at a time, and no outcome is
        needed. This makes ``transform`` stateful: see Notes. Cannot be
        combined with ``price`` (a ``ValueError`` names both): pacing moves
        the price, price mode holds it fixed.
    pacing_window : int, default=50
        With ``pacing``, the number of queries over which a surplus or
        deficit of the account is paid back, and the number of recent
        queries whose bins estimate the current mix of predictions. A call
        of at least ``pacing_window`` queries settles the account at once,
        using only its own predictions; smaller calls (down to one query)
        move the price gradually.
    price : float, "fit" or None, default=None
        Price mode, the Lagrangian dual of the bin-constrained Eq. 5: each
        bin's budget is ``min_budget`` plus every later unit whose bin value
        (the bin's mean marginal reward on the fit data, ironed to be
        non-increasing: the values pacing buys by; empirical when ``y`` is
        given) is *at least* ``price`` (a unit worth exactly the price is
        bought), up to ``max_budget``. A number ``>= 0`` is used as given and
        ``budget`` is ignored. ``"fit"`` learns ``price_`` in ``fit``: the
        smallest price at which the fit data spend at most
        ``floor(budget * n)`` units, i.e. the largest spend a price reaches
        within the budget (the rule of :class:`GreedyAllocator`). Units of
        equal value in several bins are bought together or not at all, so the
        fit data may spend less than the budget mode would. None (default):
        the budgets of the bins solve the budget constraint directly.
        ``transform`` is the same bin lookup in every mode, one query at a
        time if need be.

    Attributes
    ----------
    bin_edges_ : ndarray of shape (n_bins_ + 1,)
        Edges on the first marginal reward; bin ``b`` holds
        ``bin_edges_[b] <= x < bin_edges_[b + 1]``, values outside go to
        the first or last bin.
    bin_budgets_ : ndarray of shape (n_bins_,), int64
        Budget of each bin.
    bin_counts_ : ndarray of shape (n_bins_,), int64
        Held-out queries in each bin.
    bin_marginal_rewards_ : ndarray of shape (n_bins_, max_budget_)
        Mean marginal rewards of each bin used in the fit (empirical when
        ``y`` was given).
    expected_budget_ : float
        Average budget on the fit data, ``<= budget`` (except at a fixed
        ``price``, which ignores ``budget``).
    price_ : float
        Only with ``price`` set: the price learnt in ``fit``
        (``price="fit"``) or the ``price`` given to ``fit``.
    n_bins_ : int
        Number of bins kept.
    max_budget_ : int
        The resolved per-query maximum.
    n_features_in_ : int
        Number of columns of ``X`` seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of ``X`` when it was a DataFrame with string column names.

    See Also
    --------
    GreedyAllocator : Online variant, exact for each batch.

    Notes
    -----
    The bin-constrained problem is a multiple-choice knapsack (bin ``b`` at
    budget ``l`` costs ``size_b * l`` units). While its table is small (8 MiB:
    about 10 bins and 45,000 held-out queries at ``budget=4``), it is solved
    exactly by a dynamic program over the units spent, which takes
    O(n_bins * max_budget * budget * n) time and needs no monotonicity of the
    marginal rewards; among optimal solutions it returns the one spending
    most units. Larger problems get the price (Lagrangian) solution: units
    are bought in decreasing order of their bin's ironed mean marginal reward
    (non-increasing isotonic regression) while they fit, which falls short of
    the optimum by less than the value of one unit for every query of one
    bin. Its time and memory are O(n_bins * max_budget), plus O(n) to bin the
    queries.

    With ``pacing=True``, ``transform`` is a *stateful* transformer, unlike
    scikit-learn's: it keeps an account of the queries and units of all
    calls since ``fit`` or :meth:`reset_pacing`, so the same input can
    receive different budgets on two calls, and the order of calls matters.
    It is not thread-safe. ``clone`` and ``fit`` start a fresh account;
    :meth:`spend_account` reports it. With ``pacing=False`` (the default),
    ``transform`` keeps no state: its budgets depend only on the input, and
    the spend of a call is the sum of the budgets it returns.

    ``transform`` checks the parameters again and refuses parameters that
    ``set_params`` changed since ``fit`` (other than ``spend_tolerance``,
    ``pacing`` and ``pacing_window``, and ``budget`` at a fixed ``price``):
    the bin budgets were solved for the old values.

    Price mode and budget mode agree where the budget mode's solution is
    itself a price's: when ``floor(budget * n)`` is exactly the spend of
    the fit data at some price, ``price="fit"`` gives the budget mode's bin
    budgets (for non-increasing marginal rewards). Between two such spends
    the budget mode may fill the rest with units of cheaper bins, which a
    single price cannot: ``price="fit"`` then stops at the spend just below.
    ``price=alloc.price_`` refitted on the same data gives the same bin
    budgets as ``price="fit"``.

    If ``y`` has fewer observed samples for a query than ``max_budget_``,
    the marginal rewards of that query beyond its number of samples cannot
    be estimated from ``y``; the predicted ones are used there, with a
    warning.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt import BinnedAllocator
    >>> rng = np.random.default_rng(0)
    >>> lam = rng.uniform(size=(1000, 1))
    >>> alloc = BinnedAllocator(budget=4, n_bins=4, max_budget=16, kind="success_prob")
    >>> alloc.fit(lam).bin_budgets_
    array([6, 5, 3, 2])
    >>> alloc.expected_budget_
    4.0
    >>> alloc.transform([[0.05], [0.95]]).ravel()
    array([6, 2])

    With pacing, a stream of easy queries (not the held-out mix) still
    spends ``budget`` on average, one query at a time:

    >>> paced = BinnedAllocator(budget=4, n_bins=4, max_budget=16, kind="success_prob",
    ...                         pacing=True).fit(lam)
    >>> stream = rng.uniform(0.75, 1.0, size=(2000, 1))
    >>> spent = [paced.transform(x[None])[0, 0] for x in stream]
    >>> round(paced.spend_account().average, 2)
    4.0

    A price per unit: learn the price at which the held-out queries spend
    at most 4 samples each, then buy every unit worth at least it.

    >>> priced = BinnedAllocator(budget=4, n_bins=4, max_budget=16, kind="success_prob",
    ...                          price="fit").fit(lam)
    >>> round(priced.price_, 4), priced.bin_budgets_
    (0.0449, array([6, 5, 3, 2]))

    A known price (cost of a sample over the value of a success) ignores
    ``budget``; a lower price buys more:

    >>> cheap = BinnedAllocator(n_bins=4, max_budget=16, kind="success_prob", price=0.02)
    >>> cheap.fit(lam).bin_budgets_, cheap.expected_budget_
    (array([12,  6,  4,  2]), 6.0)
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "n_bins": [Interval(numbers.Integral, 1, None, closed="left")],
        "strategy": [StrOptions({"quantile", "uniform"})],
        "spend_tolerance": [None, Interval(numbers.Real, 0, None, closed="left")],
        "pacing": ["boolean"],
        "pacing_window": [Interval(numbers.Integral, 1, None, closed="left")],
        "price": [None, Interval(numbers.Real, 0, None, closed="left"), StrOptions({"fit"})],
    }

    # parameters the bin budgets are solved for; the others only act in transform
    _FITTED_PARAMS = ("budget", "n_bins", "strategy", "max_budget", "min_budget", "kind", "price")

    def __init__(
        self,
        budget=1.0,
        *,
        n_bins=10,
        strategy="quantile",
        max_budget=None,
        min_budget=0,
        kind="marginal",
        spend_tolerance=0.05,
        pacing=False,
        pacing_window=50,
        price=None,
    ):
        self.budget = budget
        self.n_bins = n_bins
        self.strategy = strategy
        self.max_budget = max_budget
        self.min_budget = min_budget
        self.kind = kind
        self.spend_tolerance = spend_tolerance
        self.pacing = pacing
        self.pacing_window = pacing_window
        self.price = price

    def _validate_params(self):
        super()._validate_params()
        if self.price is not None and self.pacing:
            raise ValueError(
                f"price={self.price!r} and pacing=True cannot be combined: pacing re-chooses "
                "the price at every call to hold the average spend at budget, while price "
                "fixes it (a number, or the one learnt in fit with price='fit'). Set "
                "price=None to pace, or pacing=False to keep the price."
            )

    def fit(self, X, y=None):
        """Learn the bin edges and one budget per bin on held-out queries.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Predicted marginal rewards (``kind="marginal"``; bins use the
            first column) or success probabilities (``kind="success_prob"``).
        y : array-like of shape (n_queries, n_samples) or (n_queries,), default=None
            Observed rewards of held-out samples (NaN = missing sample). When
            given, bins use the empirical marginal rewards of their queries.

        Returns
        -------
        self : BinnedAllocator
        """
        self._validate_params()
        reject_complex(X)
        with naming_non_numeric(X):  # validate_data's message names no argument
            X = validate_data(self, X, dtype=np.float64)
        max_budget = self.max_budget_ = self._resolve_bounds(X)
        n = X.shape[0]
        key = X[:, 0]
        self.bin_edges_ = _binned.bin_edges(key, self.n_bins, self.strategy)
        bins = _binned.assign_bins(self.bin_edges_, key)
        n_bins = self.n_bins_ = self.bin_edges_.size - 1
        self.bin_counts_ = np.bincount(bins, minlength=n_bins).astype(np.int64)
        if self.kind == "success_prob":
            self._check_geometric_work(n, n_bins, max_budget)
        check_array_memory((n_bins, max_budget + 1), name="max_budget", value=max_budget)
        if y is None:
            sums = self._predicted_bin_sums(X, bins, n_bins, max_budget)
        else:
            check_consistent_length(X, y)
            sums = self._empirical_bin_sums(X, y, bins, n_bins, max_budget)
        self.bin_marginal_rewards_ = sums / self.bin_counts_[:, None]
        values = np.zeros((n_bins, max_budget + 1))
        np.cumsum(sums, axis=1, out=values[:, 1:])
        unit_values = _binned.ironed_unit_values(values, self.bin_counts_, self.min_budget)
        if self.price is None:
            total = _greedy.total_units(self.budget, n)
            self.bin_budgets_ = _binned.solve_binned(values, self.bin_counts_, total, self.min_budget)
            self.__dict__.pop("price_", None)  # left by an earlier fit in price mode
        else:
            if self.price == "fit":
                capacity = _greedy.total_units(self.budget, n) - n * self.min_budget
                self.price_ = _binned.fit_price(unit_values, self.bin_counts_, capacity)
            else:
                self.price_ = _check_price(self.price)
            self.bin_budgets_ = _binned.price_levels(unit_values, self.price_, self.min_budget)
        self.expected_budget_ = float(self.bin_counts_ @ self.bin_budgets_) / n
        _, self._ladder_bins = _binned.price_ladder(unit_values)
        self._fitted_params = {name: getattr(self, name) for name in self._FITTED_PARAMS}
        self.reset_pacing()
        return self

    def _check_geometric_work(self, n, n_bins, max_budget):
        """Refuse a max_budget whose geometric marginal rewards would take minutes.

        With ``kind="success_prob"`` nothing in ``X`` bounds ``max_budget``: fit
        tabulates ``lam (1 - lam)**j`` for every unit ``j < max_budget`` (one pass
        over the ``n`` queries per unit, then tables of ``n_bins x max_budget``).
        """
        if max_budget <= _MAX_GEOMETRIC_UNITS and n * max_budget <= _MAX_GEOMETRIC_WORK:
            return
        limit = max(1, min(_MAX_GEOMETRIC_UNITS, _MAX_GEOMETRIC_WORK // n))
        if _fixed_price(self) is None:
            total = _greedy.total_units(self.budget, n)
            # the most units one query can get when the others have min_budget
            reachable = max(total - (n - 1) * self.min_budget, self.min_budget, 1)
            advice = (
                f" At budget={format_value(self.budget)} the {n} queries share {total} units, so "
                f"at fit no query gets more than {reachable}; lower max_budget"
            )
        else:  # budget is ignored at a fixed price
            advice = " Lower max_budget"
        raise ValueError(
            f"max_budget={format_value(max_budget)} is too large for kind='success_prob' on "
            f"{n} queries: fit would compute the geometric marginal rewards of {max_budget} "
            f"units for every query ({n} x {max_budget} values) and tables of "
            f"{n_bins} bins x {max_budget} units, which takes minutes.{advice} (at most "
            f"{limit} here)."
        )

    def _predicted_marginals(self, X, rows, max_budget):
        """Predicted marginal rewards of the queries ``rows``, (len(rows), max_budget)."""
        if self.kind == "success_prob":
            lam = X[rows, :1]
            return lam * np.power(1.0 - lam, np.arange(max_budget))
        return X[rows, :max_budget]

    def _predicted_bin_sums(self, X, bins, n_bins, max_budget):
        if self.kind == "marginal":
            sums = np.zeros((n_bins, max_budget))
            np.add.at(sums, bins, X[:, :max_budget])
            return sums
        # geometric marginal rewards, one column at a time: O(n) memory
        lam = X[:, 0]
        q = 1.0 - lam
        term = lam.copy()
        sums = np.empty((n_bins, max_budget))
        for j in range(max_budget):
            sums[:, j] = np.bincount(bins, weights=term, minlength=n_bins)
            term *= q
        return sums

    def _empirical_bin_sums(self, X, y, bins, n_bins, max_budget):
        from skadapt.targets import marginal_rewards

        R = as_float_array(y, "y")
        if R.ndim == 1:
            R = R[:, None]
        if R.ndim != 2:
            raise ValueError(f"y must have shape (n_queries, n_samples); got shape {R.shape}.")
        R, n_observed = check_reward_matrix(R, name="y")
        delta = np.empty((R.shape[0], max_budget))
        full = np.flatnonzero(n_observed >= max_budget)
        if full.size:
            delta[full] = marginal_rewards(R[full], max_budget)
        short = np.flatnonzero(n_observed < max_budget)
        if short.size:
            warnings.warn(
                f"y has fewer than max_budget={max_budget} observed samples for {short.size} of "
                f"{R.shape[0]} queries (as few as {int(n_observed[short].min())}); their marginal "
                "rewards beyond their number of samples cannot be estimated from y, so the "
                "predicted ones from X are used there. Collect max_budget samples per query to "
                "use empirical marginal rewards throughout.",
                UserWarning,
                stacklevel=3,
            )
            delta[short] = self._predicted_marginals(X, short, max_budget)
            for m in np.unique(n_observed[short]):
                rows = short[n_observed[short] == m]
                delta[rows, :m] = marginal_rewards(R[rows], int(m))
        sums = np.zeros((n_bins, max_budget))
        np.add.at(sums, bins, delta)
        return sums

    def transform(self, X):
        """Budget of each query: the budget of its bin.

        With ``pacing=True`` the budgets of the bins are re-chosen at each
        call from the spend account, and the call is entered in it; see the
        ``pacing`` parameter and the class Notes.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features_in_)
            Predictions for new queries; only the first column is used.

        Returns
        -------
        budgets : ndarray of shape (n_queries, 1), int64

        Warns
        -----
        BudgetOverrunWarning
            When the realized average spend leaves ``budget`` by more than
            ``spend_tolerance`` allows (see that parameter).
        """
        check_is_fitted(self)
        self._bounds_at_transform()
        self._check_unchanged_since_fit()
        reject_complex(X)
        with naming_non_numeric(X):  # validate_data's message names no argument
            X = validate_data(self, X, dtype=np.float64, reset=False)
        self._check_transform_input(X)
        bins = _binned.assign_bins(self.bin_edges_, X[:, 0])
        if self.pacing:
            budgets, out_of_reach = self._paced_budgets(bins)
            if out_of_reach:  # otherwise the account is being settled
                account = self._account
                self._check_spend(account.units / account.queries, account.queries, out_of_reach)
        else:
            budgets = self.bin_budgets_[bins]
            self._check_spend(budgets.mean(), budgets.size)
        return budgets.reshape(-1, 1)

    def _check_unchanged_since_fit(self):
        # budget is ignored at a fixed price (a change of price itself is refused)
        ignored = ("budget",) if _fixed_price(self) is not None else ()
        changed = [
            f"{name}: {old!r} -> {getattr(self, name)!r}"
            for name, old in self._fitted_params.items()
            if name not in ignored and getattr(self, name) != old
        ]
        if changed:
            raise ValueError(
                f"BinnedAllocator parameters changed since fit ({', '.join(changed)}); the bin "
                "budgets were solved for the values fit saw. Call fit again."
            )

    def _paced_budgets(self, bins):
        """Budgets of one call with pacing, and the account updated with them.

        The call is promised ``budget`` units per query plus a share of the
        account's balance (all of it for a call of at least ``pacing_window``
        queries). Its spend at a price is estimated on a reference mix of
        bins: the call's own queries, topped up to ``pacing_window`` queries
        with the recent ones. Units are bought down the price ladder while
        the estimated spend fits the promise (``_binned.paced_levels``); each
        query gets its bin's level. Also returns why the promise was out of
        reach of any price, or None.
        """
        account = self._account
        window = self.pacing_window
        n_queries = bins.size
        counts = np.bincount(bins, minlength=self.n_bins_)
        reference = counts + account.recent_mix * max(window - n_queries, 0)
        balance = self.budget * account.queries - account.units
        target = n_queries * self.budget + balance * min(1.0, n_queries / window)
        weights = reference * (n_queries / reference.sum())
        levels = _binned.paced_levels(self._ladder_bins, weights, target, self.min_budget, n_queries)
        budgets = levels[bins].astype(np.int64)
        slack = 1e-9 * max(1.0, abs(target))
        if target < n_queries * self.min_budget - slack:
            out_of_reach = f"the min_budget={self.min_budget} units of every query alone exceed it"
        elif target > n_queries * self.min_budget + weights[self._ladder_bins].sum() + slack:
            out_of_reach = "every unit worth at least 0 in these queries' bins is already bought"
        else:
            out_of_reach = None
        spent = int(budgets.sum())
        self._account = _SpendAccount(
            queries=account.queries + n_queries,
            units=account.units + spent,
            last_queries=n_queries,
            last_units=spent,
            recent_mix=reference / reference.sum(),
        )
        return budgets, out_of_reach

    def _check_spend(self, average, n_queries, out_of_reach=None):
        """The spend guard: warn when ``average`` is clearly off ``budget``.

        ``out_of_reach`` (pacing only) says why the promised spend could not
        be met; the average is then the running one since fit or reset.
        """
        if self.spend_tolerance is None:
            return
        # sampling error of the mean budget of n_queries held-out queries
        spread = np.sqrt(self.bin_counts_ @ (self.bin_budgets_ - self.expected_budget_) ** 2 / self.bin_counts_.sum())
        noise = 3.0 * float(spread) / np.sqrt(n_queries)
        if self.price is None:
            reference, promised = self.budget, f"budget={self.budget}"
        else:  # a price promises its held-out spend, not budget
            reference = self.expected_budget_
            promised = (
                f"the held-out queries spent {reference:.4g} at price_={self.price_:.4g} "
                f"(price={self.price!r})"
            )
        gap = average - reference
        if abs(gap) <= self.spend_tolerance * reference + noise:
            return
        relative = f"{gap / reference:+.1%}" if reference else "above 0"
        if out_of_reach is None:
            where = f"this call's {n_queries} queries"
            held_out = "price was" if self.price is not None else "bin budgets were"
            remedy = (
                "set price=None and pacing=True to hold the average at budget"
                if self.price is not None
                else "set pacing=True to hold the average at budget"
            )
            advice = (
                f"The predictions do not follow the held-out mix the {held_out} fitted on: "
                f"refit on recent predictions, or {remedy}."
            )
        else:
            where = f"the {n_queries} queries since fit or reset_pacing()"
            advice = (
                f"Pacing cannot hold the average: {out_of_reach}. Refit on recent predictions "
                "or change budget."
            )
        warnings.warn(
            f"BinnedAllocator spent {average:.4g} units per query on average over {where}, but "
            f"{promised} ({relative}, more than spend_tolerance={self.spend_tolerance} "
            f"plus {noise:.3g} of sampling error allows). {advice} See docs/allocation.md.",
            BudgetOverrunWarning,
            stacklevel=4,  # past transform's set_output wrapper, to the caller
        )

    def reset_pacing(self):
        """Start a fresh spend account (pacing state).

        The account forgets the queries and units of past ``transform``
        calls, and its estimate of the current mix of predictions returns to
        the held-out mix. ``fit`` calls it.

        Returns
        -------
        self : BinnedAllocator
        """
        check_is_fitted(self)
        self._account = _SpendAccount(
            queries=0, units=0, last_queries=0, last_units=0, recent_mix=self.bin_counts_ / self.bin_counts_.sum()
        )
        return self

    def spend_account(self):
        """What ``transform`` spent since ``fit`` or :meth:`reset_pacing` (``pacing=True`` only).

        Returns
        -------
        account : :class:`~sklearn.utils.Bunch`
            ``queries`` and ``units`` (totals), ``average`` (units per query,
            NaN before the first call), ``balance`` (``budget * queries -
            units``: positive when under budget), and ``last_queries``,
            ``last_units``, ``last_average`` for the latest call.

        Raises
        ------
        ValueError
            With ``pacing=False``: ``transform`` then keeps no account, and
            the spend of a call is the sum of the budgets it returns.
        """
        check_is_fitted(self)
        if not self.pacing:
            raise ValueError(
                "BinnedAllocator keeps a spend account only with pacing=True; with pacing=False "
                "transform keeps no state, and a call's spend is the sum of the budgets it returns."
            )
        account = self._account
        return Bunch(
            queries=account.queries,
            units=account.units,
            average=account.units / account.queries if account.queries else float("nan"),
            balance=self.budget * account.queries - account.units,
            last_queries=account.last_queries,
            last_units=account.last_units,
            last_average=account.last_units / account.last_queries if account.last_queries else float("nan"),
        )


@dataclasses.dataclass(frozen=True)
class _SpendAccount:
    """Pacing state of a BinnedAllocator: totals since fit or reset, the latest
    call, and the bin frequencies of about the last ``pacing_window`` queries."""

    queries: int
    units: int
    last_queries: int
    last_units: int
    recent_mix: np.ndarray
