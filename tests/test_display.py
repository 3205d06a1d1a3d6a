import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skadapt.display import (  # noqa: E402
    AllocationByDifficultyDisplay,
    AllocationCurveDisplay,
    SuccessCalibrationDisplay,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    lam = rng.beta(0.5, 0.8, size=300)
    R = (rng.uniform(size=(300, 16)) < lam[:, None]).astype(float)
    return lam, R


def test_allocation_curve_display(data):
    lam, R = data
    disp = AllocationCurveDisplay.from_predictions(R, lam, budgets=[1, 2, 4],
                                                   held_out=(lam, R))
    assert set(disp.lines_) == {"uniform", "online", "offline", "oracle"}
    x, y = disp.lines_["uniform"].get_data()
    np.testing.assert_allclose(x, [1, 2, 4])
    np.testing.assert_allclose(
        y, disp.curves[disp.curves.method == "uniform"].value.to_numpy())
    assert disp.ax_.get_xscale() == "log"
    plt.close("all")


def test_allocation_curve_from_estimator(data):
    from skadapt import SuccessProbClassifier

    lam, R = data
    X = np.column_stack([np.log(lam / (1 - lam + 1e-9) + 1e-9), np.zeros_like(lam)])
    clf = SuccessProbClassifier(hidden_layer_sizes=(8,), max_iter=30, tol=1e-2, random_state=0)
    clf.fit(X, R)
    disp = AllocationCurveDisplay.from_estimator(clf, X, R, budgets=[1, 2])
    assert set(disp.lines_) == {"uniform", "online", "oracle"}
    plt.close("all")


def test_calibration_display_bins(data):
    lam, R = data
    disp = SuccessCalibrationDisplay.from_predictions(R, lam, n_bins=4)
    assert disp.prob_pred.shape == disp.prob_true.shape == (4,)
    assert np.all(np.diff(disp.prob_pred) > 0)
    # true probabilities are calibrated up to sampling noise
    assert np.max(np.abs(disp.prob_pred - disp.prob_true)) < 0.06
    # a probe that is off by +0.2 shows it
    shifted = np.clip(lam + 0.2, 0, 1)
    bad = SuccessCalibrationDisplay.from_predictions(R, shifted, n_bins=4)
    assert np.mean(bad.prob_pred - bad.prob_true) > 0.1
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        SuccessCalibrationDisplay.from_predictions(R, lam + 2)
    with pytest.raises(ValueError, match="queries"):
        SuccessCalibrationDisplay.from_predictions(R[:10], lam)
    plt.close("all")


def test_allocation_by_difficulty_shifts_to_hard_queries(data):
    lam, _ = data
    disp = AllocationByDifficultyDisplay.from_predictions(lam, budgets=[1, 16],
                                                          max_budget=32)
    np.testing.assert_allclose(disp.shares.sum(axis=1), 1.0)
    easy, hard = 0, 2
    # Figure 6 of the paper: little budget goes to easy queries first, much
    # budget ends up on hard ones
    assert disp.shares[0, easy] > disp.shares[0, hard]
    assert disp.shares[1, hard] > disp.shares[1, easy]
    assert len(disp.bars_) == 3
    with pytest.raises(ValueError, match="tertiles"):
        AllocationByDifficultyDisplay.from_predictions(lam[:2])
    plt.close("all")
