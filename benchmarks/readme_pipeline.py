"""The README's three-line pipeline on the shipped data, and the figures the README cites.

Runs exactly the README's pipeline (``HiddenStateFeaturizer`` with its defaults and the
on-disk feature cache, ``SuccessProbClassifier(max_budget=32, random_state=0)``,
``GreedyAllocator(budget=4)``) on the arithmetic dataset's training split, allocates the
test split, and prints the shapes, the budgets' total, maximum and number of zeros, and
how the budgets follow the probe's predicted success probability.

    python benchmarks/readme_pipeline.py

A first run featurizes the 2,000 queries (a few minutes on 2 cores); later runs read
``~/.cache/skadapt/features``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=4.0)
    args = parser.parse_args(argv)
    if not args.budget > 0:
        parser.error(f"--budget must be > 0, got {args.budget}")

    from sklearn.pipeline import make_pipeline

    from skadapt import GreedyAllocator, HiddenStateFeaturizer, SuccessProbClassifier
    from skadapt.datasets import load_arithmetic

    tic = time.time()
    data = load_arithmetic()
    queries, R = list(data.queries[data.train_mask]), data.outcomes[data.train_mask]
    new_queries = list(data.queries[data.test_mask])
    pipe = make_pipeline(HiddenStateFeaturizer("smollm2", memory="~/.cache/skadapt/features"),
                         SuccessProbClassifier(max_budget=32, random_state=0),
                         GreedyAllocator(budget=args.budget))
    budgets = pipe.fit(queries, R).transform(new_queries)
    print("R.shape, budgets.shape:", (R.shape, budgets.shape))
    print("sum, max, zeros:", (int(budgets.sum()), int(budgets.max()),
                               int((budgets == 0).sum())))
    features = pipe[0].transform(new_queries)
    lam = pipe[1].predict_proba(features)[:, 1]
    b = np.asarray(budgets).ravel()
    print(f"largest predicted success among the zero budgets: {lam[b == 0].max():.4f}")
    easy = lam >= 0.5
    if easy.any():
        print(f"largest budget for a predicted success >= 0.5: {b[easy].max()} "
              f"({easy.sum()} queries)")
    middle = (b > 0) & ~easy
    print(f"largest budget in between: {b[middle].max()}")
    print(f"({time.time() - tic:.0f} s)")


if __name__ == "__main__":
    main()
