"""Measure the BabyAI bot's success rate per level and split (the numbers in docs/babyai.md):

    python -m rlgen.envs.babyai.measure --episodes 100
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rlgen.envs.babyai.bot import BotPolicy
from rlgen.eval.evaluate import run_episodes
from rlgen.registry import env_family, make_env_spec


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100, help="episodes per split")
    parser.add_argument("--tasks", default=",".join(env_family("babyai").tasks()))
    parser.add_argument("--splits", default="test,test_instructions")
    args = parser.parse_args(argv)
    print("| level | split | episodes | levels | success | mean length | mean return | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for task in args.tasks.split(","):
        spec = make_env_spec(f"babyai:{task}")
        for split in args.splits.split(","):
            if split not in spec.splits:
                continue
            start = time.perf_counter()
            records = run_episodes(BotPolicy(spec), spec, split, args.episodes, progress=False)
            seconds = time.perf_counter() - start
            print(f"| {task} | {split} | {len(records)} | {len({r['level'] for r in records})} "
                  f"| {np.mean([r['success'] for r in records]):.2f} "
                  f"| {np.mean([r['length'] for r in records]):.1f} "
                  f"| {np.mean([r['return'] for r in records]):.3f} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
