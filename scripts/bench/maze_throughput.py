"""Maze throughput: dataset generation (env steps/s of `rlgen collect --recipe`'s maze collector)
and training (gradient updates/s of rvs, gciql, gcdt at paper and CPU sizes).

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python scripts/bench/maze_throughput.py

Training rates are measured on data from the first collection, after a few warm-up updates, for
`--seconds` of wall time each. The load average is printed because the machine may be shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from rlgen.agents.factory import agent_config
from rlgen.agents.goal_sampling import GoalData
from rlgen.config import parse_count
from rlgen.data.recipes import build, load_recipe
from rlgen.data.storage import EpisodeDataset
from rlgen.registry import agent_class, make_env_spec

# (agent, label, config overrides): paper sizes are the agents' defaults (agents/*.toml).
AGENTS = [
    ("rvs", "paper: 2x1024, batch 256", {}),
    ("rvs", "cpu: 2x256, batch 256", {"hidden": [256, 256]}),
    ("rvs", "cpu + augmentation (eps 0.5)", {"hidden": [256, 256], "temporal_augmentation": True}),
    ("gciql", "paper: 3x512, batch 1024", {}),
    ("gciql", "cpu: 2x256, batch 256", {"hidden": [256, 256], "batch_size": 256, "lr": 1e-3}),
    ("gcdt", "paper: 3x128, ctx 5, batch 256", {}),
    ("gcdt", "cpu: 3x128, ctx 5, batch 64", {"batch_size": 64, "dropout": 0.0}),
]


def collect_rate(recipe_name: str, transitions: int, out: Path) -> tuple[Path, dict]:
    recipe = dataclasses.replace(load_recipe(recipe_name), transitions=transitions)
    t0 = time.perf_counter()
    path = build(recipe, out=out / recipe.name, progress=False)[0]
    wall = time.perf_counter() - t0
    card = EpisodeDataset.load(path).card
    return path, {"recipe": recipe.name, "transitions": card["transitions"],
                  "env_steps": card["throughput"]["env_steps"], "wall_s": wall,
                  "steps_per_s": card["throughput"]["env_steps"] / wall,
                  "check": card["test_pair_check"]["passed"]}


def update_rate(agent: str, overrides: dict, env: str, data: GoalData, seconds: float) -> float:
    spec = make_env_spec(env)
    a = agent_class(agent)(spec, agent_config(agent, spec.family, overrides)[0], torch.device("cpu"))
    a.attach(data)  # K-means for augmentation runs here, outside the timed loop
    for m in a.nets.values():
        m.train()
    for _ in range(3):
        a.update(a.sample_batch())
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a.update(a.sample_batch())  # one step of the fit loop
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", default="maze-umaze-regions,maze-medium-stitch")
    p.add_argument("--transitions", default="100k", help="per recipe")
    p.add_argument("--seconds", type=float, default=10.0, help="timed training per row")
    p.add_argument("--skip-training", action="store_true")
    args = p.parse_args()
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} (training single-threaded), load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        rows, first = [], None
        for name in args.recipes.split(","):
            path, row = collect_rate(name, parse_count(args.transitions), Path(tmp))
            first = first or (path, load_recipe(name).env)
            rows.append(row)
        print("\n| recipe | kept transitions | env steps | wall s | env steps/s | test-pair check |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['recipe']} | {r['transitions']:,} | {r['env_steps']:,} | {r['wall_s']:.1f} "
                  f"| {r['steps_per_s']:,.0f} | {'passed' if r['check'] else 'FAILED'} |")
        if args.skip_training:
            return
        path, env = first
        spec = make_env_spec(env)
        data = GoalData.from_dataset(EpisodeDataset.load(path), spec.impl.goal_layout(spec))
        print(f"\ntraining on {path.name} ({len(data.observations):,} transitions), "
              f"{args.seconds:.0f} s per row\n")
        print("| agent | size | updates/s |")
        print("|---|---|---|")
        for agent, label, overrides in AGENTS:
            rate = update_rate(agent, overrides, env, data, args.seconds)
            print(f"| {agent} | {label} | {rate:,.1f} |", flush=True)
    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
