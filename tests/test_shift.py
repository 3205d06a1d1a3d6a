import numpy as np
import pytest

from skadapt import SuccessProbClassifier
from skadapt.metrics import expected_success, oracle_budgets
from skadapt.shift import (
    leave_group_out,
    shift_evaluation,
    split_sample_oracle,
    split_samples,
)


def test_leave_group_out_never_tests_a_seen_group():
    groups = np.repeat(list("abcdefg"), [5, 3, 8, 2, 6, 4, 1])
    folds = leave_group_out(groups, n_splits=3)
    assert len(folds) == 3
    seen = np.concatenate([test for _, test in folds])
    assert sorted(seen.tolist()) == list(range(len(groups)))
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])


@pytest.mark.parametrize("kwargs, match", [
    ({"groups": ["a", "b"], "n_splits": 3}, "exceeds the 2 distinct groups"),
    ({"groups": ["a", "b"], "n_splits": 1}, "n_splits must be an integer >= 2"),
    ({"groups": [], "n_splits": 2}, "non-empty 1-D"),
])
def test_leave_group_out_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        leave_group_out(**kwargs)


def test_split_samples_and_errors():
    R = np.arange(12.0).reshape(2, 6)
    a, s = split_samples(R, 2)
    assert a.shape == (2, 2) and s.shape == (2, 4)
    np.testing.assert_array_equal(np.hstack([a, s]), R)
    with pytest.raises(ValueError, match="n_allocate must be"):
        split_samples(R, 6)
    with pytest.raises(ValueError, match="at least 2 samples"):
        split_samples(np.ones((3, 1)))


def test_split_sample_oracle_is_not_optimistic():
    # lam identical for every query: which samples happened to succeed is luck
    rng = np.random.default_rng(0)
    R = (rng.uniform(size=(2000, 32)) < 0.3).astype(float)
    R_alloc, R_score = split_samples(R)
    in_sample = expected_success(R_score, oracle_budgets(R_score, 2, max_budget=16))
    split = expected_success(R_score, split_sample_oracle(R_alloc, 2, max_budget=16))
    uniform = expected_success(R_score, np.full(len(R), 2))
    # the in-sample oracle "gains" from luck; the split-sample one cannot (it
    # even loses: spreading samples unevenly over equal queries costs success)
    assert in_sample > uniform + 0.008
    assert split < uniform


def _grouped_data(seed=0, n_per_group=150):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(6), n_per_group)
    X = rng.normal(size=(len(groups), 5))
    lam = 1 / (1 + np.exp(-(2.5 * X[:, 0] - 1)))
    R = (rng.uniform(size=(len(groups), 16)) < lam[:, None]).astype(float)
    return X, R, groups


def test_shift_evaluation_table_is_consistent():
    X, R, groups = _grouped_data()
    probe = SuccessProbClassifier(max_iter=40, random_state=0)
    table = shift_evaluation(probe, X, R, groups=groups, budgets=[1, 2, 4],
                             n_resamples=200)
    assert table["budget"].tolist() == [1, 2, 4]
    # a probe that sees the real signal beats uniform (and may beat an oracle
    # that knows only 8 samples per query)
    assert (table["online"] > table["uniform"]).all()
    assert (table["online_low"] > 0).all()
    assert (table["split_oracle"] > table["uniform"]).all()
    assert (table["captured"] > 0.3).all()
    np.testing.assert_allclose(table["online_gain"],
                               table["online"] - table["uniform"])
    # the offline policy spends about its budget when groups look alike
    np.testing.assert_allclose(table["offline_spend"], table["budget"], rtol=0.25)
    # uniform is exact pass@B on the scoring samples
    _, R_score = split_samples(R)
    for b, u in zip(table["budget"], table["uniform"]):
        assert u == pytest.approx(expected_success(R_score, np.full(len(R), b)))


