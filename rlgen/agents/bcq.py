"""Discrete batch-constrained Q-learning (Fujimoto et al. 2019, "Benchmarking Batch Deep RL").

A behaviour model G(a|s) is learned by cross-entropy; Q-learning and acting consider only
actions whose relative behaviour probability G(a|s) / max_a G(a|s) exceeds `threshold`:

    L = Huber(Q(s,a), r + gamma (1-d) Q_target(s', argmax_{a' allowed} Q(s',a'))) + CE(G(s), a)

gen_dgrl's final Procgen setting: threshold 0.5.
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
    masked_cross_entropy,
    masked_mean,
    polyak,
)


@dataclass(frozen=True)
class BCQConfig(OfflineConfig):
    threshold: float = 0.5
    tau: float = 0.005
    deterministic: bool = True


def allowed_actions(logits: torch.Tensor, mask: torch.Tensor, threshold: float) -> torch.Tensor:
    probs = torch.softmax(logits.float().masked_fill(~mask, -1e9), -1)
    return mask & (probs / probs.max(-1, keepdim=True).values >= threshold)


class BCQ(OfflineAgent):
    """Offline: discrete batch-constrained Q-learning."""

    name = "bcq"
    config_class = BCQConfig

    def build(self) -> None:
        q = self.make_scorer()
        self.nets = {"q": q, "q_target": copy.deepcopy(q).requires_grad_(False),
                     "behavior": self.make_scorer()}

    def constrained_q(self, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        q, mask = self.nets["q"](inputs)
        logits, _ = self.nets["behavior"](inputs)
        return q, allowed_actions(logits, mask, self.config.threshold)

    def update(self, b: TransitionBatch) -> dict[str, float]:
        cfg, q_net, target, behavior = self.config, self.nets["q"], self.nets["q_target"], self.nets["behavior"]
        q_all, _ = q_net(b.inputs)
        q_taken = q_all.gather(1, b.actions[:, None]).squeeze(1)
        with torch.no_grad():
            q_next, allowed = self.constrained_q(b.next_inputs)
            next_a = q_next.masked_fill(~allowed, float("-inf")).argmax(-1)
            target_next, _ = target(b.next_inputs)
            y = b.rewards + cfg.gamma * (1 - b.dones) * target_next.gather(1, next_a[:, None]).squeeze(1)
        td = masked_mean(nn.functional.smooth_l1_loss(q_taken, y, reduction="none"), b.td_mask)
        logits, mask = behavior(b.inputs)
        imitation = masked_cross_entropy(logits, mask, b.actions)
        loss = td + imitation
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in self.optimizers.values():
            opt.step()
        polyak(target, q_net, cfg.tau)
        return {"loss/td": float(td.detach()), "loss/imitation": float(imitation.detach()),
                "q/mean": float(q_taken.detach().mean())}

    def acting_policy(self, deterministic: bool, seed: int) -> ScorerPolicy:
        def score(inputs):
            q, allowed = self.constrained_q(inputs)
            return q, allowed

        return ScorerPolicy(self.nets["q"], self.device, deterministic, seed, score_fn=score)
