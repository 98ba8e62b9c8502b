"""PPO (Schulman et al. 2017) with an IMPALA CNN, following Procgen's train-procgen settings.

Reads top to bottom like CleanRL's `ppo_procgen.py`, in named phases: the rollout
(`Rollout.collect`), advantages (`gae`), and the update (`PPO.learn` with `ppo_loss`, whose actor
term is the configured objective: PPO's clipped surrogate by default, a drift objective for
`dpo` / `lpo` / `talpo`; see rlgen.agents.objectives). `PopulationPPO` trains K of these in
lockstep from the same functions. Speed comes from doing less, never from different math: one forward pass gives logits and
values, rollouts run under `inference_mode` on contiguous uint8 frames kept on the device,
convolutions run channels-last, and `precision="bf16"` / `compile=True` are opt-in.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from rlgen import tree
from rlgen.agents.base import Agent, TorchPolicy
from rlgen.agents.objectives import Minibatch, build_objective
from rlgen.envs.wrappers import (
    applied_wrappers,
    extrinsic_rewards,
    resolved_wrapper_args,
    wrap_training_envs,
)
from rlgen.nets.impala import layer_init
from rlgen.runs import FitResult, NullRun, RunDir


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
    #: actor objective: a name in rlgen.registry.OBJECTIVES or a saved objective file (.pt)
    objective: str = "clip"
    objective_args: dict = field(default_factory=dict)
    #: training-env wrappers (rlgen.registry.TRAINING_WRAPPERS), innermost first; evaluation
    #: never uses them. `wrapper_args` maps a wrapper's name to its keyword arguments.
    wrappers: tuple[str, ...] = ()
    wrapper_args: dict = field(default_factory=dict)
    #: one more training wrapper, applied outermost, whose declared options (its `Options`
    #: dataclass) are also top-level keys: `shaping=calm` then `judge=oracle`, `beta=0.5`
    shaping: str = ""


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


class ReturnNormalizer:
    """Scales rewards by the running std of the discounted return (as VecNormalize(ob=False)).
    With `members`, that many independent normalizers over (members, num_envs) arrays (a
    population's), each with the arithmetic of one alone."""

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0, members: int = 0):
        self.ret = np.zeros((members, num_envs) if members else num_envs)
        self.gamma, self.clip = gamma, clip
        self.count = 1e-4
        self.mean, self.var = np.zeros(self.ret.shape[:-1]), np.ones(self.ret.shape[:-1])

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        self.ret = self.ret * self.gamma + rewards
        batch_mean, batch_var, n = self.ret.mean(-1), self.ret.var(-1), self.ret.shape[-1]
        delta, total = batch_mean - self.mean, self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
        self.count = total
        self.ret[dones] = 0.0
        return np.clip(rewards / np.sqrt(self.var + 1e-8)[..., None], -self.clip, self.clip)

    def state(self) -> dict[str, Any]:
        return {"ret": torch.from_numpy(self.ret.copy()), "count": float(self.count),
                "mean": float(self.mean), "var": float(self.var)}

    def load(self, state: dict[str, Any]) -> None:
        self.ret = state["ret"].numpy().copy()
        self.count, self.mean, self.var = state["count"], np.float64(state["mean"]), np.float64(state["var"])


