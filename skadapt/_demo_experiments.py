"""The demo's probes, its policies and the experiments on the dataset's fixed split.

Builders of the probe and of the best-of-k and routing policies, and steps 3-6 of
:mod:`skadapt._demo` on its train/test split: best-of-k, the probe table (Table 1),
routing and the graded reward. Re-exported by :mod:`skadapt._demo`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skadapt import metrics, targets
from skadapt.evaluation import bootstrap_interval, per_query_value


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
