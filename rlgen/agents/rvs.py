"""RvS-G: goal-conditioned behaviour cloning with hindsight goals (Emmons et al. 2022), optionally
with temporal data augmentation (Ghugare et al. 2024).

Loss: MSE(pi(s, g), a) with g the achieved goal at a uniformly drawn future time of the same
trajectory, or, with probability `augmentation_epsilon` when `temporal_augmentation` is on, a
goal reached after a same-cluster state of another trajectory (rlgen.agents.goal_sampling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rlgen.agents.gc_common import ContinuousPolicy, GoalConditionedAgent, mlp
from rlgen.agents.goal_sampling import make_goal_sampler


@dataclass(frozen=True)
class RvSConfig:
    """Paper: MLP 2x1024, Adam 1e-3, batch 256, grad-norm clip 0.25, 1M updates."""

    hidden: tuple[int, ...] = (1024, 1024)
    lr: float = 1e-3
    batch_size: int = 256
    max_grad_norm: float = 0.25
    temporal_augmentation: bool = False
    augmentation_epsilon: float = 0.5  # used only when temporal_augmentation is on; must be > 0
    kmeans_k: int = 0                  # 0: the task's K from envs/maze.toml (20/40/80)
    log_every: int = 1000
    checkpoint_every_s: float = 120.0


class RvS(GoalConditionedAgent):
    """Goal-conditioned BC (RvS-G MLP), optional temporal data augmentation"""

    name = "rvs"
    config_class = RvSConfig

    def build(self) -> None:
        c = self.config
        self.modules = {"actor": mlp(6, c.hidden, 2, tanh_out=True).to(self.device)}
        self.optimizers = {"actor": torch.optim.Adam(self.modules["actor"].parameters(), lr=c.lr)}

    def attach(self, data) -> None:
        super().attach(data)
        c = self.config
        self.sampler = make_goal_sampler(data, c.temporal_augmentation, c.augmentation_epsilon,
                                         self.kmeans_k, self.seed, features="obs")

    def update(self, step: int) -> dict[str, float]:
        b = self.sampler.sample(self.config.batch_size)
        d = self.data
        x = self.batch_tensor(np.concatenate([d.observations[b["i"]], b["goal"]], 1))
        a = self.batch_tensor(d.actions[b["i"]])
        loss = ((self.modules["actor"](x) - a) ** 2).mean()
        opt = self.optimizers["actor"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.modules["actor"].parameters(), self.config.max_grad_norm)
        opt.step()
        return {"loss": loss.item(), "augmented_fraction": float(b["augmented"].mean())}

    def policy(self, deterministic: bool = True, seed: int = 0) -> ContinuousPolicy:
        return ContinuousPolicy(self.modules["actor"], self.device)
