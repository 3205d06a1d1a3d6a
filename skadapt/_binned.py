"""Bins and the bin-constrained allocation problem behind :class:`BinnedAllocator`.

The offline variant of section 3.2 adds to Eq. 5 the constraint that all
queries of a bin receive the same budget. With bin sizes ``s_b`` and
``V_b(l)`` the total reward of bin ``b`` at budget ``l`` (the sum over its
queries of the first ``l`` marginal rewards), the problem

    max  sum_b V_b(l_b)   s.t.  sum_b s_b * l_b <= T,   min_budget <= l_b <= max_budget

is a multiple-choice knapsack (one level per bin, weight ``s_b * l``). Two
solvers share :func:`solve_binned`:

* an exact dynamic program over the number of units spent, in
  O(n_bins * max_budget * T) time and O(n_bins * T) memory, which needs no
  monotonicity of the marginal rewards. ``T`` grows with the number of
  held-out queries, so it is used only while its table is small
  (``DP_MAX_BYTES``);
* beyond that, a *price* solution in O(n_bins * max_budget) memory: each
  bin's mean marginal rewards are ironed (the slopes of the least concave
  majorant of its cumulative mean reward, i.e. their non-increasing isotonic
  regression), and units are bought in decreasing order of value while they
  fit. This is the Lagrangian relaxation of the problem: for non-increasing
  marginal rewards it falls short of the optimum by less than the value of
  the one unit (one more sample for every query of one bin) that no longer
  fits.

The same ironed values, sorted once (a *price ladder*), let the pacing mode
of :class:`BinnedAllocator` re-choose a price at every call
(:func:`paced_levels`), and its price mode buy every unit worth at least a
fixed price (:func:`price_levels`) or learn that price from a budget
(:func:`fit_price`).
"""

import numpy as np

from skadapt._greedy import project_nonincreasing

# Largest dynamic-programming table (bytes) solved exactly; larger problems use
# the price solution, whose memory does not grow with the number of queries.
DP_MAX_BYTES = 8 << 20


def bin_edges(key, n_bins, strategy):
    """Edges of at most ``n_bins`` bins of ``key``, without empty bins.

    Returns edges ``e_0 < e_1 < ... < e_K`` (``e_0 = min(key)``,
    ``e_K = max(key)``) and the bin of each value (``assign_bins``). Duplicate
    quantiles (many equal keys) collapse into one edge; a bin left empty
    (possible with ``strategy="uniform"``) is merged into the bin below it.
    """
    lo, hi = float(key.min()), float(key.max())
    # more bins than keys leave bins empty (they would be merged anyway); the
    # cap also keeps a huge n_bins from allocating its edges
    n_bins = min(n_bins, key.size)
    if strategy == "quantile":
        edges = np.quantile(key, np.linspace(0.0, 1.0, n_bins + 1))
    else:
        edges = np.linspace(lo, hi, n_bins + 1)
    edges[0], edges[-1] = lo, hi
    edges = np.unique(edges)
    if edges.size == 1:  # every key equal: one bin
        return np.array([lo, hi])
    counts = np.bincount(assign_bins(edges, key), minlength=edges.size - 1)
    # inner edge b (between bins b-1 and b) survives only if bin b is not empty
    inner = edges[1:-1][counts[1:] > 0]
    return np.concatenate([[lo], inner, [hi]])


def assign_bins(edges, key):
    """Bin index of each key: bin b holds ``edges[b] <= key < edges[b + 1]``;
    keys outside the fitted range go to the first or last bin."""
    return np.searchsorted(edges[1:-1], key, side="right")


