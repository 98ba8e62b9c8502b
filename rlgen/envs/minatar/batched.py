"""N MinAtar games stepped as torch arrays: sticky actions, auto-reset, levels, Gymnasium's
vector API.

A batched game (`batched_breakout`, `batched_space_invaders`) only holds the game state; this
module adds what `minatar.Environment` and the vector env add around it. Random numbers come
from a draw source, so tests can feed the batched envs exactly the draws the package's
per-env RandomStates make (tests/test_minatar.py); the default source is a seeded torch
generator plus the levels' start draws.

With `compile=True` the whole vector step (sticky actions, the game's rules, auto-reset and the
frame) is one function of tensors compiled by inductor (compiled.py: a few fused loops instead
of ~40 torch calls, each of which costs more than its arithmetic at 1,024 envs on a CPU). It is
compiled once per game, env count and options in a process (seconds, on first use; needs a C
compiler on a CPU) and gives the same numbers as the eager step (tests/test_minatar.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode


class BatchedGame(Protocol):
    """The game state of N envs (see batched_breakout.py for the shape of one)."""

    channels: int

    def reset(self, mask: torch.Tensor, start: torch.Tensor) -> None: ...

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def obs(self) -> torch.Tensor: ...

    # The pure form, for the compiled step: the state as a tuple of tensors, and the rules as
    # static functions of the game's tables (`consts`) and a state.
    consts: tuple

    def state(self) -> tuple[torch.Tensor, ...]: ...

    def load(self, state: tuple[torch.Tensor, ...]) -> None: ...

    advance: Callable   # (consts, state, action) -> (state, reward, terminated)
    restart: Callable   # (consts, state, mask, start) -> state
    render: Callable    # (consts, state) -> obs


class Draws(Protocol):
    """Random numbers for N envs, in the order the package draws them. A source whose
    `new_episodes` ignores the mask (draws for every env) sets `mask_free = True`, so the
    compiled step can take its draws before it knows which episodes end."""

    def sticky(self) -> torch.Tensor:
        """(N,) uniforms in [0, 1): one per env per step, as `Environment.act` draws."""

    def new_episodes(self, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Levels and start draws (both (N,) int64) of the episodes starting where `mask`."""


