"""Plots as scikit-learn style Display objects (matplotlib is an optional extra).

Each display stores the numbers it draws, has ``plot(ax=None, ...)`` and builds
itself with ``from_predictions`` (from arrays) or ``from_estimator`` (from a
fitted probe and data), like :class:`sklearn.calibration.CalibrationDisplay`.

- :class:`AllocationCurveDisplay`: expected success against average budget per
  allocation method (the paper's Figure 3, right).
- :class:`SuccessCalibrationDisplay`: predicted against empirical success
  probability (Figure 3, middle).
- :class:`AllocationByDifficultyDisplay`: share of compute given to the
  easy, medium and hard tertiles at each average budget (Figure 6).
"""

from __future__ import annotations

import numpy as np

_STYLE = {
    "uniform": dict(color="0.35", marker="o", linestyle="--", label="Uniform best-of-k"),
    "online": dict(color="C0", marker="s", label="Online adaptive (greedy)"),
    "offline": dict(color="C2", marker="^", label="Offline adaptive (binned)"),
    "oracle": dict(color="C3", marker="*", linestyle=":", label="Oracle"),
}


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised without matplotlib
        raise ImportError(
            "plotting needs matplotlib: pip install 'skadapt[plot]'"
        ) from exc
    return plt


def _axes(ax):
    if ax is None:
        plt = _pyplot()
        _, ax = plt.subplots()
    return ax, ax.figure


def _success_prob_of(estimator, X):
    """Predicted success probability of a fitted probe (or pipeline ending in one)."""
    if hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict_proba(X))[:, 1]
    if hasattr(estimator, "transform"):
        out = np.asarray(estimator.transform(X))
        if out.ndim == 2 and out.shape[1] == 1:
            return out[:, 0]
    raise ValueError(
        f"{type(estimator).__name__} gives no success probabilities: it needs "
        "predict_proba or a one-column transform"
    )


def _predictions_of(estimator, X, kind):
    if kind == "success_prob":
        return _success_prob_of(estimator, X)
    if hasattr(estimator, "predict"):
        return np.asarray(estimator.predict(X))
    return np.asarray(estimator.transform(X))


class AllocationCurveDisplay:
    """Expected success (or reward) against average budget for each method.

    Create it with :meth:`from_predictions` or :meth:`from_estimator`; all
    parameters are stored as attributes.

    Parameters
    ----------
    curves : pandas.DataFrame
        As returned by :func:`skadapt.evaluation.allocation_curves`: columns
        ``method``, ``budget``, ``average_budget``, ``value`` and optionally
        ``low``/``high``.
    ylabel : str, default="Expected success"

    Attributes
    ----------
    lines_ : dict of matplotlib Line2D
        One per method.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    See Also
    --------
    skadapt.evaluation.allocation_curves : The numbers behind the plot.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skadapt.display import AllocationCurveDisplay
    >>> rng = np.random.default_rng(0)
    >>> lam = rng.uniform(size=100)
    >>> R = (rng.uniform(size=(100, 8)) < lam[:, None]).astype(float)
    >>> disp = AllocationCurveDisplay.from_predictions(R, lam, budgets=[1, 2, 4])
    >>> sorted(disp.lines_)
    ['online', 'oracle', 'uniform']
    """

    def __init__(self, curves, *, ylabel="Expected success"):
        self.curves = curves
        self.ylabel = ylabel

    def plot(self, *, ax=None, intervals=True, log_x=True):
        """Draw the curves; returns ``self``.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        intervals : bool, default=True
            Shade the bootstrap intervals when the curves have them.
        log_x : bool, default=True
            Logarithmic budget axis (base 2), as in the paper.
        """
        self.ax_, self.figure_ = _axes(ax)
        self.lines_ = {}
        for method, group in self.curves.groupby("method", sort=False):
            group = group.sort_values("budget")
            style = dict(_STYLE.get(method, {"label": method}))
            (line,) = self.ax_.plot(group["average_budget"], group["value"], **style)
            self.lines_[method] = line
            if intervals and {"low", "high"} <= set(group.columns):
                self.ax_.fill_between(group["average_budget"], group["low"],
                                      group["high"], color=line.get_color(), alpha=0.15)
        if log_x:
            self.ax_.set_xscale("log", base=2)
        self.ax_.set(xlabel="Average budget per query (samples)", ylabel=self.ylabel)
        self.ax_.grid(True, alpha=0.3)
        self.ax_.legend(loc="lower right")
        return self

    @classmethod
    def from_predictions(cls, rewards, y_pred, *, budgets=(1, 2, 4, 8, 16),
                         kind="success_prob", max_budget=None, min_budget=0,
                         binary=True, held_out=None, methods=None,
                         ylabel=None, ax=None, **kwargs):
        """Compute the curves from a reward matrix and predictions, and plot.

        Parameters are those of :func:`skadapt.evaluation.allocation_curves`
        (extra keyword arguments go there too); ``ax`` and ``ylabel`` are for
        the plot.
        """
        from skadapt.evaluation import allocation_curves

        curves = allocation_curves(
            rewards, y_pred, budgets=budgets, kind=kind, max_budget=max_budget,
            min_budget=min_budget, binary=binary, held_out=held_out,
            methods=methods, **kwargs,
        )
        if ylabel is None:
            ylabel = "Expected success" if binary else "Expected reward"
        return cls(curves, ylabel=ylabel).plot(ax=ax)

    @classmethod
    def from_estimator(cls, estimator, X, rewards, *, kind="success_prob", **kwargs):
        """Plot the curves of a fitted probe (or pipeline ending in one) on data.

        ``estimator`` gives success probabilities (``predict_proba`` or a
        one-column ``transform``) for ``kind="success_prob"``, or a marginal
        reward matrix (``predict``) for ``kind="marginal"``. Other keyword
        arguments are those of :meth:`from_predictions`.
        """
        y_pred = _predictions_of(estimator, X, kind)
        return cls.from_predictions(rewards, y_pred, kind=kind, **kwargs)


