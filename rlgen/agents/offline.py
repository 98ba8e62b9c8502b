"""The one training loop of every offline agent (BC, CQL, IQL, BCQ, DT, BCT, RvS, GCDT, GCIQL).

`OfflineLearner` owns the loop: sample a batch -> `update(batch) -> {metric: value}` -> log
(`loss/...`, `perf/grad_steps_per_s`), evaluation on the **validation** levels only (`val/...`)
with best-weights model selection and early stopping, atomic checkpoints with the same keys for
every agent, and resume. `fit` returns a `FitResult`; with a `NullRun` (or None) it writes no
files, so it can run many times in one process.

Discrete-action agents build on it in `rlgen.agents.discrete` (the family's scorer, uniform
transitions with truncation-aware TD targets); the goal-conditioned maze agents in
`rlgen.agents.gc_common` (hindsight goal data).
Each algorithm module holds its config dataclass, its batch and its loss, readable top to bottom.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rlgen.agents.base import Agent
from rlgen.data.storage import EpisodeDataset
from rlgen.runs import FitResult, NullRun, RunDir


@dataclass(frozen=True)
class LearnerConfig:
    """What the loop reads; every offline agent's config extends it."""

    batch_size: int = 256
    lr: float = 5e-4
    log_every: int = 50
    eval_every: int = 0          # gradient steps between validation evaluations (0: none)
    eval_episodes: int = 10      # validation episodes per evaluation
    patience: int = 0            # evaluations without improvement before stopping (0: never)
    checkpoint_every_s: float = 120.0


