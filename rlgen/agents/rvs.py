"""RvS-G: goal-conditioned behaviour cloning with hindsight goals (Emmons et al. 2022), optionally
with temporal data augmentation (Ghugare et al. 2024).

Loss: MSE(pi(s, g), a) with g the achieved goal at a uniformly drawn future time of the same
trajectory, or, with probability `augmentation_epsilon` when `temporal_augmentation` is on, a
goal reached after a same-cluster state of another trajectory (rlgen.agents.goal_sampling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from rlgen.agents.gc_common import GoalConditionedAgent, mlp
from rlgen.agents.goal_sampling import GoalData, make_goal_sampler
from rlgen.agents.offline import LearnerConfig


@dataclass(frozen=True)
class RvSConfig(LearnerConfig):
    """Paper: MLP 2x1024, Adam 1e-3, batch 256, grad-norm clip 0.25, 1M updates."""

    hidden: tuple[int, ...] = (1024, 1024)
    lr: float = 1e-3
    batch_size: int = 256
    max_grad_norm: float = 0.25
    temporal_augmentation: bool = False
    augmentation_epsilon: float = 0.5  # used only when temporal_augmentation is on; must be > 0
    kmeans_k: int = 0                  # 0: the task's K from envs/maze.toml (20/40/80)
    log_every: int = 1000


class RvS(GoalConditionedAgent):
    """Goal-conditioned BC (RvS-G MLP), optional temporal data augmentation"""

    name = "rvs"
    config_class = RvSConfig

    def build(self) -> None:
        lay = self.layout
        self.nets = {"actor": mlp(lay.obs_dim, self.config.hidden, lay.action_dim, tanh_out=True)}

    def make_sampler(self, data: GoalData):
        c = self.config
        return make_goal_sampler(data, c.temporal_augmentation, c.augmentation_epsilon,
                                 self.kmeans_k, self.seed, features="obs")

    def sample_batch(self) -> dict[str, Any]:
        b = self.sampler.sample(self.config.batch_size)
        d = self.data
        return {"sg": self.batch_tensor(np.concatenate([d.observations[b["i"]], b["goal"]], 1)),
                "actions": self.batch_tensor(d.actions[b["i"]]),
                "augmented": float(b["augmented"].mean())}

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        actor = self.nets["actor"]
        loss = ((actor(batch["sg"]) - batch["actions"]) ** 2).mean()
        opt = self.optimizers["actor"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(actor.parameters(), self.config.max_grad_norm)
        opt.step()
        return {"loss/actor": loss.item(), "data/augmented_fraction": batch["augmented"]}
