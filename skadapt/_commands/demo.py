"""``skadapt demo``: the paper's result on SmolLM2-135M-Instruct, end to end."""

import argparse
import sys

from skadapt.cli import nonnegative_int, positive_int, seed


def configure(parser):
    parser.add_argument("--probe", choices=["mlp", "lora"], default="mlp",
                        help="best-of-k probe: MLP on hidden states (default) or a LoRA "
                             "fine-tune of the LM (slow on CPU); the routing, graded-reward "
                             "and re-split parts always use the MLP")
    parser.add_argument("--budgets", type=positive_int, nargs="+", default=[1, 2, 4, 8, 16],
                        metavar="B", help="average budgets per query, each from 1 to the "
                                          "dataset's samples per query (default: 1 2 4 8 16)")
    parser.add_argument("--output", default="skadapt_output",
                        help="folder for tables and plots (default: ./skadapt_output); "
                             "refused if it holds files of an earlier run, unless --overwrite")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the files of an earlier run in --output")
    parser.add_argument("--routing-k", type=positive_int, default=5,
                        help="samples in the strong decoder's majority vote, at most the "
                             "dataset's samples per query (default: 5)")
    parser.add_argument("--repeats", type=nonnegative_int, default=3,
                        help="random re-splits to repeat the comparison on; 0 skips them "
                             "(default: 3)")
    parser.add_argument("--max-queries", type=positive_int, default=None,
                        help="use a family-stratified subset of this many queries (at least "
                             "40 for 'arithmetic', 125 for 'diverse'); the extra training "
                             "data of --extra-data shrinks in the same proportion")
    parser.add_argument("--dataset", choices=["arithmetic", "diverse"],
                        default="arithmetic",
                        help="shipped dataset: 'arithmetic' (2,000 queries, 6 task "
                             "families; the README's first table) or 'diverse' (4,000 "
                             "queries, 25 families x 4 phrasings, with leave-phrasing-out) "
                             "(default: %(default)s)")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="a dataset written by `skadapt collect` (the --dataset kind; "
                             "default: the shipped copy)")
    parser.add_argument("--extra-data", choices=["auto", "none", "broader"], default="auto",
                        help="extra training queries for the shift tables, never scored: "
                             "'broader' adds the shipped dataset of 23 other task families "
                             "(skadapt.datasets.load_broader) to every fold's training "
                             "rows; 'auto' adds it to the diverse dataset's tables, which "
                             "share its four phrasings, and nothing to the arithmetic "
                             "dataset's (default: %(default)s)")
    parser.add_argument("--no-shift", action="store_true",
                        help="skip the leave-group-out tables")
    parser.add_argument("--no-feedback", action="store_true",
                        help="skip the comparison of policies with feedback")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--seed", type=seed, default=0,
                        help="random seed, from 0 to 2**31 - 1 (default: 0)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress lines or bars on stderr (shown by default)")
    # kept so that earlier command lines still run: progress is now on by default
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help=argparse.SUPPRESS)


