import re

import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skadapt import metrics, targets
from skadapt._demo import (
    best_of_k_experiment,
    preference_from_success,
    routing_experiment,
)
from skadapt.routing import Router


def _route(scores, fractions):
    """Router decisions on ``scores`` at each fraction."""
    scores = np.asarray(scores, dtype=float).reshape(-1, 1)
    return [Router(f).fit_transform(scores).ravel() for f in fractions]


def test_preference_from_success_matches_eq11_on_samples():
    rng = np.random.default_rng(0)
    p_strong = rng.uniform(size=50)
    p_weak = rng.uniform(size=50)
    m = 400  # the identity is exact at any m; 4000 made this test take ~30 s
    R_strong = (rng.uniform(size=(50, m)) < p_strong[:, None]).astype(float)
    R_weak = (rng.uniform(size=(50, m)) < p_weak[:, None]).astype(float)
    # Eq. 11 over all sample pairs equals the closed form at the empirical rates
    exact = preference_from_success(targets.success_rate(R_strong),
                                    targets.success_rate(R_weak))
    np.testing.assert_allclose(exact, targets.preference_probability(R_strong, R_weak),
                               atol=1e-12)
    assert np.all((0 < exact) & (exact < 1))
    np.testing.assert_allclose(preference_from_success([1.0], [0.0]), [1 / (1 + np.exp(-1))])
    np.testing.assert_allclose(preference_from_success([0.3], [0.3]), [0.5])


def test_routing_experiment_orders_routers():
    rng = np.random.default_rng(1)
    p_weak = rng.uniform(size=400)
    p_strong = np.clip(p_weak + rng.uniform(-0.1, 0.4, size=400), 0, 1)
    gain = p_strong - p_weak
    fractions = [0.25, 0.5, 0.75]
    curves, summary, weak_q, strong_q = routing_experiment(
        p_strong, p_weak, {"perfect": _route(gain, fractions),
                           "noise": _route(rng.normal(size=400), fractions)},
        fractions=fractions)
    apgr = summary.set_index("router")["APGR"]
    assert apgr["oracle"] >= apgr["perfect"] - 1e-12
    assert apgr["perfect"] > apgr["random"] > apgr["noise"] - 0.1
    np.testing.assert_allclose(apgr["random"], 0.5, atol=1e-9)
    assert weak_q == pytest.approx(p_weak.mean())
    assert strong_q == pytest.approx(p_strong.mean())
    routed = curves[(curves.router == "perfect")]
    np.testing.assert_allclose(routed.actual_fraction, [0.25, 0.5, 0.75])


def test_best_of_k_experiment_table():
    rng = np.random.default_rng(2)
    lam = rng.beta(0.4, 0.8, size=600)
    R = (rng.uniform(size=(600, 16)) < lam[:, None]).astype(float)
    pred = np.clip(lam + rng.normal(0, 0.05, size=600), 0, 1)
    # the predictions themselves stand in for the probe (an identity step)
    curves, table, _ = best_of_k_experiment(
        FunctionTransformer(), pred[:300, None], R[:300], pred[300:, None], R[300:],
        budgets=[1, 2, 4], max_budget=16, kind="success_prob", n_resamples=200)
    np.testing.assert_allclose(table["uniform"], metrics.best_of_k_curve(R[300:], [1, 2, 4]))
    assert np.all(table["oracle"] >= table["online"] - 1e-12)
    assert np.all(table["online"] > table["uniform"])
    assert np.all(table["online_saved"] > 0)
    assert {"offline", "online_gain", "online_share_of_oracle_gain"} <= set(table.columns)
    assert np.all((table["online_share_of_oracle_gain"] > 0)
                  & (table["online_share_of_oracle_gain"] <= 1 + 1e-9))


# --- the demo's numbers come from Pipelines of the public estimators ----------


def _tiny_probe(random_state=0, **params):
    """The demo's probe class, small enough for a test."""
    from skadapt import SuccessProbClassifier

    params.setdefault("cv", 3)
    return SuccessProbClassifier(hidden_layer_sizes=(8,), max_iter=30,
                                 neighbor_curves=10, random_state=random_state, **params)


