"""Does the novelty score tell when adaptive allocation will hurt?

Two checks of the do-no-harm idea (issue 9) on a shipped dataset, with the default
:class:`~skadapt.SuccessProbClassifier` (``max_budget=16``) on the hidden state of
one layer (last prompt token, skadapt 0.1.0's feature; layer 30 is the featurizer's
default layer):

1. **Detection.** The probe's :meth:`~skadapt.SuccessProbClassifier.novelty_score`
   of every query when its fold is held out by family (leave-family-out) against
   when it is held out at random: the ROC AUC of telling the two apart.
2. **Gate.** Queries whose novelty quantile is at least ``tau`` get the probe's
   population curve (what it expects of a query it knows nothing about) instead of
   their own; the rest keep theirs. Allocation and scoring as in
   :func:`skadapt.shift.shift_evaluation` (greedy over the pooled out-of-fold
   curves, samples 1-16 fit and choose, 17-32 score): online gain over uniform and
   share of the split-sample oracle's gain.
3. **Family known.** An upper bound for any novelty- or cluster-based hedge: each
   query's curve re-centred on its own family (the family's mean curve replaced by
   the population curve, the deviations within the family kept), with the *true*
   family labels of the test fold.

    python benchmarks/novelty_gate.py --dataset diverse --layer 30
    python benchmarks/novelty_gate.py --dataset arithmetic --layer 30

Features come from the all-layer cache of ``benchmarks/feature_layers.py`` (built on
first use).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def gains(curves, R_allocate, R_score, budgets):
    """Cells ``"+gain (share)"``: online gain over uniform, share of the split oracle's."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from feature_allocation import online_cells

    return [f"{g:+.3f} ({g / o if o > 0 else np.nan:.0%})"
            for g, o in online_cells(curves, R_allocate, R_score, budgets)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("arithmetic", "diverse"),
                        default="diverse")
    parser.add_argument("--layer", type=int, default=30)
    parser.add_argument("--taus", type=float, nargs="+", default=[0.8, 0.9, 0.95, 0.99])
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/skadapt/layers"))
    args = parser.parse_args(argv)

    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, KFold

    from skadapt import SuccessProbClassifier, datasets

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from feature_layers import cached_layers

    load = datasets.load_diverse if args.dataset == "diverse" else datasets.load_arithmetic
    data = load()
    X = cached_layers(args.dataset, data, args.cache)["last"][args.layer]
    R = data.outcomes.astype(float)
    R_allocate, R_score = R[:, :16], R[:, 16:]
    splits = {"random split": KFold(3, shuffle=True, random_state=0).split(X),
              "leave-family-out": GroupKFold(3).split(X, groups=data.family)}
    if "template" in data:
        splits["leave-phrasing-out"] = GroupKFold(3).split(X, groups=data.template)
    print(f"{args.dataset}: {len(X)} queries, layer {args.layer} (last token); "
          "online gain over uniform (share of the split oracle's gain)\n")
    print("| split | curves | flagged | " + " | ".join(f"B={b}" for b in args.budgets)
          + " |")
    print("|---|---|---|" + "---|" * len(args.budgets))
    novelty = {}
    for name, folds in splits.items():
        curves = np.zeros((len(X), 16))
        population = np.zeros((len(X), 16))
        q = np.zeros(len(X))
        for train, test in folds:
            probe = SuccessProbClassifier(random_state=0, max_budget=16)
            probe.fit(X[train], R_allocate[train])
            curves[test] = probe.transform(X[test])
            q[test] = probe.novelty_score(X[test])
            population[test] = probe._population_curve(16)
        novelty[name] = q
        centred = curves.copy()
        for family in np.unique(data.family):
            rows = data.family == family
            centred[rows] = curves[rows] - curves[rows].mean(0) + population[rows]
        centred = np.minimum.accumulate(np.clip(centred, 0, None), axis=1)
        print(f"| {name} | default | 0% | "
              + " | ".join(gains(curves, R_allocate, R_score, args.budgets)) + " |",
              flush=True)
        for tau in args.taus:
            w = (q >= tau)[:, None].astype(float)
            gated = (1 - w) * curves + w * population
            print(f"| {name} | gate at {tau:.2f} | {w.mean():.0%} | "
                  + " | ".join(gains(gated, R_allocate, R_score, args.budgets)) + " |",
                  flush=True)
        print(f"| {name} | family known, centred | - | "
              + " | ".join(gains(centred, R_allocate, R_score, args.budgets)) + " |",
              flush=True)
    a, b = novelty["leave-family-out"], novelty["random split"]
    auc = roc_auc_score(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b])
    print(f"\nnovelty AUC, leave-family-out vs random-split queries: {auc:.3f}; median "
          f"novelty {np.median(a):.2f} vs {np.median(b):.2f}")
    if "leave-phrasing-out" in novelty:
        a = novelty["leave-phrasing-out"]
        auc = roc_auc_score(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b])
        print(f"novelty AUC, leave-phrasing-out vs random-split queries: {auc:.3f}")


if __name__ == "__main__":
    main()
