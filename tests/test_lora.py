"""LoRAProbe on tiny random Llama / GPT-2 models."""

import os
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.exceptions import ConvergenceWarning

from skadapt._lm import load_lm
from skadapt.featurizer import HiddenStateFeaturizer, pooled_hidden_states
from skadapt.lora import LoRAProbe

N = 32


@pytest.fixture(autouse=True)
def quiet(one_torch_thread):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def toy():
    """Learnable toy task: the first word decides the success rate."""
    rng = np.random.default_rng(0)
    queries = [("easy " if i % 2 else "hard ") + str(i) for i in range(N)]
    lam = np.where(np.arange(N) % 2 == 1, 0.9, 0.1)
    R = (rng.random((N, 8)) < lam[:, None]).astype(float)
    return queries, R, lam


def fit_toy(path, toy, **kw):
    queries, R, _ = toy
    params = {"max_iter": 12, "learning_rate_init": 3e-3, "batch_size": 8, "random_state": 0}
    params.update(kw)
    return LoRAProbe(path, **params).fit(queries, R)


def n_bytes(model):
    return sum(p.numel() * p.element_size() for p in model.parameters())


@pytest.mark.parametrize("arch", ["tiny_llama_path", "tiny_gpt2_path"])
def test_training_learns_the_toy_task(arch, toy, request):
    path = request.getfixturevalue(arch)
    probe = fit_toy(path, toy)
    queries, _, lam = toy
    curve = probe.loss_curve_
    assert curve[-1] < 0.8 * curve[0]
    p = probe.predict_proba(queries)[:, 1]
    assert p[lam > 0.5].mean() > p[lam < 0.5].mean() + 0.3
    # the adapters moved away from their initialisation (LoRA B starts at zero)
    lora_b = [p for n, p in probe.module_.body.lm.named_parameters() if "lora_B" in n]
    assert lora_b and any(float(b.detach().abs().max()) > 0 for b in lora_b)


def test_adapters_alone_reduce_the_loss(tiny_llama_path, toy):
    """With a frozen head, the loss can only fall through the LoRA weights."""
    probe = fit_toy(tiny_llama_path, toy, max_iter=1)
    module = probe.module_
    for p in module.body.mlp.parameters():
        p.requires_grad_(False)
    queries, R, _ = toy
    ids = probe._encode(queries, load_lm(tiny_llama_path)[1])
    targets = torch.tensor(R.mean(1), dtype=torch.float32)

    def loss():
        input_ids, mask = probe._pad(ids)
        return module.head.loss(module(input_ids, mask), targets)

    opt = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=5e-3)
    with torch.no_grad():
        start = float(loss())
    for _ in range(30):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    assert float(value) < start - 0.05


def test_shared_model_is_not_modified(tiny_llama_path, toy):
    feat = HiddenStateFeaturizer(tiny_llama_path)
    before = feat.fit_transform(toy[0])
    shared, _ = load_lm(tiny_llama_path)
    fit_toy(tiny_llama_path, toy, max_iter=2)
    assert not any("lora" in name for name, _ in shared.named_modules())
    assert all(not p.requires_grad or p.grad is None for p in shared.parameters())
    np.testing.assert_array_equal(feat.transform(toy[0]), before)



def test_folds_share_the_base_weights(tiny_llama_path, toy):
    """No copy of the LM per fit or per cross-fitting fold: the LoRA model's frozen
    weights are the shared model's own tensors."""
    shared, _ = load_lm(tiny_llama_path)
    pointers = {p.data_ptr() for p in shared.parameters()}
    probe = fit_toy(tiny_llama_path, toy, max_iter=1)
    frozen = [p for n, p in probe.module_.body.lm.named_parameters() if "lora_" not in n]
    assert frozen and all(p.data_ptr() in pointers for p in frozen)
    again = fit_toy(tiny_llama_path, toy, max_iter=1)
    frozen2 = [p for n, p in again.module_.body.lm.named_parameters() if "lora_" not in n]
    assert [p.data_ptr() for p in frozen2] == [p.data_ptr() for p in frozen]
    # the adapters themselves are separate per probe
    lora = [p.data_ptr() for n, p in probe.module_.named_parameters() if "lora_" in n]
    lora2 = [p.data_ptr() for n, p in again.module_.named_parameters() if "lora_" in n]
    assert lora and not set(lora) & set(lora2)