@pytest.fixture
def tiny_data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(160, 3))
    lam = 1 / (1 + np.exp(-2 * X[:, 0]))
    R = (rng.uniform(size=(160, 8)) < lam[:, None]).astype(float)
    return X, R


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_best_of_k_policies_are_make_policy_pipelines(tiny_data, tmp_path, monkeypatch):
    """Online = make_policy(probe, GreedyAllocator), offline = make_policy(probe,
    BinnedAllocator) learning from the probe's out-of-fold predictions and the rewards,
    each scored by the expected_success scorer; the cache fits the probe once per
    setting, not per budget."""
    from joblib import Memory
    from sklearn.base import clone

    from skadapt import BinnedAllocator, GreedyAllocator, SuccessProbClassifier
    from skadapt.evaluation import allocation_budgets
    from skadapt.policy import make_policy
    from skadapt.scoring import get_scorer

    X, R = tiny_data
    X_tr, R_tr, X_te, R_te = X[:100], R[:100], X[100:], R[100:]
    probe = _tiny_probe(max_budget=8)
    fits = []
    real_fit = SuccessProbClassifier.fit

    def counted_fit(self, *args, **kwargs):
        fits.append(self.cross_fit)
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(SuccessProbClassifier, "fit", counted_fit)
    budgets = [1, 2, 4]
    _, table, policies = best_of_k_experiment(
        probe, X_tr, R_tr, X_te, R_te, budgets=budgets, max_budget=8, kind="marginal",
        memory=Memory(tmp_path, verbose=0), n_resamples=50)
    # online: one plain fit; offline: one fit on all + 3 cross-fitting folds; for
    # all three budgets together
    assert len(fits) == 1 + (1 + 3)
    monkeypatch.setattr(SuccessProbClassifier, "fit", real_fit)

    scorer = get_scorer("expected_success")
    fitted = clone(probe).set_params(cross_fit=True)
    oof = fitted.fit_transform(X_tr, R_tr)
    pred = fitted.transform(X_te)
    for budget in budgets:
        online, offline = policies["online"][budget], policies["offline"][budget]
        assert isinstance(online, Pipeline) and isinstance(offline, Pipeline)
        assert isinstance(online[-1], GreedyAllocator) and online[-1].budget == budget
        assert isinstance(offline[-1], BinnedAllocator) and offline[-1].budget == budget
        assert online[0].cross_fit is False and offline[0].cross_fit is True
        row = table[table.budget == budget].iloc[0]
        by_hand = make_policy(probe, GreedyAllocator(budget, max_budget=8, kind="marginal"))
        assert row["online"] == scorer(by_hand.fit(X_tr, R_tr), X_te, R_te)
        # the Pipeline hands BinnedAllocator the held-out predictions *and* y
        held_out = allocation_budgets(R_te, pred, budget, method="offline", max_budget=8,
                                      kind="marginal", held_out=(oof, R_tr))
        np.testing.assert_array_equal(offline.transform(X_te).ravel(), held_out)
        assert row["offline"] == metrics.expected_success(R_te, held_out)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_routing_policies_are_router_pipelines(tiny_data, tmp_path):
    """Routing by the preference probe = make_policy(probe, Router); the transfer =
    the best-of-k probe -> Eq. 13-14 -> Router; the curve matches routing_curve."""
    from joblib import Memory

    from skadapt._demo import fit_routing_policies, routing_policy
    from skadapt.routing import best_of_k_preference, routing_curve

    X, R = tiny_data
    memory = Memory(tmp_path, verbose=0)  # one probe fit for all the fractions
    rng = np.random.default_rng(6)
    p_weak = targets.success_rate(R)
    p_strong = np.clip(p_weak + rng.uniform(-0.1, 0.3, size=len(R)), 0, 1)
    pref = preference_from_success(p_strong, p_weak)
    fractions = [0.2, 0.5, 0.8]
    tr, te = slice(0, 100), slice(100, None)
    pref_policies, pref_routed = fit_routing_policies(
        lambda f: routing_policy(_tiny_probe(), f, memory=memory), X[tr], pref[tr], X[te],
        fractions=fractions)
    bok_policies, bok_routed = fit_routing_policies(
        lambda f: routing_policy(_tiny_probe(max_budget=8), f, transfer_k=5, kind="marginal",
                                 memory=memory), X[tr], R[tr], X[te], fractions=fractions)
    for f in fractions:
        assert isinstance(pref_policies[f][-1], Router) and pref_policies[f][-1].fraction == f
        assert [name for name, _ in bok_policies[f].steps] == [
            "successprobclassifier", "bestofkpreference", "router"]
    scores = pref_policies[0.2][0].transform(X[te])
    curves, _, _, _ = routing_experiment(
        p_strong[te], p_weak[te], {"pref": pref_routed, "bok": bok_routed},
        fractions=fractions)
    expected = routing_curve(p_strong[te, None], p_weak[te, None], scores,
                             fractions=fractions).quality
    np.testing.assert_allclose(curves[curves.router == "pref"].value, expected, rtol=1e-12)
    # the transfer reads the best-of-k probe's marginal-reward curves (its transform)
    transfer = best_of_k_preference(bok_policies[0.5][0].transform(X[te]), 5, kind="marginal")
    np.testing.assert_array_equal(bok_routed[1], _route(transfer, [0.5])[0])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_repeat_over_splits_is_cross_validate_over_the_resplits(tiny_data, monkeypatch):
    """Each re-split's online and offline numbers equal a policy fitted and scored by
    hand on train_test_split(stratify=family, random_state=seed + 1000 + repeat)."""
    from types import SimpleNamespace

    from sklearn.model_selection import train_test_split

    import skadapt._demo as demo
    from skadapt import BinnedAllocator, GreedyAllocator
    from skadapt.policy import make_policy

    # best_of_k_probe, which repeat_over_splits calls, looks default_probe up there
    monkeypatch.setattr("skadapt._demo_experiments.default_probe", _tiny_probe)
    X, R = tiny_data
    family = np.repeat(np.arange(4), 40)
    data = SimpleNamespace(family=family, outcomes=R)
    table = demo.repeat_over_splits(X, data, budgets=[2], max_budget=8, n_repeats=2,
                                    test_size=0.25, random_state=3)
    assert list(table.seed) == [1003, 1004]
    for _, row in table.iterrows():
        tr, te = train_test_split(np.arange(160), test_size=0.25, stratify=family,
                                  random_state=int(row.seed))
        probe = _tiny_probe(3, cv=5, max_budget=8)
        for method, allocator in (
                ("online", GreedyAllocator(2, max_budget=8, kind="marginal")),
                ("offline", BinnedAllocator(2, max_budget=8, kind="marginal",
                                            spend_tolerance=None))):
            policy = make_policy(probe, allocator).fit(X[tr], R[tr])
            assert row[method] == metrics.expected_success(R[te], policy.transform(X[te]))
        assert row["uniform"] == metrics.expected_success(R[te], 2)
        assert row["oracle"] >= row["online"] - 1e-12


