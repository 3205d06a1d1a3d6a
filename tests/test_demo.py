import numpy as np
import pytest

from skadapt import metrics, targets
from skadapt._demo import (
    best_of_k_experiment,
    preference_from_success,
    routing_experiment,
)


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
    curves, summary, weak_q, strong_q = routing_experiment(
        p_strong, p_weak, {"perfect": gain, "noise": rng.normal(size=400)},
        fractions=[0.25, 0.5, 0.75])
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
    curves, table = best_of_k_experiment(
        R[300:], pred[300:], budgets=[1, 2, 4], held_out=(pred[:300], R[:300]),
        max_budget=16, n_resamples=200)
    np.testing.assert_allclose(table["uniform"], metrics.best_of_k_curve(R[300:], [1, 2, 4]))
    assert np.all(table["oracle"] >= table["online"] - 1e-12)
    assert np.all(table["online"] > table["uniform"])
    assert np.all(table["online_saved"] > 0)
    assert {"offline", "online_gain", "online_share_of_oracle_gain"} <= set(table.columns)
    assert np.all((table["online_share_of_oracle_gain"] > 0)
                  & (table["online_share_of_oracle_gain"] <= 1 + 1e-9))


@pytest.mark.slow
def test_demo_end_to_end_on_a_subset(tmp_path):
    """The whole demo with the real SmolLM2 on a small stratified subset."""
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
    curves, best_of_k = best_of_k_experiment(
        R[200:], pred[200:], budgets=budgets, held_out=(pred[:200], R[:200]),
        max_budget=16, n_resamples=100)
    p_weak = lam[200:]
    p_strong = np.clip(p_weak + rng.uniform(0, 0.3, size=200), 0, 1)
    routing_curves, routing_summary, weak_q, strong_q = routing_experiment(
        p_strong, p_weak, {"preference probe (Eq. 8)": p_strong - p_weak + rng.normal(0, 0.05, 200),
                           "best-of-k probe (Eq. 13-14)": rng.normal(size=200)},
        fractions=[0.25, 0.5, 0.75])
    probe_table = pd.DataFrame([
        {"predictor": "MLP probe on hidden states (ours)", "loss": 0.40, "avg_loss": 0.50,
         "opt_loss": 0.30, "accuracy": 0.8},
        {"predictor": "constant (Avg.)", "loss": 0.5001, "avg_loss": 0.50, "opt_loss": 0.30,
         "accuracy": 0.5}])
    shift = pd.DataFrame([
        {"split": split, "budget": b, "uniform": 0.3, "online": 0.35, "online_gain": 0.05,
         "online_low": 0.04, "online_high": 0.06, "offline": 0.34, "offline_spend": b,
         "split_oracle": 0.36, "captured": 0.83, "compute_saved": 0.2}
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
    "Eq. 8": r"^- preference probe \(Eq\. 8\): a probe trained on the preference probability",
    "Eq. 13-14": r"best-of-k probe \(Eq\. 13-14\): the success-probability probe above reused",
    "APGR": r"^- APGR \(average performance gap recovered\): the area under",
    "CPT(50%)": r"^- CPT\(50%\) \(call-performance threshold\): the smallest fraction",
    "split oracle": r"^- split oracle \(split-sample oracle\): allocates from .* samples 1-8 "
                    r"and is scored on samples 9-16",
    "captured": r"^- captured: \(online - uniform\) / \(split oracle - uniform\)",
    "95% CI": r"paired 95% bootstrap interval \(100 resamples",
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
