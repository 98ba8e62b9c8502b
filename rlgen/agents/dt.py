"""Decision transformer (Chen et al. 2021) and its unconditioned twin, BCT.

A causal GPT reads the last `context` steps as tokens (return-to-go, state, action) for `dt`
and (state, action) for `bct`, and predicts each action from its state token with
cross-entropy. At evaluation `dt` is conditioned on a target return = `target_return_scale` x
the dataset's highest episode return, and the return-to-go drops by each reward received.
gen_dgrl's released code builds the same model for both by mistake; here `bct` has no return
input at all (tested): its config fixes `condition_on_return = false` and refuses `true`, so the
recorded config is the one that ran (`dt --set condition_on_return=false` is the same model).
Timesteps are the true step within the episode, in training and when acting. gen_dgrl's final Procgen setting: 6 layers, 8 heads, d=128, context 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rlgen.agents.discrete import OfflineAgent, OfflineConfig, masked_cross_entropy
from rlgen.data.storage import EpisodeDataset
from rlgen.nets.scorer import _take
from rlgen.policy import Policy
from rlgen.tree import to_tensor


@dataclass(frozen=True)
class DTConfig(OfflineConfig):
    context: int = 10
    layers: int = 6
    heads: int = 8
    d_model: int = 128
    dropout: float = 0.1
    max_timestep: int = 1024
    target_return_scale: float = 1.0
    batch_size: int = 64
    lr: float = 6e-4
    condition_on_return: bool = True


@dataclass(frozen=True)
class BCTConfig(DTConfig):
    condition_on_return: bool = False

    def __post_init__(self) -> None:
        if self.condition_on_return:
            raise ValueError("bct has no return input (condition_on_return = false); "
                             "use the dt agent for a return-conditioned transformer")


class SequenceModel(nn.Module):
    def __init__(self, encoder: nn.Module, num_actions: int, cfg: DTConfig):
        super().__init__()
        d = cfg.d_model
        self.cfg, self.num_actions = cfg, num_actions
        self.encoder = encoder
        self.state_embed = nn.Linear(encoder.out_dim, d)
        self.action_embed = nn.Embedding(num_actions + 1, d)  # last index: "no action yet"
        self.time_embed = nn.Embedding(cfg.max_timestep, d)
        self.return_embed = nn.Linear(1, d) if cfg.condition_on_return else None
        layer = nn.TransformerEncoderLayer(d, cfg.heads, 4 * d, cfg.dropout, batch_first=True,
                                           norm_first=True, activation="gelu")
        self.transformer = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, num_actions)
        # dataset-derived constants travel with the weights
        self.register_buffer("return_scale", torch.ones(()))
        self.register_buffer("max_return", torch.zeros(()))

    @property
    def tokens_per_step(self) -> int:
        return 3 if self.return_embed is not None else 2

    def forward(self, feats: torch.Tensor, actions: torch.Tensor, rtg: torch.Tensor | None,
                timesteps: torch.Tensor) -> torch.Tensor:
        """feats (B,K,F), actions (B,K) (num_actions where unknown), rtg (B,K), timesteps (B,K)
        -> action logits (B,K,A) read at the state tokens.

        Windows are right-padded: with causal attention a real step never sees the padding after
        it, so no key-padding mask is needed (masking whole rows makes NaNs that leak through)."""
        b, k = actions.shape
        t = self.time_embed(timesteps.clamp(max=self.cfg.max_timestep - 1))
        s = self.state_embed(feats) + t
        a = self.action_embed(actions) + t
        parts = [s, a]
        if self.return_embed is not None:
            r = self.return_embed((rtg / self.return_scale).unsqueeze(-1)) + t
            parts = [r, s, a]
        n = len(parts)
        x = torch.stack(parts, dim=2).reshape(b, n * k, -1)
        causal = torch.triu(torch.ones(n * k, n * k, dtype=torch.bool, device=x.device), 1)
        h = self.transformer(x, mask=causal)
        h = self.norm(h).reshape(b, k, n, -1)[:, :, n - 2]  # the state token of each step
        return self.head(h)


class SequenceSampler:
    """Windows of up to `context` consecutive steps ending at a uniformly drawn step, cut at the
    episode start and right-padded (`pad` marks the padding)."""

    def __init__(self, ds: EpisodeDataset, context: int, seed: int = 0):
        self.k, self.rng = context, np.random.default_rng(seed)
        self.n = ds.num_transitions
        ep = ds.episode_ids()
        self.start = ds.starts[ep]
        self.t = np.arange(self.n) - self.start
        rewards = np.asarray(ds.fields["rewards"], dtype=np.float64)
        # return-to-go: reverse cumulative sum within each episode
        total = np.add.reduceat(rewards, ds.starts)[ep]
        within = np.cumsum(rewards) - (np.cumsum(rewards)[ds.starts] - rewards[ds.starts])[ep]
        self.rtg = (total - within + rewards).astype(np.float32)

    def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """(step indices (B, K), padding (B, K))."""
        end = self.rng.integers(self.n, size=batch)
        first = np.maximum(end - self.k + 1, self.start[end])
        idx = first[:, None] + np.arange(self.k)[None]
        pad = idx > end[:, None]
        return np.where(pad, end[:, None], idx), pad


class DT(OfflineAgent):
    """Offline: decision transformer, conditioned on return-to-go."""

    name = "dt"
    config_class = DTConfig
    requires = ("discrete_actions", "encoder")

    def build(self) -> None:
        self.nets = {"model": SequenceModel(self.make_encoder(), self.spec.num_actions, self.config)}

    def make_sampler(self, ds: EpisodeDataset) -> SequenceSampler:
        return SequenceSampler(ds, self.config.context, self.seed)

    def on_data(self, ds: EpisodeDataset) -> None:
        model = self.nets["model"]
        max_return = float(ds.episode_returns().max())
        model.max_return.fill_(max_return)
        model.return_scale.fill_(max(abs(max_return), 1.0))

    def sample_batch(self) -> tuple[np.ndarray, np.ndarray]:
        return self.sampler.sample(self.config.batch_size)

    def update(self, batch: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
        model, ds = self.nets["model"], self.data
        idx, pad = batch
        b, k = idx.shape
        flat = idx.reshape(-1)
        feats = model.encoder(_take(ds.fields["observations"], flat, self.device)).reshape(b, k, -1)
        actions = torch.as_tensor(np.asarray(ds.fields["actions"])[idx], dtype=torch.long, device=self.device)
        rtg = torch.as_tensor(self.sampler.rtg[idx], device=self.device)
        steps = torch.as_tensor(self.sampler.t[idx], device=self.device)
        pad_t = torch.as_tensor(pad, device=self.device)
        logits = model(feats, actions, rtg, steps)
        valid = ~pad_t
        loss = masked_cross_entropy(logits[valid], torch.ones_like(logits[valid], dtype=torch.bool),
                                    actions[valid])
        opt = self.optimizers["model"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()
        return {"loss/action": float(loss.detach())}

    def acting_policy(self, deterministic: bool, seed: int) -> SequencePolicy:
        return SequencePolicy(self.nets["model"], self.device, deterministic, seed,
                              self.config.target_return_scale)


class BCT(DT):
    """Offline: the same transformer without return conditioning (behaviour transformer)."""

    name = "bct"
    config_class = BCTConfig


class SequencePolicy(Policy):
    """Keeps each batch slot's recent history and step count; `begin` restarts slots,
    `feedback` lowers RTG."""

    def __init__(self, model: SequenceModel, device: torch.device, deterministic: bool, seed: int,
                 target_return_scale: float, target_return: float | None = None):
        self.model, self.device, self.deterministic = model, device, deterministic
        self.k = model.cfg.context
        self.target = float(model.max_return) * target_return_scale if target_return is None \
            else float(target_return)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.hist: dict[int, dict[str, list]] = {}

    def begin(self, slots: np.ndarray) -> None:
        for s in np.asarray(slots).tolist():
            self.hist[s] = {"feats": [], "actions": [], "rtg": [], "t": [], "next_rtg": self.target,
                            "step": 0}

    def feedback(self, rewards: np.ndarray) -> None:
        for s, h in self.hist.items():
            if s < len(rewards):
                h["next_rtg"] -= float(rewards[s])

    @torch.inference_mode()
    def act(self, obs: Any, infos: list[dict] | None = None) -> np.ndarray:
        feats = self.model.encoder(to_tensor(obs, self.device))
        b = feats.shape[0]
        for s in range(b):
            if s not in self.hist:
                self.begin(np.array([s]))
            h = self.hist[s]
            h["feats"].append(feats[s])
            h["rtg"].append(h["next_rtg"])
            h["t"].append(h["step"])  # the true step in the episode, as in training
            h["step"] += 1
            h["actions"].append(self.model.num_actions)  # unknown until chosen
            for key in ("feats", "rtg", "t", "actions"):
                h[key] = h[key][-self.k:]
        k = self.k
        f = torch.zeros(b, k, feats.shape[1], device=self.device)
        a = torch.full((b, k), self.model.num_actions, dtype=torch.long, device=self.device)
        r = torch.zeros(b, k, device=self.device)
        t = torch.zeros(b, k, dtype=torch.long, device=self.device)
        last = torch.zeros(b, dtype=torch.long, device=self.device)
        for s in range(b):
            h = self.hist[s]
            n = len(h["feats"])
            f[s, :n] = torch.stack(h["feats"])
            a[s, :n] = torch.as_tensor(h["actions"], device=self.device)
            r[s, :n] = torch.as_tensor(h["rtg"], device=self.device)
            t[s, :n] = torch.as_tensor(h["t"], device=self.device)
            last[s] = n - 1
        logits = self.model(f, a, r, t)[torch.arange(b, device=self.device), last].float()
        if self.deterministic:
            choice = logits.argmax(-1)
        else:
            choice = torch.multinomial(torch.softmax(logits, -1), 1, generator=self.generator).squeeze(-1)
        for s in range(b):
            self.hist[s]["actions"][-1] = int(choice[s])
        return choice.cpu().numpy()
