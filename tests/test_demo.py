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
    m = 4000
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
