"""What the discrete-action offline agents (BC, CQL, IQL, BCQ, DT, BCT) share on top of the
common loop (`rlgen.agents.offline.OfflineLearner`): nets that are the env family's scorers
(`rlgen.nets.scorer`) or share its encoder, and uniform transitions whose TD targets respect
truncation (a time limit is not a terminal state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from rlgen.agents.offline import LearnerConfig, OfflineLearner
from rlgen.data.storage import EpisodeDataset
from rlgen.policy import Policy


@dataclass(frozen=True)
class OfflineConfig(LearnerConfig):
    gamma: float = 0.99
    deterministic: bool = False  # act greedily instead of sampling
    decoded_cache: bool = False  # keep a decompressed, memory-mapped copy next to the dataset
    encoder: dict = field(default_factory=dict)  # kwargs for the family's make_encoder


class TransitionSampler:
    """Uniform transitions (s, a, r, s', terminated) and a TD mask.

    Inside an episode s' is the next step's observation. At an episode's last step a terminated
    episode does not bootstrap; a truncated one (time limit) is not terminal: it bootstraps from
    the stored final next observation when the dataset has a `next_observations` field, else its
    last transition is masked out of the TD loss (its other losses still use it). Procgen reports
    its timeouts as terminations, so there they count as terminal."""

    def __init__(self, ds: EpisodeDataset, seed: int = 0):
        self.n = ds.num_transitions
        self.rng = np.random.default_rng(seed)
        self.rewards = torch.as_tensor(np.array(ds.fields["rewards"], dtype=np.float32))
        terminated = np.asarray(ds.fields["terminations"], dtype=bool)
        self.dones = torch.as_tensor(terminated.astype(np.float32))
        ends = ds.starts + ds.lengths - 1
        self.stored_next = "next_observations" in ds.fields
        if self.stored_next:
            self.next = np.arange(self.n)  # row i of next_observations
        else:
            self.next = np.arange(self.n) + 1
            self.next[ends] = ends  # no next row: a placeholder that `dones` or the mask zeroes
        mask = np.ones(self.n, dtype=np.float32)
        mask[ends[~terminated[ends] & ~ds.final_obs]] = 0.0
        self.td_mask = torch.as_tensor(mask)
        # Next-step inputs read the `observations` of this view: the dataset itself, or its
        # stored next observations.
        self.next_source = ds if not self.stored_next else EpisodeDataset(
            ds.path, ds.card, {**ds.fields, "observations": ds.fields["next_observations"]},
            ds.levels, ds.lengths, ds.final_obs)

    def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(step indices, next-input indices into `next_source`, rewards, dones, TD mask)."""
        idx = self.rng.integers(self.n, size=batch)
        return idx, self.next[idx], self.rewards[idx], self.dones[idx], self.td_mask[idx]


@dataclass
class TransitionBatch:
    inputs: Any
    actions: torch.Tensor
    next_inputs: Any
    rewards: torch.Tensor
    dones: torch.Tensor    # 1 where the episode terminated at this step (not on truncation)
    td_mask: torch.Tensor  # 0 where s' is unknown (a truncated end without its next observation)


class ScorerPolicy(Policy):
    """Acts through a scorer: argmax, or a sample from the softmax, over the unmasked actions."""

    def __init__(self, scorer, device: torch.device, deterministic: bool, seed: int = 0,
                 score_fn=None):
        self.scorer, self.device, self.deterministic = scorer, device, deterministic
        self.score_fn = score_fn or scorer
        self.needs_infos = scorer.num_actions is None
        self.generator = torch.Generator(device=device).manual_seed(seed)

    @torch.inference_mode()
    def act(self, obs: Any, infos: list[dict] | None = None) -> Any:
        scores, mask = self.score_fn(self.scorer.batch_from_env(obs, infos))
        scores = scores.float().masked_fill(~mask, float("-inf"))
        if self.deterministic:
            choice = scores.argmax(-1)
        else:
            choice = torch.multinomial(torch.softmax(scores, -1), 1, generator=self.generator).squeeze(-1)
        return self.scorer.to_env_actions(choice.cpu().numpy(), infos)


class ValueNet(nn.Module):
    """V(s): the family's encoder and a scalar head (for fixed action sets)."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.out_dim, 1)

    def forward(self, inputs: Any) -> torch.Tensor:
        return self.head(self.encoder(inputs)).squeeze(-1)


def masked_cross_entropy(scores: torch.Tensor, mask: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(scores.float().masked_fill(~mask, -1e9), actions)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `x` over the rows where `mask` is 1 (TD losses skip rows without a known s')."""
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def polyak(target: nn.Module, online: nn.Module, tau: float) -> None:
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            t.lerp_(o, tau)


class OfflineAgent(OfflineLearner):
    """Discrete-action offline agents: nets are the family's scorers (or share its encoder) and
    batches are uniform transitions. `batch_net` names the scorer that builds batch inputs;
    `uses_next` says whether the loss reads s' (TD agents)."""

    config_class = OfflineConfig
    requires: tuple[str, ...] = ("scorer",)
    batch_net = "q"
    uses_next = True

    def place(self, net: nn.Module) -> None:
        net.to(self.device)
        if hasattr(net, "encoder"):
            net.to(memory_format=torch.channels_last)

    def default_dataset(self, progress: bool) -> str:
        from rlgen.data.recipes import ensure_default_dataset

        return str(ensure_default_dataset(self.spec.id, progress=progress))

    def make_sampler(self, ds: EpisodeDataset) -> TransitionSampler:
        return TransitionSampler(ds, self.seed)

    def make_scorer(self, outputs_per_action: int = 1):
        if self.config.encoder:  # encoder kwargs given: the default scorer over that encoder
            from rlgen.nets.scorer import EncoderScorer

            return EncoderScorer(self.make_encoder(), self.spec.num_actions, outputs_per_action)
        return self.spec.impl.make_scorer(self.spec, outputs_per_action=outputs_per_action)

    def make_encoder(self) -> nn.Module:
        try:
            return self.spec.impl.make_encoder(self.spec, **self.config.encoder)
        except NotImplementedError as e:
            raise ValueError(f"{self.name} needs a state encoder, which {self.spec.family} lacks") from e

    def sample_batch(self) -> TransitionBatch:
        return self.sample_transitions(self.nets[self.batch_net], self.uses_next)

    def sample_transitions(self, scorer, with_next: bool = True) -> TransitionBatch:
        """A uniform minibatch of (s, a, s', r, done, TD mask) as the scorer's inputs."""
        idx, nxt, rew, done, mask = self.sampler.sample(self.config.batch_size)
        next_inputs = scorer.batch_from_dataset(self.sampler.next_source, nxt) if with_next else None
        return TransitionBatch(scorer.batch_from_dataset(self.data, idx),
                               scorer.actions_from_dataset(self.data, idx), next_inputs,
                               rew.to(self.device), done.to(self.device), mask.to(self.device))
