"""Procgen: single Gymnasium env, a native batched vector env, and the family with its splits.

Frames stay HWC uint8 (N, 64, 64, 3): networks view them as NCHW with a permute, which is
already channels-last in memory, so no copy is made (a CHW copy costs ~25% of env throughput).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from rlgen.envs.base import EnvFamily, EnvSpec
from rlgen.envs.splits import Split, Splits

NUM_ACTIONS = 15
OBS_SHAPE = (64, 64, 3)


def _gym3_env(game: str, mode: str, start_level: int, num_levels: int, num: int = 1,
              rand_seed: int | None = None, num_threads: int = 0):
    import contextlib
    import io
    import warnings

    # gym<1 (a procgen dependency) prints a deprecation banner to stderr on import.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        from procgen import ProcgenGym3Env

    kwargs: dict[str, Any] = {}
    if rand_seed is not None:
        kwargs["rand_seed"] = int(rand_seed) % (2**31)
    return ProcgenGym3Env(num=num, env_name=game, start_level=int(start_level),
                          num_levels=int(num_levels), distribution_mode=mode,
                          num_threads=num_threads, **kwargs)


class ProcgenEnv(gym.Env):
    """One Procgen game as a plain `gymnasium.Env`.

    `reset(options={"level": seed})` pins a level; without it the env draws from
    `[start_level, start_level + num_levels)`. `info["level"]` names the level that ran.
    Procgen resets itself when an episode ends and never exposes the final frame, so the
    observation returned with `terminated=True` is the first frame of the next episode.
    Procgen does not separate timeouts from terminal states: both are reported as terminated.
    """

    metadata = {"render_modes": []}

    def __init__(self, game: str, distribution_mode: str = "easy", start_level: int = 0,
                 num_levels: int = 0):
        self.game, self.mode = game, distribution_mode
        self.start_level, self.num_levels = start_level, num_levels
        self.observation_space = gym.spaces.Box(0, 255, OBS_SHAPE, np.uint8)
        self.action_space = gym.spaces.Discrete(NUM_ACTIONS)
        self._env = None
        self._pinned: int | None = None
        self._at_start = False
        self._action = np.zeros(1, dtype=np.int32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        level = (options or {}).get("level")
        reusable = self._env is not None and self._at_start and seed is None
        if level is not None:
            level = int(level)
            if not (reusable and self._pinned == level):
                self._open(level, 1, seed)
            self._pinned = level
        elif not (reusable and self._pinned is None):
            self._open(self.start_level, self.num_levels, seed)
            self._pinned = None
        _, obs, _ = self._env.observe()
        self._at_start = False
        return obs["rgb"][0], {"level": int(self._env._info["level_seed"][0])}

    def _open(self, start_level: int, num_levels: int, seed: int | None) -> None:
        if self._env is not None:
            self._env.close()
        if seed is None:
            seed = int(self.np_random.integers(2**31))
        self._env = _gym3_env(self.game, self.mode, start_level, num_levels, rand_seed=seed)

    def step(self, action):
        if self._env is None:
            raise RuntimeError("call reset() before step()")
        self._action[0] = action
        self._env.act(self._action)
        rew, obs, first = self._env.observe()
        info = self._env._info
        done = bool(first[0])
        level = info["prev_level_seed"][0] if done else info["level_seed"][0]
        self._at_start = done
        out = {"level": int(level)}
        if done:
            out["success"] = bool(info["prev_level_complete"][0])
        return obs["rgb"][0], float(rew[0]), done, False, out

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None


class ProcgenVecEnv(gym.vector.VectorEnv):
    """Procgen's own batched env behind Gymnasium's vector API (same-step autoreset).

    Levels are drawn by Procgen from `[start_level, start_level + num_levels)`; `infos["level"]`
    gives each env's level (for a finished episode, the level it finished).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, game: str, num_envs: int, distribution_mode: str = "easy",
                 start_level: int = 0, num_levels: int = 200, seed: int = 0,
                 num_threads: int | None = None):
        self.game, self.mode = game, distribution_mode
        self.start_level, self.num_levels = start_level, num_levels
        # Procgen steps its envs on this many threads (2-4 are as fast as more at 64 envs).
        self.num_threads = num_threads if num_threads is not None else min(4, os.cpu_count() or 1)
        self.num_envs, self._seed = num_envs, seed
        self.single_observation_space = gym.spaces.Box(0, 255, OBS_SHAPE, np.uint8)
        self.single_action_space = gym.spaces.Discrete(NUM_ACTIONS)
        self.observation_space = gym.spaces.Box(0, 255, (num_envs, *OBS_SHAPE), np.uint8)
        self.action_space = gym.spaces.MultiDiscrete(np.full(num_envs, NUM_ACTIONS))
        self._env = None
        self._no_trunc = np.zeros(num_envs, dtype=bool)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._seed = seed
        if self._env is not None:
            self._env.close()
        self._env = _gym3_env(self.game, self.mode, self.start_level, self.num_levels,
                              num=self.num_envs, rand_seed=self._seed, num_threads=self.num_threads)
        _, obs, _ = self._env.observe()
        return obs["rgb"], {"level": self._env._info["level_seed"].astype(np.int64)}

    def step(self, actions):
        self._env.act(np.asarray(actions, dtype=np.int32))
        rew, obs, first = self._env.observe()
        info = self._env._info
        level = np.where(first, info["prev_level_seed"], info["level_seed"]).astype(np.int64)
        infos = {"level": level, "success": first & (info["prev_level_complete"] != 0)}
        return obs["rgb"], rew, first, self._no_trunc.copy(), infos

    def close_extras(self, **kwargs: Any) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None


