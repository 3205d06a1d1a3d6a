"""Model selection over whole policies: how often a search featurizes and fits.

skadapt.policy.make_policy sets each probe's cross_fit from the step after it
(skadapt._cross_fit.fit_needs_held_out); Pipeline(memory=...) caches the featurizer's
and the probe's fit_transform across candidates that differ only in later steps.
"""

import pickle
import warnings
from collections import Counter

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import skadapt._mlp_probe
from skadapt import (
    BinnedAllocator,
    GreedyAllocator,
    HiddenStateFeaturizer,
    MarginalRewardRegressor,
    Router,
    SuccessProbClassifier,
    make_policy,
)
from skadapt._cross_fit import fit_needs_held_out
from skadapt.metrics import make_allocation_scorer


@pytest.fixture
def count_probe_fits(monkeypatch):
    """Records the ``alpha`` of every run of the probes' training loop."""
    fits = []
    original = skadapt._mlp_probe.train_module

    def counting(module, **kwargs):
        fits.append(kwargs["alpha"])
        return original(module, **kwargs)

    monkeypatch.setattr(skadapt._mlp_probe, "train_module", counting)
    return fits


@pytest.fixture
def count_featurized(monkeypatch):
    """Records every query passed through the language model."""
    seen = []
    original = HiddenStateFeaturizer._featurize

    def counting(self, chunk, progress=None):
        seen.extend(chunk)
        return original(self, chunk, progress=progress)

    monkeypatch.setattr(HiddenStateFeaturizer, "_featurize", counting)
    return seen


def _outcomes(n, m=8, seed=0):
    rng = np.random.default_rng(seed)
    p = np.where(np.arange(n) % 2 == 1, 0.9, 0.1)
    return (rng.random((n, m)) < p[:, None]).astype(float)


