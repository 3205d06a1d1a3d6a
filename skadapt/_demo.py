"""The paper's result end to end on a real LM: the engine behind ``skadapt demo``.

Steps (each a function, so tests and the tutorial can run them one by one):

1. :func:`load_demo_data`: the shipped SmolLM2 arithmetic dataset
   (:func:`skadapt.datasets.load_arithmetic`), optionally a stratified subset.
2. :func:`featurize`: hidden states of SmolLM2-135M-Instruct at the prompt the
   model answered (cached on disk after the first run).
3. :func:`best_of_k_experiment`: at each average budget, two policies built with
   :func:`skadapt.policy.make_policy` and fitted on the training split: online
   (probe -> :class:`~skadapt.GreedyAllocator`) and offline (probe ->
   :class:`~skadapt.BinnedAllocator`, fitted on the probe's cross-fitted
   predictions and the training rewards); scored exactly on the test split
   against uniform best-of-k and the oracle.
4. :func:`probe_comparison`: the paper's Table 1 for the probe and baselines.
5. :func:`routing_experiment`: weak = one sample, strong = majority vote over
   ``k`` samples; routing policies (probe -> :class:`~skadapt.Router`, see
   :func:`routing_policy`) with the preference-probability probe (Eq. 8/11) and
   the best-of-k probe reused through Eq. 13-14, against random routing and the
   oracle.
6. :func:`graded_experiment`: a graded reward (closeness of the numeric answer)
   driven by :class:`~skadapt.MarginalRewardRegressor` in a policy whose
   greedy allocator gives every query at least one sample.
7. :func:`repeat_over_splits`: step 3's policies over several random re-splits,
   by :func:`sklearn.model_selection.cross_validate` with the
   ``expected_success`` scorer.

Every policy is a plain :class:`~sklearn.pipeline.Pipeline` of public estimators,
fitted with ``memory=`` (:func:`run_demo` uses a temporary joblib cache), so the
probe is fitted once per setting and data, not once per budget or fraction.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from skadapt import metrics, targets
from skadapt.evaluation import bootstrap_interval, per_query_value
from skadapt.routing import preference_from_success

# What write_outputs may write into the output folder (``skadapt demo`` refuses
# a folder holding any of them unless --overwrite).
OUTPUT_TABLES = ("best_of_k", "curves", "probe_table", "routing_curves",
                 "routing_summary", "graded_curves", "repeats", "shift", "feedback")
OUTPUT_PLOTS = ("allocation_curve.png", "calibration.png",
                "allocation_by_difficulty.png", "routing_curve.png")
OUTPUT_FILES = tuple(f"{name}.csv" for name in OUTPUT_TABLES) + ("report.md",) + OUTPUT_PLOTS


def min_queries(n_families):
    """Fewest queries the demo runs on: its stratified splits need every family in
    each test part (a quarter of the queries), and the probe's nearest-neighbour
    curves 25 training queries per cross-fitting fold. Measured: 40 queries work
    for the 6 arithmetic families, 125 for the 25 diverse ones; 39 and 110 fail.
    """
    return max(40, 5 * int(n_families))


@dataclass
class DemoData:
    """The demo's view of the dataset (rows are queries)."""

    queries: np.ndarray
    family: np.ndarray
    outcomes: np.ndarray  # (n, m) 0/1
    answers: np.ndarray  # (n, m) extracted numeric answers, NaN = none
    references: np.ndarray  # (n,) true answers (float where numeric)
    is_train: np.ndarray  # (n,) bool, the dataset's fixed split
    provenance: dict = field(default_factory=dict)
    template: np.ndarray = None  # (n,) phrasing template (diverse dataset only)
    mean_logprob: np.ndarray = None  # (n, m) per-sample evidence, NaN if absent
    n_tokens: np.ndarray = None  # (n, m)
    name: str = "arithmetic"


def load_demo_data(path=None, max_queries=None, random_state=0, dataset="arithmetic"):
    """Load a shipped dataset (or one written by ``skadapt collect`` at ``path``).

    ``dataset`` is ``"arithmetic"`` (:func:`skadapt.datasets.load_arithmetic`) or
    ``"diverse"`` (:func:`skadapt.datasets.load_diverse`); ``max_queries`` keeps
    a subset stratified by task family.
    """
    from skadapt.datasets import load_arithmetic, load_diverse

    if dataset not in ("arithmetic", "diverse"):
        raise ValueError(f"dataset must be 'arithmetic' or 'diverse', got {dataset!r}")
    data = (load_diverse if dataset == "diverse" else load_arithmetic)(path=path)
    n = len(data.queries)
    keep = np.arange(n)
    if max_queries is not None and max_queries < n:
        from sklearn.model_selection import train_test_split

        keep, _ = train_test_split(
            keep, train_size=int(max_queries), random_state=random_state,
            stratify=data.family,
        )
        keep = np.sort(keep)
    return DemoData(
        queries=data.queries[keep],
        family=data.family[keep],
        outcomes=data.outcomes[keep],
        answers=data.answers[keep],
        references=data.reference[keep].astype(float),
        is_train=data.train_mask[keep],
        provenance=dict(data.provenance),
        template=data.template[keep] if "template" in data else None,
        mean_logprob=data.mean_logprob[keep],
        n_tokens=data.n_tokens[keep],
        name=dataset,
    )


def featurize(queries, *, model="smollm2", layer=-1, pooling="mean", batch_size=32,
              verbose=0):
    """Hidden-state features, cached on disk (``skadapt._lm.cache_dir()/features``)."""
    from skadapt._lm import cache_dir
    from skadapt.featurizer import HiddenStateFeaturizer

    featurizer = HiddenStateFeaturizer(
        model=model, layer=layer, pooling=pooling, batch_size=batch_size,
        memory=str(cache_dir() / "features"), verbose=verbose,
    )
    return featurizer.fit_transform(list(queries))


