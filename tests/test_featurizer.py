"""HiddenStateFeaturizer on tiny random Llama / Qwen2 / GPT-2 models (and, marked
slow, the real SmolLM2-135M-Instruct)."""

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from skadapt._lm import format_prompt, load_lm
from skadapt.featurizer import HiddenStateFeaturizer

QUERIES = [
    "What is 2 + 2?",
    "hi",
    "Prove that there are infinitely many primes.",
    "Sort a list",
    "x",
    "Explain the difference between a list and a tuple in Python, briefly.",
]

ARCHS = ["tiny_llama_path", "tiny_qwen2_path", "tiny_gpt2_path"]


@pytest.fixture(params=ARCHS)
def tiny_path(request):
    return request.getfixturevalue(request.param)


def reference_features(path, queries, layer, pooling, template="chat", keep_last=None):
    """One unpadded full forward per query with output_hidden_states=True."""
    model, tok = load_lm(path)
    rows = []
    with torch.no_grad():
        for q in queries:
            prompt = format_prompt(tok, q, template)
            ids = tok(prompt, add_special_tokens=False)["input_ids"]
            if keep_last is not None:
                ids = ids[-keep_last:]
            out = model(torch.tensor([ids]), output_hidden_states=True)
            h = out.hidden_states[layer][0]
            rows.append(h[-1] if pooling == "last" else h.mean(0))
    return torch.stack(rows).numpy()


def with_padding_side(tok, side):
    tok = copy.deepcopy(tok)
    tok.padding_side = side
    return tok


# -- correctness ---------------------------------------------------------------

@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_every_layer_matches_output_hidden_states(tiny_path, pooling):
    model, _ = load_lm(tiny_path)
    n_layers = model.config.num_hidden_layers
    for layer in range(-n_layers - 1, n_layers + 1):
        feat = HiddenStateFeaturizer(tiny_path, layer=layer, pooling=pooling,
                                     batch_size=4)
        X = feat.fit_transform(QUERIES)
        index = layer if layer >= 0 else n_layers + 1 + layer
        assert feat.layer_ == index
        ref = reference_features(tiny_path, QUERIES, index, pooling)
        np.testing.assert_allclose(X, ref, rtol=1e-4, atol=1e-5,
                                   err_msg=f"layer={layer}")


def test_default_is_the_prompt_mean_of_the_last_layer(tiny_llama_path):
    """The defaults (layer=-1, pooling="mean") average the final-norm states over the prompt."""
    model, _ = load_lm(tiny_llama_path)
    feat = HiddenStateFeaturizer(tiny_llama_path)
    assert (feat.layer, feat.pooling) == (-1, "mean")
    X = feat.fit_transform(QUERIES)
    ref = reference_features(tiny_llama_path, QUERIES, model.config.num_hidden_layers, "mean")
    np.testing.assert_allclose(X, ref, rtol=1e-4, atol=1e-5)
    last = reference_features(tiny_llama_path, QUERIES, model.config.num_hidden_layers, "last")
    assert not np.allclose(X, last, atol=1e-3)


def test_last_layer_includes_final_norm(tiny_llama_path):
    """layer=-1 is what the LM head reads; the block output before the norm differs."""
    model, tok = load_lm(tiny_llama_path)
    X = HiddenStateFeaturizer(tiny_llama_path, prompt_template=None,
                              pooling="last").fit_transform(["abc"])
    captured = {}
    handle = model.model.layers[-1].register_forward_hook(
        lambda m, a, out: captured.setdefault("h", out[0] if isinstance(out, tuple) else out)
    )
    try:
        with torch.no_grad():
            model(torch.tensor([tok("abc")["input_ids"]]))
    finally:
        handle.remove()
    pre_norm = captured["h"][0, -1].numpy()
    normed = model.model.norm(captured["h"])[0, -1].detach().numpy()
    np.testing.assert_allclose(X[0], normed, rtol=1e-5, atol=1e-6)
    assert not np.allclose(X[0], pre_norm, atol=1e-3)


