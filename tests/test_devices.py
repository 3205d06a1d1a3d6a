"""One device policy for every estimator (skadapt._devices.resolve_device)."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from skadapt import _devices, _lm
from skadapt._devices import resolve_device, same_device
from skadapt.featurizer import HiddenStateFeaturizer
from skadapt.lora import LoRAProbe
from skadapt.probes import MarginalRewardRegressor, SuccessProbClassifier


@pytest.fixture
def apple_machine(monkeypatch):
    """A machine with MPS and no CUDA: where the old policies disagreed."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    mps = getattr(torch.backends, "mps", None)
    if mps is None:
        pytest.skip("this torch build has no torch.backends.mps")
    monkeypatch.setattr(mps, "is_available", lambda: True)


def _fitted_devices(path):
    queries = ["easy 1", "hard 2", "easy 3", "hard 4"]
    R = np.array([[1, 1], [0, 0], [1, 0], [0, 1]], dtype=float)
    X = np.random.default_rng(0).normal(size=(4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return {
            "featurizer": HiddenStateFeaturizer(model=path, layer=1).fit(queries).device_,
            "lora": LoRAProbe(path, max_iter=1, batch_size=4, random_state=0)
            .fit(queries, R).device_,
            "success": SuccessProbClassifier(hidden_layer_sizes=(2,), max_iter=1)
            .fit(X, R).device_,
            "marginal": MarginalRewardRegressor(hidden_layer_sizes=(2,), max_iter=1)
            .fit(X, R).device_,
            "load_lm": _lm.check_device("auto"),
        }


def test_auto_never_picks_mps_anywhere(apple_machine, tiny_llama_path, one_torch_thread):
    # the featurizer used to pick MPS here while the probes picked CPU
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert set(_fitted_devices(tiny_llama_path).values()) == {"cpu"}
    # MPS by name stays possible (it is "available" on this pretend machine)
    assert resolve_device("mps").type == "mps"


def test_every_estimator_agrees_with_the_policy(tiny_llama_path, one_torch_thread):
    expected = str(resolve_device("auto"))
    assert set(_fitted_devices(tiny_llama_path).values()) == {expected}


QUERIES = ["a", "b", "c", "d"]


@pytest.mark.parametrize("make, X", [
    (lambda device: HiddenStateFeaturizer(model="unused", device=device), QUERIES),
    (lambda device: SuccessProbClassifier(device=device, max_iter=1), np.zeros((4, 2))),
    (lambda device: LoRAProbe("unused", device=device, max_iter=1), QUERIES),
])
def test_every_estimator_refuses_the_same_devices(make, X, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for bad, message in [("gpu9", "device 'gpu9' is not a torch device"),
                         ("cuda", "no CUDA GPU is available")]:
        with pytest.raises(ValueError, match=message):
            make(bad).fit(X, np.ones((4, 2)))


def test_unavailable_devices_are_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not _devices.device_available("cuda:0")
    assert _devices.device_available("cpu")
    with pytest.raises(ValueError, match="device='cuda:1' is not available on this machine"):
        resolve_device("cuda:1")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device(3.5)


def test_same_device():
    assert same_device("cpu", torch.device("cpu"))
    assert not same_device("cpu", "meta")
    if torch.cuda.is_available():
        assert same_device("cuda", f"cuda:{torch.cuda.current_device()}")
