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


# --- what a reader of the plots relies on ------------------------------------


def _render(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _overlaps(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _pixels_of(fig, color, tol=0.06):
    """Number of rendered pixels within ``tol`` of ``color`` (RGB)."""
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0
    rgb = np.array(matplotlib.colors.to_rgb(color))
    return int(np.sum(np.all(np.abs(img - rgb) < tol, axis=-1)))


def test_online_markers_stay_visible_where_offline_coincides():
    import pandas as pd

    from skadapt.display import METHOD_COLORS

    budgets = [1, 2, 4, 8, 16]
    value = [0.2, 0.3, 0.45, 0.55, 0.6]

    def curves(methods):
        return pd.DataFrame([{"method": m, "budget": b, "average_budget": b, "value": v}
                             for m in methods for b, v in zip(budgets, value)])

    alone = AllocationCurveDisplay(curves(["online"])).plot(intervals=False)
    both = AllocationCurveDisplay(curves(["online", "offline"])).plot(intervals=False)
    # the legend's sample of online is drawn in both figures: compare the axes only
    for disp in (alone, both):
        disp.ax_.get_legend().remove()
    seen_alone = _pixels_of(alone.figure_, METHOD_COLORS["online"])
    seen_both = _pixels_of(both.figure_, METHOD_COLORS["online"])
    assert seen_alone > 500
    # the same offline curve on top hides at most a third of online's line and markers
    assert seen_both > 0.66 * seen_alone, (seen_both, seen_alone)
    plt.close("all")


def test_method_colours_are_one_map_for_every_display(data):
    import pandas as pd

    from skadapt.display import METHOD_COLORS

    to_rgba = matplotlib.colors.to_rgba
    # one method, one colour: no two methods share one
    colours = [to_rgba(c) for c in METHOD_COLORS.values()]
    assert len(set(colours)) == len(colours)
    lam, R = data
    disp = AllocationCurveDisplay.from_predictions(R, lam, budgets=[1, 2, 4],
                                                   held_out=(lam, R))
    for method, line in disp.lines_.items():
        assert to_rgba(line.get_color()) == to_rgba(METHOD_COLORS[method]), method
        band = disp.bands_[method].get_facecolor()[0]
        np.testing.assert_allclose(band[:3], to_rgba(METHOD_COLORS[method])[:3])
    # the routing curves of the demo go through the same display and the same map
    routers = ["random", "preference probe (Eq. 8)", "best-of-k probe (Eq. 13-14)",
               "oracle"]
    routing = pd.DataFrame([{"method": r, "budget": f, "average_budget": f, "value": f}
                            for r in routers for f in (0.25, 0.5)])
    disp = AllocationCurveDisplay(routing).plot(log_x=False)
    for router in routers:
        assert (to_rgba(disp.lines_[router].get_color())
                == to_rgba(METHOD_COLORS[router])), router
    # calibration of the demo's probe, by name
    cal = SuccessCalibrationDisplay.from_predictions(R, lam, n_bins=4, name="MLP probe")
    assert to_rgba(cal.line_.get_color()) == to_rgba(METHOD_COLORS["MLP probe"])
    # the difficulty bars use no method's colour
    bars = AllocationByDifficultyDisplay.from_predictions(lam, budgets=[1, 4])
    for container in bars.bars_:
        assert to_rgba(container.patches[0].get_facecolor()) not in colours
    plt.close("all")


def test_legends_cover_no_data(data):
    lam, R = data
    # at budget 1 the easy and medium bars fill the whole height: a legend inside
    # the axes would cover them
    disp = AllocationByDifficultyDisplay.from_predictions(lam, budgets=[1, 2, 16])
    renderer = _render(disp.figure_)
    legend = disp.ax_.get_legend().get_window_extent(renderer)
    for container in disp.bars_:
        for patch in container.patches:
            assert not _overlaps(legend, patch.get_window_extent(renderer))
    for disp in (AllocationCurveDisplay.from_predictions(R, lam, budgets=[1, 2, 4]),
                 SuccessCalibrationDisplay.from_predictions(R, lam, n_bins=4)):
        renderer = _render(disp.figure_)
        legend = disp.ax_.get_legend().get_window_extent(renderer)
        assert not _overlaps(legend, disp.ax_.get_window_extent(renderer))
    plt.close("all")


def test_difficulty_thresholds_are_stated_and_split_the_thirds():
    y_prob = np.random.default_rng(3).beta(0.5, 1.5, size=600)
    disp = AllocationByDifficultyDisplay.from_predictions(y_prob, budgets=[1, 4])
    low, high = disp.thresholds
    # a third of the queries on each side of each threshold
    assert np.mean(y_prob < low) == pytest.approx(1 / 3, abs=0.01)
    assert np.mean(y_prob >= high) == pytest.approx(1 / 3, abs=0.01)
    texts = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    # listed as stacked: hard (top) first
    assert texts == [f"hard: p < {low:.3g}", f"medium: {low:.3g} \u2264 p < {high:.3g}",
                     f"easy: p \u2265 {high:.3g}"]
    assert "equal-count" in disp.ax_.get_legend().get_title().get_text()
    plt.close("all")


def test_interval_bands_are_explained_in_the_legend(data):
    lam, R = data
    disp = AllocationCurveDisplay.from_predictions(R, lam, budgets=[1, 2, 4],
                                                   n_resamples=200, confidence=0.9)
    texts = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert any("90% bootstrap interval" in t and "300 queries" in t and "200 resamples" in t
               for t in texts), texts
    assert set(disp.bands_) == set(disp.lines_)
    # no bands drawn, no entry for them
    bare = AllocationCurveDisplay(disp.curves).plot(intervals=False)
    texts = [t.get_text() for t in bare.ax_.get_legend().get_texts()]
    assert not any("interval" in t for t in texts) and not bare.bands_
    plt.close("all")