@pytest.mark.slow
def test_demo_end_to_end_on_a_subset(tmp_path):
    """The whole demo with the real SmolLM2 on a small stratified subset."""
    from skadapt._demo import featurize as skadapt_featurize
    from skadapt._demo import format_report, load_demo_data, run_demo

    result = run_demo(max_queries=96, budgets=(1, 2, 4), n_repeats=1, n_resamples=50,
                      graded_budgets=(1, 2), output_dir=tmp_path / "out",
                      feedback_permutations=4, log=lambda *a: None)
    data = load_demo_data(max_queries=96)
    R_test = data.outcomes[~data.is_train]
    # uniform best-of-k is the exact estimator at k
    for _, row in result.best_of_k.iterrows():
        assert row["uniform"] == pytest.approx(metrics.expected_success(R_test, int(row.budget)))
        assert row["oracle"] >= row["uniform"] - 1e-12
        assert row["uniform_low"] <= row["uniform"] <= row["uniform_high"]
    assert list(result.best_of_k.budget) == [1, 2, 4]
    # the published numbers are those of the fitted public pipelines
    from skadapt.scoring import get_scorer

    features = skadapt_featurize(data.queries)
    for budget in (1, 2, 4):
        online = result.policies["online"][budget]
        assert isinstance(online, Pipeline)
        row = result.best_of_k[result.best_of_k.budget == budget].iloc[0]
        assert row["online"] == get_scorer("expected_success")(
            online, features[~data.is_train], R_test)
    assert set(result.policies["routing"]) == {
        "preference probe (Eq. 8)", "best-of-k probe (Eq. 13-14)"}
    assert {"uniform", "online", "offline", "oracle", "online_saved", "online_gain",
            "online_share_of_oracle_gain"} <= set(result.best_of_k.columns)
    assert len(result.probe_table) == 5
    assert set(result.routing_summary.router) == {
        "random", "oracle", "preference probe (Eq. 8)", "best-of-k probe (Eq. 13-14)"}
    report = format_report(result)
    assert "Best-of-k" in report and "APGR" in report
    # the shift tables: random split and leave-family-out, scored on held-out samples
    assert list(result.shift.split.unique()) == ["random split", "leave-family-out"]
    for _, row in result.shift.iterrows():
        assert row["online_low"] <= row["online_gain"] <= row["online_high"]
    assert "Under shift" in report and "in-sample" in report
    # the feedback comparison: every policy at the budgets, both selection rules
    fb = result.feedback
    assert {"uniform", "one_shot", "two_phase", "multi_round_2", "adaptive_consistency",
            "split_sample_oracle"} <= set(fb.policy)
    assert set(fb.selection) == {"oracle", "majority"}
    uniform = fb[(fb.policy == "uniform") & (fb.selection == "oracle")]
    assert (uniform.avg_samples == uniform.target_budget).all()
    assert "Allocation with feedback" in report
    names = {p.name for p in result.files}
    assert {"report.md", "best_of_k.csv", "allocation_curve.png", "calibration.png",
            "allocation_by_difficulty.png", "shift.csv", "feedback.csv"} <= names
    assert (tmp_path / "out" / "allocation_curve.png").stat().st_size > 10_000


