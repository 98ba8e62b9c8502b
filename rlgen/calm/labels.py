"""Ground truth for KeyRoom's two subgoals, from the env's own events (CALM's dataset rules).

- "pick up the key": the action is PICKUP and the next message is an inventory line naming a
  key ("g - a key named The Master Key of Thievery.").
- "open the door": a closed door on the map became open: the number of closed-door glyphs in
  the (remembered) map dropped. In KeyRoom that only happens through APPLY with the key in
  hand (walking into the locked door answers "This door is locked."); in MultiRoom it also
  happens by walking into a door. CALM counts '+' characters on the terminal instead, which
  also counts spellbooks; the glyphs say which '+' is a door.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from rlgen.calm.prompts import DOOR_SUBGOAL, KEY_SUBGOAL
from rlgen.calm.transition import Transition
from rlgen.envs.minihack.text import message_text

KEY_PICKUP = re.compile(r"^[A-Za-z] - .*\bkey\b")


@lru_cache(maxsize=1)
def _closed_door_glyphs() -> np.ndarray:
    from nle import nethack as nh

    from rlgen.envs.minihack.oracle import CLOSED_DOOR_CMAPS

    return np.array([nh.GLYPH_CMAP_OFF + c for c in CLOSED_DOOR_CMAPS])


def closed_doors(obs: Mapping[str, np.ndarray]) -> int:
    return int(np.isin(np.asarray(obs["glyphs"]), _closed_door_glyphs()).sum())


def key_picked_up(tr: Transition) -> bool:
    return tr.action_name(tr.action) == "pickup" and bool(KEY_PICKUP.match(message_text(tr.next_obs)))


def door_opened(tr: Transition) -> bool:
    return closed_doors(tr.next_obs) < closed_doors(tr.obs)


def oracle_labels(tr: Transition) -> dict[str, bool]:
    """The preset subgoals achieved by this transition's action."""
    return {KEY_SUBGOAL: key_picked_up(tr), DOOR_SUBGOAL: door_opened(tr)}
