"""GCIQL: goal-conditioned implicit Q-learning with hindsight relabelling (as in OGBench).

Value goals mix the current state (p_cur), a geometric future state of the same trajectory
(p_traj, discount `gamma`) and a random dataset state (the rest); actor goals are uniform
future states (a fraction `actor_p_random` of random states, 0 as in OGBench). Reward r = 0 and episode end when the next state is within 0.45 of the goal,
else r = -1. Losses: V(s,g) by expectile regression (tau) on min of target twin Q(s,a,g);
Q(s,a,g) by MSE to r + gamma (1 - done) V(s',g), where s' is the stored next observation (also
at the last step of a truncated episode: time limits never end the bootstrap); actor by AWR (weighted MSE with
exp(beta (Q - V)), capped at 100) or DDPG+BC (-Q(s, pi) / mean|Q| + alpha ||pi - a||^2).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rlgen.agents.gc_common import GoalConditionedAgent, mlp
from rlgen.agents.goal_sampling import GoalData, HindsightSampler
from rlgen.agents.offline import LearnerConfig
from rlgen.envs.maze.env import SUCCESS_RADIUS


@dataclass(frozen=True)
class GCIQLConfig(LearnerConfig):
    """OGBench GCIQL defaults (pointmaze): 3x512 LayerNorm MLPs, lr 3e-4, batch 1024,
    gamma 0.99, expectile 0.9, tau 0.005, goals p_cur 0.2 / p_traj 0.5 / p_rand 0.3, DDPG+BC
    alpha 0.003. On stitch data OGBench also draws half the actor goals at random (the maze
    preset, agents/gciql.toml, does)."""

    hidden: tuple[int, ...] = (512, 512, 512)
    lr: float = 3e-4
    batch_size: int = 1024
    gamma: float = 0.99
    expectile: float = 0.9
    target_tau: float = 0.005
    p_cur: float = 0.2
    p_traj: float = 0.5
    #: actor goals: uniform future states of the same trajectory (OGBench), except this fraction
    #: drawn from random dataset states, where only the critic knows how to get there (stitching)
    actor_p_random: float = 0.0
    actor_loss: str = "ddpgbc"  # or "awr"
    alpha: float = 0.003        # ddpgbc: BC weight
    beta: float = 3.0           # awr: inverse temperature
    log_every: int = 1000


class QPair(nn.Module):
    def __init__(self, inp: int, hidden):
        super().__init__()
        self.q1, self.q2 = mlp(inp, hidden, 1, layer_norm=True), mlp(inp, hidden, 1, layer_norm=True)

    def forward(self, sg: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([sg, a], -1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


class GCIQL(GoalConditionedAgent):
    """Goal-conditioned IQL with hindsight relabelling (TD baseline that stitches)"""

    name = "gciql"
    config_class = GCIQLConfig

    def build(self) -> None:
        c = self.config
        if c.actor_loss not in ("ddpgbc", "awr"):
            raise ValueError(f"actor_loss must be 'ddpgbc' or 'awr', got {c.actor_loss!r}")
        if not 0 <= c.actor_p_random <= 1:
            raise ValueError(f"actor_p_random must lie in [0, 1], got {c.actor_p_random}")
        if not 0 <= c.p_cur + c.p_traj <= 1:
            raise ValueError("p_cur + p_traj must lie in [0, 1] (the rest are random goals)")
        lay = self.layout
        q = QPair(lay.obs_dim + lay.action_dim, c.hidden)
        self.nets = {
            "value": mlp(lay.obs_dim, c.hidden, 1, layer_norm=True),
            "q": q,
            "q_target": copy.deepcopy(q).requires_grad_(False),
            "actor": mlp(lay.obs_dim, c.hidden, lay.action_dim, tanh_out=True),
        }

    def make_sampler(self, data: GoalData) -> HindsightSampler:
        return HindsightSampler(data, self.seed)

    def on_data(self, data: GoalData) -> None:
        self.rng = np.random.default_rng(self.seed + 1)

    def rngs(self) -> dict[str, np.random.Generator]:
        return {**super().rngs(), "goals": self.rng}

    def _value_goals(self, i: np.ndarray) -> np.ndarray:
        d, c, n = self.data, self.config, len(i)
        u = self.rng.random(n)
        t = self.sampler.future(i, geometric=c.gamma)
        goal = d.goal_at(t, d.last[i])
        rand = u >= c.p_cur + c.p_traj
        goal[rand] = d.goals_of(d.observations[self.rng.integers(len(d), size=int(rand.sum()))])
        cur = u < c.p_cur
        goal[cur] = d.goals_of(d.observations[i[cur]])
        return goal

    def sample_batch(self) -> dict[str, Any]:
        """Value/Q goals with their reward and bootstrap mask (r = 0 and no bootstrap where s'
        reaches the goal), plus the actor's goals."""
        c, d = self.config, self.data
        i = self.sampler.steps(c.batch_size)
        s, s2, a = d.observations[i], d.next_observations[i], d.actions[i]
        g = self._value_goals(i)
        reached = np.linalg.norm(d.goals_of(s2) - g, axis=1) <= SUCCESS_RADIUS
        # actor on uniform future goals
        ga = d.goal_at(self.sampler.future(i), d.last[i])
        rand = self.rng.random(len(i)) < c.actor_p_random
        ga[rand] = d.goals_of(d.observations[self.rng.integers(len(d), size=int(rand.sum()))])
        return {"sg": self.batch_tensor(np.concatenate([s, g], 1)),
                "s2g": self.batch_tensor(np.concatenate([s2, g], 1)),
                "actions": self.batch_tensor(a),
                "rewards": self.batch_tensor(reached.astype(np.float32) - 1.0),
                "bootstrap": self.batch_tensor(1.0 - reached.astype(np.float32)),
                "sga": self.batch_tensor(np.concatenate([s, ga], 1))}

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        c, m = self.config, self.nets
        sg, s2g, at, r, mask = (batch[k] for k in ("sg", "s2g", "actions", "rewards", "bootstrap"))

        with torch.no_grad():
            tq = torch.min(*m["q_target"](sg, at))
        v = m["value"](sg).squeeze(-1)
        diff = tq - v
        weight = torch.where(diff > 0, c.expectile, 1 - c.expectile)
        v_loss = (weight * diff**2).mean()
        self._step("value", v_loss)

        with torch.no_grad():
            target = r + c.gamma * mask * m["value"](s2g).squeeze(-1)
        q1, q2 = m["q"](sg, at)
        q_loss = ((q1 - target) ** 2 + (q2 - target) ** 2).mean()
        self._step("q", q_loss)
        with torch.no_grad():
            for p, tp in zip(m["q"].parameters(), m["q_target"].parameters(), strict=True):
                tp.lerp_(p, c.target_tau)

        sga = batch["sga"]
        pi = m["actor"](sga)
        if c.actor_loss == "awr":
            with torch.no_grad():
                adv = torch.min(*m["q_target"](sga, at)) - m["value"](sga).squeeze(-1)
                w = torch.exp(c.beta * adv).clamp(max=100.0)
            a_loss = (w * ((pi - at) ** 2).sum(-1)).mean()
        else:
            qpi = torch.min(*m["q"](sga, pi))
            a_loss = -qpi.mean() / qpi.abs().mean().detach().clamp(min=1e-6) \
                + c.alpha * ((pi - at) ** 2).sum(-1).mean()
        self._step("actor", a_loss)
        return {"loss/value": v_loss.item(), "loss/q": q_loss.item(), "loss/actor": a_loss.item(),
                "value/mean": v.mean().item()}

    def _step(self, name: str, loss: torch.Tensor) -> None:
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
