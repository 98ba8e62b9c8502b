"""Run a policy on the levels of a split and summarise the generalization gap.

Episode i of a split runs on `split.episode_levels(n)[i]`, so two agents evaluated on the same
split see exactly the same levels; each record carries the level that actually ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rlgen.envs.base import EnvSpec, stack_observations
from rlgen.eval import stats
from rlgen.policy import Policy, check_policy


def run_episodes(policy: Policy, spec: EnvSpec, split: str, episodes: int, num_envs: int = 8,
                 seed: int = 0, max_steps: int | None = None, progress: bool = True) -> list[dict]:
    """Play `episodes` episodes on the listed levels of `split`; one record per episode."""
    from tqdm.auto import tqdm

    levels = spec.splits[split].episode_levels(episodes)
    slots = min(num_envs, episodes)
    envs = [spec.make_env() for _ in range(slots)]
    assigned: list[int | None] = [None] * slots
    obs: list[Any] = [None] * slots
    infos: list[dict] = [{} for _ in range(slots)]
    check_policy(policy)
    ret, length = np.zeros(slots), np.zeros(slots, dtype=np.int64)
    records: list[dict] = [{} for _ in range(episodes)]
    next_episode = 0
    bar = tqdm(total=episodes, desc=f"evaluate {spec.id} [{split}]", disable=not progress,
               unit="ep", leave=False)

    def start(slot: int) -> bool:
        nonlocal next_episode
        if next_episode >= episodes:
            assigned[slot] = None
            return False
        i = next_episode
        next_episode += 1
        assigned[slot] = i
        obs[slot], infos[slot] = envs[slot].reset(seed=seed + i, options={"level": levels[i]})
        ret[slot], length[slot] = 0.0, 0
        return True

    started = [s for s in range(slots) if start(s)]
    policy.begin(np.array(started))
    while any(a is not None for a in assigned):
        batch = stack_observations(obs)
        actions = policy.act(batch, infos if policy.needs_infos else None)
        rewards = np.zeros(slots)
        new_slots = []
        for s in range(slots):
            i = assigned[s]
            if i is None:
                continue
            obs[s], r, terminated, truncated, info = envs[s].step(actions[s])
            infos[s] = info
            rewards[s] = r
            ret[s] += r
            length[s] += 1
            timeout = max_steps is not None and length[s] >= max_steps
            if terminated or truncated or timeout:
                if info.get("level", levels[i]) != levels[i]:
                    raise RuntimeError(f"episode {i} ran level {info['level']}, expected {levels[i]}")
                records[i] = {"split": split, "episode": i, "level": levels[i],
                              "return": float(ret[s]), "length": int(length[s]),
                              "truncated": bool(truncated or (timeout and not terminated))}
                if "success" in info:
                    records[i]["success"] = bool(info["success"])
                bar.update()
                if start(s):
                    new_slots.append(s)
        policy.feedback(rewards)
        if new_slots:
            policy.begin(np.array(new_slots))
    bar.close()
    for env in envs:
        env.close()
    return records


def summarize_split(records: Sequence[dict], spec: EnvSpec, seed: int = 0) -> dict[str, Any]:
    returns = np.array([r["return"] for r in records], dtype=np.float64)
    normalized = spec.normalize(returns)
    iqm, ci = stats.iqm_with_ci(normalized, seed=seed)
    out: dict[str, Any] = {
        "episodes": len(records),
        "levels": len({str(r["level"]) for r in records}),
        "mean_return": float(returns.mean()),
        "normalized_mean": float(normalized.mean()),
        "iqm": iqm,
        "iqm_ci": ci,
    }
    if records and all("success" in r for r in records):
        out["success_rate"] = float(np.mean([r["success"] for r in records]))
    return out


def summarize(records: Sequence[dict], spec: EnvSpec, seed: int = 0) -> dict[str, Any]:
    """Per-split summaries plus the generalization gap (train − test IQM of normalized return)."""
    by_split: dict[str, list[dict]] = {}
    for r in records:
        by_split.setdefault(r["split"], []).append(r)
    out: dict[str, Any] = {"splits": {k: summarize_split(v, spec, seed) for k, v in by_split.items()}}
    if "train" in by_split and "test" in by_split:
        norm = {k: spec.normalize([r["return"] for r in by_split[k]]) for k in ("train", "test")}
        value, ci = stats.difference_with_ci(norm["train"], norm["test"], seed=seed)
        out["generalization_gap"] = {"value": value, "ci": ci,
                                     "metric": "IQM of normalized return, train minus test"}
    return out


def evaluate(policy: Policy, spec: EnvSpec, splits: Sequence[str], episodes: int,
             num_envs: int = 8, seed: int = 0, max_steps: int | None = None,
             progress: bool = True) -> tuple[list[dict], dict[str, Any]]:
    records: list[dict] = []
    for split in splits:
        records += run_episodes(policy, spec, split, episodes, num_envs, seed, max_steps, progress)
    return records, summarize(records, spec, seed)
