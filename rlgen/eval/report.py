"""Tables and plots across run directories."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.eval import stats


def _fmt_ci(value: float, ci: Sequence[float]) -> str:
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def load_summaries(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    from rlgen.runs import RunDir

    out = []
    for p in paths:
        try:
            out.append(RunDir.open(p).read_summary())
        except FileNotFoundError as e:
            print(f"skipping {p}: {e}")
    return out


def markdown_table(summaries: Sequence[dict[str, Any]]) -> str:
    """One row per run, then one aggregate row per (env, agent) over seeds when there are several."""
    rows = ["| env | agent | seed | train norm. IQM [95% CI] | test norm. IQM [95% CI] | gap [95% CI] |",
            "|---|---|---|---|---|---|"]
    for s in summaries:
        sp = s.get("splits", {})
        cell = {k: _fmt_ci(sp[k]["iqm"], sp[k]["iqm_ci"]) if k in sp else "–" for k in ("train", "test")}
        gap = s.get("generalization_gap")
        rows.append(f"| {s['env']} | {s['agent']} | {s['seed']} | {cell['train']} | {cell['test']} | "
                    f"{_fmt_ci(gap['value'], gap['ci']) if gap else '–'} |")
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in summaries:
        groups.setdefault((s["env"], s["agent"]), []).append(s)
    for (env, agent), group in groups.items():
        if len(group) < 2:
            continue
        cells = {}
        for split in ("train", "test"):
            scores = np.array([g["splits"][split]["normalized_mean"] for g in group
                               if split in g.get("splits", {})])
            cells[split] = _fmt_ci(*stats.iqm_with_ci(scores)) if len(scores) else "–"
        rows.append(f"| {env} | {agent} | all ({len(group)} seeds, IQM of run means) | "
                    f"{cells['train']} | {cells['test']} | |")
    return "\n".join(rows)


def plot(summaries: Sequence[dict[str, Any]], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, train, test, train_ci, test_ci = [], [], [], [], []
    for s in summaries:
        sp = s.get("splits", {})
        if "train" not in sp or "test" not in sp:
            continue
        source = s.get("dataset") or s["env"]
        labels.append(f"{s['agent']} s{s['seed']}\n{source}")
        for store, ci_store, key in ((train, train_ci, "train"), (test, test_ci, "test")):
            store.append(sp[key]["iqm"])
            ci_store.append((sp[key]["iqm"] - sp[key]["iqm_ci"][0], sp[key]["iqm_ci"][1] - sp[key]["iqm"]))
    fig, ax = plt.subplots(figsize=(min(16, max(4, 0.7 * len(labels) + 1)), 4.5))
    x = np.arange(len(labels))
    ax.bar(x - 0.2, train, 0.4, yerr=np.array(train_ci).T if train_ci else None, label="train levels", capsize=3)
    ax.bar(x + 0.2, test, 0.4, yerr=np.array(test_ci).T if test_ci else None, label="test levels", capsize=3)
    ax.set_xticks(x, labels, fontsize=6, rotation=90)
    ax.set_ylabel("normalized return (IQM, 95% CI)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