class SuccessCalibrationDisplay:
    """Predicted against empirical success probability (reliability diagram).

    Unlike :class:`sklearn.calibration.CalibrationDisplay`, the truth is a soft
    label: each query's empirical success rate over its samples.

    Parameters
    ----------
    prob_pred : ndarray of shape (n_bins,)
        Mean predicted success probability per bin.
    prob_true : ndarray of shape (n_bins,)
        Mean empirical success rate per bin.
    y_prob : ndarray of shape (n_queries,)
        The predictions themselves.
    name : str, default=None
        Legend label.

    Attributes
    ----------
    line_ : matplotlib Line2D
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skadapt.display import SuccessCalibrationDisplay
    >>> rng = np.random.default_rng(0)
    >>> lam = rng.uniform(size=500)
    >>> rates = rng.binomial(32, lam) / 32
    >>> disp = SuccessCalibrationDisplay.from_predictions(rates, lam, n_bins=5)
    >>> bool(np.all(np.abs(disp.prob_true - disp.prob_pred) < 0.05))
    True
    """

    def __init__(self, prob_pred, prob_true, y_prob, *, name=None):
        self.prob_pred = prob_pred
        self.prob_true = prob_true
        self.y_prob = y_prob
        self.name = name

    def plot(self, *, ax=None, name=None, ref_line=True, **kwargs):
        """Draw the diagram; returns ``self``. Keyword arguments go to ``ax.plot``."""
        self.ax_, self.figure_ = _axes(ax)
        name = self.name if name is None else name
        if ref_line:
            self.ax_.plot([0, 1], [0, 1], "k:", label="Perfectly calibrated")
        style = {"marker": "s", **kwargs}
        if name is not None:
            style.setdefault("label", name)
        (self.line_,) = self.ax_.plot(self.prob_pred, self.prob_true, **style)
        self.ax_.set(xlabel="Predicted success probability",
                     ylabel="Empirical success rate", xlim=(-0.02, 1.02),
                     ylim=(-0.02, 1.02))
        self.ax_.grid(True, alpha=0.3)
        self.ax_.legend(loc="upper left")
        return self

    @classmethod
    def from_predictions(cls, y_true, y_prob, *, n_bins=10, strategy="quantile",
                         name=None, ax=None, **kwargs):
        """Bin queries by predicted success probability and plot.

        Parameters
        ----------
        y_true : array-like of shape (n_queries,) or (n_queries, n_samples)
            Empirical success rates, or the 0/1 outcome matrix (NaN = missing).
        y_prob : array-like of shape (n_queries,)
            Predicted success probabilities.
        n_bins : int, default=10
        strategy : {"quantile", "uniform"}, default="quantile"
            Equal-count or equal-width bins of the predictions.
        """
        from skadapt.targets import success_rate

        y_true = np.asarray(y_true, dtype=float)
        if y_true.ndim == 2:
            y_true = success_rate(y_true)
        y_prob = np.asarray(y_prob, dtype=float).ravel()
        if y_true.shape != y_prob.shape:
            raise ValueError(
                f"y_true has {y_true.shape[0]} queries but y_prob has {y_prob.shape[0]}"
            )
        if y_prob.size == 0:
            raise ValueError("no predictions to calibrate")
        if not np.all(np.isfinite(y_prob)) or np.any((y_prob < 0) | (y_prob > 1)):
            raise ValueError("y_prob must be probabilities in [0, 1]")
        if n_bins < 1:
            raise ValueError(f"n_bins must be >= 1, got {n_bins}")
        if strategy == "quantile":
            edges = np.quantile(y_prob, np.linspace(0, 1, n_bins + 1))
        elif strategy == "uniform":
            edges = np.linspace(0, 1, n_bins + 1)
        else:
            raise ValueError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}")
        which = np.clip(np.searchsorted(edges[1:-1], y_prob, side="right"), 0, n_bins - 1)
        counts = np.bincount(which, minlength=n_bins)
        keep = counts > 0
        prob_pred = np.bincount(which, y_prob, minlength=n_bins)[keep] / counts[keep]
        prob_true = np.bincount(which, y_true, minlength=n_bins)[keep] / counts[keep]
        disp = cls(prob_pred, prob_true, y_prob, name=name)
        return disp.plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, X, y, *, name=None, **kwargs):
        """Plot the calibration of a fitted probe on ``X`` against outcomes ``y``."""
        y_prob = _success_prob_of(estimator, X)
        if name is None:
            name = type(estimator).__name__
        return cls.from_predictions(y, y_prob, name=name, **kwargs)


