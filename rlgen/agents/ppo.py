"""PPO (Schulman et al. 2017) with an IMPALA CNN, following Procgen's train-procgen settings.

Reads top to bottom like CleanRL's `ppo_procgen.py`: rollout, GAE, clipped surrogate update.
Speed comes from doing less, never from different math: one forward pass gives logits and
values, rollouts run under `inference_mode` on contiguous uint8 frames kept on the device,
convolutions run channels-last, and `precision="bf16"` / `compile=True` are opt-in.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from rlgen.agents.base import Agent, TorchPolicy, to_tensor
from rlgen.nets.impala import layer_init
from rlgen.runs import RunDir


@dataclass(frozen=True)
class PPOConfig:
    """Defaults are train-procgen's (Cobbe et al. 2020): 64 envs x 256 steps, 3 epochs,
    8 minibatches, lr 5e-4, gamma 0.999, lambda 0.95, entropy 0.01, clip 0.2."""

    num_envs: int = 64
    num_steps: int = 256
    epochs: int = 3
    minibatches: int = 8
    lr: float = 5e-4
    anneal_lr: bool = False
    gamma: float = 0.999
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    clip_value: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantage: bool = True
    normalize_reward: bool = True
    encoder: dict = field(default_factory=dict)  # kwargs for the family's make_encoder
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast; not validated for learning quality yet
    compile: bool = False
    checkpoint_every_s: float = 120.0
    snapshot_every: int = 0  # env steps between kept weight snapshots (0: keep only the latest)


class ActorCritic(nn.Module):
    def __init__(self, encoder: nn.Module, num_actions: int):
        super().__init__()
        self.encoder = encoder
        self.actor = layer_init(nn.Linear(encoder.out_dim, num_actions), 0.01)
        self.critic = layer_init(nn.Linear(encoder.out_dim, 1), 1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(obs)
        return self.actor(h), self.critic(h).squeeze(-1)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(self.encoder(obs))


def _buffer_like(x, steps: int):
    """(steps, *x.shape) zeros for a tensor or a dict of tensors (dict observations)."""
    if isinstance(x, dict):
        return {k: _buffer_like(v, steps) for k, v in x.items()}
    return torch.zeros((steps, *x.shape), dtype=x.dtype, device=x.device)


def _store(buf, step: int, x) -> None:
    if isinstance(buf, dict):
        for k in buf:
            _store(buf[k], step, x[k])
    else:
        buf[step] = x


def _flatten(buf):
    if isinstance(buf, dict):
        return {k: _flatten(v) for k, v in buf.items()}
    return buf.reshape(-1, *buf.shape[2:])


def _select(buf, idx: torch.Tensor):
    if isinstance(buf, dict):
        return {k: _select(v, idx) for k, v in buf.items()}
    return buf.index_select(0, idx)


class ReturnNormalizer:
    """Scales rewards by the running std of the discounted return (as VecNormalize(ob=False))."""

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0):
        self.ret = np.zeros(num_envs)
        self.gamma, self.clip = gamma, clip
        self.count, self.mean, self.var = 1e-4, 0.0, 1.0

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        self.ret = self.ret * self.gamma + rewards
        batch_mean, batch_var, n = self.ret.mean(), self.ret.var(), len(self.ret)
        delta, total = batch_mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
        self.count = total
        self.ret[dones] = 0.0
        return np.clip(rewards / math.sqrt(self.var + 1e-8), -self.clip, self.clip)

    def state(self) -> dict[str, Any]:
        return {"ret": torch.from_numpy(self.ret.copy()), "count": float(self.count),
                "mean": float(self.mean), "var": float(self.var)}

    def load(self, state: dict[str, Any]) -> None:
        self.ret = state["ret"].numpy().copy()
        self.count, self.mean, self.var = state["count"], state["mean"], state["var"]


def ppo_loss(new_logprob, old_logprob, entropy, new_value, old_value, advantages, returns,
             cfg: PPOConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate + (clipped) value loss - entropy bonus, as in Schulman et al. 2017."""
    log_ratio = new_logprob - old_logprob
    ratio = log_ratio.exp()
    if cfg.normalize_advantage:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    pg_loss = torch.max(-advantages * ratio,
                        -advantages * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)).mean()
    if cfg.clip_value:
        clipped = old_value + (new_value - old_value).clamp(-cfg.clip_coef, cfg.clip_coef)
        v_loss = 0.5 * torch.max((new_value - returns) ** 2, (clipped - returns) ** 2).mean()
    else:
        v_loss = 0.5 * ((new_value - returns) ** 2).mean()
    ent = entropy.mean()
    loss = pg_loss - cfg.ent_coef * ent + cfg.vf_coef * v_loss
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clipfrac = ((ratio - 1).abs() > cfg.clip_coef).float().mean()
    return loss, {"loss/policy": pg_loss, "loss/value": v_loss, "loss/entropy": ent,
                  "loss/approx_kl": approx_kl, "loss/clipfrac": clipfrac}


