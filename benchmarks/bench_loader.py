"""Peak resident memory of loading a model, against one copy of its weights.

Each measurement runs in a fresh Python process: after a baseline, it calls
``skadapt._lm.load_lm``, reads every weight once (as a forward pass would), and
reports the process's peak resident set size (``ru_maxrss``, which counts file
pages mapped by safetensors too) above the baseline, divided by the bytes of one
copy of the parameters and buffers in the requested dtype. Two baselines: the
libraries imported ("libraries"), and also the model classes' code run once on a
one-layer model and the tokenizer loaded ("code+tokenizer"), so that the second
ratio counts the weights alone.

    python benchmarks/bench_loader.py                      # SmolLM2, float32 and bfloat16
    python benchmarks/bench_loader.py --dtypes float32 --model /path/to/folder

The first load of a GGUF model converts it (dequantizes and writes a safetensors
copy to the cache); that one-off peak is reported separately with ``--convert``
(it clears nothing: point ``SKADAPT_CACHE_DIR`` at an empty folder to see it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, time
import torch, transformers
from skadapt._lm import load_lm
libs_only = None
if sys.argv[3] == "code+tokenizer":
    # the baseline also holds what is not weights: the model classes' code
    # (imported lazily by transformers) and the tokenizer
    import glob, os
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from skadapt._lm import cache_dir, resolve_model_source, file_sha256, _converted_copy
    source, gguf = resolve_model_source(sys.argv[1])
    folder = _converted_copy(gguf, file_sha256(os.path.join(source, gguf))) if gguf else source
    config = AutoConfig.from_pretrained(folder)
    tiny = config.__class__.from_dict(dict(config.to_dict(), num_hidden_layers=1,
                                           hidden_size=8, intermediate_size=8,
                                           num_attention_heads=1, num_key_value_heads=1,
                                           vocab_size=16, head_dim=8))
    AutoModelForCausalLM.from_config(tiny)(input_ids=torch.zeros(1, 2, dtype=torch.long))
    tokenizer = AutoTokenizer.from_pretrained(folder)
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
def current():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096
base = current()
base_peak = peak()
tic = time.perf_counter()
model, tok = load_lm(sys.argv[1], dtype=sys.argv[2] if sys.argv[2] != "None" else None)
seconds = time.perf_counter() - tic
with torch.inference_mode():  # touch every weight, as a forward pass would
    for t in list(model.parameters()) + list(model.buffers()):
        t.float().sum()
size = sum(t.numel() * t.element_size() for t in model.parameters())
size += sum(t.numel() * t.element_size() for t in model.buffers())
print(json.dumps({"base": base, "base_peak": base_peak, "peak": peak(), "now": current(),
                  "size": size, "seconds": seconds,
                  "dtype": str(next(model.parameters()).dtype)}))
"""


def measure(model, dtype, baseline):
    out = subprocess.run([sys.executable, "-c", _CHILD, model, dtype, baseline],
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"loading {model} as {dtype} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    args = parser.parse_args(argv)
    print("| model | dtype | baseline holds | one copy (MiB) | peak above baseline (MiB) "
          "| ratio | resident after (MiB) | load time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for dtype, baseline in [(d, b) for d in args.dtypes
                            for b in ("libraries", "code+tokenizer")]:
        r = measure(args.model, dtype, baseline)
        extra = r["peak"] - max(r["base"], 0)
        mib = 2 ** 20
        print(f"| {args.model} | {r['dtype'].replace('torch.', '')} | {baseline} | "
              f"{r['size'] / mib:.0f} | {extra / mib:.0f} | {extra / r['size']:.2f} | "
              f"{(r['now'] - r['base']) / mib:.0f} | {r['seconds']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
