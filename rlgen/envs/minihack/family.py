"""The MiniHack family: tasks and cross-task pairs from envs/minihack.toml, seed splits,
subprocess vector envs, the encoder."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from rlgen.envs.base import EnvFamily, EnvSpec, LevelSampler
from rlgen.envs.splits import Split, Splits

VECTOR_MODES = ("async", "sync")
ENCODER_KEYS = frozenset({"glyphs", "glyphs_crop", "blstats"})  # what GlyphEncoder reads
#: what the text rendering's crop reads: the crops, or the full maps and the agent's position
TEXT_KEYS = ({"chars_crop", "glyphs_crop", "message"}, {"chars", "glyphs", "blstats", "message"})


def seed_lists(options: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(train, val, test) seeds: two consecutive ranges and a fixed draw far above them."""
    n, v = int(options["num_levels"]), int(options["val_levels"])
    low, high, count = int(options["test_low"]), int(options["test_high"]), int(options["test_count"])
    rng = np.random.default_rng(int(options["test_seed"]))
    draws = rng.integers(low, high, size=count * 2)
    # De-duplicate keeping draw order, so the list is stable whatever count is.
    test = tuple(list(dict.fromkeys(int(x) for x in draws))[:count])
    return tuple(range(n)), tuple(range(n, n + v)), test


