import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from skadapt._lm import format_prompt, load_lm
from skadapt.sampling import generate_shared, query_seed, sample_and_score
from skadapt.verifiers import exact_numeric

PROMPTS = ["What is 2 + 2?", "Which is larger, 31 or 4? Think.", "Hi"]


def _prompts(tok, queries=PROMPTS):
    return [format_prompt(tok, q, "chat") for q in queries]


@pytest.fixture(params=["llama", "gpt2"])
def tiny(request, tiny_llama_path, tiny_gpt2_path):
    path = tiny_llama_path if request.param == "llama" else tiny_gpt2_path
    return load_lm(path)


def test_greedy_matches_generate(tiny):
    """Left padding, position ids and the repeated cache give HF's greedy output."""
    import torch

    model, tok = tiny
    prompts = _prompts(tok)
    tokens, finished = generate_shared(model, tok, prompts, 3, temperature=0,
                                       max_new_tokens=12)
    for prompt, got in zip(prompts, tokens):
        enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            ref = model.generate(**enc, do_sample=False, max_new_tokens=12,
                                 pad_token_id=tok.pad_token_id)
        ref = ref[0, enc["input_ids"].shape[1]:].tolist()
        if tok.eos_token_id in ref:
            ref = ref[:ref.index(tok.eos_token_id)]
        assert got[0] == got[1] == got[2] == ref
    assert finished.shape == (3, 3)


def test_first_token_distribution(tiny_llama_path):
    """Sampled first tokens follow softmax(logits / T) restricted to the nucleus."""
    import torch

    model, tok = load_lm(tiny_llama_path)
    prompt = _prompts(tok, ["count"])[0]
    enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        logits = model(**enc).logits[0, -1].double()
    for temperature, top_p in [(0.7, 1.0), (1.5, 0.5)]:
        n = 4000
        tokens, _ = generate_shared(model, tok, [prompt], n,
                                    temperature=temperature, top_p=top_p,
                                    max_new_tokens=1, seeds=[1])
        probs = torch.softmax(logits / temperature, -1).numpy()
        if top_p < 1:
            order = np.argsort(-probs)
            before = np.cumsum(probs[order]) - probs[order]
            keep = order[before < top_p]
            mask = np.zeros_like(probs, dtype=bool)
            mask[keep] = True
            probs = np.where(mask, probs, 0) / probs[mask].sum()
        first = [t[0] if t else tok.eos_token_id for t in tokens[0]]
        counts = np.bincount(first, minlength=len(probs)) / n
        assert np.all(counts[probs == 0] == 0)
        tv = 0.5 * np.abs(counts - probs).sum()
        assert tv < 0.08, tv


def test_seeds_reproduce_and_differ(tiny_llama_path):
    model, tok = load_lm(tiny_llama_path)
    prompts = _prompts(tok)
    a, _ = generate_shared(model, tok, prompts, 4, max_new_tokens=8, seeds=[1, 2, 3])
    b, _ = generate_shared(model, tok, prompts, 4, max_new_tokens=8, seeds=[1, 2, 3])
    c, _ = generate_shared(model, tok, prompts, 4, max_new_tokens=8, seeds=[9, 8, 7])
    assert a == b
    assert a != c


def test_stop_strings(tiny_llama_path):
    model, tok = load_lm(tiny_llama_path)
    prompts = _prompts(tok)
    free, _ = generate_shared(model, tok, prompts, 8, max_new_tokens=16,
                              temperature=1.5, seeds=[0, 1, 2])
    letters = sorted({tok.decode([t]) for row in free for s in row for t in s
                      if tok.decode([t]).isalpha()})
    assert letters, "the tiny model should emit some letters"
    stop = letters[:3]
    cut, finished = generate_shared(model, tok, prompts, 8, max_new_tokens=16,
                                    temperature=1.5, seeds=[0, 1, 2],
                                    stop_strings=stop)
    texts = [tok.decode(s) for row in cut for s in row]
    assert not any(ch in text for text in texts for ch in stop)
    # a sample shorter than max_new_tokens was stopped (EOS or a stop string)
    lengths = np.array([[len(s) for s in row] for row in cut])
    assert np.all(finished[lengths < 16])
    assert finished.sum() > 0


