"""Tests of the ``skadapt simulate`` command (through skadapt.cli.main)."""

import re
import sys

import numpy as np
import pytest

from skadapt._commands.simulate import preset_success_rates
from skadapt.cli import main
from skadapt.metrics import compute_savings


def success(lam, budgets):
    return float(np.mean(1 - (1 - lam) ** budgets))


def exact_oracle_success(lam, total, max_budget):
    """Optimum of Eq. 5 for best-of-b: the `total` largest geometric marginals (all > 0)."""
    delta = lam[:, None] * (1 - lam[:, None]) ** np.arange(max_budget)
    top = np.sort(delta.ravel())[::-1][:total]
    return float(top[top > 0].sum() / lam.size)


def parse_table(out):
    rows = {}
    for line in out.splitlines():
        fields = line.split()
        if fields and re.fullmatch(r"\d+(\.\d+)?", fields[0]) and len(fields) == 8:
            rows[float(fields[0])] = [np.nan if f == "n/a" else float(f.rstrip("%*")) for f in fields[1:]]
    return rows


def test_presets_are_deterministic_and_shaped_like_the_paper():
    math_lam = preset_success_rates("math", 1000)
    code_lam = preset_success_rates("code", 1000)
    assert math_lam.shape == code_lam.shape == (1000,)
    assert np.mean(math_lam == 0) == pytest.approx(0.05)
    assert np.mean(code_lam == 0) == pytest.approx(0.5)
    # flat: the nonzero Math rates are evenly spread over (0, 1)
    np.testing.assert_allclose(np.quantile(math_lam[math_lam > 0], [0.25, 0.5, 0.75]), [0.25, 0.5, 0.75], atol=0.01)
    assert np.median(code_lam[code_lam > 0]) < 0.3  # Code: mostly hard
    np.testing.assert_array_equal(preset_success_rates("code", 1000), code_lam)
    assert ((code_lam >= 0) & (code_lam <= 1)).all()


@pytest.mark.parametrize("preset", ["math", "code"])
def test_simulate_prints_exact_numbers(preset, capsys):
    pytest.importorskip("skadapt.allocation")
    assert main(["simulate", "--preset", preset, "--n-queries", "300", "--budgets", "1,2,8",
                 "--max-budget", "16"]) == 0
    out = capsys.readouterr().out
    rows = parse_table(out)
    assert sorted(rows) == [1.0, 2.0, 8.0]
    lam = preset_success_rates(preset, 300)
    ks = np.arange(17)
    uniform = np.array([success(lam, k) for k in ks])
    for budget, (uni, greedy, binned, g_budget, b_budget, g_saved, b_saved) in rows.items():
        assert uni == pytest.approx(uniform[int(budget)], abs=6e-4)
        assert greedy == pytest.approx(exact_oracle_success(lam, int(budget * 300), 16), abs=6e-4)
        # the binned oracle is a restricted allocation: between uniform and greedy
        assert uni - 6e-4 <= binned <= greedy + 6e-4
        assert g_budget <= budget + 5e-3 and b_budget <= budget + 5e-3
        expected_saved = compute_savings([g_budget], [greedy], ks, uniform).compute_saved[0]
        assert g_saved == pytest.approx(100 * expected_saved, abs=0.5)
        assert g_saved > 0  # the oracle beats uniform on these skewed distributions


def test_simulate_reads_success_rates_from_text_and_npy(tmp_path, capsys):
    pytest.importorskip("skadapt.allocation")
    lam = np.array([0.0, 0.0, 0.05, 0.2, 0.5, 0.9, 1.0, 0.3])
    text = tmp_path / "rates.txt"
    text.write_text("# one success rate per line\n" + "\n".join(map(str, lam)) + "\n")
    npy = tmp_path / "rates.npy"
    np.save(npy, lam)
    outputs = []
    for path in (text, npy):
        assert main(["simulate", "--success-rates", str(path), "--budgets", "1,4", "--max-budget", "8",
                     "--n-bins", "3"]) == 0
        outputs.append(parse_table(capsys.readouterr().out))
    assert outputs[0] == outputs[1]
    assert outputs[0][4.0][0] == pytest.approx(success(lam, 4), abs=6e-4)
    assert outputs[0][4.0][1] == pytest.approx(exact_oracle_success(lam, 32, 8), abs=6e-4)


def test_simulate_plot(tmp_path, capsys):
    pytest.importorskip("skadapt.allocation")
    pytest.importorskip("matplotlib")
    path = tmp_path / "curves.png"
    assert main(["simulate", "--n-queries", "100", "--budgets", "1,2", "--max-budget", "4",
                 "--plot", str(path)]) == 0
    assert path.stat().st_size > 1000
    assert f"plot saved to {path}" in capsys.readouterr().out


def test_simulate_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["simulate", "--n-queries", "50", "--budgets", "1", "--max-budget", "2",
                 "--plot", str(tmp_path / "x.png")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before computing anything
    assert re.fullmatch(r"skadapt simulate: error: argument --plot: needs matplotlib.*"
                        r"pip install.*\n", captured.err)


def test_simulate_plot_refuses_to_overwrite(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curves.png"
    path.write_bytes(b"an earlier plot")
    argv = ["simulate", "--n-queries", "50", "--budgets", "1", "--max-budget", "2",
            "--plot", str(path)]
    assert main(argv) == 2
    assert "argument --plot:" in capsys.readouterr().err
    assert path.read_bytes() == b"an earlier plot"
    assert main([*argv, "--overwrite"]) == 0
    assert path.stat().st_size > 1000


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--budgets", "1,x"], "argument --budgets: must be comma-separated numbers"),
        (["--budgets", "100"], r"argument --budgets: must lie in \(0, --max-budget=64\]"),
        (["--budgets", "0"], "argument --budgets: must be positive"),
        (["--budgets", "nan"], "argument --budgets: must be positive"),
        (["--max-budget", "0"], r"argument --max-budget: must be an integer in \[1, 1024\]"),
        (["--n-queries", "1"], r"argument --n-queries: must be an integer in \[2, 1000000\]"),
        (["--n-queries", "20000000"], r"argument --n-queries: must be an integer in"),
        (["--n-bins", "0"], "argument --n-bins: must be an integer >= 1"),
        (["--n-queries", "20", "--n-bins", "30"],
         r"argument --n-bins: must be at most the number of queries \(20\)"),
    ],
)
def test_simulate_rejects_bad_arguments(argv, match, capsys):
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.match("skadapt simulate: error: " + match, err)


def test_simulate_rejects_bad_success_rate_files(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("0.5\n1.5\n")
    words = tmp_path / "words.txt"
    words.write_text("easy\nhard\n")
    for path, match in [(bad, r"success rates in .*bad.txt must lie in \[0, 1\]"),
                        (tmp_path / "missing.txt", "could not read success rates"),
                        (words, "could not read success rates")]:
        assert main(["simulate", "--success-rates", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert re.match(r"skadapt simulate: error: argument --success-rates: .*" + match, err)