@pytest.mark.parametrize("pooling", ["last", "mean"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_side_batch_size_and_order_do_not_matter(tiny_path, pooling, side):
    model, tok = load_lm(tiny_path)
    tok_side = with_padding_side(tok, side)
    ref = reference_features(tiny_path, QUERIES, 1, pooling)
    for batch_size in (1, 3, len(QUERIES)):
        feat = HiddenStateFeaturizer(model, tokenizer=tok_side, layer=1,
                                     pooling=pooling, batch_size=batch_size)
        X = feat.fit_transform(QUERIES)
        np.testing.assert_allclose(X, ref, rtol=1e-4, atol=1e-5)
    perm = np.random.default_rng(0).permutation(len(QUERIES))
    X_perm = feat.transform([QUERIES[i] for i in perm])
    np.testing.assert_allclose(X_perm, X[perm], rtol=1e-5, atol=1e-6)


def test_left_padding_last_token_in_mixed_lengths(tiny_qwen2_path):
    """A short query padded on the left next to a long one keeps its own last token."""
    model, tok = load_lm(tiny_qwen2_path)
    tok_left = with_padding_side(tok, "left")
    short, long = "a", "a rather long question " * 3
    feat = HiddenStateFeaturizer(model, tokenizer=tok_left, batch_size=2).fit([short])
    pair = feat.transform([short, long])
    alone = feat.transform([short])
    np.testing.assert_allclose(pair[0], alone[0], rtol=1e-4, atol=1e-5)
    assert not np.allclose(pair[0], pair[1], atol=1e-3)


def test_stops_at_requested_layer_and_never_runs_lm_head(tiny_llama_path):
    model, _ = load_lm(tiny_llama_path)
    calls = {"layers": [0, 0, 0], "head": 0, "norm": 0}
    handles = [
        layer_mod.register_forward_hook(
            lambda m, a, o, i=i: calls["layers"].__setitem__(i, calls["layers"][i] + 1))
        for i, layer_mod in enumerate(model.model.layers)
    ]
    handles.append(model.lm_head.register_forward_hook(
        lambda m, a, o: calls.__setitem__("head", calls["head"] + 1)))
    handles.append(model.model.norm.register_forward_hook(
        lambda m, a, o: calls.__setitem__("norm", calls["norm"] + 1)))
    try:
        HiddenStateFeaturizer(tiny_llama_path, layer=1, batch_size=10).fit_transform(QUERIES)
        assert calls == {"layers": [1, 0, 0], "head": 0, "norm": 0}
        HiddenStateFeaturizer(tiny_llama_path, layer=-1, batch_size=10).fit_transform(QUERIES)
        assert calls == {"layers": [2, 1, 1], "head": 0, "norm": 1}
    finally:
        for h in handles:
            h.remove()


def test_truncation_keeps_the_end_and_warns(tiny_llama_path):
    long = "word " * 40
    feat = HiddenStateFeaturizer(tiny_llama_path, max_length=30, layer=2, pooling="last")
    with pytest.warns(UserWarning, match=r"1 of 2 prompts .* max_length=30"):
        X = feat.fit_transform([long, "hi"])
    ref = reference_features(tiny_llama_path, [long], 2, "last", keep_last=30)
    np.testing.assert_allclose(X[0], ref[0], rtol=1e-4, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        feat.transform(["hi"])  # short prompts: no warning


def test_prompt_template_string_and_none(tiny_gpt2_path):
    a = HiddenStateFeaturizer(tiny_gpt2_path, prompt_template="Q: {query}\nA:").fit_transform(["abc"])
    b = HiddenStateFeaturizer(tiny_gpt2_path, prompt_template=None).fit_transform(["Q: abc\nA:"])
    c = HiddenStateFeaturizer(tiny_gpt2_path).fit_transform(["abc"])
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(a, c, atol=1e-3)
    with pytest.raises(ValueError, match="template"):
        HiddenStateFeaturizer(tiny_gpt2_path, prompt_template="no placeholder").fit(["abc"])


# -- sklearn interface -----------------------------------------------------------

def test_input_containers_and_output(tiny_llama_path):
    feat = HiddenStateFeaturizer(tiny_llama_path).fit(QUERIES)
    X = feat.transform(QUERIES)
    assert X.shape == (len(QUERIES), 32) and X.dtype == np.float32
    for container in (np.array(QUERIES), np.array(QUERIES, dtype=object),
                      pd.Series(QUERIES), tuple(QUERIES),
                      pd.DataFrame({"q": QUERIES}), np.array(QUERIES)[:, None]):
        np.testing.assert_allclose(feat.transform(container), X, rtol=1e-5, atol=1e-6)
    names = feat.get_feature_names_out()
    assert list(names[:2]) == ["hidden_0", "hidden_1"] and len(names) == 32
    assert feat.n_features_out_ == 32 and feat.n_layers_ == 3


def test_set_output_pandas(tiny_llama_path):
    feat = HiddenStateFeaturizer(tiny_llama_path).set_output(transform="pandas")
    index = [10, 11, 12, 13, 14, 15]
    df = feat.fit_transform(pd.Series(QUERIES, index=index))
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[:2]) == ["hidden_0", "hidden_1"]
    assert list(df.index) == index


@pytest.mark.parametrize("bad, match", [
    ([], "empty"),
    (["ok", 3], "item 1 is int"),
    (["ok", None], "item 1 is NoneType"),
    (["ok", ""], "empty query string at index 1"),
    (["ok", "   "], "empty query string at index 1"),
    ("just one string", "single string"),
    (np.array([["a", "b"]]), "shape"),
    (pd.DataFrame({"a": ["x"], "b": ["y"]}), "2 columns"),
])
def test_bad_queries(tiny_llama_path, bad, match):
    feat = HiddenStateFeaturizer(tiny_llama_path)
    with pytest.raises(ValueError, match=match):
        feat.fit(bad)
    feat.fit(["fine"])
    with pytest.raises(ValueError, match=match):
        feat.transform(bad)


def test_bad_parameters(tiny_llama_path, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        HiddenStateFeaturizer(str(tmp_path / "missing")).fit(["q"])
    with pytest.raises(ValueError, match=r"layer=4 is out of range .* -4\.\.3"):
        HiddenStateFeaturizer(tiny_llama_path, layer=4).fit(["q"])
    with pytest.raises(ValueError, match=r"layer=-5 is out of range"):
        HiddenStateFeaturizer(tiny_llama_path, layer=-5).fit(["q"])
    with pytest.raises(ValueError, match="pooling"):
        HiddenStateFeaturizer(tiny_llama_path, pooling="max").fit(["q"])
    with pytest.raises(ValueError, match="batch_size"):
        HiddenStateFeaturizer(tiny_llama_path, batch_size=0).fit(["q"])
    model, tok = load_lm(tiny_llama_path)
    with pytest.raises(ValueError, match="pass its tokenizer"):
        HiddenStateFeaturizer(model).fit(["q"])
    with pytest.raises(ValueError, match="tokenizer is only for a model object"):
        HiddenStateFeaturizer(tiny_llama_path, tokenizer=tok).fit(["q"])
    with pytest.raises(ValueError, match="device"):
        HiddenStateFeaturizer(model, tokenizer=tok, device="meta").fit(["q"])


def test_transform_before_fit(tiny_llama_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        HiddenStateFeaturizer(tiny_llama_path).transform(["q"])


def test_verbose_progress_bar(tiny_llama_path, capsys):
    HiddenStateFeaturizer(tiny_llama_path, batch_size=2, verbose=1).fit_transform(QUERIES)
    assert "featurizing" in capsys.readouterr().err
    HiddenStateFeaturizer(tiny_llama_path, batch_size=2).fit_transform(QUERIES)
    assert "featurizing" not in capsys.readouterr().err


# -- clone, copy, pickle ---------------------------------------------------------

def test_clone_shares_a_model_object(tiny_llama_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model, tok = load_lm(tiny_llama_path)
    feat = HiddenStateFeaturizer(model, tokenizer=tok, layer=2).set_output(transform="pandas")
    twin = clone(feat)
    assert twin.model is model and twin.tokenizer is tok
    assert twin.layer == 2 and twin._sklearn_output_config == feat._sklearn_output_config
    pipe = clone(make_pipeline(feat, StandardScaler()))
    assert pipe[0].model is model
    deep = copy.deepcopy(feat.fit(["q"]))
    assert deep.model is model and deep.n_features_out_ == 32
    # the parameter count in memory does not change when cloning
    before = sum(p.data_ptr() for p in model.parameters())
    clones = [clone(feat) for _ in range(3)]
    assert all(c.model is model for c in clones)
    assert sum(p.data_ptr() for p in clones[0].model.parameters()) == before


def test_named_model_is_loaded_once(tiny_llama_path):
    a = HiddenStateFeaturizer(tiny_llama_path).fit(["q"])
    b = clone(a).fit(["q"])
    assert a._lm()[0] is b._lm()[0]


def test_pickle_stores_no_weights_and_reloads(tiny_llama_path):
    import io

    import joblib

    feat = HiddenStateFeaturizer(tiny_llama_path, layer=2).fit(QUERIES)
    X = feat.transform(QUERIES)
    blob = pickle.dumps(feat)
    assert len(blob) < 5_000  # the tiny model alone is ~100 kB of float32
    np.testing.assert_array_equal(pickle.loads(blob).transform(QUERIES), X)
    buf = io.BytesIO()
    joblib.dump(feat, buf)
    buf.seek(0)
    np.testing.assert_array_equal(joblib.load(buf).transform(QUERIES), X)


def test_unpickled_on_a_machine_without_the_device(tiny_llama_path):
    from skadapt._devices import DeviceWarning

    feat = HiddenStateFeaturizer(tiny_llama_path).fit(["q"])
    X = feat.transform(["q"])
    feat.device_ = "cuda:7"  # as if fitted on a GPU machine
    with pytest.warns(DeviceWarning, match="cuda:7"):
        restored = pickle.loads(pickle.dumps(feat))
    assert restored.device_ == "cpu"
    np.testing.assert_array_equal(restored.transform(["q"]), X)


@pytest.mark.parametrize("check", [
    "check_no_attributes_set_in_init", "check_parameters_default_constructible",
    "check_get_params_invariance", "check_set_params",
    "check_do_not_raise_errors_in_init_or_set_params",
])
def test_sklearn_api_checks(check):
    """The estimator checks that apply to an estimator taking strings."""
    from sklearn.utils import estimator_checks

    getattr(estimator_checks, check)("HiddenStateFeaturizer", HiddenStateFeaturizer())


def test_pickle_of_a_model_object_records_where_it_came_from(tiny_llama_path, tmp_path,
                                                            monkeypatch):
    """A model object pickles as its name_or_path plus its weights' hash; the copy
    reloads it from there and refuses weights that differ."""
    import copy
    import shutil

    import torch

    folder = tmp_path / "lm"
    shutil.copytree(tiny_llama_path, folder)
    model, tok = load_lm(str(folder))
    feat = HiddenStateFeaturizer(model, tokenizer=tok).fit(QUERIES)
    X = feat.transform(QUERIES)
    blob = pickle.dumps(feat)
    assert len(blob) < 100_000  # no weights inside
    restored = pickle.loads(blob)
    assert restored.model == str(folder) and restored.tokenizer is None
    np.testing.assert_array_equal(restored.transform(QUERIES), X)

    # a model changed in memory after loading: the pickle would reload other weights
    changed = copy.deepcopy(model)
    with torch.no_grad():
        next(changed.parameters()).add_(1.0)
    import skadapt._lm as _lm

    monkeypatch.setattr(_lm, "_CACHE", {})  # a fresh process's cache (restored after)
    blob = pickle.dumps(HiddenStateFeaturizer(changed, tokenizer=tok).fit(QUERIES))
    with pytest.raises(ValueError, match="not the one this featurizer was pickled with"):
        pickle.loads(blob).transform(QUERIES)

    nameless = copy.deepcopy(model)
    nameless.name_or_path = ""
    nameless.config._name_or_path = ""
    with pytest.raises(TypeError, match="records no name or path"):
        pickle.dumps(HiddenStateFeaturizer(nameless, tokenizer=tok))


def test_memory_with_a_model_object(tiny_llama_path, tmp_path):
    import copy

    import torch

    model, tok = load_lm(tiny_llama_path)
    model = copy.deepcopy(model)
    feat = HiddenStateFeaturizer(model, tokenizer=tok, memory=str(tmp_path)).fit()
    X = feat.transform(QUERIES)
    seen = []
    original = HiddenStateFeaturizer._featurize
    try:
        HiddenStateFeaturizer._featurize = (
            lambda self, chunk, progress=None: seen.extend(chunk)
            or original(self, chunk, progress=progress))
        np.testing.assert_array_equal(clone(feat).fit().transform(QUERIES), X)
        assert seen == []
        with torch.no_grad():  # new weights in place: a new cache key
            next(model.parameters()).mul_(2.0)
        clone(feat).fit().transform(QUERIES)
        assert seen == QUERIES
    finally:
        HiddenStateFeaturizer._featurize = original


# -- caching and model selection ----------------------------------------------

def _count_forward_passes(path):
    model, _ = load_lm(path)
    counter = {"n": 0}
    handle = model.get_input_embeddings().register_forward_hook(
        lambda m, a, o: counter.__setitem__("n", counter["n"] + 1))
    return counter, handle


def test_memory_runs_the_lm_once_per_query(tiny_llama_path, tmp_path):
    counter, handle = _count_forward_passes(tiny_llama_path)
    try:
        feat = HiddenStateFeaturizer(tiny_llama_path, batch_size=100,
                                     memory=str(tmp_path)).fit(QUERIES)
        X = feat.transform(QUERIES)
        assert counter["n"] == 1
        X2 = clone(feat).fit(QUERIES).transform(QUERIES)
        assert counter["n"] == 1
        np.testing.assert_array_equal(X, X2)
        # a subset, a reordering and duplicates are all cache hits
        np.testing.assert_array_equal(clone(feat).fit().transform(QUERIES[:2]), X[:2])
        rev = QUERIES[::-1] + QUERIES[:1]
        np.testing.assert_array_equal(clone(feat).fit().transform(rev),
                                      np.vstack([X[::-1], X[:1]]))
        assert counter["n"] == 1
        # a parameter that changes the features changes the key
        clone(feat).set_params(layer=1).fit(QUERIES).transform(QUERIES)
        assert counter["n"] == 2
        # one new query among cached ones: only it goes through the LM
        new = clone(feat).fit().transform(QUERIES + ["a query never seen"])
        assert counter["n"] == 3
        np.testing.assert_array_equal(new[:-1], X)
    finally:
        handle.remove()


def test_memory_features_match_uncached_and_dedupe(tiny_llama_path, tmp_path):
    queries = QUERIES + QUERIES[:2]
    plain = HiddenStateFeaturizer(tiny_llama_path).fit_transform(queries)
    cached = HiddenStateFeaturizer(tiny_llama_path, memory=str(tmp_path)).fit_transform(
        queries)
    np.testing.assert_allclose(cached, plain, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(cached[-2:], cached[:2])


def test_full_cache_hit_never_loads_the_lm(tiny_llama_path, tmp_path, monkeypatch):
    import skadapt._lm as _lm
    import skadapt.featurizer as featurizer_module

    X = HiddenStateFeaturizer(tiny_llama_path, memory=str(tmp_path)).fit_transform(
        QUERIES)
    monkeypatch.setattr(_lm, "_CACHE", {})  # a fresh process's cache (restored after)

    def refuse(*args, **kwargs):
        raise AssertionError("the LM was loaded on a full cache hit")

    monkeypatch.setattr(featurizer_module, "load_lm", refuse)
    feat = HiddenStateFeaturizer(tiny_llama_path, memory=str(tmp_path)).fit(QUERIES)
    np.testing.assert_array_equal(feat.transform(QUERIES[1:]), X[1:])
    assert feat.n_features_out_ == X.shape[1]
    with pytest.raises(AssertionError, match="loaded on a full cache hit"):
        feat.transform(["not cached yet"])


def test_memory_is_keyed_on_content_not_path(tiny_llama_path, tmp_path):
    import shutil

    copy_path = tmp_path / "moved"
    shutil.copytree(tiny_llama_path, copy_path)
    store = tmp_path / "features"
    HiddenStateFeaturizer(tiny_llama_path, memory=str(store)).fit_transform(QUERIES)
    HiddenStateFeaturizer(str(copy_path), memory=str(store)).fit_transform(QUERIES)
    assert len(list((store / "skadapt-features").iterdir())) == 1


def test_killed_featurization_resumes_without_loss(tiny_llama_path, tmp_path,
                                                   monkeypatch):
    import skadapt.featurizer as featurizer_module

    queries = [f"question number {i}" for i in range(7)]
    reference = HiddenStateFeaturizer(tiny_llama_path).fit_transform(queries)
    monkeypatch.setattr(featurizer_module, "_STORE_CHUNK", 3)
    feat = HiddenStateFeaturizer(tiny_llama_path, memory=str(tmp_path)).fit(queries)
    calls = {"n": 0}
    original = HiddenStateFeaturizer._featurize

    def dies_on_second_chunk(self, chunk, progress=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, chunk, progress=progress)

    monkeypatch.setattr(HiddenStateFeaturizer, "_featurize", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        feat.transform(queries)
    monkeypatch.setattr(HiddenStateFeaturizer, "_featurize", original)
    store = next((tmp_path / "skadapt-features").iterdir())
    assert len(list(store.glob("shard-*.npz"))) == 1  # the first chunk survived
    assert not list(store.glob(".*tmp"))  # and nothing half-written
    seen = []
    monkeypatch.setattr(HiddenStateFeaturizer, "_featurize",
                        lambda self, chunk, progress=None: seen.extend(chunk)
                        or original(self, chunk, progress=progress))
    X = feat.transform(queries)
    assert seen == queries[3:]  # only what the killed run had not written
    np.testing.assert_allclose(X, reference, rtol=1e-5, atol=1e-6)


def test_unreadable_shard_names_the_file(tiny_llama_path, tmp_path):
    feat = HiddenStateFeaturizer(tiny_llama_path, memory=str(tmp_path))
    feat.fit_transform(QUERIES)
    shard = next((tmp_path / "skadapt-features").glob("*/shard-*.npz"))
    shard.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="shard-.*unreadable.*delete it"):
        clone(feat).fit().transform(QUERIES)


def test_grid_search_with_cached_featurizer(tiny_llama_path, tmp_path):
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    queries = [f"question {i} " + "x" * int(rng.integers(1, 9)) for i in range(12)]
    y = np.array([len(q) for q in queries], dtype=float)
    seen = []
    original = HiddenStateFeaturizer._featurize
    try:
        HiddenStateFeaturizer._featurize = (
            lambda self, chunk, progress=None: seen.extend(chunk)
            or original(self, chunk, progress=progress))
        pipe = make_pipeline(
            HiddenStateFeaturizer(tiny_llama_path, batch_size=64, memory=str(tmp_path)),
            Ridge(),
        )
        search = GridSearchCV(pipe, {"ridge__alpha": [0.1, 1.0, 10.0]}, cv=3)
        search.fit(queries, y)
    finally:
        HiddenStateFeaturizer._featurize = original
    # every distinct query through the LM exactly once, whatever the folds and
    # candidates
    assert sorted(seen) == sorted(queries)


def test_grid_search_with_frozen_featurizer(tiny_llama_path, tmp_path):
    """FrozenEstimator: fitted once, never cloned or refitted by the search."""
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    queries = [f"question {i}" for i in range(9)]
    y = np.arange(9.0)
    feat = HiddenStateFeaturizer(tiny_llama_path, memory=str(tmp_path)).fit(queries)
    pipe = make_pipeline(FrozenEstimator(feat), Ridge())
    search = GridSearchCV(pipe, {"ridge__alpha": [0.1, 1.0]}, cv=3).fit(queries, y)
    assert search.best_estimator_[0].estimator is feat
    assert search.predict(queries[:2]).shape == (2,)


def test_precomputed_features_pattern(tiny_llama_path):
    """The cheapest GridSearchCV: featurize once, search over the downstream steps."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV

    queries = [f"q{i}" for i in range(9)]
    X = HiddenStateFeaturizer(tiny_llama_path).fit_transform(queries)
    search = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=3).fit(X, np.arange(9.0))
    assert search.best_estimator_.coef_.shape == (32,)


def test_pipeline_with_probe_and_allocator(tiny_llama_path, tmp_path):
    """The issue's bar: strings + a raw outcome matrix in, budgets out."""
    import joblib
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    probes = pytest.importorskip("skadapt.probes")
    allocation = pytest.importorskip("skadapt.allocation")
    rng = np.random.default_rng(0)
    n, m = 24, 8
    queries = [("easy " if i % 2 else "hard ") + str(i) for i in range(n)]
    p = np.where(np.arange(n) % 2 == 1, 0.9, 0.1)
    R = (rng.random((n, m)) < p[:, None]).astype(float)
    pipe = make_pipeline(
        HiddenStateFeaturizer(tiny_llama_path, memory=str(tmp_path / "features")),
        probes.SuccessProbClassifier(max_iter=30, random_state=0),
        allocation.GreedyAllocator(2.0, max_budget=4, kind="success_prob"),
    )
    pipe.fit(queries, R)
    budgets = pipe.transform(["easy 99", "hard 98", "easy 97"])
    assert budgets.shape == (3, 1)
    assert budgets.sum() <= 2.0 * 3
    twin = clone(pipe)
    assert twin.steps[0][1].get_params() == pipe.steps[0][1].get_params()
    path = tmp_path / "pipe.joblib"
    joblib.dump(pipe, path)
    assert path.stat().st_size < 1_000_000
    np.testing.assert_array_equal(joblib.load(path).transform(["easy 99", "hard 98", "easy 97"]),
                                  budgets)
    from skadapt.metrics import make_allocation_scorer

    grid = {"successprobclassifier__alpha": [1e-4, 1e-2, 1.0]}
    search = GridSearchCV(pipe, grid, cv=2, scoring=make_allocation_scorer())
    counter, handle = _count_forward_passes(tiny_llama_path)
    try:
        search.fit(queries, R)
    finally:
        handle.remove()
    # the features of every fold's train and test queries were cached by the
    # pipeline fit above or are computed once here, whatever the grid size
    assert counter["n"] <= 4
    assert search.best_estimator_.transform(["easy 1"]).shape == (1, 1)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


# -- the real model ----------------------------------------------------------------

@pytest.mark.slow
def test_smollm2_features(smollm2):
    prompts = ["What is 7 * 8?", "Write a haiku about autumn.",
               "Solve for x: 3x + 5 = 20."]
    feat = HiddenStateFeaturizer("smollm2", batch_size=3, device="cpu")
    X = feat.fit_transform(prompts)
    assert X.shape == (3, 576) and np.isfinite(X).all()
    np.testing.assert_array_equal(feat.transform(prompts), X)  # deterministic
    alone = HiddenStateFeaturizer("smollm2", batch_size=1, device="cpu").fit_transform(prompts[1:2])
    np.testing.assert_allclose(alone[0], X[1], rtol=1e-4, atol=1e-4)
    mid = HiddenStateFeaturizer("smollm2", layer=15, device="cpu").fit_transform(prompts[:1])
    assert mid.shape == (1, 576) and not np.allclose(mid[0], X[0], atol=1e-2)
