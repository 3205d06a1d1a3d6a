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


def test_simulate_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    pytest.importorskip("skadapt.allocation")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SystemExit, match=r"needs matplotlib.*pip install"):
        main(["simulate", "--n-queries", "50", "--budgets", "1", "--max-budget", "2",
              "--plot", str(tmp_path / "x.png")])


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--budgets", "1,x"], "--budgets must be comma-separated numbers"),
        (["--budgets", "100"], r"--budgets must lie in \(0, --max-budget=64\]"),
        (["--budgets", "0"], "--budgets must lie in"),
        (["--max-budget", "0"], "--max-budget must be >= 1"),
        (["--n-queries", "1"], "--n-queries must be at least 2"),
        (["--n-bins", "0"], "--n-bins must be >= 1"),
    ],
)
def test_simulate_rejects_bad_arguments(argv, match):
    with pytest.raises(SystemExit, match=match):
        main(["simulate", *argv])


def test_simulate_rejects_bad_success_rate_files(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("0.5\n1.5\n")
    with pytest.raises(SystemExit, match=r"success rates in .*bad.txt must lie in \[0, 1\]"):
        main(["simulate", "--success-rates", str(bad)])
    with pytest.raises(SystemExit, match="could not read success rates"):
        main(["simulate", "--success-rates", str(tmp_path / "missing.txt")])
    words = tmp_path / "words.txt"
    words.write_text("easy\nhard\n")
    with pytest.raises(SystemExit, match="could not read success rates"):
        main(["simulate", "--success-rates", str(words)])
