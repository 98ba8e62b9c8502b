"""What temporal augmentation feeds RvS on a maze task: how often a training example pairs a
held-out start cell with a held-out goal cell, and how often an example's action label leads
*away* from its goal (the trajectory's next cell is further from the goal, by BFS over the maze).

    PYTHONPATH=$PWD python scripts/reproduce/maze_augmentation_coverage.py --task pointmaze-hook

Prints one JSON line per (K, features) setting; `hindsight` rows are the plain sampler. The
"away" shares count the point's back-and-forth across cell borders too (about a fifth of plain
hindsight labels), so compare rows rather than read them as error rates.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rlgen.agents.goal_sampling import GoalData, HindsightSampler, TemporalAugmentation
from rlgen.data.storage import EpisodeDataset
from rlgen.envs.maze.collect import CollectConfig, collect
from rlgen.registry import make_env_spec


def next_cells(cells: np.ndarray, last: np.ndarray) -> np.ndarray:
    """For each step, the next *different* cell its episode visits (its own cell if none)."""
    out = cells.copy()
    for t in range(len(cells) - 2, -1, -1):
        if last[t] == last[t + 1]:  # same episode
            out[t] = cells[t + 1] if (cells[t + 1] != cells[t]).any() else out[t + 1]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="pointmaze-hook")
    p.add_argument("--transitions", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", default="", help="comma list of K (default: the task's)")
    p.add_argument("--epsilon", type=float, default=0.5)
    p.add_argument("--samples", type=int, default=400_000)
    p.add_argument("--out", default="runs/maze-coverage")
    args = p.parse_args()

    try:
        spec = make_env_spec(f"maze:{args.task}")
    except ValueError as e:
        raise SystemExit(f"rlgen: error: {e}") from None
    layout = spec.impl.layout(args.task)
    data_dir = Path(args.out) / f"data-{args.task}-s{args.seed}-{args.transitions}"
    if not (data_dir / "card.json").exists():
        collect(CollectConfig(env=spec.id, transitions=args.transitions, num_envs=16, seed=args.seed),
                data_dir, progress=False)
    d = GoalData.from_dataset(EpisodeDataset.load(data_dir), spec.impl.goal_layout(spec))

    index = {c: n for n, c in enumerate(layout.free_cells)}
    dist = np.full((len(index), len(index)), 10**6)
    for c, n in index.items():
        for c2, k in layout.bfs_distances(c).items():
            dist[n, index[c2]] = k

    def cell_ids(cells: np.ndarray) -> np.ndarray:
        return np.array([index[tuple(c)] for c in cells.tolist()])

    def ids(xy: np.ndarray) -> np.ndarray:
        return cell_ids(layout.xy_to_cells(xy))

    cells = layout.xy_to_cells(d.observations[:, :2])
    cell, nxt = cell_ids(cells), cell_ids(next_cells(cells, d.last))
    held_out = np.zeros_like(dist, dtype=bool)
    for s, g in layout.test:
        held_out[index[s], index[g]] = True

    def report(name: str, batch: dict) -> None:
        s, g = cell[batch["i"]], ids(batch["goal"])
        away = dist[nxt[batch["i"]], g] > dist[s, g]
        aug = batch["augmented"]
        row = {"task": args.task, "sampler": name, "epsilon": args.epsilon if aug.any() else 0.0,
               "held_out_pct": round(100 * held_out[s, g].mean(), 3),
               "away_pct_plain": round(100 * away[~aug].mean(), 2) if (~aug).any() else None,
               "away_pct_augmented": round(100 * away[aug].mean(), 2) if aug.any() else None}
        print(json.dumps(row), flush=True)

    report("hindsight", HindsightSampler(d, args.seed).sample(args.samples))
    ks = [int(k) for k in args.k.split(",")] if args.k else [layout.kmeans_k]
    for k in ks:
        for features in ("obs", "xy"):
            sampler = TemporalAugmentation(d, k, args.epsilon, args.seed, features=features)
            report(f"augmentation K={k} {features}", sampler.sample(args.samples))


if __name__ == "__main__":
    main()
