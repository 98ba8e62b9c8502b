"""Agent-steps/s of K PPO agents trained together (`PopulationPPO`: stacked parameters, one
vmapped forward/backward) vs the same K agents trained one after another (plain `PPO.fit`),
same math, same seeds, same objective. Target (issue 11): >= 5x at K = 16 on a 2-core CPU.

    PYTHONPATH=$PWD nice -n 5 python scripts/bench/ppo_population.py --env toy:identity --k 16

Inner PPO per agent: `--envs` envs x `--steps` steps per update, 4 epochs x 4 minibatches, the
family's PPO preset otherwise, the TA-LPO objective (16-input drift network, zero weights) so the
objective is batched too. Each repetition trains every agent for `--updates` updates; the two
cases alternate (population, sequential, population, ...) and medians are reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import time

from _timing import (
    RATE_HEADER,
    interleave,
    load_average,
    median,
    quiet_torch_threads,
    rate_rows,
    table,
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="toy:identity")
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--envs", type=int, default=8)
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--updates", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="PPO config override (e.g. encoder.out_dim=64)")
    p.add_argument("--env-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="env option for both cases (e.g. compile=true for MinAtar's compiled step)")
    args = p.parse_args()
    quiet_torch_threads(args.threads)

    from rlgen.agents.factory import make_agent
    from rlgen.agents.ppo_population import PopulationPPO
    from rlgen.config import parse_override
    from rlgen.registry import make_env_spec

    overrides = {"num_envs": args.envs, "num_steps": args.steps, "epochs": 4, "minibatches": 4,
                 "objective": "talpo", **dict(parse_override(o) for o in args.set)}
    budget = args.envs * args.steps * args.updates
    agent_steps = budget * args.k

    spec = make_env_spec(args.env, **dict(parse_override(o) for o in args.env_opt))

    def agents():
        return [make_agent("ppo", spec, overrides, seed=s, device="cpu") for s in range(args.k)]

    def population() -> float:
        members = agents()
        t = time.perf_counter()
        PopulationPPO(members).fit(budget)
        return agent_steps / (time.perf_counter() - t)

    def sequential() -> float:
        members = agents()
        t = time.perf_counter()
        for a in members:
            a.fit(None, budget, progress=False)
        return agent_steps / (time.perf_counter() - t)

    population()  # warm-up (imports, allocator, a compiled env step's K * n envs)
    if args.env_opt:  # and a lone agent's n envs (compiled once per env count)
        make_agent("ppo", spec, overrides, seed=0, device="cpu").fit(None, args.envs * args.steps, progress=False)
    rates = interleave({"sequential PPO.fit": sequential, "PopulationPPO": population}, args.reps)
    print(f"\n{args.env}, K={args.k}, {args.envs} envs x {args.steps} steps, {args.updates} updates "
          f"per agent; env options {args.env_opt or 'default'}; {platform.node()}, {args.threads} torch threads, "
          f"load {load_average()}, "
          f"{dt.date.today()}")
    print(table(RATE_HEADER, rate_rows(rates, "sequential PPO.fit", "agent-steps/s")))
    print(f"population / sequential: {median(rates['PopulationPPO']) / median(rates['sequential PPO.fit']):.2f}x")


if __name__ == "__main__":
    main()
