"""Env steps/s of the batched torch MinAtar games vs the `minatar` package stepping its envs one
by one (act + state per env: the baseline), in the same run; plus the package's own Gymnasium
env and rlgen's sync vector env of package envs, both one by one.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python scripts/bench/minatar_batched.py --envs 1024

Every case steps `--envs` envs on uniform random actions (all 6) with sticky actions 0.1 and
auto-reset, and includes producing the observations. Cases are interleaved (_timing.py). On a
shared machine wall-clock rates swing with the neighbours' load, so CPU-time rates (this
process's CPU seconds) are reported too; ratios are taken within one run.
`--random-returns N` instead prints each game's mean return of a uniform random policy over N
test-split episodes (the `random` numbers in envs/minatar.toml).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import (  # noqa: E402
    RATE_HEADER,
    interleave,
    load_average,
    median,
    quiet_torch_threads,
    rate_rows,
    table,
)

quiet_torch_threads(1)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rlgen.envs.minatar.env import _package  # noqa: E402
from rlgen.registry import make_env_spec  # noqa: E402


class Clock:
    """Times a block in wall-clock and CPU seconds."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def package_rate(game: str, n: int, steps: int) -> tuple[float, float]:
    """n package envs in a Python loop: one `act` and one `state()` per env per step."""
    envs = []
    for i in range(n):
        env = _package().Environment(game)
        env.seed(i)
        env.reset()
        envs.append(env)
    rng = np.random.default_rng(0)
    with Clock() as c:
        for _ in range(steps):
            actions = rng.integers(6, size=n)
            for env, a in zip(envs, actions.tolist(), strict=True):
                _, done = env.act(a)
                if done:
                    env.reset()
                env.state()
    return steps * n / c.wall, steps * n / c.cpu


def package_gym_rate(game: str, n: int, steps: int) -> tuple[float, float]:
    """n of the package's own Gymnasium envs (`minatar.gym.BaseEnv`, all 6 actions) in a loop."""
    from minatar.gym import BaseEnv

    envs = [BaseEnv(game) for _ in range(n)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    rng = np.random.default_rng(0)
    with Clock() as c:
        for _ in range(steps):
            for env, a in zip(envs, rng.integers(6, size=n).tolist(), strict=True):
                _, _, done, _, _ = env.step(a)
                if done:
                    env.reset()
    return steps * n / c.wall, steps * n / c.cpu


def vec_rate(vec, steps: int, tensors: bool) -> tuple[float, float]:
    vec.reset(seed=0)
    n = vec.num_envs
    g = torch.Generator().manual_seed(0)
    with Clock() as c:
        for _ in range(steps):
            a = torch.randint(6, (n,), generator=g)
            vec.step(a if tensors else a.numpy())
    return steps * n / c.wall, steps * n / c.cpu


def bench(game: str, n: int, steps: int, package_steps: int,
          reps: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(wall-clock rates, CPU-time rates) per case."""
    spec = make_env_spec(f"minatar:{game}")
    levels = spec.splits["train"].levels
    batched = spec.impl.make_batched(spec, levels, n, seed=0, as_tensors=True)
    batched_np = spec.impl.make_batched(spec, levels, n, seed=0)
    sync = make_env_spec(f"minatar:{game}", vector="sync").make_vec_env("train", n, seed=0)
    runs = {
        "package, one by one": lambda: package_rate(game, n, package_steps),
        "package Gymnasium envs, one by one": lambda: package_gym_rate(game, n, package_steps),
        "rlgen sync vector env (package envs)": lambda: vec_rate(sync, package_steps, False),
        "batched, torch tensors out": lambda: vec_rate(batched, steps, True),
        "batched, numpy out": lambda: vec_rate(batched_np, steps, False),
    }
    cpu: dict[str, list[float]] = {k: [] for k in runs}

    def timed(name):
        def run() -> float:
            wall_rate, cpu_rate = runs[name]()
            cpu[name].append(cpu_rate)
            return wall_rate
        return run

    wall = interleave({k: timed(k) for k in runs}, reps)
    return wall, cpu


def random_returns(episodes: int) -> None:
    from rlgen.eval.evaluate import run_episodes

    class Random:
        def __init__(self, n: int):
            self.n, self.rng = n, np.random.default_rng(0)

        def act(self, obs):
            return self.rng.integers(self.n, size=len(obs))

    for game in ("asterix", "breakout", "freeway", "seaquest", "space_invaders"):
        spec = make_env_spec(f"minatar:{game}")
        rec = run_episodes(Random(spec.num_actions), spec, "test", episodes, progress=False)
        ret = np.array([r["return"] for r in rec])
        boot = np.random.default_rng(0).choice(ret, size=(2000, len(ret))).mean(1)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        print(f"{game}: random return mean {ret.mean():.3f} [95% bootstrap CI {lo:.3f}, {hi:.3f}], "
              f"{episodes} test episodes, mean length {np.mean([r['length'] for r in rec]):.0f}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--games", default="breakout,space_invaders")
    p.add_argument("--envs", type=int, default=1024)
    p.add_argument("--steps", type=int, default=300, help="batched vector steps per repetition")
    p.add_argument("--package-steps", type=int, default=20, help="package steps per env per repetition")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--random-returns", type=int, default=0, metavar="EPISODES")
    args = p.parse_args()
    if args.random_returns:
        random_returns(args.random_returns)
        return
    print(f"# {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, load average {load_average()}")
    for game in args.games.split(","):
        print(f"\n## {game}, {args.envs} envs")
        wall, cpu = bench(game, args.envs, args.steps, args.package_steps, args.reps)
        for label, rates in (("wall clock", wall), ("CPU time", cpu)):
            print(f"\n{label}:")
            print(table(RATE_HEADER, rate_rows(rates, "package, one by one", "steps/s")))
            ratio = median(rates["batched, torch tensors out"]) / median(rates["package, one by one"])
            print(f"{label}: batched (tensors) / package one by one = {ratio:.1f}x")
    print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()
