"""``skadapt collect``: sample and verify LM answers to generated tasks.

With the defaults it regenerates the dataset shipped as
:func:`skadapt.datasets.load_arithmetic`: arithmetic and lookup tasks from
:func:`skadapt.datasets.make_arithmetic_tasks`, 32 samples per query from
SmolLM2-135M-Instruct at temperature 0.7, scored by
:func:`skadapt.verifiers.exact_numeric`. Finished batches are checkpointed to
``OUTPUT/checkpoint.jsonl``; running the same command again resumes from it.
When every query is done, the dataset is written to ``OUTPUT/`` (see
:func:`skadapt.datasets.write_dataset`).
"""

import sys

DEFAULTS = {
    "n_queries": 2000, "n_samples": 32, "seed": 0, "model": "smollm2",
    "temperature": 0.7, "top_p": 1.0, "max_new_tokens": 20, "batch_size": 8,
    "n_threads": 1,
}


def configure(parser):
    parser.add_argument("--tasks", choices=("arithmetic", "diverse"),
                        default="arithmetic",
                        help="task generator: 'arithmetic' (6 families, the first "
                             "shipped dataset) or 'diverse' (25 families x 4 "
                             "phrasings, the second) (default: %(default)s)")
    parser.add_argument("--part", default=None, metavar="I/N",
                        help="sample only part I of N (batch-aligned ranges of "
                             "queries) into OUTPUT/checkpoint.partIofN.jsonl, for "
                             "several processes at once; a final run without "
                             "--part merges the parts and writes the dataset")
    parser.add_argument("--n-queries", type=int, default=DEFAULTS["n_queries"],
                        help="number of generated queries (default: %(default)s)")
    parser.add_argument("--n-samples", type=int, default=DEFAULTS["n_samples"],
                        help="samples per query (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"],
                        help="seed of the task generator, the sampler and the "
                             "train/test split (default: %(default)s)")
    parser.add_argument("--output", default="skadapt-arithmetic",
                        help="folder for the checkpoint and the dataset files "
                             "(default: %(default)s)")
    parser.add_argument("--model", default=DEFAULTS["model"],
                        help="HF model name/path or 'smollm2' (default: %(default)s)")
    parser.add_argument("--temperature", type=float, default=DEFAULTS["temperature"])
    parser.add_argument("--top-p", type=float, default=DEFAULTS["top_p"])
    parser.add_argument("--max-new-tokens", type=int,
                        default=DEFAULTS["max_new_tokens"])
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"],
                        help="queries decoded together (x n-samples rows)")
    parser.add_argument("--no-stop-newline", action="store_true",
                        help="do not end a sample at its first newline")
    parser.add_argument("--n-threads", type=int, default=DEFAULTS["n_threads"],
                        help="torch CPU threads (default: %(default)s; one thread "
                             "was fastest on a 2-core machine shared with other jobs)")
    parser.add_argument("--backend", choices=("hf", "vllm"), default="hf")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _command_line(args):
    """The ``skadapt collect`` call that reproduces this run, every setting spelled out."""
    parts = ["skadapt", "collect"]
    if args.tasks != "arithmetic":
        parts += ["--tasks", args.tasks]
    for name in ("n_queries", "n_samples", "seed", "output", "model", "temperature",
                 "top_p", "max_new_tokens", "batch_size", "n_threads", "backend"):
        parts += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    if args.no_stop_newline:
        parts.append("--no-stop-newline")
    return " ".join(parts)


