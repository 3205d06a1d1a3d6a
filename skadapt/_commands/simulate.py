"""``skadapt simulate``: what adaptive allocation can gain on a difficulty distribution.

Given single-sample success probabilities ``lam`` (a named preset or a file),
best-of-b succeeds on a query with probability ``1 - (1 - lam)**b`` (section 3.3
of the paper), so every curve here is an exact expectation, with no sampling:

- uniform best-of-k: every query gets ``k`` samples;
- oracle greedy: the exact optimum of Eq. 5 with the true marginal rewards
  (:func:`skadapt.allocation.greedy_allocate_success_prob`);
- oracle binned: one budget per bin of the true success rate
  (:class:`skadapt.BinnedAllocator`, fitted and applied on the true values);

and the compute saved at matched success: ``1 - B / U``, where ``B`` is the
average budget the oracle actually spends and ``U`` the average budget uniform
best-of-k needs for the same expected success (interpolated between integer
k, see :func:`skadapt.metrics.compute_savings`).
"""

import time

PRESETS = {
    "math": "flat spread of success rates: 5% never solved, the rest uniform on (0, 1)",
    "code": "about half never solved, the rest Beta(0.5, 1.5) (mostly hard)",
}


# Beyond these the command would run for minutes or out of memory; a preset's
# quantile grid is exact to the printed precision long before MAX_QUERIES.
MAX_QUERIES = 1_000_000
MAX_BUDGET = 1024


def configure(parser):
    from skadapt.cli import bounded_int, positive_int

    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="math",
        # argparse formats help with %: the presets' "5%" must be escaped
        help="difficulty distribution: "
        + "; ".join(f"{k}: {v}" for k, v in PRESETS.items()).replace("%", "%%")
        + " (default: math)",
    )
    parser.add_argument(
        "--success-rates", metavar="FILE",
        help="file of per-query success probabilities in [0, 1] instead of a preset: "
             "one per line (text) or a 1-D .npy array",
    )
    parser.add_argument("--n-queries", type=bounded_int(2, MAX_QUERIES), default=1000,
                        help=f"number of queries drawn from a preset, 2 to {MAX_QUERIES:,} "
                             "(default: 1000)")
    parser.add_argument("--budgets", type=_budget_list, default="1,2,4,8,16,32",
                        help="comma-separated average budgets per query, each in "
                             "(0, --max-budget] (default: 1,2,4,8,16,32)")
    parser.add_argument("--max-budget", type=bounded_int(1, MAX_BUDGET), default=64,
                        help=f"largest budget of one query for the oracles, at most "
                             f"{MAX_BUDGET} (default: 64)")
    parser.add_argument("--n-bins", type=positive_int, default=10,
                        help="bins of the oracle binned allocation (default: 10)")
    parser.add_argument("--plot", metavar="PATH",
                        help="also save a plot of the curves to PATH (needs matplotlib)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the --plot file if it exists")


def preset_success_rates(name, n_queries):
    """Deterministic success probabilities of a preset: evenly spaced quantiles.

    Using quantiles rather than random draws makes the printed numbers
    reproducible without a seed.
    """
    import numpy as np
    from scipy import stats

    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    if n_queries < 2:
        raise ValueError(f"--n-queries must be at least 2; got {n_queries}")
    zero_share = {"math": 0.05, "code": 0.5}[name]
    n_zero = int(round(zero_share * n_queries))
    n_rest = n_queries - n_zero
    grid = (np.arange(n_rest) + 0.5) / n_rest
    rest = grid if name == "math" else stats.beta(0.5, 1.5).ppf(grid)
    return np.concatenate([np.zeros(n_zero), rest])


def load_success_rates(path):
    import numpy as np

    from skadapt._validation import check_probabilities

    import warnings

    try:
        with warnings.catch_warnings():
            # an empty file: said below, as an error, rather than by a warning too
            warnings.simplefilter("ignore", UserWarning)
            values = np.load(path) if str(path).endswith(".npy") else np.loadtxt(path, ndmin=1)
    except (OSError, ValueError) as exc:
        raise ValueError(f"could not read success rates from {path}: {exc}") from None
    return check_probabilities(np.ravel(values) if np.ndim(values) == 2 and 1 in np.shape(values) else values,
                               name=f"success rates in {path}")


