"""Does training on more task families carry over to families the probe never saw?

``benchmarks/family_learning_curve.py`` found that, on the shipped diverse dataset, the
leave-family-out gain grows with the number of training families (5 -> 20). This
script adds *new* families: 23 task kinds that none of the 25 diverse families asks
(clock arithmetic, averages, percentages, areas, greatest common divisors, counting
words, reversing digits, ...), each in the same 4 phrasings, sampled from the same
model with the same settings as the shipped datasets (SmolLM2-135M-Instruct, chat
template, 32 samples, temperature 0.7, 20 new tokens, stop at a newline, exact numeric
verifier, seed 0). Then, leave-family-out on the diverse dataset (``--dataset
arithmetic``: on the arithmetic one, whose 6 families the new ones do not ask either),
with 3 ``GroupKFold`` folds over its families and the protocol of
:func:`skadapt.shift.shift_evaluation` (probe fitted on samples 1-16, budget allocated
greedily over all its queries, scored exactly on samples 17-32), the default probe is
trained either on the training folds alone, or on the training folds *plus* extra
families.

The new families are :func:`skadapt.datasets.make_broader_tasks`, and their samples
the third shipped dataset, :func:`skadapt.datasets.load_broader` (1,600 queries,
made by ``skadapt collect --tasks broader --n-queries 1600``), so the comparison runs
in about a minute once the features are cached:

    python benchmarks/broader_supervision.py

To sample them again (about 55 min on 2 cores, resumable) and compare on the new
samples:

    skadapt collect --tasks broader --n-queries 1600 --n-threads 2 --output DIR
    python benchmarks/broader_supervision.py --data DIR

Features are cached by ``HiddenStateFeaturizer(memory=...)`` under the skadapt cache.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def evaluate(args):
    from sklearn.model_selection import GroupKFold, KFold

    from skadapt import GreedyAllocator, HiddenStateFeaturizer, SuccessProbClassifier
    from skadapt._lm import cache_dir
    from skadapt import datasets
    from skadapt.evaluation import per_query_value
    from skadapt.shift import shift_evaluation, split_sample_oracle

    if args.data is not None and not os.path.exists(args.data):
        sys.exit(f"broader_supervision.py: {args.data} does not exist; leave out --data "
                 "for the shipped samples")
    extra = datasets.load_broader(path=args.data)
    R_extra_all = extra.outcomes.astype(float)
    if R_extra_all.shape[1] != 32:
        sys.exit(f"broader_supervision.py: {args.data} has {R_extra_all.shape[1]} samples "
                 "per query; the comparison needs 32, as in the shipped datasets")
    R_extra = R_extra_all[:, :16]
    extra_family = np.asarray(extra.family)
    featurizer = HiddenStateFeaturizer("smollm2", memory=str(cache_dir() / "features"))
    data = (datasets.load_diverse if args.dataset == "diverse"
            else datasets.load_arithmetic)()
    X = featurizer.fit_transform(list(data.queries))
    X_extra = featurizer.fit_transform(list(extra.queries))
    R = data.outcomes.astype(float)
    R_allocate, R_score = R[:, :16], R[:, 16:]
    family = np.asarray(data.family)
    rates = {f: R_extra[extra_family == f].mean() for f in np.unique(extra_family)}
    print(f"extra: {len(extra.queries)} queries, {len(rates)} families, success rate "
          f"{R_extra.mean():.3f} (per family {min(rates.values()):.3f}-"
          f"{max(rates.values()):.3f})")
    folds = list(GroupKFold(3).split(R, groups=family))
    uniform = {b: per_query_value(R_score, np.full(len(R), b)).mean() for b in range(1, 17)}
    oracle = {b: per_query_value(R_score, split_sample_oracle(R_allocate, b, max_budget=16))
              .mean() - uniform[b] for b in range(1, 17)}

    def curves_for(folds, keep, seed, own_neighbours=False, k=25):
        """Out-of-fold curves of the default probe, trained with the extra rows ``keep``.

        ``own_neighbours``: the default curve's two halves from two probes, the
        plug-in half from the MLP trained with the extra rows, the neighbours' half
        from the training folds' own queries only; ``k``: the neighbours averaged
        (``neighbor_curves``).
        """
        curves = np.zeros((len(R), 16))
        for train, test in folds:
            X_fit, R_fit = X[train], R_allocate[train]
            if keep.any():
                X_fit = np.vstack([X_fit, X_extra[keep]])
                R_fit = np.vstack([R_fit, R_extra[keep]])
            if own_neighbours:
                plug_in = SuccessProbClassifier(random_state=seed, max_budget=16,
                                                neighbor_curves=0).fit(X_fit, R_fit)
                neighbours = SuccessProbClassifier(random_state=seed, max_budget=16,
                                                   neighbor_weight=1.0)
                neighbours.fit(X[train], R_allocate[train])
                curves[test] = (0.5 * plug_in.transform(X[test])
                                + 0.5 * neighbours.transform(X[test]))
                continue
            probe = SuccessProbClassifier(random_state=seed, max_budget=16,
                                          neighbor_curves=k)
            curves[test] = probe.fit(X_fit, R_fit).transform(X[test])
        return curves

    def gains(curves, budgets):
        """Per budget: per-query value of the greedy allocation minus uniform's."""
        out = []
        for b in budgets:
            chosen = np.asarray(GreedyAllocator(b, max_budget=16, kind="marginal")
                                .fit_transform(curves)).ravel()
            out.append(per_query_value(R_score, chosen)
                       - per_query_value(R_score, np.full(len(R), b)))
        return np.asarray(out)

    n_sub = args.extra_families
    none, every = np.zeros(len(extra.queries), bool), np.ones(len(extra.queries), bool)

    def matched(rng, subset):
        """All families, as many queries as ``subset`` holds."""
        return np.isin(np.arange(len(extra.queries)),
                       rng.choice(len(extra.queries), int(subset.sum()), replace=False))

    # (label, extra rows of a seed, neighbours from the task's own rows, on the random
    # split, neighbours averaged)
    k = args.neighbours
    variants = [
        (f"{args.dataset} training folds", lambda rng, subset: none, False, True, 25),
        (f"{args.dataset} training folds, {k} neighbours", lambda rng, subset: none,
         False, True, k),
        (f"+ {n_sub} extra families (all their queries)", lambda rng, subset: subset,
         False, False, 25),
        (f"+ all {len(rates)} extra families, as many queries as the row above", matched,
         False, False, 25),
        (f"+ all {len(rates)} extra families", lambda rng, subset: every, False, True, 25),
        (f"+ all {len(rates)} extra families in the MLP, neighbours from the "
         f"{args.dataset} folds only", lambda rng, subset: every, True, True, 25),
        (f"+ all {len(rates)} extra families, {k} neighbours",
         lambda rng, subset: every, False, True, k),
    ]
    splits = {"leave-family-out": folds,
              "random split": list(KFold(3, shuffle=True, random_state=0).split(R))}
    print(f"online gain over uniform on the {args.dataset} dataset (share of the split "
          f"oracle's gain), mean over probe seeds {args.seeds} [range]\n")
    print("| split | training data | " + " | ".join(f"B={b}" for b in args.budgets) + " |")
    print("|---|---|" + "---|" * len(args.budgets))
    for split, split_folds in splits.items():
        for label, extra_rows, own_neighbours, on_random_split, n_neighbours in variants:
            if split == "random split" and not on_random_split:
                continue
            per_seed = []
            for seed in args.seeds:
                rng = np.random.default_rng(seed)
                subset = np.isin(extra_family,
                                 rng.choice(sorted(rates), n_sub, replace=False))
                curves = curves_for(split_folds, extra_rows(rng, subset), seed,
                                    own_neighbours=own_neighbours, k=n_neighbours)
                per_seed.append(gains(curves, args.budgets).mean(axis=1))
            per_seed = np.asarray(per_seed)
            cells = [f"{g.mean():+.3f} ({g.mean() / oracle[b]:.0%}) [{g.min():+.3f}, "
                     f"{g.max():+.3f}]" for g, b in zip(per_seed.T, args.budgets)]
            print(f"| {split} | {label} | " + " | ".join(cells) + " |", flush=True)

    budgets = list(range(1, 17))
    print(f"\nleave-family-out, every budget, probe seed {args.seeds[0]} "
          "(skadapt.shift.shift_evaluation, with X_extra/R_extra for the extra families): "
          "online gain [95% interval over queries] [over families] (share of the split "
          "oracle's gain); offline policy's success at its realized spend\n")
    print("| training data | B | online gain | over queries | over families | captured "
          "| offline (spend) |")
    print("|---|---|---|---|---|---|---|")
    with_extra = {"X_extra": X_extra, "R_extra": R_extra_all}
    for label, extra, n_neighbours in (
            (f"{args.dataset} training folds", {}, 25),
            (f"+ all {len(rates)} extra families", with_extra, 25),
            (f"+ all {len(rates)} extra families, {k} neighbours", with_extra, k)):
        table = shift_evaluation(SuccessProbClassifier(random_state=args.seeds[0],
                                                       max_budget=16,
                                                       neighbor_curves=n_neighbours),
                                 X, R, groups=family, budgets=budgets, **extra)
        for row in table.itertuples():
            captured = "-" if not np.isfinite(row.captured) else f"{row.captured:.0%}"
            print(f"| {label} | {row.budget} | {row.online_gain:+.3f} | "
                  f"[{row.online_low:+.3f}, {row.online_high:+.3f}] | "
                  f"[{row.group_low:+.3f}, {row.group_high:+.3f}] | {captured} | "
                  f"{row.offline:.3f} ({row.offline_spend:.2f}) |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="the extra families' samples, written by `skadapt collect "
                             "--tasks broader` (its folder or .json.gz file; default: the "
                             "shipped copy, skadapt.datasets.load_broader)")
    parser.add_argument("--dataset", choices=("diverse", "arithmetic"), default="diverse",
                        help="the shipped dataset whose families are held out "
                             "(default: diverse)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="probe seeds (default: 0 1 2)")
    parser.add_argument("--extra-families", type=int, default=6,
                        help="the row with only this many extra families (drawn per "
                             "seed), and the row with all families subsampled to as many "
                             "queries (default 6)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--neighbours", type=int, default=100,
                        help="the rows with this many nearest training queries in the "
                             "curves (neighbor_curves; the default probe averages 25) "
                             "(default: 100)")
    args = parser.parse_args(argv)
    if args.neighbours < 1:
        parser.error(f"--neighbours must be at least 1, got {args.neighbours}")
    if any(b < 1 or b > 16 for b in args.budgets):
        parser.error("--budgets: each budget must be between 1 and 16")
    from skadapt.datasets import BROADER_FAMILIES

    n_families = len(BROADER_FAMILIES)
    if not 1 <= args.extra_families < n_families:
        parser.error(f"--extra-families must lie in [1, {n_families - 1}]")
    evaluate(args)


if __name__ == "__main__":
    main()