def main(args):
    import os

    import torch

    from skadapt import datasets
    from skadapt.sampling import sample_and_score
    from skadapt.verifiers import exact_numeric

    if args.n_queries < 1:
        print("error: --n-queries must be >= 1", file=sys.stderr)
        return 2
    if args.n_samples < 1:
        print("error: --n-samples must be >= 1", file=sys.stderr)
        return 2
    part = None
    if args.part is not None:
        try:
            index, count = (int(v) for v in args.part.split("/"))
            if not 1 <= index <= count:
                raise ValueError
        except ValueError:
            print(f"error: --part must be I/N with 1 <= I <= N, got {args.part!r}",
                  file=sys.stderr)
            return 2
        part = (index, count)
    torch.set_num_threads(max(1, args.n_threads))
    os.makedirs(args.output, exist_ok=True)
    if args.tasks == "diverse":
        tasks = datasets.make_diverse_tasks(args.n_queries, random_state=args.seed)
    else:
        tasks = datasets.make_arithmetic_tasks(args.n_queries, random_state=args.seed)
    ids = [f"q{i:05d}" for i in range(len(tasks))]
    stop_strings = None if args.no_stop_newline else ["\n"]
    model_info = datasets.model_provenance(args.model)
    extra = {"n_queries": int(args.n_queries), "task_seed": int(args.seed),
             "model_sha256": model_info.get("model_sha256")}
    if args.tasks != "arithmetic":
        extra["tasks"] = args.tasks
    checkpoint = os.path.join(args.output, "checkpoint.jsonl")
    queries, answers = tasks["query"].tolist(), tasks["answer"].tolist()
    if part is not None:
        # batch-aligned ranges: every query keeps the batch an undivided run
        # would give it, so the parts merge into the records of a single run
        n_batches = -(-len(tasks) // args.batch_size)
        lo, hi = ((n_batches * (part[0] - 1 + j)) // part[1] * args.batch_size
                  for j in (0, 1))
        queries, answers, ids = queries[lo:hi], answers[lo:hi], ids[lo:hi]
        checkpoint = os.path.join(args.output,
                                  f"checkpoint.part{part[0]}of{part[1]}.jsonl")
    else:
        merge_parts(checkpoint, args.output)
    result = sample_and_score(
        args.model, queries, answers,
        exact_numeric, args.n_samples, ids=ids, prompt_template="chat",
        max_new_tokens=args.max_new_tokens, temperature=args.temperature,
        top_p=args.top_p, stop_strings=stop_strings, batch_size=args.batch_size,
        random_state=args.seed, checkpoint=checkpoint, backend=args.backend,
        extra_config=extra, verbose=not args.quiet,
    )
    if part is not None:
        print(checkpoint)
        return 0
    description = None
    if args.tasks == "diverse":
        description = ("SmolLM2-135M-Instruct answers to generated tasks of 25 "
                       "families in 4 phrasings "
                       "(skadapt.datasets.make_diverse_tasks)")
    paths = datasets.write_dataset(
        args.output, tasks, result, seed=args.seed, model_info=model_info,
        command=_command_line(args),
        n_threads=args.n_threads, name=args.tasks, description=description,
    )
    for path in paths:
        print(path)
    return 0


def merge_parts(checkpoint, folder):
    """Append the records of ``checkpoint.part*.jsonl`` files in ``folder`` to ``checkpoint``.

    A part's header must equal the main checkpoint's (when there is one); records
    already in the main checkpoint are skipped, so merging twice adds nothing.
    The main run then checks the merged header against its own settings.
    """
    import glob
    import json
    import os

    parts = sorted(glob.glob(os.path.join(folder, "checkpoint.part*.jsonl")))
    if not parts:
        return
    have, header = set(), None
    if os.path.exists(checkpoint):
        with open(checkpoint, encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                if not line.endswith("\n"):
                    break  # a torn last line: the sampler drops it
                record = json.loads(line)
                if n == 0:
                    header = record
                elif record.get("type") == "query":
                    have.add(json.dumps(record["id"]))
    for path in parts:
        with open(path, encoding="utf-8") as fh:
            lines = [line for line in fh if line.endswith("\n")]
        if not lines:
            continue
        part_header = json.loads(lines[0])
        if header is None:
            header = part_header
            new = [lines[0]]
        elif part_header.get("config") != header.get("config"):
            raise ValueError(f"{path} was written with other settings than "
                             f"{checkpoint}; remove it or use another --output")
        else:
            new = []
        for line in lines[1:]:
            record = json.loads(line)
            key = json.dumps(record.get("id"))
            if record.get("type") == "query" and key not in have:
                have.add(key)
                new.append(line)
        with open(checkpoint, "a", encoding="utf-8") as fh:
            fh.writelines(new)
            fh.flush()
            os.fsync(fh.fileno())
