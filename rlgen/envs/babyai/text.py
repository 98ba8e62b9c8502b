"""A deterministic text rendering of BabyAI's egocentric 7x7 symbolic view, in the style of
BabyAI-Text as BALROG prompts it: one phrase per visible object with its position in steps
relative to the agent ("a red ball 2 steps forward and 1 step left"), the nearest wall straight
ahead, left and right, and what the agent carries.

minigrid's view is indexed `image[x, y]` with the agent at (3, 6) facing decreasing y, so a cell
is `6 - y` steps forward and `x - 3` steps to the right (negative: left).
"""

from __future__ import annotations

import numpy as np

from rlgen.envs.babyai.env import VIEW, decode_mission
from rlgen.envs.text import TextAction, TextView

# minigrid.core.constants, fixed here so rendering needs no minigrid import
OBJECTS = ("unseen", "empty", "wall", "floor", "door", "key", "ball", "box", "goal", "lava", "agent")
COLOURS = ("red", "green", "blue", "purple", "yellow", "grey")
DOOR_STATES = ("open", "closed", "locked")
AGENT_X, AGENT_Y = VIEW // 2, VIEW - 1
#: objects named with a colour; the others (goal, lava) are named alone
COLOURED = frozenset({"door", "key", "ball", "box"})


def _steps(n: int, word: str) -> str:
    return f"{n} step{'s' if n != 1 else ''} {word}"


def position(x: int, y: int) -> str:
    """Where view cell (x, y) lies relative to the agent, e.g. '2 steps forward and 1 step left'."""
    forward, right = AGENT_Y - y, x - AGENT_X
    parts = []
    if forward:
        parts.append(_steps(forward, "forward"))
    if right:
        parts.append(_steps(abs(right), "right" if right > 0 else "left"))
    return " and ".join(parts) if parts else "here"


def object_name(obj: int, colour: int, state: int) -> str:
    """'a red ball', 'a closed blue door', 'the goal'..."""
    kind = OBJECTS[obj]
    if kind not in COLOURED:
        return f"a {kind}"
    name = f"{COLOURS[colour]} {kind}"
    if kind == "door":
        name = f"{DOOR_STATES[state]} {name}"
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _nearest_wall(image: np.ndarray, dx: int, dy: int) -> str | None:
    x, y = AGENT_X + dx, AGENT_Y + dy
    while 0 <= x < VIEW and 0 <= y < VIEW:
        if OBJECTS[image[x, y, 0]] == "wall":
            return f"a wall {position(x, y)}"
        if OBJECTS[image[x, y, 0]] != "empty":
            return None  # something else blocks the line first
        x, y = x + dx, y + dy
    return None


def describe(image: np.ndarray) -> list[str]:
    """Phrases for one 7x7x3 view: objects nearest first (then forward, then left to right),
    then the walls straight ahead / left / right, then the carried object."""
    image = np.asarray(image)
    if image.shape != (VIEW, VIEW, 3):
        raise ValueError(f"expected a {VIEW}x{VIEW}x3 BabyAI view, got shape {image.shape}")
    cells = []
    for x in range(VIEW):
        for y in range(VIEW):
            if (x, y) == (AGENT_X, AGENT_Y):
                continue
            kind = OBJECTS[image[x, y, 0]]
            if kind in ("unseen", "empty", "wall", "floor", "agent"):
                continue
            forward, right = AGENT_Y - y, x - AGENT_X
            cells.append(((abs(right) + forward, forward, right), x, y))
    phrases = [f"{object_name(*image[x, y])} {position(x, y)}" for _, x, y in sorted(cells)]
    for dx, dy in ((0, -1), (-1, 0), (1, 0)):
        wall = _nearest_wall(image, dx, dy)
        if wall:
            phrases.append(wall)
    held = image[AGENT_X, AGENT_Y]
    if OBJECTS[held[0]] in COLOURED:
        phrases.append(f"You carry {object_name(*held)}")
    return phrases


def render_text(obs: dict, with_mission: bool = True) -> str:
    """One observation (unbatched) as text: the mission line, then one phrase per line."""
    lines = [f"Mission: {decode_mission(obs['mission'])}"] if with_mission else []
    return "\n".join(lines + describe(obs["image"]))


#: minigrid's actions 0-5 under the names BALROG's BabyAI-Text prompt uses; 6 ("done") does
#: nothing in these levels and is not offered.
ACTIONS = (
    TextAction("turn left", 0, "turn 90 degrees to your left"),
    TextAction("turn right", 1, "turn 90 degrees to your right"),
    TextAction("go forward", 2, "move one step in the direction you face"),
    TextAction("pick up", 3, "pick up the object 1 step forward of you"),
    TextAction("drop", 4, "put down the object you carry, 1 step forward of you"),
    TextAction("toggle", 5, "open or close the door (open the box) 1 step forward of you"),
)


def text_view() -> TextView:
    return TextView(
        world="a BabyAI grid world: you see 7x7 cells ahead of you and cannot see through walls",
        actions=ACTIONS,
        describe=lambda obs: "\n".join(describe(obs["image"])) or "nothing in sight",
        mission=lambda obs: decode_mission(obs["mission"]),
        tips=("pick up and toggle act on what is exactly 1 step forward of you",
              "if an action changed nothing, do not repeat it"),
        fallback="go forward")
