"""minigrid's BabyAIBot as an rlgen policy.

The bot plans on the env object itself (grid, carried object, instruction tree), which a vector
env in another process cannot hand over. Levels are deterministic given their seed and the
actions played, so each slot keeps a replica env: a new episode resets the replica onto the
slot's `info["level"]` (checked against the observed view), and every action the policy returns
is also played on the replica. The same replica serves collection (vector envs, any process) and
evaluation alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlgen.envs.base import EnvSpec
from rlgen.policy import Policy


class _Slot:
    def __init__(self, spec: EnvSpec):
        self.env = spec.make_env()
        self.bot: Any = None
        self.fresh = True
        self.over = False
        self.last: int | None = None

    def start(self, level: int, image: np.ndarray) -> None:
        from minigrid.utils.baby_ai_bot import BabyAIBot

        obs, _ = self.env.reset(options={"level": level})
        if not np.array_equal(obs["image"], image):
            raise RuntimeError(f"babyai bot: the replica of level {level} does not match the "
                               "observed view (is the level generation deterministic?)")
        self.bot = BabyAIBot(self.env.minigrid)
        self.fresh, self.over, self.last = False, False, None


class BotPolicy(Policy):
    """minigrid's BabyAIBot (the expert that solves the original BabyAI levels); with `noise`,
    a uniform random action at each step with that probability, which the bot then recovers from."""

    needs_infos = True

    def __init__(self, spec: EnvSpec, noise: float = 0.0, seed: int = 0):
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"bot noise must be in [0, 1], got {noise}")
        self.spec, self.noise = spec, float(noise)
        self.rng = np.random.default_rng(seed)
        self.slots: list[_Slot] = []

    def _grow(self, n: int) -> None:
        while len(self.slots) < n:
            self.slots.append(_Slot(self.spec))

    def begin(self, slots: np.ndarray) -> None:
        for s in np.asarray(slots).tolist():
            self._grow(s + 1)
            self.slots[s].fresh = True

    def act(self, obs: dict, infos: list[dict] | None = None) -> np.ndarray:
        if infos is None:
            raise ValueError("the babyai bot reads each slot's info['level'] (needs_infos)")
        n = len(obs["image"])
        self._grow(n)
        actions = np.zeros(n, dtype=np.int64)
        for i in range(n):
            slot = self.slots[i]
            if slot.fresh:
                slot.start(int(infos[i]["level"]), obs["image"][i])
            if slot.over:  # a slot with no running episode (evaluation's idle slots)
                continue
            action = int(slot.bot.replan(slot.last))
            if self.noise and self.rng.random() < self.noise:
                action = int(self.rng.integers(self.spec.num_actions))
            _, _, terminated, truncated, _ = slot.env.step(action)
            slot.over = terminated or truncated
            slot.last = action
            actions[i] = action
        return actions

    def close(self) -> None:
        for slot in self.slots:
            slot.env.close()