def default_probe(random_state=0, **params):
    """The probe the demo (and the README's pipeline) uses: the class defaults.

    :class:`~skadapt.SuccessProbClassifier` with its tuned defaults: a point head on
    the (n, m) outcome matrix whose plug-in marginal-reward curve is blended half and
    half with the exact curves of the 25 nearest training queries
    (benchmarks/RESULTS.md, "Shift").
    """
    from skadapt import SuccessProbClassifier

    return SuccessProbClassifier(random_state=random_state, **params)


def _rows(X, rows):
    """Rows of features (an array), or of raw queries as the list a LoRA probe reads."""
    out = X[rows]
    return list(out) if out.dtype == object else out


def best_of_k_probe(probe="mlp", *, random_state=0, cv=5, max_budget=32, verbose=0):
    """The demo's best-of-k probe, unfitted: ``(estimator, kind)``.

    ``probe="mlp"`` is :func:`default_probe` with ``max_budget``: it reads
    features and its ``transform`` gives marginal-reward curves
    (``(n, max_budget)``, ``kind="marginal"``). ``probe="lora"`` is a
    :class:`~skadapt.LoRAProbe` that fine-tunes the LM on the raw queries (slow on
    CPU); its ``transform`` gives the success probability (one column,
    ``kind="success_prob"``). ``cv`` folds cross-fit it where the step after it
    learns from its predictions (:func:`skadapt.policy.make_policy`).
    """
    if probe == "mlp":
        return default_probe(random_state, cv=cv, max_budget=max_budget), "marginal"
    if probe == "lora":
        from skadapt.lora import LoRAProbe

        return LoRAProbe(random_state=random_state, cv=cv, verbose=verbose), "success_prob"
    raise ValueError(f"probe must be 'mlp' or 'lora', got {probe!r}")


def best_of_k_policy(probe, budget, *, method, max_budget, kind, n_bins=10, memory=None):
    """One best-of-k policy at one average budget: ``make_policy(probe, allocator)``.

    ``method="online"``: :class:`~skadapt.GreedyAllocator`, the exact optimum of
    Eq. 5 over each batch passed to ``transform`` (the probe is fitted once, no
    cross-fitting: the allocator's ``fit`` learns nothing from the predictions).
    ``method="offline"``: :class:`~skadapt.BinnedAllocator` with ``n_bins`` bins of
    predicted difficulty; :func:`~skadapt.policy.make_policy` makes the probe
    cross-fit, and ``Pipeline.fit(X, R)`` hands the allocator the out-of-fold
    predictions with the reward matrix ``R``, from which it learns each bin's
    budget. ``memory`` is the Pipeline's cache of fitted probes.

    Examples
    --------
    >>> from skadapt._demo import best_of_k_policy, default_probe
    >>> policy = best_of_k_policy(default_probe(0, max_budget=8), 2, method="offline",
    ...                           max_budget=8, kind="marginal")
    >>> [name for name, _ in policy.steps]
    ['successprobclassifier', 'binnedallocator']
    >>> policy[0].cross_fit
    True
    """
    from skadapt.allocation import BinnedAllocator, GreedyAllocator
    from skadapt.policy import make_policy

    if method == "online":
        allocator = GreedyAllocator(budget, max_budget=max_budget, kind=kind)
    elif method == "offline":
        # the realized spend is reported (average_budget): no spend warning
        allocator = BinnedAllocator(budget, n_bins=n_bins, max_budget=max_budget, kind=kind,
                                    spend_tolerance=None)
    else:
        raise ValueError(f"method must be 'online' or 'offline', got {method!r}")
    return make_policy(probe, allocator, memory=memory)


def _curves(rewards, chosen, *, methods, budgets, binary=True, n_resamples=1000,
            random_state=0):
    """Value against average budget per method, from each (method, budget)'s
    per-query budgets: exact values (:func:`~skadapt.metrics.per_query_value`),
    intervals from one paired bootstrap over queries (the frame of
    :func:`skadapt.evaluation.allocation_curves`). Also returns the values."""
    rows, per_query = [], {}
    for method in methods:
        for budget in budgets:
            b = chosen[method, budget]
            values = per_query[method, budget] = per_query_value(rewards, b, binary=binary)
            rows.append({"method": method, "budget": budget,
                         "average_budget": float(np.mean(b)),
                         "value": float(np.mean(values))})
    low, high = bootstrap_interval(np.vstack(list(per_query.values())),
                                   n_resamples=n_resamples, random_state=random_state)
    frame = pd.DataFrame(rows)
    frame["low"] = low
    frame["high"] = high
    return frame, per_query


