"""``skadapt demo``: the paper's result on SmolLM2-135M-Instruct, end to end."""


def configure(parser):
    parser.add_argument("--probe", choices=["mlp", "lora"], default="mlp",
                        help="best-of-k probe: MLP on hidden states (default) or a LoRA "
                             "fine-tune of the LM (slow on CPU); the routing, graded-reward "
                             "and re-split parts always use the MLP")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4, 8, 16],
                        metavar="B", help="average budgets per query (default: 1 2 4 8 16)")
    parser.add_argument("--output", default="skadapt_output",
                        help="folder for tables and plots (default: ./skadapt_output)")
    parser.add_argument("--routing-k", type=int, default=5,
                        help="samples in the strong decoder's majority vote (default: 5)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="random re-splits to repeat the comparison on (default: 3)")
    parser.add_argument("--max-queries", type=int, default=None,
                        help="use a family-stratified subset of this many queries")
    parser.add_argument("--dataset", choices=["arithmetic", "diverse"],
                        default="arithmetic",
                        help="shipped dataset: 'arithmetic' (2,000 queries, 6 task "
                             "families; the README's first table) or 'diverse' (4,000 "
                             "queries, 25 families x 4 phrasings, with leave-phrasing-out) "
                             "(default: %(default)s)")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="a dataset written by `skadapt collect` (the --dataset kind; "
                             "default: the shipped copy)")
    parser.add_argument("--no-shift", action="store_true",
                        help="skip the leave-group-out tables")
    parser.add_argument("--no-feedback", action="store_true",
                        help="skip the comparison of policies with feedback")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("-v", "--verbose", action="count", default=0)


def main(args):
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from skadapt._demo import format_report, run_demo

    if args.routing_k < 1:
        raise SystemExit("--routing-k must be >= 1")
    result = run_demo(
        probe=args.probe, budgets=tuple(args.budgets), routing_k=args.routing_k,
        n_repeats=args.repeats, max_queries=args.max_queries,
        random_state=args.seed, data_path=args.data, dataset=args.dataset,
        shift=not args.no_shift, feedback=not args.no_feedback,
        output_dir=args.output, plots=not args.no_plots,
        verbose=args.verbose,
    )
    print()
    print(format_report(result))
    print(f"Wrote {len(result.files)} files to {os.path.abspath(args.output)}:")
    for path in result.files:
        print(f"  {path}")
    return 0
