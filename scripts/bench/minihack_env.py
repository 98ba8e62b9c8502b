"""Env steps/s: rlgen's MiniHack env vs plain `gymnasium.make` in the same process, and a
vector env (sync, async subprocesses) scaling with the number of envs.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python scripts/bench/minihack_env.py --task Room-15x15
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

from rlgen.envs.minihack.env import DEFAULT_OBS_KEYS, _quiet_import_minihack
from rlgen.registry import make_env_spec


def steps_per_s(env, steps: int, rng: np.random.Generator, reset_kwargs) -> float:
    env.reset(**reset_kwargs(0))
    n_act = env.action_space.n
    actions = rng.integers(n_act, size=steps)
    episodes = 0
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(int(a))
        if term or trunc:
            episodes += 1
            env.reset(**reset_kwargs(episodes))
    return steps / (time.perf_counter() - t0)


def vector_steps_per_s(vec, steps: int, rng: np.random.Generator) -> float:
    vec.reset(seed=0)
    n = vec.num_envs
    t0 = time.perf_counter()
    for _ in range(steps // n):
        vec.step(rng.integers(vec.single_action_space.n, size=n))
    return (steps // n) * n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", default="Room-15x15")
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workers", default="1,2,4,8")
    args = p.parse_args()
    _quiet_import_minihack()
    rng = np.random.default_rng(0)
    spec = make_env_spec(f"minihack:{args.task}")
    plain = gym.make(f"MiniHack-{args.task}-v0", observation_keys=DEFAULT_OBS_KEYS)
    ours = spec.make_env()
    # Interleave repeats so a busy neighbour on the machine slows both alike.
    rates: dict[str, list[float]] = {"gymnasium.make": [], "rlgen": []}
    for _ in range(args.repeats):
        rates["gymnasium.make"].append(steps_per_s(plain, args.steps, rng, lambda i: {}))
        rates["rlgen"].append(steps_per_s(ours, args.steps, rng,
                                          lambda i: {"options": {"level": i % 200}}))
    best = {k: max(v) for k, v in rates.items()}
    print(f"single env, {args.task}, {args.steps} random steps, best of {args.repeats}:")
    for k, v in best.items():
        print(f"  {k:15s} {v:8.0f} steps/s")
    print(f"  ratio rlgen / gymnasium.make: {best['rlgen'] / best['gymnasium.make']:.3f}")
    print("vector env (random actions, same-step autoreset), steps/s:")
    print("| envs | sync | async |\n|---|---|---|")
    for n in [int(x) for x in args.workers.split(",")]:
        row = []
        for mode in ("sync", "async"):
            s = make_env_spec(f"minihack:{args.task}", vector=mode)
            vec = s.make_vec_env("train", n, seed=0)
            row.append(vector_steps_per_s(vec, args.steps // 2, rng))
            vec.close()
        print(f"| {n} | {row[0]:.0f} | {row[1]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
