"""Tiny learnable image envs for fast agent checks (in the spirit of SB3's identity envs).

`toy:identity`: each step shows a 16x16 frame whose colour encodes the rewarded action
(one of 4); reward 1 for that action, else 0; episodes last `episode_length` steps. A level
seeds the colour sequence, so splits are seed lists like Procgen's. Random play scores
`episode_length / 4` on average; a learner should approach `episode_length`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlgen.envs.base import EnvFamily, EnvSpec
from rlgen.envs.splits import Split, Splits
from rlgen.policy import Policy

COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], dtype=np.uint8)
SHAPE = (16, 16, 3)


class IdentityEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, episode_length: int = 8):
        self.episode_length = episode_length
        self.observation_space = gym.spaces.Box(0, 255, SHAPE, np.uint8)
        self.action_space = gym.spaces.Discrete(len(COLOURS))
        self._level, self._t, self._targets = 0, 0, np.zeros(episode_length, np.int64)

    def _frame(self) -> np.ndarray:
        return np.broadcast_to(COLOURS[self._targets[self._t]], SHAPE).copy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        level = (options or {}).get("level")
        self._level = int(level) if level is not None else int(self.np_random.integers(2**31))
        rng = np.random.default_rng(self._level)
        self._targets = rng.integers(len(COLOURS), size=self.episode_length)
        self._t = 0
        return self._frame(), {"level": self._level}

    def step(self, action):
        reward = float(int(action) == self._targets[self._t])
        self._t += 1
        done = self._t >= self.episode_length
        info: dict[str, Any] = {"level": self._level}
        obs = self._frame() if not done else np.zeros(SHAPE, np.uint8)
        return obs, reward, done, False, info


class IdentityOracle(Policy):
    """Scripted expert for toy:identity: reads the colour, takes its action (random w.p. `noise`)."""

    def __init__(self, noise: float = 0.0, seed: int = 0):
        self.noise, self.rng = float(noise), np.random.default_rng(seed)

    def act(self, obs: np.ndarray, infos: list[dict] | None = None) -> np.ndarray:
        pixel = np.asarray(obs)[:, 0, 0, :].astype(np.int64)
        best = np.argmin(((pixel[:, None, :] - COLOURS[None].astype(np.int64)) ** 2).sum(-1), axis=1)
        explore = self.rng.random(len(best)) < self.noise
        return np.where(explore, self.rng.integers(len(COLOURS), size=len(best)), best)


class ToyFamily(EnvFamily):
    name = "toy"
    capabilities = frozenset({"discrete_actions", "encoder"})
    default_options = {"num_levels": 100, "episode_length": 8}

    def tasks(self) -> list[str]:
        return ["identity"]

    @property
    def spec_file(self) -> dict[str, Any]:  # type: ignore[override]
        return {"tasks": self.tasks(),
                "smoke": {"task": "identity", "dataset": {"policy": "oracle:0.3", "transitions": 2000}}}

    def build_splits(self, task: str, options: dict[str, Any]) -> Splits:
        n = int(options["num_levels"])
        return Splits({"train": Split("train", tuple(range(n))),
                       "val": Split("val", tuple(range(n, n + 50))),
                       "test": Split("test", tuple(range(10**6, 10**6 + 200)))})

    def make_env(self, task: str, options: dict[str, Any], **kwargs: Any) -> gym.Env:
        return IdentityEnv(int(options["episode_length"]))

    def make_encoder(self, spec: EnvSpec, channels=(8, 16), out_dim: int = 64):
        from rlgen.nets.impala import ImpalaEncoder

        return ImpalaEncoder(SHAPE, tuple(channels), out_dim)

    def return_bounds(self, task: str, options: dict[str, Any]) -> tuple[float, float]:
        return 0.0, float(options["episode_length"])

    def named_policies(self, spec: EnvSpec) -> dict[str, Any]:
        """`--policy oracle` or `--policy oracle:0.3` (noise)."""
        return {"oracle": lambda noise=0.0, seed=0: IdentityOracle(float(noise or 0.0), seed)}
