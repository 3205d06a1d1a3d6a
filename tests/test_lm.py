import pytest

from skadapt._lm import load_lm, resolve_model_source


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
