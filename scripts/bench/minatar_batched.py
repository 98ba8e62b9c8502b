"""Env steps/s of the batched torch MinAtar games vs the `minatar` package stepping its envs one
by one (act + state per env: the baseline), in the same run; plus the package's own Gymnasium
env and rlgen's sync vector env of package envs, both one by one.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python scripts/bench/minatar_batched.py --envs 1024

Every case steps `--envs` envs on uniform random actions (all 6) with sticky actions 0.1 and
auto-reset, and includes producing the observations. The batched cases run eager and, unless
`--no-compile`, with the step compiled by torch.compile (`compile = true`; the compile time,
paid once before timing, is printed apart). Cases are interleaved (_timing.py). On a
shared machine wall-clock rates swing with the neighbours' load, so CPU-time rates (this
process's CPU seconds) are reported too; ratios are taken within one run.
`--compare-with DIR` instead times this checkout's batched step against another checkout's
(e.g. an older commit: `git archive COMMIT rlgen | tar -x -C DIR`) in one process, with the
number of torch calls per step.
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


def bench(game: str, n: int, steps: int, package_steps: int, reps: int,
          compiled: bool = True) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
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
    if compiled:
        cspec = make_env_spec(f"minatar:{game}", compile=True)
        fused = cspec.impl.make_batched(cspec, levels, n, seed=0, as_tensors=True)
        fused_np = cspec.impl.make_batched(cspec, levels, n, seed=0)
        with Clock() as c:  # compiles the step (reset and step graphs) before any timing
            vec_rate(fused, 2, True)
        print(f"compile time ({game}, {n} envs): {c.wall:.1f} s wall, {c.cpu:.1f} s CPU", flush=True)
        runs["batched compiled, torch tensors out"] = lambda: vec_rate(fused, steps, True)
        runs["batched compiled, numpy out"] = lambda: vec_rate(fused_np, steps, False)
    cpu: dict[str, list[float]] = {k: [] for k in runs}

    def timed(name):
        def run() -> float:
            wall_rate, cpu_rate = runs[name]()
            cpu[name].append(cpu_rate)
            return wall_rate
        return run

    wall = interleave({k: timed(k) for k in runs}, reps)
    return wall, cpu


def _engine_from(root: Path, game: str, n: int):
    """The batched engine (`BatchedMinAtar` + game + `LevelDraws`) of the checkout at `root`,
    loaded from its files (so two versions run side by side in one process)."""
    import importlib.util

    def load(name: str, path: Path):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    tag = f"_bench_{abs(hash(str(root)))}"
    batched = load(tag + "_batched", root / "rlgen/envs/minatar/batched.py")
    module = load(f"{tag}_{game}", root / f"rlgen/envs/minatar/batched_{game}.py")
    cls = next(getattr(module, c) for c in dir(module) if c.startswith("Batched"))
    levels = list(range(200))
    starts = [module.start_draw(np.random.RandomState(level)) for level in levels]
    draws = batched.LevelDraws(levels, starts, n, 0, torch.device("cpu"))
    engine = batched.BatchedMinAtar(cls(n), draws, list(range(6)), 0.1, 0)
    engine.reset()
    return engine


def torch_calls_per_step(engine, actions) -> float:
    """Top-level aten calls (kernels and views) per vector step: what the batched step pays a
    fixed dispatch cost for, independent of the machine's load."""
    from torch.profiler import profile

    with profile() as prof:
        for a in actions:
            engine.step(a)
    top = [e for e in prof.events() if e.name.startswith("aten::")
           and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))]
    return len(top) / len(actions)


def compare_with(other: Path, games: list[str], n: int, steps: int, reps: int) -> None:
    """This checkout's batched step vs another checkout's (e.g. an older commit unpacked with
    `git archive COMMIT rlgen | tar -x -C DIR`), interleaved in one process: CPU time per
    vector step (medians over reps) and torch calls per step."""
    here = Path(__file__).resolve().parents[2]
    g = torch.Generator().manual_seed(0)
    actions = [torch.randint(6, (n,), generator=g) for _ in range(steps)]
    for game in games:
        engines = {"this checkout": _engine_from(here, game, n), str(other): _engine_from(other, game, n)}
        times: dict[str, list[float]] = {k: [] for k in engines}
        for _ in range(reps):
            for name, engine in engines.items():
                with Clock() as c:
                    for a in actions:
                        engine.step(a)
                times[name].append(c.cpu / steps * 1e6)
        print(f"\n## {game}, {n} envs, {steps} steps x {reps} interleaved reps (CPU time)")
        for name, engine in engines.items():
            print(f"{name}: median {median(times[name]):.1f} us/step (min {min(times[name]):.1f}), "
                  f"{torch_calls_per_step(engine, actions[:20]):.0f} torch calls/step")
        a, b = (median(times[k]) for k in engines)
        print(f"{other} / this checkout: {b / a:.2f}x")


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
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile'd batched cases")
    p.add_argument("--random-returns", type=int, default=0, metavar="EPISODES")
    p.add_argument("--compare-with", type=Path, metavar="DIR",
                   help="time this checkout's batched step against DIR's (another checkout's root)")
    args = p.parse_args()
    if args.compare_with:
        print(f"# {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load average {load_average()}")
        compare_with(args.compare_with, args.games.split(","), args.envs, args.steps, args.reps)
        print(f"\nload average after: {load_average()}")
        return
    if args.random_returns:
        random_returns(args.random_returns)
        return
    print(f"# {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, load average {load_average()}")
    for game in args.games.split(","):
        print(f"\n## {game}, {args.envs} envs")
        wall, cpu = bench(game, args.envs, args.steps, args.package_steps, args.reps, not args.no_compile)
        for label, rates in (("wall clock", wall), ("CPU time", cpu)):
            print(f"\n{label}:")
            print(table(RATE_HEADER, rate_rows(rates, "package, one by one", "steps/s")))
            for case in ("batched, torch tensors out", "batched compiled, torch tensors out"):
                if case in rates:
                    ratio = median(rates[case]) / median(rates["package, one by one"])
                    print(f"{label}: {case} / package one by one = {ratio:.1f}x")
    print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()
