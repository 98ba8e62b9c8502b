"""One BabyAI level from `minigrid` behind Gymnasium's API, with seeded levels.

A level is the seed minigrid's generator is reset with, so `reset(options={"level": L})` always
builds the same grid, agent pose and mission. Observations are arrays only (storable, batchable):
the egocentric 7x7x3 symbolic view, the agent's direction, the mission as ASCII bytes (lossless)
and as word ids over BabyAI's fixed vocabulary (for embedding bags). `info["level"]` and
`info["mission"]` are on every step, `info["success"]` on the last one.
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any

import gymnasium as gym
import numpy as np

VIEW = 7
MISSION_BYTES = 192
MISSION_TOKENS = 32
#: BabyAI's grammar words (minigrid.envs.babyai.core.verifier); id 0 pads, id 1 is unknown.
VOCAB = ("<pad>", "<unk>", "go", "to", "the", "a", "pick", "up", "open", "put", "next", "and",
         "then", "after", "you", "in", "front", "of", "on", "your", "left", "right", "behind",
         "red", "green", "blue", "purple", "yellow", "grey", "ball", "box", "key", "door")
WORD_ID = {w: i for i, w in enumerate(VOCAB)}


def minigrid_id(task: str) -> str:
    return f"BabyAI-{task}-v0"


def quiet(fn, *args, **kwargs):
    """Call `fn` with stdout swallowed: minigrid prints every rejected level sample."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def make_minigrid(task: str):
    """The bare minigrid BabyAI env (no Gymnasium wrappers: the level owns its step limit)."""
    import minigrid  # noqa: F401  (registers the BabyAI ids)

    return gym.make(minigrid_id(task)).unwrapped


def encode_mission(mission: str) -> tuple[np.ndarray, np.ndarray]:
    """(ASCII bytes, zero-padded; word ids, zero-padded) of a mission string."""
    raw = mission.encode("ascii")
    if len(raw) > MISSION_BYTES:
        raise ValueError(f"mission longer than {MISSION_BYTES} bytes: {mission!r}")
    text = np.zeros(MISSION_BYTES, np.uint8)
    text[:len(raw)] = np.frombuffer(raw, np.uint8)
    words = re.findall(r"[a-z]+", mission.lower())[:MISSION_TOKENS]
    tokens = np.zeros(MISSION_TOKENS, np.uint8)
    tokens[:len(words)] = [WORD_ID.get(w, 1) for w in words]
    return text, tokens


def decode_mission(text: np.ndarray) -> str:
    """The mission string back from its stored bytes."""
    raw = np.asarray(text, np.uint8).tobytes()
    return raw.split(b"\0", 1)[0].decode("ascii")


class BabyAIEnv(gym.Env):
    """`minigrid`'s `BabyAI-<task>-v0`; actions are minigrid's 7 (left, right, forward, pickup,
    drop, toggle, done). Success (reward > 0) terminates; running out of the level's
    `max_steps` (or `max_episode_steps` when set) truncates."""

    metadata = {"render_modes": []}

    def __init__(self, task: str, max_episode_steps: int = 0):
        self.task = task
        self.minigrid = make_minigrid(task)
        self.max_episode_steps = int(max_episode_steps)
        self.observation_space = gym.spaces.Dict({
            "image": gym.spaces.Box(0, 255, (VIEW, VIEW, 3), np.uint8),
            "direction": gym.spaces.Discrete(4),
            "mission": gym.spaces.Box(0, 127, (MISSION_BYTES,), np.uint8),
            "mission_tokens": gym.spaces.Box(0, len(VOCAB) - 1, (MISSION_TOKENS,), np.uint8),
        })
        self.action_space = gym.spaces.Discrete(self.minigrid.action_space.n)
        self.level: int | None = None
        self.mission = ""
        self._text = np.zeros(MISSION_BYTES, np.uint8)
        self._tokens = np.zeros(MISSION_TOKENS, np.uint8)

    def _obs(self, raw: dict) -> dict[str, Any]:
        return {"image": np.asarray(raw["image"], np.uint8), "direction": int(raw["direction"]),
                "mission": self._text.copy(), "mission_tokens": self._tokens.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        level = (options or {}).get("level")
        self.level = int(level) if level is not None else int(self.np_random.integers(2**31))
        raw, _ = quiet(self.minigrid.reset, seed=self.level)
        if self.max_episode_steps:  # after reset: BabyAI levels set their limit when generated
            self.minigrid.max_steps = self.max_episode_steps
        self.mission = str(raw["mission"])
        self._text, self._tokens = encode_mission(self.mission)
        return self._obs(raw), {"level": self.level, "mission": self.mission}

    def step(self, action):
        raw, reward, terminated, truncated, _ = self.minigrid.step(int(action))
        info: dict[str, Any] = {"level": self.level, "mission": self.mission}
        if terminated or truncated:
            info["success"] = bool(reward > 0)
        return self._obs(raw), float(reward), bool(terminated), bool(truncated and not terminated), info

    def close(self) -> None:
        self.minigrid.close()
