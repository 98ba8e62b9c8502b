"""What the goal-conditioned offline maze agents share: dataset loading in `prepare`, the
gradient-step loop with checkpoints and logs, MLPs, and a deterministic continuous policy.

Observations are the maze family's flat [x, y, vx, vy, goal_x, goal_y]; the networks read that
vector as (state, goal) directly, and training batches build the same layout from dataset states
and sampled goals.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from rlgen.agents.base import Agent
from rlgen.agents.goal_sampling import GoalData
from rlgen.runs import RunDir


def mlp(inp: int, hidden: Sequence[int], out: int, layer_norm: bool = False,
        tanh_out: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(inp, h)] + ([nn.LayerNorm(h)] if layer_norm else []) + [nn.ReLU()]
        inp = h
    layers.append(nn.Linear(inp, out))
    if tanh_out:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class ContinuousPolicy:
    """`act(obs) -> actions` through `fn(obs_tensor) -> actions` (deterministic)."""

    def __init__(self, fn, device: torch.device):
        self.fn, self.device = fn, device

    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        return self.fn(x).cpu().numpy()


class GoalConditionedAgent(Agent):
    """Base: subclasses set `modules` (name -> nn.Module) and `optimizers` in `build()`, and
    implement `update(step) -> metrics` and `act(obs)`. Budget = gradient steps."""

    kind = "offline"
    requires: tuple[str, ...] = ("goal_conditioned",)
    default_budget = 20_000

    def __init__(self, spec, config, device, seed: int = 0):
        super().__init__(spec, config, device, seed)
        if device.type == "cpu":
            # Small MLPs gain nothing from intra-op threads; on a shared CPU the threads' hand-offs
            # made updates ~30x slower (5 vs 150 updates/s measured on the 2-core sandbox).
            torch.set_num_threads(1)
        self.data: GoalData | None = None
        self.step = 0
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.build()

    # ---- set-up -----------------------------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def prepare(self, resolved: dict[str, Any], run: RunDir | None = None,
                progress: bool = True) -> None:
        from rlgen.data.storage import EpisodeDataset

        path = resolved.get("dataset")
        if not path:
            raise ValueError(f"{self.name} learns from a dataset: pass --dataset DIR "
                             "(build one with `rlgen collect --recipe datasets/maze-*.toml --out DIR`)")
        self.attach(GoalData.from_dataset(EpisodeDataset.load(path)))

    def attach(self, data: GoalData) -> None:
        """Use this data (tests and scripts call it directly instead of `prepare`)."""
        self.data = data

    @property
    def kmeans_k(self) -> int:
        k = int(getattr(self.config, "kmeans_k", 0))
        return k if k > 0 else self.spec.impl.layout(self.spec.task).kmeans_k

    # ---- training ---------------------------------------------------------------------------
    def update(self, step: int) -> dict[str, float]:
        raise NotImplementedError

    def fit(self, run: RunDir | None, budget: int, state: dict[str, Any] | None = None,
            progress: bool = True) -> None:
        from tqdm.auto import tqdm

        if self.data is None:
            raise RuntimeError("call prepare() (or attach()) before fit()")
        if state is not None:
            self.load_state(state)
        for m in self.modules.values():
            m.train()
        log_every = int(getattr(self.config, "log_every", 1000))
        ckpt_s = float(getattr(self.config, "checkpoint_every_s", 120.0))
        last_ckpt = time.monotonic()
        began, began_step = time.perf_counter(), self.step
        bar = tqdm(total=budget, initial=self.step, desc=f"train {self.name}", unit="upd",
                   disable=not progress, smoothing=0.05)
        while self.step < budget:
            metrics = self.update(self.step)
            self.step += 1
            bar.update()
            if run is not None and (self.step % log_every == 0 or self.step == budget):
                rate = (self.step - began_step) / max(time.perf_counter() - began, 1e-9)
                run.log(self.step, {**metrics, "updates_per_s": rate})
            if run is not None and time.monotonic() - last_ckpt > ckpt_s:
                run.save_checkpoint(self.state())
                last_ckpt = time.monotonic()
        bar.close()
        self.updates_per_s = (self.step - began_step) / max(time.perf_counter() - began, 1e-9)
        if run is not None:
            run.save_checkpoint(self.state())
        for m in self.modules.values():
            m.eval()

    # ---- state ------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"step": self.step,
                **{f"model.{k}": m.state_dict() for k, m in self.modules.items()},
                **{f"optim.{k}": o.state_dict() for k, o in self.optimizers.items()}}

    def load_state(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        for k, m in self.modules.items():
            m.load_state_dict(state[f"model.{k}"])
        for k, o in self.optimizers.items():
            if f"optim.{k}" in state:
                o.load_state_dict(state[f"optim.{k}"])

    def batch_tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float32), device=self.device)
