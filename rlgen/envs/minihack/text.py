"""Observations as text for language agents: deterministic, from the dict observation alone.

`render_text(obs, action_names)` gives a character crop around the agent (the `@` in the
middle), a legend naming every symbol in it (from the glyphs, so '+' reads as "closed door"
rather than a spellbook), the game message and the actions by name. `view="screen"` gives the
full 24x80 terminal instead. With `action` and `next_obs` it describes a transition.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

CROP = 9


@lru_cache(maxsize=8192)
def glyph_description(glyph: int) -> str:
    """What NetHack calls the thing a glyph shows ("floor of a room", "skeleton key", "newt")."""
    from nle import nethack as nh

    if glyph == nh.GLYPH_CMAP_OFF:  # S_stone: NetHack's table calls it a dark part of a room
        return "unexplored or solid rock"
    if nh.glyph_is_monster(glyph):
        return nh.permonst(nh.glyph_to_mon(glyph)).mname
    if nh.glyph_is_normal_object(glyph):
        obj = nh.objclass(nh.glyph_to_obj(glyph))
        return nh.OBJ_NAME(obj) or nh.OBJ_DESCR(obj) or "object"
    if nh.glyph_is_cmap(glyph):
        return nh.symdef.from_idx(nh.glyph_to_cmap(glyph)).explanation
    if nh.glyph_is_trap(glyph):
        return "trap"
    if nh.glyph_is_statue(glyph):
        return "statue"
    if nh.glyph_is_body(glyph):
        return "corpse"
    return "unknown"


def _rows(chars: np.ndarray) -> list[str]:
    return ["".join(chr(c) if 32 <= c < 127 else " " for c in row) for row in chars]


def message_text(obs: dict) -> str:
    raw = bytes(np.asarray(obs["message"], dtype=np.uint8)).split(b"\0", 1)[0]
    return raw.decode("ascii", "replace").strip()


def _crop(obs: dict, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(chars, glyphs) size x size around the agent, padded with blanks / stone."""
    from nle import nethack as nh

    if size == CROP and "chars_crop" in obs and "glyphs_crop" in obs:
        chars, glyphs = np.asarray(obs["chars_crop"]), np.asarray(obs["glyphs_crop"])
        # MiniHack pads crops with 0; show padding as blank, unexplored rock.
        return np.where(chars == 0, 32, chars), np.where(glyphs == 0, nh.GLYPH_CMAP_OFF, glyphs)
    x, y = int(obs["blstats"][0]), int(obs["blstats"][1])
    r = size // 2
    chars = np.pad(np.asarray(obs["chars"]), r, constant_values=32)[y:y + size, x:x + size]
    glyphs = np.pad(np.asarray(obs["glyphs"]), r, constant_values=nh.GLYPH_CMAP_OFF)[y:y + size, x:x + size]
    return chars, glyphs


def legend(chars: np.ndarray, glyphs: np.ndarray, center: tuple[int, int] | None = None) -> list[str]:
    """One line per distinct (symbol, meaning) pair, in reading order of first appearance."""
    seen: dict[tuple[str, str], None] = {}
    for (i, j), c in np.ndenumerate(chars):
        ch = chr(int(c)) if 32 <= c < 127 else " "
        meaning = "you" if (i, j) == center else glyph_description(int(glyphs[i, j]))
        seen.setdefault((ch, meaning), None)
    return [f"{'blank' if ch == ' ' else ch}: {m}" for ch, m in seen]


def render_observation(obs: dict, action_names: Sequence[str], view: str = "crop",
                       crop: int = CROP, with_actions: bool = True) -> str:
    if view == "crop":
        chars, glyphs = _crop(obs, crop)
        r = crop // 2
        grid = "\n".join(_rows(chars))
        lines = [f"Map ({crop}x{crop} around you, you are the @ in the middle):", grid,
                 "Legend:", *(f"  {x}" for x in legend(chars, glyphs, center=(r, r)))]
    elif view == "screen":
        if "tty_chars" not in obs:
            raise ValueError("view='screen' needs the tty_chars observation key")
        lines = ["Screen (24x80):", "\n".join(r.rstrip() for r in _rows(obs["tty_chars"]))]
    else:
        raise ValueError(f"view must be 'crop' or 'screen', got {view!r}")
    msg = message_text(obs)
    lines.append(f"Message: {msg if msg else '(none)'}")
    if with_actions:
        lines.append("Actions: " + ", ".join(f"{i}: {n}" for i, n in enumerate(action_names)))
    return "\n".join(lines)


def render_text(obs: dict, action_names: Sequence[str], action: int | None = None,
                next_obs: dict | None = None, view: str = "crop", crop: int = CROP) -> str:
    """Text of an observation; with `action` (and `next_obs`), of a transition."""
    text = render_observation(obs, action_names, view, crop)
    if action is None:
        return text
    if not 0 <= int(action) < len(action_names):
        raise ValueError(f"action {action} is not one of the {len(action_names)} actions")
    text += f"\nAction taken: {int(action)}: {action_names[int(action)]}"
    if next_obs is not None:
        text += "\nNext observation:\n" + render_observation(next_obs, action_names, view, crop)
    return text


#: What the agent is asked to do, by task-name prefix (longest match; "" for the rest): rlgen's
#: MiniHack tasks end when the agent reaches the staircase down.
MISSIONS = {
    "": "reach the staircase down, shown as >",
    "KeyRoom": "pick up the key, unlock the door by applying the key toward it, then reach the "
               "staircase down, shown as >",
    "River": "cross the water (push boulders into it to make a path) and reach the staircase "
             "down, shown as >",
    "CorridorBattle": "fight the monsters in the corridor and reach the staircase down, shown as >",
}


def mission(task: str) -> str:
    return MISSIONS[max((p for p in MISSIONS if task.startswith(p)), key=len)]


def text_view(task: str, action_names: Sequence[str]):
    """The crop rendering with its legend and message; every env action by its NLE name."""
    from rlgen.envs.text import TextAction, TextView

    names = list(action_names)
    goal = mission(task)
    return TextView(
        world="NetHack through MiniHack: a map of characters around you (the @)",
        actions=tuple(TextAction(n, i) for i, n in enumerate(names)),
        describe=lambda obs: render_observation(obs, names, with_actions=False),
        mission=lambda obs: goal,
        tips=("move toward the goal along floor cells; walls block you",
              "if an action changed nothing, do not repeat it"),
        fallback=names[0])
