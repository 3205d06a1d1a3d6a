"""Which marginal-reward curves hold on task families the probe never saw?

Compares, with :func:`skadapt.shift.shift_evaluation` (3 folds, budget allocated over
all queries, every policy scored on samples 17-32, split-sample oracle on samples
1-16), the curves a :class:`~skadapt.SuccessProbClassifier` can hand to
``GreedyAllocator(kind="marginal")``:

* ``plug-in``: ``lam (1 - lam)**(j - 1)`` at the point prediction (the paper);
* ``beta``: the expected curve under the beta-binomial head;
* ``neighbours``: the average exact curve of the 25 nearest training queries;
* ``plug-in + neighbours`` (the default), ``beta + neighbours``: half and half;
* ``... novelty``: the neighbours' weight rising with the novelty score;
* ``hedge``: the curve shrunk toward the population's by novelty (do-no-harm);
* ``calibrated (families)``: :class:`~skadapt.calibration.CalibratedCurves` around the
  default probe, 4 folds over the training queries' *families* (curves for queries of
  an unseen family: the average exact curve of held-out-family queries in the same
  decile of prediction); ``calibrated (random)``: the same over random folds.

on the random split and leave-family-out (and leave-phrasing-out where the dataset
has templates). Features: the demo's (last layer, averaged over the prompt, the
featurizer's default; ``--pooling last``: the last token's state, 0.1.0's default;
from the demo's feature cache).

    python benchmarks/shift_methods.py --dataset arithmetic
    python benchmarks/shift_methods.py --dataset diverse --methods default plug-in
    python benchmarks/shift_methods.py --dataset diverse --methods default \
        --bootstrap groups --splits leave-family-out   # intervals over families
"""

from __future__ import annotations

import argparse
import time

METHODS = {
    "plug-in": dict(head="point", neighbor_curves=0),
    "beta": dict(head="beta", neighbor_curves=0),
    "neighbours": dict(head="point", neighbor_curves=25, neighbor_weight=1.0),
    "default": dict(),  # plug-in + neighbours, half and half
    "beta + neighbours": dict(head="beta", neighbor_curves=25, neighbor_weight=0.5),
    "plug-in + neighbours, novelty": dict(head="point", neighbor_curves=25,
                                          neighbor_weight=0.0, neighbor_novelty_power=2),
    "hedge 1 (plug-in)": dict(head="point", neighbor_curves=0, hedge=1.0),
    "hedge 1 (beta)": dict(head="beta", neighbor_curves=0, hedge=1.0),
    "calibrated (families)": "families",
    "calibrated (random)": "random",
}


def make_probe(name):
    """The probe of a method, and whether it is fitted with the families as groups."""
    from skadapt import SuccessProbClassifier
    from skadapt.calibration import CalibratedCurves

    spec = METHODS[name]
    if isinstance(spec, dict):
        return SuccessProbClassifier(random_state=0, max_budget=16, **spec), False
    base = SuccessProbClassifier(random_state=0, max_budget=16)
    return CalibratedCurves(base, cv=4, n_bins=10, random_state=0), spec == "families"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("arithmetic", "diverse"),
                        default="arithmetic")
    parser.add_argument("--methods", nargs="+", default=list(METHODS),
                        choices=list(METHODS), metavar="METHOD",
                        help=f"subset of: {', '.join(METHODS)}")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--bootstrap", choices=("queries", "groups"), default="queries",
                        help="intervals over queries, or over the held-out groups "
                             "(families, phrasings) of the leave-group-out splits")
    parser.add_argument("--splits", nargs="+", default=None,
                        choices=("random split", "leave-family-out", "leave-phrasing-out"),
                        help="subset of the splits (default: all)")
    parser.add_argument("--pooling", choices=("mean", "last"), default="mean",
                        help="the featurizer's pooling (default: its default, mean; "
                             "'last' = skadapt 0.1.0's last-token feature)")
    args = parser.parse_args(argv)

    from skadapt._demo import featurize, load_demo_data
    from skadapt.shift import shift_evaluation

    data = load_demo_data(dataset=args.dataset)
    X = featurize(data.queries, pooling=args.pooling)
    groupings = {"random split": None, "leave-family-out": data.family}
    if data.template is not None:
        groupings["leave-phrasing-out"] = data.template
    if args.splits:
        groupings = {k: v for k, v in groupings.items() if k in args.splits}
    print(f"{args.dataset}: {len(X)} queries; online gain over uniform [95% CI"
          + (", resampling groups" if args.bootstrap == "groups" else "") + "] and "
          "share of the split-sample oracle's gain captured")
    for split, groups in groupings.items():
        print(f"\n{split}\n")
        print("| curves | " + " | ".join(f"B={b}" for b in args.budgets) + " |")
        print("|---|" + "---|" * len(args.budgets))
        for name in args.methods:
            tic = time.perf_counter()
            probe, by_family = make_probe(name)
            table = shift_evaluation(probe, X, data.outcomes, groups=groups,
                                     budgets=args.budgets, offline=False,
                                     n_resamples=args.n_resamples,
                                     fit_groups=data.family if by_family else None)
            over_groups = args.bootstrap == "groups" and groups is not None
            cells = [f"{r.online_gain:+.3f} "
                     + (f"[{r.group_low:+.3f}, {r.group_high:+.3f}] " if over_groups else
                        f"[{r.online_low:+.3f}, {r.online_high:+.3f}] ")
                     + ("" if r.captured != r.captured else f"{r.captured:.0%}")
                     for r in table.itertuples()]
            print(f"| {name} | " + " | ".join(cells) + f" |  <!-- "
                  f"{time.perf_counter() - tic:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