def test_grid_over_budget_and_alpha_fits_each_probe_setting_once_per_fold(
        tiny_llama_path, tmp_path, count_probe_fits, count_featurized):
    """The issue's bar: each distinct query featurized once, each alpha fitted once per
    fold (+ once for the refit), however many budgets the grid holds."""
    n = 24
    queries = [("easy " if i % 2 else "hard ") + str(i) for i in range(n)]
    R = _outcomes(n)
    policy = make_policy(
        HiddenStateFeaturizer(tiny_llama_path, memory=str(tmp_path / "features")),
        SuccessProbClassifier(max_iter=5, early_stopping=False, random_state=0),
        GreedyAllocator(2.0, max_budget=4, kind="success_prob"),
        memory=str(tmp_path / "pipeline"),
    )
    alphas, budgets, n_folds = [1e-4, 1e-2], [1.0, 2.0, 3.0], 3
    search = GridSearchCV(
        policy,
        {"greedyallocator__budget": budgets, "successprobclassifier__alpha": alphas},
        cv=n_folds, scoring=make_allocation_scorer(cost_per_unit=0.01),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(queries, R)

    assert sorted(count_featurized) == sorted(queries)
    best = search.best_params_["successprobclassifier__alpha"]
    expected = Counter({alpha: n_folds for alpha in alphas}) + Counter({best: 1})
    assert Counter(count_probe_fits) == expected
    assert len(search.cv_results_["params"]) == len(alphas) * len(budgets)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_without_the_policy_settings_the_same_grid_fits_far_more(
        tiny_llama_path, tmp_path, count_probe_fits):
    """The counts above come from make_policy and memory=: a plain Pipeline cross-fits
    the probe (cv + 1 fits) for every candidate."""
    n = 24
    queries = [("easy " if i % 2 else "hard ") + str(i) for i in range(n)]
    pipe = make_pipeline(
        HiddenStateFeaturizer(tiny_llama_path, memory=str(tmp_path / "features")),
        SuccessProbClassifier(max_iter=2, cv=2, early_stopping=False, random_state=0),
        GreedyAllocator(2.0, max_budget=4, kind="success_prob"),
    )
    search = GridSearchCV(
        pipe, {"greedyallocator__budget": [1.0, 2.0], "successprobclassifier__alpha": [1e-4]},
        cv=2, scoring=make_allocation_scorer(cost_per_unit=0.01))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(queries, _outcomes(n))
    # 2 candidates x 2 folds x (cv=2 + 1) fits, + 3 for the cross-fitted refit
    assert len(count_probe_fits) == 2 * 2 * 3 + 3


@pytest.mark.parametrize("probe_cls, y_kind", [
    (SuccessProbClassifier, "outcomes"), (MarginalRewardRegressor, "outcomes"),
])
def test_cross_fit_false_is_one_fit_and_in_sample(probe_cls, y_kind, count_probe_fits):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    R = _outcomes(40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe = probe_cls(max_iter=3, cross_fit=False, random_state=0)
        out = probe.fit_transform(X, R)
        assert len(count_probe_fits) == 1
        np.testing.assert_array_equal(out, probe.transform(X))
        np.testing.assert_array_equal(
            out, probe_cls(max_iter=3, random_state=0).fit(X, R).transform(X))
        # the default cross-fits: cv + 1 fits, out-of-fold values
        crossed = probe_cls(max_iter=3, cv=3, random_state=0).fit_transform(X, R)
    assert len(count_probe_fits) == 1 + 1 + 4
    assert not np.array_equal(crossed, out)


def test_steps_declare_whether_fit_needs_held_out_values():
    assert not fit_needs_held_out(GreedyAllocator())
    assert fit_needs_held_out(GreedyAllocator(price="fit"))  # learns price_ from X
    assert fit_needs_held_out(BinnedAllocator())
    assert not fit_needs_held_out(Router())
    assert not fit_needs_held_out(Router(threshold=0.5))
    assert fit_needs_held_out(Router(threshold="fit"))
    # undeclared estimators, no step and nested pipelines: the safe answer
    from sklearn.linear_model import Ridge

    assert fit_needs_held_out(Ridge())
    assert fit_needs_held_out(None) and fit_needs_held_out("passthrough")
    assert not fit_needs_held_out(make_pipeline(GreedyAllocator(), Ridge()))


def test_make_policy_sets_cross_fit_from_the_next_step():
    probe = SuccessProbClassifier(alpha=0.5)
    greedy = make_policy(probe, GreedyAllocator(2.0, max_budget=4, kind="success_prob"))
    binned = make_policy(probe, BinnedAllocator(2.0, max_budget=4, kind="success_prob"))
    assert greedy.named_steps["successprobclassifier"].cross_fit is False
    assert binned.named_steps["successprobclassifier"].cross_fit is True
    # the given probe is left unchanged, its other parameters carried over
    assert probe.cross_fit is True
    assert greedy.named_steps["successprobclassifier"].alpha == 0.5
    # a probe last (nothing after it) keeps the safe default
    assert make_policy(probe).steps[-1][1].cross_fit is True
    # an ordinary, clonable Pipeline
    twin = clone(greedy)
    assert twin.named_steps["successprobclassifier"].cross_fit is False
    assert [name for name, _ in twin.steps] == ["successprobclassifier", "greedyallocator"]


def test_make_policy_fits_binned_allocator_on_out_of_fold_predictions(count_probe_fits):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    R = _outcomes(60)
    policy = make_policy(SuccessProbClassifier(max_iter=3, cv=3, random_state=0),
                         BinnedAllocator(2.0, n_bins=2, max_budget=4, kind="success_prob"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        policy.fit(X, R)
    assert len(count_probe_fits) == 3 + 1


def test_probe_pickled_before_cross_fit_existed_loads_with_it_on():
    rng = np.random.default_rng(0)
    X, R = rng.normal(size=(30, 2)), _outcomes(30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe = SuccessProbClassifier(max_iter=2, random_state=0).fit(X, R)
    state = probe.__getstate__()
    del state["cross_fit"]  # what a pickle from skadapt 0.1.0 holds
    old = SuccessProbClassifier.__new__(SuccessProbClassifier)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.cross_fit is True
    assert clone(old).get_params()["cross_fit"] is True
    np.testing.assert_array_equal(old.transform(X), probe.transform(X))
