"""Benchmarks of the MLP probes against the baselines a user could use instead.

Two parts:

``quality``
    On synthetic data with a known ground truth (``x ~ N(0, I)``, true success
    probability ``lam = sigmoid(f(x))`` with ``f`` linear or non-linear, observed
    outcomes Bernoulli(lam), ``--m-train`` samples per training query and
    ``--m-test`` per test query), or on a real ``--data`` file, it reports for the
    MLP probes (``SuccessProbClassifier``; ``MarginalRewardRegressor`` on the same
    outcomes) and each baseline of ``benchmarks/baselines.py``:

    * ``probe_report`` (Table 1 of the paper) against the observed test success
      rates: loss, Avg., Opt.*, median-split accuracy; on synthetic data also the
      excess loss over the true probabilities (mean KL(lam || prediction));
    * the expected success (exact, from the test outcomes) when each predictor's
      output drives the same ``GreedyAllocator`` at average budgets 1, 2, 4, 8, 16,
      with uniform best-of-B and the oracle (allocation solved on the test outcomes
      themselves) for reference.

``timing``
    Wall time of ``SuccessProbClassifier.fit`` on 10,000 x 576 features (the hidden
    size of SmolLM2-135M) for exactly 100 epochs, with torch's thread setting as
    found (``--threads`` overrides it for this script only).

Usage::

    python benchmarks/bench_probes.py quality --threads 1
    python benchmarks/bench_probes.py timing
    python benchmarks/bench_probes.py quality --data path/to/features.npz   # keys X, R
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

BUDGETS = (1, 2, 4, 8, 16)


def synthetic(n, d, m, *, scenario, seed):
    """Features, true success probabilities and Bernoulli outcomes (n, m)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    directions = np.random.default_rng(1234).normal(size=(3, d))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    a, b, _ = (X @ directions.T).T
    if scenario == "linear":
        logit = 2.0 * a - 0.5
    elif scenario == "nonlinear":
        # A fold the linear baseline cannot represent: difficulty depends on |b|.
        logit = 1.5 * a + 2.5 * (np.abs(b) - 0.8)
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
    lam = 1.0 / (1.0 + np.exp(-logit))
    R = (rng.random((n, m)) < lam[:, None]).astype(float)
    return X, lam, R


