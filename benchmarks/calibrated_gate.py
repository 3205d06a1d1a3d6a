"""Default curves for familiar queries, curves calibrated for unseen families for novel ones?

A try at a predictor "good in both regimes" (issue 9): each query keeps the default
probe's curve unless its novelty quantile (:meth:`~skadapt.SuccessProbClassifier.novelty_score`
of the default probe) is at least ``tau``; then it gets the curve of
:class:`~skadapt.calibration.CalibratedCurves` fitted with the training folds' families
as groups (4 folds, 10 bins). Same protocol as :func:`skadapt.shift.shift_evaluation`:
3 folds (shuffled for the random split, :func:`~skadapt.shift.leave_group_out`
otherwise), greedy over the pooled out-of-fold curves, samples 1-16 fit and choose,
17-32 score. Each cell: online gain over uniform (share of the split oracle's gain).

    python benchmarks/calibrated_gate.py --dataset diverse
    python benchmarks/calibrated_gate.py --dataset arithmetic
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("arithmetic", "diverse"), default="diverse")
    parser.add_argument("--taus", type=float, nargs="+", default=[0.5, 0.8, 0.9, 0.95])
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--pooling", choices=("mean", "last"), default="mean",
                        help="the featurizer's pooling (default: its default, mean; "
                             "'last' = skadapt 0.1.0's last-token feature)")
    args = parser.parse_args(argv)
    if any(not 0 <= t <= 1 for t in args.taus):
        parser.error("--taus must lie in [0, 1]")

    from sklearn.model_selection import KFold

    from skadapt import SuccessProbClassifier
    from skadapt._demo import featurize, load_demo_data
    from skadapt.calibration import CalibratedCurves
    from skadapt.shift import leave_group_out, split_samples

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from novelty_gate import gains

    data = load_demo_data(dataset=args.dataset)
    X = featurize(data.queries, pooling=args.pooling)
    R_allocate, R_score = split_samples(data.outcomes.astype(float))
    m = R_score.shape[1]
    family = np.asarray(data.family)
    splits = {"random split": list(KFold(3, shuffle=True, random_state=0).split(X)),
              "leave-family-out": leave_group_out(family, n_splits=3)}
    if data.template is not None:
        splits["leave-phrasing-out"] = leave_group_out(np.asarray(data.template), n_splits=3)
    print(f"{args.dataset}: {len(X)} queries; online gain over uniform (share of the split "
          "oracle's gain)\n")
    print("| split | curves | gated | " + " | ".join(f"B={b}" for b in args.budgets) + " |")
    print("|---|---|---|" + "---|" * len(args.budgets))
    for name, folds in splits.items():
        tic = time.perf_counter()
        default = np.zeros((len(X), m))
        calibrated = np.zeros((len(X), m))
        novelty = np.zeros(len(X))
        for train, test in folds:
            probe = SuccessProbClassifier(random_state=0, max_budget=m)
            probe.fit(X[train], R_allocate[train])
            default[test] = probe.transform(X[test])
            novelty[test] = probe.novelty_score(X[test])
            curves = CalibratedCurves(SuccessProbClassifier(random_state=0, max_budget=m),
                                      cv=4, n_bins=10, random_state=0)
            curves.fit(X[train], R_allocate[train], groups=family[train])
            calibrated[test] = curves.transform(X[test])
        rows = [("default", "0%", default),
                ("calibrated (families)", "100%", calibrated)]
        for tau in args.taus:
            gate = (novelty >= tau)[:, None]
            rows.append((f"gate at {tau:.2f}", f"{gate.mean():.0%}",
                         np.where(gate, calibrated, default)))
        for label, share, curves in rows:
            print(f"| {name} | {label} | {share} | "
                  + " | ".join(gains(curves, R_allocate, R_score, args.budgets)) + " |",
                  flush=True)
        print(f"<!-- {name}: {time.perf_counter() - tic:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