def _is_contiguous(levels: Sequence[Hashable]) -> bool:
    if isinstance(levels, range):
        return levels.step == 1
    ints = list(levels)
    return bool(ints) and ints == list(range(int(ints[0]), int(ints[0]) + len(ints)))


class ProcgenFamily(EnvFamily):
    name = "procgen"
    capabilities = frozenset({"discrete_actions", "encoder"})

    @property
    def default_options(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(self.spec_file["defaults"])

    def check_options(self, task: str, options: dict[str, Any]) -> None:
        if options["distribution_mode"] not in ("easy", "hard"):
            raise ValueError(f"distribution_mode must be 'easy' or 'hard', got {options['distribution_mode']!r}")
        if int(options["num_levels"]) < 1:
            raise ValueError("num_levels must be at least 1 (num_levels=0 means unseeded random levels)")
        if int(options["num_levels"]) + int(options["val_levels"]) > int(options["test_low"]):
            raise ValueError("train and val levels would reach into the test seed range")

    def build_splits(self, task: str, options: dict[str, Any]) -> Splits:
        from rlgen.envs.procgen_levels import duplicate_test_levels

        n, v = int(options["num_levels"]), int(options["val_levels"])
        train = tuple(range(n))
        val = tuple(range(n, n + v))
        rng = np.random.default_rng(int(options["test_seed"]))
        low, high, count = int(options["test_low"]), int(options["test_high"]), int(options["test_count"])
        # Draw with a margin and de-duplicate, keeping draw order, so the list is stable.
        draws = rng.integers(low, high, size=count * 2)
        candidates = list(dict.fromkeys(int(x) for x in draws))[:count]
        excluded: tuple[int, ...] = ()
        if options["exclude_duplicates"]:
            excluded = tuple(duplicate_test_levels(task, options["distribution_mode"],
                                                   train + val, candidates))
        drop = set(excluded)
        test = tuple(s for s in candidates if s not in drop)
        mode = options["distribution_mode"]
        return Splits(
            {
                "train": Split("train", train, f"levels 0..{n - 1}"),
                "val": Split("val", val, f"levels {n}..{n + v - 1}"),
                "test": Split("test", test, f"{len(test)} seeds from default_rng({options['test_seed']}) "
                              f"over [{low}, {high}), {len(excluded)} duplicates of train/val removed ({mode})"),
            },
            excluded={"test": excluded},
        )

    def make_env(self, task: str, options: dict[str, Any], **kwargs: Any) -> gym.Env:
        return ProcgenEnv(task, options["distribution_mode"], **kwargs)

    def make_vec_env(self, spec: EnvSpec, levels: Sequence[Hashable], num_envs: int, seed: int):
        if _is_contiguous(levels):
            return ProcgenVecEnv(spec.task, num_envs, spec.options["distribution_mode"],
                                 start_level=int(levels[0]), num_levels=len(levels), seed=seed)
        return super().make_vec_env(spec, levels, num_envs, seed)

    def make_encoder(self, spec: EnvSpec, channels: Sequence[int] = (16, 32, 32), out_dim: int = 256):
        from rlgen.nets.impala import ImpalaEncoder

        return ImpalaEncoder(OBS_SHAPE, tuple(channels), out_dim)

    def return_bounds(self, task: str, options: dict[str, Any]) -> tuple[float, float]:
        lo, hi = self.spec_file["normalization"][options["distribution_mode"]][task]
        return float(lo), float(hi)
