"""A transition as CALM's text: two steps (Time 0 = s_t, Time 1 = s_{t+1}), each either the
9x9 crop around the agent with the message and the last/next action names, or the full 24x80
terminal screen.

The grids come from rlgen's MiniHack text rendering (rlgen.envs.minihack.text), so the crop
and the screen read the same as for the language agents. In the tty view the action is not
written by default, as in CALM's final protocol: the model has to read it off its effects.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rlgen.calm.transition import Transition
from rlgen.envs.minihack.text import CROP, _crop, _rows, message_text

VIEWS = ("tty", "crop")
#: Rows of NetHack's 24x80 terminal: the message line, the 21 map rows, two status lines.
MAP_ROWS = range(1, 22)


def _join(row: str, separator: str) -> str:
    return separator.join(row) if separator else row


def render_screen(obs: Mapping[str, np.ndarray], separator: str = " ") -> str:
    """The terminal: map rows with their characters joined by `separator` (one token per cell
    for most tokenizers), message and status rows as they are."""
    if "tty_chars" not in obs:
        raise ValueError("the tty view needs the tty_chars observation key")
    rows = _rows(np.asarray(obs["tty_chars"]))
    return "\n".join(_join(r.rstrip(), separator) if i in MAP_ROWS else r.rstrip()
                     for i, r in enumerate(rows))


def render_crop(obs: Mapping[str, np.ndarray], separator: str = " ", size: int = CROP) -> str:
    """The size x size crop around the agent, full width (the agent stays in the middle)."""
    chars, _ = _crop(obs, size)
    return "\n".join(_join(r, separator) for r in _rows(chars))


def render_step(obs: Mapping[str, np.ndarray], time: int, view: str = "tty", separator: str = " ",
                last_action: str | None = None, next_action: str | None = None,
                show_actions: bool | None = None) -> str:
    """One step. `show_actions` defaults to True for the crop view and False for tty."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    actions = view == "crop" if show_actions is None else show_actions
    lines = [f"Time: {time}"]
    if actions:
        lines.append(f"Last action: {last_action or 'None'}")
    if view == "crop":
        msg = message_text(obs)
        lines += [f"Current message: {msg if msg else 'None'}", "Current observation:",
                  render_crop(obs, separator), ""]
    else:
        lines.append(render_screen(obs, separator))
    if actions and next_action is not None:
        lines.append(f"Next action: {next_action}")
    return "\n".join(lines)


def render_transition(tr: Transition, view: str = "tty", separator: str = " ",
                      show_actions: bool | None = None) -> str:
    """Both steps of a transition, Time 0 and Time 1, separated by a blank line."""
    a = tr.action_name(tr.action)
    first = render_step(tr.obs, 0, view, separator, tr.action_name(tr.prev_action), a, show_actions)
    second = render_step(tr.next_obs, 1, view, separator, a, tr.action_name(tr.next_action),
                         show_actions)
    return f"{first}\n\n{second}"


def is_chain(trs: list[Transition]) -> bool:
    """Each transition starts where the one before ended (consecutive steps of one episode)."""
    def same(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> bool:
        keys = set(a) & set(b)
        return bool(keys) and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in keys)

    return all(same(x.next_obs, y.obs) for x, y in zip(trs, trs[1:], strict=False))


def render_window(trs: list[Transition], view: str = "tty", separator: str = " ",
                  show_actions: bool | None = None) -> str:
    """Consecutive transitions as one stretch of play, Time 0 .. K (K = len(trs)): each screen
    once, where separate transitions would repeat every inner one (CALM's trajectory windows)."""
    obs = [tr.obs for tr in trs] + [trs[-1].next_obs]
    acts = [trs[0].prev_action] + [tr.action for tr in trs] + [trs[-1].next_action]
    name = trs[0].action_name
    return "\n\n".join(render_step(o, t, view, separator, name(acts[t]), name(acts[t + 1]),
                                    show_actions) for t, o in enumerate(obs))
