"""Run a policy on the levels of a split and summarise the generalization gap.

Episode i of a split runs on `split.episode_levels(n)[i]`, so two agents evaluated on the same
split see exactly the same levels; each record carries the level that actually ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rlgen import tree
from rlgen.envs.base import EnvSpec
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
        batch = tree.stack(obs)
        actions = policy.act(batch, infos if policy.needs_infos else None)
        rewards = np.zeros(slots)
        new_slots, ended = [], []
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
                else:
                    ended.append(s)
        policy.feedback(rewards)
        if new_slots:
            policy.begin(np.array(new_slots))
        if ended:
            policy.end(np.array(ended))
    bar.close()
    for env in envs:
        env.close()
    return records


SCHEMA = 2  # summary.json layout: 2 = level-bootstrap means (docs/statistics.md); 1 had per-episode IQMs


def _split_stats(records: Sequence[dict], spec: EnvSpec, seed: int) -> tuple[dict[str, Any], np.ndarray]:
    """One split's summary and its bootstrap draws (reps × metrics: raw, normalized[, success])."""
    split = records[0]["split"]
    returns = np.array([r["return"] for r in records], dtype=np.float64)
    columns = [returns, np.asarray(spec.normalize(returns), dtype=np.float64)]
    has_success = all("success" in r for r in records)
    if has_success:
        columns.append(np.array([r["success"] for r in records], dtype=np.float64))
    means, draws = stats.level_bootstrap(np.stack(columns, axis=1), [r["level"] for r in records],
                                         stats.split_rng(seed, split))
    out: dict[str, Any] = {
        "episodes": len(records),
        "levels": len({str(r["level"]) for r in records}),
        "mean_return": float(means[0]),
        "mean_return_ci": stats.ci_of(draws[:, 0]),
        "normalized_mean": float(means[1]),
        "normalized_mean_ci": stats.ci_of(draws[:, 1]),
    }
    if has_success:
        out["success_rate"] = float(means[2])
        out["success_rate_ci"] = stats.ci_of(draws[:, 2])
    return out, draws


def summarize_split(records: Sequence[dict], spec: EnvSpec, seed: int = 0) -> dict[str, Any]:
    """Means over a split's episodes (raw return, normalized return, success where the family
    defines it), each with a 95% CI from resampling the split's levels."""
    return _split_stats(records, spec, seed)[0]


def summarize(records: Sequence[dict], spec: EnvSpec, seed: int = 0) -> dict[str, Any]:
    """Per-split summaries plus the generalization gap: train − test mean normalized return (and
    success rate where defined), CI from resampling train and test levels independently."""
    by_split: dict[str, list[dict]] = {}
    for r in records:
        by_split.setdefault(r["split"], []).append(r)
    splits, draws = {}, {}
    for name, recs in by_split.items():
        splits[name], draws[name] = _split_stats(recs, spec, seed)
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "statistics": {"ci": stats.CONFIDENCE, "bootstrap": "levels (episodes clustered by level)",
                       "reps": stats.REPS, "seed": seed},
        "splits": splits,
    }
    if "train" in splits and "test" in splits:
        train, test = splits["train"], splits["test"]
        out["generalization_gap"] = {
            "value": train["normalized_mean"] - test["normalized_mean"],
            "ci": stats.ci_of(draws["train"][:, 1] - draws["test"][:, 1]),
            "metric": "mean normalized return, train minus test"}
        if "success_rate" in train and "success_rate" in test:
            out["generalization_gap_success"] = {
                "value": train["success_rate"] - test["success_rate"],
                "ci": stats.ci_of(draws["train"][:, 2] - draws["test"][:, 2]),
                "metric": "success rate, train minus test"}
    return out


def evaluate(policy: Policy, spec: EnvSpec, splits: Sequence[str], episodes: int,
             num_envs: int = 8, seed: int = 0, max_steps: int | None = None,
             progress: bool = True) -> tuple[list[dict], dict[str, Any]]:
    records: list[dict] = []
    for split in splits:
        records += run_episodes(policy, spec, split, episodes, num_envs, seed, max_steps, progress)
    return records, summarize(records, spec, seed)
