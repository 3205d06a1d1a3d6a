"""The ``skadapt`` command line.

Each sub-command lives in its own module under :mod:`skadapt._commands` with two
functions: ``configure(parser)`` adds its arguments (cheap: no heavy imports) and
``main(args) -> int`` runs it. Register a new one in ``COMMANDS``.

Conventions every command follows (and this module enforces):

- every argument is checked before any compute or model loading: single values
  by the ``type=`` functions below, relations between arguments and files by a
  validation step at the top of the command's ``main``, which raises
  :class:`UsageError` naming the argument;
- a bad argument, and any ``ValueError`` or ``OSError`` the run raises, ends the
  command with one line on stderr, ``skadapt <command>: error: <message>``, and
  exit status 2; another exception gives the same one line with its type and
  status 1; an interrupt gives status 130. ``skadapt --debug <command>`` (or
  ``skadapt <command> --debug``) re-raises instead, with the full traceback;
- progress is shown by default on long steps (``--quiet`` turns it off), while
  the library itself stays silent unless asked (``verbose``);
- an output folder is never overwritten silently (:func:`check_output_folder`).
"""

import argparse
import importlib
import os
import sys

COMMANDS = {
    "simulate": ("skadapt._commands.simulate",
                 "expected success against budget for a difficulty distribution"),
    "collect": ("skadapt._commands.collect",
                "sample and verify LM answers; regenerate the shipped dataset"),
    "demo": ("skadapt._commands.demo",
             "the paper's result end to end on SmolLM2-135M-Instruct"),
    "cache": ("skadapt._commands.cache", "show or clear the cache of converted models and features"),
}

# Exceptions that mean "the input was wrong" (a bad value, a missing or unreadable
# file, a folder that cannot be written): exit status 2, like a usage error.
_INPUT_ERRORS = (ValueError, OSError)


class UsageError(Exception):
    """A bad command-line argument, found after parsing (a relation between
    arguments, a file's content, an output folder).

    Printed as ``skadapt <command>: error: argument <name>: <message>`` with exit
    status 2. Raise it from a command's validation step, before any compute.

    Parameters
    ----------
    argument : str or None
        The offending option as the user types it (``"--budgets"``), or ``None``
        when the message names what is wrong itself.
    message : str
    """

    def __init__(self, argument, message):
        self.argument = argument
        self.message = message
        super().__init__(f"argument {argument}: {message}" if argument else message)


class _Parser(argparse.ArgumentParser):
    """``argparse`` with one-line errors: the message only, without the usage block
    (``skadapt <command> --help`` shows the usage)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")


def _one_line(text):
    return " ".join(str(text).split())


# -- type= functions: each names the problem; argparse adds "argument --name:" --

def _integer(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be an integer; got {text!r}") from None


def positive_int(text):
    """An integer >= 1 (``type=`` for argparse)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text!r}")
    return value


def nonnegative_int(text):
    """An integer >= 0 (``type=`` for argparse)."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {text!r}")
    return value


def bounded_int(low, high):
    """A ``type=`` function for integers in ``[low, high]``."""
    def check(text):
        value = _integer(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be an integer in [{low}, {high}]; got {text!r}")
        return value

    check.__name__ = f"integer in [{low}, {high}]"
    return check


def seed(text):
    """A random seed: an integer in [0, 2**31 - 1] (``type=`` for argparse)."""
    return bounded_int(0, 2**31 - 1)(text)


def check_output_folder(path, names, *, overwrite=False, argument="--output"):
    """Refuse an output folder that cannot be written or would lose files.

    Checked before any compute; nothing is created here. ``names`` are the file
    names the command may write into the folder; if any exists and
    ``overwrite`` is false, raise :class:`UsageError`.
    """
    path = os.fspath(path)
    if not path.strip():  # "" would mean the current folder, silently
        raise UsageError(argument, "is empty; name a folder")
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise UsageError(argument, f"{path} exists and is not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UsageError(argument, f"cannot write to {path}: permission denied")
        existing = sorted(name for name in names
                          if os.path.lexists(os.path.join(path, name)))
        if existing and not overwrite:
            shown = ", ".join(existing[:3]) + (", ..." if len(existing) > 3 else "")
            raise UsageError(
                argument, f"{path} already holds {len(existing)} file(s) this command "
                f"writes ({shown}); pass --overwrite to replace them, or choose another folder")
        return
    # the folder will be created: its nearest existing parent must be a writable folder
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(argument, f"cannot create {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(argument, f"cannot create {path}: {parent} is not writable")


def check_output_file(path, *, overwrite=False, argument):
    """Like :func:`check_output_folder` for one file the command writes."""
    path = os.fspath(path)
    if not path.strip():
        raise UsageError(argument, "is empty; name a file")
    if os.path.isdir(path):
        raise UsageError(argument, f"{path} is a folder")
    if os.path.exists(path) and not overwrite:
        raise UsageError(argument, f"{path} exists; pass --overwrite to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(argument, f"cannot write {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(argument, f"cannot write {path}: {folder} is not writable")


def build_parser():
    from skadapt import __version__

    parser = _Parser(
        prog="skadapt",
        description="Learning how hard to think: input-adaptive allocation of LM compute.",
        epilog="Run `skadapt COMMAND --help` for a command's arguments.",
    )
    parser.add_argument("--version", action="version", version=f"skadapt {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the full Python traceback instead of "
                             "one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.command_parsers = {}
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # command not built yet
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.configure(sub_parser)
        _add_debug(sub_parser)
        sub_parser.set_defaults(_module=module)
        parser.command_parsers[name] = sub_parser
    return parser


def _add_debug(parser):
    """``--debug`` after the command too (and after a command's own sub-command);
    SUPPRESS keeps a ``--debug`` given before it."""
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on an error, show the full Python traceback")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                _add_debug(child)


def main(argv=None):
    """Run ``skadapt`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # name the command they were given to, not just "skadapt"
            parser.command_parsers.get(args.command, parser).error(
                f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help and --version (0) or a usage error (2), printed
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    prog = f"skadapt {args.command}"
    try:
        return int(args._module.main(args) or 0)
    except UsageError as exc:
        if args.debug:
            raise
        return _fail(prog, exc, 2)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        if args.debug or not isinstance(exc.code, str):
            raise
        message = exc.code
        if message.startswith(prog + ":"):
            message = message[len(prog) + 1:]
        return _fail(prog, message, 2)
    except _INPUT_ERRORS as exc:
        if args.debug:
            raise
        return _fail(prog, exc, 2)
    except Exception as exc:  # a bug or a resource problem: say what, point to --debug
        if args.debug:
            raise
        detail = _one_line(exc) or "(no message)"
        return _fail(prog, f"{type(exc).__name__}: {detail} "
                           f"(run `skadapt --debug {args.command} ...` for the traceback)", 1)


def _fail(prog, message, code):
    print(f"{prog}: error: {_one_line(message)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    # `python -m skadapt.cli`: run the imported module's main, so that the commands'
    # `from skadapt.cli import UsageError` is the class main catches
    from skadapt.cli import main as _main

    sys.exit(_main())