def test_pickle_holds_only_adapter_and_head(tiny_llama_path, toy):
    probe = fit_toy(tiny_llama_path, toy, max_iter=2)
    queries = toy[0]
    expected = probe.predict_proba(queries)
    blob = pickle.dumps(probe)
    base_bytes = n_bytes(load_lm(tiny_llama_path)[0])
    adapter_bytes = sum(p.numel() * 4 for n, p in probe.module_.named_parameters()
                        if "lora_" in n)
    assert len(blob) < base_bytes / 4
    assert len(blob) < adapter_bytes + 20_000
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.predict_proba(queries), expected)
    assert restored.loss_curve_ == probe.loss_curve_


def test_save_load_in_peft_format(tiny_llama_path, toy, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    probe = fit_toy(tiny_llama_path, toy, kind="marginal", max_budget=3, max_iter=2)
    probe.save(tmp_path / "probe")
    files = set(os.listdir(tmp_path / "probe"))
    assert {"adapter_config.json", "adapter_model.safetensors", "head.safetensors",
            "skadapt_probe.json"} <= files
    total = sum(os.path.getsize(tmp_path / "probe" / f) for f in files)
    assert total < n_bytes(load_lm(tiny_llama_path)[0]) / 4
    loaded = LoRAProbe.load(tmp_path / "probe")
    np.testing.assert_array_equal(loaded.transform(toy[0]), probe.transform(toy[0]))
    assert loaded.get_params() == probe.get_params()

    # plain peft reads the adapter: same pooled features as inside the probe
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_path).eval()
    peft_model = PeftModel.from_pretrained(base, tmp_path / "probe").eval()
    input_ids, mask = probe._pad(probe._encode(toy[0][:4], load_lm(tiny_llama_path)[1]))
    with torch.inference_mode():
        ours = probe.module_.body.pooled(input_ids, mask)
        theirs = pooled_hidden_states(peft_model.get_base_model(), input_ids, mask,
                                      layer=probe.layer_)
    torch.testing.assert_close(ours, theirs)



def test_load_is_strict(tiny_llama_path, toy, tmp_path):
    from safetensors.torch import load_file, save_file

    probe = fit_toy(tiny_llama_path, toy, max_iter=1)
    probe.save(tmp_path / "p")
    adapter_file = tmp_path / "p" / "adapter_model.safetensors"
    head_file = tmp_path / "p" / "head.safetensors"
    adapter, head = load_file(adapter_file), load_file(head_file)

    save_file({k: v for k, v in adapter.items() if "lora_B" not in k}, adapter_file)
    with pytest.raises(ValueError, match="the adapter lacks .* LoRA tensors"):
        LoRAProbe.load(tmp_path / "p")
    save_file(adapter, adapter_file)
    save_file(dict(head, extra=torch.zeros(2)), head_file)
    with pytest.raises(ValueError, match="head weights do not fit.*extra"):
        LoRAProbe.load(tmp_path / "p")
    name = next(iter(head))
    save_file(dict(head, **{name: torch.zeros(3, 3)}), head_file)
    with pytest.raises(ValueError, match="head weights do not fit"):
        LoRAProbe.load(tmp_path / "p")
    save_file(head, head_file)
    np.testing.assert_array_equal(LoRAProbe.load(tmp_path / "p").transform(toy[0]),
                                  probe.transform(toy[0]))

def test_marginal_kind_matches_regressor_outputs(tiny_llama_path, toy):
    queries, R, _ = toy
    probe = fit_toy(tiny_llama_path, toy, kind="marginal", max_budget=4, max_iter=3)
    delta = probe.transform(queries)
    assert delta.shape == (N, 4)
    assert (np.diff(delta, axis=1) <= 0).all() and (delta >= 0).all()
    np.testing.assert_array_equal(probe.predict(queries), delta)
    assert list(probe.get_feature_names_out()) == [f"marginal_reward_{j}" for j in range(1, 5)]
    assert is_regressor(probe) and not is_classifier(probe)
    assert np.isfinite(probe.score(queries, R))
    with pytest.raises(AttributeError, match="kind='success_prob' only"):
        probe.predict_proba(queries)
    # precomputed marginal rewards as targets
    from skadapt.targets import marginal_rewards

    pre = LoRAProbe(tiny_llama_path, kind="marginal", target="marginal_rewards",
                    max_iter=1, random_state=0).fit(queries, marginal_rewards(R, 4))
    assert pre.transform(queries[:2]).shape == (2, 4)


