"""Can grouped cross-validation on the training queries tell how far to trust the probe?

The default probe's curves lose to uniform leave-family-out on the diverse dataset at
B = 4-8 and transfer on the arithmetic dataset. This script shrinks every query's curve
toward the population curve by one *sharpness* ``s``::

    curve_s = pop + s * (curve - pop)

(``pop``: mean exact curve of the training folds' queries on samples 1-16; ``s = 1`` is the
default probe, ``s = 0`` is uniform), and asks whether ``s`` can be chosen on the training
queries alone: an inner ``GroupKFold`` over the training folds' *families* predicts each
training query from a probe that never saw its family, and ``s`` is the value whose greedy
allocation gains most over uniform on those queries (summed over the budgets, scored on
samples 1-16 of the inner held-out queries; the outer test queries are never used).

Protocol otherwise as :func:`skadapt.shift.shift_evaluation`: 3 outer folds (shuffled
``KFold`` for the random split, ``GroupKFold`` over ``family``), the default
``SuccessProbClassifier(max_budget=16)`` fitted on the other folds' samples 1-16, greedy
over all queries, scored exactly (pass@B) on samples 17-32. Each cell: online gain over
uniform and the share of the split-sample oracle's gain.

    python benchmarks/sharpness_selection.py --dataset arithmetic
    python benchmarks/sharpness_selection.py --dataset diverse

Features: the default featurizer's (last layer, prompt mean), from the all-layer cache of
``benchmarks/feature_layers.py`` (built on first use).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def _sharpness(value):
    try:
        s = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 <= s <= 1:
        raise argparse.ArgumentTypeError(f"sharpness {value} must lie in [0, 1]")
    return s


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("arithmetic", "diverse"), default="diverse")
    parser.add_argument("--sharpness", type=_sharpness, nargs="+",
                        default=[1.0, 0.75, 0.5, 0.25], help="values of s to compare")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seed", type=int, default=0, help="the probes' random_state")
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/skadapt/layers"))
    args = parser.parse_args(argv)
    if any(b < 1 or b > 16 for b in args.budgets):
        parser.error("--budgets: each budget must be between 1 and 16")

    from sklearn.model_selection import GroupKFold, KFold

    from skadapt import GreedyAllocator, SuccessProbClassifier, datasets, targets
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
    exact = targets.marginal_rewards(R_allocate, 16)

    def allocate(curves, b):
        return np.asarray(GreedyAllocator(b, max_budget=16, kind="marginal")
                          .fit_transform(curves)).ravel()

    def gain(R_eval, curves, b):
        return (per_query_value(R_eval, allocate(curves, b)).mean()
                - per_query_value(R_eval, np.full(len(R_eval), b)).mean())

    def probe_curves(train, test):
        probe = SuccessProbClassifier(random_state=args.seed, max_budget=16)
        return probe.fit(X[train], R_allocate[train]).transform(X[test])

    splits = {"random split": list(KFold(3, shuffle=True, random_state=0).split(R)),
              "leave-family-out": list(GroupKFold(3).split(R, groups=family))}
    oracle = {b: per_query_value(R_score, split_sample_oracle(R_allocate, b, max_budget=16)).mean()
              - per_query_value(R_score, np.full(len(R), b)).mean() for b in args.budgets}
    print(f"{args.dataset}: {len(R)} queries; online gain over uniform (share of the "
          "split-sample oracle's gain)\n")
    print("| split | sharpness | " + " | ".join(f"B={b}" for b in args.budgets) + " |")
    print("|---|---|" + "---|" * len(args.budgets))
    for split, folds in splits.items():
        tic = time.time()
        curves, pop = np.zeros((len(R), 16)), np.zeros((len(R), 16))
        chosen = np.zeros(len(R))
        picks = []
        for train, test in folds:
            curves[test] = probe_curves(train, test)
            pop[test] = exact[train].mean(axis=0)
            # inner leave-family-out predictions of the training queries
            inner = np.zeros((len(train), 16))
            n_inner = min(3, len(np.unique(family[train])))
            for fit_rows, held in GroupKFold(n_inner).split(train, groups=family[train]):
                inner[held] = probe_curves(train[fit_rows], train[held])
            base = exact[train].mean(axis=0)
            inner_gain = {s: sum(gain(R_allocate[train], base + s * (inner - base), b)
                                 for b in args.budgets) for s in args.sharpness}
            best = max(args.sharpness, key=inner_gain.get)
            chosen[test] = best
            picks.append(best)
        rows = [(f"{s:g}", np.full(len(R), s)) for s in args.sharpness]
        rows.append((f"inner leave-family-out choice ({', '.join(f'{p:g}' for p in picks)})",
                     chosen))
        for label, s in rows:
            shrunk = pop + s[:, None] * (curves - pop)
            cells = []
            for b in args.budgets:
                g = gain(R_score, shrunk, b)
                cells.append(f"{g:+.3f} ({g / oracle[b]:.0%})" if oracle[b] > 0 else f"{g:+.3f}")
            print(f"| {split} | {label} | " + " | ".join(cells) + " |", flush=True)
        print(f"  ({time.time() - tic:.0f} s)", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
