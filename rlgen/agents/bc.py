"""Behavioural cloning: maximise log pi(a|s) on the dataset's actions (cross-entropy).

`top_fraction < 1` gives filtered BC: train only on the episodes with the highest returns
(Chen et al. 2021's %BC; gen_dgrl's "filtered BC").
gen_dgrl's final Procgen setting: lr 5e-4, batch 256.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlgen.agents.discrete import (
    OfflineAgent,
    OfflineConfig,
    ScorerPolicy,
    TransitionBatch,
    masked_cross_entropy,
)
from rlgen.data.storage import EpisodeDataset, select_episodes


@dataclass(frozen=True)
class BCConfig(OfflineConfig):
    top_fraction: float = 1.0  # keep this fraction of episodes, by return (filtered BC)


class BC(OfflineAgent):
    """Offline: behavioural cloning (filtered BC with --set top_fraction=0.1)."""

    name = "bc"
    config_class = BCConfig
    batch_net = "policy"
    uses_next = False

    def build(self) -> None:
        self.nets = {"policy": self.make_scorer()}

    def filter_dataset(self, ds: EpisodeDataset) -> EpisodeDataset:
        frac = self.config.top_fraction
        if not 0 < frac <= 1:
            raise ValueError(f"top_fraction must be in (0, 1], got {frac}")
        if frac == 1:
            return ds
        returns = ds.episode_returns()
        keep = np.argsort(-returns, kind="stable")[: max(1, int(round(frac * len(returns))))]
        return select_episodes(ds, keep)

    def update(self, batch: TransitionBatch) -> dict[str, float]:
        scores, mask = self.nets["policy"](batch.inputs)
        loss = masked_cross_entropy(scores, mask, batch.actions)
        self.optimizers["policy"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["policy"].step()
        return {"loss/bc": float(loss.detach())}

    def acting_policy(self, deterministic: bool, seed: int) -> ScorerPolicy:
        return ScorerPolicy(self.nets["policy"], self.device, deterministic, seed)