def test_success_prob_outputs(tiny_llama_path, toy):
    queries, R, _ = toy
    probe = fit_toy(tiny_llama_path, toy, max_iter=2)
    proba = probe.predict_proba(queries)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_allclose(probe.transform(queries), proba[:, 1:])
    assert set(probe.predict(queries)) <= {0, 1}
    assert probe.get_feature_names_out().tolist() == ["success_prob"]
    assert is_classifier(probe)
    assert 0 <= probe.score(queries, R) <= 1


def test_same_seed_same_model_and_global_rng_untouched(tiny_llama_path, toy):
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = fit_toy(tiny_llama_path, toy, max_iter=2).predict_proba(toy[0])
    assert torch.equal(torch.random.get_rng_state(), state)
    b = fit_toy(tiny_llama_path, toy, max_iter=2).predict_proba(toy[0])
    np.testing.assert_array_equal(a, b)
    c = fit_toy(tiny_llama_path, toy, max_iter=2, random_state=1).predict_proba(toy[0])
    assert not np.allclose(a, c)


def test_bad_input(tiny_llama_path, toy):
    queries, R, _ = toy
    with pytest.raises(ValueError, match="same number of rows"):
        LoRAProbe(tiny_llama_path).fit(queries, R[:-1])
    with pytest.raises(ValueError, match="item 1 is int"):
        LoRAProbe(tiny_llama_path).fit(["a", 1], R[:2])
    with pytest.raises(ValueError, match="kind='marginal' only"):
        LoRAProbe(tiny_llama_path, max_budget=3).fit(queries, R)
    with pytest.raises(ValueError, match="kind"):
        LoRAProbe(tiny_llama_path, kind="ranking").fit(queries, R)
    with pytest.raises(ValueError, match="layer=9 is out of range"):
        LoRAProbe(tiny_llama_path, layer=9).fit(queries, R)
    with pytest.raises(ValueError, match="outcomes in \\[0, 1\\]"):
        LoRAProbe(tiny_llama_path).fit(queries, R * 3)


def test_pipeline_with_allocator_and_cross_fitting(tiny_llama_path, toy, tmp_path):
    import joblib
    from sklearn.pipeline import make_pipeline

    allocation = pytest.importorskip("skadapt.allocation")
    queries, R, _ = toy
    pipe = make_pipeline(
        LoRAProbe(tiny_llama_path, max_iter=2, learning_rate_init=3e-3, cv=2,
                  random_state=0),
        allocation.GreedyAllocator(2.0, max_budget=4, kind="success_prob"),
    )
    pipe.fit(queries, R)
    budgets = pipe.transform(["easy 100", "hard 101", "easy 102"])
    assert budgets.shape == (3, 1) and budgets.sum() <= 6
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    again = joblib.load(tmp_path / "pipe.joblib")
    np.testing.assert_array_equal(again.transform(["easy 100", "hard 101", "easy 102"]),
                                  budgets)
    assert clone(pipe)[0].get_params() == pipe[0].get_params()


@pytest.mark.parametrize("check", [
    "check_no_attributes_set_in_init", "check_parameters_default_constructible",
    "check_get_params_invariance", "check_set_params",
    "check_do_not_raise_errors_in_init_or_set_params",
])
def test_sklearn_api_checks(check):
    """The estimator checks that apply to an estimator taking strings."""
    from sklearn.utils import estimator_checks

    getattr(estimator_checks, check)("LoRAProbe", LoRAProbe())


@pytest.mark.slow
def test_lora_probe_on_smollm2(smollm2, tmp_path):
    """The real SmolLM2: one epoch of LoRA on a few queries, adapter-only persistence."""
    from skadapt.datasets import load_arithmetic

    data = load_arithmetic()
    queries, R = list(data.queries[:24]), data.outcomes[:24]
    probe = LoRAProbe("smollm2", max_iter=1, batch_size=8, random_state=0)
    probe.fit(queries, R)
    lam = probe.transform(queries[:5])
    assert lam.shape == (5, 1) and np.all((lam > 0) & (lam < 1))
    blob = pickle.dumps(probe)
    n_base = sum(p.numel() for p in smollm2[0].parameters())
    assert len(blob) < 0.05 * 4 * n_base  # adapters + head, not the base weights
    np.testing.assert_allclose(pickle.loads(blob).transform(queries[:5]), lam, atol=1e-5)
    probe.save(tmp_path / "probe")
    np.testing.assert_allclose(LoRAProbe.load(tmp_path / "probe").transform(queries[:5]),
                               lam, atol=1e-5)
