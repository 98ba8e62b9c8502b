"""K independent PPO agents trained in lockstep as one batched computation (evolution
strategies needs thousands of short PPO lifetimes).

Each member keeps its own seed, weights, optimizer state, reward normalizer, training envs,
random stream and objective parameters (e.g. one ES candidate's drift network); only the math
is batched: the K networks' parameters are stacked and every forward and gradient runs through
`torch.func.vmap` over them, Adam steps on the stacked tensors (elementwise, so per member), and
gradients are clipped by each member's own norm. The rollout keeps all members' buffers in one
(T, K * n) array, and where the members' vector envs can be concatenated (MinAtar's batched
games: `concat`) steps their K * n envs as one, each on its own random draws; other envs are
stepped member by member. Sampling, GAE, the normalizer and the loss are PPO's own functions
(`rlgen.agents.ppo`), so a member's run matches the same agent trained alone up to
floating-point summation order.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from functools import partial

import numpy as np
import torch
from torch.func import functional_call, grad, stack_module_state, vmap

from rlgen import tree
from rlgen.agents.ppo import (
    PPO,
    EpisodeStats,
    ReturnNormalizer,
    allocate_buffers,
    gae,
    last_episode_logs,
    minibatch_from_logits,
    ppo_loss,
    store_env_step,
    store_policy_step,
)
from rlgen.envs.wrappers import applied_wrappers, extrinsic_rewards
from rlgen.runs import FitResult


class PopulationRollout:
    """The K members' rollouts in lockstep (see the module docstring): buffers (T, K * n, ...)
    in member-major order, the members' envs as one vector env where they concatenate."""

    def __init__(self, agents: Sequence[PPO], seeds: Sequence[int]):
        cfg, device = agents[0].config, agents[0].device
        self.agents, self.device = list(agents), device
        self.k, self.n = len(agents), cfg.num_envs
        self.shaped = bool(applied_wrappers(cfg))
        parts = [a.make_training_envs(seed=s) for a, s in zip(agents, seeds, strict=True)]
        concat = getattr(type(parts[0]), "concat", None)
        if concat is not None and not applied_wrappers(cfg):
            self.envs, self.parts = concat(parts), None
            for part in parts:
                part.close()
            obs_np, _ = self.envs.reset(seed=list(seeds))
        else:
            self.envs, self.parts = None, parts
            obs_np = _concat_trees([p.reset(seed=s)[0] for p, s in zip(parts, seeds, strict=True)])
        self.next_obs = tree.to_tensor(obs_np, device)
        allocate_buffers(self, cfg.num_steps, self.k * self.n, device)
        self.generators = [a.generator for a in agents]

    def members_obs(self, obs=None):
        """(K * n, ...) observations as (K, n, ...), for the vmapped forward."""
        return tree.map_tree(lambda x: x.view(self.k, self.n, *x.shape[1:]),
                             self.next_obs if obs is None else obs)

    def _step(self, actions: np.ndarray):
        if self.envs is not None:
            obs, rew, term, trunc, info = self.envs.step(actions)
            return obs, rew, term, trunc, extrinsic_rewards(rew, info)
        outs = [p.step(a) for p, a in zip(self.parts, np.split(actions, self.k), strict=True)]
        obs = _concat_trees([o[0] for o in outs])
        rew, term, trunc = (np.concatenate([o[i] for o in outs]) for i in (1, 2, 3))
        return obs, rew, term, trunc, np.concatenate([extrinsic_rewards(o[1], o[4]) for o in outs])

    def record(self, step: int, logits: torch.Tensor, value: torch.Tensor,
               normalizer: ReturnNormalizer | None, stats: list[EpisodeStats]) -> None:
        """As `Rollout.record`, for all members at once: `logits` (K, n, A), `value` (K, n)."""
        action = store_policy_step(self, step, logits, value, self.generators)
        obs_np, rew, term, trunc, extrinsic = self._step(action.cpu().numpy())

        def normalize(r, d):  # one normalizer per member, over its own envs
            return normalizer(r.reshape(self.k, self.n), d.reshape(self.k, self.n)).reshape(-1)

        ended, returns, shaped = store_env_step(self, step, obs_np, rew, extrinsic, term | trunc,
                                                None if normalizer is None else normalize)
        for i, ret, sh in zip(ended.tolist(), returns, shaped, strict=True):
            stats[i // self.n].returns.append(ret)
            stats[i // self.n].shaped_returns.append(sh)

    def close(self) -> None:
        for env in [self.envs] if self.envs is not None else self.parts:
            env.close()


def _concat_trees(trees):
    """Matching observation trees (members' vector envs) concatenated along the env axis."""
    return tree.map_tree(lambda *xs: np.concatenate(xs), *trees)


class PopulationPPO:
    def __init__(self, agents: Sequence[PPO]):
        if not agents:
            raise ValueError("a population needs at least one agent")
        first = agents[0]
        for a in agents[1:]:
            if a.config != first.config or a.spec.id != first.spec.id or a.spec.options != first.spec.options:
                raise ValueError("population members must share one config and one env")
        self.agents, self.config, self.device = list(agents), first.config, first.device
        if self.config.precision != "fp32" or self.config.compile:
            raise ValueError("population training runs fp32 without torch.compile")
        self.params, self.buffers = stack_module_state([a.model for a in agents])
        obj_params, self.obj_buffers = stack_module_state([a.objective for a in agents])
        self.obj_params = {k: v.detach() for k, v in obj_params.items()}  # fixed during a lifetime
        self.model = copy.deepcopy(first.model).to("meta")
        self.objective = copy.deepcopy(first.objective).to("meta")
        # one fused kernel per step over the stacked (K x) parameters: on a CPU the unfused
        # update makes ~10 passes over K networks' weights and was the largest cost at small
        # batches (docs/benchmarks.md §7); same Adam, rounding aside
        fused = self.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(list(self.params.values()), lr=self.config.lr, eps=1e-5,
                                          fused=fused or None)
        self.update = 0

    # ---- batched network calls ----
    def _forward_one(self, params, buffers, obs):
        return functional_call(self.model, (params, buffers), (obs,))

    def forward(self, obs):
        return vmap(self._forward_one)(self.params, self.buffers, obs)

    def _loss_one(self, params, buffers, obj_params, obj_buffers, obs, actions, old_logp,
                  old_values, advantages, returns, progress):
        logits, values = functional_call(self.model, (params, buffers), (obs,))
        mb = minibatch_from_logits(logits, values, obs, actions, old_logp, old_values, returns)

        def objective(*args):
            return functional_call(self.objective, (obj_params, obj_buffers), args)

        return ppo_loss(self.config, objective, mb, advantages, progress)

    # ---- training ----
    def fit(self, budget: int, progress: bool = False) -> list[FitResult]:
        from tqdm.auto import tqdm

        cfg, k_agents, device = self.config, len(self.agents), self.device
        batch = cfg.num_envs * cfg.num_steps
        minibatch = batch // cfg.minibatches
        total_updates = max(1, math.ceil(budget / batch))
        rollout = PopulationRollout(self.agents, [a.seed * 10_007 + self.update for a in self.agents])
        normalizer = (ReturnNormalizer(cfg.num_envs, cfg.gamma, members=k_agents)
                      if cfg.normalize_reward else None)
        started = time.time()
        logs: list[dict[str, float]] = [{} for _ in self.agents]
        loss_grad = vmap(grad(self._loss_one, has_aux=True),
                         in_dims=(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None))
        bar = tqdm(total=total_updates, unit="update", desc=f"population x{k_agents}", disable=not progress)

        def per_member(x):
            """(T, K * n, ...) -> (K, T * n, ...): each member's batch in its own time-major order."""
            x = x.view(cfg.num_steps, k_agents, cfg.num_envs, *x.shape[2:]).transpose(0, 1)
            return x.reshape(k_agents, batch, *x.shape[3:])

        try:
            while self.update < total_updates:
                frac = self.update / total_updates
                if cfg.anneal_lr:
                    self.optimizer.param_groups[0]["lr"] = cfg.lr * (1 - frac)
                stats = [EpisodeStats(shaped=bool(applied_wrappers(cfg))) for _ in self.agents]
                # ---- rollout: one batched forward and one env step (where the envs concatenate)
                # per step for all members ----
                for step in range(cfg.num_steps):
                    with torch.inference_mode():
                        logits, value = self.forward(rollout.members_obs())
                    rollout.record(step, logits, value, normalizer, stats)
                # ---- advantages, over (T, K * n) ----
                with torch.inference_mode():
                    _, next_value = self.forward(rollout.members_obs())
                advantages, returns = gae(rollout.rewards, rollout.values, rollout.dones,
                                          next_value.float().reshape(-1), rollout.next_done,
                                          cfg.gamma, cfg.gae_lambda)

                # ---- update: each member's batch, (K, T*n, ...) ----
                b_obs = tree.map_tree(per_member, rollout.obs)
                b_act, b_logp, b_val, b_adv, b_ret = (per_member(x) for x in (
                    rollout.actions, rollout.logprobs, rollout.values, advantages, returns))
                rows = torch.arange(k_agents, device=device)[:, None]
                for _ in range(cfg.epochs):
                    perms = torch.stack([torch.randperm(batch, generator=a.generator)
                                         for a in self.agents]).to(device)
                    for start in range(0, batch, minibatch):
                        idx = perms[:, start:start + minibatch]
                        take = partial(_gather, rows=rows, idx=idx)
                        grads, parts = loss_grad(
                            self.params, self.buffers, self.obj_params, self.obj_buffers,
                            tree.map_tree(take, b_obs), take(b_act), take(b_logp), take(b_val),
                            take(b_adv), take(b_ret), frac)
                        self._clip_and_step(grads)
                # the last minibatch's losses, as PPO logs them
                values = {k: v.detach().tolist() for k, v in parts.items()}
                logs = [{k: float(v[i]) for k, v in values.items()} for i in range(k_agents)]
                self.update += 1
                last = rollout.last_return.reshape(k_agents, cfg.num_envs)
                for i, s in enumerate(stats):
                    logs[i].update(s.logs())
                    logs[i].update(last_episode_logs(last[i]))
                bar.update()
        finally:
            bar.close()
            rollout.close()
        self._write_back(total_updates * batch)
        wall = time.time() - started
        return [FitResult(steps=self.update * batch, wall_time_s=wall, metrics=m) for m in logs]

    def _clip_and_step(self, grads: dict[str, torch.Tensor]) -> None:
        """Clip each member's gradient by its own global norm (as clip_grad_norm_), then Adam."""
        norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads.values()], 1)
        total = torch.linalg.vector_norm(norms, dim=1)
        coef = (self.config.max_grad_norm / (total + 1e-6)).clamp(max=1.0)
        for name, p in self.params.items():
            g = grads[name]
            p.grad = g * coef.view(-1, *([1] * (g.dim() - 1)))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _write_back(self, steps: int) -> None:
        """Members end as ordinary PPO agents holding their trained weights."""
        with torch.no_grad():
            for i, agent in enumerate(self.agents):
                for name, p in agent.model.named_parameters():
                    p.copy_(self.params[name][i])
                agent.update, agent.global_step = self.update, steps


def _gather(x: torch.Tensor, rows: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return x[rows, idx]
