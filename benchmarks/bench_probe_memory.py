"""Peak memory and time of fitting a probe on a large feature matrix.

In a fresh process: build ``X`` (``n x d`` float32, the featurizer's dtype) and a
0/1 outcome matrix, then fit ``SuccessProbClassifier`` and report the peak resident
set size *above* what the process held once ``X`` and ``y`` existed, as a multiple of
``X.nbytes``, with the fit's wall time. Memory does not depend on the number of
epochs, so a few epochs suffice (``--max-iter``).

    python benchmarks/bench_probe_memory.py                  # 200,000 x 576
    python benchmarks/bench_probe_memory.py --n 50000 --max-iter 3

Run it against another checkout (``--pythonpath``) for a side-by-side ratio.

``--streaming`` instead saves ``X`` to a ``.npy`` file, memory-maps it and compares
``streaming=False`` with ``streaming=True``. The resident set then also counts the
file's pages as they are read (the kernel can drop them), so this mode reports the
peak of the heap allocations numpy and Python make during the fit (``tracemalloc``)
as a multiple of ``X.nbytes``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

# the data both children fit (after their imports of json, sys, ...)
_SETUP = r"""
import numpy as np
import torch
torch.set_num_threads(int(sys.argv[5]))
from skadapt import SuccessProbClassifier

n, d, max_iter = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
X = rng.standard_normal((n, d), dtype=np.float32)
lam = 1 / (1 + np.exp(-X[:, 0]))
y = (rng.random((n, int(sys.argv[4])), dtype=np.float32) < lam[:, None]).astype(np.float32)
"""

_STREAM_CHILD = r"""
import json, os, sys, tempfile, time, tracemalloc
""" + _SETUP + r"""path = os.path.join(tempfile.mkdtemp(), "X.npy")
np.save(path, X)
x_bytes = X.nbytes
del X
rows = []
for streaming in (False, True):
    mapped = np.load(path, mmap_mode="r")
    tracemalloc.start()
    tic = time.perf_counter()
    SuccessProbClassifier(max_iter=max_iter, early_stopping=False, random_state=0,
                          n_iter_no_change=max_iter + 1, streaming=streaming).fit(mapped, y)
    seconds = time.perf_counter() - tic
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rows.append({"streaming": streaming, "peak": peak, "seconds": seconds})
print(json.dumps({"x_bytes": x_bytes, "rows": rows}))
"""

_CHILD = r"""
import json, resource, sys, time
""" + _SETUP + r"""def current():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096
before = current()
# ru_maxrss cannot be reset: start from a process whose peak is now
assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 <= before * 1.05 + 2**26, \
    "setup peaked above the baseline"
tic = time.perf_counter()
probe = SuccessProbClassifier(max_iter=max_iter, early_stopping=False, random_state=0,
                              n_iter_no_change=max_iter + 1).fit(X, y)
seconds = time.perf_counter() - tic
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"x_bytes": X.nbytes, "extra": peak - before, "seconds": seconds,
                  "epochs": int(probe.n_iter_)}))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--d", type=int, default=576)
    parser.add_argument("--samples", type=int, default=8, help="outcomes per query")
    parser.add_argument("--max-iter", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pythonpath", nargs="*", default=[None],
                        help="checkouts to compare (default: the installed skadapt)")
    parser.add_argument("--streaming", action="store_true",
                        help="compare streaming=False/True on a memory-mapped X")
    args = parser.parse_args(argv)
    if args.streaming:
        out = subprocess.run(
            [sys.executable, "-c", _STREAM_CHILD, str(args.n), str(args.d),
             str(args.max_iter), str(args.samples), str(args.threads)],
            capture_output=True, text=True, cwd=tempfile.gettempdir(),
            env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
        if out.returncode:
            sys.exit(f"the fit failed:\n{out.stderr[-3000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        mib = 2 ** 20
        print("| X (memory-mapped) | streaming | peak heap allocations (MiB) | ratio | "
              "fit (s) |")
        print("|---|---|---|---|---|")
        for row in r["rows"]:
            print(f"| {args.n:,} x {args.d}, {r['x_bytes'] / mib:.0f} MiB | "
                  f"{row['streaming']} | {row['peak'] / mib:.0f} | "
                  f"{row['peak'] / r['x_bytes']:.2f} | {row['seconds']:.1f} |")
        return
    print("| checkout | n x d | X (MiB) | peak above X and y (MiB) | ratio | fit (s) | "
          "epochs |")
    print("|---|---|---|---|---|---|---|")
    for path in args.pythonpath:
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        if path:
            env["PYTHONPATH"] = path
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(args.n), str(args.d), str(args.max_iter),
             str(args.samples), str(args.threads)],
            capture_output=True, text=True, env=env,
            cwd=tempfile.gettempdir())  # not a checkout: PYTHONPATH decides
        if out.returncode:
            sys.exit(f"the fit failed:\n{out.stderr[-3000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        mib = 2 ** 20
        print(f"| {path or 'installed'} | {args.n:,} x {args.d} | {r['x_bytes'] / mib:.0f} "
              f"| {r['extra'] / mib:.0f} | {r['extra'] / r['x_bytes']:.2f} | "
              f"{r['seconds']:.1f} | {r['epochs']} |", flush=True)


if __name__ == "__main__":
    main()
