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

:data:`METHOD_COLORS` gives each method one colour that every display (and
``skadapt demo``'s plots) uses, so a colour never names two methods across figures.
"""

from __future__ import annotations

import numpy as np

#: One colour per method, shared by every display and the demo's plots.
METHOD_COLORS = {
    "uniform": "0.35",
    "online": "C0",
    "offline": "C2",
    "oracle": "C3",
    "random": "C5",
    "preference probe (Eq. 8)": "C1",
    "best-of-k probe (Eq. 13-14)": "C4",
    "MLP probe": "C6",
}

# Online and offline often coincide: offline is a large hollow triangle under a
# smaller filled online square drawn on top, so neither hides the other.
_STYLE = {
    "uniform": dict(marker="o", linestyle="--", zorder=2, label="Uniform best-of-k"),
    "online": dict(marker="s", markersize=5, linewidth=2.0, zorder=5,
                   label="Online adaptive (greedy)"),
    "offline": dict(marker="^", markersize=10, markerfacecolor="none",
                    markeredgewidth=1.5, linestyle="-.", linewidth=1.5, zorder=4,
                    label="Offline adaptive (binned)"),
    "oracle": dict(marker="*", markersize=9, linestyle=":", zorder=3,
                   label="Oracle (in-sample)"),
    "random": dict(marker="x", linestyle="--", zorder=2, label="random"),
    "preference probe (Eq. 8)": dict(marker="D", markersize=5, zorder=4),
    "best-of-k probe (Eq. 13-14)": dict(marker="P", linestyle="-.", zorder=4),
}

# The shares by difficulty are of the online allocation: shades of its colour
# (light = easy), none of them another method's colour.
_DIFFICULTY_COLORS = ("#c6dbef", "#6baed6", "#08306b")


def _style(method):
    """Plot keywords for ``method``: its colour from METHOD_COLORS, its marker."""
    style = {"label": method, **_STYLE.get(method, {})}
    if method in METHOD_COLORS:
        style["color"] = METHOD_COLORS[method]
    return style


def _legend_outside(ax, **kwargs):
    """Legend to the right of the axes, where it covers no data."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                     **kwargs)


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
    interval_label : str, default=None
        Legend entry that says what the shaded bands are; default
        ``"shaded: bootstrap interval over queries"``. :meth:`from_predictions`
        names the level, the number of queries and of resamples.

    Attributes
    ----------
    lines_ : dict of matplotlib Line2D
        One per method, coloured by :data:`METHOD_COLORS`.
    bands_ : dict of matplotlib PolyCollection
        The shaded interval of each method that has ``low``/``high``.
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

    def __init__(self, curves, *, ylabel="Expected success", interval_label=None):
        self.curves = curves
        self.ylabel = ylabel
        self.interval_label = interval_label

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

        Returns
        -------
        display : AllocationCurveDisplay
            With ``ax_`` and ``figure_`` set.
        """
        self.ax_, self.figure_ = _axes(ax)
        self.lines_, self.bands_ = {}, {}
        for method, group in self.curves.groupby("method", sort=False):
            group = group.sort_values("budget")
            (line,) = self.ax_.plot(group["average_budget"], group["value"],
                                    **_style(method))
            self.lines_[method] = line
            if (intervals and {"low", "high"} <= set(group.columns)
                    and group[["low", "high"]].notna().all().all()):
                self.bands_[method] = self.ax_.fill_between(
                    group["average_budget"], group["low"], group["high"],
                    color=line.get_color(), alpha=0.15, linewidth=0, zorder=1)
        if log_x:
            self.ax_.set_xscale("log", base=2)
        self.ax_.set(xlabel="Average budget per query (samples)", ylabel=self.ylabel)
        self.ax_.grid(True, alpha=0.3)
        handles, labels = self.ax_.get_legend_handles_labels()
        if self.bands_:
            from matplotlib.patches import Patch

            handles.append(Patch(color="0.5", alpha=0.3))
            labels.append(self.interval_label
                          or "shaded: bootstrap interval\nover queries")
        _legend_outside(self.ax_, handles=handles, labels=labels)
        return self

    @classmethod
    def from_predictions(cls, rewards, y_pred, *, budgets=(1, 2, 4, 8, 16),
                         kind="success_prob", max_budget=None, min_budget=0,
                         binary=True, held_out=None, methods=None,
                         ylabel=None, ax=None, **kwargs):
        """Compute the curves from a reward matrix and predictions, and plot.

        Parameters
        ----------
        rewards, y_pred, budgets, kind, max_budget, min_budget, binary, held_out, methods
            As in :func:`skadapt.evaluation.allocation_curves`.
        ylabel : str, default=None
            Label of the y axis; "Expected success" when ``binary`` else
            "Expected reward".
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kwargs : dict
            More arguments of :func:`~skadapt.evaluation.allocation_curves`
            (``n_resamples``, ``confidence``, ...).

        Returns
        -------
        display : AllocationCurveDisplay
            With ``ax_`` and ``figure_`` set.
        """
        from skadapt.evaluation import allocation_curves

        curves = allocation_curves(
            rewards, y_pred, budgets=budgets, kind=kind, max_budget=max_budget,
            min_budget=min_budget, binary=binary, held_out=held_out,
            methods=methods, **kwargs,
        )
        if ylabel is None:
            ylabel = "Expected success" if binary else "Expected reward"
        interval_label = (
            f"shaded: {kwargs.get('confidence', 0.95):.0%} bootstrap interval\nover "
            f"the {len(rewards)} queries ({kwargs.get('n_resamples', 1000)} resamples)")
        return cls(curves, ylabel=ylabel, interval_label=interval_label).plot(ax=ax)

    @classmethod
    def from_estimator(cls, estimator, X, rewards, *, kind="success_prob", **kwargs):
        """Plot the curves of a fitted probe (or pipeline ending in one) on data.

        ``estimator`` gives success probabilities (``predict_proba`` or a
        one-column ``transform``) for ``kind="success_prob"``, or a marginal
        reward matrix (``predict``) for ``kind="marginal"``.

        Parameters
        ----------
        estimator : fitted estimator
            A probe, or a pipeline ending in one.
        X : array-like
            Its input (features, or query strings for a featurizing pipeline).
        rewards : array-like of shape (n_queries, n_samples)
            Reward (or 0/1 outcome) matrix of the same queries.
        kind : {"success_prob", "marginal"}, default="success_prob"
            What ``estimator`` predicts.
        **kwargs : dict
            Arguments of :meth:`from_predictions`.

        Returns
        -------
        display : AllocationCurveDisplay
            With ``ax_`` and ``figure_`` set.
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
        Legend label; a name in :data:`METHOD_COLORS` (``"MLP probe"``) takes its
        colour.

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
        """Draw the diagram; returns ``self``.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        name : str, default=None
            Legend label; the display's ``name`` when None.
        ref_line : bool, default=True
            Draw the diagonal of perfect calibration.
        **kwargs : dict
            Passed to ``ax.plot``.

        Returns
        -------
        display : SuccessCalibrationDisplay
            With ``ax_`` and ``figure_`` set.
        """
        self.ax_, self.figure_ = _axes(ax)
        name = self.name if name is None else name
        if ref_line:
            self.ax_.plot([0, 1], [0, 1], "k:", label="Perfectly calibrated")
        style = {"marker": "s", **kwargs}
        if name is not None:
            style.setdefault("label", name)
            if name in METHOD_COLORS:
                style.setdefault("color", METHOD_COLORS[name])
        (self.line_,) = self.ax_.plot(self.prob_pred, self.prob_true, **style)
        self.ax_.set(xlabel="Predicted success probability",
                     ylabel="Empirical success rate", xlim=(-0.02, 1.02),
                     ylim=(-0.02, 1.02))
        self.ax_.grid(True, alpha=0.3)
        _legend_outside(self.ax_)
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
        name : str, default=None
            Legend label.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : SuccessCalibrationDisplay
            With ``ax_`` and ``figure_`` set.
        """
        from skadapt._validation import as_float_array, check_array_memory, check_positive_int
        from skadapt.targets import success_rate

        y_true = as_float_array(y_true, "y_true")
        if y_true.ndim == 2:
            y_true = success_rate(y_true)
        elif y_true.ndim != 1:
            raise ValueError(f"y_true must be 1-D or 2-D, got shape {y_true.shape}")
        elif not np.all(np.isfinite(y_true)) or np.any((y_true < 0) | (y_true > 1)):
            raise ValueError("y_true must hold success rates in [0, 1] (or pass the 0/1 "
                             "outcome matrix, NaN = missing sample)")
        y_prob = as_float_array(y_prob, "y_prob").ravel()
        if y_true.shape != y_prob.shape:
            raise ValueError(
                f"y_true has {y_true.shape[0]} queries but y_prob has {y_prob.shape[0]}"
            )
        if y_prob.size == 0:
            raise ValueError("no predictions to calibrate")
        if not np.all(np.isfinite(y_prob)) or np.any((y_prob < 0) | (y_prob > 1)):
            raise ValueError("y_prob must be probabilities in [0, 1]")
        n_bins = check_positive_int(n_bins, "n_bins")
        if strategy == "quantile":
            n_bins = min(n_bins, y_prob.size)  # more quantile bins than queries are empty
        check_array_memory((n_bins + 1,), name="n_bins", value=n_bins)
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
        """Plot the calibration of a fitted probe on ``X`` against outcomes ``y``.

        Parameters
        ----------
        estimator : fitted estimator
            A success-probability probe, or a pipeline ending in one.
        X : array-like
            Its input.
        y : array-like of shape (n_queries,) or (n_queries, n_samples)
            Success rates or the 0/1 outcome matrix of the same queries.
        name : str, default=None
            Legend label; the estimator's class name when None.
        **kwargs : dict
            Arguments of :meth:`from_predictions`.

        Returns
        -------
        display : SuccessCalibrationDisplay
            With ``ax_`` and ``figure_`` set.
        """
        y_prob = _success_prob_of(estimator, X)
        if name is None:
            name = type(estimator).__name__
        return cls.from_predictions(y, y_prob, name=name, **kwargs)


class AllocationByDifficultyDisplay:
    """Share of compute given to easy, medium and hard queries at each budget.

    Queries are split into three equal-count tertiles by predicted success
    probability ``p`` (hard = lowest third, ties split by order), and for each
    average budget the online greedy allocation's units are summed per tertile
    (the paper's Figure 6). The legend states each tertile's range of ``p``.

    Parameters
    ----------
    budgets : ndarray of shape (n_budgets,)
        Average budgets per query.
    shares : ndarray of shape (n_budgets, 3)
        Fraction of all allocated units going to (easy, medium, hard).
    thresholds : ndarray of shape (2,), default=None
        Predicted success probabilities between hard and medium and between
        medium and easy (hard: ``p < thresholds[0]``, easy: ``p >= thresholds[1]``),
        as :meth:`from_predictions` finds them; shown in the legend.

    Attributes
    ----------
    bars_ : list of matplotlib BarContainer
        Easy, medium, hard (bottom to top).
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
    >>> disp.thresholds.round(2)   # between the thirds: p < 0.39 hard, p >= 0.73 easy
    array([0.39, 0.73])
    """

    TERTILES = ("easy", "medium", "hard")

    def __init__(self, budgets, shares, *, thresholds=None):
        self.budgets = budgets
        self.shares = shares
        self.thresholds = thresholds

    def _labels(self):
        if self.thresholds is None:
            return list(self.TERTILES)
        low, high = (f"{t:.3g}" for t in self.thresholds)
        return [f"easy: p \u2265 {high}", f"medium: {low} \u2264 p < {high}",
                f"hard: p < {low}"]

    def plot(self, *, ax=None):
        """Draw stacked bars; returns ``self``.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.

        Returns
        -------
        display : AllocationByDifficultyDisplay
            With ``ax_`` and ``figure_`` set.
        """
        self.ax_, self.figure_ = _axes(ax)
        x = np.arange(len(self.budgets))
        bottom = np.zeros(len(self.budgets))
        self.bars_ = []
        for k, (label, color) in enumerate(zip(self._labels(), _DIFFICULTY_COLORS)):
            bars = self.ax_.bar(x, self.shares[:, k], bottom=bottom, color=color,
                                edgecolor="white", label=label)
            self.bars_.append(bars)
            bottom += self.shares[:, k]
        self.ax_.set_xticks(x, [f"{b:g}" for b in self.budgets])
        self.ax_.set(xlabel="Average budget per query (samples)",
                     ylabel="Share of allocated compute", ylim=(0, 1))
        # listed top to bottom as stacked (hard on top), beside the bars
        handles, labels = self.ax_.get_legend_handles_labels()
        _legend_outside(self.ax_, handles=handles[::-1], labels=labels[::-1],
                        title="Predicted success p\n(equal-count thirds)")
        return self

    @classmethod
    def from_predictions(cls, y_prob, *, budgets=(1, 2, 4, 8, 16), max_budget=32,
                         min_budget=0, ax=None):
        """Allocate with :class:`~skadapt.GreedyAllocator` on predicted success
        probabilities at each budget and plot the shares per tertile.

        Parameters
        ----------
        y_prob : array-like of shape (n_queries,)
            Predicted success probabilities (at least 3 queries).
        budgets : sequence of float, default=(1, 2, 4, 8, 16)
            Average budgets per query to allocate.
        max_budget : int, default=32
            Most samples one query may get.
        min_budget : int, default=0
            Fewest samples one query gets.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.

        Returns
        -------
        display : AllocationByDifficultyDisplay
            With ``ax_`` and ``figure_`` set.
        """
        from skadapt._validation import check_probabilities
        from skadapt.allocation import GreedyAllocator

        y_prob = check_probabilities(np.ravel(y_prob), name="y_prob")
        if y_prob.size < 3:
            raise ValueError(f"need at least 3 queries for tertiles, got {y_prob.size}")
        # rank, so that ties still give three equal-count groups
        order = np.argsort(-y_prob, kind="stable")
        tertile = np.empty(y_prob.size, dtype=int)
        tertile[order] = np.arange(y_prob.size) * 3 // y_prob.size
        # the p between adjacent thirds: midway from one's lowest to the next's highest
        thresholds = np.array([
            (y_prob[tertile == 1].min() + y_prob[tertile == 2].max()) / 2,
            (y_prob[tertile == 0].min() + y_prob[tertile == 1].max()) / 2])
        shares = []
        for budget in budgets:
            alloc = GreedyAllocator(budget, max_budget=max_budget,
                                    min_budget=min_budget, kind="success_prob")
            units = alloc.fit_transform(y_prob.reshape(-1, 1)).ravel().astype(float)
            per = np.bincount(tertile, units, minlength=3)
            shares.append(per / per.sum() if per.sum() > 0 else per)
        return cls(np.asarray(budgets, dtype=float), np.vstack(shares),
                   thresholds=thresholds).plot(ax=ax)

    @classmethod
    def from_estimator(cls, estimator, X, **kwargs):
        """Plot the allocation by difficulty of a fitted probe's predictions on ``X``.

        Parameters
        ----------
        estimator : fitted estimator
            A success-probability probe, or a pipeline ending in one.
        X : array-like
            Its input.
        **kwargs : dict
            Arguments of :meth:`from_predictions`.

        Returns
        -------
        display : AllocationByDifficultyDisplay
            With ``ax_`` and ``figure_`` set.
        """
        return cls.from_predictions(_success_prob_of(estimator, X), **kwargs)
