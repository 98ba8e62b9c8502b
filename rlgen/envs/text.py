"""What a language agent reads and says in an env: the family's text rendering of one
observation, the instruction, and the actions by name.

A family with the "text" capability returns a `TextView` from `text_view(spec)`. The names are
what a language model answers with; each maps to an env action index, so a family can offer a
subset (BabyAI's no-op "done" is left out, as BALROG does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TextAction:
    name: str  # what the model answers, e.g. "go forward"
    index: int  # the env action it plays
    help: str = ""  # one line the prompt gives next to the name


@dataclass(frozen=True)
class TextView:
    #: the game, as the prompt introduces it ("a BabyAI grid world")
    world: str
    actions: tuple[TextAction, ...]
    #: one unbatched observation -> its text (no instruction, no action list)
    describe: Callable[[dict[str, Any]], str]
    #: one unbatched observation -> the instruction the agent follows
    mission: Callable[[dict[str, Any]], str]
    #: hints the prompt adds after the action list
    tips: tuple[str, ...] = ()
    #: the name played when a model's answer names no action (BALROG: the env's default action)
    fallback: str = ""

    def __post_init__(self) -> None:
        names = [a.name for a in self.actions]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"action names must be distinct and non-empty, got {names}")
        if self.fallback and self.fallback not in names:
            raise ValueError(f"fallback {self.fallback!r} is not one of the actions {names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.actions)

    def index(self, name: str) -> int:
        """The env action a name plays."""
        for a in self.actions:
            if a.name == name:
                return a.index
        raise KeyError(name)
