"""Speed and memory of the exact allocators against the paper's heap-based greedy.

Run: python benchmarks/bench_allocation.py [--quick]

Measures, in one process on one core:
  * greedy_allocate_success_prob on n = 1,000,000 queries, max_budget = 128;
  * greedy_allocate on an n = 100,000 x 128 matrix of marginal rewards;
  * the straightforward heap greedy of the paper (turn on the largest
    remaining Delta_ij one unit at a time, heapq) on the same n = 100,000
    inputs, and the speed-up ratio; the budgets are checked to be identical;
  * the tracemalloc peak of the success_prob path at max_budget 16 vs 1024;
  * BinnedAllocator.fit on 100,000 held-out queries (for reference).
Prints a Markdown block for benchmarks/RESULTS.md.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import heapq  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

from skadapt import BinnedAllocator  # noqa: E402
from skadapt.allocation import greedy_allocate, greedy_allocate_success_prob  # noqa: E402


def heap_greedy(value_of, n, max_budget, total):
    """The paper's greedy (section 3.2): repeatedly buy the largest remaining
    marginal reward, keeping one candidate unit per query in a heap.
    Ties: larger value first, then smaller unit index, then smaller row (the
    rule skadapt documents), so the budgets must agree exactly."""
    budgets = np.zeros(n, dtype=np.int64)
    heap = [(-value_of(i, 0), 0, i) for i in range(n)]
    heapq.heapify(heap)
    for _ in range(total):
        neg, j, i = heapq.heappop(heap)
        if -neg < 0:
            break
        budgets[i] += 1
        if j + 1 < max_budget:
            heapq.heappush(heap, (-value_of(i, j + 1), j + 1, i))
    return budgets


def best_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke test)")
    parser.add_argument("--budget", type=float, default=4.0, help="average budget per query")
    args = parser.parse_args()
    n_big, n_mid = (100_000, 10_000) if args.quick else (1_000_000, 100_000)
    max_budget = 128
    rng = np.random.default_rng(0)
    lam_big = rng.beta(0.5, 0.8, size=n_big)
    lam = lam_big[:n_mid]
    delta = lam[:, None] * np.power(1.0 - lam[:, None], np.arange(max_budget))
    total_big = int(args.budget * n_big)
    total = int(args.budget * n_mid)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; numpy {np.__version__}")
    t_sp_big, _ = best_time(lambda: greedy_allocate_success_prob(lam_big, total_big, max_budget=max_budget), 3)
    t_sp, b_sp = best_time(lambda: greedy_allocate_success_prob(lam, total, max_budget=max_budget), 3)
    t_mat, b_mat = best_time(lambda: greedy_allocate(delta, total), 3)

    lam_list = lam.tolist()
    t_heap_sp, b_heap_sp = best_time(
        lambda: heap_greedy(lambda i, j: lam_list[i] * (1.0 - lam_list[i]) ** j, n_mid, max_budget, total), 1
    )
    t_heap_mat, b_heap_mat = best_time(
        lambda: heap_greedy(lambda i, j: float(delta[i, j]), n_mid, max_budget, total), 1
    )
    same_mat = bool((b_heap_mat == b_mat).all())
    same_sp = bool((b_heap_sp == b_sp).all())

    # Same total at both caps, below the smaller one (at budget == max_budget
    # every query simply gets max_budget and nothing is searched).
    memory_total = int(min(args.budget, 8) * n_big)
    peaks = {}
    for mb in (16, 1024):
        tracemalloc.start()
        greedy_allocate_success_prob(lam_big, memory_total, max_budget=mb)
        peaks[mb] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()

    t_binned, _ = best_time(
        lambda: BinnedAllocator(budget=args.budget, n_bins=10, max_budget=max_budget, kind="success_prob").fit(
            lam[:, None]
        ),
        1,
    )

    rows = [
        ("greedy_allocate_success_prob", f"n={n_big:,}, max_budget={max_budget}", f"{t_sp_big * 1e3:.0f} ms"),
        ("greedy_allocate_success_prob", f"n={n_mid:,}, max_budget={max_budget}", f"{t_sp * 1e3:.1f} ms"),
        ("greedy_allocate (matrix)", f"n={n_mid:,} x {max_budget}", f"{t_mat * 1e3:.0f} ms"),
        ("heap greedy, matrix", f"n={n_mid:,} x {max_budget}", f"{t_heap_mat:.2f} s"),
        ("heap greedy, success_prob", f"n={n_mid:,}, max_budget={max_budget}", f"{t_heap_sp:.2f} s"),
        ("speed-up vs heap, matrix", f"n={n_mid:,}", f"{t_heap_mat / t_mat:.0f}x (same budgets: {same_mat})"),
        ("speed-up vs heap, success_prob", f"n={n_mid:,}", f"{t_heap_sp / t_sp:.0f}x (same budgets: {same_sp})"),
        ("tracemalloc peak, success_prob", f"n={n_big:,}, budget {memory_total // n_big}, max_budget=16",
         f"{peaks[16]:.1f} MiB"),
        ("tracemalloc peak, success_prob", f"n={n_big:,}, budget {memory_total // n_big}, max_budget=1024",
         f"{peaks[1024]:.1f} MiB"),
        ("BinnedAllocator.fit (10 bins)", f"n={n_mid:,}, max_budget={max_budget}", f"{t_binned * 1e3:.0f} ms"),
    ]
    print(f"\nbudget {args.budget} per query; lam ~ Beta(0.5, 0.8); times are the best of 3 (heap: 1 run)\n")
    print("| what | size | result |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
