"""Scripted experts for MiniHack navigation: shortest paths on the (remembered) full map.

The oracle reads only the observation: NetHack's map keeps what the agent has seen, so
`glyphs` is a memory map. Each step it plans a breadth-first shortest path (8 directions, no
diagonal steps through doorways, as NetHack forbids them) to the stairs down; when the stairs
are not in sight it walks to the nearest known square next to unexplored rock. Keys: a visible
skeleton key is fetched and picked up first; with the key in the inventory, a step into a
closed door becomes APPLY (MiniHack's KeyRoom then unlocks and opens it). Walking into a
closed door opens it (NetHack's autoopen). With probability `noise` an action is uniform.
It does not push boulders, so River tasks are out of its reach (see docs/minihack.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from rlgen.policy import Policy

#: The observation keys the oracle reads.
ORACLE_OBS_KEYS = ("glyphs", "blstats", "message", "inv_glyphs")

FREE, BLOCKED, CLOSED_DOOR, UNKNOWN, TRAP = 0, 1, 2, 3, 4
# NetHack cmap indices (display.h / drawing.c): doorway, open doors, closed doors, stairs down.
DOORWAY_CMAPS = (12, 13, 14, 15, 16)
CLOSED_DOOR_CMAPS = (15, 16)
STAIRS_DOWN_CMAP = 24
PASSABLE_CMAPS = (12, 13, 14, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 33, 35, 36)
# Direction of each compass action (dx, dy), in nle.nethack.CompassDirection names.
COMPASS = {"N": (0, -1), "E": (1, 0), "S": (0, 1), "W": (-1, 0),
           "NE": (1, -1), "SE": (1, 1), "SW": (-1, 1), "NW": (-1, -1)}


@lru_cache(maxsize=1)
def glyph_tables() -> tuple[np.ndarray, np.ndarray, int, int]:
    """(kind of each glyph, is-doorway of each glyph, stairs-down glyph, skeleton-key glyph)."""
    from nle import nethack as nh

    kind = np.full(nh.MAX_GLYPH + 1, FREE, dtype=np.int8)
    door = np.zeros(nh.MAX_GLYPH + 1, dtype=bool)
    key = -1
    for g in range(nh.MAX_GLYPH + 1):
        if nh.glyph_is_cmap(g):
            c = nh.glyph_to_cmap(g)
            if c == 0:
                kind[g] = UNKNOWN
            elif c in CLOSED_DOOR_CMAPS:
                kind[g] = CLOSED_DOOR
            elif c not in PASSABLE_CMAPS:
                kind[g] = BLOCKED
            door[g] = c in DOORWAY_CMAPS
        elif nh.glyph_is_trap(g):
            kind[g] = TRAP
        elif nh.glyph_is_statue(g):
            kind[g] = BLOCKED
        elif nh.glyph_is_normal_object(g):
            name = nh.OBJ_NAME(nh.objclass(nh.glyph_to_obj(g)))
            if name == "boulder":
                kind[g] = BLOCKED
            elif name == "skeleton key":
                key = g
    return kind, door, nh.GLYPH_CMAP_OFF + STAIRS_DOWN_CMAP, key


def _bfs(kind: np.ndarray, door: np.ndarray, start: tuple[int, int], targets: np.ndarray,
         avoid_traps: bool) -> list[tuple[int, int]] | None:
    """Shortest 8-connected path from start (y, x) to any target cell; None when unreachable."""
    h, w = kind.shape
    prev = {start: start}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        y, x = cell
        if targets[y, x] and cell != start:
            path = [cell]
            while prev[path[-1]] != start:
                path.append(prev[path[-1]])
            return path[::-1]
        if kind[y, x] == CLOSED_DOOR and cell != start:
            continue  # a closed door is a place to open, not to plan through in one go
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ny, nx = y + dy, x + dx
                if (dy == dx == 0) or not (0 <= ny < h and 0 <= nx < w) or (ny, nx) in prev:
                    continue
                k = kind[ny, nx]
                if k == BLOCKED or k == UNKNOWN or (k == TRAP and avoid_traps):
                    continue
                if dx and dy and (door[y, x] or door[ny, nx]):
                    continue
                prev[(ny, nx)] = cell
                queue.append((ny, nx))
    return None


class Oracle:
    """The expert for one env. `reset()` at each episode start; `act(obs) -> action index`."""

    def __init__(self, action_names: Sequence[str], noise: float = 0.0, seed: int = 0):
        self.names = list(action_names)
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)
        self.moves = {}
        compass = {"north": "N", "east": "E", "south": "S", "west": "W", "northeast": "NE",
                   "southeast": "SE", "southwest": "SW", "northwest": "NW"}
        for i, n in enumerate(self.names):
            if n.startswith("move "):
                self.moves[COMPASS[compass[n[5:]]]] = i
        self.pickup = self.names.index("pickup") if "pickup" in self.names else None
        self.apply = self.names.index("apply") if "apply" in self.names else None
        self.reset()

    def reset(self) -> None:
        self.key_seen = False
        self.doors: np.ndarray | None = None  # doorways seen so far: the agent hides the one it is on
        # Squares stood on: in the dark, rock next to them stays blank forever, so a square
        # counts as unexplored frontier only until the agent has been there.
        self.visited: np.ndarray | None = None
        self.locked: set[tuple[int, int]] = set()  # doors that answered "This door is locked."
        self.door_tried: tuple[int, int] | None = None

    def act(self, obs: dict) -> int:
        action = self.plan(obs)
        if self.noise and self.rng.random() < self.noise:
            return int(self.rng.integers(len(self.names)))
        return action

    def plan(self, obs: dict) -> int:
        kind_of, door_of, stairs, key = glyph_tables()
        glyphs = np.asarray(obs["glyphs"])
        x, y = int(obs["blstats"][0]), int(obs["blstats"][1])
        kind, door = kind_of[glyphs], door_of[glyphs]
        self.doors = door if self.doors is None else (self.doors | door)
        door = self.doors
        kind[y, x] = FREE
        if self.visited is None:
            self.visited = np.zeros(glyphs.shape, dtype=bool)
        self.visited[y, x] = True
        if self.door_tried is not None and b"is locked" in bytes(np.asarray(obs["message"])):
            self.locked.add(self.door_tried)
        self.door_tried = None
        has_key = key >= 0 and key in np.asarray(obs["inv_glyphs"])
        key_on_map = key >= 0 and bool((glyphs == key).any())
        self.key_seen |= key_on_map
        if not has_key:
            for cell in self.locked:
                kind[cell] = BLOCKED
        if self.key_seen and not has_key and not key_on_map and self.pickup is not None:
            return self.pickup  # the key was last seen and is now hidden under the agent
        if key_on_map and not has_key:
            targets = glyphs == key
        elif (glyphs == stairs).any():
            targets = glyphs == stairs
        else:
            targets = self._frontier(kind) & ~self.visited
        path = _bfs(kind, door, (y, x), targets, avoid_traps=True) or \
            _bfs(kind, door, (y, x), targets, avoid_traps=False)
        if path is None:  # nothing reachable: explore anything, else wait out a random step
            path = _bfs(kind, door, (y, x), self._frontier(kind) & ~self.visited, avoid_traps=False)
        if path is None:
            return int(self.rng.integers(len(self.moves)))
        ny, nx = path[0]
        if kind[ny, nx] == CLOSED_DOOR:
            if has_key and self.apply is not None:
                return self.apply
            self.door_tried = (ny, nx)
        return self.moves[(nx - x, ny - y)]

    @staticmethod
    def _frontier(kind: np.ndarray) -> np.ndarray:
        unknown = np.pad(kind == UNKNOWN, 1)
        near = np.zeros_like(kind, dtype=bool)
        h, w = kind.shape
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                near |= unknown[dy:dy + h, dx:dx + w]
        return near & ((kind == FREE) | (kind == CLOSED_DOOR) | (kind == TRAP))


class OraclePolicy(Policy):
    """Scripted MiniHack oracle: shortest paths to the stairs, fetching keys and opening doors.

    A batch of per-slot oracles behind the policy interface of the evaluator and the collector
    (`begin(slots)` resets the slots whose episodes (re)start)."""

    def __init__(self, action_names: Sequence[str], noise: float = 0.0, seed: int = 0,
                 slots: int = 64):
        self.names, self.noise, self.seed = list(action_names), noise, seed
        self.oracles: list[Oracle] = []
        self._grow(slots)

    def _grow(self, n: int) -> None:
        while len(self.oracles) < n:
            self.oracles.append(Oracle(self.names, self.noise, self.seed * 1009 + len(self.oracles)))

    def begin(self, slots: np.ndarray) -> None:
        for s in np.asarray(slots).tolist():
            self._grow(s + 1)
            self.oracles[s].reset()

    def act(self, obs: dict, infos: list[dict] | None = None) -> np.ndarray:
        n = len(obs["blstats"])
        self._grow(n)
        return np.array([self.oracles[i].act({k: v[i] for k, v in obs.items()}) for i in range(n)])
