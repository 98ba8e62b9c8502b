"""What the goal-conditioned offline agents (RvS, GCDT, GCIQL) add to the common offline learner:
hindsight goal data in place of an episode dataset, sizes read from the env's `GoalLayout`, MLPs
and a deterministic continuous policy. The training loop is `rlgen.agents.offline.OfflineLearner`.

Observations are the env's flat `[state, goal]` vector (the maze: [x, y, vx, vy, goal_x,
goal_y]); the networks read it as (state, goal) directly, and training batches build the same
layout from dataset states and sampled goals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from rlgen.agents.goal_sampling import GoalData
from rlgen.agents.offline import OfflineLearner
from rlgen.data.storage import EpisodeDataset
from rlgen.envs.base import GoalLayout
from rlgen.policy import Policy


def mlp(inp: int, hidden: Sequence[int], out: int, layer_norm: bool = False,
        tanh_out: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(inp, h)] + ([nn.LayerNorm(h)] if layer_norm else []) + [nn.ReLU()]
        inp = h
    layers.append(nn.Linear(inp, out))
    if tanh_out:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class ContinuousPolicy(Policy):
    """`act(obs) -> actions` through `fn(obs_tensor) -> actions` (deterministic)."""

    def __init__(self, fn, device: torch.device):
        self.fn, self.device = fn, device

    @torch.inference_mode()
    def act(self, obs: np.ndarray, infos: list[dict] | None = None) -> np.ndarray:
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        return self.fn(x).cpu().numpy()


class GoalConditionedAgent(OfflineLearner):
    """Base of the goal-conditioned agents: `self.layout` gives the sizes `build` needs."""

    requires: tuple[str, ...] = ("goal_conditioned",)
    default_budget = 20_000

    def __init__(self, spec, config, device, seed: int = 0):
        if device.type == "cpu":
            # Small MLPs gain nothing from intra-op threads; on a shared CPU the threads' hand-offs
            # made updates ~30x slower (5 vs 150 updates/s measured on the 2-core sandbox).
            torch.set_num_threads(1)
        try:
            self.layout: GoalLayout = spec.impl.goal_layout(spec)
        except NotImplementedError as e:
            raise ValueError(f"{self.name} needs a goal-conditioned env (maze:...), not {spec.id}") from e
        super().__init__(spec, config, device, seed)

    def default_dataset(self, progress: bool) -> str:
        raise ValueError(f"{self.name} learns from a dataset: pass --dataset DIR "
                         "(build one with `rlgen collect --recipe datasets/maze-*.toml --out DIR`)")

    def data_from(self, ds: EpisodeDataset) -> GoalData:
        return GoalData.from_dataset(ds, self.layout)

    @property
    def kmeans_k(self) -> int:
        k = int(getattr(self.config, "kmeans_k", 0))
        return k if k > 0 else self.spec.impl.layout(self.spec.task).kmeans_k

    def batch_tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float32), device=self.device)

    def acting_policy(self, deterministic: bool, seed: int) -> Any:
        return ContinuousPolicy(self.nets["actor"], self.device)
