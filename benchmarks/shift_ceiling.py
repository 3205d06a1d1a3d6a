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
  inside a family, nothing about which families are hard).

A probe that never saw a query's family must guess the family's level from the query
alone. Where that guess is no better than a constant (the leave-family-out probe scores
of ``benchmarks/feature_layers.py``), the ``within family`` column bounds what it can
capture.

    python benchmarks/shift_ceiling.py --dataset diverse
    python benchmarks/shift_ceiling.py --dataset arithmetic
"""

from __future__ import annotations

import argparse

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("arithmetic", "diverse"), default="diverse")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args(argv)

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

    def greedy(curves, budget):
        alloc = GreedyAllocator(budget, max_budget=m, kind="marginal")
        return np.asarray(alloc.fit_transform(curves)).ravel()

    def value(budgets):
        return float(per_query_value(R_score, budgets).mean())

    print(f"{args.dataset}: {len(family)} queries, {len(np.unique(family))} families; "
          "gain over uniform (share of the split oracle's gain)\n")
    print("| B | uniform | split oracle | family level | within family |")
    print("|---|---|---|---|---|")
    for b in args.budgets:
        uniform = value(np.full(len(family), b))
        oracle = value(split_sample_oracle(R_allocate, b, max_budget=m)) - uniform
        level = value(greedy(family_curve, b)) - uniform
        within = np.zeros(len(family), dtype=int)
        for f in np.unique(family):
            rows = family == f
            within[rows] = greedy(exact[rows], b)
        inside = value(within) - uniform
        print(f"| {b} | {uniform:.3f} | +{oracle:.3f} | {level:+.3f} ({level / oracle:.0%}) "
              f"| {inside:+.3f} ({inside / oracle:.0%}) |")
    rates = sorted(float(R_allocate[family == f].mean()) for f in np.unique(family))
    print(f"\nfamily success rates (samples 1-16): min {rates[0]:.3f}, median "
          f"{np.median(rates):.3f}, max {rates[-1]:.3f}")


if __name__ == "__main__":
    main()
