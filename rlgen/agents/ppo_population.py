"""K independent PPO agents trained in lockstep as one batched computation (evolution
strategies needs thousands of short PPO lifetimes).

Each member keeps its own seed, weights, optimizer state, reward normalizer, training envs,
random stream and objective parameters (e.g. one ES candidate's drift network); only the math
is batched: the K networks' parameters are stacked and every forward and gradient runs through
`torch.func.vmap` over them, Adam steps on the stacked tensors (elementwise, so per member), and
gradients are clipped by each member's own norm. The rollout, GAE and loss are PPO's own
functions (`rlgen.agents.ppo`), so a member's run matches the same agent trained alone up to
floating-point summation order.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from functools import partial

import torch
from torch.func import functional_call, grad, stack_module_state, vmap

from rlgen import tree
from rlgen.agents.ppo import (
    PPO,
    EpisodeStats,
    ReturnNormalizer,
    Rollout,
    gae,
    minibatch_from_logits,
    ppo_loss,
)
from rlgen.envs.wrappers import applied_wrappers
from rlgen.runs import FitResult


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
        self.optimizer = torch.optim.Adam(list(self.params.values()), lr=self.config.lr, eps=1e-5)
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
        rollouts = [Rollout(a, a.make_training_envs(seed=a.seed * 10_007 + self.update),
                            seed=a.seed * 10_007 + self.update) for a in self.agents]
        normalizers = [ReturnNormalizer(cfg.num_envs, cfg.gamma) if cfg.normalize_reward else None
                       for _ in self.agents]
        started = time.time()
        logs: list[dict[str, float]] = [{} for _ in self.agents]
        loss_grad = vmap(grad(self._loss_one, has_aux=True),
                         in_dims=(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None))
        bar = tqdm(total=total_updates, unit="update", desc=f"population x{k_agents}", disable=not progress)
        try:
            while self.update < total_updates:
                frac = self.update / total_updates
                if cfg.anneal_lr:
                    self.optimizer.param_groups[0]["lr"] = cfg.lr * (1 - frac)
                stats = [EpisodeStats(shaped=bool(applied_wrappers(cfg))) for _ in self.agents]
                # ---- rollout: one batched forward per step, each member steps its own envs ----
                for step in range(cfg.num_steps):
                    with torch.inference_mode():
                        logits, value = self.forward(tree.stack_tensors([r.next_obs for r in rollouts]))
                    for k, r in enumerate(rollouts):
                        r.record(step, logits[k], value[k], normalizers[k], stats[k])
                # ---- advantages, over (T, K, n) ----
                def over_time(name):
                    return torch.stack([getattr(r, name) for r in rollouts], 1)

                with torch.inference_mode():
                    _, next_value = self.forward(tree.stack_tensors([r.next_obs for r in rollouts]))
                advantages, returns = gae(over_time("rewards"), over_time("values"), over_time("dones"),
                                          next_value.float(), torch.stack([r.next_done for r in rollouts]),
                                          cfg.gamma, cfg.gae_lambda)

                # ---- update: each member's batch in its own time-major order, (K, T*n, ...) ----
                def per_member(x):
                    return x.reshape(k_agents, batch, *x.shape[3:])

                b_obs = tree.map_tree(per_member, tree.stack_tensors([r.obs for r in rollouts]))
                b_act, b_logp, b_val = (per_member(torch.stack([getattr(r, name) for r in rollouts]))
                                        for name in ("actions", "logprobs", "values"))
                b_adv, b_ret = per_member(advantages.transpose(0, 1)), per_member(returns.transpose(0, 1))
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
                        logs = [{k: float(v[i].detach()) for k, v in parts.items()}
                                for i in range(k_agents)]
                self.update += 1
                for i, s in enumerate(stats):
                    logs[i].update(s.logs())
                bar.update()
        finally:
            bar.close()
            for r in rollouts:
                r.envs.close()
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