def _budget_list(text):
    """``--budgets``: comma-separated positive numbers, sorted, duplicates dropped."""
    import argparse
    import math

    try:
        budgets = [float(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated numbers; got {text!r}") from None
    if not budgets:
        raise argparse.ArgumentTypeError(f"is empty; got {text!r}")
    bad = [b for b in budgets if not (math.isfinite(b) and b > 0)]
    if bad:
        raise argparse.ArgumentTypeError(f"must be positive numbers; got {bad[0]:g}")
    return sorted(set(budgets))


def _validate(args):
    """Every check that needs more than one argument or a file, before any compute.

    Returns the success probabilities and a description of where they came from.
    """
    from skadapt.cli import UsageError, check_output_file

    too_big = [b for b in args.budgets if b > args.max_budget]
    if too_big:
        raise UsageError("--budgets", f"must lie in (0, --max-budget={args.max_budget}]; "
                                      f"got {too_big[0]:g}")
    if args.plot is not None:
        check_output_file(args.plot, overwrite=args.overwrite, argument="--plot")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot", "needs matplotlib, which is not installed: "
                                       "pip install 'skadapt[plot]' (or pip install matplotlib)"
                             ) from None
    if args.success_rates is not None:
        try:
            lam = load_success_rates(args.success_rates)
        except ValueError as exc:
            raise UsageError("--success-rates", str(exc)) from None
        if lam.size > MAX_QUERIES:
            raise UsageError("--success-rates", f"{args.success_rates} holds {lam.size:,} "
                                                f"values; at most {MAX_QUERIES:,}")
        source = f"success rates from {args.success_rates}"
    else:
        lam = preset_success_rates(args.preset, args.n_queries)
        source = f"preset '{args.preset}' ({PRESETS[args.preset]})"
    if args.n_bins > lam.size:
        raise UsageError("--n-bins", f"must be at most the number of queries ({lam.size}); "
                                     f"got {args.n_bins}")
    return lam, source


def simulate(success_prob, budgets, *, max_budget, n_bins=10):
    """The table behind ``skadapt simulate``, as a pandas DataFrame.

    Parameters
    ----------
    success_prob : ndarray of shape (n_queries,)
        True single-sample success probabilities.
    budgets : list of float
        Average budgets per query.
    max_budget : int
        Largest budget of one query.
    n_bins : int
        Bins of the oracle binned allocation.

    Returns
    -------
    table : pandas.DataFrame
        One row per budget with the expected success of uniform best-of-k
        (``NaN`` for a non-integer budget), of the oracle greedy and binned
        allocations, the average budgets they actually spend, and the compute
        each saves at matched success.
    uniform_curve : tuple of ndarray
        Budgets 0..max_budget and the uniform expected success at each.
    """
    import numpy as np
    import pandas as pd

    from skadapt._greedy import total_units
    from skadapt.allocation import BinnedAllocator, greedy_allocate_success_prob
    from skadapt.metrics import compute_savings

    lam = np.asarray(success_prob, dtype=float)
    n = lam.shape[0]
    ks = np.arange(max_budget + 1)
    uniform = np.array([np.mean(1 - (1 - lam) ** k) for k in ks])
    rows = []
    X = lam[:, None]
    for budget in budgets:
        greedy = np.asarray(greedy_allocate_success_prob(
            lam, total_units(budget, n), max_budget=max_budget)).ravel()
        binned = np.asarray(BinnedAllocator(budget, n_bins=n_bins, max_budget=max_budget,
                                            kind="success_prob").fit(X).transform(X)).ravel()
        row = {"budget": budget,
               "uniform": uniform[int(budget)] if float(budget).is_integer() else np.nan}
        for name, b in (("greedy", greedy), ("binned", binned)):
            row[name] = float(np.mean(1 - (1 - lam) ** b))
            row[f"{name}_budget"] = float(b.mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    for name in ("greedy", "binned"):
        savings = compute_savings(table[f"{name}_budget"], table[name], ks, uniform)
        table[f"{name}_saved"] = savings.compute_saved
        # Success of best-of-max_budget for every query is the most any allocation
        # capped at max_budget can reach; near it (within the printed precision)
        # the saving is set by the cap.
        table[f"{name}_at_cap"] = table[name] >= uniform[-1] - 5e-4
    return table, (ks, uniform)


def _format_table(table):
    def pct(x, at_cap=False):
        return ("    n/a" if x != x else f"{100 * x:6.1f}%") + ("*" if at_cap else " ")

    def num(x, width=7, digits=3):
        return " " * (width - 3) + "n/a" if x != x else f"{x:{width}.{digits}f}"

    lines = [
        "                      expected success             avg budget spent    compute saved",
        " budget   uniform   oracle greedy   oracle binned    greedy   binned    greedy   binned",
    ]
    for r in table.itertuples():
        lines.append(
            f"{r.budget:7g}   {num(r.uniform)}   {num(r.greedy, 13)}   {num(r.binned, 13)}"
            f"   {num(r.greedy_budget, 7, 2)}  {num(r.binned_budget, 7, 2)}   "
            f"{pct(r.greedy_saved, r.greedy_at_cap)} {pct(r.binned_saved, r.binned_at_cap)}"
        )
    if table["greedy_at_cap"].any() or table["binned_at_cap"].any():
        lines.append(
            "* within 0.0005 of the success of best-of-max_budget on every query, the most any "
            "allocation capped at\n  --max-budget can reach: this saving is set by the cap "
            "(raise --max-budget to see more)."
        )
    return "\n".join(lines)


def _plot(path, table, uniform_curve):
    import matplotlib  # checked by _validate

    matplotlib.use("Agg")
    import numpy as np
    import pandas as pd

    from skadapt.display import AllocationCurveDisplay

    ks, uniform = uniform_curve
    # uniform best-of-k at the requested integer budgets and at powers of two
    powers = 2 ** np.arange(int(np.log2(ks[-1])) + 1)
    wanted = set(powers.tolist()) | {int(b) for b in table["budget"] if float(b).is_integer()}
    keep = np.isin(ks, sorted(wanted))
    frames = [pd.DataFrame({"method": "uniform", "budget": ks[keep], "average_budget": ks[keep],
                            "value": uniform[keep]})]
    for name, label in (("greedy", "oracle"), ("binned", "oracle (binned)")):
        frames.append(pd.DataFrame({"method": label, "budget": table["budget"],
                                    "average_budget": table[f"{name}_budget"], "value": table[name]}))
    display = AllocationCurveDisplay(pd.concat(frames, ignore_index=True)).plot()
    display.lines_["oracle"].set_label("Oracle (greedy)")
    display.lines_["oracle (binned)"].set(marker="^", linestyle="-.", color="C2", label="Oracle (binned)")
    display.ax_.legend(loc="lower right")
    display.ax_.set_title("Expected success of best-of-b: uniform vs oracle allocation")
    display.figure_.savefig(path, dpi=120, bbox_inches="tight")


def main(args):
    start = time.perf_counter()
    lam, source = _validate(args)
    import numpy as np

    table, uniform_curve = simulate(lam, args.budgets, max_budget=args.max_budget,
                                    n_bins=args.n_bins)
    print(f"skadapt simulate: {source}")
    print(f"{lam.size} queries; mean success rate {lam.mean():.3f}; never solved {np.mean(lam == 0):.1%}; "
          f"max budget per query {args.max_budget}; oracle binned uses {args.n_bins} bins")
    print("Exact expectations for best-of-b with independent samples: q(b) = 1 - (1 - lam)^b.")
    print()
    print(_format_table(table))
    print()
    print("compute saved = 1 - (oracle's average budget) / (uniform budget with the same expected success)")
    if args.plot is not None:
        _plot(args.plot, table, uniform_curve)
        print(f"plot saved to {args.plot}")
    print(f"({time.perf_counter() - start:.2f} s)")
    return 0
