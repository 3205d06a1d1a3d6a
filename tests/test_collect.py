import json

import numpy as np

from skadapt.cli import main
from skadapt.datasets import load_arithmetic, load_diverse


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


def test_collect_parts_merge_into_a_single_run(tiny_llama_path, tmp_path):
    base = ["collect", "--tasks", "diverse", "--model", tiny_llama_path,
            "--n-queries", "7", "--n-samples", "2", "--max-new-tokens", "3",
            "--batch-size", "2", "--quiet"]
    whole, parted = tmp_path / "whole", tmp_path / "parted"
    assert main(base + ["--output", str(whole)]) == 0
    for part in ("1/2", "2/2"):
        assert main(base + ["--output", str(parted), "--part", part]) == 0
    assert not (parted / "diverse_smollm2.json.gz").exists()
    # the final run merges the parts and samples nothing new
    assert main(base + ["--output", str(parted)]) == 0
    a = load_diverse(path=whole, return_completions=True)
    b = load_diverse(path=parted, return_completions=True)
    np.testing.assert_array_equal(a.completions, b.completions)
    np.testing.assert_array_equal(a.ids, b.ids)
    assert sorted(set(a.template)) <= ["context", "instruction", "question", "words"]
    assert np.isfinite(a.mean_logprob).all() and (a.min_logprob <= a.mean_logprob).all()
    assert a.provenance["command"].startswith("skadapt collect --tasks diverse")
    lines = (parted / "checkpoint.jsonl").read_text().splitlines()
    assert len(lines) == 8  # header + 7 queries, none twice
    # merging again adds nothing
    assert main(base + ["--output", str(parted)]) == 0
    assert (parted / "checkpoint.jsonl").read_text().splitlines() == lines


def test_collect_rejects_a_bad_part(tmp_path, capsys):
    assert main(["collect", "--part", "3/2", "--output", str(tmp_path)]) == 2
    assert "--part must be I/N" in capsys.readouterr().err
