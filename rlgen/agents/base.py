"""What every agent shares: device choice, torch set-up, and a sampling policy over a torch model."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from rlgen.envs.base import EnvSpec
from rlgen.runs import FitResult, NullRun, RunDir


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA device is available")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def setup_torch(seed: int, device: torch.device) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    if device.type == "cpu":
        # Busy-waiting OpenMP threads slow everything 7-10x when other processes share the cores.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        default = os.environ.get("OMP_NUM_THREADS") or min(os.cpu_count() or 1, 8)
        threads = int(os.environ.get("RLGEN_THREADS", default))
        torch.set_num_threads(max(1, threads))


def to_tensor(obs: Any, device: torch.device) -> Any:
    if isinstance(obs, dict):
        return {k: to_tensor(v, device) for k, v in obs.items()}
    return torch.from_numpy(np.ascontiguousarray(obs)).to(device, non_blocking=True)


class TorchPolicy:
    """Maps an observation batch to actions through `model(obs) -> logits` (discrete actions).

    Samples from the softmax with its own seeded generator, or takes the argmax when
    `deterministic`."""

    def __init__(self, logits_fn, device: torch.device, deterministic: bool = False, seed: int = 0):
        self.logits_fn, self.device, self.deterministic = logits_fn, device, deterministic
        self.generator = torch.Generator(device=device).manual_seed(seed)

    @torch.inference_mode()
    def act(self, obs: Any) -> np.ndarray:
        logits = self.logits_fn(to_tensor(obs, self.device)).float()
        if self.deterministic:
            return logits.argmax(-1).cpu().numpy()
        probs = torch.softmax(logits, -1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1).cpu().numpy()


class Agent:
    """Base class. Subclasses set `name` and `config_class`, and implement `fit` and `policy`."""

    name: str = ""
    config_class: type = object
    #: "online" agents collect their own data; "offline" agents learn from a dataset.
    kind: str = "online"

    def __init__(self, spec: EnvSpec, config: Any, device: torch.device, seed: int = 0):
        self.spec, self.config, self.device, self.seed = spec, config, device, seed

    def fit(self, run: RunDir | NullRun | None, budget: int, state: dict[str, Any] | None = None,
            progress: bool = True) -> FitResult:
        """Train for `budget` (env steps online, gradient steps offline), continuing from `state`
        when given; `run=None` trains in-process with no files."""
        raise NotImplementedError

    def policy(self, deterministic: bool = False, seed: int = 0):
        raise NotImplementedError

    def load_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError
