"""Env families and resolved env specs.

A family (Procgen, MiniHack, ...) knows its tasks, builds a task's splits from its spec file under
the top-level `envs/` folder, and makes environments. An `EnvSpec` is one resolved `family:task`
with its options; everything else in rlgen (training, collection, evaluation) only talks to specs.
"""

from __future__ import annotations

import tomllib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import gymnasium as gym
import numpy as np

from rlgen.envs.splits import Splits
from rlgen.paths import spec_root


class LevelSampler(gym.Wrapper):
    """Resets onto a level drawn from a fixed list unless `options={"level": id}` pins one."""

    def __init__(self, env: gym.Env, levels: Sequence[Hashable], seed: int | None = None):
        super().__init__(env)
        self.levels = list(levels)
        self._rng = np.random.default_rng(seed)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        options = dict(options or {})
        if "level" not in options:
            options["level"] = self.levels[int(self._rng.integers(len(self.levels)))]
        return self.env.reset(seed=seed, options=options)


#: What an env spec can offer an agent (an agent's `requires` names some of these).
CAPABILITIES: dict[str, str] = {
    "discrete_actions": "discrete actions",
    "encoder": "an observation encoder",     # EnvFamily.make_encoder
    "scorer": "a scorer over its actions",   # EnvFamily.make_scorer
    "goal_conditioned": "goal-conditioned state observations",
    "text": "a text rendering of observations",  # EnvFamily.text_view
}


class EnvFamily:
    """Base class: subclasses set `name` and implement `build_splits` and `make_env`."""

    name: str = ""
    #: option name -> default value; unknown options are refused with a did-you-mean.
    default_options: dict[str, Any] = {}
    #: what every spec of this family offers agents (keys of CAPABILITIES). Discrete actions and
    #: an encoder give a scorer through the default `make_scorer`.
    capabilities: frozenset[str] = frozenset()

    def spec_capabilities(self, spec: EnvSpec) -> frozenset[str]:
        """The capabilities of one spec (a family whose options can remove one overrides this)."""
        caps = set(self.capabilities)
        if {"discrete_actions", "encoder"} <= caps:
            caps.add("scorer")
        return frozenset(caps)

    def encoder_schema(self, spec: EnvSpec) -> dict[str, Any] | None:
        """The keyword arguments `make_encoder` takes after `spec`, with their types (None: any);
        agents check their `encoder` config table against it before a run starts."""
        from rlgen.config import signature_schema

        if "encoder" not in self.spec_capabilities(spec):
            return {}
        return signature_schema(self.make_encoder, skip=("spec",))

    @cached_property
    def spec_file(self) -> dict[str, Any]:
        path = spec_root() / "envs" / f"{self.name}.toml"
        with open(path, "rb") as f:
            return tomllib.load(f)

    def tasks(self) -> list[str]:
        return list(self.spec_file.get("tasks", []))

    @property
    def smoke(self) -> dict[str, Any]:
        """The family's smallest setting (`[smoke]` in its spec file): `task`, `options`, and
        how to make a small `dataset` (`policy` + `transitions`, or a `recipe`). The contract
        tests over the registry run every family and agent on it."""
        if "smoke" not in self.spec_file:
            raise ValueError(f"envs/{self.name}.toml has no [smoke] table (see docs/extending.md)")
        return dict(self.spec_file["smoke"])

    def spec(self, task: str, **options: Any) -> EnvSpec:
        from rlgen.errors import UnknownNameError

        tasks = self.tasks()
        if tasks and task not in tasks:
            raise UnknownNameError(f"{self.name} task", task, tasks)
        resolved = dict(self.default_options)
        for key, value in options.items():
            if value is None:
                continue
            if key not in resolved:
                raise UnknownNameError(f"{self.name} option", key, list(resolved))
            resolved[key] = value
        self.check_options(task, resolved)
        return EnvSpec(family=self.name, task=task, options=resolved, impl=self)

    def check_options(self, task: str, options: dict[str, Any]) -> None:
        """Raise ValueError for option values the family cannot honour."""

    def build_splits(self, task: str, options: dict[str, Any]) -> Splits:
        raise NotImplementedError

    def make_env(self, task: str, options: dict[str, Any], **kwargs: Any) -> gym.Env:
        raise NotImplementedError

    def make_vec_env(
        self, spec: EnvSpec, levels: Sequence[Hashable], num_envs: int, seed: int
    ) -> gym.vector.VectorEnv:
        """Default: synchronous vector of single envs, each resetting onto a random listed level."""
        fns = [
            (lambda i=i: LevelSampler(self.make_env(spec.task, spec.options), levels, seed + i))
            for i in range(num_envs)
        ]
        return gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)

    def make_device_vec_env(self, spec: EnvSpec, levels: Sequence[Hashable], num_envs: int,
                            seed: int, device: Any) -> gym.vector.VectorEnv | None:
        """A vector env that steps on `device` (a torch device) and returns its observations as
        tensors there, rewards and flags as numpy; None where the family has none (most: their
        envs are CPU programs), and then `make_vec_env`'s numpy env is used."""
        return None

    def return_bounds(self, task: str, options: dict[str, Any]) -> tuple[float, float] | None:
        """(min, max) return used for min–max normalization, or None when undefined."""
        return None

    def make_encoder(self, spec: EnvSpec):
        """An `nn.Module` mapping a batch of observations (as tensors) to (B, out_dim) features;
        it must set `out_dim`. Used by PPO and by the default scorer."""
        raise NotImplementedError(f"{self.name} provides no observation encoder")

    def make_scorer(self, spec: EnvSpec, outputs_per_action: int = 1):
        """The network the discrete-action agents learn through (see rlgen.nets.scorer)."""
        from rlgen.nets.scorer import EncoderScorer

        return EncoderScorer(self.make_encoder(spec), spec.num_actions, outputs_per_action)

    def text_view(self, spec: EnvSpec):
        """The `rlgen.envs.text.TextView` language agents read (families with "text")."""
        raise NotImplementedError(f"{self.name} has no text rendering")

    def goal_layout(self, spec: EnvSpec) -> GoalLayout:
        """The observation layout the goal-conditioned agents read (goal-conditioned families)."""
        raise NotImplementedError(f"{self.name} is not a goal-conditioned family")


