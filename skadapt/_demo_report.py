"""What ``skadapt demo`` writes: its tables as CSV, the markdown report and the plots.

Re-exported by :mod:`skadapt._demo`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skadapt._demo_shift import feedback_savings

# What write_outputs may write into the output folder (``skadapt demo`` refuses
# a folder holding any of them unless --overwrite).
OUTPUT_TABLES = ("best_of_k", "curves", "probe_table", "routing_curves",
                 "routing_summary", "graded_curves", "repeats", "shift", "feedback")
OUTPUT_PLOTS = ("allocation_curve.png", "calibration.png",
                "allocation_by_difficulty.png", "routing_curve.png")
OUTPUT_FILES = tuple(f"{name}.csv" for name in OUTPUT_TABLES) + ("report.md",) + OUTPUT_PLOTS


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
                              n_samples=info["n_samples"], extra=info.get("extra_data"))
    if result.feedback is not None:
        lines += _feedback_lines(result.feedback)
    t = result.timings
    lines.append("Timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))
    return "\n".join(lines) + "\n"


def _shift_lines(shift, *, n_resamples=1000, n_samples=32, extra=None):
    half = n_samples // 2
    lines = ["### Under shift: every query predicted by a probe that never saw its group",
             ""]
    if extra is not None:
        name, n_extra, n_families = extra
        source = "skadapt.datasets.load_broader" if name == "broader" else name
        lines += _explain(
            f"extra training data: every fold's probe also trains on {n_extra} queries "
            f"of {n_families} other task families ({source}), which are never scored "
            "(--extra-data; --extra-data none trains on the dataset alone); "
            "leave-phrasing-out, a fold leaves out those asked in the phrasings it "
            "holds out.")
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
        "really spent, in brackets; paced (spend): the same with its spend guard "
        "(pacing=True), meeting the held-out queries one at a time.",
        "captured: (online - uniform) / (split oracle - uniform), the share of the split "
        "oracle's gain that online reaches (above 100% when online beats the oracle); "
        "saved: compute saved at matched success, as above.",
    )
    for split, table in shift.groupby("split", sort=False):
        grouped = "group_low" in table and table["group_low"].notna().any()
        lines += [f"**{split}**", "",
                  "| B | uniform | online (gain [95% CI]) | "
                  + ("over groups | " if grouped else "")
                  + "offline (spend) | paced (spend) | split oracle | captured | saved |",
                  "|---|---|---|" + ("---|" if grouped else "") + "---|---|---|---|---|"]
        for _, r in table.iterrows():
            offline = " | ".join(
                f"{r[name]:.3f} ({r[name + '_spend']:.2f})"
                if name in r and not pd.isna(r.get(name)) else "-"
                for name in ("offline", "offline_paced"))
            captured = "-" if pd.isna(r.captured) else f"{r.captured:.0%}"
            saved = "-" if pd.isna(r.compute_saved) else f"{r.compute_saved:.0%}"
            over = (f"[{r.group_low:+.3f}, {r.group_high:+.3f}] | " if grouped else "")
            lines.append(f"| {r.budget:g} | {r.uniform:.3f} | {r.online:.3f} "
                         f"({r.online_gain:+.3f} [{r.online_low:+.3f}, "
                         f"{r.online_high:+.3f}]) | {over}{offline} | {r.split_oracle:.3f} | "
                         f"{captured} | {saved} |")
        lines.append("")
    return lines


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
