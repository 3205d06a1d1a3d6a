"""Time of skadapt.evaluation.bootstrap_interval (scipy.stats.bootstrap) by method.

Paired intervals of the mean of 5 curves over n queries, 1000 resamples, each timed
best of 3:

    python benchmarks/bench_bootstrap.py
"""

from __future__ import annotations

import time

import numpy as np


def main():
    from skadapt.evaluation import bootstrap_interval

    rng = np.random.default_rng(0)
    print("| queries | method | seconds (best of 3) |")
    print("|---|---|---|")
    for n in (500, 4000):
        values = rng.random((5, n))
        for method in ("percentile", "basic", "BCa"):
            best = np.inf
            for _ in range(3):
                tic = time.perf_counter()
                bootstrap_interval(values, n_resamples=1000, method=method)
                best = min(best, time.perf_counter() - tic)
            print(f"| {n:,} | {method} | {best:.3f} |", flush=True)


if __name__ == "__main__":
    main()
