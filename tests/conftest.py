"""Shared fixtures: tiny, randomly initialised Hugging Face causal LMs built from a
config (nothing downloaded), and the real SmolLM2-135M-Instruct for ``slow`` tests."""

import os
import string

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]


def make_char_tokenizer():
    """A character-level fast tokenizer with a chat template, built offline."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, decoders
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(string.printable))
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _tiny_model(kind, vocab_size, pad_token_id, eos_token_id, seed=0):
    import torch
    from transformers import (
        AutoModelForCausalLM, GPT2Config, LlamaConfig, Qwen2Config,
    )

    torch.manual_seed(seed)
    if kind == "llama":
        config = LlamaConfig(
            vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
            num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=512, pad_token_id=pad_token_id,
            eos_token_id=eos_token_id, bos_token_id=eos_token_id,
        )
    elif kind == "qwen2":
        config = Qwen2Config(
            vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=512, pad_token_id=pad_token_id,
            eos_token_id=eos_token_id, bos_token_id=eos_token_id,
        )
    elif kind == "gpt2":
        config = GPT2Config(
            vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=512,
            pad_token_id=pad_token_id, eos_token_id=eos_token_id,
            bos_token_id=eos_token_id,
        )
    else:
        raise ValueError(kind)
    model = AutoModelForCausalLM.from_config(config)
    model.eval()
    return model


def save_tiny_lm(path, kind="llama", seed=0):
    """Save a tiny random model + tokenizer to ``path``; return the path as str."""
    tokenizer = make_char_tokenizer()
    model = _tiny_model(kind, len(tokenizer), tokenizer.pad_token_id,
                        tokenizer.eos_token_id, seed=seed)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_llama_path(tmp_path_factory):
    """Folder with a tiny random Llama model and a character tokenizer."""
    return save_tiny_lm(tmp_path_factory.mktemp("tiny_llama"), "llama")


@pytest.fixture(scope="session")
def tiny_qwen2_path(tmp_path_factory):
    """Folder with a tiny random Qwen2 model (a second architecture)."""
    return save_tiny_lm(tmp_path_factory.mktemp("tiny_qwen2"), "qwen2")


@pytest.fixture(scope="session")
def tiny_gpt2_path(tmp_path_factory):
    """Folder with a tiny random GPT-2 model (learned positions, no RoPE)."""
    return save_tiny_lm(tmp_path_factory.mktemp("tiny_gpt2"), "gpt2")


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M-Instruct as ``(model, tokenizer)``; skip if absent."""
    from skadapt._lm import load_lm, smollm2_location

    try:
        smollm2_location()
    except FileNotFoundError as exc:  # pragma: no cover - set-up installs it
        pytest.skip(str(exc))
    return load_lm("smollm2")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a test module's tiny torch networks on one intra-op thread.

    On a shared 2-core machine two threads fight other processes and run tiny
    networks many times slower. The library never changes this setting; tests do.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
