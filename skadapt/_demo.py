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

The steps live in :mod:`skadapt._demo_experiments` (probes, policies and the
fixed-split experiments) and :mod:`skadapt._demo_shift` (re-splits, shift,
feedback); the written tables, report and plots in :mod:`skadapt._demo_report`.
All are re-exported here.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from skadapt import metrics, targets
from skadapt._demo_experiments import (  # noqa: F401  (re-exported)
    _rows,
    best_of_k_experiment,
    best_of_k_policy,
    best_of_k_probe,
    default_probe,
    fit_routing_policies,
    graded_experiment,
    probe_comparison,
    routing_experiment,
    routing_policy,
)
from skadapt._demo_report import (  # noqa: F401  (re-exported)
    OUTPUT_FILES,
    OUTPUT_PLOTS,
    OUTPUT_TABLES,
    _plots,
    format_report,
    write_outputs,
)
from skadapt._demo_shift import (  # noqa: F401  (re-exported)
    feedback_experiment,
    feedback_savings,
    repeat_over_splits,
    resplits,
    shift_experiment,
)
from skadapt.routing import preference_from_success


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


def stratified_subset(data, size, random_state=0):
    """``size`` of the queries of ``data`` (a :class:`DemoData`), stratified by family."""
    from sklearn.model_selection import train_test_split

    n = len(data.queries)
    if size >= n:
        return data
    keep, _ = train_test_split(np.arange(n), train_size=int(size),
                               random_state=random_state, stratify=data.family)
    keep = np.sort(keep)
    per_query = {f.name for f in fields(data)
                 if isinstance(getattr(data, f.name), np.ndarray)
                 and len(getattr(data, f.name)) == n}
    return replace(data, **{name: getattr(data, name)[keep] for name in per_query})


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


# provenance entries that must agree between a dataset and its extra training data (an
# entry either one lacks is not compared): the same model, prompt, decoding and verifier
_SAME_SAMPLING = (("model_sha256",), ("prompt_template",), ("answer_suffix",),
                  ("sampling", "temperature"), ("sampling", "top_p"),
                  ("sampling", "max_new_tokens"), ("sampling", "stop_strings"),
                  ("verifier",))


def _provenance_value(provenance, path):
    for key in path:
        if not isinstance(provenance, dict) or key not in provenance:
            return None
        provenance = provenance[key]
    if path == ("verifier",):  # its name; older files do not list its defaults
        provenance = str(provenance).split("[")[0]
    return provenance


def load_extra_data(extra_data, data):
    """The extra training queries of the shift tables, checked against ``data``.

    ``extra_data`` is ``"broader"`` (the shipped :func:`skadapt.datasets.load_broader`)
    or a :class:`DemoData`. Its outcomes must come from the same model, prompt,
    decoding settings and verifier as ``data``'s (where both provenances say), its
    queries must have as many samples as ``data``'s,
    none of its families or queries may be one of ``data``'s (they would sit on
    both sides of a leave-family-out split), and it needs templates when ``data``
    has them (leave-phrasing-out leaves out the held-out phrasings' extra queries).
    """
    if isinstance(extra_data, str):
        if extra_data != "broader":
            raise ValueError(f"extra_data must be 'broader' or a DemoData, got "
                             f"{extra_data!r}")
        from skadapt.datasets import load_broader

        extra = load_broader()
        extra_data = DemoData(
            queries=extra.queries, family=extra.family, outcomes=extra.outcomes,
            answers=extra.answers, references=extra.reference.astype(float),
            is_train=extra.train_mask, provenance=dict(extra.provenance),
            template=extra.template, mean_logprob=extra.mean_logprob,
            n_tokens=extra.n_tokens, name="broader")
    for path in _SAME_SAMPLING:
        ours, theirs = _provenance_value(data.provenance, path), _provenance_value(
            extra_data.provenance, path)
        if ours is not None and theirs is not None and ours != theirs:
            raise ValueError(f"the extra data was sampled with {'.'.join(path)}={theirs!r} "
                             f"and the dataset with {ours!r}: their outcomes do not "
                             "measure the same thing")
    if extra_data.outcomes.shape[1] != data.outcomes.shape[1]:
        raise ValueError(f"the extra data has {extra_data.outcomes.shape[1]} samples per "
                         f"query and the dataset {data.outcomes.shape[1]}; they must match")
    shared = sorted(set(extra_data.family) & set(data.family))
    if shared:
        raise ValueError(f"the extra data shares families with the dataset: {shared[:5]}")
    if set(extra_data.queries) & set(data.queries):
        raise ValueError("the extra data repeats queries of the dataset")
    if data.template is not None and extra_data.template is None:
        raise ValueError("the dataset has phrasing templates and the extra data none: "
                         "leave-phrasing-out must know which extra queries to leave out")
    return extra_data


def run_demo(*, probe="mlp", budgets=(1, 2, 4, 8, 16), max_budget=None,
             routing_k=5, fractions=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
             graded_budgets=(1, 2, 4, 8), n_repeats=3, max_queries=None,
             model="smollm2", layer=-1, n_resamples=1000, random_state=0,
             data_path=None, dataset="arithmetic", shift=True, feedback=True,
             feedback_permutations=32, output_dir=None, plots=True, log=print,
             verbose=0, data=None, extra_data=None):
    """Run every step; write tables (and plots) to ``output_dir`` when given.

    ``log`` receives one line as each step starts or ends (``skadapt demo`` prints
    them unless ``--quiet``); ``verbose`` turns on the featurizer's and LoRA
    probe's progress bars. ``data``: a :class:`DemoData` already loaded by
    :func:`load_demo_data` (``data_path``, ``max_queries`` and ``dataset`` are
    then ignored). The result's ``policies`` holds the fitted Pipelines whose
    budgets and routing decisions the best-of-k, routing and graded tables score.
    ``extra_data``: ``"broader"`` (:func:`skadapt.datasets.load_broader`) or a
    :class:`DemoData` of other task families, added to the training rows of every
    shift-table fold and never scored; ``None`` (default) adds nothing.
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
        extra = None
        if extra_data is not None:
            extra_data = load_extra_data(extra_data, data)
            log(f"shift: featurizing {len(extra_data.queries)} extra training queries "
                f"({len(set(extra_data.family))} {extra_data.name} families)")
            extra = (featurize(extra_data.queries, model=model, layer=layer,
                               verbose=verbose), extra_data)
        shift_table = shift_experiment(features, data, budgets=budgets,
                                       n_resamples=n_resamples,
                                       random_state=random_state, extra=extra)
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
              "extra_data": None if extra_data is None or not shift else (
                  extra_data.name, len(extra_data.queries),
                  len(set(extra_data.family))),
              "n_resamples": n_resamples},
    )
    if output_dir is not None:
        result.files = write_outputs(result, output_dir, plots=plots,
                                     pred_test=lam_pred_te, lam_test=lam_te)
    return result
