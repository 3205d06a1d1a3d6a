"""Does the LM's surprise at the query tell how hard an unseen family is?

A signal the featurizer's forward pass could give for free (issue 9, "features that
transfer"): the log-probabilities SmolLM2 assigns to the query's own tokens (mean, min,
standard deviation, count) and to the whole chat prompt (mean). Reports their rank
correlation with the success rate across families and across queries, the probe's
leave-family-out and random-split Table-1 score `(Avg - ours) / (Avg - Opt)` (Avg from
the training folds, as in ``feature_layers.py``) on these five features alone and
appended to the demo's hidden state, and the leave-family-out online gain of
:func:`skadapt.shift.shift_evaluation` (3 folds, samples 1-16 choose, 17-32 score).

    python benchmarks/prompt_likelihood.py --dataset diverse

The features are computed once (about 7 min for 4,000 queries on 2 cores) and cached
under ``~/.cache/skadapt/layers``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def prompt_logprobs(queries, *, batch_size=16):
    """Per query: mean, min, std and count of the query tokens' log-probabilities
    under the chat prompt, and the mean over the whole prompt."""
    import torch

    from skadapt._lm import format_prompt, load_lm, pad_batch

    model, tok = load_lm("smollm2")
    ids = [tok(format_prompt(tok, q, "chat"), add_special_tokens=False)["input_ids"]
           for q in queries]
    own = [tok(q, add_special_tokens=False)["input_ids"] for q in queries]
    order = np.argsort([len(r) for r in ids], kind="stable")
    feats = np.zeros((len(queries), 5), dtype=np.float32)
    tic = time.time()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            input_ids, mask = pad_batch([ids[i] for i in rows], tok.pad_token_id, "right")
            logits = model(input_ids=input_ids, use_cache=False).logits.float()
            logp = torch.log_softmax(logits[:, :-1], -1).gather(
                -1, input_ids[:, 1:, None])[..., 0]
            for r, i in enumerate(rows):
                lp = logp[r, :int(mask[r, 1:].sum())].numpy()
                n, full = len(own[i]), ids[i]
                # the query's tokens: the last place in the prompt where they occur
                start_q = next((s for s in range(len(full) - n, 0, -1)
                                if full[s:s + n] == own[i]), None)
                seg = lp[start_q - 1:start_q - 1 + n] if start_q else lp
                feats[i] = [seg.mean(), seg.min(), seg.std(), len(seg), lp.mean()]
            done = min(start + batch_size, len(order))
            print(f"\r  {done}/{len(order)} queries ({done / (time.time() - tic):.1f}/s)",
                  end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return feats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("arithmetic", "diverse"), default="diverse")
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/skadapt/layers"))
    parser.add_argument("--pooling", choices=("mean", "last"), default="mean",
                        help="the featurizer's pooling (default: its default, mean; "
                             "'last' = skadapt 0.1.0's last-token feature)")
    args = parser.parse_args(argv)

    from scipy.stats import spearmanr
    from sklearn.model_selection import GroupKFold, KFold
    from sklearn.preprocessing import StandardScaler

    from skadapt import SuccessProbClassifier
    from skadapt._demo import featurize, load_demo_data
    from skadapt.shift import shift_evaluation

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from feature_layers import grouped_scores

    data = load_demo_data(dataset=args.dataset)
    path = os.path.join(args.cache, f"prompt_logprob_{args.dataset}_{len(data.queries)}.npy")
    if os.path.exists(path):
        raw = np.load(path)
    else:
        raw = prompt_logprobs(list(data.queries))
        os.makedirs(args.cache, exist_ok=True)
        np.save(path, raw)
    F = StandardScaler().fit_transform(raw).astype(np.float32)
    R = data.outcomes.astype(float)
    lam = R.mean(1)
    family = np.asarray(data.family)
    names = ["query mean", "query min", "query std", "query tokens", "prompt mean"]
    fams = np.unique(family)
    level = np.array([lam[family == f].mean() for f in fams])
    print(f"{args.dataset}: {len(lam)} queries, {len(fams)} families\n")
    print("| feature | rho across families | rho across queries |")
    print("|---|---|---|")
    for j, name in enumerate(names):
        across = spearmanr([raw[family == f, j].mean() for f in fams], level).statistic
        print(f"| {name} | {across:+.2f} | {spearmanr(raw[:, j], lam).statistic:+.2f} |")
    H = featurize(data.queries, pooling=args.pooling)
    print("\n| features | Table-1, leave-family-out | Table-1, random | "
          "leave-family-out gain at B = 1 / 2 / 4 / 8 |")
    print("|---|---|---|---|")
    for label, X in (("prompt log-probs", F), ("hidden state + prompt log-probs",
                                               np.hstack([H, 3 * F]).astype(np.float32))):
        lfo = grouped_scores(X, R, family, cv=GroupKFold(3))["normalised"]
        rnd = grouped_scores(X, R, None, cv=KFold(3, shuffle=True, random_state=0))
        table = shift_evaluation(SuccessProbClassifier(random_state=0, max_budget=16), X, R,
                                 groups=family, budgets=[1, 2, 4, 8], offline=False,
                                 n_resamples=200)
        gains = " / ".join(f"{g:+.3f}" for g in table["online_gain"])
        print(f"| {label} | {lfo:.3f} | {rnd['normalised']:.3f} | {gains} |", flush=True)


if __name__ == "__main__":
    main()
