"""Expert and mixed datasets from the scripted oracle, written as rlgen episode datasets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.data.storage import EpisodeWriter
from rlgen.envs.base import EnvSpec
from rlgen.envs.minihack.oracle import Oracle


def _stack(obs_list: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.stack([o[k] for o in obs_list]) for k in obs_list[0]}


def run_oracle_episode(env, oracle: Oracle, level: Any, max_steps: int = 10_000) -> dict[str, Any]:
    """One episode on `level`: the per-step fields of an episode dataset plus success."""
    obs, _ = env.reset(options={"level": level})
    oracle.reset()
    observations, actions, rewards, terms, truncs = [], [], [], [], []
    info: dict = {}
    for _ in range(max_steps):
        action = oracle.act(obs)
        observations.append(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        actions.append(action)
        rewards.append(reward)
        terms.append(terminated)
        truncs.append(truncated)
        if terminated or truncated:
            break
    return {"observations": _stack(observations), "actions": np.array(actions, np.int64),
            "rewards": np.array(rewards, np.float32), "terminations": np.array(terms),
            "truncations": np.array(truncs), "success": bool(info.get("success", False)),
            "level": info.get("level", level)}


def collect_oracle(spec: EnvSpec, out: str | Path, split: str = "train", episodes: int = 100,
                   noise: float = 0.0, seed: int = 0, progress: bool = True) -> Path:
    """`episodes` oracle episodes on the levels of `split` (in order, cycled) into `out`.
    `noise` is the probability of a uniform random action at each step (mixed datasets)."""
    from tqdm.auto import tqdm

    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be in [0, 1], got {noise}")
    levels = spec.splits[split].episode_levels(episodes)
    env = spec.make_env()
    oracle = Oracle(env.action_names, noise=noise, seed=seed)
    writer = EpisodeWriter(out)
    successes = []
    for level in tqdm(levels, desc=f"oracle {spec.id} [{split}]", disable=not progress, unit="ep"):
        ep = run_oracle_episode(env, oracle, level)
        successes.append(ep.pop("success"))
        writer.add_episode(ep.pop("level"), **ep)
    env.close()
    card = {"env": spec.to_dict(), "split": split, "levels": sorted(set(levels), key=str),
            "policy": {"name": "oracle", "noise": noise, "seed": seed},
            "action_names": env.action_names, "success_rate": float(np.mean(successes)),
            "created": dt.datetime.now().isoformat(timespec="seconds")}
    return writer.finalize(card)
