"""Demonstration datasets: run a scripted policy on a split's goals and write episodes.

    python -m rlgen.envs.webshop.collect --policy expert --split train --episodes 2000 \
        --out data/webshop-expert-train [--env-opt data_dir=...] [--policy-opt mistake_prob=0.2]

Fields per step (rlgen.data.storage format): `observations` (strings), `actions` (strings),
`rewards`, `terminations`, `truncations`, `valid_actions` (the list offered at that step) and
`action_index` (position of the action taken in `valid_actions`, -1 if it was not offered).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.data.storage import EpisodeWriter
from rlgen.envs.base import EnvSpec


def collect(spec: EnvSpec, policy: Any, split: str, episodes: int, out: str | Path, seed: int = 0,
            policy_name: str = "", policy_options: dict[str, Any] | None = None,
            progress: bool = True, resume: bool = False) -> Path:
    """Play `episodes` episodes on `split` (its goals in order, cycled) and write a dataset."""
    from tqdm.auto import tqdm

    levels = spec.splits[split].episode_levels(episodes)
    writer = EpisodeWriter(out, resume=resume)
    env = spec.make_env()
    returns, successes = [], []
    for i in tqdm(range(writer.episodes, episodes), desc=f"collect {spec.id} [{split}]",
                  disable=not progress, unit="ep"):
        obs, info = env.reset(seed=seed + i, options={"level": levels[i]})
        steps: dict[str, list] = {k: [] for k in ("observations", "actions", "rewards", "terminations",
                                                  "truncations", "valid_actions", "action_index")}
        done = False
        while not done:
            action = policy.act([obs], [info])[0]
            valid = list(info["valid_actions"])
            steps["observations"].append(obs)
            steps["actions"].append(action)
            steps["valid_actions"].append(valid)
            steps["action_index"].append(valid.index(action) if action in valid else -1)
            obs, reward, terminated, truncated, info = env.step(action)
            steps["rewards"].append(reward)
            steps["terminations"].append(terminated)
            steps["truncations"].append(truncated)
            done = terminated or truncated
        returns.append(sum(steps["rewards"]))
        successes.append(bool(info.get("success", False)))
        writer.add_episode(
            levels[i],
            observations=steps["observations"], actions=steps["actions"],
            rewards=np.asarray(steps["rewards"], np.float32),
            terminations=np.asarray(steps["terminations"], bool),
            truncations=np.asarray(steps["truncations"], bool),
            valid_actions=steps["valid_actions"],
            action_index=np.asarray(steps["action_index"], np.int64))
    env.close()
    card = {"env": spec.to_dict(), "split": split, "policy": policy_name,
            "policy_options": policy_options or {}, "seed": seed,
            "success_rate_this_session": float(np.mean(successes)) if successes else None}
    return writer.finalize(card)


def main(argv: list[str] | None = None) -> int:
    from rlgen.config import parse_override
    from rlgen.registry import make_env_spec

    ap = argparse.ArgumentParser(prog="python -m rlgen.envs.webshop.collect",
                                 description="Write WebShop demonstrations from a scripted policy.")
    ap.add_argument("--env", default="webshop")
    ap.add_argument("--policy", default="expert", help="expert, noisy or random")
    ap.add_argument("--policy-opt", action="append", metavar="KEY=VALUE",
                    help="e.g. mistake_prob=0.2, detour_prob=0.1, seed=1")
    ap.add_argument("--env-opt", action="append", metavar="KEY=VALUE")
    ap.add_argument("--split", default="train")
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        spec = make_env_spec(args.env, **dict(parse_override(o) for o in args.env_opt or []))
        popts = dict(parse_override(o) for o in args.policy_opt or [])
        policy = spec.impl.make_policy(spec, args.policy, **popts)
        path = collect(spec, policy, args.split, args.episodes, args.out, args.seed, args.policy,
                       popts, progress=not args.quiet, resume=args.resume)
    except (ValueError, FileNotFoundError, TypeError) as e:
        print(f"rlgen: error: {e}", file=sys.stderr)
        return 2
    print(f"dataset: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
