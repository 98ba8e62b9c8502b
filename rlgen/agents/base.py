"""What every agent shares: device choice, torch set-up, and a sampling policy over a torch model."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import torch

from rlgen.envs.base import CAPABILITIES, EnvSpec
from rlgen.policy import Policy
from rlgen.runs import FitResult, NullRun, RunDir
from rlgen.tree import to_tensor


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



class TorchPolicy(Policy):
    """Maps an observation batch to actions through `model(obs) -> logits` (discrete actions).

    Samples from the softmax with its own seeded generator, or takes the argmax when
    `deterministic`."""

    def __init__(self, logits_fn, device: torch.device, deterministic: bool = False, seed: int = 0):
        self.logits_fn, self.device, self.deterministic = logits_fn, device, deterministic
        self.generator = torch.Generator(device=device).manual_seed(seed)

    @torch.inference_mode()
    def act(self, obs: Any, infos: list[dict] | None = None) -> np.ndarray:
        logits = self.logits_fn(to_tensor(obs, self.device)).float()
        if self.deterministic:
            return logits.argmax(-1).cpu().numpy()
        probs = torch.softmax(logits, -1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1).cpu().numpy()


class Agent:
    """Base class. Subclasses set `name`, `config_class` and `requires`, and implement `fit` and
    `policy`."""

    name: str = ""
    config_class: type = object
    #: "online" agents collect their own data; "offline" agents learn from a dataset.
    kind: str = "online"
    #: what the env spec must offer (keys of rlgen.envs.base.CAPABILITIES)
    requires: tuple[str, ...] = ()
    #: whether an interrupted and resumed run ends with bitwise the weights of an uninterrupted
    #: one on CPU (checked for every agent by tests/test_contract_agents.py)
    resume_exact: bool = True

    @classmethod
    def misfit(cls, spec: EnvSpec) -> str | None:
        """Why this agent cannot run on `spec`, or None when it can."""
        missing = [c for c in cls.requires if c not in spec.capabilities]
        if not missing:
            return None
        needs = f"{cls.name} needs an env with {_listing(cls.requires)}"
        if len(missing) == len(cls.requires):
            return f"{needs}, which {spec.id} lacks"
        return f"{needs}; {spec.id} lacks {_listing(missing)}"

    @classmethod
    def check_fits(cls, spec: EnvSpec, dataset: str | None = None) -> None:
        """Raise ValueError, listing the agents that do fit, when this one cannot run on `spec`
        (offline agents also need `dataset` or the env's default one)."""
        reason = cls.misfit(spec)
        if reason is None and cls.kind == "offline" and not dataset and not has_default_dataset(spec):
            reason = (f"{cls.name} learns from a dataset and {spec.id} has no default one: "
                      "pass --dataset DIR (make one with `rlgen collect`)")
        if reason is not None:
            fits = fitting_agents(spec)
            raise ValueError(f"{reason}. Agents that fit {spec.id}: "
                             + (", ".join(fits) if fits else "none") + ".")

    @classmethod
    def check_config(cls, config: Any, spec: EnvSpec) -> Any:
        """`config` with its `encoder` table (kwargs for the family's `make_encoder`) checked key
        by key against what that function takes; ConfigError when a key or value does not fit."""
        from rlgen.config import ConfigError, check_mapping

        table = getattr(config, "encoder", None)
        if not dataclasses.is_dataclass(config) or not isinstance(table, dict):
            return config
        label = f"{type(config).__name__}.encoder"
        schema = spec.impl.encoder_schema(spec)
        if schema == {} and table:
            raise ConfigError(f"{label}: {spec.id} has no observation encoder to pass "
                              f"{', '.join(table)} to")
        checked = check_mapping(table, schema, label,
                                f"{spec.family} encoder option")
        return dataclasses.replace(config, encoder=checked)

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


def _listing(caps) -> str:
    words = [CAPABILITIES.get(c, c) for c in caps]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def has_default_dataset(spec: EnvSpec) -> bool:
    from rlgen.data.recipes import default_recipe

    return default_recipe(spec.id) is not None


def fitting_agents(spec: EnvSpec) -> list[str]:
    """Registered agents whose requirements `spec` meets (in registry order)."""
    from rlgen.registry import AGENTS, agent_class

    return [name for name in AGENTS if agent_class(name).misfit(spec) is None]
