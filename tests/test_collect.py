import json

import numpy as np

from skadapt.cli import main
from skadapt.datasets import load_arithmetic


def test_collect_command_writes_and_resumes(tiny_llama_path, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["collect", "--model", tiny_llama_path, "--n-queries", "5",
            "--n-samples", "3", "--max-new-tokens", "3", "--batch-size", "2",
            "--output", str(out), "--quiet"]
    assert main(argv) == 0
    data = load_arithmetic(path=out, as_frame=True, return_completions=True)
    assert data.outcomes.shape == (5, 3) and data.answers.shape == (5, 3)
    assert list(data.ids) == [f"q{i:05d}" for i in range(5)]
    assert data.provenance["sampling"]["n_samples"] == 3
    assert data.provenance["model_sha256"] is None  # a folder, not a GGUF file
    assert data.provenance["command"].startswith("skadapt collect")
    lines = (out / "checkpoint.jsonl").read_text().splitlines()
    assert len(lines) == 6
    # a second run reads the checkpoint: same data, nothing appended
    assert main(argv) == 0
    assert (out / "checkpoint.jsonl").read_text().splitlines() == lines
    again = load_arithmetic(path=out, return_completions=True)
    np.testing.assert_array_equal(again.completions, data.completions)
    header = json.loads(lines[0])["config"]
    assert header["n_queries"] == 5 and header["stop_strings"] == ["\n"]


def test_collect_command_rejects_bad_counts(tmp_path, capsys):
    assert main(["collect", "--n-queries", "0", "--output", str(tmp_path)]) == 2
    assert "--n-queries must be >= 1" in capsys.readouterr().err
    assert main(["collect", "--n-samples", "0", "--output", str(tmp_path)]) == 2
    assert "--n-samples must be >= 1" in capsys.readouterr().err
