"""Does fine-tuning the LM (LoRA) transfer to unseen task families better than the MLP probe?

The paper's second probe fine-tunes the LM itself (:class:`skadapt.LoRAProbe`). This
script puts it through the allocation protocol of :func:`skadapt.shift.shift_evaluation`
next to the MLP probe on the featurizer's default features, with the *same* training
queries: 3 folds (``GroupKFold`` over ``family``, or shuffled ``KFold``), each fold's
probes trained on ``--n-train`` queries drawn from the other folds (all of them with
``--n-train 0``; LoRA training costs about 0.4 s per query and epoch on 2 CPU cores)
on their samples 1-16, every query predicted out of fold, the budget allocated greedily
over all queries and scored exactly on samples 17-32. The LoRA probe predicts a success
probability, so its curve is the plug-in ``lam (1 - lam)^(j - 1)``; the MLP probe is
shown with the same plug-in curve and with its default curve (blended with the nearest
training queries' exact curves). Each cell: online gain over uniform (share of the
split-sample oracle's gain); "Table 1": the probe's ``(Avg - ours) / (Avg - Opt)`` of
the soft log-loss against the success rate on samples 1-16, ``Avg`` fitted on the
training queries.

    python benchmarks/lora_shift.py --dataset diverse --n-train 1000 --epochs 2

Features for the MLP probe come from ``skadapt._demo.featurize`` (cached on disk).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def plug_in(lam, max_budget):
    """The plug-in marginal-reward curves ``lam (1 - lam)^(j - 1)``, ``j = 1..max_budget``."""
    j = np.arange(1, max_budget + 1)
    lam = np.clip(np.asarray(lam, dtype=float), 0.0, 1.0)[:, None]
    return lam * (1 - lam) ** (j - 1)


def soft_log_loss(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("arithmetic", "diverse"), default="diverse")
    parser.add_argument("--n-train", type=int, default=1000,
                        help="training queries per fold (0: all of the other folds)")
    parser.add_argument("--epochs", type=int, default=2, help="LoRAProbe max_iter")
    parser.add_argument("--splits", nargs="+", choices=("leave-family-out", "random split"),
                        default=["leave-family-out"])
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--max-queries", type=int, default=None,
                        help="a stratified subset of the dataset, for a quick look")
    args = parser.parse_args(argv)
    if args.n_train < 0:
        parser.error(f"--n-train must be >= 0, got {args.n_train}")
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if any(b < 1 or b > 16 for b in args.budgets):
        parser.error("--budgets: each budget must be between 1 and 16")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GroupKFold, KFold

    from skadapt import LoRAProbe, SuccessProbClassifier
    from skadapt._demo import featurize, load_demo_data

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from feature_allocation import online_cells

    data = load_demo_data(dataset=args.dataset, max_queries=args.max_queries)
    queries = np.asarray(list(data.queries), dtype=object)
    X = featurize(data.queries)
    R = data.outcomes.astype(float)
    R_allocate, R_score = R[:, :16], R[:, 16:]
    lam = np.nanmean(R_allocate, axis=1)
    folds = {"random split": KFold(3, shuffle=True, random_state=0).split(R),
             "leave-family-out": GroupKFold(3).split(R, groups=data.family)}
    print(f"{args.dataset}: {len(R)} queries, {args.n_train or 'all'} training queries per "
          f"fold, LoRA {args.epochs} epoch(s); online gain over uniform (share of the split "
          "oracle's gain)\n")
    print("| split | probe | " + " | ".join(f"B={b}" for b in args.budgets)
          + " | Table 1 |")
    print("|---|---|" + "---|" * (len(args.budgets) + 1), flush=True)
    rng = np.random.default_rng(0)
    for split in args.splits:
        names = ("LoRA (plug-in)", "MLP (plug-in)", "MLP (default curves)")
        curves = {name: np.zeros((len(R), 16)) for name in names}
        probs = {name: np.zeros(len(R)) for name in names[:2]}
        constant = np.zeros(len(R))
        for k, (train, test) in enumerate(folds[split]):
            if args.n_train and args.n_train < len(train):
                train = np.sort(rng.choice(train, args.n_train, replace=False))
            tic = time.time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed epoch count
                lora = LoRAProbe("smollm2", kind="success_prob", pooling="mean",
                                 max_iter=args.epochs, cross_fit=False, random_state=0,
                                 device="cpu").fit(list(queries[train]), R_allocate[train])
            probs["LoRA (plug-in)"][test] = lora.predict_proba(list(queries[test]))[:, 1]
            mlp = SuccessProbClassifier(random_state=0, max_budget=16).fit(
                X[train], R_allocate[train])
            probs["MLP (plug-in)"][test] = mlp.predict_proba(X[test])[:, 1]
            curves["MLP (default curves)"][test] = mlp.transform(X[test])
            constant[test] = lam[train].mean()
            print(f"  {split}, fold {k + 1}/3: {time.time() - tic:.0f} s", file=sys.stderr,
                  flush=True)
        avg, opt = soft_log_loss(lam, constant), soft_log_loss(lam, lam)
        for name in names:
            score = ""
            if name in probs:
                curves[name] = plug_in(probs[name], 16)
                score = f"{(avg - soft_log_loss(lam, probs[name])) / (avg - opt):.3f}"
            cells = [f"{g:+.3f} ({g / o:.0%})" if o > 0 else f"{g:+.3f}"
                     for g, o in online_cells(curves[name], R_allocate, R_score, args.budgets)]
            print(f"| {split} | {name} | " + " | ".join(cells) + f" | {score} |", flush=True)


if __name__ == "__main__":
    main()
