"""Goal-conditioned decision transformer (Chen et al. 2021 with the return-to-go replaced by a
goal), optionally with temporal data augmentation (Ghugare et al. 2024).

A window of `context` steps starts at a sampled step i; every token carries the same goal g.
Tokens alternate (state+goal, action); a causal transformer predicts a_t from the (s_t, g) token;
loss = MSE over the window's valid steps. Without augmentation the window runs along the current
trajectory up to the goal time j. With augmentation (probability epsilon), the goal comes from
waypoint state w of another trajectory (same K-means cluster of xy as the state at j) and the
window is stitched: the current trajectory's steps i..j, then w's steps after w, up to the goal
time k.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rlgen.agents.gc_common import GoalConditionedAgent
from rlgen.agents.goal_sampling import GoalData, make_goal_sampler
from rlgen.agents.offline import LearnerConfig
from rlgen.envs.base import GoalLayout
from rlgen.policy import Policy


@dataclass(frozen=True)
class GCDTConfig(LearnerConfig):
    """Paper: 3 layers, width 128, 1 head, context 5."""

    context: int = 5
    layers: int = 3
    width: int = 128
    heads: int = 1
    dropout: float = 0.1
    lr: float = 1e-4
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_grad_norm: float = 0.25
    temporal_augmentation: bool = False
    augmentation_epsilon: float = 0.5  # used only when temporal_augmentation is on; must be > 0
    kmeans_k: int = 0                  # 0: the task's K from envs/maze.toml
    log_every: int = 1000


class GoalTransformer(nn.Module):
    def __init__(self, c: GCDTConfig, layout: GoalLayout):
        super().__init__()
        self.context = c.context
        self.obs_dim, self.action_dim = layout.obs_dim, layout.action_dim
        self.embed_sg = nn.Linear(layout.obs_dim, c.width)
        self.embed_a = nn.Linear(layout.action_dim, c.width)
        self.pos = nn.Parameter(torch.zeros(1, 2 * c.context, c.width))
        layer = nn.TransformerEncoderLayer(c.width, c.heads, 4 * c.width, c.dropout,
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.width)
        self.head = nn.Sequential(nn.Linear(c.width, layout.action_dim), nn.Tanh())
        mask = torch.triu(torch.full((2 * c.context, 2 * c.context), float("-inf")), 1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, sg: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """sg (B, L, obs_dim), a (B, L, action_dim) -> predicted actions (B, L, action_dim),
        a_t read at token (s_t, g)."""
        b, length, _ = sg.shape
        tokens = torch.stack([self.embed_sg(sg), self.embed_a(a)], 2).reshape(b, 2 * length, -1)
        h = self.blocks(tokens + self.pos[:, :2 * length], mask=self.mask[:2 * length, :2 * length])
        return self.head(self.norm(h[:, 0::2]))


class GCDT(GoalConditionedAgent):
    """Goal-conditioned decision transformer, optional temporal data augmentation"""

    name = "gcdt"
    config_class = GCDTConfig

    def build(self) -> None:
        self.nets = {"model": GoalTransformer(self.config, self.layout)}

    def make_optimizers(self) -> None:
        c = self.config
        self.optimizers = {"model": torch.optim.AdamW(self.nets["model"].parameters(), lr=c.lr,
                                                      weight_decay=c.weight_decay)}

    def make_sampler(self, data: GoalData):
        c = self.config
        # The DT reference clusters achieved goals, xy (the RvS reference clusters full states).
        return make_goal_sampler(data, c.temporal_augmentation, c.augmentation_epsilon,
                                 self.kmeans_k, self.seed, features="xy")

    def windows(self, b: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dataset step indices (B, L), validity (B, L) and goals (B, 2) of the sampled windows."""
        d, length = self.data, self.config.context
        i, j = b["i"], b["j"]
        t = i[:, None] + np.arange(length)[None]          # time along the (stitched) trajectory
        last = d.last[i][:, None]
        own = t < j[:, None]                                # steps before the goal time: own episode
        idx = np.minimum(t, last)
        valid = own.copy()
        if "w" in b:
            aug = b["augmented"][:, None]
            w, k = b["w"][:, None], b["k"][:, None]
            # after reaching the state at j (~ state w), continue along w's episode until k
            wt = w + (t - j[:, None])
            from_w = aug & ~own & (wt < k)
            idx = np.where(from_w, wt, idx)
            valid |= from_w
        return idx, valid, b["goal"]

    def sample_batch(self) -> dict[str, Any]:
        d = self.data
        b = self.sampler.sample(self.config.batch_size)
        idx, valid, goal = self.windows(b)
        s = d.observations[idx]                                            # (B, L, state_dim)
        sg = np.concatenate([s, np.broadcast_to(goal[:, None], (*idx.shape, goal.shape[-1]))], -1)
        return {"sg": self.batch_tensor(sg),
                "prev_actions": self.batch_tensor(d.actions[idx] * valid[..., None]),
                "actions": self.batch_tensor(d.actions[idx]),
                "valid": self.batch_tensor(valid.astype(np.float32)),
                "augmented": float(b["augmented"].mean())}

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        model = self.nets["model"]
        pred = model(batch["sg"], batch["prev_actions"])
        err = ((pred - batch["actions"]) ** 2).sum(-1)
        v = batch["valid"]
        loss = (err * v).sum() / v.sum().clamp(min=1)
        opt = self.optimizers["model"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), self.config.max_grad_norm)
        opt.step()
        return {"loss/action": loss.item(), "data/augmented_fraction": batch["augmented"]}

    def acting_policy(self, deterministic: bool, seed: int) -> DTPolicy:
        return DTPolicy(self.nets["model"], self.config.context, self.device)


class DTPolicy(Policy):
    """Keeps each batch slot's last `context` (state+goal, action) pairs; `begin(slots)` clears
    the slots whose new episodes start."""

    def __init__(self, model: GoalTransformer, context: int, device: torch.device):
        self.model, self.context, self.device = model, context, device
        self.sg: np.ndarray | None = None
        self.a: np.ndarray | None = None
        self.n = np.zeros(0, dtype=np.int64)

    def begin(self, slots: np.ndarray) -> None:
        if self.sg is not None:
            self.n[slots] = 0

    @torch.inference_mode()
    def act(self, obs: np.ndarray, infos: list[dict] | None = None) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        b, length = len(obs), self.context
        if self.sg is None or len(self.sg) != b:
            self.sg = np.zeros((b, length, self.model.obs_dim), np.float32)
            self.a = np.zeros((b, length, self.model.action_dim), np.float32)
            self.n = np.zeros(b, dtype=np.int64)
        full = self.n >= length
        # shift full histories left by one to make room for the current step
        self.sg[full, :-1], self.a[full, :-1] = self.sg[full, 1:], self.a[full, 1:]
        pos = np.minimum(self.n, length - 1)
        rows = np.arange(b)
        self.sg[rows, pos] = obs
        self.a[rows, pos] = 0.0
        pred = self.model(torch.as_tensor(self.sg, device=self.device),
                          torch.as_tensor(self.a, device=self.device)).cpu().numpy()
        action = pred[rows, pos]
        self.a[rows, pos] = action
        self.n = np.minimum(self.n + 1, length)
        return action
