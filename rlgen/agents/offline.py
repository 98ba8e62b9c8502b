"""The shared training loop of the offline agents (BC, CQL, IQL, BCQ, DT, ...).

An offline agent learns from an episode dataset through the env family's scorer
(`rlgen.nets.scorer`). This module holds what they share: loading the dataset (or building the
env's default one), sampling transitions, the gradient-step loop with progress, atomic
checkpoints, and model selection / early stopping on the **validation** levels only.
Each algorithm module holds its config dataclass and its loss, readable top to bottom.
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
from rlgen.runs import RunDir


@dataclass(frozen=True)
class OfflineConfig:
    batch_size: int = 256
    lr: float = 5e-4
    gamma: float = 0.99
    log_every: int = 50
    eval_every: int = 0          # gradient steps between validation evaluations (0: none)
    eval_episodes: int = 10      # validation episodes per evaluation
    patience: int = 0            # evaluations without improvement before stopping (0: never)
    deterministic: bool = False  # act greedily instead of sampling
    decoded_cache: bool = False  # keep a decompressed, memory-mapped copy next to the dataset
    checkpoint_every_s: float = 120.0
    encoder: dict = field(default_factory=dict)  # kwargs for the family's make_encoder


class TransitionSampler:
    """Uniform transitions, with the index of the next step and whether the episode ended there.

    Procgen does not expose the frame after the last step, so the last step of every episode is
    treated as terminal for bootstrapping (truncated episodes are rare: Procgen's own timeouts
    count as terminal)."""

    def __init__(self, ds: EpisodeDataset, seed: int = 0):
        self.n = ds.num_transitions
        ends = ds.starts + ds.lengths - 1
        self.last = np.zeros(self.n, dtype=bool)
        self.last[ends] = True
        self.rng = np.random.default_rng(seed)
        self.rewards = torch.as_tensor(np.array(ds.fields["rewards"], dtype=np.float32))

    def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]:
        idx = self.rng.integers(self.n, size=batch)
        done = self.last[idx]
        nxt = np.where(done, idx, idx + 1)
        return idx, nxt, self.rewards[idx], torch.as_tensor(done, dtype=torch.float32)


@dataclass
class TransitionBatch:
    inputs: Any
    actions: torch.Tensor
    next_inputs: Any
    rewards: torch.Tensor
    dones: torch.Tensor


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


def polyak(target: nn.Module, online: nn.Module, tau: float) -> None:
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            t.lerp_(o, tau)


class OfflineAgent(Agent):
    kind = "offline"
    requires: tuple[str, ...] = ("scorer",)
    default_budget = 2000  # gradient steps

    def __init__(self, spec, config, device, seed: int = 0):
        super().__init__(spec, config, device, seed)
        self.data: EpisodeDataset | None = None
        self.sampler: TransitionSampler | None = None
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.step = 0
        self.best: dict[str, Any] | None = None
        self.stale = 0  # validation rounds since the best one (early stopping)
        self.build()
        for net in self.nets.values():
            net.to(device)
            if hasattr(net, "encoder"):
                net.to(memory_format=torch.channels_last)
        self.make_optimizers()

    # ---- set-up --------------------------------------------------------------------------
    def prepare(self, resolved: dict[str, Any], run: RunDir | None = None, progress: bool = True) -> None:
        from rlgen.data.recipes import ensure_default_dataset

        path = resolved.get("dataset") or ensure_default_dataset(self.spec.id, progress=progress)
        self.data = EpisodeDataset.load(path, decoded_cache=self.config.decoded_cache)
        env_id = self.data.card.get("env", {}).get("id")
        if env_id and env_id != self.spec.id:
            raise ValueError(f"dataset {path} was collected on {env_id}, not {self.spec.id}")
        self.data = self.filter_dataset(self.data)
        if run is not None:
            info = {"path": str(Path(path).resolve()), "episodes": self.data.num_episodes,
                    "transitions": self.data.num_transitions,
                    **{k: self.data.card.get(k) for k in ("recipe", "split", "returns", "behavior_policy")}}
            (run.path / "dataset.json").write_text(json.dumps(info, indent=2, default=str))
        self.sampler = TransitionSampler(self.data, self.seed)
        self.on_dataset(self.data)

    def filter_dataset(self, ds: EpisodeDataset) -> EpisodeDataset:
        return ds

    def on_dataset(self, ds: EpisodeDataset) -> None:
        """Record dataset-derived constants (kept in the nets' buffers so checkpoints carry them)."""

    def build(self) -> None:
        """Create `self.nets` from the spec and config alone (no dataset needed)."""
        raise NotImplementedError

    def make_optimizers(self) -> None:
        """Default: one Adam per net that has trainable parameters and is not a target copy."""
        self.optimizers = {k: torch.optim.Adam(v.parameters(), lr=self.config.lr)
                           for k, v in self.nets.items()
                           if not k.endswith("_target") and any(p.requires_grad for p in v.parameters())}

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

    def sample_transitions(self, scorer) -> TransitionBatch:
        """A uniform minibatch of (s, a, s', r, done) as the scorer's inputs."""
        idx, nxt, rew, done = self.sampler.sample(self.config.batch_size)
        return TransitionBatch(scorer.batch_from_dataset(self.data, idx),
                               scorer.actions_from_dataset(self.data, idx),
                               scorer.batch_from_dataset(self.data, nxt),
                               rew.to(self.device), done.to(self.device))

    # ---- one gradient step: the algorithm --------------------------------------------------
    def update(self) -> dict[str, float]:
        raise NotImplementedError

    def acting_policy(self, deterministic: bool, seed: int):
        raise NotImplementedError

    # ---- the loop ------------------------------------------------------------------------------
    def fit(self, run: RunDir, budget: int, state: dict[str, Any] | None = None,
            progress: bool = True) -> None:
        from tqdm.auto import tqdm

        from rlgen.eval.evaluate import run_episodes

        cfg = self.config
        if state is not None:
            self.load_state(state)
            if state.get("final"):
                return  # finished (budget spent or stopped early): its weights are the selected ones
        bar = tqdm(total=budget, initial=self.step, unit="grad", desc=f"{self.name} {self.spec.id}",
                   disable=not progress, dynamic_ncols=True)
        last_ckpt, t0 = time.time(), time.time()
        stop = False
        while self.step < budget and not stop:
            for net in self.nets.values():
                net.train()
            logs = self.update()
            self.step += 1
            bar.update()
            if self.step % cfg.log_every == 0 or self.step == budget:
                logs["perf/grad_steps_per_s"] = cfg.log_every / max(time.time() - t0, 1e-9)
                t0 = time.time()
                run.log(self.step, logs)
                bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in list(logs.items())[:2]})
            if cfg.eval_every and (self.step % cfg.eval_every == 0 or self.step == budget):
                # Model selection sees validation levels only; test levels stay untouched.
                records = run_episodes(self.policy(seed=self.seed), self.spec, "val",
                                       cfg.eval_episodes, seed=self.seed, progress=False)
                score = float(np.mean([r["return"] for r in records]))
                run.log(self.step, {"val/episode_return": score})
                if self.best is None or score > self.best["score"]:
                    self.best = {"score": score, "step": self.step,
                                 "nets": {k: copy.deepcopy(v.state_dict()) for k, v in self.nets.items()}}
                    self.stale = 0
                else:
                    self.stale += 1
                    stop = bool(cfg.patience) and self.stale >= cfg.patience
            if time.time() - last_ckpt >= cfg.checkpoint_every_s or self.step >= budget or stop:
                run.save_checkpoint(self.state())
                last_ckpt = time.time()
        bar.close()
        if self.best is not None:
            for k, net in self.nets.items():
                net.load_state_dict(self.best["nets"][k])
            run.log(self.step, {"val/best_return": self.best["score"], "val/best_step": self.best["step"]})
        run.save_checkpoint(self.state(final=True))

    # ---- state ---------------------------------------------------------------------------------
    def state(self, final: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step, "final": final,
                               "nets": {k: v.state_dict() for k, v in self.nets.items()},
                               "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
                               "sampler_rng": json.dumps(self.sampler.rng.bit_generator.state)}
        if self.best is not None:
            # Mid-run checkpoints carry the best weights so that a resumed run still returns them;
            # the final checkpoint's own weights are the best ones.
            out["best"] = {"score": self.best["score"], "step": self.best["step"],
                           "stale": self.stale, **({} if final else {"nets": self.best["nets"]})}
        return out

    def load_state(self, state: dict[str, Any]) -> None:
        for k, net in self.nets.items():
            net.load_state_dict(state["nets"][k])
        for k, opt in self.optimizers.items():
            if k in state.get("optimizers", {}):
                opt.load_state_dict(state["optimizers"][k])
        self.step = int(state.get("step", 0))
        if "sampler_rng" in state and self.sampler is not None:
            self.sampler.rng.bit_generator.state = json.loads(state["sampler_rng"])
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
        det = self.config.deterministic if deterministic is None else deterministic
        return self.acting_policy(det, seed)
