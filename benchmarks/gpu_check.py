"""A few-minute check of the GPU paths, for a machine with a CUDA GPU.

Runs on SmolLM2-135M-Instruct (the shipped GGUF file, through its converted
safetensors copy) and the first queries of the shipped diverse dataset:

1. ``load_lm`` straight onto the GPU in bfloat16 and float32 (peak GPU memory
   against one copy of the weights);
2. ``HiddenStateFeaturizer`` on the GPU against the CPU (largest relative
   difference of the features);
3. ``sample_and_score`` greedy (temperature 0) with the HF backend on the GPU
   against the CPU: share of identical completions;
4. when vLLM is importable (install it in a *separate* environment: it replaces
   torch), the same greedy run with ``backend="vllm"``: share of completions
   identical to the HF backend's, and a sampled run to check that samples are
   reproducible per query seed.

Every figure is printed as one JSON object per step, and written to
``$OUT/gpu_check.json`` when ``OUT`` is set.

    python benchmarks/gpu_check.py --n-queries 32

Nothing here has run on a GPU yet unless benchmarks/RESULTS.md says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-queries", type=int, default=32)
    parser.add_argument("--n-samples", type=int, default=4)
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from skadapt import HiddenStateFeaturizer
    from skadapt._lm import _converted_copy, file_sha256, load_lm, resolve_model_source
    from skadapt.datasets import load_diverse
    from skadapt.sampling import sample_and_score
    from skadapt.verifiers import exact_numeric

    if not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device here")
    results = []

    def report(step, **values):
        values = {"step": step, **values}
        results.append(values)
        print(json.dumps(values), flush=True)

    data = load_diverse()
    queries = list(data.queries[:args.n_queries])
    refs = [float(r) for r in data.reference[:args.n_queries]]
    source, gguf = resolve_model_source("smollm2")
    load_lm("smollm2")  # makes the converted copy on first use
    folder = str(_converted_copy(gguf, file_sha256(os.path.join(source, gguf))))

    for dtype in ("bfloat16", "float32"):
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        tic = time.perf_counter()
        model, _ = load_lm("smollm2", dtype=dtype, device="cuda")
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        report("load_lm", dtype=dtype, seconds=time.perf_counter() - tic,
               weights_mib=size / 2**20,
               peak_ratio=(torch.cuda.max_memory_allocated() - before) / size)

    cpu = HiddenStateFeaturizer("smollm2", device="cpu").fit_transform(queries)
    tic = time.perf_counter()
    gpu = HiddenStateFeaturizer("smollm2", device="cuda").fit_transform(queries)
    report("featurizer", seconds=time.perf_counter() - tic,
           max_rel_diff=float(np.max(np.abs(gpu - cpu)) / np.max(np.abs(cpu))))

    settings = dict(max_new_tokens=20, stop_strings=["\n"], temperature=0.0)
    hf_cpu = sample_and_score("smollm2", queries, refs, exact_numeric, 1,
                              **settings)
    tic = time.perf_counter()
    hf_gpu = sample_and_score("smollm2", queries, refs, exact_numeric, 1,
                              backend_options={"device": "cuda"}, **settings)
    same = np.mean([a == b for a, b in zip(hf_cpu.completions, hf_gpu.completions)])
    report("hf greedy gpu vs cpu", seconds=time.perf_counter() - tic,
           identical=float(same))

    try:
        import vllm  # noqa: F401
    except ImportError:
        report("vllm", skipped="vLLM is not installed in this environment")
    else:
        tic = time.perf_counter()
        options = {"dtype": "float32", "enable_prefix_caching": True,
                   "gpu_memory_utilization": 0.3}
        vl = sample_and_score(folder, queries, refs, exact_numeric, 1,
                              backend="vllm", backend_options=options, **settings)
        same = np.mean([a == b for a, b in zip(hf_gpu.completions, vl.completions)])
        report("vllm greedy vs hf", seconds=time.perf_counter() - tic,
               identical=float(same),
               same_n_tokens=float(np.mean(vl.n_tokens == hf_gpu.n_tokens)))
        sampled = dict(max_new_tokens=20, stop_strings=["\n"], temperature=0.7)
        a = sample_and_score(folder, queries, refs, exact_numeric, args.n_samples,
                             backend="vllm", backend_options=options, **sampled)
        b = sample_and_score(folder, queries, refs, exact_numeric, args.n_samples,
                             backend="vllm", backend_options=options, **sampled)
        report("vllm seeds reproduce", identical=float(np.mean(
            [x == y for x, y in zip(a.completions, b.completions)])),
            mean_success=float(np.nanmean(a.rewards)))

    out = os.environ.get("OUT")
    if out:
        with open(os.path.join(out, "gpu_check.json"), "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