def _kl(lam, pred):
    eps = 1e-12
    pred = np.clip(pred, eps, 1 - eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(lam > 0, lam * np.log(lam / pred), 0.0) + np.where(
            lam < 1, (1 - lam) * np.log((1 - lam) / (1 - pred)), 0.0)
    return float(terms.mean())


def run_quality(X_train, R_train, X_test, R_test, *, lam_test=None, max_budget=16, seed=0):
    from baselines import fit_predict, success_prob_baselines

    from skadapt import GreedyAllocator, MarginalRewardRegressor, SuccessProbClassifier
    from skadapt.metrics import expected_success, oracle_budgets, probe_report
    from skadapt.targets import success_rate

    y_train = success_rate(R_train)
    y_test = success_rate(R_test)
    rows, timings = [], {}

    def evaluate(name, lam_pred=None, marginal_pred=None):
        if lam_pred is not None:
            report = probe_report(y_test, lam_pred)
            excess = None if lam_test is None else _kl(lam_test, lam_pred)
        else:
            # The regressor's first marginal reward is its success-probability estimate.
            report = probe_report(y_test, np.clip(marginal_pred[:, 0], 1e-6, 1 - 1e-6))
            excess = None if lam_test is None else _kl(
                lam_test, np.clip(marginal_pred[:, 0], 1e-6, 1 - 1e-6))
        success = []
        for budget in BUDGETS:
            if lam_pred is not None:
                alloc = GreedyAllocator(budget=budget, kind="success_prob", max_budget=max_budget)
                budgets = alloc.fit_transform(lam_pred[:, None])[:, 0]
            else:
                alloc = GreedyAllocator(budget=budget, kind="marginal")
                budgets = alloc.fit_transform(marginal_pred[:, :max_budget])[:, 0]
            success.append(expected_success(R_test, budgets))
        rows.append(dict(name=name, report=report, excess=excess, success=success))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        clf = SuccessProbClassifier(random_state=seed).fit(X_train, R_train)
        timings["MLP SuccessProbClassifier"] = time.perf_counter() - start
        evaluate("MLP SuccessProbClassifier", lam_pred=clf.transform(X_test)[:, 0])

        start = time.perf_counter()
        reg = MarginalRewardRegressor(max_budget, random_state=seed).fit(X_train, R_train)
        timings[f"MLP MarginalRewardRegressor (B={max_budget})"] = time.perf_counter() - start
        evaluate(f"MLP MarginalRewardRegressor (B={max_budget})", marginal_pred=reg.predict(X_test))

        for name, baseline in success_prob_baselines(random_state=seed).items():
            start = time.perf_counter()
            pred = fit_predict(baseline, X_train, y_train, X_test)
            timings[name] = time.perf_counter() - start
            evaluate(name, lam_pred=pred)
    if lam_test is not None:
        # The true probabilities: what a perfect probe would reach.
        evaluate("true lam (perfect probe)", lam_pred=np.clip(lam_test, 1e-9, 1 - 1e-9))
    uniform = [expected_success(R_test, np.full(len(R_test), b)) for b in BUDGETS]
    oracle = [expected_success(R_test, oracle_budgets(R_test, b, max_budget=max_budget))
              for b in BUDGETS]
    return rows, uniform, oracle, timings


def print_quality(title, rows, uniform, oracle, timings):
    print(f"\n### {title}\n")
    print("| predictor | loss | Avg. | Opt.* | Acc. | KL to true lam | fit s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        rep = r["report"]
        kl = "-" if r["excess"] is None else f"{r['excess']:.4f}"
        fit = f"{timings[r['name']]:.1f}" if r["name"] in timings else "-"
        print(f"| {r['name']} | {rep['loss']:.4f} | {rep['avg_loss']:.4f} | {rep['opt_loss']:.4f} "
              f"| {rep['accuracy']:.1%} | {kl} | {fit} |")
    print("\nExpected success (exact, test outcomes) with GreedyAllocator at average budget B:\n")
    print("| predictor | " + " | ".join(f"B={b}" for b in BUDGETS) + " |")
    print("|---|" + "---|" * len(BUDGETS))
    print("| uniform best-of-B | " + " | ".join(f"{v:.4f}" for v in uniform) + " |")
    for r in rows:
        print(f"| {r['name']} | " + " | ".join(f"{v:.4f}" for v in r["success"]) + " |")
    print("| oracle (test outcomes) | " + " | ".join(f"{v:.4f}" for v in oracle) + " |")


def quality(args):
    if args.data == "shipped":
        # the shipped SmolLM2 dataset, its fixed split, and the demo's cached features
        from skadapt._demo import featurize, load_demo_data

        demo = load_demo_data()
        X = featurize(demo.queries, pooling=args.pooling)
        R = demo.outcomes
        train, test = np.flatnonzero(demo.is_train), np.flatnonzero(~demo.is_train)
    elif args.data:
        data = np.load(args.data)
        X, R = data["X"], data["R"]
        n_test = int(len(X) * args.test_fraction)
        order = np.random.default_rng(args.seed).permutation(len(X))
        test, train = order[:n_test], order[n_test:]
    if args.data:
        rows, uniform, oracle, timings = run_quality(
            X[train], R[train], X[test], R[test], max_budget=min(16, R.shape[1]), seed=args.seed)
        print_quality(f"{args.data}: {len(train)} train / {len(test)} test queries, "
                      f"{X.shape[1]} features, {R.shape[1]} samples per query",
                      rows, uniform, oracle, timings)
        return
    for scenario in args.scenarios:
        X, lam, R = synthetic(args.n_train + args.n_test, args.d, args.m_test,
                              scenario=scenario, seed=args.seed)
        tr, te = slice(0, args.n_train), slice(args.n_train, None)
        rows, uniform, oracle, timings = run_quality(
            X[tr], R[tr, : args.m_train], X[te], R[te], lam_test=lam[te], seed=args.seed)
        print_quality(
            f"synthetic, {scenario} logit: {args.n_train} train queries x {args.m_train} "
            f"samples, {args.n_test} test queries x {args.m_test} samples, d={args.d}",
            rows, uniform, oracle, timings)


def timing(args):
    import torch

    from skadapt import SuccessProbClassifier

    rng = np.random.default_rng(0)
    n, d = 10_000, 576
    X = rng.normal(size=(n, d)).astype(np.float32)
    lam = 1.0 / (1.0 + np.exp(-X[:, :8].sum(1) / 3))
    y = (rng.random((n, 16)) < lam[:, None]).astype(float)
    for hidden in args.hidden:
        clf = SuccessProbClassifier(hidden_layer_sizes=(hidden,), max_iter=100,
                                    n_iter_no_change=1000, random_state=0, device="cpu")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            clf.fit(X, y)
            elapsed = time.perf_counter() - start
        assert clf.n_iter_ == 100
        print(f"| {n} x {d}, hidden ({hidden},), batch 200, 100 epochs | "
              f"{torch.get_num_threads()} | {elapsed:.1f} s | {elapsed / 100 * 1000:.0f} ms |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--scenarios", nargs="+", default=["linear", "nonlinear"])
    q.add_argument("--n-train", type=int, default=4000)
    q.add_argument("--n-test", type=int, default=2000)
    q.add_argument("--m-train", type=int, default=32)
    q.add_argument("--m-test", type=int, default=64)
    q.add_argument("--d", type=int, default=32)
    q.add_argument("--data", help="npz file with X (n, d) and R (n, m) outcomes, or "
                                  "'shipped' for the SmolLM2 arithmetic dataset")
    q.add_argument("--test-fraction", type=float, default=0.3)
    q.add_argument("--pooling", choices=("mean", "last"), default="mean",
                   help="with --data shipped: the featurizer's pooling (default: its "
                        "default, mean; 'last' = skadapt 0.1.0's last-token feature)")
    q.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("timing")
    t.add_argument("--hidden", type=int, nargs="+", default=[256])
    for p in (q, t):
        p.add_argument("--threads", type=int, default=None,
                       help="torch.set_num_threads for this script (default: leave as is)")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}, "
          f"torch {torch.__version__}")
    if args.part == "timing":
        print("\n| data | torch threads | fit time | per epoch |\n|---|---|---|---|")
        timing(args)
    else:
        quality(args)


if __name__ == "__main__":
    main()
