"""The command line's contract, for every command (``skadapt.cli``).

A wrong argument exits with status 2 and one line on stderr,
``skadapt <command>: error: <message naming the argument>``, with no traceback,
before any compute or model loading; ``--debug`` re-raises instead; ``--help``
works everywhere; progress is on by default; output folders are never
overwritten silently.
"""

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import skadapt._demo
import skadapt._lm
from skadapt import cli

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_model(monkeypatch):
    """Any attempt to featurize or load an LM fails the test loudly: every error
    below must be found before."""
    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr(skadapt._demo, "featurize", forbidden)
    monkeypatch.setattr(skadapt._lm, "load_lm", forbidden)


@pytest.fixture
def paths(tmp_path):
    """Files and folders the bad arguments point at."""
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    garbage = tmp_path / "garbage.json.gz"
    garbage.write_bytes(b"not gzip at all")
    bad_json = tmp_path / "bad_json.json.gz"
    with gzip.open(bad_json, "wt") as fh:
        fh.write("{ not json")
    earlier = tmp_path / "earlier_run"
    earlier.mkdir()
    (earlier / "report.md").write_text("an earlier report")
    return {"FILE": str(a_file), "GARBAGE": str(garbage), "BADJSON": str(bad_json),
            "EARLIER": str(earlier), "MISSING": str(tmp_path / "missing"),
            "TMP": str(tmp_path), "UNDER_FILE": str(a_file / "sub")}


# (command line, the argument the message must name)
BAD = [
    # simulate
    ("simulate --n-queries 20000000", "--n-queries"),
    ("simulate --n-queries 1", "--n-queries"),
    ("simulate --n-queries ten", "--n-queries"),
    ("simulate --budgets 0", "--budgets"),
    ("simulate --budgets -1", "--budgets"),
    ("simulate --budgets 1,,x", "--budgets"),
    ("simulate --budgets 65", "--budgets"),
    ("simulate --max-budget 0", "--max-budget"),
    ("simulate --max-budget 100000000", "--max-budget"),
    ("simulate --n-bins 0", "--n-bins"),
    ("simulate --preset nope", "--preset"),
    ("simulate --success-rates MISSING", "--success-rates"),
    ("simulate --success-rates FILE", "--success-rates"),
    ("simulate --plot UNDER_FILE/x.png", "--plot"),
    ("simulate --plot TMP", "--plot"),
    # demo
    ("demo --repeats -1", "--repeats"),
    ("demo --repeats x", "--repeats"),
    ("demo --budgets 0", "--budgets"),
    ("demo --budgets 4 -2", "--budgets"),
    ("demo --budgets 64", "--budgets"),
    ("demo --budgets", "--budgets"),
    ("demo --max-queries 0", "--max-queries"),
    ("demo --max-queries 10", "--max-queries"),
    ("demo --dataset diverse --max-queries 100", "--max-queries"),
    ("demo --routing-k 0", "--routing-k"),
    ("demo --routing-k 33", "--routing-k"),
    ("demo --seed -1", "--seed"),
    ("demo --probe svm", "--probe"),
    ("demo --dataset nope", "--dataset"),
    ("demo --data MISSING", "--data"),
    ("demo --data GARBAGE", "--data"),
    ("demo --data BADJSON", "--data"),
    ("demo --data TMP", "--data"),
    ("demo --output FILE", "--output"),
    ("demo --output UNDER_FILE", "--output"),
    ("demo --output EARLIER", "--output"),
    ("demo --extra-data nope", "--extra-data"),
    ("demo --extra-data broader --no-shift", "--extra-data"),
    # collect (validated before the model loads)
    ("collect --n-queries 0", "--n-queries"),
    ("collect --n-samples 0", "--n-samples"),
    ("collect --batch-size 0", "--batch-size"),
    ("collect --part 3/2", "--part"),
    ("collect --output FILE", "--output"),
]


def _argv(line, paths):
    argv = []
    for word in line.split():
        for key, value in paths.items():
            if word.startswith(key):
                word = value + word[len(key):]
                break
        argv.append(word)
    return argv


@pytest.mark.parametrize("line, argument", BAD, ids=[line for line, _ in BAD])
def test_a_bad_argument_gives_one_line_and_status_2(line, argument, paths, capsys):
    argv = _argv(line, paths)
    if argv[0] == "demo" and "--output" not in argv:
        argv += ["--output", os.path.join(paths["TMP"], "out")]
    if argv[0] == "collect" and "--output" not in argv:
        argv += ["--output", os.path.join(paths["TMP"], "collected")]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"skadapt {argv[0]}: error: argument {argument}"), lines[0]
    assert "Traceback" not in captured.err
    assert captured.out == ""  # nothing ran
    if argv[0] == "demo":
        assert not os.path.exists(os.path.join(paths["TMP"], "out"))