def solve_binned(values, sizes, total, min_budget, *, max_dp_bytes=None):
    """Budgets per bin for the bin-constrained Eq. 5.

    Parameters
    ----------
    values : ndarray of shape (n_bins, max_budget + 1)
        ``values[b, l]``: total reward of bin ``b`` when each of its queries
        gets budget ``l`` (``values[:, 0] == 0``).
    sizes : ndarray of shape (n_bins,)
        Number of queries in each bin (>= 1).
    total : int
        Units available, ``T >= sizes.sum() * min_budget``.
    min_budget : int
    max_dp_bytes : int, default=None
        Largest table of the exact dynamic program; None means
        ``DP_MAX_BYTES``. Larger problems get the price solution.

    Returns
    -------
    levels : ndarray of shape (n_bins,), int64
        Exact when the dynamic program runs (``dp_bytes(...) <= max_dp_bytes``):
        among optimal solutions, the one that spends the most units (units
        worth zero are bought, as in the greedy allocation); remaining ties go
        to the lower budget of the earlier bin in the DP order. Otherwise the
        price solution of :func:`solve_price`.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    n_bins = sizes.size
    capacity = int(total - sizes.sum() * min_budget)
    if capacity < 0:
        raise ValueError("internal error: total below the minimum budgets")
    limit = DP_MAX_BYTES if max_dp_bytes is None else max_dp_bytes
    if dp_bytes(n_bins, values.shape[1] - 1, capacity) <= limit:
        return _solve_dp(values, sizes, capacity, min_budget)
    unit_values = ironed_unit_values(values, sizes, min_budget)
    return solve_price(values, unit_values, sizes, capacity, min_budget)


def dp_bytes(n_bins, max_budget, capacity):
    """Memory of the dynamic program: its choice table, three float rows and a mask."""
    itemsize = 2 if max_budget < np.iinfo(np.int16).max else 8
    return (capacity + 1) * (n_bins * itemsize + 3 * 8 + 1)


def _solve_dp(values, sizes, capacity, min_budget):
    n_bins, width = values.shape
    max_budget = width - 1
    best = np.full(capacity + 1, -np.inf)
    best[0] = 0.0
    dtype = np.int16 if max_budget < np.iinfo(np.int16).max else np.int64
    choice = np.zeros((n_bins, capacity + 1), dtype=dtype)
    for b in range(n_bins):
        size = int(sizes[b])
        gain = values[b, min_budget:] - values[b, min_budget]
        n_levels = min(gain.size - 1, capacity // size)
        new = best.copy()  # extra level 0
        row = choice[b]
        for u in range(1, n_levels + 1):
            shift = size * u
            candidate = best[: capacity + 1 - shift] + gain[u]
            better = candidate > new[shift:]
            new[shift:][better] = candidate[better]
            row[shift:][better] = u
        best = new
    # the largest spend among the optimal values
    spend = capacity - int(np.argmax(best[::-1]))
    levels = np.empty(n_bins, dtype=np.int64)
    for b in range(n_bins - 1, -1, -1):
        u = int(choice[b, spend])
        levels[b] = min_budget + u
        spend -= int(sizes[b]) * u
    return levels


def ironed_unit_values(values, sizes, min_budget):
    """Per-query value of each unit beyond ``min_budget``, made non-increasing.

    Returns an (n_bins, max_budget - min_budget) array: the mean marginal
    rewards of each bin replaced by their non-increasing isotonic regression,
    which are the slopes of the least concave majorant of the bin's
    cumulative mean reward. Buying a bin's units while their ironed value is
    at least a price ``p`` is the bin's best response to ``p`` (the
    Lagrangian of the budget constraint).
    """
    marginal = np.diff(values[:, min_budget:], axis=1) / np.asarray(sizes, dtype=np.float64)[:, None]
    if marginal.shape[1] == 0:
        return marginal
    return project_nonincreasing(marginal)


def price_ladder(unit_values):
    """Units in the order a falling price buys them: (values, bins).

    Only units worth at least zero are listed (a unit of negative value is
    never bought, as in the greedy allocation). Ties go to the smaller unit
    index, then the smaller bin, so a bin's units appear in order and any
    prefix of the ladder is a valid set of per-bin levels.
    """
    n_bins, n_units = unit_values.shape
    bins, units = np.divmod(np.arange(n_bins * n_units), n_units)
    flat = unit_values.ravel()
    order = np.lexsort((bins, units, -flat))
    order = order[flat[order] >= 0]
    return flat[order], bins[order].astype(np.intp)


def greedy_fill(ladder_bins, cost, room, n_bins, *, atol=0.0):
    """Units per bin bought by walking the ladder while they fit in ``room``.

    ``cost[b]`` is the cost of one unit of bin ``b``. A unit that does not fit
    closes its bin (its later units are worth less and cost as much); later
    units of other bins may still fit. Each pass buys the longest fitting
    run of the ladder and closes one bin, so there are at most ``n_bins``
    passes. Costs within ``atol`` of the room still fit (float costs).
    """
    taken = np.zeros(n_bins, dtype=np.int64)
    is_open = np.ones(n_bins, dtype=bool)
    rest = ladder_bins
    while rest.size and room >= 0:
        spent = np.cumsum(cost[rest])
        k = int(np.searchsorted(spent, room + atol, side="right"))
        taken += np.bincount(rest[:k], minlength=n_bins)
        if k == rest.size:
            break
        if k:
            room -= spent[k - 1]
        is_open[rest[k]] = False
        rest = rest[k + 1 :]
        rest = rest[is_open[rest]]
    return taken


def solve_price(values, unit_values, sizes, capacity, min_budget):
    """Greedy price solution of the bin-constrained Eq. 5 (memory O(n_bins * max_budget)).

    Units go in ladder order (decreasing ironed value) while they fit
    (:func:`greedy_fill`). A bin stopped inside a run of pooled (ironed)
    units keeps the best level of that run by its actual values, since the
    ironed line may overstate them there.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    n_bins = sizes.size
    _, ladder_bins = price_ladder(unit_values)
    levels = greedy_fill(ladder_bins, sizes, capacity, n_bins)
    for b in range(n_bins):
        u = int(levels[b])
        row = unit_values[b]
        if 0 < u < row.size and row[u - 1] == row[u]:  # stopped inside a pooled run
            start = u - 1
            while start > 0 and row[start - 1] == row[u]:
                start -= 1
            reward = values[b, min_budget + start : min_budget + u + 1]
            # the last maximum: spend the most among equal rewards
            levels[b] = start + reward.size - 1 - int(np.argmax(reward[::-1]))
    return min_budget + levels