def best_of_k_experiment(probe, X_train, R_train, X_test, R_test, *, budgets, max_budget,
                         kind, memory=None, n_resamples=1000, random_state=0):
    """Curves, the savings table and the fitted policies for best-of-k on binary rewards.

    At each average budget the online and offline policies of
    :func:`best_of_k_policy` are fitted on ``(X_train, R_train)`` and choose the
    budgets of the test queries (the online one over all of them as one batch);
    uniform best-of-k and the in-sample oracle
    (:func:`skadapt.metrics.oracle_budgets`) are computed from ``R_test``. Each
    method is scored exactly on ``R_test`` (the ``expected_success`` scorer's
    per-query terms), with paired bootstrap intervals over the test queries.
    Pass ``memory`` (a joblib.Memory) so that the probe is fitted once per
    method, not once per budget.

    Returns
    -------
    curves : DataFrame
        One row per (method, budget): ``average_budget``, ``value``, ``low``, ``high``.
    table : DataFrame
        One row per budget: each method's value and interval, online's compute saved,
        gain over uniform (with its paired interval) and share of the oracle's gain.
    policies : dict
        ``{"online": {budget: Pipeline}, "offline": {budget: Pipeline}}``, fitted.
    """
    R_test = np.asarray(R_test, dtype=float)
    n = R_test.shape[0]
    methods = ("uniform", "online", "offline", "oracle")
    policies = {"online": {}, "offline": {}}
    chosen = {}
    for budget in budgets:
        if budget != int(budget):
            raise ValueError(f"uniform best-of-k needs an integer budget, got {budget:g}")
        chosen["uniform", budget] = np.full(n, int(budget))
        for method in ("online", "offline"):
            policy = best_of_k_policy(probe, budget, method=method, max_budget=max_budget,
                                      kind=kind, memory=memory).fit(X_train, R_train)
            policies[method][budget] = policy
            chosen[method, budget] = np.asarray(policy.transform(X_test)).ravel()
        chosen["oracle", budget] = np.asarray(
            metrics.oracle_budgets(R_test, budget, max_budget=max_budget)).ravel()
    curves, per_query = _curves(R_test, chosen, methods=methods, budgets=budgets,
                                n_resamples=n_resamples, random_state=random_state)
    uniform_k = np.arange(0, max_budget + 1)
    uniform_q = metrics.best_of_k_curve(R_test, uniform_k)
    rows = []
    for budget in budgets:
        row = {"budget": budget}
        for method in methods:
            sel = curves[(curves.method == method) & (curves.budget == budget)].iloc[0]
            row[method] = sel.value
            row[f"{method}_low"], row[f"{method}_high"] = sel.low, sel.high
        for method in ("online", "offline", "oracle"):
            spent = curves[(curves.method == method) & (curves.budget == budget)]
            s = metrics.compute_savings(spent.average_budget.to_numpy(), [row[method]],
                                        uniform_k, uniform_q)
            row[f"{method}_saved"] = float(s.compute_saved[0])
            row[f"{method}_gain"] = float(s.quality_gain[0])
        # paired bootstrap interval of the gain at equal compute (same queries)
        diff = per_query["online", budget] - per_query["uniform", budget]
        row["online_gain_low"], row["online_gain_high"] = (
            float(v) for v in bootstrap_interval(diff, n_resamples=n_resamples,
                                                 random_state=random_state))
        gap = row["oracle"] - row["uniform"]
        row["online_share_of_oracle_gain"] = (
            (row["online"] - row["uniform"]) / gap if gap > 1e-12 else np.nan
        )
        rows.append(row)
    return curves, pd.DataFrame(rows), policies


def probe_comparison(X_train, y_train, X_test, y_test, *, probe_pred_test,
                     queries_train, queries_test, random_state=0):
    """Table 1 (``probe_report``) for the probe and the baselines."""
    from skadapt import _baselines

    rows = []

    def add(name, pred):
        report = metrics.probe_report(y_test, np.clip(pred, 1e-6, 1 - 1e-6))
        rows.append({"predictor": name, "loss": report["loss"],
                     "avg_loss": report["avg_loss"], "opt_loss": report["opt_loss"],
                     "accuracy": report["accuracy"]})

    add("MLP probe on hidden states (ours)", probe_pred_test)
    for name, baseline in _baselines.feature_baselines(random_state).items():
        add(name, _baselines.fit_predict(baseline, X_train, y_train, X_test))
    add("text-only (char n-grams)",
        _baselines.fit_predict(_baselines.text_baseline(), list(queries_train), y_train,
                               list(queries_test)))
    return pd.DataFrame(rows)


def routing_policy(probe, fraction, *, transfer_k=None, kind="success_prob", memory=None):
    """A routing policy: ``make_policy(probe, Router(fraction))``.

    With ``transfer_k``, the probe is a best-of-k probe reused as a router (appendix
    D): a :class:`~skadapt.routing.BestOfKPreference` step turns its ``transform``
    output (``kind``: success
    probabilities or marginal-reward curves) into ``sigmoid(q(k) - q(1))``, the
    predicted gain of best-of-``k`` over one sample (Eq. 13-14). The
    :class:`~skadapt.Router` sends the ``floor(fraction * n)`` queries of a batch
    with the largest scores to the strong decoder.

    Examples
    --------
    >>> from skadapt._demo import default_probe, routing_policy
    >>> policy = routing_policy(default_probe(0, max_budget=8), 0.3, transfer_k=5,
    ...                         kind="marginal")
    >>> [name for name, _ in policy.steps]
    ['successprobclassifier', 'bestofkpreference', 'router']
    """
    from skadapt.policy import make_policy
    from skadapt.routing import BestOfKPreference, Router

    steps = [probe]
    if transfer_k is not None:
        steps.append(BestOfKPreference(k=transfer_k, kind=kind))
    return make_policy(*steps, Router(fraction), memory=memory)


def routing_experiment(p_strong_test, p_weak_test, routed, *, fractions):
    """Expected success against the fraction routed to the strong decoder.

    ``routed`` maps a router name to its decisions on the test queries, one 0/1
    vector per fraction in ``fractions`` (1 = strong decoder), for instance the
    ``transform`` of the policies of :func:`routing_policy`. Adds random routing
    (:func:`skadapt.metrics.random_routing`) and the oracle, which routes by the
    true gain ``p_strong - p_weak``, largest first, and never a query whose gain
    is negative.
    """
    from skadapt.allocation import GreedyAllocator

    R_strong = np.asarray(p_strong_test, dtype=float).reshape(-1, 1)
    R_weak = np.asarray(p_weak_test, dtype=float).reshape(-1, 1)
    gain = (R_strong - R_weak)[:, 0]
    routed = {name: list(decisions) for name, decisions in routed.items()}
    # the oracle is allocation with max_budget=1 on the true gains: the greedy
    # allocator sends the (at most) floor(fraction * n) queries with the largest
    # positive gains to strong
    routed["oracle"] = [
        GreedyAllocator(fraction, max_budget=1, kind="marginal").fit_transform(
            gain.reshape(-1, 1))
        for fraction in fractions]
    for name, decisions in routed.items():
        if len(decisions) != len(fractions):
            raise ValueError(f"router {name!r}: {len(decisions)} decisions for "
                             f"{len(fractions)} fractions")
    rows = []
    for i, fraction in enumerate(fractions):
        rows.append({"router": "random", "fraction": fraction,
                     "value": metrics.random_routing(R_strong, R_weak, fraction)})
        for name, decisions in routed.items():
            decision = np.asarray(decisions[i]).reshape(-1, 1)
            rows.append({"router": name, "fraction": fraction,
                         "actual_fraction": float(np.mean(decision)),
                         "value": metrics.routing_reward(R_strong, R_weak, decision)})
    curves = pd.DataFrame(rows)
    weak_q, strong_q = float(R_weak.mean()), float(R_strong.mean())
    summary = []
    for name, group in curves.groupby("router", sort=False):
        x = group["fraction"].to_numpy()
        y = group["value"].to_numpy()
        summary.append({
            "router": name,
            "APGR": metrics.apgr(x, y, weak_quality=weak_q, strong_quality=strong_q),
            "CPT(50%)": metrics.cpt(x, y, 0.5, weak_quality=weak_q, strong_quality=strong_q),
        })
    return curves, pd.DataFrame(summary), weak_q, strong_q


