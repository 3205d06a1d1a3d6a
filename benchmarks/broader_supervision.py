"""Does training on more task families carry over to families the probe never saw?

``benchmarks/family_learning_curve.py`` found that, on the shipped diverse dataset, the
leave-family-out gain grows with the number of training families (5 -> 20). This
script adds *new* families: 23 task kinds that none of the 25 diverse families asks
(clock arithmetic, averages, percentages, areas, greatest common divisors, counting
words, reversing digits, ...), each in the same 4 phrasings, sampled from the same
model with the same settings as the shipped datasets (SmolLM2-135M-Instruct, chat
template, 32 samples, temperature 0.7, 20 new tokens, stop at a newline, exact numeric
verifier, seed 0). Then, leave-family-out on the diverse dataset (``--dataset
arithmetic``: on the arithmetic one, whose 6 families the new ones do not ask either),
with 3 ``GroupKFold`` folds over its families and the protocol of
:func:`skadapt.shift.shift_evaluation` (probe fitted on samples 1-16, budget allocated
greedily over all its queries, scored exactly on samples 17-32), the default probe is
trained either on the training folds alone, or on the training folds *plus* extra
families.

The samples are stored in the repository, ``benchmarks/data/broader_smollm2.jsonl.gz``
(the sampler's checkpoint: its header names the model's SHA-256 and the sampling
settings; one record per query with its 32 completions, their rewards, token counts and
log-probabilities), so the comparison runs in about a minute once the features are
cached:

    python benchmarks/broader_supervision.py evaluate

To sample them again (about 50 min on 2 cores for 1,600 queries, resumable; the
queries are regenerated from ``--seed`` and checked against the stored ones):

    python benchmarks/broader_supervision.py collect --output DIR
    python benchmarks/broader_supervision.py evaluate --data DIR/checkpoint.jsonl

Features are cached by ``HiddenStateFeaturizer(memory=...)`` under the skadapt cache.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np

# ---------------------------------------------------------------- the extra families
# Each: rng, level, style -> (text, answer); style is "question", "words" (numbers as
# words) or "instruction"; the "context" template adds a sentence in front.


def _families():
    from skadapt._tasks import _ask, _n, _operand, _pick, _seq

    months = [("January", 31), ("February", 28), ("March", 31), ("April", 30),
              ("May", 31), ("June", 30), ("July", 31), ("August", 31),
              ("September", 30), ("October", 31), ("November", 30), ("December", 31)]
    animals = [("dogs", 4), ("cats", 4), ("chickens", 2), ("spiders", 8), ("ants", 6),
               ("ducks", 2), ("horses", 4)]
    sentences = ["the cat sat on the mat", "we went to the park today",
                 "birds fly south in the winter", "my brother likes green apples",
                 "the old train was very slow", "she reads a book every night",
                 "it rained all day long", "please close the door",
                 "the sun rises in the east", "good friends help each other",
                 "a small boat crossed the wide river at dawn",
                 "they planted three tall trees behind the school"]

    def clock_add(rng, level, style):
        hour = int(rng.integers(1, 13))
        add = int(rng.integers(1, 12 if level == 1 else 30))
        answer = (hour - 1 + add) % 12 + 1
        return _ask(style, f"It is {_n(hour, style)} o'clock. What hour will the clock "
                           f"show in {_n(add, style)} hours?",
                    f"Add {add} hours to {hour} o'clock on a 12-hour clock and give the "
                    f"hour."), answer

    def even_count(rng, level, style):
        items = [int(x) for x in rng.integers(1, 50, size=level + 3)]
        return _ask(style, f"How many even numbers are in the list {_seq(items, style)}?",
                    f"Count the even numbers in {_seq(items, style)}."), \
            sum(x % 2 == 0 for x in items)

    def distinct_count(rng, level, style):
        pool = [int(x) for x in rng.integers(1, 20, size=2 + level)]
        items = [pool[int(i)] for i in rng.integers(len(pool), size=level + 3)]
        return _ask(style, f"How many different numbers are in the list "
                           f"{_seq(items, style)}?",
                    f"Count the distinct values in {_seq(items, style)}."), len(set(items))

    def list_range(rng, level, style):
        items = [int(x) for x in rng.integers(1, 100, size=level + 2)]
        return _ask(style, f"What is the difference between the largest and the smallest "
                           f"number in the list {_seq(items, style)}?",
                    f"Subtract the minimum of {_seq(items, style)} from its maximum."), \
            max(items) - min(items)

    def average(rng, level, style):
        k = level + 1
        mean = int(rng.integers(2, 30 if level < 3 else 90))
        offsets = [int(x) for x in rng.integers(-mean + 1, mean, size=k - 1)]
        items = [mean + o for o in offsets] + [mean * k - sum(mean + o for o in offsets)]
        if min(items) < 0:
            items = [mean] * k
        return _ask(style, f"What is the average of {_seq(items, style)}?",
                    f"Compute the mean of {_seq(items, style)}."), mean

    def doubling(rng, level, style):
        a = _operand(rng, level + 1)
        return _ask(style, f"What is double {_n(a, style)}?", f"Double the number {a}."), \
            2 * a

    def cube(rng, level, style):
        a = int(rng.integers(1, 6)) if level == 1 else int(rng.integers(6, 13))
        return _ask(style, f"What is {_n(a, style)} cubed?", f"Compute {a} to the third "
                                                               "power."), a ** 3

    def factorial(rng, level, style):
        a = int(rng.integers(1, 5)) if level == 1 else int(rng.integers(5, 8))
        return _ask(style, f"What is {_n(a, style)} factorial?",
                    f"Compute the factorial of {a}."), math.factorial(a)

    def perimeter(rng, level, style):
        side = _operand(rng, level) or 1
        return _ask(style, f"A square has sides of {_n(side, style)} centimeters. What is "
                           "its perimeter in centimeters?",
                    f"Give the perimeter, in centimeters, of a square with {side} cm "
                    "sides."), 4 * side

    def area(rng, level, style):
        a, b = int(rng.integers(2, 10)), int(rng.integers(2, 10 if level == 1 else 40))
        return _ask(style, f"A rectangle is {_n(a, style)} meters by {_n(b, style)} "
                           "meters. What is its area in square meters?",
                    f"Compute the area of a {a} m by {b} m rectangle in square meters."), \
            a * b

    def percent(rng, level, style):
        p = _pick(rng, [10, 20, 25, 50] if level == 1 else [5, 15, 30, 40, 60, 75])
        base = 20 * int(rng.integers(1, 10 if level == 1 else 50))
        return _ask(style, f"What is {_n(p, style)} percent of {_n(base, style)}?",
                    f"Compute {p}% of {base}."), p * base // 100

    def unit_price(rng, level, style):
        price, count = int(rng.integers(2, 10 if level == 1 else 25)), int(rng.integers(2, 10))
        item = _pick(rng, ["pens", "tickets", "notebooks", "cups", "candles"])
        return _ask(style, f"{item.capitalize()} cost {_n(price, style)} dollars each. How "
                           f"many dollars do {_n(count, style)} {item} cost?",
                    f"Find the cost in dollars of {count} {item} at {price} dollars each."), \
            price * count

    def word_count(rng, level, style):
        text = _pick(rng, sentences[:8] if level == 1 else sentences[8:])
        return _ask(style, f"How many words are in the sentence '{text}'?",
                    f"Count the words in the sentence '{text}'."), len(text.split())

    def max_digit(rng, level, style):
        a = _operand(rng, level + 2)
        return _ask(style, f"What is the largest digit of {_n(a, style)}?",
                    f"Give the largest digit in the number {a}."), max(int(d) for d in str(a))

    def digit_count(rng, level, style):
        a = _operand(rng, int(rng.integers(1, 4 + 2 * level)))
        return _ask(style, f"How many digits does the number {a} have?",
                    f"Count the digits of {a}."), len(str(a))

    def reverse_digits(rng, level, style):
        a = _operand(rng, level + 1)
        while a % 10 == 0:
            a = _operand(rng, level + 1)
        return _ask(style, f"What number do you get by writing the digits of {a} in "
                           "reverse order?",
                    f"Reverse the digits of {a}."), int(str(a)[::-1])

    def gcd(rng, level, style):
        g = int(rng.integers(2, 10))
        a, b = g * int(rng.integers(1, 6 * level)), g * int(rng.integers(1, 6 * level))
        return _ask(style, f"What is the greatest common divisor of {_n(a, style)} and "
                           f"{_n(b, style)}?",
                    f"Find the greatest common divisor of {a} and {b}."), math.gcd(a, b)

    def next_multiple(rng, level, style):
        m = int(rng.integers(3, 10))
        a = _operand(rng, level + 1)
        return _ask(style, f"What is the smallest multiple of {_n(m, style)} that is "
                           f"greater than {_n(a, style)}?",
                    f"Give the first multiple of {m} above {a}."), (a // m + 1) * m

    def count_between(rng, level, style):
        a = _operand(rng, level + 1)
        b = a + int(rng.integers(2, 12 if level == 1 else 60))
        return _ask(style, f"How many whole numbers are strictly between {_n(a, style)} "
                           f"and {_n(b, style)}?",
                    f"Count the integers strictly between {a} and {b}."), b - a - 1

    def legs(rng, level, style):
        animal, n_legs = _pick(rng, animals[:4] if level == 1 else animals)
        count = int(rng.integers(2, 10 if level == 1 else 25))
        return _ask(style, f"How many legs do {_n(count, style)} {animal} have in total?",
                    f"Count the legs of {count} {animal}."), count * n_legs

    def median(rng, level, style):
        items = [int(x) for x in rng.choice(np.arange(1, 100), size=2 * level + 1,
                                            replace=False)]
        return _ask(style, f"What is the middle number when {_seq(items, style)} are "
                           "sorted from smallest to largest?",
                    f"Give the median of {_seq(items, style)}."), sorted(items)[level]

    def minutes_between(rng, level, style):
        hour = int(rng.integers(1, 12))
        start = 5 * int(rng.integers(0, 8))
        end = start + 5 * int(rng.integers(1, 12 - start // 5 if level == 1 else 20))
        end_h, end_m = hour + end // 60, end % 60
        return _ask(style, f"How many minutes are there from {hour}:{start:02d} to "
                           f"{end_h}:{end_m:02d}?",
                    f"Count the minutes from {hour}:{start:02d} to {end_h}:{end_m:02d}."), \
            end - start

    def days_in_months(rng, level, style):
        first = int(rng.integers(12))
        span = 1 if level == 1 else int(rng.integers(2, 4))
        chosen = [months[(first + i) % 12] for i in range(span)]
        names = " and ".join(name for name, _ in chosen) if span > 1 else chosen[0][0]
        return _ask(style, f"How many days are in {names} together, in a year that is not "
                           "a leap year?" if span > 1 else
                    f"How many days does {names} have in a year that is not a leap year?",
                    f"Give the number of days in {names} of a non-leap year."), \
            sum(days for _, days in chosen)

    everything = ("question", "words", "instruction", "context")
    no_words = ("question", "instruction", "context")
    return {
        "clock_add": (clock_add, (1, 2), everything),
        "even_count": (even_count, (1, 2, 3), everything),
        "distinct_count": (distinct_count, (1, 2, 3), everything),
        "list_range": (list_range, (1, 2, 3), everything),
        "average": (average, (1, 2, 3), everything),
        "doubling": (doubling, (1, 2, 3), everything),
        "cube": (cube, (1, 2), everything),
        "factorial": (factorial, (1, 2), everything),
        "perimeter": (perimeter, (1, 2), everything),
        "area": (area, (1, 2), everything),
        "percent": (percent, (1, 2), everything),
        "unit_price": (unit_price, (1, 2), everything),
        "word_count": (word_count, (1, 2), no_words),
        "max_digit": (max_digit, (1, 2), no_words),
        "digit_count": (digit_count, (1, 2), no_words),
        "reverse_digits": (reverse_digits, (1, 2), no_words),
        "gcd": (gcd, (1, 2), everything),
        "next_multiple": (next_multiple, (1, 2), everything),
        "count_between": (count_between, (1, 2), everything),
        "legs": (legs, (1, 2), everything),
        "median": (median, (1, 2), everything),
        "minutes_between": (minutes_between, (1, 2), no_words),
        "days_in_months": (days_in_months, (1, 2), no_words),
    }


def make_tasks(n_queries, seed):
    """``n_queries`` distinct queries: family, level and template drawn uniformly."""
    from skadapt._tasks import _CONTEXTS, ANSWER_SUFFIX, _pick

    families = _families()
    rng = np.random.default_rng(seed)
    rows, seen = [], set()
    names = sorted(families)
    attempts = 0
    while len(rows) < n_queries:
        attempts += 1
        if attempts > 50 * n_queries:
            raise RuntimeError(f"could not draw {n_queries} distinct queries")
        family = names[int(rng.integers(len(names)))]
        generate, levels, templates = families[family]
        level = levels[int(rng.integers(len(levels)))]
        template = templates[int(rng.integers(len(templates)))]
        style = "question" if template == "context" else template
        text, answer = generate(rng, level, style)
        if template == "context":
            text = f"{_pick(rng, _CONTEXTS)} {text}"
        text += ANSWER_SUFFIX
        if text in seen:
            continue
        seen.add(text)
        rows.append({"query": text, "answer": int(answer), "family": family,
                     "level": int(level), "template": template})
    return rows


# ---------------------------------------------------------------------------- steps

def collect(args):
    import torch

    from skadapt.sampling import sample_and_score
    from skadapt.verifiers import exact_numeric

    os.makedirs(args.output, exist_ok=True)
    tasks = make_tasks(args.n_queries, args.seed)
    torch.set_num_threads(args.n_threads)
    tic = time.time()
    result = sample_and_score(
        "smollm2", [t["query"] for t in tasks], [t["answer"] for t in tasks],
        exact_numeric, 32, max_new_tokens=20, temperature=0.7, top_p=1.0,
        stop_strings=["\n"], batch_size=8, random_state=args.seed,
        checkpoint=os.path.join(args.output, "checkpoint.jsonl"), verbose=not args.quiet)
    outcomes = np.asarray(result.rewards, dtype=float)
    print(f"collected {outcomes.shape} in {time.time() - tic:.0f} s; success rate "
          f"{outcomes.mean():.3f}; evaluate with --data "
          f"{os.path.join(args.output, 'checkpoint.jsonl')}")


def read_samples(path, seed):
    """Tasks and 0/1 outcomes from a sampler checkpoint (``.jsonl`` or ``.jsonl.gz``).

    The queries are regenerated with :func:`make_tasks` from ``seed`` and must equal
    the stored ones, so the families and phrasings attached to them are the right ones.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    records = sorted((r for r in records if r.get("type") != "header"),
                     key=lambda r: r["id"])
    tasks = make_tasks(len(records), seed)
    for record in records:
        task = tasks[record["id"]] if record["id"] < len(tasks) else None
        if task is None or task["query"] != record["query"]:
            sys.exit(f"broader_supervision.py: {path}: query {record['id']} is not the one "
                     f"--seed {seed} generates; was it collected with another seed?")
    if [r["id"] for r in records] != list(range(len(records))):
        sys.exit(f"broader_supervision.py: {path}: the queries are not 0..n-1 (an "
                 "unfinished collection?)")
    return tasks, np.array([r["rewards"] for r in records], dtype=float)


