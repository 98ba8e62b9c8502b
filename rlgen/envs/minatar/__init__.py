"""MinAtar env family (Young & Tian 2019) with batched torch Breakout and SpaceInvaders
(see docs/minatar.md)."""

from rlgen.envs.minatar.family import MinAtarFamily

__all__ = ["MinAtarFamily"]
