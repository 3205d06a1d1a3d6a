import os
import shutil
import time

import numpy as np
import pytest
import torch

from skadapt import _lm
from skadapt._lm import load_lm, resolve_model_source
from skadapt.cli import main as cli_main


def test_load_lm_is_cached_per_configuration(tiny_llama_path):
    model_a, tok_a = load_lm(tiny_llama_path)
    model_b, tok_b = load_lm(tiny_llama_path)
    assert model_a is model_b and tok_a is tok_b
    assert not model_a.training


def test_load_lm_other_dtype_is_a_copy(tiny_llama_path):
    import torch

    base, _ = load_lm(tiny_llama_path)
    half, _ = load_lm(tiny_llama_path, dtype="bfloat16")
    assert half is not base
    assert next(half.parameters()).dtype == torch.bfloat16
    assert next(base.parameters()).dtype == torch.float32


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        resolve_model_source(str(tmp_path / "nope"))


def test_bad_dtype(tiny_llama_path):
    with pytest.raises(ValueError, match="dtype"):
        load_lm(tiny_llama_path, dtype="float99")


def test_char_tokenizer_round_trip():
    from conftest import make_char_tokenizer

    tok = make_char_tokenizer()
    text = "What is 12 + 7?\nAnswer: 19"
    ids = tok(text)["input_ids"]
    assert len(ids) == len(text)
    assert tok.decode(ids) == text
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}],
                                     tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")


@pytest.mark.slow
def test_smollm2_loads(smollm2):
    model, tokenizer = smollm2
    assert model.config.hidden_size == 576
    assert tokenizer.chat_template


# -- content-keyed caches, GGUF files, devices -----------------------------------

