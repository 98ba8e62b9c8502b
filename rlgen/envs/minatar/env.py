"""One MinAtar game from the `minatar` package behind Gymnasium's API, with seeded levels.

A level is the seed of the game's one RandomState (sticky-action draws and game draws share it,
as after the package's `seed()`), so `reset(options={"level": L})` replays the same episode for
the same actions. As in the package, the previous action used by sticky actions carries over
from one episode to the next; `reset(seed=...)` starts from a fresh env (previous action 0).
"""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np

GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")
#: all six MinAtar action indices: no-op, left, up, right, down, fire
NUM_FULL_ACTIONS = 6


def _package():
    """Import `minatar` without its warning about seaborn (only needed for its renderer)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        import minatar
    finally:
        logging.disable(previous)
    return minatar


def action_set(game: str, minimal: bool) -> list[int]:
    """The package's action indices the env's actions map to (all six unless `minimal`)."""
    if not minimal:
        return list(range(NUM_FULL_ACTIONS))
    env = _package().Environment(game)
    return list(env.minimal_action_set())


class MinAtarEnv(gym.Env):
    """`minatar.Environment(game, sticky_action_prob, difficulty_ramping)`; observations are the
    10x10xC grid as uint8 0/1 (channels last); `info["level"]` on every step."""

    metadata = {"render_modes": []}

    def __init__(self, game: str, sticky_action_prob: float = 0.1, difficulty_ramping: bool = True,
                 minimal_action_set: bool = False, max_episode_steps: int = 0):
        self.game_name = game
        self.game = _package().Environment(game, sticky_action_prob=sticky_action_prob,
                                           difficulty_ramping=difficulty_ramping)
        self.actions = action_set(game, minimal_action_set)
        self.max_episode_steps = int(max_episode_steps)
        shape = tuple(self.game.state_shape())
        self.observation_space = gym.spaces.Box(0, 1, shape, np.uint8)
        self.action_space = gym.spaces.Discrete(len(self.actions))
        self.level: int | None = None
        self._t = 0

    def _obs(self) -> np.ndarray:
        return self.game.state().astype(np.uint8)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.game.last_action = 0
        level = (options or {}).get("level")
        self.level = int(level) if level is not None else int(self.np_random.integers(2**31))
        self.game.seed(self.level)
        self.game.reset()
        self._t = 0
        return self._obs(), {"level": self.level}

    def step(self, action):
        reward, terminated = self.game.act(self.actions[int(action)])
        self._t += 1
        truncated = bool(self.max_episode_steps and self._t >= self.max_episode_steps and not terminated)
        info: dict[str, Any] = {"level": self.level}
        return self._obs(), float(reward), bool(terminated), truncated, info