@pytest.mark.parametrize("argv, argument", [
    (["demo", "--output", ""], "--output"),  # not the current folder, silently
    (["demo", "--output", " "], "--output"),
    (["simulate", "--plot", ""], "--plot"),
    (["simulate", "--success-rates", "EMPTY"], "--success-rates"),
])
def test_empty_values(argv, argument, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    argv = [str(empty) if a == "EMPTY" else a for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"skadapt {argv[0]}: error: argument {argument}: ")


def test_the_earlier_run_is_left_as_it_was(paths, capsys):
    assert cli.main(["demo", "--output", paths["EARLIER"]]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert Path(paths["EARLIER"], "report.md").read_text() == "an earlier report"


@pytest.mark.parametrize("command", [None, *cli.build_parser().command_parsers])
def test_help_works_for_every_command(command, capsys):
    argv = ["--help"] if command is None else [command, "--help"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: skadapt" + ("" if command is None else f" {command}"))
    assert "--help" in out


@pytest.mark.parametrize("command", list(cli.build_parser().command_parsers))
def test_an_unknown_option_names_the_command(command, capsys):
    assert cli.main([command, "--no-such-option"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    # the unknown option, or first a required argument (`skadapt cache` wants ACTION)
    assert re.fullmatch(rf"skadapt {command}: error: (unrecognized arguments: "
                        rf"--no-such-option|the following arguments are required: .*)\n", err)


# -- errors raised during a run --------------------------------------------------

def _raise(exc):
    def run(*args, **kwargs):
        raise exc

    return run


@pytest.mark.parametrize("exc, status, message", [
    (ValueError("success_prob must be finite\n(got nan)"), 2,
     "skadapt simulate: error: success_prob must be finite (got nan)"),
    (FileNotFoundError(2, "No such file or directory", "x.npy"), 2,
     "skadapt simulate: error: [Errno 2] No such file or directory: 'x.npy'"),
    (PermissionError(13, "Permission denied", "out"), 2,
     "skadapt simulate: error: [Errno 13] Permission denied: 'out'"),
    (RuntimeError("boom"), 1, "skadapt simulate: error: RuntimeError: boom (run "
                              "`skadapt --debug simulate ...` for the traceback)"),
    (MemoryError(), 1, "skadapt simulate: error: MemoryError: (no message) (run "
                       "`skadapt --debug simulate ...` for the traceback)"),
    (KeyboardInterrupt(), 130, "skadapt simulate: interrupted"),
])
def test_a_library_error_during_the_run_is_one_line(exc, status, message, monkeypatch,
                                                      capsys):
    from skadapt._commands import simulate

    monkeypatch.setattr(simulate, "simulate", _raise(exc))
    assert cli.main(["simulate", "--n-queries", "10", "--n-bins", "2"]) == status
    assert capsys.readouterr().err == message + "\n"


@pytest.mark.parametrize("argv", [
    ["--debug", "simulate", "--n-queries", "10", "--n-bins", "2"],
    ["simulate", "--n-queries", "10", "--n-bins", "2", "--debug"],
])
def test_debug_reraises_library_errors(argv, monkeypatch):
    from skadapt._commands import simulate

    monkeypatch.setattr(simulate, "simulate", _raise(ValueError("boom")))
    with pytest.raises(ValueError, match="boom"):
        cli.main(argv)


def test_debug_reraises_usage_errors():
    with pytest.raises(cli.UsageError, match="argument --budgets"):
        cli.main(["--debug", "simulate", "--budgets", "100"])


@pytest.mark.parametrize("argv, err", [
    (["demo", "--repeats", "-1"],
     "skadapt demo: error: argument --repeats: must be an integer >= 0; got '-1'\n"),
    (["simulate", "--n-queries", "20000000"],
     "skadapt simulate: error: argument --n-queries: must be an integer in [2, 1000000]; "
     "got '20000000'\n"),
    (["simulate", "--budgets", "100"],
     "skadapt simulate: error: argument --budgets: must lie in (0, --max-budget=64]; "
     "got 100\n"),
])
def test_the_installed_entry_point(argv, err):
    """As a user's shell sees it: exit status and the exact stderr."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "skadapt.cli", *argv], env=env,
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, err, "")


# -- progress and output folders ----------------------------------------------------

def test_demo_shows_progress_by_default_and_never_overwrites(tmp_path, monkeypatch,
                                                             capsys):
    """The demo end to end on stand-in features (no model): progress lines on stderr
    by default and the featurizer's bars on, none with --quiet; a second run into
    the same folder is refused until --overwrite."""
    seen = []

    def fake_featurize(queries, **kwargs):
        seen.append(kwargs.get("verbose"))
        return np.random.default_rng(0).normal(size=(len(queries), 8)).astype(np.float32)

    monkeypatch.setattr(skadapt._demo, "featurize", fake_featurize)
    monkeypatch.setattr(skadapt._lm, "smollm2_location", lambda: ("folder", "file"))
    out = tmp_path / "out"
    argv = ["demo", "--max-queries", "40", "--budgets", "1", "2", "--repeats", "0",
            "--no-shift", "--no-feedback", "--no-plots", "--output", str(out)]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert "[skadapt demo] featurizing 40 queries" in captured.err
    assert "[skadapt demo] best-of-k: cross-fitting" in captured.err
    assert "### Best-of-k" in captured.out
    assert seen == [1]
    report = (out / "report.md").read_text()

    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("skadapt demo: error: argument --output: ")
    assert "best_of_k.csv" in err and "--overwrite" in err
    assert (out / "report.md").read_text() == report

    assert cli.main([*argv, "--overwrite", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert seen == [1, 0]


@pytest.mark.parametrize("argv, expected", [
    (["--dataset", "diverse"], "broader"),  # auto: the diverse tables get the extras
    (["--dataset", "diverse", "--extra-data", "none"], None),
    (["--dataset", "diverse", "--no-shift"], None),  # auto, no shift tables: nothing
    ([], None),  # auto, arithmetic: nothing
    (["--extra-data", "broader"], "broader"),
])
def test_extra_data_auto_adds_the_broader_families_to_the_diverse_tables_only(
        argv, expected, tmp_path, monkeypatch):
    from skadapt._commands import demo

    monkeypatch.setattr(skadapt._lm, "smollm2_location", lambda: ("folder", "file"))
    args = cli.build_parser().parse_args(["demo", "--output", str(tmp_path / "out"),
                                          *argv])
    data, extra = demo._validate(args)
    assert (None if extra is None else extra.name) == expected
    if extra is not None:
        assert len(extra.queries) == 1600 and not set(extra.family) & set(data.family)


def test_max_queries_shrinks_the_extra_data_in_proportion(tmp_path, monkeypatch):
    from skadapt._commands import demo

    monkeypatch.setattr(skadapt._lm, "smollm2_location", lambda: ("folder", "file"))
    args = cli.build_parser().parse_args(["demo", "--dataset", "diverse", "--max-queries",
                                          "400", "--output", str(tmp_path / "out")])
    data, extra = demo._validate(args)
    assert len(data.queries) == 400
    # 1,600 * 400 / 4,000, stratified: every one of the 23 families is kept
    assert len(extra.queries) == 160 and len(set(extra.family)) == 23
    assert extra.outcomes.shape == (160, 32) and len(extra.template) == 160
    broader = skadapt._demo.load_extra_data("broader", data)
    rows = [list(broader.queries).index(q) for q in extra.queries]
    np.testing.assert_array_equal(extra.outcomes, broader.outcomes[rows])
    np.testing.assert_array_equal(extra.family, broader.family[rows])


def test_extra_data_auto_says_why_it_adds_nothing_to_data_it_does_not_fit(
        tmp_path, monkeypatch, capsys):
    from skadapt._commands import demo

    monkeypatch.setattr(skadapt._lm, "smollm2_location", lambda: ("folder", "file"))
    args = cli.build_parser().parse_args(["demo", "--dataset", "diverse",
                                          "--output", str(tmp_path / "out")])
    data = skadapt._demo.load_demo_data(dataset="diverse")
    data = skadapt._demo.DemoData(**{**data.__dict__, "outcomes": data.outcomes[:, :16]})
    assert demo._extra_data(args, data) is None
    err = capsys.readouterr().err
    assert err == ("[skadapt demo] --extra-data auto: not adding the broader data: the "
                   "extra data has 32 samples per query and the dataset 16; they must "
                   "match\n")
    args.extra_data = "broader"
    with pytest.raises(cli.UsageError, match="32 samples per query"):
        demo._extra_data(args, data)