def fit_routing_policies(make, X_train, y_train, X_test, *, fractions):
    """Fit ``make(fraction)`` on the training queries at each fraction: ``(policies,
    decisions)``, the fitted policies by fraction and their decisions on ``X_test``."""
    policies = {f: make(f).fit(X_train, y_train) for f in fractions}
    return policies, [np.asarray(p.transform(X_test)).ravel() for p in policies.values()]


def graded_experiment(X_train, G_train, X_test, G_test, *, budgets, max_budget,
                      random_state=0, n_resamples=1000, memory=None):
    """Continuous rewards: a MarginalRewardRegressor -> GreedyAllocator(min_budget=1)
    policy at each budget, against uniform and the oracle (every query >= 1 sample).

    Returns ``(curves, report, policies)``: the curves (expected reward, Eq. 10),
    the regressor's ``probe_report`` on the test queries' true marginal rewards and
    the fitted policies by budget.
    """
    from skadapt import MarginalRewardRegressor
    from skadapt.allocation import GreedyAllocator
    from skadapt.policy import make_policy

    reg = MarginalRewardRegressor(
        max_budget=max_budget, hidden_layer_sizes=(64,), alpha=1e-3, max_iter=200,
        early_stopping=True, n_iter_no_change=10, random_state=random_state,
    )
    G_test = np.asarray(G_test, dtype=float)
    n = G_test.shape[0]
    policies, chosen = {}, {}
    for budget in budgets:
        policy = make_policy(
            reg, GreedyAllocator(budget, max_budget=max_budget, min_budget=1, kind="marginal"),
            memory=memory).fit(X_train, G_train)
        policies[budget] = policy
        chosen["online", budget] = np.asarray(policy.transform(X_test)).ravel()
        chosen["uniform", budget] = np.full(n, int(budget))
        chosen["oracle", budget] = np.asarray(metrics.oracle_budgets(
            G_test, budget, max_budget=max_budget, min_budget=1)).ravel()
    curves, _ = _curves(G_test, chosen, methods=("uniform", "online", "oracle"),
                        budgets=budgets, binary=False, n_resamples=n_resamples,
                        random_state=random_state)
    pred = policies[budgets[0]][0].transform(X_test)  # the fitted regressor's curves
    truth = targets.marginal_rewards(G_test, max_budget)
    report = metrics.probe_report(truth, pred)
    return curves, report, policies


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
                     probe_factory=None):
    """Random split, leave-family-out and (with templates) leave-phrasing-out tables.

    Each is :func:`skadapt.shift.shift_evaluation` of the demo's probe over all
    queries (3 folds), scored on samples the allocation never saw.
    """
    from skadapt.shift import shift_evaluation

    n_score = data.outcomes.shape[1] - data.outcomes.shape[1] // 2
    # curves up to the scoring samples' count: the most one query can be given
    probe_factory = probe_factory or (
        lambda: default_probe(random_state, max_budget=n_score))
    groupings = {"random split": None, "leave-family-out": data.family}
    if data.template is not None:
        groupings["leave-phrasing-out"] = data.template
    budgets = [b for b in budgets if b <= n_score]
    tables = []
    for name, groups in groupings.items():
        table = shift_evaluation(probe_factory(), features, data.outcomes, groups=groups,
                                 budgets=budgets, n_resamples=n_resamples,
                                 random_state=random_state)
        tables.append(table.assign(split=name))
    return pd.concat(tables, ignore_index=True)


@dataclass
class DemoResult:
    """Everything ``skadapt demo`` computed (DataFrames) and where it wrote files."""

    best_of_k: pd.DataFrame
    curves: pd.DataFrame
    probe_table: pd.DataFrame
    routing_curves: pd.DataFrame
    routing_summary: pd.DataFrame
    graded_curves: pd.DataFrame
    graded_report: dict
    repeats: pd.DataFrame
    timings: dict
    info: dict
    files: list = field(default_factory=list)
    shift: pd.DataFrame = None
    feedback: pd.DataFrame = None
    # the fitted Pipelines behind the tables: "online" and "offline" ({budget:
    # policy}), "graded" ({budget: policy}), "routing" ({router: {fraction: policy}})
    policies: dict = None