def paced_levels(ladder_bins, weights, target, min_budget, n_queries):
    """Per-bin levels of one paced call: the ladder bought while its expected spend fits ``target``.

    ``weights[b]`` is the expected number of queries of bin ``b`` in the
    call (they sum to ``n_queries``), so one more unit for bin ``b`` is
    expected to cost ``weights[b]`` units; every query costs ``min_budget``
    first. Units are bought in ladder order while they fit
    (:func:`greedy_fill`); none when the minimum budgets alone exceed the
    target.
    """
    room = target - n_queries * min_budget
    atol = 1e-9 * max(1.0, abs(target))
    return min_budget + greedy_fill(ladder_bins, weights, room, weights.size, atol=atol)


def price_levels(unit_values, price, min_budget):
    """Per-bin levels at a fixed ``price``: ``min_budget`` plus every unit worth at least it.

    ``unit_values`` are the ironed values of :func:`ironed_unit_values`,
    non-increasing along each bin, so the units worth at least ``price`` are
    a prefix of the bin's. A unit worth exactly ``price`` is bought; with
    ``price >= 0`` a unit of negative value never is.
    """
    return min_budget + (unit_values >= price).sum(axis=1).astype(np.int64)


def fit_price(unit_values, sizes, capacity):
    """Smallest price whose :func:`price_levels` spend at most ``capacity`` units beyond the minimum.

    The spend at a price is a step function: it rises each time the price
    falls past a value of the ladder, by the sizes of all the bins with a
    unit of that value (a price cannot split a tie). The price returned is
    the smallest float above the best value whose units no longer fit
    (their whole tie group), so every unit worth more is bought and the
    spend is the largest a price can reach without exceeding ``capacity``;
    0.0 when every unit worth at least zero fits. This is the rule of
    :func:`skadapt._greedy.fit_price` for the greedy price mode.
    """
    values, bins = price_ladder(unit_values)
    spent = np.cumsum(np.asarray(sizes, dtype=np.int64)[bins])
    k = int(np.searchsorted(spent, capacity, side="right"))  # the first unit that does not fit
    if k == values.size:
        return 0.0
    # units tied with it come before or after it on the ladder; the price buys none of them
    return float(np.nextafter(values[k], np.inf))
