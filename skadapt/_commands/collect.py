"""``skadapt collect``: sample and verify LM answers to generated tasks.

With the defaults it regenerates the dataset shipped as
:func:`skadapt.datasets.load_arithmetic`: arithmetic and lookup tasks from
:func:`skadapt.datasets.make_arithmetic_tasks`, 32 samples per query from
SmolLM2-135M-Instruct at temperature 0.7, scored by
:func:`skadapt.verifiers.exact_numeric`. Finished batches are checkpointed to
``OUTPUT/checkpoint.jsonl``; running the same command again resumes from it.
When every query is done, the dataset is written to ``OUTPUT/`` (see
:func:`skadapt.datasets.write_dataset`).

The checkpoint records the run's identity: a content hash of the model's weights,
the verifier and the sampling settings. A run whose identity differs from the
checkpoint's (or from a part's) is refused before the model loads, with a message
naming what differs.
"""

# the task generators draw distinct queries; beyond this they run out of them
MAX_QUERIES = 1_000_000

DEFAULTS = {
    "n_queries": 2000, "n_samples": 32, "seed": 0, "model": "smollm2",
    "temperature": 0.7, "top_p": 1.0, "max_new_tokens": 20, "batch_size": 8,
    "n_threads": 1,
}


def _finite_float(low, high, *, open_low=False):
    """A ``type=`` function for a float in ``[low, high]`` (``(low, high]``)."""
    import argparse
    import math

    def check(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
        if not math.isfinite(value) or value < low or (open_low and value == low) \
                or value > high:
            lo = "(" if open_low else "["
            raise argparse.ArgumentTypeError(
                f"must be a number in {lo}{low}, {high}]; got {text!r}")
        return value

    check.__name__ = "number"
    return check


def configure(parser):
    from skadapt.cli import bounded_int, positive_int, seed
    from skadapt.sampling import MAX_NEW_TOKENS, MAX_SAMPLES

    parser.add_argument("--tasks", choices=("arithmetic", "diverse", "broader"),
                        default="arithmetic",
                        help="task generator: 'arithmetic' (6 families, the first "
                             "shipped dataset), 'diverse' (25 families x 4 "
                             "phrasings, the second) or 'broader' (23 more "
                             "families, the third) (default: %(default)s)")
    parser.add_argument("--part", default=None, metavar="I/N",
                        help="sample only part I of N (batch-aligned ranges of "
                             "queries) into OUTPUT/checkpoint.partIofN.jsonl, for "
                             "several processes at once; a final run without "
                             "--part merges the parts and writes the dataset")
    parser.add_argument("--n-queries", type=bounded_int(1, MAX_QUERIES),
                        default=DEFAULTS["n_queries"],
                        help="number of generated queries (default: %(default)s)")
    parser.add_argument("--n-samples", type=bounded_int(1, MAX_SAMPLES),
                        default=DEFAULTS["n_samples"],
                        help="samples per query (default: %(default)s)")
    parser.add_argument("--seed", type=seed, default=DEFAULTS["seed"],
                        help="seed of the task generator, the sampler and the "
                             "train/test split (default: %(default)s)")
    parser.add_argument("--output", default="skadapt-arithmetic",
                        help="folder for the checkpoint and the dataset files; "
                             "running the same command again resumes from its "
                             "checkpoint (default: %(default)s)")
    parser.add_argument("--model", default=DEFAULTS["model"],
                        help="HF model name, folder or .gguf file, or 'smollm2' "
                             "(default: %(default)s)")
    parser.add_argument("--temperature", type=_finite_float(0.0, 100.0),
                        default=DEFAULTS["temperature"],
                        help="sampling temperature, 0 for greedy (default: %(default)s)")
    parser.add_argument("--top-p", type=_finite_float(0.0, 1.0, open_low=True),
                        default=DEFAULTS["top_p"],
                        help="nucleus sampling mass in (0, 1] (default: %(default)s)")
    parser.add_argument("--max-new-tokens", type=bounded_int(1, MAX_NEW_TOKENS),
                        default=DEFAULTS["max_new_tokens"],
                        help="most tokens per sample (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULTS["batch_size"],
                        help="queries decoded together (x n-samples rows)")
    parser.add_argument("--no-stop-newline", action="store_true",
                        help="do not end a sample at its first newline")
    parser.add_argument("--n-threads", type=positive_int, default=DEFAULTS["n_threads"],
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


def _parse_part(text):
    from skadapt.cli import UsageError

    try:
        index, count = (int(v) for v in text.split("/"))
        if not 1 <= index <= count:
            raise ValueError
    except ValueError:
        raise UsageError("--part", f"must be I/N with 1 <= I <= N, got {text!r}") from None
    return index, count


def main(args):
    """Check every argument, the output folder and the checkpoints, then sample.

    Nothing is loaded or sampled before the checks pass: a bad argument, an
    output folder that cannot be written, a damaged checkpoint line, or a
    checkpoint (or part) written by another run (other model weights, verifier
    or settings) ends the command with one line and exit status 2.
    """
    import os

    from skadapt import datasets
    from skadapt.cli import UsageError
    from skadapt.sampling import _prepare_run
    from skadapt.verifiers import exact_numeric

    part = None if args.part is None else _parse_part(args.part)
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UsageError("--output", f"{args.output} exists and is not a folder")
    try:
        os.makedirs(args.output, exist_ok=True)
    except OSError as exc:
        raise UsageError("--output", f"cannot create {args.output}: "
                                     f"{exc.strerror or exc}") from None
    if args.tasks == "diverse":
        tasks = datasets.make_diverse_tasks(args.n_queries, random_state=args.seed)
    elif args.tasks == "broader":
        try:
            tasks = datasets.make_broader_tasks(args.n_queries, random_state=args.seed)
        except ValueError as exc:  # more queries than the families have
            raise UsageError("--n-queries", str(exc)) from None
    else:
        tasks = datasets.make_arithmetic_tasks(args.n_queries, random_state=args.seed)
    ids = [f"q{i:05d}" for i in range(len(tasks))]
    model_info = datasets.model_provenance(args.model)
    extra = {"n_queries": int(args.n_queries), "task_seed": int(args.seed)}
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

    def prepare():
        return _prepare_run(
            args.model, queries, answers, exact_numeric, args.n_samples,
            tokenizer=None, ids=ids, prompt_template="chat",
            max_new_tokens=args.max_new_tokens, temperature=args.temperature,
            top_p=args.top_p,
            stop_strings=None if args.no_stop_newline else ["\n"],
            batch_size=args.batch_size, random_state=args.seed,
            checkpoint=checkpoint, backend=args.backend, verifier_id=None,
            extra_config=extra, verbose=not args.quiet)

    run = prepare()
    if part is None and merge_parts(checkpoint, args.output, run.config):
        run = prepare()  # read the merged checkpoint

    import torch

    torch.set_num_threads(args.n_threads)
    result = run.execute()
    if part is not None:
        print(checkpoint)
        return 0
    if model_info.get("model_sha256") is None:
        # a folder (or hub model): its content hash, as the checkpoint records it
        model_info["model_sha256"] = result.config.get("model_sha256")
    description = None
    if args.tasks == "diverse":
        description = ("SmolLM2-135M-Instruct answers to generated tasks of 25 "
                       "families in 4 phrasings "
                       "(skadapt.datasets.make_diverse_tasks)")
    elif args.tasks == "broader":
        description = ("SmolLM2-135M-Instruct answers to generated tasks of 23 "
                       "families that the diverse dataset does not ask, in up to 4 "
                       "phrasings (skadapt.datasets.make_broader_tasks)")
    paths = datasets.write_dataset(
        args.output, tasks, result, seed=args.seed, model_info=model_info,
        command=_command_line(args),
        n_threads=args.n_threads, name=args.tasks, description=description,
    )
    for path in paths:
        print(path)
    return 0


def merge_parts(checkpoint, folder, config):
    """Append the records of ``checkpoint.part*.jsonl`` files in ``folder`` to ``checkpoint``.

    Every part must have been written by the run that ``config`` describes (same
    model weights, verifier and settings), and so must ``checkpoint`` when it
    exists; all files are checked before anything is written. Records already in
    ``checkpoint`` are skipped, so merging twice adds nothing.

    Returns
    -------
    n_merged : int
        Records appended.
    """
    import glob
    import os

    from skadapt import _checkpoint

    paths = sorted(glob.glob(os.path.join(folder, "checkpoint.part*.jsonl")))
    if not paths:
        return 0
    main = _checkpoint.read_checkpoint(checkpoint)
    if main.config is not None:
        _checkpoint.check_same_run(checkpoint, main.config, config)
    parts = [_checkpoint.read_checkpoint(path) for path in paths]
    for part in parts:
        if part.config is not None:
            _checkpoint.check_same_run(part.path, part.config, config)
    have = set(main.records)
    new = []
    for part in parts:
        for key, record in part.records.items():
            if key not in have:
                have.add(key)
                new.append(record)
    if new:
        header = None
        if main.config is None:
            header = {"type": "header", "config": config}
        _checkpoint.append_records(checkpoint, new, header=header,
                                   keep_bytes=main.keep_bytes)
    return len(new)
