"""BabyAI env family (Chevalier-Boisvert et al. 2019) through minigrid's levels: seed splits,
held-out instruction compositions, a text rendering of the view, and the BabyAI bot as an expert
(see docs/babyai.md)."""

from rlgen.envs.babyai.family import BabyAIFamily

__all__ = ["BabyAIFamily"]
