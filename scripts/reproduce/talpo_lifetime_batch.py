"""Which PPO batch a CPU-sized meta-training lifetime should use: fresh PPO lifetimes (the clipped
objective, as the ES's starting point trains) at a few per-update batches, same env and horizon,
several seeds each, scored as meta-training scores them (normalized final return, Goldie et al.'s
last-episode fitness). This is the comparison behind `--variant cpu` of scripts/reproduce/talpo.py.

    python scripts/reproduce/talpo_lifetime_batch.py --env minatar:space_invaders --horizon 65536 --seeds 4
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

CONFIGS = {
    "preset 64x128": {},
    "8x32 lr 5e-3": {"num_envs": 8, "num_steps": 32, "minibatches": 4},
    "8x32 lr 1e-3": {"num_envs": 8, "num_steps": 32, "minibatches": 4, "lr": 1e-3},
    "16x32 lr 2e-3": {"num_envs": 16, "num_steps": 32, "minibatches": 4, "lr": 2e-3},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="minatar:space_invaders")
    p.add_argument("--horizon", type=int, default=65_536)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names of CONFIGS")
    args = p.parse_args()
    unknown = [c for c in args.configs.split(",") if c not in CONFIGS]
    if unknown:
        p.error(f"unknown config {', '.join(map(repr, unknown))}; known: {', '.join(CONFIGS)}")

    from rlgen.eval.stats import mean_with_ci
    from rlgen.meta.lifetime import Lifetime, run_lifetimes

    print(f"{args.env}, {args.horizon:,} env steps per lifetime, seeds 0..{args.seeds - 1} trained "
          f"as one population per config; {platform.node()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("\n| PPO batch (--set) | normalized final return per seed | mean [95% CI over seeds] | wall s |")
    print("|---|---|---|---|")
    for name in args.configs.split(","):
        overrides = CONFIGS[name]
        t0 = time.time()
        scores = run_lifetimes([Lifetime(env=args.env, horizon=args.horizon, seed=s, objective="clip",
                                         overrides=overrides) for s in range(args.seeds)])
        mean, (lo, hi) = mean_with_ci(np.array(scores)[:, None])
        print(f"| {name} {overrides or ''} | {', '.join(f'{x:.3f}' for x in scores)} | "
              f"{mean:.3f} [{lo:.3f}, {hi:.3f}] | {time.time() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