# --- the report and plots explain themselves ----------------------------------


@pytest.fixture
def small_result():
    """A DemoResult of synthetic numbers, built in seconds, shaped as run_demo's."""
    import pandas as pd

    from skadapt._demo import DemoResult

    rng = np.random.default_rng(4)
    lam = rng.beta(0.4, 0.8, size=400)
    R = (rng.uniform(size=(400, 16)) < lam[:, None]).astype(float)
    pred = np.clip(lam + rng.normal(0, 0.05, size=400), 0, 1)
    budgets = [1, 2, 4]
    curves, best_of_k, _ = best_of_k_experiment(
        FunctionTransformer(), pred[:200, None], R[:200], pred[200:, None], R[200:],
        budgets=budgets, max_budget=16, kind="success_prob", n_resamples=100)
    p_weak = lam[200:]
    p_strong = np.clip(p_weak + rng.uniform(0, 0.3, size=200), 0, 1)
    fractions = [0.25, 0.5, 0.75]
    routing_curves, routing_summary, weak_q, strong_q = routing_experiment(
        p_strong, p_weak,
        {"preference probe (Eq. 8)": _route(p_strong - p_weak + rng.normal(0, 0.05, 200),
                                            fractions),
         "best-of-k probe (Eq. 13-14)": _route(rng.normal(size=200), fractions)},
        fractions=fractions)
    probe_table = pd.DataFrame([
        {"predictor": "MLP probe on hidden states (ours)", "loss": 0.40, "avg_loss": 0.50,
         "opt_loss": 0.30, "accuracy": 0.8},
        {"predictor": "constant (Avg.)", "loss": 0.5001, "avg_loss": 0.50, "opt_loss": 0.30,
         "accuracy": 0.5}])
    shift = pd.DataFrame([
        {"split": split, "budget": b, "uniform": 0.3, "online": 0.35, "online_gain": 0.05,
         "online_low": 0.04, "online_high": 0.06,
         "group_low": np.nan if split == "random split" else -0.021,
         "group_high": np.nan if split == "random split" else 0.087,
         "offline": 0.34, "offline_spend": b, "offline_paced": 0.33,
         "offline_paced_spend": 0.98 * b, "split_oracle": 0.36, "captured": 0.83, "compute_saved": 0.2}
        for split in ("random split", "leave-family-out") for b in budgets])
    repeats = pd.DataFrame([{"repeat": r, "seed": r, "budget": b, "uniform": 0.3,
                             "online": 0.35, "offline": 0.34, "oracle": 0.4}
                            for r in range(2) for b in budgets])
    graded = curves[curves.method.isin(["uniform", "online", "oracle"])]
    return DemoResult(
        best_of_k=best_of_k, curves=curves, probe_table=probe_table,
        routing_curves=routing_curves, routing_summary=routing_summary,
        graded_curves=graded, graded_report={"loss": 0.001, "avg_loss": 0.002},
        repeats=repeats, timings={"total": 1.0}, shift=shift,
        info={"n_queries": 400, "n_train": 200, "n_test": 200, "n_samples": 16,
              "max_budget": 16, "routing_k": 5, "weak_quality": weak_q,
              "strong_quality": strong_q, "probe": "mlp", "model": "smollm2",
              "layer": -1, "dataset": "diverse", "data_path": None, "n_resamples": 100},
    ), pred[200:], lam[200:]


