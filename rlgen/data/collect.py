"""Collect episode datasets from a behaviour policy on a split's levels, with provenance."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from rlgen import tree
from rlgen.data.storage import EpisodeWriter
from rlgen.envs.base import EnvSpec
from rlgen.policy import check_policy
from rlgen.runs import provenance


def collect(spec: EnvSpec, policy: Any, out: str | Path, transitions: int, split: str = "train",
            num_envs: int = 16, seed: int = 0, resume: bool = False,
            behavior: dict[str, Any] | None = None, progress: bool = True,
            extra_card: dict[str, Any] | None = None) -> Path:
    """Play `policy` on the levels of `split` until `transitions` steps of whole episodes are saved.

    Episodes still running when the target is reached are dropped, so every saved episode is
    complete. `resume=True` continues an interrupted collection in `out`.
    """
    from tqdm.auto import tqdm

    writer = EpisodeWriter(out, resume=resume)
    envs = spec.make_vec_env(split, num_envs, seed=seed + writer.shards * 7919)
    obs, info = envs.reset(seed=seed + writer.shards * 7919)
    check_policy(policy)
    infos = [_info_row(info, i) for i in range(num_envs)] if policy.needs_infos else None
    buffers: list[dict[str, list]] = [_empty() for _ in range(num_envs)]
    bar = tqdm(total=transitions, initial=writer.transitions, unit="step", disable=not progress,
               desc=f"collect {spec.id} [{split}]", dynamic_ncols=True)
    policy.begin(np.arange(num_envs))
    try:
        while writer.total_transitions < transitions:
            actions = policy.act(obs, infos)
            next_obs, rew, term, trunc, info = envs.step(actions)
            for i in range(num_envs):
                b = buffers[i]
                b["observations"].append(tree.index(obs, i))
                b["actions"].append(actions[i])
                b["rewards"].append(float(rew[i]))
                b["terminations"].append(bool(term[i]))
                b["truncations"].append(bool(trunc[i]))
                if term[i] or trunc[i]:
                    writer.add_episode(
                        level=_finished_level(info, i),
                        observations=tree.stack(b["observations"]),
                        actions=np.asarray(b["actions"]),
                        rewards=np.asarray(b["rewards"], dtype=np.float32),
                        terminations=np.asarray(b["terminations"]),
                        truncations=np.asarray(b["truncations"]))
                    bar.update(len(b["actions"]))
                    buffers[i] = _empty()
            # feedback before begin, as in evaluation: a finished episode's last reward belongs
            # to it, not to the episode that starts in its slot
            policy.feedback(rew)
            if (term | trunc).any():
                policy.begin(np.flatnonzero(term | trunc))
            obs = next_obs
            if policy.needs_infos:
                infos = [_info_row(info, i) for i in range(num_envs)]
    finally:
        writer.close()  # an interrupted collection keeps its whole shards
    bar.close()
    envs.close()
    card = {
        "env": spec.to_dict(),
        "split": split,
        "split_levels": _levels_summary(spec, split),
        "behavior_policy": behavior or {"description": type(policy).__name__},
        "collection": {"seed": seed, "num_envs": num_envs, "target_transitions": transitions,
                       "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")},
        "provenance": provenance(),
        **(extra_card or {}),
    }
    return writer.finalize(card)


def _info_row(info: dict[str, Any], i: int) -> dict[str, Any]:
    """Env i's entries of a vector info dict (nested dicts too; Gymnasium's `_key` masks dropped)."""
    return {k: _info_row(v, i) if isinstance(v, dict) else v[i]
            for k, v in info.items() if not k.startswith("_")}


def _finished_level(info: dict[str, Any], i: int) -> Any:
    """The level env i just finished. Gymnasium's same-step autoreset puts the new episode's
    info in `info` and the finished one's in `info["final_info"]`; Procgen's native vector env
    reports the finished level directly."""
    final = info.get("final_info")
    if final is not None and "level" in final and final.get("_level", [True] * (i + 1))[i]:
        return _jsonable(final["level"][i])
    return _jsonable(info["level"][i])


def _empty() -> dict[str, list]:
    return {k: [] for k in ("observations", "actions", "rewards", "terminations", "truncations")}


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def _levels_summary(spec: EnvSpec, split: str) -> dict[str, Any]:
    s = spec.splits[split]
    levels = list(s.levels)
    return {"count": len(levels), "description": s.description,
            "levels": levels if len(levels) <= 1000 else levels[:1000] + ["..."]}