class OfflineLearner(Agent):
    """Base of every offline agent. Subclasses implement `build` (fill `self.nets`; optimizers
    default to one Adam per trainable net), `make_sampler`, `sample_batch`, `update(batch)` and
    `acting_policy`. Budget = gradient steps."""

    kind = "offline"
    default_budget = 2000

    def __init__(self, spec, config, device, seed: int = 0):
        super().__init__(spec, config, device, seed)
        self.data: Any = None
        self.sampler: Any = None
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.step = 0
        self.best: dict[str, Any] | None = None
        self.stale = 0  # validation rounds since the best one (early stopping)
        self.stopped = False
        self.build()
        for net in self.nets.values():
            self.place(net)
        self.make_optimizers()

    # ---- set-up --------------------------------------------------------------------------
    def build(self) -> None:
        """Create `self.nets` from the spec and config alone (no dataset needed)."""
        raise NotImplementedError

    def place(self, net: nn.Module) -> None:
        net.to(self.device)

    def make_optimizers(self) -> None:
        """Default: one Adam per net that has trainable parameters and is not a target copy."""
        self.optimizers = {k: torch.optim.Adam(v.parameters(), lr=self.config.lr)
                           for k, v in self.nets.items()
                           if not k.endswith("_target") and any(p.requires_grad for p in v.parameters())}

    def default_dataset(self, progress: bool) -> str:
        """The dataset to learn from when the run names none."""
        raise ValueError(f"{self.name} learns from a dataset: pass --dataset DIR")

    def prepare(self, resolved: dict[str, Any], run: RunDir | NullRun | None = None,
                progress: bool = True) -> None:
        """Load the run's dataset (or the default one) and `attach` it."""
        path = resolved.get("dataset") or self.default_dataset(progress)
        ds = EpisodeDataset.load(path, decoded_cache=bool(getattr(self.config, "decoded_cache", False)))
        env = ds.card.get("env") or {}
        env_id = env.get("id") if isinstance(env, dict) else env
        if env_id and env_id != self.spec.id:
            raise ValueError(f"dataset {path} was collected on {env_id}, not {self.spec.id}")
        ds = self.filter_dataset(ds)
        if run is not None and run.path is not None:
            info = {"path": str(Path(path).resolve()), "episodes": ds.num_episodes,
                    "transitions": ds.num_transitions,
                    "truncated_without_final_observation": ds.num_truncated_without_final_obs,
                    **{k: ds.card.get(k) for k in ("recipe", "split", "returns", "behavior_policy")}}
            (run.path / "dataset.json").write_text(json.dumps(info, indent=2, default=str))
        self.attach(self.data_from(ds))

    def filter_dataset(self, ds: EpisodeDataset) -> EpisodeDataset:
        return ds

    def data_from(self, ds: EpisodeDataset) -> Any:
        """The form this agent learns from (default: the episode dataset itself)."""
        return ds

    def attach(self, data: Any) -> None:
        """Learn from `data` (tests and scripts call it directly instead of `prepare`)."""
        self.data = data
        self.sampler = self.make_sampler(data)
        self.on_data(data)

    def make_sampler(self, data: Any) -> Any:
        raise NotImplementedError

    def on_data(self, data: Any) -> None:
        """Record data-derived constants (kept in the nets' buffers so checkpoints carry them)."""

    def rngs(self) -> dict[str, np.random.Generator]:
        """Random streams that a resumed run continues (checkpointed)."""
        rng = getattr(self.sampler, "rng", None)
        return {"sampler": rng} if rng is not None else {}

    # ---- one gradient step: the algorithm --------------------------------------------------
    def sample_batch(self) -> Any:
        raise NotImplementedError

    def update(self, batch: Any) -> dict[str, float]:
        """One gradient step on `batch`; returns metrics named `loss/...` (and the like)."""
        raise NotImplementedError

    def acting_policy(self, deterministic: bool, seed: int):
        raise NotImplementedError

    # ---- the loop ------------------------------------------------------------------------------
    def fit(self, run: RunDir | NullRun | None, budget: int, state: dict[str, Any] | None = None,
            progress: bool = True) -> FitResult:
        """Train until `self.step == budget` (or early stopping). `run=None` is a `NullRun`."""
        from tqdm.auto import tqdm

        run = NullRun() if run is None else run
        began = time.perf_counter()
        if self.data is None:
            raise RuntimeError("call prepare() (or attach()) before fit()")
        last: dict[str, float] = {}
        if state is not None:
            self.load_state(state)
            # A final checkpoint's weights are the selected ones: a finished (or early-stopped)
            # run has nothing left to do; a larger budget continues from them.
            if state.get("final") and (self.stopped or self.step >= budget):
                return self._result(began, last)
        cfg = self.config
        bar = tqdm(total=budget, initial=self.step, unit="grad", desc=f"{self.name} {self.spec.id}",
                   disable=not progress, dynamic_ncols=True)

        def log(metrics: dict[str, float]) -> None:
            run.log(self.step, metrics)
            last.update({k: float(v) for k, v in metrics.items()})

        last_ckpt, t0, t0_step = time.time(), time.time(), self.step
        self.stopped = False
        while self.step < budget and not self.stopped:
            for net in self.nets.values():
                net.train()
            logs = self.update(self.sample_batch())
            self.step += 1
            bar.update()
            if self.step % cfg.log_every == 0 or self.step == budget:
                logs["perf/grad_steps_per_s"] = (self.step - t0_step) / max(time.time() - t0, 1e-9)
                t0, t0_step = time.time(), self.step
                log(logs)
                bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in list(logs.items())[:2]})
            if cfg.eval_every and (self.step % cfg.eval_every == 0 or self.step == budget):
                log({"val/episode_return": self.validate()})
            if time.time() - last_ckpt >= cfg.checkpoint_every_s or self.step >= budget or self.stopped:
                run.save_checkpoint(self.state())
                last_ckpt = time.time()
        bar.close()
        if self.best is not None:
            for k, net in self.nets.items():
                net.load_state_dict(self.best["nets"][k])
            log({"val/best_return": self.best["score"], "val/best_step": self.best["step"]})
        run.save_checkpoint(self.state(final=True))
        for net in self.nets.values():
            net.eval()
        return self._result(began, last)

    def validate(self) -> float:
        """Mean return on validation levels; keeps the best weights and counts stale rounds.
        Model selection sees validation levels only; test levels stay untouched."""
        from rlgen.eval.evaluate import run_episodes

        cfg = self.config
        records = run_episodes(self.policy(seed=self.seed), self.spec, "val", cfg.eval_episodes,
                               seed=self.seed, progress=False)
        score = float(np.mean([r["return"] for r in records]))
        if self.best is None or score > self.best["score"]:
            self.best = {"score": score, "step": self.step,
                         "nets": {k: copy.deepcopy(v.state_dict()) for k, v in self.nets.items()}}
            self.stale = 0
        else:
            self.stale += 1
            self.stopped = bool(cfg.patience) and self.stale >= cfg.patience
        return score

    def _result(self, began: float, last: dict[str, float]) -> FitResult:
        """`steps`: the step count reached (the budget, or less after early stopping)."""
        metrics = dict(last)
        if self.best is not None:
            metrics.setdefault("val/best_return", float(self.best["score"]))
            metrics.setdefault("val/best_step", float(self.best["step"]))
        return FitResult(steps=self.step, wall_time_s=time.perf_counter() - began, metrics=metrics)

    # ---- state ---------------------------------------------------------------------------------
    def state(self, final: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step, "final": final, "stopped": self.stopped,
                               "nets": {k: v.state_dict() for k, v in self.nets.items()},
                               "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
                               "rngs": json.dumps({k: g.bit_generator.state
                                                   for k, g in self.rngs().items()}),
                               # dropout and other torch draws: a resumed run continues them
                               "torch_rng": torch.get_rng_state()}
        if self.best is not None:
            # Mid-run checkpoints carry the best weights so that a resumed run still returns them;
            # the final checkpoint's own weights are the best ones.
            out["best"] = {"score": self.best["score"], "step": self.best["step"],
                           "stale": self.stale, **({} if final else {"nets": self.best["nets"]})}
        return out

    def load_state(self, state: dict[str, Any]) -> None:
        state = _upgrade_state(state)
        for k, net in self.nets.items():
            net.load_state_dict(state["nets"][k])
        for k, opt in self.optimizers.items():
            if k in state.get("optimizers", {}):
                opt.load_state_dict(state["optimizers"][k])
        self.step = int(state.get("step", 0))
        # Final checkpoints written before the flag existed were treated as finished.
        self.stopped = bool(state.get("stopped", state.get("final", False)))
        saved = json.loads(state["rngs"]) if "rngs" in state else {}
        if "sampler_rng" in state:  # checkpoints before the unified loop
            saved["sampler"] = json.loads(state["sampler_rng"])
        if self.data is not None:
            for k, rng in self.rngs().items():
                if k in saved:
                    rng.bit_generator.state = saved[k]
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        best = state.get("best")
        # A final checkpoint's weights are the best ones; a mid-run one carries them (checkpoints
        # older than that carry only the score, and then selection starts afresh).
        if best is not None and ("nets" in best or state.get("final")):
            nets = best.get("nets") or {k: copy.deepcopy(v.state_dict()) for k, v in self.nets.items()}
            self.best = {"score": float(best["score"]), "step": int(best["step"]), "nets": nets}
            self.stale = int(best.get("stale", 0))

    def policy(self, deterministic: bool | None = None, seed: int = 0):
        for net in self.nets.values():
            net.eval()
        det = getattr(self.config, "deterministic", True) if deterministic is None else deterministic
        return self.acting_policy(det, seed)


def _upgrade_state(state: dict[str, Any]) -> dict[str, Any]:
    """Checkpoints of the goal-conditioned agents before the unified loop stored `model.<net>`
    and `optim.<net>` keys."""
    if "nets" in state:
        return state
    nets = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    optim = {k[len("optim."):]: v for k, v in state.items() if k.startswith("optim.")}
    return {"step": state.get("step", 0), "nets": nets, "optimizers": optim}
