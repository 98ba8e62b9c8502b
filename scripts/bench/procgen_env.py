"""Procgen steps/s: raw `procgen.ProcgenGym3Env` vs rlgen's `ProcgenVecEnv` on the same envs and
the same random actions, plus a naive wrapper (HWC->CHW copy + per-env info dicts) that shows
what rlgen's wrapper avoids. Target (issue 2): rlgen >= 0.97x raw.

    PYTHONPATH=$PWD nice -n 5 python scripts/bench/procgen_env.py

Repetitions are interleaved (raw, rlgen, naive, raw, ...) and medians reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
from _timing import RATE_HEADER, interleave, load_average, median, rate_rows, table

from rlgen.envs.procgen import ProcgenVecEnv, _gym3_env


class NaiveChwVecEnv(ProcgenVecEnv):
    """What a straightforward wrapper does: channel-first copy of every frame, and one info dict
    per env built from gym3's `get_info()` list (as gym3's baselines adapter does)."""

    def step(self, actions):
        self._env.act(np.asarray(actions, dtype=np.int32))
        rew, obs, first = self._env.observe()
        raw_infos = self._env.get_info()
        infos = []
        for i, info in enumerate(raw_infos):
            done = bool(first[i])
            infos.append({"level": int(info["prev_level_seed"] if done else info["level_seed"]),
                          "success": done and bool(info["prev_level_complete"])})
        chw = np.ascontiguousarray(obs["rgb"].transpose(0, 3, 1, 2))
        return chw, rew, first, self._no_trunc.copy(), infos


class StubGym3:
    """Returns one recorded act/observe result instantly, so that timing a wrapper's `step` on it
    measures the wrapper's own work alone (insensitive to the machine's load on env stepping)."""

    def __init__(self, env):
        self._result = env.observe()
        self._info = env._info
        self._infos = env.get_info()

    def act(self, actions) -> None:
        pass

    def observe(self):
        return self._result

    def get_info(self):
        return [dict(i) for i in self._infos]


def wrapper_cost_us(wrapper, steps: int, actions: np.ndarray) -> float:
    """Microseconds per vector step that `wrapper.step` adds on top of gym3 act/observe."""
    real, wrapper._env = wrapper._env, StubGym3(wrapper._env)
    t0 = time.perf_counter()
    for i in range(steps):
        wrapper.step(actions[i % len(actions)])
    cost = (time.perf_counter() - t0) / steps * 1e6
    wrapper._env = real
    return cost


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--game", default="coinrun")
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--threads", type=int, default=1,
                   help="procgen worker threads (both sides); 1 is the steadiest on a loaded machine")
    p.add_argument("--steps", type=int, default=200, help="vector steps per repetition")
    p.add_argument("--reps", type=int, default=11)
    args = p.parse_args()
    start_load = load_average()
    print(f"load average at start: {start_load}")
    rng = np.random.default_rng(0)
    actions = rng.integers(15, size=(args.steps, args.envs)).astype(np.int32)

    raw = _gym3_env(args.game, "easy", 0, 200, num=args.envs, rand_seed=0, num_threads=args.threads)
    ours = ProcgenVecEnv(args.game, args.envs, start_level=0, num_levels=200, seed=0,
                         num_threads=args.threads)
    naive = NaiveChwVecEnv(args.game, args.envs, start_level=0, num_levels=200, seed=0,
                           num_threads=args.threads)
    ours.reset()
    naive.reset()

    def run_raw() -> float:
        t0 = time.perf_counter()
        for a in actions:
            raw.act(a)
            raw.observe()
        return args.steps * args.envs / (time.perf_counter() - t0)

    def run_env(env) -> float:
        t0 = time.perf_counter()
        for a in actions:
            env.step(a)
        return args.steps * args.envs / (time.perf_counter() - t0)

    cases = {"raw procgen (gym3 act/observe)": run_raw,
             "rlgen ProcgenVecEnv": lambda: run_env(ours),
             "naive: CHW copy + per-env info dicts": lambda: run_env(naive)}
    for fn in cases.values():  # warm-up
        fn()
    rates = interleave(cases, args.reps)
    costs = {name: wrapper_cost_us(env, 5000, actions) for name, env in
             (("rlgen ProcgenVecEnv", ours), ("naive: CHW copy + per-env info dicts", naive))}
    ours.close()
    naive.close()
    end_load = load_average()
    base = "raw procgen (gym3 act/observe)"
    print(f"\n## Procgen env steps/s ({args.game} easy, {args.envs} envs, {args.threads} procgen "
          f"threads, {args.steps} steps x {args.reps} interleaved reps), {dt.date.today()}")
    print(f"load average: {start_load} -> {end_load}\n")
    print(table(RATE_HEADER, rate_rows(rates, base, "steps/s")))
    ratio = median(rates["rlgen ProcgenVecEnv"]) / median(rates[base])
    naive_ratio = median(rates["naive: CHW copy + per-env info dicts"]) / median(rates[base])
    print(f"\nrlgen / raw = {ratio:.3f} (target >= 0.97: {'met' if ratio >= 0.97 else 'MISSED'}); "
          f"naive / raw = {naive_ratio:.3f}")
    raw_us = args.envs / median(rates[base]) * 1e6
    print(f"\nwrapper's own work per vector step (on a stub env, 5000 steps): "
          f"raw act+observe = {raw_us:,.0f} us (from the median above)")
    for name, us in costs.items():
        print(f"  {name}: +{us:,.1f} us -> implied ratio {raw_us / (raw_us + us):.3f}")
    # Per-rep ratios pair each rlgen rep with the raw rep of the same round (same load moment).
    paired = [o / r for o, r in zip(rates["rlgen ProcgenVecEnv"], rates[base], strict=True)]
    print(f"median of paired per-rep ratios rlgen/raw: {median(paired):.3f}")


if __name__ == "__main__":
    main()