def run_demo(*, probe="mlp", budgets=(1, 2, 4, 8, 16), max_budget=None,
             routing_k=5, fractions=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
             graded_budgets=(1, 2, 4, 8), n_repeats=3, max_queries=None,
             model="smollm2", layer=-1, n_resamples=1000, random_state=0,
             data_path=None, dataset="arithmetic", shift=True, feedback=True,
             feedback_permutations=32, output_dir=None, plots=True, log=print,
             verbose=0, data=None):
    """Run every step; write tables (and plots) to ``output_dir`` when given.

    ``log`` receives one line as each step starts or ends (``skadapt demo`` prints
    them unless ``--quiet``); ``verbose`` turns on the featurizer's and LoRA
    probe's progress bars. ``data``: a :class:`DemoData` already loaded by
    :func:`load_demo_data` (``data_path``, ``max_queries`` and ``dataset`` are
    then ignored). The result's ``policies`` holds the fitted Pipelines whose
    budgets and routing decisions the best-of-k, routing and graded tables score.
    """
    timings = {}
    t0 = time.perf_counter()
    if data is None:
        data = load_demo_data(data_path, max_queries=max_queries,
                              random_state=random_state, dataset=dataset)
    timings["load"] = time.perf_counter() - t0
    n_samples = data.outcomes.shape[1]
    if max_budget is None:
        max_budget = n_samples
    log(f"dataset: {len(data.queries)} queries x {n_samples} samples "
        f"({data.is_train.sum()} train / {(~data.is_train).sum()} test)")

    t = time.perf_counter()
    log(f"featurizing {len(data.queries)} queries with {model} (cached after the first run)")
    features = featurize(data.queries, model=model, layer=layer, verbose=verbose)
    timings["featurize"] = time.perf_counter() - t
    log(f"features: {features.shape} in {timings['featurize']:.1f} s")

    tr, te = data.is_train, ~data.is_train
    R_tr, R_te = data.outcomes[tr], data.outcomes[te]
    lam_tr, lam_te = targets.success_rate(R_tr), targets.success_rate(R_te)
    # the best-of-k probe reads features, or the raw queries (LoRA)
    X_bok = features if probe == "mlp" else np.asarray(list(data.queries), dtype=object)
    bok_probe, kind = best_of_k_probe(probe, random_state=random_state,
                                      max_budget=max_budget, verbose=verbose)

    # Every policy below is a fresh make_policy Pipeline fitted on its own; the
    # Pipeline's memory hands it the probe already fitted on the same data with the
    # same parameters, so the probe is fitted once per setting (online: one fit;
    # offline and the Eq. 13-14 router: the cross-fitted fit), not per budget.
    from joblib import Memory

    with tempfile.TemporaryDirectory(prefix="skadapt-demo-") as cache:
        memory = Memory(cache, verbose=0)
        t = time.perf_counter()
        log(f"best-of-k: cross-fitting the {probe} probe on the training split; "
            "online and offline policies at each budget")
        curves, best_of_k, bok_policies = best_of_k_experiment(
            bok_probe, _rows(X_bok, tr), R_tr, _rows(X_bok, te), R_te, budgets=budgets,
            max_budget=max_budget, kind=kind, memory=memory, n_resamples=n_resamples,
            random_state=random_state)
        # the probe of the offline policies: fitted on the whole training split (its
        # cross-fitted predictions only trained the allocator)
        fitted_probe = bok_policies["offline"][budgets[0]][0]
        lam_pred_te = (fitted_probe.predict_proba(features[te])[:, 1] if probe == "mlp"
                       else np.asarray(fitted_probe.transform(_rows(X_bok, te))).ravel())
        probe_table = probe_comparison(
            features[tr], lam_tr, features[te], lam_te, probe_pred_test=lam_pred_te,
            queries_train=data.queries[tr], queries_test=data.queries[te],
            random_state=random_state)
        timings["best_of_k"] = time.perf_counter() - t

        # routing: weak = one sample, strong = majority vote over routing_k samples
        t = time.perf_counter()
        log(f"routing: one sample vs majority vote over {routing_k}")
        from skadapt.datasets import majority_vote_outcomes

        p_strong = majority_vote_outcomes(data.answers, data.references, routing_k)
        p_weak = targets.success_rate(data.outcomes)
        pref = preference_from_success(p_strong, p_weak)
        # Eq. 8: a probe of the preference probability (Eq. 11) -> Router
        route_policies, route_decisions = fit_routing_policies(
            lambda f: routing_policy(default_probe(random_state), f, memory=memory),
            features[tr], pref[tr], features[te], fractions=fractions)
        # Eq. 13-14: the best-of-k probe -> sigmoid(q(k) - q(1)) -> Router
        transfer_policies, transfer_decisions = fit_routing_policies(
            lambda f: routing_policy(bok_probe, f, transfer_k=routing_k, kind=kind,
                                     memory=memory),
            _rows(X_bok, tr), R_tr, _rows(X_bok, te), fractions=fractions)
        routing_curves, routing_summary, weak_q, strong_q = routing_experiment(
            p_strong[te], p_weak[te],
            {"preference probe (Eq. 8)": route_decisions,
             "best-of-k probe (Eq. 13-14)": transfer_decisions},
            fractions=fractions)
        route_pred = route_policies[fractions[0]][0].transform(features[te])[:, 0]
        route_report = metrics.probe_report(pref[te], route_pred)
        timings["routing"] = time.perf_counter() - t

        t = time.perf_counter()
        log("graded reward: fitting the marginal-reward regressor")
        from skadapt.verifiers import graded_reward

        G = graded_reward(data.answers, data.references[:, None])
        # a cap above the largest average budget, so the allocation is not forced
        graded_max = min(n_samples, 2 * max(graded_budgets))
        graded_curves, graded_report, graded_policies = graded_experiment(
            features[tr], G[tr], features[te], G[te], budgets=graded_budgets,
            max_budget=graded_max, random_state=random_state, n_resamples=n_resamples,
            memory=memory)
        timings["graded"] = time.perf_counter() - t

        t = time.perf_counter()
        if n_repeats:
            log(f"repeats: cross_validate over {n_repeats} random re-split(s)")
        repeats = repeat_over_splits(
            features, data, budgets=budgets, max_budget=max_budget, n_repeats=n_repeats,
            test_size=float(te.mean()), random_state=random_state,
            memory=memory) if n_repeats else pd.DataFrame()
        timings["repeats"] = time.perf_counter() - t
    policies = {**bok_policies, "graded": graded_policies,
                "routing": {"preference probe (Eq. 8)": route_policies,
                            "best-of-k probe (Eq. 13-14)": transfer_policies}}

    shift_table = None
    if shift:
        t = time.perf_counter()
        log("shift: random split, leave-family-out"
            + (", leave-phrasing-out" if data.template is not None else ""))
        shift_table = shift_experiment(features, data, budgets=budgets,
                                       n_resamples=n_resamples,
                                       random_state=random_state)
        timings["shift"] = time.perf_counter() - t
    feedback_table = None
    if feedback:
        t = time.perf_counter()
        log("feedback: policies that look at the query's own samples")
        feedback_table = feedback_experiment(features, data, budgets=budgets,
                                             random_state=random_state,
                                             n_permutations=feedback_permutations)
        timings["feedback"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0

    result = DemoResult(
        best_of_k=best_of_k, curves=curves, probe_table=probe_table,
        routing_curves=routing_curves, routing_summary=routing_summary,
        graded_curves=graded_curves, graded_report=graded_report, repeats=repeats,
        timings=timings, shift=shift_table, feedback=feedback_table, policies=policies,
        info={"n_queries": len(data.queries), "n_train": int(tr.sum()),
              "n_test": int(te.sum()), "n_samples": int(n_samples),
              "max_budget": int(max_budget), "routing_k": routing_k,
              "weak_quality": weak_q, "strong_quality": strong_q,
              "routing_probe_report": route_report, "probe": probe,
              "model": model, "layer": layer, "dataset": data.name,
              "data_path": None if data_path is None else str(data_path),
              "n_resamples": n_resamples},
    )
    if output_dir is not None:
        result.files = write_outputs(result, output_dir, plots=plots,
                                     pred_test=lam_pred_te, lam_test=lam_te)
    return result


def write_outputs(result, output_dir, *, plots=True, pred_test=None, lam_test=None):
    """Save tables as CSV and markdown, and the plots as PNG; return the paths."""
    from pathlib import Path

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name in OUTPUT_TABLES:
        table = getattr(result, name)
        if table is None:
            continue
        path = out / f"{name}.csv"
        table.to_csv(path, index=False)
        files.append(path)
    report = out / "report.md"
    report.write_text(format_report(result))
    files.append(report)
    if plots:
        files.extend(_plots(result, out, pred_test, lam_test))
    return files


def _model_label(info):
    model = info.get("model", "smollm2")
    return "SmolLM2-135M-Instruct" if model == "smollm2" else str(model)


def _dataset_label(info):
    """The dataset as a title names it: the shipped kind, or the file it came from."""
    from pathlib import Path

    name = f"{info.get('dataset', 'arithmetic')} dataset"
    if info.get("data_path"):
        name += f" ({Path(info['data_path']).name})"
    return name


def _plots(result, out, pred_test, lam_test):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skadapt.display import (
        AllocationByDifficultyDisplay,
        AllocationCurveDisplay,
        SuccessCalibrationDisplay,
    )

    info = result.info
    # every title names the model and the dataset actually used
    source = f"{_model_label(info)}, {_dataset_label(info)}"
    n_test = info["n_test"]
    paths = []

    def save(disp, title, name):
        disp.ax_.set_title(f"{source}\n{title}")
        paths.append(out / name)
        disp.figure_.savefig(paths[-1], dpi=120, bbox_inches="tight")
        plt.close(disp.figure_)

    disp = AllocationCurveDisplay(
        result.curves,
        interval_label=(f"shaded: 95% bootstrap interval\nover the {n_test} test "
                        f"queries\n({info.get('n_resamples', 1000)} resamples)"),
    ).plot()
    save(disp, f"best-of-k allocation on the {n_test} test queries", "allocation_curve.png")

    disp = SuccessCalibrationDisplay.from_predictions(lam_test, pred_test,
                                                      name="MLP probe")
    save(disp, f"calibration of the success-probability probe ({n_test} test queries,"
         " binned by deciles of the prediction)", "calibration.png")

    disp = AllocationByDifficultyDisplay.from_predictions(
        pred_test, budgets=sorted(set(result.best_of_k.budget)),
        max_budget=info["max_budget"])
    save(disp, "where the compute goes (greedy allocation on the predicted success p)",
         "allocation_by_difficulty.png")

    routing = result.routing_curves.rename(columns={"router": "method"})
    routing = routing.assign(budget=routing["fraction"], average_budget=routing["fraction"])
    disp = AllocationCurveDisplay(routing, ylabel="Expected success").plot(log_x=False)
    disp.ax_.set(xlabel="Fraction routed to the strong decoder (majority vote)")
    save(disp, f"routing: one sample vs majority vote over {info['routing_k']}",
         "routing_curve.png")
    return paths


def _fmt_ci(value, low, high):
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _explain(*lines):
    """Markdown bullets, one line each, that say what a table's columns mean."""
    return [f"- {line}" for line in lines] + [""]


def format_report(result):
    """The demo's tables as markdown, each metric explained where it first appears."""
    info = result.info
    n_test = info["n_test"]
    n_resamples = info.get("n_resamples", 1000)
    lines = [
        f"Dataset: {_dataset_label(info)}, {info['n_queries']} queries "
        f"({info['n_train']} train / {n_test} test), {info['n_samples']} sampled answers "
        f"each from {_model_label(info)}; probe: {info['probe']}; max budget "
        f"{info['max_budget']} samples per query.",
        "",
        "Expected success: the chance that a query gets a correct answer from its "
        "samples (pass@k with a verifier, estimated exactly from the stored samples, "
        "not by bootstrap), averaged over queries (Eq. 9).",
        "",
        "### Best-of-k: expected success on the test split (95% bootstrap interval)",
        "",
    ]
    lines += _explain(
        "budget: average samples per query; uniform: every query gets that many "
        "(best-of-k).",
        "online: the policy make_policy(probe, GreedyAllocator) fitted on the training "
        "split, the exact optimum of Eq. 5 over the test queries; offline: "
        "make_policy(probe, BinnedAllocator), one budget per bin of predicted "
        "difficulty, learnt from the probe's out-of-fold predictions of the training "
        "queries and their rewards.",
        "oracle (in-sample oracle, optimistic): allocates from each test query's true "
        "success rate and is scored on the same samples, so it overstates what any "
        "policy can reach; the shift tables below use the split-sample oracle.",
        f"[low, high]: 95% percentile bootstrap interval of the mean over the {n_test} "
        f"test queries ({n_resamples} resamples of queries with replacement; the "
        "budgets are held fixed). The gain's interval is paired: the same resampled "
        "queries for online and uniform.",
        "compute saved: 1 - (online's average budget) / (the uniform budget, read "
        "linearly between whole budgets, that reaches the same expected success); NaN "
        "when uniform never reaches it within the max budget.",
        "gain at equal compute: online minus uniform at the same average budget; share "
        "of oracle gain: (online - uniform) / (oracle - uniform).",
    )
    bok = result.best_of_k
    methods = [m for m in ("uniform", "online", "offline", "oracle") if m in bok.columns]
    header = "| budget | " + " | ".join(methods) + \
        " | online: compute saved | online: gain at equal compute | share of oracle gain |"
    lines += [header, "|" + "---|" * (len(methods) + 4)]
    for _, row in bok.iterrows():
        cells = [_fmt_ci(row[m], row[f"{m}_low"], row[f"{m}_high"]) for m in methods]
        saved = row.get("online_saved", np.nan)
        lines.append(
            f"| {row.budget:g} | " + " | ".join(cells)
            + f" | {saved:.0%} | {row.online_gain:+.3f} "
            + f"[{row.online_gain_low:+.3f}, {row.online_gain_high:+.3f}] | "
            + f"{row.online_share_of_oracle_gain:.0%} |"
        )
    lines += ["", "### Probe metrics (Table 1 of the paper), test split", ""]
    lines += _explain(
        "loss: cross-entropy of the predicted success probability against each test "
        f"query's success rate over its {info['n_samples']} samples (soft labels, "
        "Eq. 7); lower is better.",
        "Avg.: the loss of predicting the test queries' mean success rate for every "
        "query (the best constant, in hindsight); Opt.: the lowest loss possible, that "
        "of predicting each query's own success rate (mean binary entropy).",
        "normalised: (Avg. - loss) / (Avg. - Opt.), the share of the gap from the "
        "constant to a perfect probe that the predictor closes (1 = perfect, 0 = no "
        "better than the constant).",
        "Acc.: median-split accuracy, the share of queries the prediction puts on the "
        "same side of the median as their true success rate (50% = chance).",
    )
    lines += ["| predictor | loss | Avg. | Opt. | normalised | Acc. |",
              "|---|---|---|---|---|---|"]
    for _, row in result.probe_table.iterrows():
        gap = row.avg_loss - row.opt_loss
        skill = (row.avg_loss - row.loss) / gap if gap > 1e-12 else np.nan
        skill = f"{skill:.2f}".replace("-0.00", "0.00")
        lines.append(f"| {row.predictor} | {row.loss:.3f} | {row.avg_loss:.3f} | "
                     f"{row.opt_loss:.3f} | {skill} | {row.accuracy:.1%} |")
    k = info["routing_k"]
    lines += ["", f"### Routing: weak = 1 sample, strong = majority vote over {k} samples",
              ""]
    q_j = ("= 1 - (1 - p)^j from its success probability p" if info["probe"] == "lora"
           else "the sum of its first j predicted marginal rewards")
    lines += _explain(
        f"Each query goes to the weak decoder (one sample) or the strong one (the "
        f"majority answer of {k} samples); weak/strong alone: expected success when "
        "every query goes to one of them.",
        "preference probe (Eq. 8): make_policy(probe, Router), the probe trained on the "
        "preference probability E[sigmoid(r_strong - r_weak)] of Eq. 11; best-of-k probe "
        "(Eq. 13-14): the best-of-k probe above reused, make_policy(probe, "
        f"BestOfKPreference(k={k}), Router), routing by sigmoid(q({k}) - q(1)) with "
        f"q(j) {q_j}; oracle: largest true gain first; random: a random share.",
        "APGR (average performance gap recovered): the area under "
        "(success - weak) / (strong - weak) against the fraction routed to strong, from "
        "0 to 1; random routing scores 0.5, higher is better.",
        "CPT(50%) (call-performance threshold): the smallest fraction of queries sent "
        "to strong that recovers half of that gap; random needs 0.5, lower is better.",
    )
    lines += [f"Weak alone: {info['weak_quality']:.3f}; strong alone: "
              f"{info['strong_quality']:.3f}.", "",
              "| router | APGR | CPT(50%) |", "|---|---|---|"]
    for _, row in result.routing_summary.iterrows():
        lines.append(f"| {row.router} | {row.APGR:.3f} | {row['CPT(50%)']:.3f} |")
    pivot = result.routing_curves.pivot(index="fraction", columns="router", values="value")
    lines += ["", "Expected success at each fraction of queries routed to strong:", "",
              "| fraction to strong | " + " | ".join(pivot.columns) + " |",
              "|" + "---|" * (len(pivot.columns) + 1)]
    for fraction, row in pivot.iterrows():
        lines.append(f"| {fraction:.1f} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    g = result.graded_curves
    lines += ["", "### Graded reward (MarginalRewardRegressor, every query >= 1 sample)", ""]
    lines += _explain(
        "Each answer scored by its closeness to the true number (0 to 1); the value is "
        "the expected best reward among a query's samples (Eq. 10), with the same "
        "bootstrap intervals; the oracle is in-sample as above.",
        "MSE: squared error of the predicted marginal rewards (Eq. 6), against the "
        "constant that predicts the mean curve.",
    )
    lines += ["| budget | uniform | online | oracle |", "|---|---|---|---|"]
    for budget, group in g.groupby("budget"):
        cells = []
        for m in ("uniform", "online", "oracle"):
            r = group[group.method == m].iloc[0]
            cells.append(_fmt_ci(r.value, r.low, r.high))
        lines.append(f"| {budget:g} | " + " | ".join(cells) + " |")
    rep = result.graded_report
    lines += ["", f"Regressor: MSE {rep['loss']:.5f} vs constant {rep['avg_loss']:.5f}.", ""]
    if len(result.repeats):
        n_rep = result.repeats["repeat"].nunique()
        lines += ["### Repeated over random re-splits (mean ± sd of expected success)", ""]
        lines += _explain(
            f"The whole best-of-k comparison on {n_rep} other random train/test splits "
            "(stratified by task family): the online and offline policies through "
            "cross_validate over those splits with the expected_success scorer; mean ± "
            "standard deviation over the splits, and on how many splits online did at "
            "least as well as uniform.")
        lines += ["| budget | uniform | online | offline | oracle | online >= uniform |",
                  "|---|---|---|---|---|---|"]
        for budget, group in result.repeats.groupby("budget"):
            cells = [f"{group[m].mean():.3f} ± {group[m].std(ddof=1) if len(group) > 1 else 0:.3f}"
                     for m in ("uniform", "online", "offline", "oracle")]
            wins = int(np.sum(group.online >= group.uniform))
            lines.append(f"| {budget:g} | " + " | ".join(cells) + f" | {wins}/{len(group)} |")
        lines.append("")
    if result.shift is not None:
        lines += _shift_lines(result.shift, n_resamples=n_resamples,
                              n_samples=info["n_samples"])
    if result.feedback is not None:
        lines += _feedback_lines(result.feedback)
    t = result.timings
    lines.append("Timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))
    return "\n".join(lines) + "\n"


def _shift_lines(shift, *, n_resamples=1000, n_samples=32):
    half = n_samples // 2
    lines = ["### Under shift: every query predicted by a probe that never saw its group",
             ""]
    lines += _explain(
        "random split: 3 shuffled folds; leave-family-out (leave-phrasing-out): 3 folds "
        "that each hold out whole task families (phrasing templates), so the probe "
        "predicts queries unlike its training set.",
        f"The budget B is allocated over all queries from samples 1-{half}; every policy "
        f"is scored on samples {half + 1}-{n_samples}, which chose nothing.",
        f"split oracle (split-sample oracle): allocates from each query's success rate "
        f"on samples 1-{half} and is scored on samples {half + 1}-{n_samples}, so unlike "
        "the in-sample oracle it is not flattered by its own samples; a learned policy "
        "can beat it.",
        "online (gain [95% CI]): the gain over uniform with its paired 95% bootstrap "
        f"interval ({n_resamples} resamples of the queries); over groups: the same "
        "interval resampling whole families (phrasings), which also counts how much the "
        "gain depends on which groups were held out; offline (spend): "
        "BinnedAllocator fitted on the training folds, scored at the average budget it "
        "really spent, in brackets.",
        "captured: (online - uniform) / (split oracle - uniform), the share of the split "
        "oracle's gain that online reaches (above 100% when online beats the oracle); "
        "saved: compute saved at matched success, as above.",
    )
    for split, table in shift.groupby("split", sort=False):
        grouped = "group_low" in table and table["group_low"].notna().any()
        lines += [f"**{split}**", "",
                  "| B | uniform | online (gain [95% CI]) | "
                  + ("over groups | " if grouped else "")
                  + "offline (spend) | split oracle | captured | saved |",
                  "|---|---|---|" + ("---|" if grouped else "") + "---|---|---|---|"]
        for _, r in table.iterrows():
            offline = (f"{r.offline:.3f} ({r.offline_spend:.2f})"
                       if "offline" in r and not pd.isna(r.get("offline")) else "-")
            captured = "-" if pd.isna(r.captured) else f"{r.captured:.0%}"
            saved = "-" if pd.isna(r.compute_saved) else f"{r.compute_saved:.0%}"
            over = (f"[{r.group_low:+.3f}, {r.group_high:+.3f}] | " if grouped else "")
            lines.append(f"| {r.budget:g} | {r.uniform:.3f} | {r.online:.3f} "
                         f"({r.online_gain:+.3f} [{r.online_low:+.3f}, "
                         f"{r.online_high:+.3f}]) | {over}{offline} | {r.split_oracle:.3f} | "
                         f"{captured} | {saved} |")
        lines.append("")
    return lines


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


_POLICY_ORDER = ["uniform", "one_shot", "two_phase", "multi_round_2", "multi_round_3",
                 "price_rule", "uab", "adaptive_consistency", "split_sample_oracle"]


def _feedback_lines(feedback):
    lines = ["### Allocation with feedback (replayed on the stored samples)", "",
             "Quality at each average budget (samples per query); in brackets the "
             "average spend where a policy cannot spend the target, and the rounds "
             "of parallel draws it needs. Oracle = a verifier picks a correct sample "
             "(pass@k; feedback policies stop a query once verified); majority = "
             "majority vote over the drawn answers, no verifier.", ""]
    lines += _explain(
        "uniform: B samples each; one_shot: the default probe's allocation from hidden "
        "states alone (as online above); two_phase: 2 samples each, then the rest "
        "allocated by a probe that also reads them; multi_round_R: R rounds of "
        "parallel draws, each allocated from all samples drawn so far.",
        "price_rule: one query at a time, drawing while the next sample is worth a set "
        "price; uab: one sample each, then the rest by its log-probability confidence; "
        "adaptive_consistency: draw until the majority answer is settled (Beta "
        "stopping rule); split_sample_oracle: as in the shift tables.",
    )
    for (split, selection), table in feedback.groupby(["split", "selection"], sort=False):
        budgets = sorted(table.target_budget.unique())
        lines += [f"**{split}, {selection}**", "",
                  "| policy | rounds | " + " | ".join(f"B={b:g}" for b in budgets) + " |",
                  "|---|---|" + "---|" * len(budgets)]
        policies = [p for p in _POLICY_ORDER if p in set(table.policy)]
        for policy in policies:
            rows = table[table.policy == policy].set_index("target_budget")
            cells = []
            for b in budgets:
                if b not in rows.index or pd.isna(rows.loc[b, "quality"]):
                    cells.append("-")
                    continue
                cell = f"{rows.loc[b, 'quality']:.3f}"
                if abs(rows.loc[b, "avg_samples"] - b) > 0.05 * b:
                    cell += f" ({rows.loc[b, 'avg_samples']:.1f})"
                cells.append(cell)
            r = rows["rounds"].max()
            lines.append(f"| {policy} | {r:.0f} | " + " | ".join(cells) + " |")
        lines.append("")
    for policy in ("multi_round_2", "multi_round_3"):
        saved = feedback_savings(feedback, policy=policy)
        if saved.empty:
            continue
        lines += [f"With a verifier at inference, compute {policy} saves over the one-shot "
                  "probe at matched success (NaN: one-shot never reaches it within its "
                  "budgets):", ""]
        for split, group in saved.groupby("split", sort=False):
            cells = ", ".join(f"B={b:g}: {'-' if pd.isna(s) else f'{s:.0%}'}"
                              for b, s in zip(group.budget, group.compute_saved))
            lines.append(f"- {split}: {cells}")
        lines.append("")
    return lines


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