def test_paced_offline_policy_streams_each_fold_one_query_at_a_time():
    """offline_paced is BinnedAllocator(pacing=True) fitted on the training folds'
    cross-fitted predictions and fed the held-out fold query by query, in a seeded
    random order; it keeps the realized spend near the budget."""
    from sklearn.base import clone
    from sklearn.utils import check_random_state

    from skadapt import BinnedAllocator

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(6), 80)
    X = rng.normal(size=(len(groups), 5))
    X[:, 0] += 0.8 * (groups - 2.5)  # the held-out groups' predictions drift
    lam = 1 / (1 + np.exp(-(2.0 * X[:, 0] - 1)))
    R = (rng.uniform(size=(len(groups), 16)) < lam[:, None]).astype(float)
    probe = SuccessProbClassifier(max_iter=40, random_state=0)
    table = shift_evaluation(probe, X, R, groups=groups, budgets=[1, 2, 4],
                             n_resamples=50, random_state=3)
    np.testing.assert_allclose(table["offline_paced_spend"], table["budget"], rtol=0.05)

    R_fit, R_score = split_samples(R)
    order = check_random_state(3)
    budgets = np.zeros(len(R), dtype=int)
    for train, test in leave_group_out(groups, n_splits=3):
        model = clone(probe)
        held = model.fit_transform(X[train], R_fit[train])
        out = model.transform(X[test])
        alloc = BinnedAllocator(2, max_budget=8, spend_tolerance=None, pacing=True,
                                kind="success_prob").fit(held, R_fit[train])
        for i in order.permutation(len(test)):
            budgets[test[i]] = alloc.transform(out[i:i + 1])[0, 0]
    row = table.set_index("budget").loc[2]
    assert row["offline_paced_spend"] == pytest.approx(budgets.mean())
    assert row["offline_paced"] == pytest.approx(expected_success(R_score, budgets))


def test_shift_evaluation_random_split_and_errors():
    X, R, groups = _grouped_data(1, 60)
    probe = SuccessProbClassifier(max_iter=20, random_state=0)
    table = shift_evaluation(probe, X, R, budgets=[2], offline=False,
                             n_resamples=50)
    assert "offline" not in table
    with pytest.raises(ValueError, match="budgets must lie in"):
        shift_evaluation(probe, X, R, budgets=[32])
    with pytest.raises(ValueError, match="one row per query"):
        shift_evaluation(probe, X, R[:10])
    with pytest.raises(ValueError, match="groups must have shape"):
        shift_evaluation(probe, X, R, groups=groups[:5])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_shift_evaluation_passes_fit_groups_to_the_probe():
    from sklearn.base import BaseEstimator, TransformerMixin

    from skadapt.calibration import CalibratedCurves

    X, R, groups = _grouped_data()
    seen = []

    class RecordsGroups(TransformerMixin, BaseEstimator):
        """A probe predicting each query's training-fold mean success; records groups."""

        def fit(self, X, R, groups=None):
            seen.append(None if groups is None else np.unique(groups).tolist())
            self.rate_ = float(np.mean(R))
            return self

        def transform(self, X):
            return np.full((len(X), 1), self.rate_)

    shift_evaluation(RecordsGroups(), X, R, groups=groups, fit_groups=groups, budgets=[1],
                     offline=False, n_resamples=20)
    # each fold's probe got the groups of its own training rows, and only those
    held_out = [sorted(set(np.unique(groups).tolist()) - set(g)) for g in seen]
    assert all(len(h) > 0 for h in held_out) and len(seen) == 3
    # CalibratedCurves takes them (GroupKFold over the training folds' groups)
    cal = CalibratedCurves(SuccessProbClassifier(max_iter=30, random_state=0), cv=2,
                           n_bins=3, random_state=0)
    by_group = shift_evaluation(cal, X, R, groups=groups, fit_groups=groups, budgets=[2],
                                offline=False, n_resamples=20)
    assert np.isfinite(by_group["online"]).all()
    with pytest.raises(ValueError, match="fit_groups must have shape"):
        shift_evaluation(cal, X, R, groups=groups, fit_groups=groups[:5], budgets=[2])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_shift_evaluation_can_resample_groups():
    X, _, groups = _grouped_data()
    # each group has a difficulty of its own that the features do not show, so the
    # result depends on which groups are held out: group intervals are wider
    rng = np.random.default_rng(1)
    offset = np.array([-2.0, 1.5, -0.5, 2.0, -1.5, 0.5])[groups]
    lam = 1 / (1 + np.exp(-(2.5 * X[:, 0] - 1 + offset)))
    R = (rng.uniform(size=(len(groups), 16)) < lam[:, None]).astype(float)
    probe = SuccessProbClassifier(max_iter=30, random_state=0)
    table = shift_evaluation(probe, X, R, groups=groups, budgets=[1, 2], offline=False,
                             n_resamples=300)
    assert (table["group_low"] <= table["online_gain"]).all()
    assert (table["online_gain"] <= table["group_high"]).all()
    assert ((table["group_high"] - table["group_low"])
            > (table["online_high"] - table["online_low"])).all()
    # the random split has no groups to resample
    random_split = shift_evaluation(probe, X, R, budgets=[1], offline=False, n_resamples=50)
    assert random_split[["group_low", "group_high"]].isna().all().all()


