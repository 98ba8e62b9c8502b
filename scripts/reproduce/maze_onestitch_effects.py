"""Held-out success of RvS, RvS + augmentation and GCIQL on a one-stitch maze, per seed (the
CPU-sized settings of tests/test_maze_learning.py; default task maze:pointmaze-hook).

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python scripts/reproduce/maze_onestitch_effects.py --seeds 0,1,2,3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rlgen.envs.maze.collect import CollectConfig, collect
from rlgen.registry import make_env_spec
from rlgen.train import TrainRequest, train

TASK = "pointmaze-hook"  # --task overrides
RVS = {"hidden": [256, 256]}
# CPU-sized GCIQL: the maze preset's actor (DDPG+BC, alpha 0.003, half the actor goals random),
# a 2x256 network at batch 256 and lr 1e-3, and a faster target (tau 0.02 instead of 0.005) so
# that values propagate along ~100-step paths within 20k updates.
GCIQL = {"hidden": [256, 256], "batch_size": 256, "lr": 1e-3, "target_tau": 0.02}
# CPU-sized DT, as in scripts/reproduce/stitching.py's CPU variant (3 layers, width 128, context 5).
DT = {"batch_size": 64, "dropout": 0.0, "lr": 3e-4}
METHODS = {
    "rvs": ("rvs", 10_000, RVS),
    "rvs+aug": ("rvs", 10_000, {**RVS, "temporal_augmentation": True}),
    "gciql": ("gciql", 20_000, GCIQL),
    "dt": ("gcdt", 3000, DT),
    "dt+aug": ("gcdt", 3000, {**DT, "temporal_augmentation": True}),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2,3")
    p.add_argument("--task", default=TASK)
    p.add_argument("--methods", default="rvs,rvs+aug,gciql", help="comma list of " + ", ".join(METHODS))
    p.add_argument("--transitions", type=int, default=50_000)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--updates", type=int, default=0, help="override every method's update count")
    p.add_argument("--out", default="runs/maze-onestitch")
    args = p.parse_args()
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"rlgen: error: unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    try:
        make_env_spec(f"maze:{args.task}")
    except ValueError as e:
        raise SystemExit(f"rlgen: error: {e}") from None
    root = Path(args.out)
    for seed in (int(s) for s in args.seeds.split(",")):
        data = root / f"data-{args.task}-s{seed}-{args.transitions}"
        if not (data / "card.json").exists():
            collect(CollectConfig(env=f"maze:{args.task}", transitions=args.transitions, num_envs=16,
                                  seed=seed), data, progress=False)
        for name in methods:
            agent, steps, overrides = METHODS[name]
            steps = args.updates or steps
            t0 = time.time()
            run = train(TrainRequest(agent=agent, env=f"maze:{args.task}", steps=steps, seed=seed,
                                     dataset=str(data), runs_root=str(root / "runs"),
                                     episodes=args.episodes, splits=("train", "test"),
                                     progress=False, overrides=overrides))
            s = run.read_summary()["splits"]
            print(json.dumps({"seed": seed, "method": name, "updates": steps,
                              "train": s["train"]["success_rate"], "test": s["test"]["success_rate"],
                              "seconds": round(time.time() - t0)}), flush=True)


if __name__ == "__main__":
    main()
