"""Which hidden states transfer to unseen task families? Layers, pooling, next-token signals.

One forward pass per batch of queries keeps every layer's hidden state (last prompt
token and mean over the prompt) and the next-token distribution at the answer
position (its entropy and top-token probability, read from the same pass). A
success-probability probe is then fitted on each choice and scored by
leave-family-out cross-validation (``GroupKFold`` over ``family``; every query is
predicted by a probe that never saw its family) and, for comparison, by a random
``KFold``. Scores: the soft log-loss of Eq. 7 against the observed success rates,
and the paper's normalised ``(Avg - ours) / (Avg - Opt)`` with ``Avg`` the constant
predictor fitted on the *training folds* (never on the scored labels).

    python benchmarks/feature_layers.py --dataset arithmetic
    python benchmarks/feature_layers.py --dataset diverse --layers 8 12 16 20 24 30

The features are cached in ``--cache`` (default ``~/.cache/skadapt/layers``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def extract(queries, *, batch_size=16, verbose=True):
    """All layers' last-token and mean-pooled states, and next-token signals."""
    import torch

    from skadapt._lm import format_prompt, load_lm, pad_batch

    model, tok = load_lm("smollm2")
    prompts = [format_prompt(tok, q, "chat") for q in queries]
    ids = tok(prompts, add_special_tokens=False)["input_ids"]
    order = np.argsort([len(r) for r in ids], kind="stable")
    n_layers = model.config.num_hidden_layers
    hidden = model.config.hidden_size
    last = np.zeros((n_layers + 1, len(queries), hidden), dtype=np.float32)
    mean = np.zeros_like(last)
    signals = np.zeros((len(queries), 2), dtype=np.float32)
    tic = time.time()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            input_ids, mask = pad_batch([ids[i] for i in rows], tok.pad_token_id,
                                        "right")
            out = model.model(input_ids=input_ids, output_hidden_states=True,
                              use_cache=False)
            lengths = mask.sum(1) - 1
            idx = torch.arange(len(rows))
            for layer, h in enumerate(out.hidden_states):
                last[layer, rows] = h[idx, lengths].float().numpy()
                m = mask[..., None].to(h.dtype)
                mean[layer, rows] = ((h * m).sum(1) / m.sum(1)).float().numpy()
            logits = model.lm_head(out.hidden_states[-1][idx, lengths]).float()
            logp = torch.log_softmax(logits, dim=-1)
            signals[rows, 0] = -(logp.exp() * logp).sum(-1).numpy()  # entropy
            signals[rows, 1] = logp.max(-1).values.exp().numpy()  # top-token prob
            if verbose:
                done = min(start + batch_size, len(order))
                print(f"\r  featurized {done}/{len(order)} "
                      f"({done / (time.time() - tic):.1f} queries/s)",
                      end="", file=sys.stderr, flush=True)
    if verbose:
        print(file=sys.stderr)
    return last, mean, signals


DEFAULT_CACHE = os.path.expanduser("~/.cache/skadapt/layers")


def cached_layers(dataset, data, cache=DEFAULT_CACHE):
    """``{"last", "mean", "signals"}`` of :func:`extract` for ``data``, built on first use.

    The arrays are stored in ``<cache>/<dataset>_<n_queries>.npz``; the other
    benchmarks read the same file.
    """
    path = os.path.join(cache, f"{dataset}_{len(data.queries)}.npz")
    if not os.path.exists(path):
        os.makedirs(cache, exist_ok=True)
        last, mean, signals = extract(list(data.queries))
        np.savez(path, last=last, mean=mean, signals=signals)
    with np.load(path) as cached:
        return {key: cached[key] for key in ("last", "mean", "signals")}


def grouped_scores(X, outcomes, groups, *, cv, random_state=0):
    """Out-of-fold soft log-loss, normalised score, and Avg/Opt, for one feature set."""
    from skadapt import SuccessProbClassifier
    from skadapt.metrics import _soft_log_loss

    lam = np.nanmean(outcomes, axis=1)
    pred = np.zeros(len(lam))
    const = np.zeros(len(lam))
    for train, test in cv.split(X, lam, groups):
        probe = SuccessProbClassifier(random_state=random_state, early_stopping=True)
        probe.fit(X[train], outcomes[train])
        pred[test] = probe.predict_proba(X[test])[:, 1]
        const[test] = lam[train].mean()
    ours = _soft_log_loss(lam, pred)
    avg = _soft_log_loss(lam, const)
    opt = _soft_log_loss(lam, lam)
    return {"loss": ours, "avg": avg, "opt": opt,
            "normalised": (avg - ours) / (avg - opt)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("arithmetic", "diverse"),
                        default="arithmetic")
    parser.add_argument("--data", default=None, help="a collected dataset folder")
    parser.add_argument("--layers", type=int, nargs="+",
                        default=[4, 8, 12, 16, 20, 24, 27, 30])
    parser.add_argument("--group", default="family",
                        help="column for the leave-group-out split (family or template)")
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/skadapt/layers"))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    import torch
    from sklearn.model_selection import GroupKFold, KFold

    from skadapt import datasets

    if args.threads:
        torch.set_num_threads(args.threads)
    load = datasets.load_diverse if args.dataset == "diverse" else datasets.load_arithmetic
    data = load(path=args.data)
    cached = cached_layers(args.dataset, data, args.cache)
    last, mean, signals = cached["last"], cached["mean"], cached["signals"]
    groups = np.asarray(data[args.group])
    splitters = {"leave-" + args.group + "-out": GroupKFold(n_splits=3),
                 "random": KFold(n_splits=3, shuffle=True, random_state=0)}
    print(f"{args.dataset}: {len(groups)} queries, {len(set(groups))} groups; "
          "probe SuccessProbClassifier(early_stopping=True), 3 folds")
    print("| features | split | loss | Avg | Opt | (Avg-ours)/(Avg-Opt) |")
    print("|---|---|---|---|---|---|")
    choices = [(f"last, layer {layer}", last[layer]) for layer in args.layers]
    choices += [(f"mean, layer {layer}", mean[layer]) for layer in args.layers[1::2]]
    best = max(args.layers)
    choices.append((f"last, layer {best} + next-token signals",
                    np.hstack([last[best], signals])))
    choices.append(("next-token signals only", signals))
    for name, X in choices:
        for split_name, cv in splitters.items():
            s = grouped_scores(X, data.outcomes, groups, cv=cv)
            print(f"| {name} | {split_name} | {s['loss']:.4f} | {s['avg']:.4f} | "
                  f"{s['opt']:.4f} | {s['normalised']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
