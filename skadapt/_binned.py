"""Bins and the bin-constrained allocation problem behind :class:`BinnedAllocator`.

The offline variant of section 3.2 adds to Eq. 5 the constraint that all
queries of a bin receive the same budget. With bin sizes ``s_b`` and
``V_b(l)`` the total reward of bin ``b`` at budget ``l`` (the sum over its
queries of the first ``l`` marginal rewards), the problem

    max  sum_b V_b(l_b)   s.t.  sum_b s_b * l_b <= T,   min_budget <= l_b <= max_budget

is a multiple-choice knapsack (one level per bin, weight ``s_b * l``). It is
solved exactly by dynamic programming over the number of units spent, in
O(n_bins * max_budget * T) time and O(n_bins * T) memory. Unlike the greedy
solution of Eq. 5, the DP needs no monotonicity of the marginal rewards.
"""

import numpy as np


def bin_edges(key, n_bins, strategy):
    """Edges of at most ``n_bins`` bins of ``key``, without empty bins.

    Returns edges ``e_0 < e_1 < ... < e_K`` (``e_0 = min(key)``,
    ``e_K = max(key)``) and the bin of each value (``assign_bins``). Duplicate
    quantiles (many equal keys) collapse into one edge; a bin left empty
    (possible with ``strategy="uniform"``) is merged into the bin below it.
    """
    lo, hi = float(key.min()), float(key.max())
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


def solve_binned(values, sizes, total, min_budget):
    """Exact budgets per bin for the bin-constrained Eq. 5.

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

    Returns
    -------
    levels : ndarray of shape (n_bins,), int64
        An optimal budget per bin. Among optimal solutions, the one that
        spends the most units is returned (units worth zero are bought, as in
        the greedy allocation); remaining ties go to the lower budget of the
        earlier bin in the DP order.
    """
    n_bins, width = values.shape
    max_budget = width - 1
    sizes = np.asarray(sizes, dtype=np.int64)
    capacity = int(total - sizes.sum() * min_budget)
    if capacity < 0:
        raise ValueError("internal error: total below the minimum budgets")
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
