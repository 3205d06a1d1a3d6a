"""How much of the split-sample oracle's gain needs to know the task family?

Splits the gain of the split-sample oracle over uniform best-of-B into what a policy
could get from knowing only each query's *family* and what it could get only *within*
families. Every policy allocates from samples 1-16 and is scored exactly on samples
17-32 (as in :func:`skadapt.shift.shift_evaluation`):

* ``split oracle``: each query's own exact curve (samples 1-16), greedy over all queries;
* ``family level``: every query gets its family's average exact curve, greedy over all
  queries (knows which families are hard, nothing about the queries inside them);
* ``within family``: each family keeps uniform's share (``B`` per query) and the greedy
  splits it among the family's queries by their own exact curves (knows the queries
  inside a family, nothing about which families are hard);
* ``probe within family``: as ``within family``, but the greedy splits each family's
  share by the default probe's curves (``SuccessProbClassifier(max_budget=16)`` on the
  default features, fitted leave-family-out: 3 ``GroupKFold`` folds over ``family``,
  samples 1-16 of the other folds), so it measures how well the probe ranks queries
  *inside* a family it never saw;
* ``probe within family, random split``: the same with 3 shuffled ``KFold`` folds, so
  the probe has seen every family: how well the features rank queries inside a family
  at best, in distribution;
* ``probe family level``: every query gets the average of the leave-family-out probe's
  curves over its family, greedy over all queries: how well the probe tells how hard a
  family it never saw is, and nothing else.

A probe that never saw a query's family must guess the family's level from the query
alone. Where that guess is no better than a constant (the leave-family-out probe scores
of ``benchmarks/feature_layers.py``), the ``within family`` column bounds what it can
capture.

    python benchmarks/shift_ceiling.py --dataset diverse
    python benchmarks/shift_ceiling.py --dataset arithmetic
    python benchmarks/shift_ceiling.py --dataset diverse --extra-data broader

The probe column uses the all-layer feature cache of ``benchmarks/feature_layers.py``
(built on first use); ``--no-probe`` leaves it out.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("arithmetic", "diverse"), default="diverse")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--no-probe", action="store_true",
                        help="leave out the 'probe within family' column")
    parser.add_argument("--extra-data", choices=("none", "broader"), default="none",
                        help="also train the probe columns' probes on the 1,600 queries of "
                             "skadapt.datasets.load_broader() (other families, never "
                             "scored), as `skadapt demo --dataset diverse` does")
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/skadapt/layers"))
    args = parser.parse_args(argv)
    if any(b < 1 or b > 16 for b in args.budgets):
        parser.error("--budgets: each budget must be between 1 and 16")
    if args.no_probe and args.extra_data != "none":
        parser.error("--extra-data: only the probe columns use it, and --no-probe drops them")

    from skadapt import GreedyAllocator, datasets, targets
    from skadapt.evaluation import per_query_value
    from skadapt.shift import split_sample_oracle, split_samples

    load = datasets.load_diverse if args.dataset == "diverse" else datasets.load_arithmetic
    data = load()
    R_allocate, R_score = split_samples(data.outcomes.astype(float))
    m = R_score.shape[1]
    family = np.asarray(data.family)
    exact = targets.marginal_rewards(R_allocate, m)
    family_curve = np.zeros_like(exact)
    for f in np.unique(family):
        family_curve[family == f] = exact[family == f].mean(0)

    probe_curves = None if args.no_probe else _probe_curves(args, data, R_allocate)

    def greedy(curves, budget):
        alloc = GreedyAllocator(budget, max_budget=m, kind="marginal")
        return np.asarray(alloc.fit_transform(curves)).ravel()

    def value(budgets):
        return float(per_query_value(R_score, budgets).mean())

    print(f"{args.dataset}: {len(family)} queries, {len(np.unique(family))} families; "
          "gain over uniform (share of the split oracle's gain)\n")
    columns = ["family level", "within family"] + ([] if args.no_probe else [
        "probe within family", "probe within family, random split", "probe family level"])
    print("| B | uniform | split oracle | " + " | ".join(columns) + " |")
    print("|---|---|---|" + "---|" * len(columns))
    for b in args.budgets:
        uniform = value(np.full(len(family), b))
        oracle = value(split_sample_oracle(R_allocate, b, max_budget=m)) - uniform
        level = value(greedy(family_curve, b)) - uniform
        cells = [level]
        for curves in [exact] + ([] if probe_curves is None else list(probe_curves)):
            within = np.zeros(len(family), dtype=int)
            for f in np.unique(family):
                rows = family == f
                within[rows] = greedy(curves[rows], b)
            cells.append(value(within) - uniform)
        if probe_curves is not None:
            # the leave-family-out probe's own family level: its curves averaged per family
            level_curve = np.zeros_like(exact)
            for f in np.unique(family):
                level_curve[family == f] = probe_curves[0][family == f].mean(0)
            cells.append(value(greedy(level_curve, b)) - uniform)
        print(f"| {b} | {uniform:.3f} | +{oracle:.3f} | "
              + " | ".join(f"{c:+.3f} ({c / oracle:.0%})" for c in cells) + " |")
    rates = sorted(float(R_allocate[family == f].mean()) for f in np.unique(family))
    print(f"\nfamily success rates (samples 1-16): min {rates[0]:.3f}, median "
          f"{np.median(rates):.3f}, max {rates[-1]:.3f}")


def _probe_curves(args, data, R_allocate):
    """Out-of-fold curves of the default probe on the default features: leave-family-out
    (3 ``GroupKFold`` folds over ``family``) and random split (3 shuffled folds)."""
    from sklearn.model_selection import GroupKFold, KFold

    from skadapt import SuccessProbClassifier

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from feature_layers import cached_layers

    # the featurizer's default: last layer, prompt mean
    X = cached_layers(args.dataset, data, args.cache)["mean"][-1]
    X_extra = np.zeros((0, X.shape[1]), dtype=X.dtype)
    R_extra = np.zeros((0, R_allocate.shape[1]))
    if args.extra_data == "broader":
        from skadapt.datasets import load_broader
        from skadapt.shift import split_samples

        extra = load_broader()
        X_extra = cached_layers("broader", extra, args.cache)["mean"][-1]
        R_extra = split_samples(extra.outcomes.astype(float))[0]
    out = []
    for cv in (GroupKFold(3), KFold(3, shuffle=True, random_state=0)):
        curves = np.zeros((len(X), R_allocate.shape[1]))
        groups = data.family if isinstance(cv, GroupKFold) else None
        for train, test in cv.split(X, groups=groups):
            probe = SuccessProbClassifier(random_state=0, max_budget=R_allocate.shape[1])
            probe.fit(np.vstack([X[train], X_extra]), np.vstack([R_allocate[train], R_extra]))
            curves[test] = probe.transform(X[test])
        out.append(curves)
    return out


if __name__ == "__main__":
    main()