def sample_actions(logits: torch.Tensor, generator: torch.Generator | Sequence[torch.Generator]
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Actions drawn from softmax(logits) with the agent's own generator, and their log-probs
    (its own stream, so an agent trained alone and inside a population draws the same actions).
    A population passes one generator per member and logits (members, n, A); it gets (members * n,)."""
    logp = torch.log_softmax(logits.float(), -1)
    probs = logp.exp().cpu()
    if isinstance(generator, torch.Generator):
        action = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    else:
        action = torch.cat([torch.multinomial(p, 1, generator=g).squeeze(-1)
                            for p, g in zip(probs, generator, strict=True)])
        logp = logp.reshape(-1, logp.shape[-1])
    action = action.to(logits.device)
    return action, logp.gather(-1, action.unsqueeze(-1)).squeeze(-1)


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, next_value: torch.Tensor,
        next_done: torch.Tensor, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over time (dim 0); any trailing batch dims.
    `dones[t]` marks that the observation at t starts a new episode. Returns (advantages, returns)."""
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last_gae = torch.zeros_like(next_value)
    for step in reversed(range(steps)):
        if step == steps - 1:
            not_done, bootstrap = 1.0 - next_done, next_value
        else:
            not_done, bootstrap = 1.0 - dones[step + 1], values[step + 1]
        delta = rewards[step] + gamma * bootstrap * not_done - values[step]
        last_gae = delta + gamma * lam * not_done * last_gae
        advantages[step] = last_gae
    return advantages, advantages + values


def ppo_loss(cfg: PPOConfig, objective, mb: Minibatch, advantages: torch.Tensor, progress: float
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Actor objective + (clipped) value loss - entropy bonus, for one minibatch."""
    log_ratio = mb.new_logprobs - mb.old_logprobs
    ratio = log_ratio.exp()
    if cfg.normalize_advantage:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    pg_loss, objective_logs = objective(ratio, advantages, progress, mb)
    if cfg.clip_value:
        clipped = mb.old_values + (mb.new_values - mb.old_values).clamp(-cfg.clip_coef, cfg.clip_coef)
        v_loss = 0.5 * torch.max((mb.new_values - mb.returns) ** 2, (clipped - mb.returns) ** 2).mean()
    else:
        v_loss = 0.5 * ((mb.new_values - mb.returns) ** 2).mean()
    ent = mb.entropy.mean()
    loss = pg_loss - cfg.ent_coef * ent + cfg.vf_coef * v_loss
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
    return loss, {"loss/policy": pg_loss, "loss/value": v_loss, "loss/entropy": ent,
                  "loss/approx_kl": approx_kl, **objective_logs}


def minibatch_from_logits(logits: torch.Tensor, new_values: torch.Tensor, obs, actions, old_logprobs,
                          old_values, returns) -> Minibatch:
    logp = torch.log_softmax(logits.float(), -1)
    return Minibatch(obs=obs, actions=actions, old_logprobs=old_logprobs,
                     new_logprobs=logp.gather(-1, actions.unsqueeze(-1)).squeeze(-1),
                     entropy=-(logp.exp() * logp).sum(-1), old_values=old_values,
                     new_values=new_values.float(), returns=returns)


@dataclass
class EpisodeStats:
    """Episodes that ended during one rollout: extrinsic returns, and shaped ones when a
    training wrapper shapes the reward."""

    returns: list[float] = field(default_factory=list)
    shaped_returns: list[float] = field(default_factory=list)
    shaped: bool = False

    def logs(self) -> dict[str, float]:
        if not self.returns:
            return {}
        out = {"train/episode_return": float(np.mean(self.returns)),
               "train/episodes": float(len(self.returns))}
        if self.shaped:
            out["train/shaped_episode_return"] = float(np.mean(self.shaped_returns))
        return out


def allocate_buffers(rollout, t: int, n: int, device: torch.device) -> None:
    """A rollout's (T, n) buffers, shaped after its `next_obs`; shared by `Rollout` and the
    population's rollout (n = K members × their envs)."""
    rollout.obs = tree.zeros_buffer(rollout.next_obs, t)
    rollout.actions = torch.zeros((t, n), dtype=torch.long, device=device)
    rollout.logprobs = torch.zeros((t, n), device=device)
    rollout.rewards = torch.zeros((t, n), device=device)
    rollout.dones = torch.zeros((t, n), device=device)
    rollout.values = torch.zeros((t, n), device=device)
    rollout.next_done = torch.zeros(n, device=device)
    rollout.episode_return = np.zeros(n)
    rollout.episode_shaped = np.zeros(n)
    # each env's last finished episode's extrinsic return, kept across rollouts (NaN before one
    # ends): Goldie et al.'s LPO fitness reads this, so a lifetime whose last rollout ends no
    # episode still has a score
    rollout.last_return = np.full(n, np.nan)


def store_policy_step(rollout, step: int, logits: torch.Tensor, value: torch.Tensor,
                      generator: torch.Generator | Sequence[torch.Generator]) -> torch.Tensor:
    """The first half of a rollout step, shared by `Rollout` and the population's rollout:
    store the observation and done flags, sample and store the actions, log-probs and values.
    Returns the actions for the envs."""
    tree.store(rollout.obs, step, rollout.next_obs)
    rollout.dones[step] = rollout.next_done
    action, logprob = sample_actions(logits, generator)
    rollout.actions[step], rollout.logprobs[step] = action, logprob
    rollout.values[step] = value.reshape(-1).float()
    return action


def store_env_step(rollout, step: int, obs_np, rew: np.ndarray, extrinsic: np.ndarray,
                   done: np.ndarray, normalize) -> tuple[np.ndarray, list[float], list[float]]:
    """The second half: add the rewards to the running episode returns, store the (normalized)
    rewards and the next observation. Returns the envs whose episode ended with their extrinsic
    and shaped returns; each env's last finished return stays in `last_return`."""
    rollout.episode_return += extrinsic
    rollout.episode_shaped += rew
    ended = np.flatnonzero(done)
    returns, shaped = rollout.episode_return[ended].tolist(), rollout.episode_shaped[ended].tolist()
    rollout.last_return[ended] = rollout.episode_return[ended]
    rollout.episode_return[ended], rollout.episode_shaped[ended] = 0.0, 0.0
    if normalize is not None:
        rew = normalize(rew, done)
    device = rollout.rewards.device
    rollout.rewards[step] = torch.as_tensor(rew, dtype=torch.float32, device=device)
    rollout.next_obs = tree.to_tensor(obs_np, device)
    rollout.next_done = torch.as_tensor(done, dtype=torch.float32, device=device)
    return ended, returns, shaped


def last_episode_logs(last_return: np.ndarray) -> dict[str, float]:
    """`train/last_episode_return`: the mean over envs of their last finished episode's return
    (envs with none yet left out; absent while no env has finished one)."""
    finished = last_return[np.isfinite(last_return)]
    return {"train/last_episode_return": float(finished.mean())} if len(finished) else {}


class Rollout:
    """The rollout phase: `num_steps` steps of every training env, stored on the device.

    Keeps the env cursor (next observation, done flags, running episode returns) between
    rollouts, so consecutive `collect` calls continue the same episodes."""

    def __init__(self, agent: PPO, envs, seed: int):
        cfg, device = agent.config, agent.device
        self.agent, self.envs = agent, envs
        self.shaped = bool(applied_wrappers(cfg))
        obs_np, _ = envs.reset(seed=seed)
        self.next_obs = tree.to_tensor(obs_np, device)
        allocate_buffers(self, cfg.num_steps, cfg.num_envs, device)

    def collect(self, normalizer: ReturnNormalizer | None) -> EpisodeStats:
        agent = self.agent
        stats = EpisodeStats(shaped=self.shaped)
        for step in range(agent.config.num_steps):
            with torch.inference_mode(), agent._autocast():
                logits, value = agent._forward(self.next_obs)
            self.record(step, logits, value, normalizer, stats)
        return stats

    def record(self, step: int, logits: torch.Tensor, value: torch.Tensor,
               normalizer: ReturnNormalizer | None, stats: EpisodeStats) -> None:
        """Step `step` of the rollout, given the network's output on `next_obs`: sample the
        actions, step the envs, and store everything."""
        action = store_policy_step(self, step, logits, value, self.agent.generator)
        obs_np, rew, term, trunc, info = self.envs.step(action.cpu().numpy())
        _, returns, shaped = store_env_step(self, step, obs_np, rew, extrinsic_rewards(rew, info),
                                            term | trunc, normalizer)
        stats.returns.extend(returns)
        stats.shaped_returns.extend(shaped)


class PPO(Agent):
    """Online RL: PPO with an IMPALA CNN (train-procgen settings on Procgen)."""

    name = "ppo"
    requires = ("discrete_actions", "encoder")
    # env state is not checkpointed: a resumed run restarts its in-flight episodes on fresh
    # levels, so its later rollouts (and weights) differ from an uninterrupted run's
    resume_exact = False
    config_class = PPOConfig
    kind = "online"

    @classmethod
    def check_config(cls, config: PPOConfig, spec) -> PPOConfig:
        """Also the objective (name, file, arguments) and the training wrappers' names, so a
        bad one fails before the run directory exists."""
        config = super().check_config(config, spec)
        build_objective(config.objective, config.objective_args, {"clip_coef": config.clip_coef},
                        torch.device("cpu"))
        # every option of every applied wrapper, defaults filled in, is what the run records
        return dataclasses.replace(config, wrapper_args=resolved_wrapper_args(config))

    def __init__(self, spec, config: PPOConfig, device, seed: int = 0):
        super().__init__(spec, config, device, seed)
        encoder = spec.impl.make_encoder(spec, **config.encoder)
        self.model = ActorCritic(encoder, spec.num_actions).to(device)
        self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, eps=1e-5)
        self.objective = build_objective(config.objective, config.objective_args,
                                         {"clip_coef": config.clip_coef}, device)
        self.global_step, self.update = 0, 0
        # sampling and minibatch order draw from the agent's own stream (CPU generator, so a run
        # is the same on any device's RNG); it is saved in checkpoints
        self.generator = torch.Generator().manual_seed(seed)
        self._forward = torch.compile(self.model) if config.compile else self.model

    def _autocast(self):
        enabled = self.config.precision == "bf16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def fit(self, run: RunDir | NullRun | None, budget: int, state: dict[str, Any] | None = None,
            progress: bool = True) -> FitResult:
        """Train for `budget` env steps: rollout, advantages, update, repeated. `run=None`
        trains in-process with no files (see `rlgen.runs.NullRun`)."""
        from tqdm.auto import tqdm

        run = NullRun() if run is None else run
        cfg = self.config
        batch = cfg.num_envs * cfg.num_steps
        total_updates = max(1, math.ceil(budget / batch))
        normalizer = ReturnNormalizer(cfg.num_envs, cfg.gamma)
        if state is not None:
            self.load_state(state)
            normalizer.load(state["reward_normalizer"])
        # A resumed run restarts its in-flight episodes from fresh levels (env state is not saved).
        envs = self.make_training_envs(seed=self.seed * 10_007 + self.update)
        rollout = Rollout(self, envs, seed=self.seed * 10_007 + self.update)
        bar = tqdm(total=total_updates * batch, initial=self.update * batch, unit="step",
                   desc=f"ppo {self.spec.id}", disable=not progress, dynamic_ncols=True)
        started, last_ckpt = time.time(), time.time()
        logs: dict[str, float] = {}
        try:
            while self.update < total_updates:
                t0 = time.time()
                progress_frac = self.update / total_updates
                if cfg.anneal_lr:
                    self.optimizer.param_groups[0]["lr"] = cfg.lr * (1 - progress_frac)
                episodes = rollout.collect(normalizer if cfg.normalize_reward else None)
                advantages, returns = self.advantages(rollout)
                logs = self.learn(rollout, advantages, returns, progress_frac)
                self.update += 1
                self.global_step += batch
                elapsed = time.time() - t0
                logs["perf/steps_per_s"] = batch / elapsed
                logs.update(episodes.logs())
                logs.update(last_episode_logs(rollout.last_return))
                run.log(self.global_step, logs)
                bar.update(batch)
                if episodes.returns:
                    bar.set_postfix(ret=f"{np.mean(episodes.returns):.2f}", sps=f"{batch / elapsed:.0f}")
                if cfg.snapshot_every and self.global_step // cfg.snapshot_every != \
                        (self.global_step - batch) // cfg.snapshot_every:
                    run.save_snapshot(self.global_step, {"model": self.model.state_dict(),
                                                         "global_step": self.global_step, **logs})
                if time.time() - last_ckpt >= cfg.checkpoint_every_s or self.update == total_updates:
                    run.save_checkpoint(self.state(normalizer))
                    last_ckpt = time.time()
        finally:
            bar.close()
            envs.close()
        return FitResult(steps=self.global_step, wall_time_s=time.time() - started, metrics=logs)

    def make_training_envs(self, seed: int):
        """The train-split vector env, with the config's training wrappers on top."""
        wrappers = applied_wrappers(self.config)
        # on the agent's device where the family can step there (MinAtar's batched games), but
        # numpy for training wrappers, which are written against numpy observations
        envs = self.spec.make_vec_env("train", self.config.num_envs, seed=seed,
                                      device=None if wrappers else self.device)
        return wrap_training_envs(envs, wrappers, self.config.wrapper_args, self.spec)

    # ---- generalized advantage estimation ----
    def advantages(self, rollout: Rollout) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode(), self._autocast():
            _, next_value = self._forward(rollout.next_obs)
        return gae(rollout.rewards, rollout.values, rollout.dones, next_value.float(),
                   rollout.next_done, self.config.gamma, self.config.gae_lambda)

    # ---- update ----
    def learn(self, rollout: Rollout, advantages: torch.Tensor, returns: torch.Tensor,
              progress: float) -> dict[str, float]:
        """`epochs` passes of minibatch updates; the actor term comes from `self.objective`."""
        cfg = self.config
        batch = cfg.num_envs * cfg.num_steps
        minibatch = batch // cfg.minibatches
        b_obs = tree.flatten_time(rollout.obs)
        b_act, b_logp = rollout.actions.reshape(-1), rollout.logprobs.reshape(-1)
        b_adv, b_ret, b_val = advantages.reshape(-1), returns.reshape(-1), rollout.values.reshape(-1)
        logs: dict[str, float] = {}
        for _ in range(cfg.epochs):
            perm = torch.randperm(batch, generator=self.generator).to(self.device)
            for start in range(0, batch, minibatch):
                idx = perm[start:start + minibatch]
                obs = tree.index(b_obs, idx)
                with self._autocast():
                    logits, new_value = self._forward(obs)
                mb = minibatch_from_logits(logits, new_value, obs, b_act[idx], b_logp[idx],
                                           b_val[idx], b_ret[idx])
                loss, parts = ppo_loss(cfg, self.objective, mb, b_adv[idx], progress)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                logs = {k: float(v.detach()) for k, v in parts.items()}
        return logs

    def state(self, normalizer: ReturnNormalizer | None = None) -> dict[str, Any]:
        out = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
               "global_step": self.global_step, "update": self.update,
               "torch_rng": torch.get_rng_state(), "generator": self.generator.get_state()}
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
        if "generator" in state:
            self.generator.set_state(state["generator"])

    def policy(self, deterministic: bool = False, seed: int = 0) -> TorchPolicy:
        self.model.eval()
        return TorchPolicy(self.model.logits, self.device, deterministic, seed)
