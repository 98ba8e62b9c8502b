"""The one training loop of every offline agent (BC, CQL, IQL, BCQ, DT, BCT, RvS, GCDT, GCIQL).

`OfflineLearner` owns the loop: sample a batch -> `update(batch) -> {metric: value}` -> log
(`loss/...`, `perf/grad_steps_per_s`), evaluation on the **validation** levels only (`val/...`)
with best-weights model selection and early stopping, atomic checkpoints with the same keys for
every agent, and resume. `fit` returns a `FitResult`; with a `NullRun` (or None) it writes no
files, so it can run many times in one process.

`OfflineAgent` adds what the discrete-action agents share: learning through the env family's
scorer (`rlgen.nets.scorer`) from uniform transitions with truncation-aware TD targets.
The goal-conditioned maze agents add hindsight goal data instead (`rlgen.agents.gc_common`).
Each algorithm module holds its config dataclass, its batch and its loss, readable top to bottom.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class OfflineConfig(LearnerConfig):
    gamma: float = 0.99
    deterministic: bool = False  # act greedily instead of sampling
    decoded_cache: bool = False  # keep a decompressed, memory-mapped copy next to the dataset
    encoder: dict = field(default_factory=dict)  # kwargs for the family's make_encoder


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
                                                   for k, g in self.rngs().items()})}
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


# ---- the discrete-action agents: scorers and transitions ------------------------------------------

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


class ScorerPolicy:
    """Acts through a scorer: argmax, or a sample from the softmax, over the unmasked actions."""

    def __init__(self, scorer, device: torch.device, deterministic: bool, seed: int = 0,
                 score_fn=None):
        self.scorer, self.device, self.deterministic = scorer, device, deterministic
        self.score_fn = score_fn or scorer
        self.uses_info = scorer.num_actions is None
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
