"""Exact solvers of the allocation problem (Eq. 5) behind :mod:`skadapt.allocation`.

Eq. 5 with non-increasing rows of marginal rewards ``Delta`` is solved by
buying the ``R`` largest marginal rewards, where ``R`` is the number of units
left after every query got its ``min_budget``: because each row is
non-increasing, the ``R`` largest entries of a row always form a prefix, so
the prefix constraint ``c_ij <= c_i,j-1`` holds by itself. The paper describes
this as a greedy algorithm that turns on the largest ``Delta_ij`` one at a time
(a heap, O(R log n)); here the same set is found without a heap, by locating
the threshold value directly:

* ``kind="marginal"``: ``np.partition`` finds the ``R``-th largest entry of the
  (n, max_budget) matrix in O(n * max_budget); per-row counts follow by
  comparison.
* ``kind="success_prob"``: the geometric marginal rewards
  ``lam * (1 - lam)**(j - 1)`` are never materialised. Units are compared by
  the key ``log(lam) + (j - 1) * log1p(-lam)`` (the logarithm of the marginal
  reward), which is non-increasing in ``j`` *exactly* in floating point, and
  the number of units of a row above a threshold has a closed form; a
  bisection on the threshold with a shrinking set of undecided rows finds the
  ``R``-th largest key. Memory is O(n), whatever ``max_budget``.

Ties at the threshold are settled by one rule in both paths: among units with
equal marginal reward, the unit with the smaller unit index ``j`` is bought
first, then the query with the smaller row index. Units with a negative
marginal reward are never bought (beyond ``min_budget``); units worth exactly
zero are, so that the whole budget is spent when the bounds allow it.
"""

import numpy as np

# Relative tolerance used when rounding ``budget * n`` down to whole units, so
# that decimal budgets such as 0.29 with n = 100 give 29 units, not 28
# (0.29 * 100 == 28.999999999999996 in floating point).
_UNITS_RTOL = 1e-12


def total_units(budget, n_queries):
    """``floor(budget * n_queries)``, robust to decimal rounding of ``budget``."""
    product = float(budget) * n_queries
    return int(np.floor(product * (1.0 + _UNITS_RTOL) + _UNITS_RTOL))


# --------------------------------------------------------------------------
# Monotone projection
# --------------------------------------------------------------------------


def nonincreasing_violations(X):
    """Rows of ``X`` that increase somewhere, and the largest increase."""
    if X.shape[1] < 2:
        return np.empty(0, dtype=np.intp), 0.0
    # a boolean comparison, not np.diff: no float temporary of the input's size
    rows = np.flatnonzero((X[:, 1:] > X[:, :-1]).any(axis=1))
    largest = float(np.diff(X[rows], axis=1).max()) if rows.size else 0.0
    return rows, largest


def project_nonincreasing(Y):
    """L2 projection of each row of ``Y`` onto non-increasing sequences.

    Pool-adjacent-violators, vectorised over rows: every row keeps a stack of
    blocks (sum, count); a new value is pushed and merged with the block
    below while the block below has a smaller mean. The result is the
    isotonic (non-increasing) regression of each row, the closest
    non-increasing sequence in Euclidean distance. Block means are computed
    with the same expression in the merge test and in the output, so the
    output is exactly non-increasing in floating point.
    """
    Y = np.asarray(Y, dtype=np.float64)
    n, m = Y.shape
    if n == 0 or m < 2:
        return Y.copy()
    sums = np.zeros((n, m))
    counts = np.zeros((n, m), dtype=np.int64)
    top = np.full(n, -1, dtype=np.int64)
    rows = np.arange(n)
    for j in range(m):
        top += 1
        sums[rows, top] = Y[:, j]
        counts[rows, top] = 1
        cand = rows
        while cand.size:
            cand = cand[top[cand] >= 1]
            t = top[cand]
            below = sums[cand, t - 1] / counts[cand, t - 1]
            here = sums[cand, t] / counts[cand, t]
            cand = cand[below < here]
            if not cand.size:
                break
            t = top[cand]
            sums[cand, t - 1] += sums[cand, t]
            counts[cand, t - 1] += counts[cand, t]
            top[cand] -= 1
    keep = np.arange(m)[None, :] <= top[:, None]
    means = sums[keep] / counts[keep]
    return np.repeat(means, counts[keep]).reshape(n, m)