@dataclass(frozen=True)
class GoalLayout:
    """How a goal-conditioned family lays out its flat observations: `[state, goal]`, with the
    goal a `goal_dim`-vector that a state achieves at `state[achieved_start:][:goal_dim]`, and
    continuous actions of `action_dim`."""

    state_dim: int
    goal_dim: int
    action_dim: int
    achieved_start: int = 0

    @property
    def obs_dim(self) -> int:
        return self.state_dim + self.goal_dim

    @property
    def achieved(self) -> slice:
        return slice(self.achieved_start, self.achieved_start + self.goal_dim)


@dataclass
class EnvSpec:
    family: str
    task: str
    options: dict[str, Any]
    impl: EnvFamily = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.family}:{self.task}" if self.task else self.family

    @cached_property
    def splits(self) -> Splits:
        return self.impl.build_splits(self.task, self.options)

    def make_env(self, **kwargs: Any) -> gym.Env:
        return self.impl.make_env(self.task, self.options, **kwargs)

    @property
    def capabilities(self) -> frozenset[str]:
        return self.impl.spec_capabilities(self)

    @cached_property
    def num_actions(self) -> int:
        """Size of the discrete action space (probes one env once)."""
        env = self.make_env()
        space = env.action_space
        env.close()
        if not isinstance(space, gym.spaces.Discrete):
            raise ValueError(f"{self.id} has {type(space).__name__} actions; this needs discrete ones")
        return int(space.n)

    def make_vec_env(self, split: str = "train", num_envs: int = 1, seed: int = 0, device: Any = None):
        """`device`: where a training agent's tensors live; a family that can step its envs
        there (`EnvFamily.make_device_vec_env`) does, so observations never leave the device."""
        levels = self.splits[split].levels
        if device is not None:
            env = self.impl.make_device_vec_env(self, levels, num_envs, seed, device)
            if env is not None:
                return env
        return self.impl.make_vec_env(self, levels, num_envs, seed)

    def normalize(self, returns: np.ndarray | float) -> np.ndarray:
        bounds = self.impl.return_bounds(self.task, self.options)
        returns = np.asarray(returns, dtype=np.float64)
        if bounds is None:
            return returns.copy()
        lo, hi = bounds
        return (returns - lo) / (hi - lo)  # not clipped, as in the Procgen paper

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "family": self.family, "task": self.task, "options": dict(self.options)}