class MiniHackFamily(EnvFamily):
    name = "minihack"
    capabilities = frozenset({"discrete_actions", "encoder", "text"})

    @property
    def default_options(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(self.spec_file["defaults"])

    @property
    def cross_tasks(self) -> dict[str, dict[str, str]]:
        return dict(self.spec_file.get("cross_task", {}))

    def tasks(self) -> list[str]:
        return list(self.spec_file["tasks"]) + list(self.cross_tasks)

    def check_options(self, task: str, options: dict[str, Any]) -> None:
        if int(options["num_levels"]) < 1:
            raise ValueError("num_levels must be at least 1")
        if int(options["num_levels"]) + int(options["val_levels"]) > int(options["test_low"]):
            raise ValueError("train and val seeds would reach into the test seed range")
        if int(options["test_count"]) < 1 or int(options["test_high"]) - int(options["test_low"]) < \
                2 * int(options["test_count"]):
            raise ValueError("test_count must be >= 1 and fit twice into [test_low, test_high)")
        if options["vector"] not in VECTOR_MODES:
            raise ValueError(f"vector must be one of {VECTOR_MODES}, got {options['vector']!r}")
        from rlgen.envs.minihack.env import DEFAULT_OBS_KEYS

        unknown = set(options["observation_keys"]) - set(DEFAULT_OBS_KEYS) - {
            "colors", "specials", "colors_crop", "specials_crop", "tty_colors", "tty_cursor",
            "inv_strs", "inv_letters", "inv_oclasses", "screen_descriptions"}
        if unknown:
            raise ValueError(f"unsupported observation keys {sorted(unknown)}")
        for pair in self.cross_tasks.values():
            for key in ("train_task", "test_task"):
                if pair[key] not in self.spec_file["tasks"]:
                    raise ValueError(f"envs/minihack.toml: cross-task {key} {pair[key]!r} is not a task")

    def task_pair(self, task: str) -> tuple[str, str] | None:
        """(train task, test task) of a cross-task spec, None for a single task."""
        pair = self.cross_tasks.get(task)
        return (pair["train_task"], pair["test_task"]) if pair else None

    def build_splits(self, task: str, options: dict[str, Any]) -> Splits:
        train, val, test = seed_lists(options)
        n, v = len(train), len(val)
        test_desc = (f"{len(test)} seeds from default_rng({options['test_seed']}) over "
                     f"[{options['test_low']}, {options['test_high']})")
        pair = self.task_pair(task)
        if pair is None:
            return Splits({
                "train": Split("train", train, f"seeds 0..{n - 1}"),
                "val": Split("val", val, f"seeds {n}..{n + v - 1}"),
                "test": Split("test", test, test_desc),
            })
        a, b = pair

        def tag(t: str, seeds: Sequence[int]) -> tuple[str, ...]:
            return tuple(f"{t}@{s}" for s in seeds)

        return Splits({
            "train": Split("train", tag(a, train), f"{a} seeds 0..{n - 1}"),
            "val": Split("val", tag(a, val), f"{a} seeds {n}..{n + v - 1}"),
            "test": Split("test", tag(b, test), f"{b}: {test_desc}"),
            "test_in_task": Split("test_in_task", tag(a, test), f"{a}: {test_desc}"),
        })

    def make_env(self, task: str, options: dict[str, Any], **kwargs: Any) -> gym.Env:
        from rlgen.envs.minihack.env import CrossTaskEnv, MiniHackEnv

        keys = tuple(options["observation_keys"])
        steps = int(options["max_episode_steps"])
        pair = self.task_pair(task)
        if pair is not None:
            return CrossTaskEnv(pair, keys, steps)
        return MiniHackEnv(task, keys, steps)

    def make_vec_env(self, spec: EnvSpec, levels: Sequence[Hashable], num_envs: int, seed: int):
        """NLE keeps one game per process, so stepping envs in subprocesses runs them in
        parallel; `vector="sync"` keeps them in this process (cheaper for one or two envs)."""
        fns = [(lambda i=i: LevelSampler(self.make_env(spec.task, spec.options), levels, seed + i))
               for i in range(num_envs)]
        if spec.options["vector"] == "sync" or num_envs == 1:
            return gym.vector.SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
        return gym.vector.AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP,
                                         context="fork")

    def spec_capabilities(self, spec: EnvSpec) -> frozenset[str]:
        caps = set(super().spec_capabilities(spec))
        keys = set(spec.options["observation_keys"])
        if ENCODER_KEYS - keys:
            caps -= {"encoder", "scorer"}  # the encoder has nothing to read
        if not any(view <= keys for view in TEXT_KEYS):
            caps.discard("text")
        return frozenset(caps)

    def text_view(self, spec: EnvSpec):
        from rlgen.envs.minihack.text import text_view

        env = spec.make_env()
        names = list(env.action_names)
        env.close()
        return text_view(spec.task, names)

    def encoder_schema(self, spec: EnvSpec) -> dict[str, Any] | None:
        from rlgen.config import dataclass_schema
        from rlgen.envs.minihack.encoder import GlyphEncoderConfig

        return dataclass_schema(GlyphEncoderConfig) if "encoder" in spec.capabilities else {}

    def make_encoder(self, spec: EnvSpec, **kwargs: Any):
        from rlgen.envs.minihack.encoder import GlyphEncoder, GlyphEncoderConfig

        keys = set(spec.options["observation_keys"])
        missing = ENCODER_KEYS - keys
        if missing:
            raise ValueError(f"the MiniHack encoder reads observation keys {sorted(missing)}")
        return GlyphEncoder(GlyphEncoderConfig(**kwargs))

    def make_scorer(self, spec: EnvSpec, outputs_per_action: int = 1):
        from rlgen.envs.minihack.encoder import GlyphScorer

        return GlyphScorer(self.make_encoder(spec), spec.num_actions, outputs_per_action)

    def return_bounds(self, task: str, options: dict[str, Any]) -> tuple[float, float]:
        # Navigation tasks pay 1 for reaching the goal and 0 otherwise.
        return 0.0, 1.0

    def lm_view(self, spec: EnvSpec):
        """What language-model policies read: the crop's cells named as the text rendering's
        legend names them (needs the glyphs_crop observation key)."""
        if "glyphs_crop" not in spec.options["observation_keys"]:
            raise ValueError("language-model policies read MiniHack's glyphs_crop observation key")
        from rlgen.lm.views import MiniHackView

        return MiniHackView(spec)

    def named_policies(self, spec: EnvSpec) -> dict[str, Any]:
        """`--policy oracle` (the scripted shortest-path expert) or `--policy oracle:NOISE`
        (a uniform random action with probability NOISE at each step)."""
        from rlgen.envs.minihack.oracle import ORACLE_OBS_KEYS, OraclePolicy

        def oracle(noise: str | float = 0.0, seed: int = 0) -> OraclePolicy:
            try:
                p = float(noise)
            except ValueError:
                raise ValueError(f"oracle noise must be a number in [0, 1], got {noise!r}") from None
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"oracle noise must be in [0, 1], got {p}")
            missing = set(ORACLE_OBS_KEYS) - set(spec.options["observation_keys"])
            if missing:
                raise ValueError(f"the MiniHack oracle reads observation keys {sorted(missing)}")
            env = spec.make_env()
            names = list(env.action_names)
            env.close()
            return OraclePolicy(names, noise=p, seed=seed)

        return {"oracle": oracle}

