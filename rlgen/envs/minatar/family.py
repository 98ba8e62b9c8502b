"""The MinAtar family: five games from envs/minatar.toml, seed splits, the batched torch vector
env where a game has one (the package's envs one by one otherwise), the encoder and
return normalization."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from rlgen.envs.base import EnvFamily, EnvSpec
from rlgen.envs.splits import Split, Splits

if TYPE_CHECKING:
    import torch

VECTOR_MODES = ("batched", "sync")
#: game -> module:class of its batched implementation (the module also has `start_draw`)
BATCHED = {
    "breakout": "rlgen.envs.minatar.batched_breakout:BatchedBreakout",
    "space_invaders": "rlgen.envs.minatar.batched_space_invaders:BatchedSpaceInvaders",
}


def seed_lists(splits: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Each split's seeds: a `[start, start + count)` range or an explicit `seeds` list."""
    out = {}
    for name, table in splits.items():
        if "seeds" in table:
            out[name] = tuple(int(s) for s in table["seeds"])
        else:
            start, count = int(table["start"]), int(table["count"])
            out[name] = tuple(range(start, start + count))
    return out


@lru_cache(maxsize=16)
def start_draws(module_name: str, levels: tuple[int, ...]) -> list[int]:
    """Each level's start draw (the game module's `start_draw` on `RandomState(level)`). Cached:
    seeding 200 RandomStates costs tens of ms, paid by every short lifetime's envs otherwise."""
    import importlib

    module = importlib.import_module(module_name)
    return [module.start_draw(np.random.RandomState(level)) for level in levels]


class MinAtarFamily(EnvFamily):
    name = "minatar"
    capabilities = frozenset({"discrete_actions", "encoder"})

    @property
    def default_options(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(self.spec_file["defaults"])

    def check_options(self, task: str, options: dict[str, Any]) -> None:
        if not 0.0 <= float(options["sticky_action_prob"]) <= 1.0:
            raise ValueError(f"sticky_action_prob must be in [0, 1], got {options['sticky_action_prob']}")
        if options["vector"] not in VECTOR_MODES:
            raise ValueError(f"vector must be one of {VECTOR_MODES}, got {options['vector']!r}")
        if not isinstance(options["compile"], bool):
            raise ValueError(f"compile must be true or false, got {options['compile']!r}")
        if int(options["max_episode_steps"]) < 0:
            raise ValueError("max_episode_steps must be >= 0 (0: no limit)")

    def build_splits(self, task: str, options: dict[str, Any]) -> Splits:
        seeds = seed_lists(self.spec_file["splits"])
        for name, levels in seeds.items():
            if any(not 0 <= s < 2**32 for s in levels):
                raise ValueError(f"envs/minatar.toml: split {name!r} has seeds outside [0, 2**32)")
        return Splits({name: Split(name, levels, str(self.spec_file["splits"][name].get("about", "")))
                       for name, levels in seeds.items()})

    def _env_kwargs(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"sticky_action_prob": float(options["sticky_action_prob"]),
                "difficulty_ramping": bool(options["difficulty_ramping"]),
                "minimal_action_set": bool(options["minimal_action_set"]),
                "max_episode_steps": int(options["max_episode_steps"])}

    def make_env(self, task: str, options: dict[str, Any], **kwargs: Any) -> gym.Env:
        from rlgen.envs.minatar.env import MinAtarEnv

        return MinAtarEnv(task, **self._env_kwargs(options))

    def make_vec_env(self, spec: EnvSpec, levels: Sequence[Hashable], num_envs: int, seed: int):
        if spec.task in BATCHED and spec.options["vector"] == "batched":
            return self.make_batched(spec, levels, num_envs, seed)
        return super().make_vec_env(spec, levels, num_envs, seed)

    def make_device_vec_env(self, spec: EnvSpec, levels: Sequence[Hashable], num_envs: int,
                            seed: int, device: Any):
        if spec.task in BATCHED and spec.options["vector"] == "batched":
            return self.make_batched(spec, levels, num_envs, seed, device=device, tensor_obs=True)
        return None

    def make_batched(self, spec: EnvSpec, levels: Sequence[Hashable], num_envs: int, seed: int,
                     device: torch.device | str = "cpu", as_tensors: bool = False,
                     tensor_obs: bool = False):
        """The batched torch vector env of `spec`'s game on `device` (numpy out unless
        `as_tensors`; `tensor_obs`: observations only). Each level's start state is the
        package's for that seed."""
        import importlib

        import torch

        from rlgen.envs.minatar.batched import BatchedMinAtar, LevelDraws, MinAtarVecEnv
        from rlgen.envs.minatar.env import action_set

        if spec.task not in BATCHED:
            raise ValueError(f"minatar:{spec.task} has no batched implementation "
                             f"(batched: {', '.join(sorted(BATCHED))})")
        module_name, _, cls_name = BATCHED[spec.task].partition(":")
        module = importlib.import_module(module_name)
        kw = self._env_kwargs(spec.options)
        game = getattr(module, cls_name)(num_envs, device, ramping=kw["difficulty_ramping"])
        levels = [int(x) for x in levels]
        starts = start_draws(module_name, tuple(levels))
        draws = LevelDraws(levels, starts, num_envs, seed, torch.device(device))
        engine = BatchedMinAtar(game, draws, action_set(spec.task, kw["minimal_action_set"]),
                                kw["sticky_action_prob"], kw["max_episode_steps"],
                                compile=bool(spec.options["compile"]))
        return MinAtarVecEnv(engine, seed=seed, as_tensors=as_tensors, tensor_obs=tensor_obs)

    def make_encoder(self, spec: EnvSpec, **kwargs: Any):
        from rlgen.envs.minatar.encoder import MinAtarEncoder, MinAtarEncoderConfig

        channels = int(self.spec_file["channels"][spec.task])
        return MinAtarEncoder(channels, MinAtarEncoderConfig(**kwargs))

    def return_bounds(self, task: str, options: dict[str, Any]) -> tuple[float, float] | None:
        """(random policy, reference) returns from envs/minatar.toml; None where no reference
        is documented (seaquest)."""
        table = self.spec_file["normalization"][task]
        if "reference" not in table:
            return None
        return float(table["random"]), float(table["reference"])