def _validate(args):
    """Check every argument before any compute or model loading; return the data.

    Loading the dataset is part of the check (it takes a second): the limits on
    --budgets, --routing-k and --max-queries depend on it.
    """
    import importlib.util

    from skadapt._demo import OUTPUT_FILES, load_demo_data, min_queries
    from skadapt.cli import UsageError, check_output_folder

    check_output_folder(args.output, OUTPUT_FILES, overwrite=args.overwrite)
    if not args.no_plots and importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--no-plots", "the plots need matplotlib, which is not installed: "
                                       "pip install matplotlib, or pass --no-plots")
    if args.probe == "lora" and importlib.util.find_spec("peft") is None:
        raise UsageError("--probe", "'lora' needs peft, which is not installed: "
                                    "pip install peft")
    if args.data is not None:
        import os

        if not os.path.exists(args.data):
            raise UsageError("--data", f"{args.data} does not exist")
    try:
        data = load_demo_data(args.data, random_state=args.seed, dataset=args.dataset)
    except Exception as exc:  # a missing, truncated or foreign file: say which argument
        if args.data is None:
            raise
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise UsageError("--data", f"could not read --dataset {args.dataset} data from "
                                   f"{args.data}: {detail}") from exc
    n_queries, n_samples = data.outcomes.shape
    families = len(set(data.family))
    least = min_queries(families)
    if n_queries < least:
        raise UsageError("--data", f"{args.data} holds {n_queries} queries; the demo "
                                   f"needs at least {least} ({families} task families)")
    if args.max_queries is not None and args.max_queries < least:
        raise UsageError("--max-queries", f"must be at least {least} for the "
                                          f"{args.dataset!r} dataset ({families} task "
                                          f"families); got {args.max_queries}")
    if min(data.is_train.sum(), (~data.is_train).sum()) == 0:
        raise UsageError("--data", f"{args.data} has no test or no training queries")
    too_big = [b for b in args.budgets if b > n_samples]
    if too_big:
        raise UsageError("--budgets", f"must be at most the {n_samples} samples per query "
                                      f"of the dataset; got {too_big[0]}")
    if args.routing_k > n_samples:
        raise UsageError("--routing-k", f"must be at most the {n_samples} samples per "
                                        f"query of the dataset; got {args.routing_k}")
    if args.max_queries is not None and args.max_queries < n_queries:
        data = load_demo_data(args.data, max_queries=args.max_queries,
                              random_state=args.seed, dataset=args.dataset)
    extra = _extra_data(args, data)
    if extra is not None and len(data.queries) < n_queries:
        # --max-queries: the extra training data shrinks in the same proportion
        from skadapt._demo import stratified_subset

        size = max(len(set(extra.family)),
                   round(len(extra.queries) * len(data.queries) / n_queries))
        extra = stratified_subset(extra, size, random_state=args.seed)
    from skadapt._lm import smollm2_location

    smollm2_location()  # the model is installed (a FileNotFoundError saying how if not)
    return data, extra


def _extra_data(args, data):
    """The extra training data --extra-data asks for (None for none).

    'auto' is 'broader' for the diverse dataset when the shift tables run (the broader
    families were collected in the diverse dataset's four phrasings, as its broader
    supervision) and 'none' otherwise; where the broader data does not fit a --data
    file (another sample count, shared families), 'auto' says so and adds nothing.
    """
    from skadapt._demo import load_extra_data
    from skadapt.cli import UsageError

    choice = args.extra_data
    if choice == "auto":
        choice = "broader" if args.dataset == "diverse" and not args.no_shift else "none"
        if choice == "none":
            return None
        try:
            return load_extra_data(choice, data)
        except ValueError as exc:
            if not args.quiet:
                print(f"[skadapt demo] --extra-data auto: not adding the broader data: "
                      f"{exc}", file=sys.stderr, flush=True)
            return None
    if choice == "none":
        return None
    if args.no_shift:
        raise UsageError("--extra-data", "only changes the shift tables, which "
                                         "--no-shift skips; drop one of the two")
    try:
        return load_extra_data(choice, data)
    except ValueError as exc:
        raise UsageError("--extra-data", f"{choice}: {exc}") from None


def main(args):
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    data, extra = _validate(args)
    from skadapt._demo import format_report, run_demo

    def progress(line):
        print(f"[skadapt demo] {line}", file=sys.stderr, flush=True)

    result = run_demo(
        probe=args.probe, budgets=tuple(sorted(set(args.budgets))),
        routing_k=args.routing_k, n_repeats=args.repeats, random_state=args.seed,
        data=data, shift=not args.no_shift, feedback=not args.no_feedback,
        output_dir=args.output, plots=not args.no_plots,
        log=(lambda line: None) if args.quiet else progress,
        verbose=0 if args.quiet else 1, extra_data=extra,
    )
    print()
    print(format_report(result))
    print(f"Wrote {len(result.files)} files to {os.path.abspath(args.output)}:")
    for path in result.files:
        print(f"  {path}")
    return 0