# --------------------------------------------------------------------------
# Tie settlement
# --------------------------------------------------------------------------


def water_fill(G, C, r):
    """Settle the ties at the threshold.

    Row ``i`` is certain to get ``G[i]`` units and holds tied units (marginal
    reward equal to the threshold) at unit indices ``G[i] + 1, ..., C[i]``.
    The ``r`` tied units bought are the first ``r`` in the order (unit index,
    row index): the smallest unit indices first, so that a tie spreads the
    units evenly over the tied queries, and among equal unit indices the
    smallest row index first.
    """
    budgets = G.copy()
    if r <= 0:
        return budgets
    tied = np.flatnonzero(C > G)
    g = G[tied]
    c = C[tied]
    if r > int((c - g).sum()):
        raise AssertionError("internal error: fewer tied units than units to settle")

    def n_up_to(level):  # tied units with unit index <= level
        return int(np.clip(level - g, 0, c - g).sum())

    lo, hi = int(g.min()), int(c.max())
    while lo < hi:  # largest level with n_up_to(level) <= r
        mid = (lo + hi + 1) // 2
        if n_up_to(mid) <= r:
            lo = mid
        else:
            hi = mid - 1
    budgets[tied] = g + np.clip(lo - g, 0, c - g)
    rest = r - n_up_to(lo)
    if rest:
        # rows holding a tied unit at index lo + 1, in row order
        nxt = tied[(g <= lo) & (c > lo)]
        budgets[nxt[:rest]] += 1
    return budgets


# --------------------------------------------------------------------------
# Explicit matrix of marginal rewards
# --------------------------------------------------------------------------


def allocate_matrix(delta, total, min_budget):
    """Exact Eq. 5 for an (n, max_budget) matrix whose rows are non-increasing
    from column ``min_budget`` on. Returns (n,) int64 budgets."""
    n, max_budget = delta.shape
    budgets = np.full(n, min_budget, dtype=np.int64)
    rest = total - n * min_budget
    if rest <= 0 or max_budget == min_budget:
        return budgets
    eligible = delta[:, min_budget:]
    n_nonneg = np.count_nonzero(eligible >= 0, axis=1)
    if int(n_nonneg.sum()) <= rest:
        return budgets + n_nonneg
    flat = eligible.ravel().copy()
    kth = flat.size - rest
    threshold = np.partition(flat, kth)[kth]  # the rest-th largest entry, >= 0 here
    del flat
    G = min_budget + np.count_nonzero(eligible > threshold, axis=1)
    C = min_budget + np.count_nonzero(eligible >= threshold, axis=1)
    return water_fill(G, C, rest - int((G - min_budget).sum()))


# --------------------------------------------------------------------------
# Implicit geometric marginal rewards lam * (1 - lam)**(j - 1)
# --------------------------------------------------------------------------

_SIGN_MASK = np.int64(0x7FFFFFFFFFFFFFFF)

# Undecided units enumerated explicitly once the threshold search has narrowed
# them down to this many (or to n / 4); tests lower it to exercise the search.
_WINDOW_MIN = 1 << 16


def _float_to_ordered(x):
    i = int(np.float64(x).view(np.int64))
    return i ^ int(_SIGN_MASK) if i < 0 else i


def _ordered_to_float(i):
    if i < 0:
        i ^= int(_SIGN_MASK)
    return float(np.int64(i).view(np.float64))


