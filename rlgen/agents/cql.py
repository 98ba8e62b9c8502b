"""Conservative Q-learning for discrete actions (Kumar et al. 2020), on a double-DQN backbone.

    L = Huber(Q(s,a), r + gamma (1-d) Q_target(s', argmax_a' Q(s',a')))   (d: terminated only)
        + alpha * E_s[ logsumexp_a Q(s,a) - Q(s,a_data) ]

The second term pushes down Q on actions the data does not take. gen_dgrl's final Procgen
setting: alpha = 4. The target network tracks the online one by Polyak averaging.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from rlgen.agents.discrete import (
    OfflineAgent,
    OfflineConfig,
    ScorerPolicy,
    TransitionBatch,
    masked_mean,
    polyak,
)


@dataclass(frozen=True)
class CQLConfig(OfflineConfig):
    alpha: float = 4.0
    tau: float = 0.005
    deterministic: bool = True


def masked_max(q: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    q = q.masked_fill(~mask, float("-inf"))
    return q.max(-1)


class CQL(OfflineAgent):
    """Offline: conservative Q-learning (discrete, double DQN + CQL(H) regulariser)."""

    name = "cql"
    config_class = CQLConfig

    def build(self) -> None:
        q = self.make_scorer()
        self.nets = {"q": q, "q_target": copy.deepcopy(q).requires_grad_(False)}

    def update(self, b: TransitionBatch) -> dict[str, float]:
        cfg, q_net, target = self.config, self.nets["q"], self.nets["q_target"]
        q_all, mask = q_net(b.inputs)
        q_taken = q_all.gather(1, b.actions[:, None]).squeeze(1)
        with torch.no_grad():
            online_next, next_mask = q_net(b.next_inputs)
            _, next_a = masked_max(online_next, next_mask)
            target_next, _ = target(b.next_inputs)
            y = b.rewards + cfg.gamma * (1 - b.dones) * target_next.gather(1, next_a[:, None]).squeeze(1)
        td = masked_mean(nn.functional.smooth_l1_loss(q_taken, y, reduction="none"), b.td_mask)
        conservative = (torch.logsumexp(q_all.masked_fill(~mask, -1e9), -1) - q_taken).mean()
        loss = td + cfg.alpha * conservative
        self.optimizers["q"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["q"].step()
        polyak(target, q_net, cfg.tau)
        return {"loss/td": float(td.detach()), "loss/cql": float(conservative.detach()),
                "q/mean": float(q_taken.detach().mean())}

    def acting_policy(self, deterministic: bool, seed: int) -> ScorerPolicy:
        return ScorerPolicy(self.nets["q"], self.device, deterministic, seed)
