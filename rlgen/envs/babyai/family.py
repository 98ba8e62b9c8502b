"""The BabyAI family: levels from envs/babyai.toml, seed splits filtered by held-out instruction
compositions, the encoder and the bot expert."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import gymnasium as gym

from rlgen.envs.base import EnvFamily, EnvSpec
from rlgen.envs.splits import Split, Splits

INSTRUCTION_FILTERS = ("seen", "heldout")
_PAIR = re.compile(r"\b(red|green|blue|purple|yellow|grey) (door|key|ball|box)\b")


def mission_pairs(mission: str) -> set[tuple[str, str]]:
    """The (colour, object type) pairs a mission names, e.g. {('red', 'ball')}."""
    return set(_PAIR.findall(mission.lower()))


@lru_cache(maxsize=64)
def missions(task: str, start: int, count: int) -> tuple[str, ...]:
    """The mission of each seed in `[start, start + count)`, generated once per process (about
    0.5 ms a seed for the one-room levels, 4 ms for GoTo and Open; docs/babyai.md)."""
    from rlgen.envs.babyai.env import make_minigrid, quiet

    env = make_minigrid(task)
    try:
        return tuple(str(quiet(env.reset, seed=s)[0]["mission"]) for s in range(start, start + count))
    finally:
        env.close()


class BabyAIFamily(EnvFamily):
    name = "babyai"
    capabilities = frozenset({"discrete_actions", "encoder", "text"})

    @property
    def default_options(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(self.spec_file["defaults"])

    def check_options(self, task: str, options: dict[str, Any]) -> None:
        if int(options["max_episode_steps"]) < 0:
            raise ValueError("max_episode_steps must be >= 0 (0: the level's own limit)")

    def heldout(self, task: str) -> frozenset[tuple[str, str]]:
        """The (colour, object type) pairs no training mission of `task` names."""
        table = self.spec_file["heldout"]
        pairs = table.get(task, table["default"])
        return frozenset((str(c), str(o)) for c, o in pairs)

    def build_splits(self, task: str, options: dict[str, Any]) -> Splits:
        heldout = self.heldout(task)
        splits, excluded = {}, set()
        for name, table in self.spec_file["splits"].items():
            start, count, which = int(table["start"]), int(table["count"]), table["instructions"]
            if which not in INSTRUCTION_FILTERS:
                raise ValueError(f"envs/babyai.toml: split {name!r} has instructions={which!r}; "
                                 f"expected one of {INSTRUCTION_FILTERS}")
            flagged = [bool(mission_pairs(m) & heldout) for m in missions(task, start, count)]
            keep = tuple(start + i for i, f in enumerate(flagged) if f == (which == "heldout"))
            if which == "heldout":
                if not keep:
                    continue  # no held-out pairs for this level (GoToRedBall)
            else:
                excluded |= {start + i for i, f in enumerate(flagged) if f}
            about = str(table.get("about", ""))
            if heldout:
                about += f"; held-out pairs: {sorted(heldout)}"
            splits[name] = Split(name, keep, about)
        listed = {s for split in splits.values() for s in split.levels}
        return Splits(splits, excluded={"heldout_instructions": tuple(sorted(excluded - listed))})

    def make_env(self, task: str, options: dict[str, Any], **kwargs: Any) -> gym.Env:
        from rlgen.envs.babyai.env import BabyAIEnv

        return BabyAIEnv(task, int(options["max_episode_steps"]))

    def make_encoder(self, spec: EnvSpec, **kwargs: Any):
        from rlgen.envs.babyai.encoder import BabyAIEncoder, BabyAIEncoderConfig

        return BabyAIEncoder(BabyAIEncoderConfig(**kwargs))

    def encoder_schema(self, spec: EnvSpec) -> dict[str, Any] | None:
        from rlgen.config import dataclass_schema
        from rlgen.envs.babyai.encoder import BabyAIEncoderConfig

        return dataclass_schema(BabyAIEncoderConfig)

    def text_view(self, spec: EnvSpec):
        """BabyAI-Text's phrases (rlgen.envs.babyai.text) and BALROG's six action names."""
        from rlgen.envs.babyai.text import text_view

        return text_view()

    def return_bounds(self, task: str, options: dict[str, Any]) -> tuple[float, float]:
        # BabyAI pays 1 - 0.9 * steps / max_steps on success and 0 otherwise
        return 0.0, 1.0

    def lm_view(self, spec: EnvSpec):
        """What language-model policies read: the mission and the view's cells as named items."""
        from rlgen.lm.views import BabyAIView

        return BabyAIView(spec)

    def named_policies(self, spec: EnvSpec) -> dict[str, Any]:
        """`--policy bot` (minigrid's BabyAIBot, planning on a replica of each slot's level) or
        `--policy bot:NOISE` (a uniform random action with probability NOISE at each step)."""
        from rlgen.envs.babyai.bot import BotPolicy

        def bot(noise: str | float = 0.0, seed: int = 0) -> BotPolicy:
            try:
                p = float(noise)
            except ValueError:
                raise ValueError(f"bot noise must be a number in [0, 1], got {noise!r}") from None
            return BotPolicy(spec, p, seed)

        return {"bot": bot}
