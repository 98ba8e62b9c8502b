"""Mirror-learning drift objectives for PPO's actor (Lu et al. 2022; Jackson et al. 2024).

Actor loss L = -mean(r·A - D(r, A)), with r the probability ratio and A the (normalized)
advantage. A drift D >= 0 with D(1, A) = 0 and dD/dr = 0 at r = 1 keeps the update a mirror-
learning step. PPO is the member D = relu((r - clip(r, 1-ε, 1+ε))·A).

- `dpo`: the closed form of Discovered Policy Optimisation (α = 2, β = 0.6).
- `lpo`: a drift network over 8 features of (r, A), no biases, output shifted and rectified, so
  the three constraints hold for any weights (see ../shared/docs/discovered-objectives.md §1).
- `talpo`: the same network over the 8 features and the 8 features times training progress n/N
  (16 inputs): the temporally-aware LPO.
Feature order (Goldie et al.'s): r-1, (r-1)², log r, (log r)², then each times A. Saved drift
networks record it, since other published orders are not interchangeable.
"""

from __future__ import annotations

import torch
from torch import nn

FEATURE_ORDER = "r-1,(r-1)^2,log r,(log r)^2,A*..."
SHIFT = 1e-4


def ppo_drift(ratio: torch.Tensor, advantages: torch.Tensor, clip_coef: float) -> torch.Tensor:
    return torch.relu((ratio - ratio.clamp(1 - clip_coef, 1 + clip_coef)) * advantages)


def lpo_features(ratio: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """(..., 8): every feature is exactly 0 at r = 1."""
    d, log_r = ratio - 1, torch.log(ratio)
    base = torch.stack([d, d * d, log_r, log_r * log_r], dim=-1)
    return torch.cat([base, base * advantages.unsqueeze(-1)], dim=-1)


class DriftObjective(nn.Module):
    """Actor loss from a drift: subclasses implement `drift(ratio, advantages, progress)`."""

    def drift(self, ratio: torch.Tensor, advantages: torch.Tensor, progress: float) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, ratio, advantages, progress, batch):
        drift = self.drift(ratio, advantages, progress)
        loss = -(ratio * advantages - drift).mean()
        return loss, {"loss/drift": drift.mean().detach()}


class DPO(DriftObjective):
    """Discovered Policy Optimisation's closed-form drift (Lu et al. 2022), α = 2, β = 0.6.

    A >= 0: relu((r-1)A - α tanh((r-1)A/α)); A < 0: relu(log r·A - β tanh(log r·A/β))."""

    def __init__(self, alpha: float = 2.0, beta: float = 0.6):
        super().__init__()
        self.alpha, self.beta = float(alpha), float(beta)

    def drift(self, ratio, advantages, progress):
        pos = (ratio - 1) * advantages
        neg = torch.log(ratio) * advantages
        return torch.where(advantages >= 0,
                           torch.relu(pos - self.alpha * torch.tanh(pos / self.alpha)),
                           torch.relu(neg - self.beta * torch.tanh(neg / self.beta)))


class LPO(DriftObjective):
    """Learned Policy Optimisation (Lu et al. 2022): a drift network over 8 ratio/advantage features.

    D = relu(f(x) - 1e-4 [+ D_PPO]), f a bias-free Dense(in→hidden)–tanh–Dense(hidden→1)
    network over the drift features x. With `ppo_init`
    (as Goldie et al. and Lu et al.'s --ppo-init), zero weights give PPO's drift."""

    progress_features = False

    def __init__(self, hidden: int = 128, ppo_init: bool = True, clip_coef: float = 0.2,
                 feature_order: str = FEATURE_ORDER):
        super().__init__()
        if feature_order != FEATURE_ORDER:
            raise ValueError(f"drift network saved with feature order {feature_order!r}; this "
                             f"implementation uses {FEATURE_ORDER!r}")
        inputs = 16 if self.progress_features else 8
        self.net = nn.Sequential(nn.Linear(inputs, hidden, bias=False), nn.Tanh(),
                                 nn.Linear(hidden, 1, bias=False))
        nn.init.zeros_(self.net[0].weight)  # ES starts from the mean at zero (PPO with ppo_init)
        nn.init.zeros_(self.net[2].weight)
        self.ppo_init, self.clip_coef, self.feature_order = ppo_init, clip_coef, feature_order

    def features(self, ratio, advantages, progress) -> torch.Tensor:
        return lpo_features(ratio, advantages)

    def drift(self, ratio, advantages, progress):
        f = self.net(self.features(ratio, advantages, progress)).squeeze(-1) - SHIFT
        if self.ppo_init:
            f = f + ppo_drift(ratio, advantages, self.clip_coef)
        return torch.relu(f)


class TALPO(LPO):
    """Temporally-aware LPO (Jackson et al. 2024): the features, and the features times n/N."""

    progress_features = True

    def features(self, ratio, advantages, progress):
        x = lpo_features(ratio, advantages)
        return torch.cat([x, x * float(progress)], dim=-1)