def _float_between(lo, hi):
    """A float strictly between lo < hi, or None if they are adjacent."""
    olo, ohi = _float_to_ordered(lo), _float_to_ordered(hi)
    mid = _ordered_to_float((olo + ohi) // 2)
    return mid if lo < mid < hi else None


class _GeometricRows:
    """Rows of log marginal rewards ``key(j) = a + (j - 1) * lq`` for ``j = 1..p``.

    ``a = log(lam)``, ``lq = log1p(-lam)``; ``p`` is the number of units with
    a positive marginal reward (``max_budget``, or 1 when ``lam == 1``). The
    keys are computed by one expression everywhere, so all comparisons refer
    to the same floating-point numbers, and they are non-increasing in ``j``
    exactly because floating-point rounding is monotone.
    """

    def __init__(self, a, lq, p):
        self.a, self.lq, self.p = a, lq, p
        with np.errstate(divide="ignore", over="ignore"):
            # 1 / |lq| units of j per unit of key; capped so that products
            # stay free of NaN for subnormal lam
            self.inv = np.minimum(-1.0 / lq, 1e300)

    def subset(self, mask):
        out = _GeometricRows.__new__(_GeometricRows)
        out.a, out.lq, out.p, out.inv = self.a[mask], self.lq[mask], self.p[mask], self.inv[mask]
        return out

    def key(self, j, idx=None):
        """Keys of unit ``j`` (1-based) of the rows ``idx`` (all rows if None)."""
        if idx is None:
            return self.a + (j - 1).astype(np.float64) * self.lq
        return self.a[idx] + (j - 1).astype(np.float64) * self.lq[idx]

    def count_ge(self, s):
        """Exact number of units with ``key(j) >= s`` in each row.

        A closed-form estimate, ``floor((a - s) / -lq) + 1``, is checked
        against the keys themselves (``key(k) >= s > key(k + 1)``); the few
        rows where rounding put the estimate off are settled by binary search.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            x = (self.a - s) * self.inv
        np.floor(x, out=x)
        x += 1.0
        np.clip(x, 0.0, self.p, out=x)
        k = x.astype(np.int64)
        ok = (k == 0) | (self.key(np.maximum(k, 1)) >= s)
        ok &= (k == self.p) | (self.key(k + 1) < s)
        bad = np.flatnonzero(~ok)
        if bad.size:
            k[bad] = self._search(bad, s)
        return k

    def _search(self, idx, s):
        """Vectorised binary search for the count over [0, p] (rows ``idx``)."""
        lo = np.zeros(idx.size, dtype=np.int64)
        hi = self.p[idx].copy()
        act = np.arange(idx.size)
        while act.size:
            mid = (lo[act] + hi[act] + 1) // 2
            ok = self.key(mid, idx[act]) >= s
            lo[act[ok]] = mid[ok]
            hi[act[~ok]] = mid[~ok] - 1
            act = act[lo[act] < hi[act]]
        return lo


def allocate_geometric(lam, total, max_budget, min_budget):
    """Exact Eq. 5 for the marginal rewards ``lam * (1 - lam)**(j - 1)``.

    Units are ranked by their log marginal reward; see the module docstring.
    Returns (n,) int64 budgets. Memory is O(n), independent of max_budget.
    """
    n = lam.shape[0]
    budgets = np.full(n, min_budget, dtype=np.int64)
    rest = total - n * min_budget
    if rest <= 0 or max_budget == min_budget:
        return budgets
    # no query can get more than all the units left: a tighter cap changes
    # nothing and keeps a huge max_budget (10**20) inside int64
    max_budget = min(max_budget, min_budget + rest)
    with np.errstate(divide="ignore"):
        a = np.log(lam)
        lq = np.log1p(-lam)
    # units with a positive marginal reward: none for lam == 0, one for lam == 1
    p = np.where(lam == 0, 0, np.where(lam == 1, 1, max_budget)).astype(np.int64)
    a = np.where(lam == 0, 0.0, a)
    lq = np.where(lam == 1, -1.0, lq)  # only key(1) = log(1) = 0 is used then

    positive = np.maximum(p, min_budget)
    n_positive = int((positive - min_budget).sum())
    if n_positive <= rest:
        # Every positive unit is bought; the remaining units are worth zero
        # (a tie at the threshold 0).
        return water_fill(positive, np.full(n, max_budget, dtype=np.int64), rest - n_positive)

    rows = np.flatnonzero(p > min_budget)  # rows with positive eligible units
    if rows.size == n:
        geo = _GeometricRows(a, lq, p)
    else:
        geo = _GeometricRows(a[rows], lq[rows], p[rows])
    # keys are non-increasing in j: the first eligible unit holds a row's largest key
    s_hi = float(np.nextafter((geo.a + float(min_budget) * geo.lq).max(), np.inf))
    s_lo = float(geo.key(geo.p).min())
    # Invariant: N(s_lo) >= rest > N(s_hi), where N(s) counts the eligible
    # units (index > min_budget) with key >= s. c_lo / c_hi: per-row counts.
    c_hi = np.zeros(rows.size, dtype=np.int64)
    c_lo = geo.p - min_budget
    active = np.arange(rows.size)  # rows whose count still differs between s_lo and s_hi
    fixed = np.zeros(rows.size, dtype=np.int64)  # counts of the other rows
    frozen = 0
    window_max = max(_WINDOW_MIN, rows.size // 4)
    f_lo = f_hi = None
    side = 0
    s_star = None
    for iteration in range(256):
        keep = c_lo > c_hi
        if not keep.all():
            fixed[active[~keep]] = c_lo[~keep]
            frozen += int(c_lo[~keep].sum())
            active, c_lo, c_hi = active[keep], c_lo[keep], c_hi[keep]
            geo = geo.subset(keep)
        n_lo = frozen + int(c_lo.sum())
        n_hi = frozen + int(c_hi.sum())
        if n_lo - n_hi <= window_max:
            break
        # Illinois (regula falsi) on N(s) - (rest - 1/2), which is nearly
        # linear for large n; pure bisection after many steps as a safeguard.
        if side >= 0 or f_lo is None:
            f_lo = n_lo - rest + 0.5
        if side <= 0 or f_hi is None:
            f_hi = n_hi - rest + 0.5
        s_mid = s_lo + f_lo / (f_lo - f_hi) * (s_hi - s_lo) if iteration < 64 else None
        if s_mid is None or not s_lo < s_mid < s_hi:
            s_mid = _float_between(s_lo, s_hi)
            if s_mid is None:  # adjacent floats: every undecided unit has key s_lo
                s_star = s_lo
                break
        c_mid = np.maximum(geo.count_ge(s_mid) - min_budget, 0)
        if frozen + int(c_mid.sum()) >= rest:
            s_lo, c_lo = s_mid, c_mid
            if side == 1:
                f_hi *= 0.5  # Illinois: the retained end moved twice
            side = 1
        else:
            s_hi, c_hi = s_mid, c_mid
            if side == -1:
                f_lo *= 0.5
            side = -1
    else:  # pragma: no cover - 64 bisection steps always separate floats
        raise AssertionError("internal error: threshold search did not converge")

    G = np.full(n, min_budget, dtype=np.int64)
    G[rows] = min_budget + fixed
    C = G.copy()
    base = min_budget + c_hi
    if s_star is None:
        # Enumerate the undecided units (keys in [s_lo, s_hi)) and select exactly.
        width = c_lo - c_hi
        owner = np.repeat(np.arange(active.size), width)
        starts = np.cumsum(width) - width
        j = base[owner] + 1 + (np.arange(owner.size) - starts[owner])
        keys = geo.key(j, owner)
        kth = keys.size - (rest - n_hi)
        s_star = np.partition(keys, kth)[kth]
        above = np.bincount(owner, weights=keys > s_star, minlength=active.size)
        at = np.bincount(owner, weights=keys == s_star, minlength=active.size)
        G[rows[active]] = base + above.astype(np.int64)
        C[rows[active]] = base + (above + at).astype(np.int64)
    else:
        G[rows[active]] = base
        C[rows[active]] = min_budget + c_lo
    return water_fill(G, C, rest - int((G - min_budget).sum()))


# --------------------------------------------------------------------------
# Price mode: the Lagrangian dual of Eq. 5, one query at a time
# --------------------------------------------------------------------------


def price_counts_matrix(delta, price, min_budget):
    """Budgets bought at ``price``: ``min_budget`` plus every later unit worth ``>= price``.

    ``delta`` has rows non-increasing from column ``min_budget`` on, so the
    units worth at least the price form a prefix of each row and each row is
    decided on its own. ``price >= 0``: a unit of negative value is never
    bought, as in :func:`allocate_matrix`.
    """
    n = delta.shape[0]
    return min_budget + np.count_nonzero(delta[:, min_budget:] >= price, axis=1).astype(np.int64).reshape(n)


def price_counts_geometric(lam, price, max_budget, min_budget):
    """Budgets bought at ``price`` for the marginal rewards ``lam * (1 - lam)**(j - 1)``.

    Units are compared through the same log key as :func:`allocate_geometric`
    (``key(j) >= log(price)``), so a price taken from :func:`fit_price_geometric`
    reproduces the greedy allocation bit for bit. ``price == 0`` buys every
    unit up to ``max_budget`` (all are worth at least zero).
    """
    n = lam.shape[0]
    if price == 0:
        return np.full(n, max_budget, dtype=np.int64)
    # no row can get more units than fit in int64; any finite price caps far below
    cap = min(max_budget, np.iinfo(np.int64).max // 4)
    with np.errstate(divide="ignore"):
        a = np.log(lam)
        lq = np.log1p(-lam)
    p = np.where(lam == 0, 0, np.where(lam == 1, 1, cap)).astype(np.int64)
    a = np.where(lam == 0, 0.0, a)
    lq = np.where(lam == 1, -1.0, lq)
    counts = _GeometricRows(a, lq, p).count_ge(float(np.log(price)))
    return np.maximum(counts, min_budget).astype(np.int64)


def fit_price(count_at, budgets, values_next, total):
    """Smallest price whose allocation spends at most ``total`` units, from a greedy solution.

    ``budgets`` is the greedy allocation of ``total`` units (unused beyond
    documenting the contract), ``values_next`` the value of each row's next
    unit (-inf when none is left), and ``count_at(price)`` the total units
    the price mode buys. The price returned is the smallest float above the
    best unit the greedy left out: every unit worth more is bought, so when
    no unit left out ties with a unit bought, the price mode reproduces
    ``budgets`` exactly; with such a tie it buys the units above the tie
    only, and the fit data never spend more than ``total``. 0.0 when every
    unit worth at least zero is bought.
    """
    best_out = float(values_next.max()) if values_next.size else -np.inf
    if best_out < 0:  # every unit worth at least zero is bought
        return 0.0
    lo = best_out  # count_at(lo) > total: the unit left out is bought at its own value
    price = float(np.nextafter(best_out, np.inf))
    if count_at(price) <= total:
        return price
    # The caller's value <-> key conversion (log for geometric rewards) may need
    # more than one ulp: double the step until the count fits, then bisect
    # back to the smallest float price that fits (the count falls as the price rises).
    step = 1
    while count_at(price) > total:
        lo = price
        step *= 2
        price = _ordered_to_float(_float_to_ordered(price) + step)
        if not np.isfinite(price):  # pragma: no cover - a finite price always suffices
            raise AssertionError("internal error: price search did not converge")
    olo, ohi = _float_to_ordered(lo), _float_to_ordered(price)
    while ohi - olo > 1:
        mid = (olo + ohi) // 2
        if count_at(_ordered_to_float(mid)) <= total:
            ohi = mid
        else:
            olo = mid
    return _ordered_to_float(ohi)
