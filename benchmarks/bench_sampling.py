"""Sampling throughput: the shared-prompt sampler against ``model.generate``.

Both sample ``k`` continuations of the same prompts from SmolLM2-135M-Instruct
(temperature 0.7, at most ``--max-new-tokens`` tokens, stopping at the
end-of-sequence token only), all prompts in one left-padded batch:

* ``shared``: :func:`skadapt.sampling.generate_shared` (prompt pass once per
  prompt, cache repeated k times, finished rows dropped);
* ``generate``: ``model.generate(do_sample=True, num_return_sequences=k)``.

Reports samples/s and generated tokens/s (tokens before the end-of-sequence
token) as the best of ``--repeats`` runs, interleaved.

    python benchmarks/bench_sampling.py --threads 1 --k 32 --n-prompts 4
"""

import argparse
import json
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--k", type=int, nargs="+", default=[32])
    parser.add_argument("--n-prompts", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    from skadapt._lm import format_prompt, load_lm
    from skadapt.datasets import make_arithmetic_tasks
    from skadapt.sampling import generate_shared

    torch.set_num_threads(args.threads)
    model, tok = load_lm(args.model)
    queries = make_arithmetic_tasks(args.n_prompts, random_state=123)["query"].tolist()
    prompts = [format_prompt(tok, q, "chat") for q in queries]
    eos = tok.eos_token_id

    def run_shared(k, seed):
        tokens, _ = generate_shared(model, tok, prompts, k, temperature=0.7,
                                    max_new_tokens=args.max_new_tokens,
                                    seeds=[seed + i for i in range(len(prompts))])
        return sum(len(t) for row in tokens for t in row)

    def run_generate(k, seed):
        torch.manual_seed(seed)
        tok.padding_side = "left"
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        tok.padding_side = "right"
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=True, temperature=0.7, top_p=1.0,
                                 top_k=0, max_new_tokens=args.max_new_tokens,
                                 num_return_sequences=k, pad_token_id=tok.pad_token_id)
        gen = out[:, enc["input_ids"].shape[1]:]
        n = 0
        for row in gen.tolist():
            n += row.index(eos) if eos in row else len(row)
        return n

    results = []
    for k in args.k:
        best = {}
        for rep in range(args.repeats):
            for name, fn in (("shared", run_shared), ("generate", run_generate)):
                tic = time.perf_counter()
                n_tokens = fn(k, 1000 * rep)
                seconds = time.perf_counter() - tic
                if name not in best or seconds < best[name][0]:
                    best[name] = (seconds, n_tokens)
        n_samples = k * len(prompts)
        row = {"k": k, "n_prompts": len(prompts), "threads": args.threads}
        for name, (seconds, n_tokens) in best.items():
            row[f"{name}_s"] = round(seconds, 2)
            row[f"{name}_samples_per_s"] = round(n_samples / seconds, 2)
            row[f"{name}_tokens_per_s"] = round(n_tokens / seconds, 1)
            row[f"{name}_tokens_per_sample"] = round(n_tokens / n_samples, 1)
        row["speedup"] = round(best["generate"][0] / best["shared"][0], 2)
        results.append(row)
        print(json.dumps(row), flush=True)
    return results


if __name__ == "__main__":
    main()
