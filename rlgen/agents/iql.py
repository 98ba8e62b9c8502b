"""Implicit Q-learning for discrete actions (Kostrikov et al. 2022).

    L_V  = E[ |tau - 1(u < 0)| u^2 ],  u = Q_target(s,a) - V(s)          (expectile regression)
    L_Q  = E[ (Q(s,a) - r - gamma (1-d) V(s'))^2 ]                       (d: terminated only)
    L_pi = -E[ min(exp(beta (Q_target(s,a) - V(s))), 100) log pi(a|s) ]   (advantage-weighted)

Never queries Q on actions outside the data. d3rlpy has no discrete IQL, hence this module.
gen_dgrl's final Procgen setting: expectile 0.8, temperature (beta) 3.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from rlgen.agents.discrete import (
    OfflineAgent,
    OfflineConfig,
    ScorerPolicy,
    TransitionBatch,
    ValueNet,
    masked_mean,
    polyak,
)


@dataclass(frozen=True)
class IQLConfig(OfflineConfig):
    expectile: float = 0.8
    temperature: float = 3.0
    tau: float = 0.005
    max_weight: float = 100.0


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    weight = torch.where(diff > 0, expectile, 1 - expectile)
    return (weight * diff**2).mean()


class IQL(OfflineAgent):
    """Offline: implicit Q-learning (discrete, expectile V + AWR policy)."""

    name = "iql"
    config_class = IQLConfig
    requires = ("scorer", "encoder")  # V(s) is the family's encoder and a head

    def build(self) -> None:
        q = self.make_scorer()
        self.nets = {"q": q, "q_target": copy.deepcopy(q).requires_grad_(False),
                     "value": ValueNet(self.make_encoder()), "policy": self.make_scorer()}

    def _v(self, inputs) -> torch.Tensor:
        return self.nets["value"](inputs)

    def update(self, b: TransitionBatch) -> dict[str, float]:
        cfg = self.config
        q_net, target, policy = self.nets["q"], self.nets["q_target"], self.nets["policy"]
        inputs, actions = b.inputs, b.actions
        with torch.no_grad():
            q_target_taken = target(inputs)[0].gather(1, actions[:, None]).squeeze(1)
            next_v = self._v(b.next_inputs)
        v = self._v(inputs)
        v_loss = expectile_loss(q_target_taken - v, cfg.expectile)
        q_taken = q_net(inputs)[0].gather(1, actions[:, None]).squeeze(1)
        q_loss = masked_mean((q_taken - (b.rewards + cfg.gamma * (1 - b.dones) * next_v)) ** 2, b.td_mask)
        logits, mask = policy(inputs)
        log_pi = torch.log_softmax(logits.float().masked_fill(~mask, -1e9), -1)
        weight = torch.exp(cfg.temperature * (q_target_taken - v.detach())).clamp(max=cfg.max_weight)
        pi_loss = -(weight * log_pi.gather(1, actions[:, None]).squeeze(1)).mean()
        loss = v_loss + q_loss + pi_loss
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in self.optimizers.values():
            opt.step()
        polyak(target, q_net, cfg.tau)
        return {"loss/value": float(v_loss.detach()), "loss/q": float(q_loss.detach()),
                "loss/policy": float(pi_loss.detach()), "q/mean": float(q_taken.detach().mean())}

    def acting_policy(self, deterministic: bool, seed: int) -> ScorerPolicy:
        return ScorerPolicy(self.nets["policy"], self.device, deterministic, seed)
