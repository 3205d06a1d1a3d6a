"""Smallest average budget reaching a target success rate on the shipped arithmetic data.

BudgetSearchCV cross-fits the probe (5 folds) on the training queries, scores
every candidate average budget exactly (pass@k) on the held-out queries' own
32 samples, and returns the smallest spend whose cross-validated success rate
reaches the target. The chosen policy is then checked on the test split.

Run: OMP_NUM_THREADS=1 python benchmarks/budget_search.py [--target 0.55] [--allocator greedy]
Features and probe as in the README's example: HiddenStateFeaturizer("smollm2") with
memory under the skadapt cache (features computed once, then read), and
SuccessProbClassifier(random_state=0), the class defaults.
"""

import argparse
import sys
import time
import warnings

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.55)
    parser.add_argument("--allocator", choices=["greedy", "price", "binned"], default="greedy")
    parser.add_argument("--max-budget", type=int, default=16)
    parser.add_argument("--pooling", choices=("mean", "last"), default="mean",
                        help="the featurizer's pooling (default: its default, mean; "
                             "'last' = skadapt 0.1.0's last-token feature)")
    args = parser.parse_args(argv)
    if not 0 < args.target < 1:
        parser.error(f"--target must be in (0, 1), got {args.target}")
    if not 1 <= args.max_budget <= 32:
        parser.error(f"--max-budget must be in [1, 32], got {args.max_budget}")

    from skadapt import BudgetSearchCV, HiddenStateFeaturizer, SuccessProbClassifier
    from skadapt._lm import cache_dir
    from skadapt.budget_search import NoBudgetReachesTargetError
    from skadapt.datasets import load_arithmetic
    from skadapt.evaluation import per_query_value

    data = load_arithmetic()
    start = time.perf_counter()
    featurizer = HiddenStateFeaturizer("smollm2", pooling=args.pooling,
                                       memory=str(cache_dir() / "features"))
    X = featurizer.fit_transform(list(data.queries))
    print(f"features {X.shape} in {time.perf_counter() - start:.1f} s")
    R = data.outcomes  # (2000, 32) 0/1, no missing sample in the shipped data
    train, test = data.train_mask, data.test_mask
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes of the MLP probe
        try:
            search = BudgetSearchCV(SuccessProbClassifier(random_state=0), target=args.target,
                                    allocator=args.allocator, max_budget=args.max_budget,
                                    cv=5, random_state=0).fit(X[train], R[train])
        except NoBudgetReachesTargetError as exc:
            sys.exit(f"budget_search.py: {exc}")
    print(f"search in {time.perf_counter() - start:.1f} s")
    curve = search.curve_
    print(curve[curve.budget.isin([0.5, 1, 1.5, 2, 3, 4, 6, 8])].round(3).to_string(index=False))
    print(f"best_budget_ = {search.best_budget_:g}  best_spend_ = {search.best_spend_:.3f}  "
          f"best_score_ = {search.best_score_:.3f}")
    uniform = {k: per_query_value(R[train], np.full(train.sum(), k)).mean() for k in range(1, 17)}
    k = next((k for k, v in uniform.items() if v >= args.target), None)
    print(f"uniform best-of-k reaching {args.target}: k = {k}")
    budgets = search.predict(X[test])
    print(f"test split: spend {budgets.mean():.3f}, success "
          f"{per_query_value(R[test], budgets).mean():.3f}")


if __name__ == "__main__":
    main()
