"""Tables and plots across run directories (`rlgen report`).

A run's score on a split is its mean normalized return over the split's evaluation episodes.
Runs of one (env, agent[, dataset]) group differ by seed; the group's scores form rliable's
(runs × tasks) matrix, here one task (the env) per group. docs/statistics.md explains each number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.eval import stats

SPLIT_ORDER = ("train", "val", "test")


def _fmt(value: float, ci: Sequence[float]) -> str:
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _is_current(summary: dict[str, Any]) -> bool:
    return all("normalized_mean_ci" in s for s in summary.get("splits", {}).values())


@dataclass
class Loaded:
    summaries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per run that was left out


def load_summaries(paths: Sequence[str | Path]) -> Loaded:
    """Evaluated runs' summaries, each with `dataset` (the dataset folder's name, if the run was
    given one). Runs not evaluated, or evaluated before the level-bootstrap schema, are left
    out with a line saying what to run."""
    from rlgen.runs import RunDir

    out = Loaded()
    for p in paths:
        try:
            run = RunDir.open(p)
            summary = run.read_summary()
        except FileNotFoundError as e:
            out.problems.append(f"skipping {p}: {e}")
            continue
        if not _is_current(summary):
            out.problems.append(f"skipping {p}: its summary.json predates the level-bootstrap "
                                f"statistics; run `rlgen evaluate {p}` again")
            continue
        if "dataset" not in summary:
            try:
                dataset = run.read_config().get("dataset")
            except FileNotFoundError:
                dataset = None
            summary["dataset"] = Path(dataset).name if dataset else None
        out.summaries.append(summary)
    return out


def _splits(summaries: Sequence[dict[str, Any]]) -> list[str]:
    present = {k for s in summaries for k in s["splits"]}
    return [k for k in SPLIT_ORDER if k in present] + sorted(present - set(SPLIT_ORDER))


def _label(s: dict[str, Any]) -> str:
    return s["agent"] + (f" / {s['dataset']}" if s.get("dataset") else "")


def groups(summaries: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Runs by (env, agent[ / dataset]), in first-seen order."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in summaries:
        out.setdefault((s["env"], _label(s)), []).append(s)
    return out


def _scores(group: Sequence[dict[str, Any]], split: str, key: str = "normalized_mean") -> np.ndarray:
    """(runs × 1 task) matrix of per-run scores; runs lacking the split or metric are left out."""
    return np.array([[g["splits"][split][key]] for g in group
                     if split in g["splits"] and key in g["splits"][split]]).reshape(-1, 1)


def run_table(summaries: Sequence[dict[str, Any]]) -> str:
    """One row per run: means over its episodes, 95% CIs resampling levels."""
    splits = _splits(summaries)
    success = [k for k in splits if any("success_rate" in s["splits"].get(k, {}) for s in summaries)]
    head = ["env", "agent", "dataset", "seed"] + [f"{k}: norm. mean [95% CI]" for k in splits] + \
        ["gap train − test [95% CI]"] + [f"{k}: success [95% CI]" for k in success]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        sp = s["splits"]
        cells = [s["env"], s["agent"], s.get("dataset") or "–", str(s["seed"])]
        cells += [_fmt(sp[k]["normalized_mean"], sp[k]["normalized_mean_ci"]) if k in sp else "–"
                  for k in splits]
        gap = s.get("generalization_gap")
        cells.append(_fmt(gap["value"], gap["ci"]) if gap else "–")
        cells += [_fmt(sp[k]["success_rate"], sp[k]["success_rate_ci"]) if "success_rate" in sp.get(k, {})
                  else "–" for k in success]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def group_table(summaries: Sequence[dict[str, Any]], seed: int = 0) -> str:
    """One row per (env, agent[ / dataset]): IQM and mean over seeds of the per-run scores and
    the mean per-run gap, each with rliable's stratified-bootstrap CI over seeds."""
    splits = [k for k in ("train", "test") if k in _splits(summaries)]
    head = ["env", "agent / dataset", "seeds"]
    for k in splits:
        head += [f"{k}: IQM over seeds [95% CI]", f"{k}: mean over seeds [95% CI]"]
    head += ["gap: mean over seeds [95% CI]", "test success: mean over seeds [95% CI]"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (env, label), group in groups(summaries).items():
        cells = [env, label, str(len(group))]
        for k in splits:
            scores = _scores(group, k)
            if len(scores) < len(group):
                cells += ["– (not every seed has this split)"] * 2
                continue
            cells += [_fmt(*stats.iqm_with_ci(scores, seed)), _fmt(*stats.mean_with_ci(scores, seed))]
        gaps = np.array([[g["generalization_gap"]["value"]] for g in group if g.get("generalization_gap")])
        cells.append(_fmt(*stats.mean_with_ci(gaps, seed)) if len(gaps) == len(group) else "–")
        success = _scores(group, "test", "success_rate")
        cells.append(_fmt(*stats.mean_with_ci(success, seed)) if len(success) == len(group) else "–")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def improvement_table(summaries: Sequence[dict[str, Any]], seed: int = 0) -> str | None:
    """rliable's probability of improvement for every pair of agents (or agent / dataset) that
    ran on the same env, per split; None when no env has two of them."""
    rows = ["| env | split | X | Y | P(X > Y) [95% CI] | runs X × Y |", "|---|---|---|---|---|---|"]
    by_env: dict[str, list[tuple[str, list[dict]]]] = {}
    for (env, label), group in groups(summaries).items():
        by_env.setdefault(env, []).append((label, group))
    for env, labelled in by_env.items():
        for k in [s for s in ("train", "test") if s in _splits(summaries)]:
            for (lx, gx), (ly, gy) in combinations(labelled, 2):
                x, y = _scores(gx, k), _scores(gy, k)
                if len(x) and len(y):
                    value, ci = stats.probability_of_improvement(x, y, seed)
                    rows.append(f"| {env} | {k} | {lx} | {ly} | {_fmt(value, ci)} | {len(x)} × {len(y)} |")
    return "\n".join(rows) if len(rows) > 2 else None


def report(summaries: Sequence[dict[str, Any]], seed: int = 0) -> str:
    """The full markdown report: per-run table, per-group table, probability of improvement."""
    parts = [
        "Per run: mean normalized return over the split's evaluation episodes; 95% CI from "
        f"resampling the split's levels ({stats.REPS} reps). Gap = train mean − test mean.",
        "",
        run_table(summaries),
        "",
        "Per group: the runs' means above, aggregated over seeds × tasks (1 task: the row's env); "
        "IQM and mean with rliable's stratified-bootstrap 95% CI over seeds (one seed: no interval). "
        "The gap is the per-run gap averaged over seeds.",
        "",
        group_table(summaries, seed),
    ]
    poi = improvement_table(summaries, seed)
    if poi:
        parts += ["", "Probability of improvement (rliable): chance that a random seed of X has a "
                  "higher mean normalized return than a random seed of Y (ties ½); 95% CI by "
                  "stratified bootstrap over both sets of seeds.", "", poi]
    return "\n".join(parts)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(summaries: Sequence[dict[str, Any]], path: str | Path,
         labels: Sequence[str] | None = None) -> Path:
    """Bars per run: train and test mean normalized return with level-bootstrap 95% CIs.
    `labels` (one per summary) replace the default `agent sSEED / dataset or env`."""
    plt = _pyplot()
    names, means, errs = [], {"train": [], "test": []}, {"train": [], "test": []}
    for i, s in enumerate(summaries):
        sp = s["splits"]
        if "train" not in sp or "test" not in sp:
            continue
        source = s.get("dataset") or s["env"]
        names.append(labels[i] if labels is not None else f"{s['agent']} s{s['seed']}\n{source}")
        for k in ("train", "test"):
            m, (lo, hi) = sp[k]["normalized_mean"], sp[k]["normalized_mean_ci"]
            means[k].append(m)
            errs[k].append((m - lo, hi - m))
    fig, ax = plt.subplots(figsize=(min(16, max(4, 0.7 * len(names) + 1)), 4.5))
    x = np.arange(len(names))
    for offset, k in ((-0.2, "train"), (0.2, "test")):
        ax.bar(x + offset, means[k], 0.4, yerr=np.array(errs[k]).T if errs[k] else None,
               label=f"{k} levels", capsize=3)
    ax.set_xticks(x, names, fontsize=6 if labels is None else 7, rotation=90)
    ax.set_ylabel("mean normalized return\n(95% CI over levels)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def profile_plot(summaries: Sequence[dict[str, Any]], path: str | Path, seed: int = 0) -> Path:
    """rliable performance profiles: per env and split (train, test), the fraction of runs whose
    mean normalized return exceeds τ, one line per agent [/ dataset], 95% bands over seeds."""
    panels = []
    by_env: dict[str, dict[str, list[dict]]] = {}
    for (env, label), group in groups(summaries).items():
        by_env.setdefault(env, {})[label] = group
    for env, labelled in by_env.items():
        for k in ("train", "test"):
            scores = {label: _scores(g, k) for label, g in labelled.items()}
            scores = {label: m for label, m in scores.items() if len(m)}
            if scores:
                panels.append((f"{env} [{k}]", scores))
    if not panels:
        raise ValueError("no run has a train or test split to profile")
    return profile_panels(panels, path, seed)


def profile_panels(panels: Sequence[tuple[str, dict[str, np.ndarray]]], path: str | Path,
                   seed: int = 0) -> Path:
    """One rliable performance-profile panel per (title, {label: (runs × tasks) scores})."""
    from rliable import plot_utils

    plt = _pyplot()
    many = max(len(scores) for _, scores in panels) > 6
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels) + (3 if many else 0), 4),
                             squeeze=False)
    for i, (ax, (title, scores)) in enumerate(zip(axes[0], panels, strict=True)):
        every = np.concatenate([m.ravel() for m in scores.values()])
        taus = np.linspace(min(0.0, every.min()) - 0.05, max(1.0, every.max()) + 0.05, 101)
        profiles, cis = stats.performance_profile(scores, taus, seed)
        # seaborn's colorblind palette repeats after 10 lines
        colors = dict(zip(scores, plt.get_cmap("tab20").colors, strict=False)) if len(scores) > 10 else None
        plot_utils.plot_performance_profiles(
            profiles, taus, performance_profile_cis=cis, ax=ax, colors=colors,
            alpha=0.06 if many else 0.15,  # many overlapping bands turn to mud
            xlabel=r"mean normalized return ($\tau$)", ylabel=r"fraction of runs with score $> \tau$")
        ax.set_title(title, fontsize=10)
        if not many:
            ax.legend(fontsize=8)
        elif i == len(panels) - 1:  # one legend beside the panels instead of over each
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def group_plot(labels: Sequence[str], splits: Sequence[str],
               values: dict[tuple[str, str], tuple[float, Sequence[float]]], path: str | Path) -> Path:
    """Bars per group, one per split: `values[label, split]` = (IQM, [lo, hi])."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(min(16, max(5, 0.8 * len(labels) + 2)), 4.5))
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(splits))
    for j, k in enumerate(splits):
        m = [values[lab, k][0] if (lab, k) in values else np.nan for lab in labels]
        err = [(values[lab, k][0] - values[lab, k][1][0], values[lab, k][1][1] - values[lab, k][0])
               if (lab, k) in values else (0, 0) for lab in labels]
        ax.bar(x + (j - (len(splits) - 1) / 2) * width, m, width, yerr=np.array(err).T,
               label=f"{k} levels", capsize=3)
    ax.set_xticks(x, labels, fontsize=7, rotation=30, ha="right")
    ax.set_ylabel("IQM of mean normalized return\n(95% CI over seeds)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(splits), frameon=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