# term as the tables print it -> its one-line explanation
EXPLANATIONS = {
    "oracle": r"^- oracle \(in-sample oracle, optimistic\): .*scored on the same samples",
    "[": r"^- \[low, high\]: 95% percentile bootstrap interval of the mean over the 200 "
         r"test queries \(100 resamples of queries",
    "compute saved": r"^- compute saved: 1 - \(online's average budget\) / \(the uniform",
    "share of oracle gain": r"share of oracle gain: \(online - uniform\) / \(oracle - uniform\)",
    "Avg.": r"^- Avg\.: the loss of predicting the test queries' mean success rate",
    "Opt.": r"Opt\.: the lowest loss possible",
    "normalised": r"^- normalised: \(Avg\. - loss\) / \(Avg\. - Opt\.\)",
    "Acc.": r"^- Acc\.: median-split accuracy",
    "Eq. 8": r"^- preference probe \(Eq\. 8\): make_policy\(probe, Router\), the probe trained "
             r"on the preference probability",
    "Eq. 13-14": r"best-of-k probe \(Eq\. 13-14\): the best-of-k probe above reused, "
                 r"make_policy\(probe, BestOfKPreference\(k=5\), Router\)",
    "APGR": r"^- APGR \(average performance gap recovered\): the area under",
    "CPT(50%)": r"^- CPT\(50%\) \(call-performance threshold\): the smallest fraction",
    "split oracle": r"^- split oracle \(split-sample oracle\): allocates from .* samples 1-8 "
                    r"and is scored on samples 9-16",
    "captured": r"^- captured: \(online - uniform\) / \(split oracle - uniform\)",
    "95% CI": r"paired 95% bootstrap interval \(100 resamples",
    "paced (spend)": r"paced \(spend\): the same with its spend guard \(pacing=True\)",
}


def test_report_explains_each_metric_before_its_first_table(small_result):
    import re

    from skadapt._demo import format_report

    result, _, _ = small_result
    lines = format_report(result).splitlines()
    for term, pattern in EXPLANATIONS.items():
        explained = [i for i, line in enumerate(lines) if re.search(pattern, line)]
        assert explained, f"no explanation of {term!r}"
        in_tables = [i for i, line in enumerate(lines)
                     if line.startswith("|") and term in line]
        assert in_tables, f"{term!r} is in no table"
        # explained above the first table that shows it, within a few lines
        assert explained[0] < in_tables[0] <= explained[0] + 12, term
    assert lines[0].startswith("Dataset: diverse dataset, 400 queries")


def test_report_normalised_probe_score(small_result):
    from skadapt._demo import format_report

    result, _, _ = small_result
    report = format_report(result)
    # (Avg. - loss) / (Avg. - Opt.) = (0.5 - 0.4) / (0.5 - 0.3); the constant scores 0
    assert "| MLP probe on hidden states (ours) | 0.400 | 0.500 | 0.300 | 0.50 | 80.0% |" in report
    assert "| constant (Avg.) | 0.500 | 0.500 | 0.300 | 0.00 | 50.0% |" in report


