"""skadapt.persistence (save/load without pickle) and the skadapt version in pickles.

Every estimator is saved here, loaded in a *fresh Python process* (one that refuses to
unpickle anything) and must give exactly the outputs of the original. Tampered folders
must fail with an error that names what is wrong.
"""

import dataclasses
import json
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import skadapt
from skadapt import (
    BinnedAllocator,
    GreedyAllocator,
    HiddenStateFeaturizer,
    LoRAProbe,
    MarginalRewardRegressor,
    SuccessProbClassifier,
)
from skadapt._devices import DeviceWarning
from skadapt.persistence import InconsistentVersionWarning, load, save
from skadapt.budget_search import BudgetSearchCV
from skadapt.routing import BestOfKPreference, Router
from skadapt.calibration import CalibratedCurves

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 24


@pytest.fixture(autouse=True)
def quiet(one_torch_thread):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def queries(n=N):
    return [("easy " if i % 2 else "hard ") + str(i) for i in range(n)]


def numeric_data(n=60, d=5, m=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    lam = 1 / (1 + np.exp(-2 * X[:, 0]))
    R = (rng.random((n, m)) < lam[:, None]).astype(float)
    return X, R


def mlp(cls, **params):
    return cls(**{"hidden_layer_sizes": (8,), "max_iter": 15, "random_state": 0, **params})


@pytest.fixture(scope="module")
def cases(tiny_llama_path, one_torch_thread):
    """name -> (fitted estimator, input, methods called in order)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        X, R = numeric_data()
        frame = pd.DataFrame(X, columns=[f"h{i}" for i in range(X.shape[1])])
        text = queries()
        R_text = (np.random.default_rng(1).random((N, 4)) < 0.5).astype(float)
        lam = np.random.default_rng(2).random((40, 1))
        delta = np.sort(np.random.default_rng(3).random((40, 5)), axis=1)[:, ::-1]
        paced = BinnedAllocator(budget=2, max_budget=4, kind="success_prob", pacing=True)
        paced.fit(lam, (np.random.default_rng(4).random((40, 4)) < lam).astype(float))
        paced.transform(lam[:7])  # a pacing account that is not fresh
        return {
            # column names: feature_names_in_ (an object array) must survive
            "success_prob_point": (
                mlp(SuccessProbClassifier, max_budget=4, hedge=0.5).fit(frame, R), frame,
                ["predict_proba", "predict", "transform", "novelty_score",
                 "predict_marginal_rewards"]),
            "success_prob_beta": (
                mlp(SuccessProbClassifier, head="beta", max_budget=3,
                    neighbor_novelty_power=1.0).fit(X, R), X,
                ["predict_distribution", "transform", "hedge_weights"]),
            "marginal_regressor": (
                mlp(MarginalRewardRegressor, max_budget=4, early_stopping=True).fit(X, R), X,
                ["predict", "transform"]),
            "greedy_allocator": (
                GreedyAllocator(budget=1.5, min_budget=1).fit(delta), delta, ["transform"]),
            "binned_allocator_paced": (paced, lam, ["transform", "transform"]),
            "router": (Router(fraction=0.3, threshold="fit").fit(lam), lam,
                       ["transform"]),
            "best_of_k_preference": (
                BestOfKPreference(k=3).fit(delta), delta, ["transform"]),
            "calibrated_curves": (
                CalibratedCurves(mlp(SuccessProbClassifier, max_budget=4), cv=3, n_bins=3)
                .fit(X, R, groups=np.arange(len(X)) % 4), X, ["transform"]),
            "budget_search": (
                BudgetSearchCV(mlp(SuccessProbClassifier, max_budget=4), target=0.3,
                               max_budget=4, cv=3, random_state=0).fit(X, R), X,
                ["predict", "transform"]),
            "featurizer": (
                HiddenStateFeaturizer(tiny_llama_path, layer=1, pooling="mean").fit(), text,
                ["transform"]),
            "lora_probe": (
                LoRAProbe(tiny_llama_path, kind="marginal", max_budget=3, max_iter=2,
                          batch_size=8, random_state=0).fit(text, R_text), text,
                ["transform", "predict"]),
            "pipeline": (
                make_pipeline(
                    HiddenStateFeaturizer(tiny_llama_path),
                    mlp(SuccessProbClassifier, cv=2, early_stopping=False),
                    BinnedAllocator(budget=2, max_budget=4, kind="success_prob"),
                ).fit(text, R_text), text, ["transform"]),
        }


# The child process: load every saved folder and write what each method returns.
# Unpickling is disabled there, so a pass proves that loading reads no pickle.
CHILD = r"""
import json, pickle, sys, traceback
import numpy as np
import pandas as pd
import torch

class NoUnpickling(pickle.Unpickler):
    def __init__(self, *args, **kwargs):
        raise AssertionError("a pickle was read")

def no_unpickling(*args, **kwargs):
    raise AssertionError("a pickle was read")

pickle.Unpickler = NoUnpickling
pickle.load = pickle.loads = torch.load = no_unpickling
torch.set_num_threads(1)

from skadapt.persistence import load

spec = json.load(open(sys.argv[1]))
for name, case in spec.items():
    try:
        est = load(case["folder"])
        if case["kind"] == "text":
            X = json.load(open(case["input"]))
        else:
            X = np.load(case["input"], allow_pickle=False)["X"]
            if case["columns"] is not None:
                X = pd.DataFrame(X, columns=case["columns"])
        out = {f"{i}_{m}": np.asarray(getattr(est, m)(X)) for i, m in enumerate(case["methods"])}
        np.savez(case["output"], **out)
        report = {"attributes": sorted(vars(est))}
    except BaseException:
        report = {"error": traceback.format_exc()}
    with open(case["report"], "w") as fh:
        json.dump(report, fh)
"""


def call_methods(est, X, methods):
    return {f"{i}_{m}": np.asarray(getattr(est, m)(X)) for i, m in enumerate(methods)}


@pytest.fixture(scope="module")
def fresh_process(cases, tmp_path_factory):
    """Save every case, load them all in one new process; return (expected, got, reports)."""
    root = tmp_path_factory.mktemp("persistence")
    spec, expected = {}, {}
    for name, (est, X, methods) in cases.items():
        folder = root / name
        save(est, folder)
        entry = {"folder": str(folder), "methods": methods, "output": str(root / f"{name}.out.npz"),
                 "report": str(root / f"{name}.report.json")}
        if isinstance(X, list):
            entry.update(kind="text", input=str(root / f"{name}.in.json"))
            with open(entry["input"], "w") as fh:
                json.dump(X, fh)
        else:
            columns = list(X.columns) if isinstance(X, pd.DataFrame) else None
            entry.update(kind="numeric", input=str(root / f"{name}.in.npz"), columns=columns)
            np.savez(entry["input"], X=np.asarray(X))
        spec[name] = entry
        # after saving: a paced allocator's account moves on with every call, in
        # the child from the same saved state
        expected[name] = call_methods(est, X, methods)
    (root / "spec.json").write_text(json.dumps(spec))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(root / "spec.json")],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    got, reports = {}, {}
    for name, entry in spec.items():
        reports[name] = json.load(open(entry["report"]))
        if "error" not in reports[name]:
            with np.load(entry["output"], allow_pickle=False) as npz:
                got[name] = {k: npz[k] for k in npz.files}
    return expected, got, reports


CASES = ["success_prob_point", "success_prob_beta", "marginal_regressor", "greedy_allocator",
         "binned_allocator_paced", "router", "best_of_k_preference", "calibrated_curves", "budget_search", "featurizer", "lora_probe",
         "pipeline"]


@pytest.mark.parametrize("name", CASES)
def test_fresh_process_gives_identical_outputs(name, fresh_process, cases):
    expected, got, reports = fresh_process
    assert "error" not in reports[name], reports[name]["error"]
    assert sorted(got[name]) == sorted(expected[name])
    for key, want in expected[name].items():
        assert got[name][key].dtype == want.dtype, key
        np.testing.assert_array_equal(got[name][key], want, err_msg=f"{name}: {key}")
    assert reports[name]["attributes"] == sorted(vars(cases[name][0]))


def test_cases_cover_every_loadable_class(cases):
    from skadapt.persistence import LOADABLE_CLASSES, _qualname

    def classes(est):
        yield _qualname(type(est))
        for _, step in getattr(est, "steps", []):
            yield from classes(step)

    covered = {c for est, _, _ in cases.values() for c in classes(est)}
    assert covered == set(LOADABLE_CLASSES)


# ------------------------------------------------------------ nothing silently lost
def assert_same(a, b, where):
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, torch.nn.Module):
        sa, sb = a.state_dict(), b.state_dict()
        assert list(sa) == list(sb), where
        for k in sa:
            assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k].cpu(), sb[k].cpu()), f"{where}.{k}"
    elif isinstance(a, NearestNeighbors):
        assert a.get_params() == b.get_params(), where
        assert_same(a._fit_X, b._fit_X, f"{where}._fit_X")
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    elif isinstance(a, Pipeline):
        assert [n for n, _ in a.steps] == [n for n, _ in b.steps], where
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, obj=where)
    elif hasattr(a, "get_params"):  # an estimator held by another (a search's)
        assert_same(a.get_params(deep=False), b.get_params(deep=False), f"{where}.params")
        params = set(a.get_params(deep=False))
        assert_same({k: vars(a)[k] for k in sorted(vars(a)) if k not in params},
                    {k: vars(b)[k] for k in sorted(vars(b)) if k not in params}, where)
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.parametrize("name", CASES)
def test_every_fitted_attribute_round_trips(name, cases, tmp_path):
    est = cases[name][0]
    save(est, tmp_path / "saved")
    loaded = load(tmp_path / "saved")
    steps = est.steps if isinstance(est, Pipeline) else [(None, est)]
    loaded_steps = loaded.steps if isinstance(loaded, Pipeline) else [(None, loaded)]
    for (step_name, a), (_, b) in zip(steps, loaded_steps):
        assert type(a) is type(b)
        fitted = [k for k in vars(a) if k.endswith("_")]
        assert fitted, f"{step_name}: not fitted"
        # every attribute, fitted (trailing _) or private (leading _), and the params
        assert set(vars(b)) == set(vars(a)), set(vars(b)) ^ set(vars(a))
        for k in vars(a):
            assert_same(getattr(a, k), getattr(b, k), f"{name}/{step_name}.{k}")


def test_loading_leaves_torch_global_rng_alone(cases, tmp_path):
    save(cases["success_prob_point"][0], tmp_path / "probe")
    before = torch.get_rng_state()
    load(tmp_path / "probe")
    assert torch.equal(torch.get_rng_state(), before)


# ------------------------------------------------------------------------- tampering
@pytest.fixture
def saved_probe(tmp_path):
    X, R = numeric_data()
    est = mlp(SuccessProbClassifier).fit(X, R)
    folder = tmp_path / "probe"
    save(est, folder)
    return est, X, folder


def edit_manifest(folder, change):
    path = folder / "skadapt.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def edit_tensors(folder, change, *, manifest_too=True):
    file = folder / "module_.safetensors"
    tensors = load_file(file)
    change(tensors)
    save_file(tensors, file)
    if manifest_too:
        def fix(m):
            m["modules"]["module_"]["tensors"] = {
                k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)}
                for k, v in tensors.items()}
        edit_manifest(folder, fix)


def test_missing_tensor_is_named(saved_probe):
    _, _, folder = saved_probe
    edit_tensors(folder, lambda t: t.pop("body.0.bias"), manifest_too=False)
    with pytest.raises(ValueError, match=r"lists: missing tensors \['body.0.bias'\]"):
        load(folder)
    # the manifest changed too: the rebuilt network still needs the tensor
    edit_tensors(folder, lambda t: None)
    with pytest.raises(ValueError, match=r"does not fit SuccessProbClassifier.module_.*"
                                         r"missing tensors \['body.0.bias'\]"):
        load(folder)


def test_unexpected_tensor_is_named(saved_probe):
    _, _, folder = saved_probe
    edit_tensors(folder, lambda t: t.update({"body.9.weight": torch.zeros(2, 2)}))
    with pytest.raises(ValueError, match=r"unexpected tensors \['body.9.weight'\]"):
        load(folder)


@pytest.mark.parametrize("bad", [torch.zeros(3, 5), torch.zeros(8, 5, dtype=torch.float64)])
def test_tensor_of_another_shape_or_dtype(saved_probe, bad):
    _, _, folder = saved_probe
    edit_tensors(folder, lambda t: t.update({"body.0.weight": bad}))
    with pytest.raises(ValueError, match=r"another shape or dtype, e.g. 'body.0.weight'"):
        load(folder)


def test_truncated_weights(saved_probe):
    _, _, folder = saved_probe
    file = folder / "module_.safetensors"
    file.write_bytes(file.read_bytes()[:50])
    with pytest.raises(ValueError, match="cannot be read as safetensors"):
        load(folder)


def test_missing_extra_and_reshaped_arrays(saved_probe):
    _, _, folder = saved_probe
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    less = dict(arrays)
    less.pop("feature_scale_")
    np.savez(folder / "arrays.npz", **less)
    with pytest.raises(ValueError, match=r"missing \['feature_scale_'\], unexpected \[\]"):
        load(folder)
    np.savez(folder / "arrays.npz", **arrays, extra_=np.zeros(3))
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['extra_'\]"):
        load(folder)
    np.savez(folder / "arrays.npz", **{**arrays, "feature_mean_": np.zeros(7)})
    with pytest.raises(ValueError, match=r"'feature_mean_' has dtype <f8 and shape \[7\]"):
        load(folder)
    # listed in the manifest and the file, but no attribute refers to it
    np.savez(folder / "arrays.npz", **arrays, extra_=np.zeros(3))
    edit_manifest(folder, lambda m: m["arrays"].update(extra_={"dtype": "<f8", "shape": [3]}))
    with pytest.raises(ValueError, match=r"no attribute uses: \['extra_'\]"):
        load(folder)


class Boom:
    """Unpickling it would create a folder: a stand-in for arbitrary code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickle_inside_npz_is_refused_unread(saved_probe, tmp_path):
    _, _, folder = saved_probe
    marker = str(tmp_path / "code-ran")
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["feature_mean_"] = np.array([Boom(marker)] * 5, dtype=object)
    np.savez(folder / "arrays.npz", **arrays)
    edit_manifest(folder, lambda m: m["arrays"]["feature_mean_"].update(dtype="|O"))
    with pytest.raises(ValueError, match=r"'feature_mean_' holds Python objects \(a pickle\)"):
        load(folder)
    assert not os.path.exists(marker)


@pytest.mark.parametrize("qualname", ["os.system", "skadapt.probes._BaseMLPProbe",
                                      "sklearn.preprocessing._data.StandardScaler"])
def test_unknown_class_is_refused(saved_probe, qualname):
    _, _, folder = saved_probe
    edit_manifest(folder, lambda m: m.update({"class": qualname}))
    with pytest.raises(ValueError, match=f"names the class '{qualname}', which "
                                         "skadapt.persistence does not load"):
        load(folder)


@pytest.mark.parametrize("change, message", [
    (lambda m: m["params"].update(bogus=1), r"missing \[\], unexpected \['bogus'\]"),
    (lambda m: m["params"].pop("alpha"), r"missing \['alpha'\], unexpected \[\]"),
    (lambda m: m["params"].update(alpha={"$array": "feature_mean_"}),
     "parameter alpha: a parameter cannot hold '\\$array'"),
    (lambda m: m["attributes"].update(predict=1), "attribute name 'predict' is not"),
    (lambda m: m["attributes"].update(__class__=1), "attribute name '__class__' is not"),
    (lambda m: m["attributes"].update(n_iter_={"$eval": "1"}), "unknown entry '\\$eval'"),
    (lambda m: m["attributes"].update(n_iter_={"a": 1, "b": 2}), "unexpected value"),
    (lambda m: m.update(format_version=2), "reads format_version 1 only"),
    (lambda m: m.update(format="other"), "is not a skadapt save"),
    (lambda m: m.pop("attributes"), r"lacks the entries \['attributes'\]"),
    (lambda m: m["modules"].update(other_=m["modules"]["module_"]),
     r"has no torch modules named \['other_'\]"),
])
def test_tampered_manifest(saved_probe, change, message):
    _, _, folder = saved_probe
    edit_manifest(folder, change)
    with pytest.raises(ValueError, match=message):
        load(folder)


def leaf_paths(obj, path=()):
    if isinstance(obj, (dict, list)) and obj:
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for key, value in items:
            yield from leaf_paths(value, path + (key,))
    elif path:
        yield path


def test_any_tampered_manifest_value_fails_cleanly(saved_probe, tmp_path):
    """Each JSON value replaced by junk: the load succeeds or raises ValueError, never a
    TypeError, KeyError or RuntimeError from deep inside."""
    lam = np.random.default_rng(0).random((20, 1))
    allocator = BinnedAllocator(budget=2, max_budget=4, kind="success_prob", pacing=True)
    save(allocator.fit(lam), tmp_path / "allocator")
    for folder in [saved_probe[2], tmp_path / "allocator"]:
        original = json.loads((folder / "skadapt.json").read_text())
        for path in leaf_paths(original):
            for junk in [None, "x", [1, "a"], {"$float": "nan"}]:
                manifest = json.loads(json.dumps(original))
                node = manifest
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = junk
                (folder / "skadapt.json").write_text(json.dumps(manifest))
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        load(folder)
                except ValueError:
                    pass


def test_manifest_that_is_not_json(saved_probe):
    _, _, folder = saved_probe
    (folder / "skadapt.json").write_text('{"format": NaN')
    with pytest.raises(ValueError, match="not valid JSON"):
        load(folder)


def test_missing_files(saved_probe, tmp_path):
    _, _, folder = saved_probe
    with pytest.raises(FileNotFoundError, match="is not a folder written by"):
        load(tmp_path / "nowhere")
    os.remove(folder / "module_.safetensors")
    with pytest.raises(FileNotFoundError, match="has no module_.safetensors"):
        load(folder)
    os.remove(folder / "skadapt.json")
    with pytest.raises(FileNotFoundError, match="has no skadapt.json"):
        load(folder)


def test_missing_device_falls_back_to_cpu(saved_probe):
    est, X, folder = saved_probe
    edit_manifest(folder, lambda m: m["attributes"].update(device_="cuda:7"))
    with pytest.warns(DeviceWarning, match="cuda:7"):
        loaded = load(folder)
    assert loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


# ------------------------------------------------------------------------- saving
def test_save_refuses_what_it_cannot_hold(tmp_path, tiny_llama_path):
    X, R = numeric_data()
    with pytest.raises(TypeError, match="parameter random_state is a numpy.random.mtrand.RandomState, "
                                        "which the non-pickle format cannot hold.*"
                                        "set it to an int or None"):
        save(mlp(SuccessProbClassifier, random_state=np.random.RandomState(0)), tmp_path / "a")
    est = GreedyAllocator(max_budget=2).fit(X[:, :2])
    est.extra_ = object()
    with pytest.raises(TypeError, match="GreedyAllocator: extra_ is a builtins.object"):
        save(est, tmp_path / "b")
    est.extra_ = {1: 2}
    with pytest.raises(TypeError, match="extra_ has a key that is not a string: 1"):
        save(est, tmp_path / "b")
    with pytest.raises(TypeError, match="Pipeline step 'standardscaler'.*StandardScaler"):
        save(make_pipeline(StandardScaler(), GreedyAllocator()), tmp_path / "c")

    class MyAllocator(GreedyAllocator):
        pass

    with pytest.raises(TypeError, match="got a .*MyAllocator"):
        save(MyAllocator(), tmp_path / "d")
    from skadapt._lm import load_lm

    model, tokenizer = load_lm(tiny_llama_path)
    with pytest.raises(TypeError, match="parameter model is a transformers.*LlamaForCausalLM"):
        save(HiddenStateFeaturizer(model, tokenizer=tokenizer), tmp_path / "e")
    assert list(tmp_path.iterdir()) == []  # failed saves leave nothing behind


def test_save_never_replaces_other_folders(tmp_path):
    est = GreedyAllocator(max_budget=2).fit([[0.5, 0.1]])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        save(est, tmp_path / "mine")
    with pytest.raises(FileExistsError, match="not an earlier skadapt save"):
        save(est, tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    save(est, tmp_path / "policy")
    with pytest.raises(FileExistsError):
        save(est.set_params(budget=2.0), tmp_path / "policy")
    save(est, tmp_path / "policy", overwrite=True)
    assert load(tmp_path / "policy").budget == 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "policy"]


def test_unfitted_estimator_and_odd_params_round_trip(tmp_path):
    est = MarginalRewardRegressor(hidden_layer_sizes=np.int64(4), device=torch.device("cpu"),
                                  cv=None)
    save(est, tmp_path / "unfitted")
    loaded = load(tmp_path / "unfitted")
    for k, v in est.get_params().items():
        assert_same(v, loaded.get_params()[k], k)
    allocator = GreedyAllocator(max_budget=2).fit([[0.5, 0.1]])
    allocator.note_ = {"a b": [float("nan"), float("-inf"), (1, "x")], "n": np.float32(0.5),
                       "s": np.array(["a", "b"])}
    allocator.file = np.arange(3)  # would collide with np.savez(file, ...)
    save(allocator, tmp_path / "note")
    assert_same(load(tmp_path / "note").note_, allocator.note_, "note_")
    assert_same(load(tmp_path / "note").file, allocator.file, "file")
    featurizer = HiddenStateFeaturizer(tmp_path / "some-model", dtype=torch.bfloat16)
    save(featurizer, tmp_path / "featurizer")
    assert_same(load(tmp_path / "featurizer").model, featurizer.model, "model")
    assert load(tmp_path / "featurizer").dtype is torch.bfloat16


# ------------------------------------------------------------------------- versions
def test_other_version_warns_on_load(saved_probe):
    est, X, folder = saved_probe
    edit_manifest(folder, lambda m: m.update(skadapt_version="0.0.1"))
    with pytest.warns(InconsistentVersionWarning, match="saved with skadapt 0.0.1") as record:
        loaded = load(folder)
    assert record[0].message.original_skadapt_version == "0.0.1"
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize("est", [
    GreedyAllocator(), BinnedAllocator(), SuccessProbClassifier(), MarginalRewardRegressor(),
    HiddenStateFeaturizer("some-model"), LoRAProbe("some-model"), Router(), CalibratedCurves(), BestOfKPreference(),
], ids=lambda e: type(e).__name__)
def test_pickles_carry_the_version(est, monkeypatch):
    blob = pickle.dumps(est)
    original = skadapt.__version__
    assert est.__getstate__()["_skadapt_version"] == skadapt.__version__
    assert "_skadapt_version" not in vars(est)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        same = pickle.loads(blob)
    assert "_skadapt_version" not in vars(same)
    monkeypatch.setattr(skadapt, "__version__", "99.0")
    with pytest.warns(InconsistentVersionWarning) as record:
        pickle.loads(blob)
    warning = record[0].message
    assert (warning.estimator_name, warning.original_skadapt_version,
            warning.current_skadapt_version) == (type(est).__name__, original, "99.0")


def test_pickle_without_version_warns(saved_probe):
    est, X, _ = saved_probe
    state = est.__getstate__()
    del state["_skadapt_version"]
    restored = SuccessProbClassifier.__new__(SuccessProbClassifier)
    with pytest.warns(InconsistentVersionWarning, match="did not record itself"):
        restored.__setstate__(state)
    np.testing.assert_array_equal(restored.predict_proba(X), est.predict_proba(X))


def test_pickle_from_before_a_new_parameter_loads_with_its_default():
    """A BinnedAllocator pickled before ``price`` existed: warned, then works as before."""
    rng = np.random.default_rng(0)
    lam = rng.uniform(0.01, 0.9, size=(60, 1))
    alloc = BinnedAllocator(2, max_budget=8, kind="success_prob", n_bins=4).fit(lam)
    state = alloc.__getstate__()
    del state["price"], state["_skadapt_version"]
    old = BinnedAllocator.__new__(BinnedAllocator)
    with pytest.warns(InconsistentVersionWarning, match="did not record itself"):
        old.__setstate__(state)
    assert old.get_params()["price"] is None
    assert "price=" not in repr(old)  # the default, as for a new estimator
    np.testing.assert_array_equal(old.transform(lam), alloc.transform(lam))
    assert clone(old).get_params() == alloc.get_params()


def test_folder_from_an_older_version_lacking_a_parameter_loads(tmp_path):
    """The folder format fills a parameter added since the saving version with its
    default (warned); within one version a missing parameter stays an error."""
    lam = np.random.default_rng(1).uniform(0.01, 0.9, size=(60, 1))
    alloc = BinnedAllocator(2, max_budget=8, kind="success_prob", n_bins=4).fit(lam)
    save(alloc, tmp_path / "b")
    edit_manifest(tmp_path / "b", lambda m: m["params"].pop("price"))
    with pytest.raises(ValueError, match=r"missing \['price'\]"):
        load(tmp_path / "b")
    edit_manifest(tmp_path / "b", lambda m: m.update(skadapt_version="0.1.0"))
    with pytest.warns(InconsistentVersionWarning, match="saved with skadapt 0.1.0"):
        old = load(tmp_path / "b")
    assert old.get_params() == alloc.get_params()
    np.testing.assert_array_equal(old.transform(lam), alloc.transform(lam))


def test_fitted_pickle_still_round_trips(saved_probe):
    est, X, _ = saved_probe
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))


def test_nested_estimators_are_checked(cases, tmp_path):
    """A search saves the estimators it holds in estimators/<i>; a missing or extra
    one is an error, and each is loaded as strictly as a top-level save."""
    import shutil

    search = cases["budget_search"][0]
    save(search, tmp_path / "s")
    shutil.copytree(tmp_path / "s", tmp_path / "extra")
    shutil.copytree(tmp_path / "s" / "estimators" / "0",
                    tmp_path / "extra" / "estimators" / "9")
    with pytest.raises(ValueError, match="the estimators/ folder holds"):
        load(tmp_path / "extra")
    shutil.rmtree(tmp_path / "s" / "estimators" / "1")
    with pytest.raises((ValueError, FileNotFoundError), match="estimators"):
        load(tmp_path / "s")
