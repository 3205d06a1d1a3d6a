import json
import os
import shutil

import numpy as np
import pytest

from skadapt.cli import main
from skadapt.datasets import load_arithmetic, load_broader, load_diverse


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
    # a folder: the content hash of its weight, config and tokenizer files
    from skadapt._lm import model_fingerprint

    assert data.provenance["model_sha256"] == model_fingerprint(tiny_llama_path)["sha256"]
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


@pytest.mark.parametrize("argv, message", [
    (["--n-queries", "0"], "argument --n-queries: must be an integer in [1, "),
    (["--n-samples", "0"], "argument --n-samples: must be an integer in [1, "),
    (["--n-samples", str(10**20)], "argument --n-samples: must be an integer in [1, "),
    (["--max-new-tokens", "-1"], "argument --max-new-tokens"),
    (["--temperature", "nan"], "argument --temperature: must be a number in [0.0"),
    (["--top-p", "0"], "argument --top-p: must be a number in (0.0, 1.0]"),
    (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1"),
])
def test_collect_command_rejects_bad_numbers(tmp_path, capsys, argv, message):
    assert main(["collect", "--output", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def _refuse_model_load(monkeypatch):
    import skadapt._lm

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the check")

    monkeypatch.setattr(skadapt._lm, "load_lm", refuse)


def test_collect_checks_output_and_checkpoint_before_loading(tiny_llama_path, tmp_path,
                                                             capsys, monkeypatch):
    base = ["collect", "--model", tiny_llama_path, "--n-queries", "3", "--n-samples",
            "2", "--max-new-tokens", "2", "--batch-size", "1", "--quiet"]
    out = tmp_path / "run"
    assert main(base + ["--output", str(out)]) == 0
    capsys.readouterr()
    ckpt = out / "checkpoint.jsonl"
    lines = ckpt.read_text().splitlines(keepends=True)
    ckpt.write_text(lines[0] + "garbage\n" + "".join(lines[1:]))
    _refuse_model_load(monkeypatch)
    assert main(base + ["--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"checkpoint {ckpt}, line 2: not a JSON record" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err

    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(base + ["--output", str(blocker)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert main(base + ["--output", str(blocker / "sub")]) == 2
    assert "--output" in capsys.readouterr().err
    assert main(base + ["--output", str(tmp_path / "new"), "--model",
                        str(tmp_path / "missing-model")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_collect_refuses_a_changed_model_folder(tiny_llama_path, tmp_path, capsys,
                                                monkeypatch):
    monkeypatch.setenv("SKADAPT_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_path, folder)
    argv = ["collect", "--model", str(folder), "--n-queries", "2", "--n-samples", "2",
            "--max-new-tokens", "2", "--output", str(tmp_path / "run"), "--quiet"]
    assert main(argv) == 0
    ckpt = (tmp_path / "run" / "checkpoint.jsonl").read_text()
    weights = folder / "model.safetensors"
    st = os.stat(weights)
    with open(weights, "r+b") as fh:
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 1]))
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
    _refuse_model_load(monkeypatch)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "model weights" in err and "model.safetensors changed" in err
    assert (tmp_path / "run" / "checkpoint.jsonl").read_text() == ckpt


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


def test_collect_broader_tasks(tiny_llama_path, tmp_path):
    from skadapt.datasets import BROADER_FAMILIES, make_broader_tasks

    out = tmp_path / "broader"
    assert main(["collect", "--tasks", "broader", "--model", tiny_llama_path,
                 "--n-queries", "6", "--n-samples", "2", "--max-new-tokens", "3",
                 "--batch-size", "3", "--seed", "4", "--output", str(out),
                 "--quiet"]) == 0
    assert (out / "broader_smollm2.json.gz").is_file()
    data = load_broader(path=out, as_frame=True)
    assert data.outcomes.shape == (6, 2)
    np.testing.assert_array_equal(
        data.queries, make_broader_tasks(6, random_state=4)["query"].to_numpy())
    assert set(data.family) <= set(BROADER_FAMILIES)
    assert data.provenance["command"].startswith("skadapt collect --tasks broader")
    assert "make_broader_tasks" in data.provenance["description"]
    assert data.provenance["task_seed"] == 4


def test_collect_rejects_a_bad_part(tmp_path, capsys):
    assert main(["collect", "--part", "3/2", "--output", str(tmp_path)]) == 2
    assert "argument --part: must be I/N" in capsys.readouterr().err


def test_collect_refuses_a_part_of_another_run(tiny_llama_path, tmp_path, capsys):
    base = ["collect", "--model", tiny_llama_path, "--n-queries", "4", "--n-samples",
            "2", "--max-new-tokens", "2", "--batch-size", "2", "--quiet",
            "--output", str(tmp_path)]
    assert main(base + ["--part", "1/2", "--temperature", "0.9"]) == 0
    capsys.readouterr()
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "checkpoint.part1of2.jsonl was written by another run" in err
    assert "temperature: checkpoint 0.9 vs now 0.7" in err
    assert not (tmp_path / "checkpoint.jsonl").exists()  # nothing merged