def test_bad_input(tiny_llama_path):
    model, tok = load_lm(tiny_llama_path)
    with pytest.raises(ValueError, match="queries is empty"):
        sample_and_score(model, [], [], exact_numeric, 2, tokenizer=tok)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        sample_and_score(model, ["a"], [1], exact_numeric, 0, tokenizer=tok)
    with pytest.raises(ValueError, match="references"):
        sample_and_score(model, ["a", "b"], [1], exact_numeric, 2, tokenizer=tok)
    with pytest.raises(ValueError, match="temperature"):
        sample_and_score(model, ["a"], [1], exact_numeric, 2, tokenizer=tok,
                         temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        sample_and_score(model, ["a"], [1], exact_numeric, 2, tokenizer=tok,
                         top_p=0)
    with pytest.raises(ValueError, match="ids must be unique"):
        sample_and_score(model, ["a", "b"], [1, 2], exact_numeric, 2, tokenizer=tok,
                         ids=[1, 1])
    with pytest.raises(ValueError, match="pass tokenizer="):
        sample_and_score(model, ["a"], [1], exact_numeric, 2)
    with pytest.raises(TypeError, match="verifier must be callable"):
        sample_and_score(model, ["a"], [1], "exact", 2, tokenizer=tok)
    with pytest.raises(ValueError, match="prompts is empty"):
        generate_shared(model, tok, [], 2)


def test_raising_verifier_is_recorded(tiny_llama_path):
    model, tok = load_lm(tiny_llama_path)
    calls = []

    def verifier(completion, reference):
        calls.append(completion)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return 1.0

    res = sample_and_score(model, ["q1", "q2"], [1, 2], verifier, 4, tokenizer=tok,
                           max_new_tokens=4)
    assert res.rewards.shape == (2, 4)
    assert np.isnan(res.rewards[0, 2])
    assert np.nansum(res.rewards) == 7
    assert res.errors[0][2] == "RuntimeError: boom"
    assert sum(e is not None for row in res.errors for e in row) == 1


class _Interrupting:
    """Verifier that raises KeyboardInterrupt once it has scored `limit` samples."""

    def __init__(self, limit=None):
        self.limit = limit
        self.calls = 0

    def __call__(self, completion, reference):
        self.calls += 1
        if self.limit is not None and self.calls > self.limit:
            raise KeyboardInterrupt
        return float(len(completion) % 2)


def _lines(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh]


def test_resume_after_interruption(tiny_llama_path, tmp_path):
    model, tok = load_lm(tiny_llama_path)
    queries = [f"query {i}" for i in range(7)]
    refs = list(range(7))
    # an object without get_params() has no identity of its own: name it
    kw = {"tokenizer": tok, "max_new_tokens": 6, "batch_size": 2, "random_state": 3,
          "verifier_id": "length parity"}
    full = sample_and_score(model, queries, refs, _Interrupting(), 3, **kw)

    ckpt = tmp_path / "ckpt.jsonl"
    # interrupted while scoring the third batch: two batches (4 queries) saved
    with pytest.raises(KeyboardInterrupt):
        sample_and_score(model, queries, refs, _Interrupting(limit=13), 3,
                         checkpoint=ckpt, **kw)
    saved = _lines(ckpt)
    assert saved[0]["type"] == "header"
    assert [r["id"] for r in saved[1:]] == [0, 1, 2, 3]

    verifier = _Interrupting()
    resumed = sample_and_score(model, queries, refs, verifier, 3, checkpoint=ckpt,
                               **kw)
    assert verifier.calls == 3 * 3  # only the 3 unfinished queries were sampled
    ids = [r["id"] for r in _lines(ckpt)[1:]]
    assert sorted(ids) == list(range(7)) and len(ids) == 7
    assert resumed.completions == full.completions
    np.testing.assert_array_equal(resumed.rewards, full.rewards)
    # a finished run is read back without sampling
    again = _Interrupting(limit=0)
    res = sample_and_score(model, queries, refs, again, 3, checkpoint=ckpt, **kw)
    assert again.calls == 0 and res.completions == full.completions


def test_checkpoint_torn_line_and_duplicates(tiny_llama_path, tmp_path):
    model, tok = load_lm(tiny_llama_path)
    queries, refs = ["a", "b", "c"], [1, 2, 3]
    kw = {"tokenizer": tok, "max_new_tokens": 4, "batch_size": 1}
    ckpt = tmp_path / "ckpt.jsonl"
    first = sample_and_score(model, queries, refs, exact_numeric, 2, checkpoint=ckpt,
                             **kw)
    lines = ckpt.read_text().splitlines(keepends=True)
    # a duplicated record and a torn last line, as after a crash mid-write
    with open(ckpt, "w") as fh:
        fh.writelines(lines[:2] + lines[1:2] + [lines[2][:25]])
    res = sample_and_score(model, queries, refs, exact_numeric, 2, checkpoint=ckpt,
                           **kw)
    assert res.completions == first.completions
    records = _lines(ckpt)[1:]
    assert sorted(r["id"] for r in records) == [0, 0, 1, 2]  # old duplicate kept once on read
    assert len(res.ids) == 3


def test_checkpoint_refuses_other_settings(tiny_llama_path, tmp_path):
    model, tok = load_lm(tiny_llama_path)
    ckpt = tmp_path / "ckpt.jsonl"
    sample_and_score(model, ["a"], [1], exact_numeric, 2, tokenizer=tok,
                     max_new_tokens=3, checkpoint=ckpt)
    with pytest.raises(ValueError, match="temperature: checkpoint 0.7 vs now 0.9"):
        sample_and_score(model, ["a"], [1], exact_numeric, 2, tokenizer=tok,
                         max_new_tokens=3, checkpoint=ckpt, temperature=0.9)
    with pytest.raises(ValueError, match="another text"):
        sample_and_score(model, ["b"], [1], exact_numeric, 2, tokenizer=tok,
                         max_new_tokens=3, checkpoint=ckpt)


def test_kill_and_restart_subprocess(tiny_llama_path, tmp_path):
    """SIGKILL a collection after its first checkpoint; the restart completes it."""
    ckpt = tmp_path / "ckpt.jsonl"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        from skadapt.sampling import sample_and_score
        def slow(completion, reference):
            time.sleep(float(sys.argv[1]))
            return 1.0
        slow.__qualname__ = "slow"
        res = sample_and_score({tiny_llama_path!r}, [f"q{{i}}" for i in range(12)],
                               list(range(12)), slow, 2, batch_size=2,
                               max_new_tokens=4, checkpoint={str(ckpt)!r})
        print(res.rewards.shape)
    """))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, str(script), "0.1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline:
        if ckpt.exists() and len(ckpt.read_text().splitlines()) >= 3:
            break
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len([r for r in _lines(ckpt) if r["type"] == "query"])
    assert 2 <= n_before < 12, "killed too late to test a restart"
    out = subprocess.run([sys.executable, str(script), "0"], env=env,
                         capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr
    ids = [r["id"] for r in _lines(ckpt) if r["type"] == "query"]
    assert sorted(ids) == list(range(12))


def test_vllm_missing_is_a_clean_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match="optional extra"):
        sample_and_score("some/model", ["a"], [1], exact_numeric, 2, backend="vllm")


def test_query_seed_stable():
    assert query_seed(0, "q00001") == query_seed(0, "q00001")
    assert len({query_seed(s, i) for s in range(3) for i in range(50)}) == 150


def test_numpy_references_are_accepted(tiny_llama_path, tmp_path):
    """References straight from a dataset (numpy int64) checkpoint as plain JSON."""
    from skadapt.sampling import sample_and_score
    from skadapt.verifiers import exact_numeric

    refs = np.array([3, 4], dtype=np.int64)
    res = sample_and_score(tiny_llama_path, ["1+2?", "2+2?"], refs, exact_numeric, 2,
                           max_new_tokens=3, random_state=0,
                           checkpoint=tmp_path / "ckpt.jsonl")
    assert res.rewards.shape == (2, 2)


# -- run identity: what a resumed run must share with its checkpoint ------------

def _no_model_load(monkeypatch):
    """Make loading any model fail, to show that a check ran before it."""
    import skadapt._lm

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the check")

    monkeypatch.setattr(skadapt._lm, "load_lm", refuse)


def _flip_last_byte_keep_mtime(path):
    """Rewrite a file in place: same name, size and mtime, other content."""
    st = os.stat(path)
    with open(path, "r+b") as fh:
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 0x01]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_changed_model_folder_is_refused(tiny_llama_path, tmp_path, monkeypatch):
    """Weights rewritten in place (same names, sizes and mtimes) are another model."""
    import shutil

    monkeypatch.setenv("SKADAPT_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_path, folder)
    ckpt = tmp_path / "ckpt.jsonl"
    kw = {"max_new_tokens": 3, "checkpoint": ckpt}
    first = sample_and_score(str(folder), ["a", "b"], [1, 2], exact_numeric, 2, **kw)
    assert first.config["model_files"].keys() >= {"model.safetensors", "config.json"}
    # the same content under another path is the same model: resumed, not resampled
    moved = tmp_path / "moved"
    shutil.copytree(folder, moved)
    again = sample_and_score(str(moved), ["a", "b"], [1, 2], exact_numeric, 2, **kw)
    assert again.completions == first.completions
    assert len(_lines(ckpt)) == 3

    _flip_last_byte_keep_mtime(folder / "model.safetensors")
    _no_model_load(monkeypatch)
    with pytest.raises(ValueError, match=r"model weights.*model\.safetensors changed"):
        sample_and_score(str(folder), ["a", "b"], [1, 2], exact_numeric, 2, **kw)
    assert len(_lines(ckpt)) == 3  # nothing appended


def test_changed_loaded_model_is_refused(tiny_llama_path, tmp_path):
    import copy

    import torch

    model, tok = load_lm(tiny_llama_path)
    model = copy.deepcopy(model)  # the loaded copy is shared: never edit it
    ckpt = tmp_path / "ckpt.jsonl"
    kw = {"tokenizer": tok, "max_new_tokens": 3, "checkpoint": ckpt}
    sample_and_score(model, ["a"], [1], exact_numeric, 2, **kw)
    with torch.no_grad():
        next(model.parameters())[0, 0] += 1.0
    with pytest.raises(ValueError, match="model weights"):
        sample_and_score(model, ["a"], [1], exact_numeric, 2, **kw)


def test_changed_verifier_is_refused(tiny_llama_path, tmp_path):
    from functools import partial

    model, tok = load_lm(tiny_llama_path)
    ckpt = tmp_path / "ckpt.jsonl"
    kw = {"tokenizer": tok, "max_new_tokens": 3, "checkpoint": ckpt}
    loose = partial(exact_numeric, abs_tol=0.5)
    sample_and_score(model, ["a"], [1], loose, 2, **kw)
    # the same partial again resumes
    sample_and_score(model, ["a"], [1], partial(exact_numeric, abs_tol=0.5), 2, **kw)
    with pytest.raises(ValueError, match=r"verifier.*abs_tol=0\.5.*abs_tol=0\.1"):
        sample_and_score(model, ["a"], [1], partial(exact_numeric, abs_tol=0.1), 2,
                         **kw)
    with pytest.raises(ValueError, match="verifier"):
        sample_and_score(model, ["a"], [1], exact_numeric, 2, **kw)


def test_unidentifiable_verifier_needs_an_id(tiny_llama_path, tmp_path):
    model, tok = load_lm(tiny_llama_path)
    ckpt = tmp_path / "ckpt.jsonl"
    kw = {"tokenizer": tok, "max_new_tokens": 3, "checkpoint": ckpt}
    with pytest.raises(ValueError, match="verifier_id"):
        sample_and_score(model, ["a"], [1], lambda c, r: 1.0, 2, **kw)
    assert not ckpt.exists()
    sample_and_score(model, ["a"], [1], lambda c, r: 1.0, 2, verifier_id="one-v1",
                     **kw)
    sample_and_score(model, ["a"], [1], lambda c, r: 1.0, 2, verifier_id="one-v1",
                     **kw)
    with pytest.raises(ValueError, match="verifier: checkpoint 'one-v1' vs now 'one-v2'"):
        sample_and_score(model, ["a"], [1], lambda c, r: 1.0, 2, verifier_id="one-v2",
                         **kw)
    # without a checkpoint nothing is resumed, so no identity is needed
    res = sample_and_score(model, ["a"], [1], lambda c, r: 1.0, 2, tokenizer=tok,
                           max_new_tokens=3)
    assert res.rewards.tolist() == [[1.0, 1.0]]


def test_damaged_checkpoint_is_a_clear_error_before_loading(tiny_llama_path, tmp_path,
                                                            monkeypatch):
    ckpt = tmp_path / "ckpt.jsonl"
    kw = {"max_new_tokens": 3, "batch_size": 1, "checkpoint": ckpt}
    sample_and_score(tiny_llama_path, ["a", "b"], [1, 2], exact_numeric, 2, **kw)
    lines = ckpt.read_text().splitlines(keepends=True)
    ckpt.write_text(lines[0] + lines[1] + "{not json\n" + lines[2])
    _no_model_load(monkeypatch)
    with pytest.raises(ValueError, match=rf"checkpoint {ckpt}, line 3: not a JSON record"):
        sample_and_score(tiny_llama_path, ["a", "b"], [1, 2], exact_numeric, 2, **kw)
    ckpt.write_text(lines[0] + '{"type": "query", "id": 0}\n')
    with pytest.raises(ValueError, match="line 2: query record without 'query'"):
        sample_and_score(tiny_llama_path, ["a", "b"], [1, 2], exact_numeric, 2, **kw)
    ckpt.write_text(lines[0].replace('"version": 2', '"version": 1'))
    with pytest.raises(ValueError, match="format version 1"):
        sample_and_score(tiny_llama_path, ["a", "b"], [1, 2], exact_numeric, 2, **kw)
    with pytest.raises(ValueError, match="checkpoint folder .*nope.* does not exist"):
        sample_and_score(tiny_llama_path, ["a"], [1], exact_numeric, 2,
                         checkpoint=tmp_path / "nope" / "ckpt.jsonl")
    with pytest.raises(ValueError, match="is a folder"):
        sample_and_score(tiny_llama_path, ["a"], [1], exact_numeric, 2,
                         checkpoint=tmp_path)


def test_stop_strings_plain_string_is_one_stop_string(tiny_llama_path):
    model, tok = load_lm(tiny_llama_path)
    prompts = _prompts(tok)
    kw = {"max_new_tokens": 16, "temperature": 1.5, "seeds": [0, 1, 2]}
    free, _ = generate_shared(model, tok, prompts, 8, **kw)
    letters = sorted({tok.decode([t]) for row in free for s in row for t in s
                      if tok.decode([t]).isalpha()})
    assert len(letters) >= 2
    word = "".join(letters[:2])
    # one token of the character tokenizer never holds two characters: a plain
    # string is one stop string that never matches, not a set of letters
    whole, _ = generate_shared(model, tok, prompts, 8, stop_strings=word, **kw)
    assert whole == free
    split, _ = generate_shared(model, tok, prompts, 8, stop_strings=list(word), **kw)
    assert split != free
    res = sample_and_score(model, ["a"], [1], exact_numeric, 2, tokenizer=tok,
                           max_new_tokens=3, stop_strings="\n")
    assert res.config["stop_strings"] == ["\n"]
    with pytest.raises(ValueError, match="non-empty strings"):
        generate_shared(model, tok, prompts, 2, stop_strings=[""])
    with pytest.raises(TypeError, match="stop_strings"):
        generate_shared(model, tok, prompts, 2, stop_strings=5)


def test_numpy_ids_and_absurd_counts(tiny_llama_path, tmp_path):
    model, tok = load_lm(tiny_llama_path)
    ckpt = tmp_path / "ckpt.jsonl"
    kw = {"tokenizer": tok, "max_new_tokens": 3, "checkpoint": ckpt}
    res = sample_and_score(model, ["a", "b"], [1, 2], exact_numeric, 2,
                           ids=np.array([7, 3], dtype=np.int64), **kw)
    assert [r["id"] for r in _lines(ckpt)[1:]] == [7, 3]
    assert res.ids == [7, 3] and all(type(i) is int for i in res.ids)
    # plain ints name the same queries: resumed, not resampled
    again = sample_and_score(model, ["a", "b"], [1, 2], exact_numeric, 2, ids=[7, 3],
                             **kw)
    assert again.completions == res.completions and len(_lines(ckpt)) == 3
    with pytest.raises(TypeError, match="ids must be strings or integers"):
        sample_and_score(model, ["a"], [1], exact_numeric, 2, tokenizer=tok,
                         ids=[1.5])
    with pytest.raises(ValueError, match=r"n_samples must be <= 1048576, got 10{20}"):
        sample_and_score(model, ["a"], [1], exact_numeric, 10**20, tokenizer=tok)
    with pytest.raises(ValueError, match="max_new_tokens must be <= "):
        generate_shared(model, tok, ["a"], 2, max_new_tokens=10**20)


# -- the shared rule that ends a sample (both backends) ---------------------------

def _char_ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_finish_sample_rule():
    from conftest import make_char_tokenizer

    from skadapt.sampling import finish_sample

    tok = make_char_tokenizer()
    ids = _char_ids(tok, "12\n34")
    lp = [-0.1, -0.2, -0.3, -0.4, -0.5]
    assert finish_sample(ids, tok, stop_strings=["\n"], logprobs=lp) == (
        "12", 2, [-0.1, -0.2, -0.3])
    # no stop: everything kept
    assert finish_sample(ids, tok, logprobs=lp) == ("12\n34", 5, lp)
    # an end-of-sequence id ends the sample and is not decoded
    eos = tok.eos_token_id
    assert finish_sample(ids[:2] + [eos] + ids[3:], tok, stop_token_ids=[eos])[:2] \
        == ("12", 2)
    # per token, as the HF sampler stops: "34" split over two tokens is no stop
    assert finish_sample(ids, tok, stop_strings=["34"])[:2] == ("12\n34", 5)
    assert finish_sample(ids, tok, stop_strings=["3"])[:2] == ("12\n", 3)


def test_finish_sample_same_record_from_either_backend_shape():
    """HF hands over the ids without the stopping token (its log-probability one
    longer); vLLM hands over the ids with it. Same sample, same record."""
    from conftest import make_char_tokenizer

    from skadapt.sampling import finish_sample

    tok = make_char_tokenizer()
    full = _char_ids(tok, "7\n")
    lp = [-1.0, -2.0]
    hf = finish_sample(full[:1], tok, stop_strings=["\n"], logprobs=lp)
    vllm = finish_sample(full, tok, stop_strings=["\n"], logprobs=lp)
    assert hf == vllm == ("7", 1, [-1.0, -2.0])


def test_sample_and_score_records_follow_finish_sample(tiny_llama_path):
    """The HF path's completions are finish_sample of generate_shared's tokens."""
    from skadapt._lm import format_prompt
    from skadapt.sampling import _stop_token_ids, finish_sample

    model, tok = load_lm(tiny_llama_path)
    queries = ["What is 1 + 1?", "Name a colour."]
    res = sample_and_score(tiny_llama_path, queries, [2, 0], exact_numeric, 4,
                           max_new_tokens=8, stop_strings=["e"], random_state=3)
    prompts = [format_prompt(tok, q) for q in queries]
    seeds = [query_seed(3, i) for i in range(2)]
    tokens, _, logprobs = generate_shared(model, tok, prompts, 4, max_new_tokens=8,
                                          stop_strings=["e"], seeds=seeds,
                                          return_logprobs=True)
    stop_ids = _stop_token_ids(model, tok)
    for i in range(2):
        for j in range(4):
            text, n, lp = finish_sample(tokens[i][j], tok, stop_strings=["e"],
                                        stop_token_ids=stop_ids,
                                        logprobs=logprobs[i][j])
            assert res.completions[i][j] == text and "e" not in text
            assert res.n_tokens[i, j] == n
            if lp:
                assert res.mean_logprob[i, j] == pytest.approx(np.mean(lp))


def test_backend_options_are_checked_and_recorded(tiny_llama_path, tmp_path):
    with pytest.raises(ValueError, match="backend_options for backend='hf' take"):
        sample_and_score(tiny_llama_path, ["q"], [1], exact_numeric, 2,
                         backend_options={"tensor_parallel_size": 2})
    with pytest.raises(ValueError, match="JSON-serialisable"):
        sample_and_score(tiny_llama_path, ["q"], [1], exact_numeric, 2,
                         backend_options={"dtype": object()})
    res = sample_and_score(tiny_llama_path, ["q"], [1], exact_numeric, 2,
                           max_new_tokens=3, backend_options={"dtype": "bfloat16"})
    assert res.config["backend_options"] == {"dtype": "bfloat16"}
