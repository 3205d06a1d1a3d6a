"""Which features hold up in *allocation* on unseen task families? Layer and pooling.

``feature_layers.py`` ranks hidden states by the probe's loss; this script ranks them
by what the allocation gains, with the protocol of :func:`skadapt.shift.shift_evaluation`:
3 folds (shuffled ``KFold`` for the random split, ``GroupKFold`` over ``family`` or
``template``), each query's curve from the default
``SuccessProbClassifier(max_budget=16)`` (``--head beta``: with the beta-binomial
head) fitted on the other folds' samples 1-16, the
budget allocated greedily over all queries, every policy scored exactly (pass@B) on
samples 17-32. Each cell: online gain over uniform best-of-B and the share of the
split-sample oracle's gain, averaged over ``--seeds`` probe seeds (the range of the
gain over the seeds in brackets), then the probe's leave-family-out Table-1 score
``(Avg - ours) / (Avg - Opt)`` (``Avg`` fitted on the training folds; the default
probe, whatever ``--params``).

Features are named ``<pooling><layer>``: ``last30`` is the last prompt token's state
after the final norm, ``mean24`` the prompt-average of block 24's output; ``a+b``
concatenates two.

    python benchmarks/feature_allocation.py --dataset arithmetic
    python benchmarks/feature_allocation.py --dataset diverse

Features come from the all-layer cache of ``benchmarks/feature_layers.py`` (built on
first use, about 5 min for the diverse dataset on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

import numpy as np

_FEATURE = re.compile(r"^(last|mean)(\d+)$")


def parse_features(value):
    """``"mean24+last30"`` -> ``[("mean", 24), ("last", 30)]``; argparse type."""
    parts = []
    for part in value.split("+"):
        match = _FEATURE.match(part)
        if match is None:
            raise argparse.ArgumentTypeError(
                f"{value!r}: each feature is last<layer> or mean<layer> (e.g. last30, "
                "mean24), joined by '+'")
        parts.append((match.group(1), int(match.group(2))))
    return value, parts


def _probe_params(value):
    """JSON object of SuccessProbClassifier parameters; argparse type."""
    import json

    from skadapt import SuccessProbClassifier

    try:
        params = json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not JSON: {exc}") from None
    if not isinstance(params, dict):
        raise argparse.ArgumentTypeError(f"{value!r}: expected a JSON object")
    unknown = sorted(set(params) - set(SuccessProbClassifier().get_params())
                     | set(params) & {"random_state", "max_budget", "head"})
    if unknown:
        raise argparse.ArgumentTypeError(
            f"{value!r}: not a parameter this script may set: {', '.join(unknown)}")
    return params


def online_cells(curves, R_allocate, R_score, budgets):
    """Online gain over uniform and share of the split oracle's gain, per budget."""
    from skadapt import GreedyAllocator
    from skadapt.evaluation import per_query_value
    from skadapt.shift import split_sample_oracle

    max_budget = R_score.shape[1]
    out = []
    for b in budgets:
        chosen = np.asarray(GreedyAllocator(b, max_budget=max_budget, kind="marginal")
                            .fit_transform(curves)).ravel()
        uniform = per_query_value(R_score, np.full(len(R_score), b)).mean()
        online = per_query_value(R_score, chosen).mean()
        oracle = per_query_value(R_score, split_sample_oracle(
            R_allocate, b, max_budget=max_budget)).mean()
        out.append((online - uniform, oracle - uniform))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("arithmetic", "diverse"),
                        default="arithmetic")
    parser.add_argument("--features", type=parse_features, nargs="+",
                        default=[parse_features(f) for f in
                                 ("last30", "last24", "last20", "last16",
                                  "mean30", "mean28", "mean24", "mean20", "mean16")],
                        help="e.g. last30 mean24 mean16+mean24")
    parser.add_argument("--head", choices=("point", "beta"), default="point",
                        help="the probe's head (SuccessProbClassifier(head=...))")
    parser.add_argument("--params", type=_probe_params, default={},
                        help='more SuccessProbClassifier parameters as JSON, e.g. '
                             '\'{"hidden_layer_sizes": [16]}\'')
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/skadapt/layers"))
    args = parser.parse_args(argv)
    if any(b < 1 or b > 16 for b in args.budgets):
        parser.error("--budgets: each budget must be between 1 and 16")

    from sklearn.model_selection import GroupKFold, KFold

    from skadapt import SuccessProbClassifier, datasets

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from feature_layers import cached_layers, grouped_scores

    load = datasets.load_diverse if args.dataset == "diverse" else datasets.load_arithmetic
    data = load()
    cached = cached_layers(args.dataset, data, args.cache)
    pooled = {"last": cached["last"], "mean": cached["mean"]}
    n_layers = pooled["last"].shape[0] - 1
    for name, parts in args.features:
        for _, layer in parts:
            if layer > n_layers:
                parser.error(f"--features {name}: layer {layer} is out of range "
                             f"(the model has layers 0..{n_layers})")

    R = data.outcomes.astype(float)
    R_allocate, R_score = R[:, :16], R[:, 16:]
    splits = {"random split": list(KFold(3, shuffle=True, random_state=0).split(R)),
              "leave-family-out": list(GroupKFold(3).split(R, groups=data.family))}
    if "template" in data:
        splits["leave-phrasing-out"] = list(GroupKFold(3).split(R, groups=data.template))
    print(f"{args.dataset}: {len(R)} queries, head={args.head!r}, params {args.params}; "
          "online gain over uniform "
          f"(share of the split oracle's gain), mean over seeds {args.seeds} [range of the gain]; "
          "Table 1 = leave-family-out (Avg - ours) / (Avg - Opt)\n")
    print("| features | split | " + " | ".join(f"B={b}" for b in args.budgets)
          + " | Table 1 |")
    print("|---|---|" + "---|" * (len(args.budgets) + 1))
    for name, parts in args.features:
        X = np.hstack([pooled[pooling][layer] for pooling, layer in parts])
        table1 = grouped_scores(X, data.outcomes, np.asarray(data.family),
                                cv=GroupKFold(3))["normalised"]
        for split, folds in splits.items():
            tic = time.time()
            per_seed = []
            for seed in args.seeds:
                curves = np.zeros((len(R), 16))
                for train, test in folds:
                    probe = SuccessProbClassifier(random_state=seed, max_budget=16,
                                                  head=args.head, **args.params)
                    probe.fit(X[train], R_allocate[train])
                    curves[test] = probe.transform(X[test])
                per_seed.append(online_cells(curves, R_allocate, R_score, args.budgets))
            per_seed = np.asarray(per_seed)  # (seeds, budgets, [gain, oracle gain])
            cells = []
            for j in range(len(args.budgets)):
                gain, oracle = per_seed[:, j, 0], per_seed[0, j, 1]
                share = f"{gain.mean() / oracle:.0%}" if oracle > 0 else "-"
                cells.append(f"{gain.mean():+.3f} ({share}) "
                             f"[{gain.min():+.3f}, {gain.max():+.3f}]")
            score = f"{table1:.3f}" if split == "leave-family-out" else ""
            print(f"| {name} | {split} | " + " | ".join(cells) + f" | {score} |",
                  flush=True)
            print(f"  ({time.time() - tic:.0f} s)", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
