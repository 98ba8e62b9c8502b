"""Reproduce the comparison of "The Generalization Gap in Offline RL" (Mediratta et al. 2024)
on Procgen: agents x datasets x seeds, scored on train and test levels (normalized returns,
IQM over seeds of each run's mean normalized return, with rliable's 95% stratified-bootstrap CIs
over seeds), written as a markdown table and a plot.

    python scripts/reproduce/offline_procgen.py --variant cpu   # CPU-sized, well under an hour
    python scripts/reproduce/offline_procgen.py --variant paper # paper-sized, for a GPU

The CPU variant shrinks everything (50k-transition datasets, a narrower IMPALA encoder, a few
hundred gradient steps, 30 evaluation episodes per split): it shows the pipeline and the
direction of effects, not the paper's numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rlgen import train as T
from rlgen.data import recipes
from rlgen.eval import report, stats

VARIANTS = {
    "cpu": {
        "env": "procgen:coinrun",
        "datasets": ["procgen-coinrun-expert", "procgen-coinrun-mixed-50k"],
        "agents": ["bc", "bct", "dt", "cql", "iql", "bcq"],
        "seeds": [0, 1],
        "steps": 300,
        "episodes": 30,
        "overrides": {"batch_size": 64, "encoder": {"channels": [8, 16, 16], "out_dim": 128}},
        "sequence_overrides": {"batch_size": 16, "layers": 2, "heads": 4, "d_model": 64},
    },
    "paper": {
        "env": "procgen:coinrun",
        "datasets": ["procgen-coinrun-expert-1m", "procgen-coinrun-mixed-1m"],
        "agents": ["bc", "bct", "dt", "cql", "iql", "bcq"],
        "seeds": [0, 1, 2, 3, 4],
        "steps": 100_000,
        "episodes": 200,
        "overrides": {"batch_size": 256},
        "sequence_overrides": {"batch_size": 64},
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=list(VARIANTS), default="cpu")
    parser.add_argument("--out", default="runs/reproduce-offline-procgen")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--agents", nargs="*")
    args = parser.parse_args()
    v = VARIANTS[args.variant]
    out = Path(args.out) / args.variant
    summaries = []
    for recipe_name in v["datasets"]:
        dataset = recipes.build(recipes.load_recipe(recipe_name))[0]
        for agent in args.agents or v["agents"]:
            for seed in v["seeds"]:
                name = f"{recipe_name}-{agent}-s{seed}"
                run_dir = out / name
                overrides = dict(v["overrides"])
                if agent in ("dt", "bct"):
                    overrides.update(v["sequence_overrides"])
                if (run_dir / "summary.json").exists():
                    summary = json.loads((run_dir / "summary.json").read_text())
                else:
                    run = T.train(T.TrainRequest(agent, v["env"], steps=v["steps"], seed=seed,
                                                 device=args.device, name=name, runs_root=str(out),
                                                 overrides=overrides, dataset=str(dataset),
                                                 episodes=v["episodes"], splits=("train", "test")))
                    summary = run.read_summary()
                summary["dataset"] = recipe_name
                summaries.append(summary)
    lines = ["| dataset | agent | seeds | train: IQM over seeds [95% CI] | test: IQM over seeds [95% CI] | gap (train − test) |",
             "|---|---|---|---|---|---|"]
    for recipe_name in v["datasets"]:
        for agent in args.agents or v["agents"]:
            group = [s for s in summaries if s["dataset"] == recipe_name and s["agent"] == agent]
            cells = {}
            for split in ("train", "test"):
                scores = np.array([g["splits"][split]["normalized_mean"] for g in group])
                value, ci = stats.iqm_with_ci(scores)
                cells[split] = (value, ci)
            lines.append(f"| {recipe_name} | {agent} | {len(group)} | {cells['train'][0]:.3f} "
                         f"[{cells['train'][1][0]:.3f}, {cells['train'][1][1]:.3f}] | {cells['test'][0]:.3f} "
                         f"[{cells['test'][1][0]:.3f}, {cells['test'][1][1]:.3f}] | "
                         f"{cells['train'][0] - cells['test'][0]:.3f} |")
    table = "\n".join(lines)
    (out / "table.md").write_text(table + "\n")
    report.plot(summaries, out / "plot.png")
    print(table)
    print(f"table: {out / 'table.md'}; plot: {out / 'plot.png'}")


if __name__ == "__main__":
    main()
