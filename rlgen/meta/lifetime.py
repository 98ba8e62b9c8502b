"""One inner lifetime: a fresh PPO agent trained with a given objective, in-process, scored by
its final normalized return. Module-level and picklable, so a backend can ship it to workers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class Lifetime:
    env: str
    horizon: int
    seed: int
    objective: str                      # a registered objective name or a saved objective file
    params: tuple[float, ...] | None = None   # flat parameters to load into the objective
    agent: str = "ppo"
    overrides: dict[str, Any] = field(default_factory=dict)
    eval_episodes: int = 0              # 0: score the last training episodes; else test levels
    device: str = "cpu"


def build(lifetime: Lifetime):
    """The fresh agent of a lifetime, with the candidate parameters loaded into its objective."""
    from torch.nn.utils import vector_to_parameters

    from rlgen.agents.factory import make_agent

    agent = make_agent(lifetime.agent, lifetime.env,
                       {**lifetime.overrides, "objective": lifetime.objective},
                       seed=lifetime.seed, device=lifetime.device)
    if lifetime.params is not None:
        vector_to_parameters(torch.tensor(lifetime.params, dtype=torch.float32,
                                          device=agent.device), agent.objective.parameters())
    return agent


def run_lifetime(lifetime: Lifetime) -> float:
    """Train, then return the normalized final return (NaN if no training episode ended)."""
    agent = build(lifetime)
    return _score(lifetime, agent, agent.fit(None, lifetime.horizon, progress=False))


def run_sequentially(lifetimes: Sequence[Lifetime]) -> list[float]:
    return [run_lifetime(life) for life in lifetimes]


def run_lifetimes(lifetimes: Sequence[Lifetime]) -> list[float]:
    """Several lifetimes, those that share env, horizon and config trained together as one
    `PopulationPPO` (one batched computation); scores in the order given."""
    from rlgen.agents.ppo_population import PopulationPPO

    groups: dict[tuple, list[int]] = {}
    for i, life in enumerate(lifetimes):
        key = (life.env, life.horizon, life.objective, life.agent, repr(sorted(life.overrides.items())),
               life.device)
        groups.setdefault(key, []).append(i)
    scores = [math.nan] * len(lifetimes)
    for members in groups.values():
        agents = [build(lifetimes[i]) for i in members]
        results = PopulationPPO(agents).fit(lifetimes[members[0]].horizon)
        for i, agent, result in zip(members, agents, results, strict=True):
            scores[i] = _score(lifetimes[i], agent, result)
    return scores


def _score(lifetime: Lifetime, agent, result) -> float:
    import numpy as np

    if lifetime.eval_episodes:
        from rlgen.eval.evaluate import run_episodes

        records = run_episodes(agent.policy(seed=lifetime.seed), agent.spec, "test",
                               lifetime.eval_episodes, seed=lifetime.seed, progress=False)
        raw = float(np.mean([r["return"] for r in records]))
    else:  # Goldie et al.'s fitness: each env's last finished episode at the final update
        raw = result.metrics.get("train/last_episode_return", math.nan)
    return float(agent.spec.normalize(raw))


def ppo_batch(env: str, overrides: dict[str, Any]) -> tuple[int, int]:
    """(envs, steps) of one PPO update of a lifetime on `env` with `overrides`: a horizon below
    their product would still train one whole batch."""
    from rlgen.agents.factory import agent_config
    from rlgen.registry import make_env_spec

    config, _ = agent_config("ppo", make_env_spec(env).family, overrides)
    return config.num_envs, config.num_steps


def objective_size(objective: str) -> int:
    """Number of parameters of a registered objective (0 for closed forms)."""
    from rlgen.agents.objectives import build_objective

    return sum(p.numel() for p in build_objective(objective, {}, {}, torch.device("cpu")).parameters())