class LevelDraws:
    """Each new episode gets a level drawn uniformly from `levels`; its start state is the one
    the package makes for that level (the game's reset draw from `RandomState(level)`, tabled
    once here). Sticky draws come from a torch generator seeded by `seed`. Both are drawn, and
    the picks turned into levels and starts, `block` steps at a time (a few kernels per block
    instead of a few per step)."""

    mask_free = True

    def __init__(self, levels: Sequence[int], starts: Sequence[int], num_envs: int, seed: int,
                 device: torch.device, block: int = 64):
        self.levels = torch.as_tensor(np.asarray(levels, dtype=np.int64), device=device)
        self.starts = torch.as_tensor(np.asarray(starts, dtype=np.int64), device=device)
        self.num_envs, self.device, self.block = num_envs, device, block
        self.generator = torch.Generator(device=device)
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(int(seed))
        self._uniforms, self._picks = self._draw_uniforms(), self._draw_picks()
        self._u = self._p = 0

    def _draw_uniforms(self) -> torch.Tensor:
        return torch.rand(self.block, self.num_envs, generator=self.generator, device=self.device)

    def _draw_picks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(block, N) levels and (block, N) start draws, one row per step."""
        picks = torch.randint(len(self.levels), (self.block * self.num_envs,), generator=self.generator,
                              device=self.device)
        shape = (self.block, self.num_envs)
        return self.levels.index_select(0, picks).view(shape), self.starts.index_select(0, picks).view(shape)

    def sticky(self) -> torch.Tensor:
        if self._u == self.block:
            self._uniforms, self._u = self._draw_uniforms(), 0
        self._u += 1
        return self._uniforms[self._u - 1]

    def new_episodes(self, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Drawn for every env and used where `mask`, so no device sync is needed.
        if self._p == self.block:
            self._picks, self._p = self._draw_picks(), 0
        self._p += 1
        return self._picks[0][self._p - 1], self._picks[1][self._p - 1]


class ConcatDraws:
    """The draws of several vector envs side by side (a population's envs stepped as one):
    each part keeps its own stream, so every env sees the draws it would see alone."""

    mask_free = True

    def __init__(self, parts: Sequence[LevelDraws]):
        self.parts = list(parts)
        self.sizes = [p.num_envs for p in self.parts]

    def reseed(self, seeds: Sequence[int]) -> None:
        for part, seed in zip(self.parts, seeds, strict=True):
            part.reseed(seed)

    def sticky(self) -> torch.Tensor:
        return torch.cat([p.sticky() for p in self.parts])

    def new_episodes(self, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        drawn = [p.new_episodes(m) for p, m in zip(self.parts, mask.split(self.sizes), strict=True)]
        return torch.cat([d[0] for d in drawn]), torch.cat([d[1] for d in drawn])


class BatchedMinAtar:
    """N envs of one game: `step(actions)` applies sticky actions, steps the game, and resets
    finished envs in the same step (their returned observation is the new episode's first).

    `actions` index `action_set` (the package's action indices). The previously executed action
    carries over across auto-resets, as in the package; `reset()` sets it to 0 (a fresh env).
    `compile`: step through the compiled `whole_step` (see the module docstring)."""

    def __init__(self, game: BatchedGame, draws: Draws, action_set: Sequence[int],
                 sticky_action_prob: float = 0.1, max_episode_steps: int = 0, compile: bool = False):
        self.game, self.draws = game, draws
        self.device = game.device
        self.num_envs = game.num_envs
        self.action_set = torch.as_tensor(list(action_set), dtype=torch.long, device=self.device)
        self._identity = list(action_set) == list(range(len(action_set)))
        self.sticky_action_prob = float(sticky_action_prob)
        self.max_episode_steps = int(max_episode_steps)
        n = self.num_envs
        self.last_action = torch.zeros(n, dtype=torch.long, device=self.device)
        self.level = torch.zeros(n, dtype=torch.long, device=self.device)
        self.t = torch.zeros(n, dtype=torch.long, device=self.device)
        self.compile = bool(compile)
        if self.compile and sys.byteorder != "little":
            raise ValueError("compile=True needs a little-endian machine (frames are built as words)")
        # the options the compiled step specializes on (constants of its graph)
        self._static = dict(game=type(game), p=self.sticky_action_prob, max_steps=self.max_episode_steps,
                            identity=self._identity)
        self._everyone = torch.ones(n, dtype=torch.bool, device=self.device)
        self._fns: dict[str, Callable] = {}

    def reset(self) -> torch.Tensor:
        everyone = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self.last_action = torch.zeros_like(self.last_action)
        if self.compile:
            # through the compiled restart: the state stays in the form the compiled step
            # returns (ordinary tensors; the eager reset makes inference tensors)
            self.t = torch.zeros_like(self.t)
            new_level, start = self.draws.new_episodes(everyone)
            state, self.level, obs = self._compiled("restart_render")(
                self.game.state(), everyone, self.level, new_level, start)
            self.game.load(state)
            return obs
        self._new_episodes(everyone)
        return self.game.obs()

    def _new_episodes(self, mask: torch.Tensor) -> None:
        level, start = self.draws.new_episodes(mask)
        with torch.inference_mode():
            self.level = torch.where(mask, level, self.level)
            if self.max_episode_steps:
                self.t = torch.where(mask, 0, self.t)
        self.game.reset(mask, start)

    def step(self, actions: torch.Tensor):
        """-> (obs, reward, terminated, truncated, level of the episode that ran this step)."""
        if self.compile:
            return self._compiled_step(actions)
        # Bookkeeping runs in inference mode (cheaper small calls); the observation, reward and
        # termination flags come back as ordinary tensors, the level (a label) as it is.
        with torch.inference_mode():
            a = actions.to(self.device, torch.long)
            if not self._identity:
                a = self.action_set.index_select(0, a)
            a = torch.where(self.draws.sticky() < self.sticky_action_prob, self.last_action, a)
            self.last_action = a
        reward, terminated = self.game.step(a)
        if self.max_episode_steps:
            with torch.inference_mode():
                self.t = self.t + 1
                ended = (self.t >= self.max_episode_steps) | terminated
            truncated = ended & ~terminated
            done = ended
        else:
            truncated, done = torch.zeros_like(terminated), terminated
        level = self.level
        self._new_episodes(done)
        return self.game.obs(), reward, terminated, truncated, level

    def _compiled(self, name: str) -> Callable:
        fn = self._fns.get(name)
        if fn is None:
            from rlgen.envs.minatar.compiled import CompiledStep

            fn = self._fns[name] = CompiledStep(name, self.game, self._static)
        return fn

    def _compiled_step(self, actions: torch.Tensor):
        a = actions.to(self.device, torch.long)
        u, game = self.draws.sticky(), self.game
        head = (game.state(), self.action_set, self.last_action, self.t, a, u)
        level = self.level
        if getattr(self.draws, "mask_free", False):
            new_level, start = self.draws.new_episodes(self._everyone)
            state, self.last_action, self.t, self.level, obs, reward, terminated, truncated = (
                self._compiled("whole_step")(*head, level, new_level, start))
            game.load(state)
            return obs, reward, terminated, truncated, level
        # draws that depend on which episodes ended (the tests' package draws): two calls
        state, self.last_action, self.t, reward, terminated, truncated, done = (
            self._compiled("until_ends")(*head))
        new_level, start = self.draws.new_episodes(done)
        state, self.level, obs = self._compiled("restart_render")(state, done, level, new_level, start)
        game.load(state)
        return obs, reward, terminated, truncated, level


class MinAtarVecEnv(gym.vector.VectorEnv):
    """`BatchedMinAtar` behind Gymnasium's vector API (same-step autoreset). Returns numpy
    arrays like the other families' vector envs, or torch tensors on `device` with
    `as_tensors=True`; `tensor_obs=True` returns only the observations as tensors (what PPO's
    rollout keeps on its device; rewards and flags feed numpy bookkeeping). `infos["level"]` is
    the level each env ran (for a finished episode, the level it finished), as in Procgen's
    vector env."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, engine: BatchedMinAtar, seed: int | Sequence[int] = 0, as_tensors: bool = False,
                 tensor_obs: bool = False):
        self.engine, self.as_tensors, self._seed = engine, as_tensors, seed
        self.tensor_obs = tensor_obs or as_tensors
        n, c = engine.num_envs, engine.game.channels
        self.num_envs = n
        self.single_observation_space = gym.spaces.Box(0, 1, (10, 10, c), np.uint8)
        self.single_action_space = gym.spaces.Discrete(len(engine.action_set))
        self.observation_space = gym.spaces.Box(0, 1, (n, 10, 10, c), np.uint8)
        self.action_space = gym.spaces.MultiDiscrete(np.full(n, len(engine.action_set)))

    def _obs(self, x: torch.Tensor) -> Any:
        return x if self.tensor_obs else self._out(x)

    def _out(self, x: torch.Tensor) -> Any:
        if self.as_tensors:
            return x
        return x.numpy() if x.device.type == "cpu" else x.cpu().numpy()

    @classmethod
    def concat(cls, envs: Sequence[MinAtarVecEnv]) -> MinAtarVecEnv:
        """One vector env stepping all of `envs`' envs as one array (same game and options),
        each part on its own draws: `reset(seed=[seed of each part])` then steps every env as
        the part it came from would alone."""
        first = envs[0].engine
        for e in envs:
            if (type(e.engine.game) is not type(first.game) or not isinstance(e.engine.draws, LevelDraws)
                    or e.engine.action_set.tolist() != first.action_set.tolist()
                    or (e.engine.sticky_action_prob, e.engine.max_episode_steps, e.engine.compile,
                        e.as_tensors, e.tensor_obs)
                    != (first.sticky_action_prob, first.max_episode_steps, first.compile,
                        envs[0].as_tensors, envs[0].tensor_obs)):
                raise ValueError("only envs of one game with the same options can be concatenated")
        total = sum(e.num_envs for e in envs)
        game = type(first.game)(total, first.device, ramping=getattr(first.game, "ramping", True))
        engine = BatchedMinAtar(game, ConcatDraws([e.engine.draws for e in envs]), first.action_set.tolist(),
                                first.sticky_action_prob, first.max_episode_steps, first.compile)
        return cls(engine, seed=[e._seed for e in envs], as_tensors=envs[0].as_tensors,
                   tensor_obs=envs[0].tensor_obs)

    def reset(self, *, seed: int | Sequence[int] | None = None, options: dict | None = None):
        """`seed`: one per part for a concatenation (`concat`)."""
        if seed is not None:
            self._seed = seed
        draws = self.engine.draws
        if isinstance(draws, LevelDraws | ConcatDraws):
            draws.reseed(self._seed)
        obs = self.engine.reset()
        return self._obs(obs), {"level": self._out(self.engine.level)}

    def step(self, actions):
        if isinstance(actions, np.ndarray):
            actions = torch.from_numpy(actions)
        actions = torch.as_tensor(actions, device=self.engine.device)
        obs, reward, terminated, truncated, level = self.engine.step(actions)
        return (self._obs(obs), self._out(reward), self._out(terminated), self._out(truncated),
                {"level": self._out(level)})
