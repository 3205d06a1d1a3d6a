"""The demo's experiments beyond the dataset's fixed split.

Random re-splits (step 7 of :mod:`skadapt._demo`), the shift tables (random split,
leave-family-out, leave-phrasing-out) and allocation with feedback replayed on the
stored samples. Re-exported by :mod:`skadapt._demo`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skadapt import metrics
from skadapt._demo_experiments import best_of_k_policy, best_of_k_probe, default_probe


def resplits(family, *, n_repeats, test_size, random_state=0):
    """The random re-splits, as a ``cv=`` for :func:`~sklearn.model_selection.cross_validate`.

    A list of ``(train, test)`` index pairs: re-split ``r`` is
    :func:`~sklearn.model_selection.train_test_split` of all queries, stratified by
    ``family``, with seed ``random_state + 1000 + r``.
    """
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(family))
    return [tuple(train_test_split(idx, test_size=test_size, stratify=family,
                                   random_state=random_state + 1000 + repeat))
            for repeat in range(n_repeats)]


def repeat_over_splits(features, data, *, budgets, max_budget, n_repeats,
                       test_size, random_state=0, memory=None):
    """Online and offline expected success against uniform and the oracle on
    ``n_repeats`` random re-splits (:func:`resplits`).

    Each policy of :func:`best_of_k_policy` (the default probe, seeded with
    ``random_state``) goes through :func:`~sklearn.model_selection.cross_validate`
    over the re-splits with the ``expected_success`` scorer
    (:func:`skadapt.scoring.get_scorer`); uniform and the in-sample oracle are
    computed on each test part.
    """
    from sklearn.model_selection import cross_validate

    from skadapt.scoring import get_scorer

    splits = resplits(data.family, n_repeats=n_repeats, test_size=test_size,
                      random_state=random_state)
    probe, kind = best_of_k_probe("mlp", random_state=random_state, max_budget=max_budget)
    scorer = get_scorer("expected_success")
    scores = {}
    for method in ("online", "offline"):
        for budget in budgets:
            policy = best_of_k_policy(probe, budget, method=method, max_budget=max_budget,
                                      kind=kind, memory=memory)
            scores[method, budget] = cross_validate(
                policy, features, data.outcomes, cv=splits, scoring=scorer,
                error_score="raise")["test_score"]
    rows = []
    for repeat, (_, test) in enumerate(splits):
        R_te = data.outcomes[test]
        for budget in budgets:
            oracle = metrics.oracle_budgets(R_te, budget, max_budget=max_budget)
            rows.append({"repeat": repeat, "seed": random_state + 1000 + repeat,
                         "budget": budget,
                         "uniform": metrics.expected_success(R_te, int(budget)),
                         "online": float(scores["online", budget][repeat]),
                         "offline": float(scores["offline", budget][repeat]),
                         "oracle": metrics.expected_success(R_te, oracle)})
    return pd.DataFrame(rows)


def shift_experiment(features, data, *, budgets, n_resamples=1000, random_state=0,
                     probe_factory=None, extra=None):
    """Random split, leave-family-out and (with templates) leave-phrasing-out tables.

    Each is :func:`skadapt.shift.shift_evaluation` of the demo's probe over all
    queries (3 folds), scored on samples the allocation never saw. ``extra``:
    ``(X_extra, extra_data)``, the features and the :class:`~skadapt._demo.DemoData`
    of queries of other task families, added to every fold's training rows and
    never scored (``X_extra`` of :func:`~skadapt.shift.shift_evaluation`); a fold
    leaves out those of the groups it holds out (``extra_split_groups``: their
    phrasings, leave-phrasing-out).
    """
    from skadapt.shift import shift_evaluation

    n_score = data.outcomes.shape[1] - data.outcomes.shape[1] // 2
    # curves up to the scoring samples' count: the most one query can be given
    probe_factory = probe_factory or (
        lambda: default_probe(random_state, max_budget=n_score))
    # (groups, the extra queries' labels in them)
    groupings = {"random split": (None, None),
                 "leave-family-out": (data.family, "family")}
    if data.template is not None:
        groupings["leave-phrasing-out"] = (data.template, "template")
    budgets = [b for b in budgets if b <= n_score]
    tables = []
    for name, (groups, label) in groupings.items():
        kwargs = {}
        if extra is not None:
            X_extra, extra_data = extra
            kwargs = {"X_extra": X_extra, "R_extra": extra_data.outcomes}
            if label is not None:
                split = getattr(extra_data, label)
                if split is None:
                    raise ValueError(f"the extra data has no {label} column, which "
                                     f"{name} needs")
                kwargs["extra_split_groups"] = split
        table = shift_evaluation(probe_factory(), features, data.outcomes, groups=groups,
                                 budgets=budgets, n_resamples=n_resamples,
                                 random_state=random_state, **kwargs)
        tables.append(table.assign(split=name))
    return pd.concat(tables, ignore_index=True)


def feedback_experiment(features, data, *, budgets, random_state=0, n_permutations=32,
                        first_samples=2, rounds=(2, 3)):
    """Policies with feedback against the one-shot probe, replayed on stored samples.

    On the dataset's test split (random split) and leave-family-out (3 folds):
    uniform, the one-shot probe (the default probe's curves), two-phase
    (``first_samples`` first, then a probe on hidden state + phase-1 evidence),
    multi-round (``rounds``), the price rule, UAB, Adaptive-Consistency and the
    split-sample oracle, under oracle verification and majority vote
    (:func:`skadapt.feedback.compare_policies`). Per split, each fold's frame is
    averaged with weights equal to its number of queries.
    """
    from skadapt.feedback import (
        StoredSamples,
        compare_policies,
        one_shot,
        two_phase_training_data,
    )
    from skadapt.shift import leave_group_out

    logprob = data.mean_logprob
    if logprob is not None and not np.isfinite(logprob).any():
        logprob = None  # a dataset collected before skadapt stored them: no UAB
    samples = StoredSamples(outcomes=data.outcomes, answers=data.answers,
                            reference=data.references, mean_logprob=logprob,
                            n_tokens=data.n_tokens, n_permutations=n_permutations,
                            random_state=random_state)
    n_samples = data.outcomes.shape[1]
    budgets = [b for b in budgets if first_samples <= b <= n_samples]
    idx = np.arange(len(data.queries))
    splits = {"random split": [(idx[data.is_train], idx[~data.is_train])],
              "leave-family-out": leave_group_out(data.family, n_splits=3)}
    frames = []
    for split, folds in splits.items():
        parts = []
        for train, test in folds:
            probe = default_probe(random_state, max_budget=n_samples)
            probe.fit(features[train], data.outcomes[train])
            test_samples = samples.subset(test)
            phase = two_phase_training_data(samples.subset(train), features[train],
                                            first_samples=first_samples,
                                            random_state=random_state)
            predictor = default_probe(random_state).fit(phase.X, phase.outcomes_rest)
            frame = compare_policies(
                test_samples, budgets,
                success_prob=probe.predict_proba(features[test])[:, 1],
                predictor=predictor, X=features[test], first_samples=first_samples,
                rounds=tuple(rounds))
            # the one-shot probe allocates on its expected curves, not a point
            curves = probe.transform(features[test])
            for b in budgets:
                result = one_shot(test_samples, curves, b, kind="marginal")
                for selection in ("oracle", "majority"):
                    sel = ((frame.policy == "one_shot") & (frame.selection == selection)
                           & (frame.target_budget == b))
                    frame.loc[sel, ["avg_samples", "quality"]] = (
                        result.avg_samples, result.quality[selection])
            parts.append(frame.assign(weight=len(test)))
        joined = pd.concat(parts, ignore_index=True)
        keys = ["policy", "selection", "target_budget"]

        def pooled(group):
            w = group["weight"]
            return pd.Series({col: np.average(group[col], weights=w)
                              if group[col].notna().all() else np.nan
                              for col in ("avg_samples", "quality", "rounds")})

        table = joined.groupby(keys, sort=False)[
            ["avg_samples", "quality", "rounds", "weight"]].apply(pooled).reset_index()
        frames.append(table.assign(split=split))
    return pd.concat(frames, ignore_index=True)


def feedback_savings(feedback, *, policy="multi_round_2", baseline="one_shot",
                     selection="oracle"):
    """Compute ``policy`` saves over ``baseline`` at matched quality, per split and budget.

    The baseline's curve (its quality at each target budget) is read piecewise
    linearly (:func:`skadapt.metrics.compute_savings`); NaN where the baseline
    never reaches the policy's quality within its budgets.
    """
    rows = []
    table = feedback[feedback.selection == selection]
    for split, group in table.groupby("split", sort=False):
        base = group[group.policy == baseline].sort_values("avg_samples")
        pol = group[group.policy == policy].sort_values("target_budget")
        if base.empty or pol.empty:
            continue
        saved = metrics.compute_savings(pol.avg_samples.to_numpy(), pol.quality.to_numpy(),
                                        base.avg_samples.to_numpy(),
                                        base.quality.to_numpy())
        for b, q, s in zip(pol.target_budget, pol.quality, saved.compute_saved):
            rows.append({"split": split, "budget": b, "policy": policy,
                         "baseline": baseline, "quality": q, "compute_saved": s})
    return pd.DataFrame(rows)