def test_binned_pacing_holds_the_budget_on_another_family_mix():
    """Fit the offline policy on some task families, stream others (real outcomes)."""
    import warnings

    from skadapt import BinnedAllocator
    from skadapt.allocation import BudgetOverrunWarning
    from skadapt.datasets import load_arithmetic

    data = load_arithmetic()
    lam = np.nanmean(data.outcomes, axis=1)[:, None]  # stand-in predictions
    seen = np.isin(data.family, ["addition", "subtraction", "multiplication"])
    stream = lam[~seen][np.random.default_rng(0).permutation((~seen).sum())]
    for budget in (2, 4):
        kwargs = dict(budget=budget, n_bins=10, max_budget=16, kind="success_prob")
        with pytest.warns(BudgetOverrunWarning, match="spent"):
            BinnedAllocator(**kwargs).fit(lam[seen]).transform(stream[:100])
        paced = BinnedAllocator(pacing=True, **kwargs).fit(lam[seen])
        spent = []
        with warnings.catch_warnings():
            warnings.simplefilter("error", BudgetOverrunWarning)
            for start in range(0, len(stream), 50):
                spent.append(paced.transform(stream[start:start + 50]).sum())
        assert abs(np.sum(spent) / len(stream) - budget) <= 0.05 * budget


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_shift_evaluation_trains_every_fold_on_the_extra_queries_too():
    from sklearn.base import BaseEstimator, TransformerMixin

    X, R, groups = _grouped_data(0, 20)  # 120 queries in 6 groups: little to learn from
    rng = np.random.default_rng(5)
    X_extra = rng.normal(size=(600, 5))  # other groups, the same signal
    lam = 1 / (1 + np.exp(-(2.5 * X_extra[:, 0] - 1)))
    R_extra = (rng.uniform(size=(600, 16)) < lam[:, None]).astype(float)
    seen = []

    class Records(TransformerMixin, BaseEstimator):
        def fit(self, X, R, groups=None):
            seen.append((len(X), R.shape[1], None if groups is None else sorted(set(groups))))
            self.rate_ = float(np.mean(R))
            return self

        def transform(self, X):
            return np.full((len(X), 1), self.rate_)

    shift_evaluation(Records(), X, R, groups=groups, budgets=[1], offline=False,
                     n_resamples=20, X_extra=X_extra, R_extra=R_extra,
                     fit_groups=groups, extra_groups=np.full(600, 99))
    # every fold: its 80 training queries plus all 600 extra ones, allocation samples only
    assert [(n, m) for n, m, _ in seen] == [(680, 8)] * 3
    assert all(99 in g and len(g) == 5 for _, _, g in seen)

    probe = SuccessProbClassifier(early_stopping=False, max_iter=100, random_state=0)
    alone = shift_evaluation(probe, X, R, groups=groups, budgets=[1, 2, 4], n_resamples=50)
    broader = shift_evaluation(probe, X, R, groups=groups, budgets=[1, 2, 4],
                               n_resamples=50, X_extra=X_extra, R_extra=R_extra)
    # the extra queries are never scored: the same uniform and oracle, a better probe
    np.testing.assert_array_equal(alone["uniform"], broader["uniform"])
    np.testing.assert_array_equal(alone["split_oracle"], broader["split_oracle"])
    assert (broader["online_gain"] > alone["online_gain"]).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"X_extra": np.zeros((4, 5))}, "X_extra is given without R_extra"),
    ({"R_extra": np.zeros((4, 16))}, "R_extra is given without X_extra"),
    ({"X_extra": np.zeros((4, 3)), "R_extra": np.zeros((4, 16))},
     r"X_extra must have shape \(n_extra, 5\)"),
    ({"X_extra": np.zeros((4, 5)), "R_extra": np.zeros((4, 8))},
     r"R_extra must have shape \(4, 16\)"),
    ({"extra_groups": np.zeros(4)}, "extra_groups is given without X_extra"),
    ({"X_extra": np.zeros((4, 5)), "R_extra": np.zeros((4, 16)), "fit_groups": "groups"},
     "extra_groups must give the groups"),
    ({"X_extra": np.zeros((4, 5)), "R_extra": np.zeros((4, 16)),
      "extra_groups": np.zeros(4)}, "only used with fit_groups"),
    ({"X_extra": np.zeros((4, 5)), "R_extra": np.zeros((4, 16)), "fit_groups": "groups",
      "extra_groups": np.zeros(3)}, r"extra_groups must have shape \(4,\)"),
    ({"extra_split_groups": np.zeros(4)}, "extra_split_groups is given without X_extra"),
    ({"X_extra": np.zeros((4, 5)), "R_extra": np.zeros((4, 16)),
      "extra_split_groups": np.zeros(3)}, r"extra_split_groups must have shape \(4,\)"),
    ({"X_extra": np.zeros((4, 5)), "R_extra": np.zeros((4, 16)), "groups": None,
      "extra_split_groups": np.zeros(4)}, "extra_split_groups needs groups"),
])
def test_shift_evaluation_extra_query_errors(kwargs, match):
    X, R, groups = _grouped_data(1, 20)
    if kwargs.get("fit_groups") == "groups":
        kwargs = {**kwargs, "fit_groups": groups}
    kwargs = {"groups": groups, **kwargs}
    with pytest.raises(ValueError, match=match):
        shift_evaluation(SuccessProbClassifier(max_iter=5), X, R, budgets=[1], **kwargs)