class AllocationByDifficultyDisplay:
    """Share of compute given to easy, medium and hard queries at each budget.

    Queries are split into three equal-count tertiles by predicted success
    probability (hard = lowest), and for each average budget the online greedy
    allocation's units are summed per tertile (the paper's Figure 6).

    Parameters
    ----------
    budgets : ndarray of shape (n_budgets,)
        Average budgets per query.
    shares : ndarray of shape (n_budgets, 3)
        Fraction of all allocated units going to (easy, medium, hard).

    Attributes
    ----------
    bars_ : list of matplotlib BarContainer
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skadapt.display import AllocationByDifficultyDisplay
    >>> lam = np.random.default_rng(0).uniform(size=300)
    >>> disp = AllocationByDifficultyDisplay.from_predictions(lam, budgets=[1, 16], max_budget=32)
    >>> disp.shares.shape
    (2, 3)
    """

    TERTILES = ("easy", "medium", "hard")

    def __init__(self, budgets, shares):
        self.budgets = budgets
        self.shares = shares

    def plot(self, *, ax=None):
        """Draw stacked bars; returns ``self``."""
        self.ax_, self.figure_ = _axes(ax)
        x = np.arange(len(self.budgets))
        bottom = np.zeros(len(self.budgets))
        self.bars_ = []
        for k, (label, color) in enumerate(zip(self.TERTILES, ("C2", "C1", "C3"))):
            bars = self.ax_.bar(x, self.shares[:, k], bottom=bottom, color=color,
                                label=label)
            self.bars_.append(bars)
            bottom += self.shares[:, k]
        self.ax_.set_xticks(x, [f"{b:g}" for b in self.budgets])
        self.ax_.set(xlabel="Average budget per query",
                     ylabel="Share of allocated compute", ylim=(0, 1))
        self.ax_.legend(title="Predicted difficulty", loc="upper left")
        return self

    @classmethod
    def from_predictions(cls, y_prob, *, budgets=(1, 2, 4, 8, 16), max_budget=32,
                         min_budget=0, ax=None):
        """Allocate with :class:`~skadapt.GreedyAllocator` on predicted success
        probabilities at each budget and plot the shares per tertile."""
        from skadapt.allocation import GreedyAllocator

        y_prob = np.asarray(y_prob, dtype=float).ravel()
        if y_prob.size < 3:
            raise ValueError(f"need at least 3 queries for tertiles, got {y_prob.size}")
        # rank, so that ties still give three equal-count groups
        order = np.argsort(-y_prob, kind="stable")
        tertile = np.empty(y_prob.size, dtype=int)
        tertile[order] = np.arange(y_prob.size) * 3 // y_prob.size
        shares = []
        for budget in budgets:
            alloc = GreedyAllocator(budget, max_budget=max_budget,
                                    min_budget=min_budget, kind="success_prob")
            units = alloc.fit_transform(y_prob.reshape(-1, 1)).ravel().astype(float)
            per = np.bincount(tertile, units, minlength=3)
            shares.append(per / per.sum() if per.sum() > 0 else per)
        return cls(np.asarray(budgets, dtype=float), np.vstack(shares)).plot(ax=ax)

    @classmethod
    def from_estimator(cls, estimator, X, **kwargs):
        """Plot the allocation by difficulty of a fitted probe's predictions on ``X``."""
        return cls.from_predictions(_success_prob_of(estimator, X), **kwargs)
