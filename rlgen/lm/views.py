"""Observations as what a language-model policy reads: a goal sentence and a list of items, each
a name from a fixed table of short phrases plus its position relative to the agent.

A family offers a view through `EnvFamily.lm_view(spec)`. Names come from the family's text
rendering (BabyAI's object phrases, MiniHack's glyph descriptions), so a policy can embed each
name once with the LM's own token embeddings and look names up by index at every step; the
position stays numeric, since a bag of position words ("1 step forward and 2 steps left")
would lose which number goes with which direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Items:
    """A batch of item lists, left-aligned: names (B, N) indices into the view's `names`,
    positions (B, N, geometry_dim), mask (B, N) true for real items."""

    names: np.ndarray
    positions: np.ndarray
    mask: np.ndarray


def left_align(names: np.ndarray, positions: np.ndarray, mask: np.ndarray) -> Items:
    """Real items first in each row (stable), then cut to the longest row (at least one)."""
    order = np.argsort(~mask, axis=1, kind="stable")
    n = max(1, int(mask.sum(1).max()) if len(mask) else 1)
    order = order[:, :n]
    rows = np.arange(len(mask))[:, None]
    return Items(names[rows, order], positions[rows, order], mask[rows, order])


class LMView:
    """Base: `names`, `action_names`, `lexicon` (every word a goal may use) and `geometry_dim`;
    `goals(obs)` and `items(obs)` read a batch of observations (dicts of numpy arrays)."""

    geometry_dim: int = 2
    lexicon: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # the observation keys `goals` and `items` read

    @cached_property
    def names(self) -> list[str]:
        raise NotImplementedError

    def goals(self, obs: dict[str, np.ndarray]) -> list[str]:
        raise NotImplementedError

    def items(self, obs: dict[str, np.ndarray]) -> Items:
        raise NotImplementedError


class BabyAIView(LMView):
    """Every visible non-empty cell of the 7x7 view (walls and doors included; the carried object
    sits on the agent's cell, at position (0, 0)), named as the text rendering names it ('a red
    ball', 'a closed blue door', 'a wall'); position = (steps forward / 6, steps right / 3). The
    goal is the mission string."""

    ACTIONS = ("turn left", "turn right", "go forward", "pick up", "drop", "toggle", "done")
    keys = ("image", "mission")

    def __init__(self, spec: Any):
        from rlgen.envs.babyai.env import VOCAB

        self.action_names = list(self.ACTIONS[:spec.num_actions])
        self.lexicon = tuple(w for w in VOCAB if not w.startswith("<")) + (",",)

    @cached_property
    def names(self) -> list[str]:
        from rlgen.envs.babyai.text import COLOURS, DOOR_STATES, OBJECTS, object_name

        return [object_name(o, c, s) for o in range(len(OBJECTS)) for c in range(len(COLOURS))
                for s in range(len(DOOR_STATES))]

    def goals(self, obs: dict[str, np.ndarray]) -> list[str]:
        from rlgen.envs.babyai.env import decode_mission

        return [decode_mission(row) for row in np.asarray(obs["mission"])]

    def items(self, obs: dict[str, np.ndarray]) -> Items:
        from rlgen.envs.babyai.text import AGENT_X, AGENT_Y, COLOURS, DOOR_STATES

        image = np.asarray(obs["image"]).astype(np.int64)          # (B, 7, 7, 3), image[b, x, y]
        b, w, h, _ = image.shape
        obj, colour, state = image[..., 0], image[..., 1], image[..., 2]
        names = (obj * len(COLOURS) + np.minimum(colour, len(COLOURS) - 1)) * len(DOOR_STATES) \
            + np.minimum(state, len(DOOR_STATES) - 1)
        mask = obj > 1                                              # not unseen (0) / empty (1)
        xs, ys = np.meshgrid(np.arange(w), np.arange(h), indexing="ij")
        pos = np.stack([(AGENT_Y - ys) / (h - 1), (xs - AGENT_X) / AGENT_X], -1).astype(np.float32)
        pos = np.broadcast_to(pos, (b, w, h, 2))
        return left_align(names.reshape(b, -1), pos.reshape(b, -1, 2), mask.reshape(b, -1))


class MiniHackView(LMView):
    """Every cell of the 9x9 crop around the agent that shows something (not blank or
    unexplored rock), named by its glyph's description as the text rendering's legend names it
    ('doorway', 'skeleton key', 'staircase down', the agent's own monster); position =
    (rows down / 4, columns right / 4). MiniHack levels carry no mission, so the goal is one
    sentence for the family's navigation tasks."""

    GOAL = "reach the staircase down"
    keys = ("glyphs_crop",)

    def __init__(self, spec: Any):
        env = spec.make_env()
        self.action_names = list(env.action_names)
        env.close()
        self.lexicon = (self.GOAL,)
        self.crop = 9

    @cached_property
    def names(self) -> list[str]:
        from nle import nethack as nh

        from rlgen.envs.minihack.text import glyph_description

        return [glyph_description(g) for g in range(nh.MAX_GLYPH)]

    def goals(self, obs: dict[str, np.ndarray]) -> list[str]:
        return [self.GOAL] * len(np.asarray(obs["glyphs_crop"]))

    def items(self, obs: dict[str, np.ndarray]) -> Items:
        from nle import nethack as nh

        glyphs = np.asarray(obs["glyphs_crop"]).astype(np.int64)    # (B, 9, 9)
        b, h, w = glyphs.shape
        mask = (glyphs != 0) & (glyphs != nh.GLYPH_CMAP_OFF)        # crop padding / dark rock
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        pos = np.stack([(ys - h // 2) / (h // 2), (xs - w // 2) / (w // 2)], -1).astype(np.float32)
        pos = np.broadcast_to(pos, (b, h, w, 2))
        names = np.clip(glyphs, 0, nh.MAX_GLYPH - 1)
        return left_align(names.reshape(b, -1), pos.reshape(b, -1, 2), mask.reshape(b, -1))
