"""Splits are explicit, enumerated lists of level ids, checked disjoint when built."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field

SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    name: str
    levels: tuple[Hashable, ...]
    description: str = ""

    def __len__(self) -> int:
        return len(self.levels)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.levels)

    def episode_levels(self, episodes: int) -> list[Hashable]:
        """The level of each of `episodes` evaluation episodes: the list in order, cycled."""
        if not self.levels:
            raise ValueError(f"split {self.name!r} is empty")
        return [self.levels[i % len(self.levels)] for i in range(episodes)]


@dataclass(frozen=True)
class Splits:
    splits: dict[str, Split]
    excluded: dict[str, tuple[Hashable, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = list(self.splits)
        for i, a in enumerate(names):
            seen_a = set(self.splits[a].levels)
            if len(seen_a) != len(self.splits[a].levels):
                raise ValueError(f"split {a!r} lists a level twice")
            for b in names[i + 1 :]:
                both = seen_a.intersection(self.splits[b].levels)
                if both:
                    raise ValueError(
                        f"splits {a!r} and {b!r} overlap in {len(both)} levels, e.g. {sorted(both, key=str)[:5]}"
                    )

    def __getitem__(self, name: str) -> Split:
        if name not in self.splits:
            from rlgen.errors import UnknownNameError

            raise UnknownNameError("split", name, list(self.splits))
        return self.splits[name]

    def __contains__(self, name: str) -> bool:
        return name in self.splits