def test_shift_evaluation_leaves_out_the_extra_queries_of_held_out_groups():
    """With extra_split_groups, a fold never trains on extra queries of a group it
    holds out (leave-phrasing-out with extra queries in the same phrasings)."""
    from sklearn.base import BaseEstimator, TransformerMixin

    X, R, groups = _grouped_data(0, 20)
    rng = np.random.default_rng(5)
    split = np.resize(np.arange(6), 600)  # the extra queries' groups, 100 each
    X_extra = np.column_stack([rng.normal(size=(600, 4)), 100.0 + split])
    R_extra = (rng.uniform(size=(600, 16)) < 0.3).astype(float)
    seen = []

    class Records(TransformerMixin, BaseEstimator):
        def fit(self, X, R):
            self.extra_groups_ = sorted(set((X[X[:, 4] >= 100, 4] - 100).astype(int)))
            seen.append((len(X), self.extra_groups_))
            return self

        def transform(self, X):
            return np.full((len(X), 1), 0.3 + 0.01 * len(self.extra_groups_))

    shift_evaluation(Records(), X, R, groups=groups, budgets=[1], offline=False,
                     n_resamples=20, X_extra=X_extra, R_extra=R_extra,
                     extra_split_groups=split)
    held_out = [sorted(set(groups[test])) for _, test in leave_group_out(groups, n_splits=3)]
    assert [n for n, _ in seen] == [80 + 400] * 3
    for (_, trained), out in zip(seen, held_out):
        assert trained == sorted(set(range(6)) - set(out))
    # without it every fold trains on all 600
    seen.clear()
    shift_evaluation(Records(), X, R, groups=groups, budgets=[1], offline=False,
                     n_resamples=20, X_extra=X_extra, R_extra=R_extra)
    assert [n for n, _ in seen] == [680] * 3