class PPO(Agent):
    """Online RL: PPO with an IMPALA CNN (train-procgen settings on Procgen)."""

    name = "ppo"
    requires = ("discrete_actions", "encoder")
    config_class = PPOConfig
    kind = "online"

    def __init__(self, spec, config: PPOConfig, device, seed: int = 0):
        super().__init__(spec, config, device, seed)
        encoder = spec.impl.make_encoder(spec, **config.encoder)
        self.model = ActorCritic(encoder, spec.num_actions).to(device)
        self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, eps=1e-5)
        self.global_step, self.update = 0, 0
        self._forward = torch.compile(self.model) if config.compile else self.model

    def _autocast(self):
        enabled = self.config.precision == "bf16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def fit(self, run: RunDir, budget: int, state: dict[str, Any] | None = None,
            progress: bool = True) -> None:
        from tqdm.auto import tqdm

        cfg, device = self.config, self.device
        n, t_steps = cfg.num_envs, cfg.num_steps
        batch = n * t_steps
        minibatch = batch // cfg.minibatches
        total_updates = max(1, math.ceil(budget / batch))
        normalizer = ReturnNormalizer(n, cfg.gamma)
        if state is not None:
            self.load_state(state)
            normalizer.load(state["reward_normalizer"])
        # A resumed run restarts its in-flight episodes from fresh levels (env state is not saved).
        envs = self.spec.make_vec_env("train", n, seed=self.seed * 10_007 + self.update)
        obs_np, _ = envs.reset(seed=self.seed * 10_007 + self.update)

        next_obs = to_tensor(obs_np, device)
        obs_buf = _buffer_like(next_obs, t_steps)
        actions = torch.zeros((t_steps, n), dtype=torch.long, device=device)
        logprobs = torch.zeros((t_steps, n), device=device)
        rewards = torch.zeros((t_steps, n), device=device)
        dones = torch.zeros((t_steps, n), device=device)
        values = torch.zeros((t_steps, n), device=device)
        next_done = torch.zeros(n, device=device)
        ep_ret, ep_len = np.zeros(n), np.zeros(n, dtype=np.int64)
        bar = tqdm(total=total_updates * batch, initial=self.update * batch, unit="step",
                   desc=f"ppo {self.spec.id}", disable=not progress, dynamic_ncols=True)
        last_ckpt = time.time()

        while self.update < total_updates:
            t0 = time.time()
            if cfg.anneal_lr:
                self.optimizer.param_groups[0]["lr"] = cfg.lr * (1 - self.update / total_updates)
            finished: list[float] = []
            # ---- rollout ----
            for step in range(t_steps):
                _store(obs_buf, step, next_obs)
                dones[step] = next_done
                with torch.inference_mode(), self._autocast():
                    logits, value = self._forward(next_obs)
                    dist = torch.distributions.Categorical(logits=logits.float())
                    action = dist.sample()
                actions[step], logprobs[step], values[step] = action, dist.log_prob(action), value.float()
                obs_np, rew, term, trunc, _ = envs.step(action.cpu().numpy())
                done = term | trunc
                ep_ret += rew
                ep_len += 1
                finished.extend(ep_ret[done].tolist())
                ep_ret[done], ep_len[done] = 0.0, 0
                if cfg.normalize_reward:
                    rew = normalizer(rew, done)
                rewards[step] = torch.as_tensor(rew, dtype=torch.float32, device=device)
                next_obs = to_tensor(obs_np, device)
                next_done = torch.as_tensor(done, dtype=torch.float32, device=device)
            # ---- generalized advantage estimation ----
            with torch.inference_mode(), self._autocast():
                _, next_value = self._forward(next_obs)
            next_value = next_value.float()
            advantages = torch.zeros_like(rewards)
            last_gae = torch.zeros(n, device=device)
            for step in reversed(range(t_steps)):
                if step == t_steps - 1:
                    not_done, bootstrap = 1.0 - next_done, next_value
                else:
                    not_done, bootstrap = 1.0 - dones[step + 1], values[step + 1]
                delta = rewards[step] + cfg.gamma * bootstrap * not_done - values[step]
                last_gae = delta + cfg.gamma * cfg.gae_lambda * not_done * last_gae
                advantages[step] = last_gae
            returns = advantages + values
            # ---- update ----
            b_obs = _flatten(obs_buf)
            b_act, b_logp = actions.reshape(-1), logprobs.reshape(-1)
            b_adv, b_ret, b_val = advantages.reshape(-1), returns.reshape(-1), values.reshape(-1)
            logs: dict[str, float] = {}
            for _ in range(cfg.epochs):
                perm = torch.randperm(batch, device=device)
                for start in range(0, batch, minibatch):
                    idx = perm[start:start + minibatch]
                    with self._autocast():
                        logits, new_value = self._forward(_select(b_obs, idx))
                    dist = torch.distributions.Categorical(logits=logits.float())
                    loss, parts = ppo_loss(dist.log_prob(b_act[idx]), b_logp[idx], dist.entropy(),
                                           new_value.float(), b_val[idx], b_adv[idx], b_ret[idx], cfg)
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                    self.optimizer.step()
                    logs = {k: float(v.detach()) for k, v in parts.items()}
            self.update += 1
            self.global_step += batch
            elapsed = time.time() - t0
            logs["perf/steps_per_s"] = batch / elapsed
            if finished:
                logs["train/episode_return"] = float(np.mean(finished))
                logs["train/episodes"] = len(finished)
            run.log(self.global_step, logs)
            bar.update(batch)
            if finished:
                bar.set_postfix(ret=f"{np.mean(finished):.2f}", sps=f"{batch / elapsed:.0f}")
            if cfg.snapshot_every and self.global_step // cfg.snapshot_every != \
                    (self.global_step - batch) // cfg.snapshot_every:
                run.save_snapshot(self.global_step, {"model": self.model.state_dict(),
                                                     "global_step": self.global_step, **logs})
            if time.time() - last_ckpt >= cfg.checkpoint_every_s or self.update == total_updates:
                run.save_checkpoint(self.state(normalizer))
                last_ckpt = time.time()
        bar.close()
        envs.close()

    def state(self, normalizer: ReturnNormalizer | None = None) -> dict[str, Any]:
        out = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
               "global_step": self.global_step, "update": self.update,
               "torch_rng": torch.get_rng_state()}
        if normalizer is not None:
            out["reward_normalizer"] = normalizer.state()
        return out

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        self.global_step, self.update = int(state.get("global_step", 0)), int(state.get("update", 0))
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])

    def policy(self, deterministic: bool = False, seed: int = 0) -> TorchPolicy:
        self.model.eval()
        return TorchPolicy(self.model.logits, self.device, deterministic, seed)
