"""The ``skadapt`` command line.

Each sub-command lives in its own module under :mod:`skadapt._commands` with two
functions: ``configure(parser)`` adds its arguments (cheap: no heavy imports) and
``main(args) -> int`` runs it. Register a new one in ``COMMANDS``.
"""

import argparse
import importlib
import sys

COMMANDS = {
    "simulate": ("skadapt._commands.simulate",
                 "expected success against budget for a difficulty distribution"),
    "collect": ("skadapt._commands.collect",
                "sample and verify LM answers; regenerate the shipped dataset"),
    "demo": ("skadapt._commands.demo",
             "the paper's result end to end on SmolLM2-135M-Instruct"),
}


def build_parser():
    from skadapt import __version__

    parser = argparse.ArgumentParser(
        prog="skadapt",
        description="Learning how hard to think: input-adaptive allocation of LM compute.",
    )
    parser.add_argument("--version", action="version", version=f"skadapt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # command not built yet
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.configure(sub_parser)
        sub_parser.set_defaults(_module=module)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(args._module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