def _byte_level_alphabet():
    """GPT-2's byte -> printable character table (the byte-level BPE alphabet)."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD))
          + list(range(0xAE, 0x100)))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def write_tiny_gguf(path, seed=0):
    """A tiny random Llama as an F32 GGUF file with a byte-level BPE tokenizer."""
    import gguf
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    specials = ["<|im_start|>", "<|im_end|>"]
    tokens = _byte_level_alphabet() + ["he"] + specials
    hidden, layers, ffn = 32, 2, 64
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokens), hidden_size=hidden,
                         intermediate_size=ffn, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256)
    state = AutoModelForCausalLM.from_config(config).state_dict()
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_context_length(256)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(10000.0)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * (len(tokens) - 2) + [3, 3])
    writer.add_token_merges(["h e"])
    writer.add_bos_token_id(len(tokens) - 2)
    writer.add_eos_token_id(len(tokens) - 1)
    writer.add_pad_token_id(len(tokens) - 1)
    from conftest import CHAT_TEMPLATE

    writer.add_chat_template(CHAT_TEMPLATE)
    names = {"model.embed_tokens.weight": "token_embd.weight",
             "model.norm.weight": "output_norm.weight"}
    for i in range(layers):
        for hf, gg in [("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"),
                       ("self_attn.v_proj", "attn_v"), ("self_attn.o_proj", "attn_output"),
                       ("mlp.gate_proj", "ffn_gate"), ("mlp.up_proj", "ffn_up"),
                       ("mlp.down_proj", "ffn_down")]:
            names[f"model.layers.{i}.{hf}.weight"] = f"blk.{i}.{gg}.weight"
        names[f"model.layers.{i}.input_layernorm.weight"] = f"blk.{i}.attn_norm.weight"
        names[f"model.layers.{i}.post_attention_layernorm.weight"] = \
            f"blk.{i}.ffn_norm.weight"
    for hf, gg in names.items():
        writer.add_tensor(gg, state[hf].numpy().astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return str(path)


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    pytest.importorskip("gguf")
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture
def temp_cache(tmp_path, monkeypatch):
    """A private skadapt cache folder (the real one is shared: never clear it)."""
    root = tmp_path / "skadapt-cache"
    monkeypatch.setenv("SKADAPT_CACHE_DIR", str(root))
    return root


def _copy(src, folder):
    os.makedirs(folder, exist_ok=True)
    dst = os.path.join(folder, os.path.basename(src))
    shutil.copyfile(src, dst)
    return dst


def _model_entries(cache):
    return sorted(p.name for p in (cache / "models").iterdir())


def test_gguf_file_path_loads_and_is_cached_by_content(tiny_gguf, temp_cache, tmp_path,
                                                       monkeypatch):
    from skadapt import HiddenStateFeaturizer

    path = _copy(tiny_gguf, tmp_path / "a")
    assert resolve_model_source(path) == (str(tmp_path / "a"), "tiny.gguf")
    X = HiddenStateFeaturizer(model=path).fit_transform(["What is 2 + 2?", "hello"])
    assert X.shape == (2, 32) and np.isfinite(X).all()
    entries = _model_entries(temp_cache)
    assert len(entries) == 1
    assert entries[0] == f"tiny-{_lm.file_sha256(path)[:16]}"
    assert _lm.cache_info()["models"][0]["status"] == "ok"

    # the same file elsewhere, with another mtime: the same entry, no conversion
    other = _copy(tiny_gguf, tmp_path / "b")
    os.utime(other, (1, 1))
    monkeypatch.setattr(_lm, "_check_gguf", lambda p: pytest.fail("converted again"))
    model, tok = load_lm(other)
    assert _model_entries(temp_cache) == entries
    assert tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                   add_generation_prompt=True).endswith("assistant\n")
    with pytest.raises(ValueError, match="names another one"):
        resolve_model_source(other, gguf_file="x.gguf")



def test_gguf_in_another_dtype_is_read_from_its_own_copy(tiny_gguf, temp_cache,
                                                         tmp_path, monkeypatch):
    """bfloat16 from a GGUF file: converted once to a bfloat16 safetensors copy,
    then loaded from it directly (never the float32 copy beside it)."""
    path = _copy(tiny_gguf, tmp_path / "a")
    full, _ = load_lm(path)
    half, _ = load_lm(path, dtype="bfloat16")
    assert next(half.parameters()).dtype == torch.bfloat16
    for (name, a), (_, b) in zip(full.named_parameters(), half.named_parameters()):
        torch.testing.assert_close(a.to(torch.bfloat16), b, msg=name)
    sha = _lm.file_sha256(path)[:16]
    assert _model_entries(temp_cache) == [f"tiny-{sha}", f"tiny-{sha}-bfloat16"]
    monkeypatch.setattr(_lm, "_CACHE", {})  # a fresh process's cache (restored after)
    seen = []
    original = _lm._from_pretrained
    monkeypatch.setattr(_lm, "_from_pretrained",
                        lambda p, *a, **k: seen.append(str(p)) or original(p, *a, **k))
    monkeypatch.setattr(_lm, "_check_gguf", lambda p: pytest.fail("converted again"))
    again, _ = load_lm(path, dtype=torch.bfloat16)
    assert seen == [str(temp_cache / "models" / f"tiny-{sha}-bfloat16")]
    assert next(again.parameters()).dtype == torch.bfloat16


def test_load_lm_model_kwargs(tiny_llama_path):
    model, _ = load_lm(tiny_llama_path, model_kwargs={"attn_implementation": "eager"})
    assert model.config._attn_implementation == "eager"
    assert load_lm(tiny_llama_path, model_kwargs={"attn_implementation": "eager"})[0] \
        is model
    with pytest.raises(ValueError, match=r"model_kwargs must not set \['dtype'\]"):
        load_lm(tiny_llama_path, model_kwargs={"dtype": "float16"})
    with pytest.raises(ValueError, match="model_kwargs must be a dict"):
        load_lm(tiny_llama_path, model_kwargs=[("a", 1)])

def test_truncated_or_foreign_gguf_is_a_clear_error(tiny_gguf, temp_cache, tmp_path):
    path = _copy(tiny_gguf, tmp_path / "cut")
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) // 2)
    with pytest.raises(ValueError, match=rf"GGUF file {path} is truncated or corrupted"):
        load_lm(path)
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model")
    with pytest.raises(ValueError, match="is not a GGUF file"):
        load_lm(str(fake))
    text = tmp_path / "weights.txt"
    text.write_text("x")
    with pytest.raises(ValueError, match="not a .gguf file"):
        load_lm(str(text))
    assert not (temp_cache / "models").exists() or not _model_entries(temp_cache)


def test_corrupted_cache_entry_is_rebuilt(tiny_gguf, temp_cache, tmp_path, monkeypatch):
    first = _copy(tiny_gguf, tmp_path / "one")
    reference, _ = load_lm(first)
    entry = temp_cache / "models" / _model_entries(temp_cache)[0]
    weights = entry / "model.safetensors"
    with open(weights, "r+b") as fh:
        fh.truncate(weights.stat().st_size // 2)
    # another path: not in this process's memory, so it is read from the cache
    model, _ = load_lm(_copy(tiny_gguf, tmp_path / "two"))
    for a, b in zip(model.state_dict().values(), reference.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert _lm._entry_problem(entry, _lm.file_sha256(first)) is None  # rewritten

    # a damaged entry that cannot be replaced: a warning that says what to run
    (entry / "config.json").write_text("{garbage")
    real_rmtree = shutil.rmtree

    def refuse(path, *args, **kwargs):
        if os.path.abspath(path) == str(entry):
            raise PermissionError(13, "Permission denied", str(path))
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(_lm.shutil, "rmtree", refuse)
    with pytest.warns(UserWarning, match="skadapt cache clear"):
        model, _ = load_lm(_copy(tiny_gguf, tmp_path / "three"))
    assert model.config.hidden_size == 32


def test_cuda_without_a_gpu_is_a_clear_error(tiny_llama_path):
    import torch

    from skadapt import HiddenStateFeaturizer

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        load_lm(tiny_llama_path, device="cuda")
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        HiddenStateFeaturizer(model=tiny_llama_path, device="cuda:0").fit(["a"])
    with pytest.raises(ValueError, match="not a torch device"):
        load_lm(tiny_llama_path, device="gpu")


def test_file_sha256_is_remembered_until_the_file_changes(temp_cache, tmp_path,
                                                          monkeypatch):
    import hashlib

    # trust a stored digest at once (the default waits out the timestamp granularity)
    monkeypatch.setattr(_lm, "_RACY_NS", -10**18)
    path = tmp_path / "w.bin"
    path.write_bytes(b"a" * 1000)
    assert _lm.file_sha256(path) == hashlib.sha256(b"a" * 1000).hexdigest()
    record = _lm._hash_record_path(os.path.realpath(path))
    saved = __import__("json").loads(record.read_text())
    saved["sha256"] = "remembered"
    record.write_text(__import__("json").dumps(saved))
    assert _lm.file_sha256(path) == "remembered"  # not read again
    # rewritten in place with the same size and mtime: the ctime gives it away
    st = os.stat(path)
    time.sleep(0.05)
    path.write_bytes(b"b" * 1000)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _lm.file_sha256(path) == hashlib.sha256(b"b" * 1000).hexdigest()


def test_cache_command_info_and_clear(temp_cache, capsys):
    models = temp_cache / "models"
    (models / "m-0123456789abcdef").mkdir(parents=True)
    (models / "m-0123456789abcdef" / "model.safetensors").write_bytes(b"x" * 2000)
    (models / "old-fedcba9876543210").mkdir()
    (models / "old-fedcba9876543210" / "skadapt_source.json").write_text(
        '{"folder": "/x", "gguf_file": "old.gguf"}')
    (temp_cache / "hashes").mkdir()
    (temp_cache / "hashes" / "h.json").write_text("{}")
    (temp_cache / "notes.txt").write_text("not skadapt's")

    assert cli_main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"{temp_cache} ($SKADAPT_CACHE_DIR)" in out
    assert "models/m-0123456789abcdef" in out and "2.0 kB" in out
    assert "models/old-fedcba9876543210" in out and "keyed on mtime" in out

    assert cli_main(["cache", "clear", "--only", "hashes"]) == 0
    assert "removed hashes" in capsys.readouterr().out
    assert not (temp_cache / "hashes").exists() and models.exists()
    assert cli_main(["cache", "clear"]) == 0
    assert "removed models" in capsys.readouterr().out
    assert not models.exists()
    assert (temp_cache / "notes.txt").exists()  # only skadapt's folders go
    assert cli_main(["cache", "clear"]) == 0
    assert "nothing to remove" in capsys.readouterr().out
    assert cli_main(["cache", "info"]) == 0
    assert "empty" in capsys.readouterr().out
    assert cli_main(["cache", "clear", "--only", "weights"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_digest_records_stay_few(temp_cache, tmp_path, monkeypatch):
    monkeypatch.setattr(_lm, "_MAX_HASH_RECORDS", 8)
    keep = tmp_path / "keep.bin"
    keep.write_bytes(b"k")
    _lm.file_sha256(keep)
    for i in range(12):
        gone = tmp_path / f"gone{i}.bin"
        gone.write_bytes(bytes([i]))
        _lm.file_sha256(gone)
        gone.unlink()
    records = list((temp_cache / "hashes").glob("*.json"))
    assert 1 <= len(records) <= 8
    assert _lm._hash_record_path(os.path.realpath(keep)) in records


@pytest.mark.slow
def test_smollm2_gguf_path_is_the_alias(smollm2):
    from skadapt import HiddenStateFeaturizer

    path = os.path.join(*_lm.smollm2_location())
    model, _ = load_lm(path)
    assert model is load_lm("smollm2")[0]  # one configuration, loaded once
    X = HiddenStateFeaturizer(model=path).fit_transform(["What is 2 + 2?"])
    assert X.shape == (1, 576)
    sha = _lm.file_sha256(path)
    entries = [e for e in _lm.cache_info()["models"] if e["gguf_sha256"] == sha]
    # one float32 copy (a bfloat16 one too where someone loaded that dtype)
    assert [e["name"] for e in entries if not e["name"].endswith("-bfloat16")] == [
        _lm._converted_copy(os.path.basename(path), sha).name]
    assert all(e["status"] == "ok" for e in entries)