def test_plots_name_the_dataset_and_share_the_colours(small_result, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import to_rgba
    from matplotlib.figure import Figure

    from skadapt._demo import _plots
    from skadapt.display import METHOD_COLORS

    result, pred, lam = small_result
    seen = {}

    def record(fig, path, **kwargs):
        ax = fig.axes[0]
        seen[path.name] = (ax.get_title(),
                           {line.get_label(): to_rgba(line.get_color())
                            for line in ax.get_lines()})

    monkeypatch.setattr(Figure, "savefig", record)
    _plots(result, tmp_path, pred, lam)
    assert set(seen) == {"allocation_curve.png", "calibration.png",
                         "allocation_by_difficulty.png", "routing_curve.png"}
    for title, _ in seen.values():
        assert "diverse dataset" in title and "SmolLM2-135M-Instruct" in title
        assert "arithmetic" not in title
    routing = seen["routing_curve.png"][1]
    for router in ("random", "preference probe (Eq. 8)", "best-of-k probe (Eq. 13-14)"):
        assert routing[router] == to_rgba(METHOD_COLORS[router])
    curve = seen["allocation_curve.png"][1]
    assert curve["Online adaptive (greedy)"] == to_rgba(METHOD_COLORS["online"])
    assert curve["Oracle (in-sample)"] == routing["Oracle (in-sample)"]


def test_report_shift_tables_give_the_interval_over_groups_where_there_are_groups(small_result):
    from skadapt._demo import format_report

    result, _, _ = small_result
    report = format_report(result)
    random_part = report.split("**random split**")[1].split("**leave-family-out**")[0]
    family_part = report.split("**leave-family-out**")[1]
    assert "over groups" not in random_part
    assert "| over groups |" in family_part.splitlines()[2]
    assert "| [-0.021, +0.087] |" in family_part
    # offline at its realized spend, then the paced offline policy at its own
    assert "| offline (spend) | paced (spend) | split oracle |" in family_part
    assert "| 0.340 (1.00) | 0.330 (0.98) | 0.360 |" in family_part
    assert "resampling whole families" in report


def _demo_data(families, n=60, m=8, seed=0, name="extra"):
    from skadapt._demo import DemoData

    rng = np.random.default_rng(seed)
    family = np.array([families[i % len(families)] for i in range(n)], dtype=object)
    lam = rng.beta(0.5, 1.0, size=n)
    return DemoData(queries=np.array([f"{name} query {i}" for i in range(n)], dtype=object),
                    family=family,
                    outcomes=(rng.uniform(size=(n, m)) < lam[:, None]).astype(float),
                    answers=np.zeros((n, m)), references=np.zeros(n),
                    is_train=np.arange(n) % 4 != 0, name=name)


def test_load_extra_data_refuses_what_would_leak_or_not_fit():
    from skadapt._demo import load_extra_data

    data = _demo_data(["a", "b", "c"], name="main")
    extra = _demo_data(["x", "y"], n=20)
    assert load_extra_data(extra, data) is extra
    with pytest.raises(ValueError, match="the extra data has 4 samples per query and the "
                                         "dataset 8"):
        load_extra_data(_demo_data(["x"], m=4), data)
    with pytest.raises(ValueError, match=r"shares families with the dataset: \['b'\]"):
        load_extra_data(_demo_data(["x", "b"]), data)
    with pytest.raises(ValueError, match="repeats queries of the dataset"):
        load_extra_data(_demo_data(["x"], name="main"), data)
    with pytest.raises(ValueError, match="extra_data must be 'broader' or a DemoData, "
                                         "got 'wider'"):
        load_extra_data("wider", data)
    data.template = np.resize(np.array(["q", "w"], dtype=object), 60)
    with pytest.raises(ValueError, match="the dataset has phrasing templates and the "
                                         "extra data none"):
        load_extra_data(extra, data)
    extra.template = np.resize(np.array(["q", "i"], dtype=object), 20)
    assert load_extra_data(extra, data) is extra


@pytest.mark.parametrize("ours, theirs, named", [
    ({"model_sha256": "aa"}, {"model_sha256": "bb"}, "model_sha256='bb'"),
    ({"sampling": {"temperature": 0.7}}, {"sampling": {"temperature": 1.0}},
     "sampling.temperature=1.0"),
    ({"answer_suffix": " Answer with just the number."}, {"answer_suffix": ""},
     "answer_suffix=''"),
    ({"verifier": "skadapt.verifiers.exact_numeric"},
     {"verifier": "skadapt.verifiers.graded_reward"}, "verifier="),
])
def test_load_extra_data_refuses_outcomes_of_another_model_or_sampling(ours, theirs, named):
    from skadapt._demo import load_extra_data

    data, extra = _demo_data(["a", "b"], name="main"), _demo_data(["x"], n=20)
    data.provenance, extra.provenance = ours, theirs
    with pytest.raises(ValueError, match=re.escape(f"the extra data was sampled with {named}")):
        load_extra_data(extra, data)
    # an entry that only one side records is not compared; a verifier's listed
    # defaults (newer files) are not a difference
    extra.provenance = {}
    assert load_extra_data(extra, data) is extra
    data.provenance = {"verifier": "skadapt.verifiers.exact_numeric"}
    extra.provenance = {"verifier": "skadapt.verifiers.exact_numeric[defaults: abs_tol=1e-09]"}
    assert load_extra_data(extra, data) is extra


def test_the_shipped_datasets_fit_the_broader_data():
    """Same model, prompt, decoding and verifier: the demo's --extra-data broader is allowed."""
    from skadapt._demo import load_demo_data, load_extra_data

    for dataset in ("arithmetic", "diverse"):
        assert load_extra_data("broader", load_demo_data(dataset=dataset)).name == "broader"


def test_shift_experiment_trains_every_fold_on_the_extra_rows(monkeypatch):
    """The extra queries go to shift_evaluation on every split and are never scored."""
    import skadapt.shift
    from skadapt._demo import shift_experiment

    rng = np.random.default_rng(1)
    data = _demo_data(["a", "b", "c"], n=90, m=8, name="main")
    extra = _demo_data(["x", "y"], n=30, m=8)
    X, X_extra = rng.normal(size=(90, 3)), rng.normal(size=(30, 3))
    calls = []
    real = skadapt.shift.shift_evaluation

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(skadapt.shift, "shift_evaluation", spy)
    probe = lambda: FunctionTransformer(lambda Z: np.clip(  # noqa: E731
        np.repeat(0.3 + 0.1 * np.tanh(Z[:, :1]), 4, axis=1) * 0.5 ** np.arange(4), 0, 1))
    data.template = np.resize(np.array(["q", "w", "c"], dtype=object), 90)
    extra.template = np.resize(np.array(["w", "q", "i"], dtype=object), 30)
    with_extra = shift_experiment(X, data, budgets=[1, 2], n_resamples=20,
                                  probe_factory=probe, extra=(X_extra, extra))
    without = shift_experiment(X, data, budgets=[1, 2], n_resamples=20,
                               probe_factory=probe)
    assert len(calls) == 6
    for kwargs in calls[:3]:
        assert kwargs["X_extra"] is X_extra and kwargs["R_extra"] is extra.outcomes
    # random split: nothing held out; leave-family-out and leave-phrasing-out: a fold
    # leaves out the extra queries of the groups it holds out
    assert "extra_split_groups" not in calls[0]
    assert calls[1]["extra_split_groups"] is extra.family
    assert calls[2]["extra_split_groups"] is extra.template
    assert all("X_extra" not in kwargs for kwargs in calls[3:])
    # the scored queries are the dataset's only: uniform and the oracle do not move
    for column in ("uniform", "split_oracle"):
        np.testing.assert_allclose(with_extra[column], without[column])


def test_report_says_when_the_shift_folds_trained_on_extra_data(small_result):
    from skadapt._demo import format_report

    result, _, _ = small_result
    assert "extra training data" not in format_report(result)
    result.info["extra_data"] = ("broader", 1600, 23)
    report = format_report(result)
    line = next(line for line in report.splitlines() if "extra training data" in line)
    assert "1600 queries of 23 other task families (skadapt.datasets.load_broader)" in line
    assert "--extra-data none trains on the dataset alone" in line
    # it comes with the shift tables, before the first of them
    assert report.index(line) > report.index("### Under shift")
    assert report.index(line) < report.index("**random split**")