def evaluate(args):
    from sklearn.model_selection import GroupKFold, KFold

    from skadapt import GreedyAllocator, HiddenStateFeaturizer, SuccessProbClassifier
    from skadapt._lm import cache_dir
    from skadapt import datasets
    from skadapt.evaluation import per_query_value
    from skadapt.shift import shift_evaluation, split_sample_oracle

    if not os.path.exists(args.data):
        sys.exit(f"broader_supervision.py: {args.data} does not exist; run the collect "
                 "step first, or leave out --data for the stored samples")
    tasks, R_extra_all = read_samples(args.data, args.seed)
    R_extra = R_extra_all[:, :16]
    extra_family = np.array([t["family"] for t in tasks])
    featurizer = HiddenStateFeaturizer("smollm2", memory=str(cache_dir() / "features"))
    data = (datasets.load_diverse if args.dataset == "diverse"
            else datasets.load_arithmetic)()
    X = featurizer.fit_transform(list(data.queries))
    X_extra = featurizer.fit_transform([t["query"] for t in tasks])
    R = data.outcomes.astype(float)
    R_allocate, R_score = R[:, :16], R[:, 16:]
    family = np.asarray(data.family)
    rates = {f: R_extra[extra_family == f].mean() for f in np.unique(extra_family)}
    print(f"extra: {len(tasks)} queries, {len(rates)} families, success rate "
          f"{R_extra.mean():.3f} (per family {min(rates.values()):.3f}-"
          f"{max(rates.values()):.3f})")
    folds = list(GroupKFold(3).split(R, groups=family))
    uniform = {b: per_query_value(R_score, np.full(len(R), b)).mean() for b in range(1, 17)}
    oracle = {b: per_query_value(R_score, split_sample_oracle(R_allocate, b, max_budget=16))
              .mean() - uniform[b] for b in range(1, 17)}

    def curves_for(folds, keep, seed, own_neighbours=False):
        """Out-of-fold curves of the default probe, trained with the extra rows ``keep``.

        ``own_neighbours``: the default curve's two halves from two probes, the
        plug-in half from the MLP trained with the extra rows, the neighbours' half
        from the training folds' own queries only.
        """
        curves = np.zeros((len(R), 16))
        for train, test in folds:
            X_fit, R_fit = X[train], R_allocate[train]
            if keep.any():
                X_fit = np.vstack([X_fit, X_extra[keep]])
                R_fit = np.vstack([R_fit, R_extra[keep]])
            if own_neighbours:
                plug_in = SuccessProbClassifier(random_state=seed, max_budget=16,
                                                neighbor_curves=0).fit(X_fit, R_fit)
                neighbours = SuccessProbClassifier(random_state=seed, max_budget=16,
                                                   neighbor_weight=1.0)
                neighbours.fit(X[train], R_allocate[train])
                curves[test] = (0.5 * plug_in.transform(X[test])
                                + 0.5 * neighbours.transform(X[test]))
                continue
            probe = SuccessProbClassifier(random_state=seed, max_budget=16)
            curves[test] = probe.fit(X_fit, R_fit).transform(X[test])
        return curves

    def gains(curves, budgets):
        """Per budget: per-query value of the greedy allocation minus uniform's."""
        out = []
        for b in budgets:
            chosen = np.asarray(GreedyAllocator(b, max_budget=16, kind="marginal")
                                .fit_transform(curves)).ravel()
            out.append(per_query_value(R_score, chosen)
                       - per_query_value(R_score, np.full(len(R), b)))
        return np.asarray(out)

    n_sub = args.extra_families
    none, every = np.zeros(len(tasks), bool), np.ones(len(tasks), bool)

    def matched(rng, subset):
        """All families, as many queries as ``subset`` holds."""
        return np.isin(np.arange(len(tasks)),
                       rng.choice(len(tasks), int(subset.sum()), replace=False))

    # (label, extra rows of a seed, neighbours from the task's own rows, on the random split)
    variants = [
        (f"{args.dataset} training folds", lambda rng, subset: none, False, True),
        (f"+ {n_sub} extra families (all their queries)", lambda rng, subset: subset,
         False, False),
        (f"+ all {len(rates)} extra families, as many queries as the row above", matched,
         False, False),
        (f"+ all {len(rates)} extra families", lambda rng, subset: every, False, True),
        (f"+ all {len(rates)} extra families in the MLP, neighbours from the "
         f"{args.dataset} folds only", lambda rng, subset: every, True, True),
    ]
    splits = {"leave-family-out": folds,
              "random split": list(KFold(3, shuffle=True, random_state=0).split(R))}
    print(f"online gain over uniform on the {args.dataset} dataset (share of the split "
          f"oracle's gain), mean over probe seeds {args.seeds} [range]\n")
    print("| split | training data | " + " | ".join(f"B={b}" for b in args.budgets) + " |")
    print("|---|---|" + "---|" * len(args.budgets))
    for split, split_folds in splits.items():
        for label, extra_rows, own_neighbours, on_random_split in variants:
            if split == "random split" and not on_random_split:
                continue
            per_seed = []
            for seed in args.seeds:
                rng = np.random.default_rng(seed)
                subset = np.isin(extra_family,
                                 rng.choice(sorted(rates), n_sub, replace=False))
                curves = curves_for(split_folds, extra_rows(rng, subset), seed,
                                    own_neighbours=own_neighbours)
                per_seed.append(gains(curves, args.budgets).mean(axis=1))
            per_seed = np.asarray(per_seed)
            cells = [f"{g.mean():+.3f} ({g.mean() / oracle[b]:.0%}) [{g.min():+.3f}, "
                     f"{g.max():+.3f}]" for g, b in zip(per_seed.T, args.budgets)]
            print(f"| {split} | {label} | " + " | ".join(cells) + " |", flush=True)

    budgets = list(range(1, 17))
    print(f"\nleave-family-out, every budget, probe seed {args.seeds[0]} "
          "(skadapt.shift.shift_evaluation, with X_extra/R_extra for the extra families): "
          "online gain [95% interval over queries] [over families] (share of the split "
          "oracle's gain); offline policy's success at its realized spend\n")
    print("| training data | B | online gain | over queries | over families | captured "
          "| offline (spend) |")
    print("|---|---|---|---|---|---|---|")
    for label, extra in ((f"{args.dataset} training folds", {}),
                         (f"+ all {len(rates)} extra families",
                          {"X_extra": X_extra, "R_extra": R_extra_all})):
        table = shift_evaluation(SuccessProbClassifier(random_state=args.seeds[0],
                                                       max_budget=16),
                                 X, R, groups=family, budgets=budgets, **extra)
        for row in table.itertuples():
            captured = "-" if not np.isfinite(row.captured) else f"{row.captured:.0%}"
            print(f"| {label} | {row.budget} | {row.online_gain:+.3f} | "
                  f"[{row.online_low:+.3f}, {row.online_high:+.3f}] | "
                  f"[{row.group_low:+.3f}, {row.group_high:+.3f}] | {captured} | "
                  f"{row.offline:.3f} ({row.offline_spend:.2f}) |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("collect", "evaluate", "tasks"),
                        help="collect: sample the extra families (resumable); evaluate: "
                             "the comparison; tasks: print a few generated queries")
    parser.add_argument("--output", default=os.path.expanduser("~/.cache/skadapt/broader"),
                        help="collect: folder of the sampler's checkpoint")
    parser.add_argument("--data", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "data", "broader_smollm2.jsonl.gz"),
                        help="evaluate: the samples, a checkpoint written by collect "
                             "(default: the stored copy in benchmarks/data)")
    parser.add_argument("--n-queries", type=int, default=1600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-threads", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--dataset", choices=("diverse", "arithmetic"), default="diverse",
                        help="evaluate: the shipped dataset whose families are held out "
                             "(default: diverse)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="probe seeds of the evaluate step")
    parser.add_argument("--extra-families", type=int, default=6,
                        help="evaluate: the row with only this many extra families (drawn "
                             "per seed), and the row with all families subsampled to as "
                             "many queries (default 6)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args(argv)
    if args.n_queries < 1:
        parser.error(f"--n-queries must be at least 1, got {args.n_queries}")
    if args.n_threads < 1:
        parser.error(f"--n-threads must be at least 1, got {args.n_threads}")
    if any(b < 1 or b > 16 for b in args.budgets):
        parser.error("--budgets: each budget must be between 1 and 16")
    n_families = len(_families())
    if not 1 <= args.extra_families < n_families:
        parser.error(f"--extra-families must lie in [1, {n_families - 1}]")
    if args.step == "collect":
        collect(args)
    elif args.step == "evaluate":
        evaluate(args)
    else:
        for row in make_tasks(args.n_queries, args.seed)[:60]:
            print(f"{row['family']:16} {row['level']} {row['template']:11} "
                  f"{row['answer']:>6}  {row['query']}")


if __name__ == "__main__":
    main()
