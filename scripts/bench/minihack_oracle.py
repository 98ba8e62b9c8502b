"""Oracle success rate per MiniHack task on the test seeds, through rlgen's evaluator.

    PYTHONPATH=$PWD python scripts/bench/minihack_oracle.py --episodes 100
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rlgen.envs.minihack.oracle import OraclePolicy
from rlgen.eval.evaluate import run_episodes
from rlgen.registry import make_env_spec

TASKS = ["Room-5x5", "Room-15x15", "Room-Random-15x15", "Room-Dark-15x15", "Room-Trap-15x15",
         "Corridor-R2", "KeyRoom-S5", "KeyRoom-S15", "KeyRoom-Dark-S15", "MazeWalk-9x9",
         "MazeWalk-15x15", "MazeWalk-45x19", "MultiRoom-N2", "MultiRoom-N4", "MultiRoom-N6"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--noise", type=float, default=0.0)
    p.add_argument("--tasks", default=",".join(TASKS))
    args = p.parse_args()
    print("| task | episodes | success | mean length | s |\n|---|---|---|---|---|")
    for task in args.tasks.split(","):
        spec = make_env_spec(f"minihack:{task}")
        env = spec.make_env()
        policy = OraclePolicy(env.action_names, noise=args.noise)
        env.close()
        t0 = time.time()
        records = run_episodes(policy, spec, "test", args.episodes, num_envs=1, progress=False)
        rate = np.mean([r["success"] for r in records])
        length = np.mean([r["length"] for r in records])
        print(f"| {task} | {len(records)} | {rate:.2f} | {length:.1f} | {time.time() - t0:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
