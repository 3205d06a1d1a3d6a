"""Would more task families in training help on unseen ones? A learning curve in families.

Leave-family-out with a fixed outer split (``GroupKFold(5)`` over ``family``: every fold
holds out a fifth of the families), the default ``SuccessProbClassifier(max_budget=16)``
on the default features (last layer, prompt mean) is trained on the samples 1-16 of
only ``k`` of the training folds' families, drawn at random (``--draws`` draws per
``k``; all of them for the largest ``k``), and predicts the held-out families. Reported
per ``k``, averaged over the draws (range in brackets):

* the probe's Table-1 score ``(Avg - ours) / (Avg - Opt)`` of the soft log-loss against
  the success rate on samples 17-32, ``Avg`` the constant fitted on the same ``k``
  families (0 = no better than a constant, negative = worse);
* the online gain's share of the split-sample oracle's gain at each budget (greedy over
  all queries, scored exactly on samples 17-32, oracle allocating from samples 1-16).

If the shares and the score rise with ``k``, collecting more families is a way to a probe
that transfers; if they flatten, it is not.

    python benchmarks/family_learning_curve.py --dataset diverse
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def _soft_log_loss(rate, p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-(rate * np.log(p) + (1 - rate) * np.log(1 - p)).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("arithmetic", "diverse"), default="diverse")
    parser.add_argument("--families", type=int, nargs="+", default=None,
                        help="numbers of training families k (default: 5, 10, 15 and all "
                             "the training folds hold)")
    parser.add_argument("--draws", type=int, default=5,
                        help="random draws of the k families per k (default 5)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/skadapt/layers"))
    args = parser.parse_args(argv)
    if any(b < 1 or b > 16 for b in args.budgets):
        parser.error("--budgets: each budget must be between 1 and 16")
    if args.draws < 1:
        parser.error(f"--draws must be at least 1, got {args.draws}")

    from sklearn.model_selection import GroupKFold

    from skadapt import GreedyAllocator, SuccessProbClassifier, datasets
    from skadapt.evaluation import per_query_value
    from skadapt.shift import split_sample_oracle

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from feature_layers import cached_layers

    load = datasets.load_diverse if args.dataset == "diverse" else datasets.load_arithmetic
    data = load()
    X = cached_layers(args.dataset, data, args.cache)["mean"][-1]
    R = data.outcomes.astype(float)
    R_allocate, R_score = R[:, :16], R[:, 16:]
    family = np.asarray(data.family)
    n_families = len(np.unique(family))
    folds = list(GroupKFold(5).split(R, groups=family))
    most = min(len(np.unique(family[train])) for train, _ in folds)
    ks = args.families or sorted({k for k in (5, 10, 15) if k < most} | {most})
    bad = [k for k in ks if not 1 <= k <= most]
    if bad:
        parser.error(f"--families: each k must lie in [1, {most}] (the fewest families a "
                     f"training fold holds, of {n_families}); got {bad}")

    rate = R_score.mean(axis=1)
    uniform = {b: per_query_value(R_score, np.full(len(R), b)).mean() for b in args.budgets}
    oracle = {b: per_query_value(R_score, split_sample_oracle(R_allocate, b, max_budget=16))
              .mean() - uniform[b] for b in args.budgets}
    print(f"{args.dataset}: {len(R)} queries, {n_families} families, 5 folds over "
          f"families; mean over draws [range]\n")
    print("| training families | draws | Table 1 | "
          + " | ".join(f"B={b} share" for b in args.budgets) + " |")
    print("|---|---|---|" + "---|" * len(args.budgets))
    rng = np.random.default_rng(0)
    for k in ks:
        tic = time.time()
        draws = 1 if k == most else args.draws
        rows = []
        for draw in range(draws):
            curves, lam, const = np.zeros((len(R), 16)), np.zeros(len(R)), np.zeros(len(R))
            for train, test in folds:
                keep = rng.choice(np.unique(family[train]), k, replace=False)
                fit_rows = train[np.isin(family[train], keep)]
                probe = SuccessProbClassifier(random_state=draw, max_budget=16)
                probe.fit(X[fit_rows], R_allocate[fit_rows])
                curves[test] = probe.transform(X[test])
                lam[test] = probe.predict_proba(X[test])[:, 1]
                const[test] = R_allocate[fit_rows].mean()
            best = _soft_log_loss(rate, rate)
            score = ((_soft_log_loss(rate, const) - _soft_log_loss(rate, lam))
                     / (_soft_log_loss(rate, const) - best))
            shares = []
            for b in args.budgets:
                chosen = np.asarray(GreedyAllocator(b, max_budget=16, kind="marginal")
                                    .fit_transform(curves)).ravel()
                gain = per_query_value(R_score, chosen).mean() - uniform[b]
                shares.append(gain / oracle[b])
            rows.append([score] + shares)
        rows = np.asarray(rows)

        def cell(col, fmt):
            values = rows[:, col]
            if len(values) == 1:
                return fmt(values[0])
            return f"{fmt(values.mean())} [{fmt(values.min())}, {fmt(values.max())}]"

        print(f"| {k} | {draws} | {cell(0, lambda v: f'{v:+.3f}')} | "
              + " | ".join(cell(j + 1, lambda v: f"{v:+.0%}") for j in range(len(args.budgets)))
              + " |", flush=True)
        print(f"  ({time.time() - tic:.0f} s)", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
