"""MiniHack env family (see docs/minihack.md)."""

from rlgen.envs.minihack.family import MiniHackFamily

__all__ = ["MiniHackFamily"]
