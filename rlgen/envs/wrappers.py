"""Wrappers for the *training* envs of online agents only (reward shaping, intrinsic rewards).

Evaluation always builds the family's unwrapped envs. A training wrapper is a Gymnasium
`VectorWrapper` over the batch of training envs, so it works the same for Procgen's native
batched env and for vectors of single envs. Shaping wrappers subclass `RewardShaping` and
implement `bonus`; the env's own reward travels on in `info["extrinsic_reward"]`, which is what
agents log as `train/episode_return`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

EXTRINSIC = "extrinsic_reward"


class RewardShaping(gym.vector.VectorWrapper):
    """reward = extrinsic + bonus(...); `info["extrinsic_reward"]` keeps the env's reward."""

    def bonus(self, obs: Any, actions: np.ndarray, rewards: np.ndarray, terminations: np.ndarray,
              truncations: np.ndarray, infos: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError

    def step(self, actions):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        infos = dict(infos)
        extrinsic = np.asarray(infos.get(EXTRINSIC, rewards), dtype=np.float64)
        infos[EXTRINSIC] = extrinsic
        shaped = np.asarray(rewards, dtype=np.float64) + self.bonus(
            obs, actions, extrinsic, terminations, truncations, infos)
        return obs, shaped, terminations, truncations, infos


def extrinsic_rewards(rewards: np.ndarray, infos: dict[str, Any]) -> np.ndarray:
    """The env's own reward of a (possibly shaped) vector step."""
    return np.asarray(infos.get(EXTRINSIC, rewards), dtype=np.float64)


def check_training_wrappers(names: Sequence[str], args: dict[str, dict[str, Any]]) -> list[type]:
    """The wrapper classes `names` (unknown names fail with a did-you-mean), refusing
    `args` for wrappers that are not applied."""
    from rlgen.registry import TRAINING_WRAPPERS, lookup

    unused = sorted(set(args) - set(names))
    if unused:
        raise ValueError(f"wrapper_args names wrappers that are not in wrappers: {', '.join(unused)}")
    return [lookup("training wrapper", name, TRAINING_WRAPPERS) for name in names]


def wrap_training_envs(envs: gym.vector.VectorEnv, names: Sequence[str],
                       args: dict[str, dict[str, Any]], spec: Any) -> gym.vector.VectorEnv:
    """Apply the registered training wrappers `names` in order (the first is innermost);
    `args[name]` holds each one's keyword arguments. Each wrapper is built as
    `cls(envs, spec=spec, **kwargs)` when it takes a `spec`, else `cls(envs, **kwargs)`."""
    import inspect

    for name, cls in zip(names, check_training_wrappers(names, args), strict=True):
        kwargs = dict(args.get(name, {}))
        if "spec" in inspect.signature(cls).parameters:
            kwargs["spec"] = spec
        try:
            envs = cls(envs, **kwargs)
        except TypeError as e:
            raise ValueError(f"training wrapper {name!r}: {e}") from None
    return envs

