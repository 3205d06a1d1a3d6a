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
    torch.set_num_threads(max(1, args.n_threads))
    os.makedirs(args.output, exist_ok=True)
    tasks = datasets.make_arithmetic_tasks(args.n_queries, random_state=args.seed)
    ids = [f"q{i:05d}" for i in range(len(tasks))]
    stop_strings = None if args.no_stop_newline else ["\n"]
    model_info = datasets.model_provenance(args.model)
    extra = {"n_queries": int(args.n_queries), "task_seed": int(args.seed),
             "model_sha256": model_info.get("model_sha256")}
    checkpoint = os.path.join(args.output, "checkpoint.jsonl")
    result = sample_and_score(
        args.model, tasks["query"].tolist(), tasks["answer"].tolist(),
        exact_numeric, args.n_samples, ids=ids, prompt_template="chat",
        max_new_tokens=args.max_new_tokens, temperature=args.temperature,
        top_p=args.top_p, stop_strings=stop_strings, batch_size=args.batch_size,
        random_state=args.seed, checkpoint=checkpoint, backend=args.backend,
        extra_config=extra, verbose=not args.quiet,
    )
    paths = datasets.write_dataset(
        args.output, tasks, result, seed=args.seed, model_info=model_info,
        command=_command_line(args),
        n_threads=args.n_threads,
    )
    for path in paths:
        print(path)
    return 0
