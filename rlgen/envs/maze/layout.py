"""Maze layouts as data: the gymnasium-robotics maps, cell <-> xy, BFS, level ids, regions.

Cells are (row, col) of the gymnasium-robotics map (1 = wall); xy are MuJoCo coordinates, one
unit per cell, origin at the map centre (gymnasium-robotics' `cell_rowcol_to_xy`).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from functools import cached_property

import numpy as np

Cell = tuple[int, int]
Pair = tuple[Cell, Cell]

_LEVEL_RE = re.compile(r"^(og:)?r(\d+)c(\d+)-r(\d+)c(\d+)$")

MAP_NAMES = {"PointMaze_UMaze-v3": "U_MAZE", "PointMaze_Medium-v3": "MEDIUM_MAZE",
             "PointMaze_Large-v3": "LARGE_MAZE"}


def level_id(start: Cell, goal: Cell, ogbench: bool = False) -> str:
    return f"{'og:' if ogbench else ''}r{start[0]}c{start[1]}-r{goal[0]}c{goal[1]}"


def parse_level(level: str) -> tuple[Cell, Cell, bool]:
    """`"r1c1-r3c1"` -> ((1, 1), (3, 1), False); an `og:` prefix marks an OGBench task."""
    m = _LEVEL_RE.match(str(level))
    if not m:
        raise ValueError(f"maze level {level!r} is not of the form 'r1c1-r3c1' (or 'og:r1c1-r3c1')")
    og, r0, c0, r1, c1 = m.groups()
    return (int(r0), int(c0)), (int(r1), int(c1)), og is not None


@dataclass(frozen=True)
class Region:
    goals: tuple[Cell, ...]
    starts: tuple[Cell, ...]

    def pairs(self) -> list[Pair]:
        return [(s, g) for s in self.starts for g in self.goals if s != g]


@dataclass(frozen=True)
class Layout:
    """One maze map with its data regions and held-out pairs (as declared in envs/maze.toml)."""

    gym_id: str
    grid: tuple[tuple[int, ...], ...]
    regions: tuple[Region, ...]
    test: tuple[Pair, ...]
    ogbench: tuple[Pair, ...]
    max_steps: int
    ogbench_max_steps: int
    kmeans_k: int
    # A custom map (0 free, 1 wall) passed to gymnasium-robotics as `maze_map`; None = gym_id's own.
    maze_map: tuple[tuple[int, ...], ...] | None = None

    @classmethod
    def from_spec(cls, table: dict) -> Layout:
        from gymnasium_robotics.envs.maze import maps

        gym_id = table["gym_id"]
        custom = table.get("maze_map")
        if custom is not None:
            if any(v not in (0, 1) for row in custom for v in row) or len({len(r) for r in custom}) != 1:
                raise ValueError(f"{gym_id}: maze_map must be a rectangle of 0 (free) and 1 (wall)")
            custom = tuple(tuple(int(v) for v in row) for row in custom)
        source = custom if custom is not None else getattr(maps, MAP_NAMES[gym_id])
        grid = tuple(tuple(1 if v == 1 else 0 for v in row) for row in source)

        def cells(xs) -> tuple[Cell, ...]:
            return tuple((int(r), int(c)) for r, c in xs)

        def pairs(xs) -> tuple[Pair, ...]:
            return tuple((cells([p[0]])[0], cells([p[1]])[0]) for p in xs)

        regions = tuple(Region(cells(r["cells"]), cells(r.get("starts", r["cells"])))
                        for r in table["regions"])
        layout = cls(gym_id, grid, regions, pairs(table.get("test", [])),
                     pairs(table.get("ogbench", [])), int(table["max_steps"]),
                     int(table.get("ogbench_max_steps", table["max_steps"])), int(table["kmeans_k"]),
                     custom)
        for region in regions:
            for c in region.goals + region.starts:
                if not layout.free(c):
                    raise ValueError(f"{gym_id}: region cell {c} is a wall")
        for s, g in layout.test + layout.ogbench:
            if not (layout.free(s) and layout.free(g)):
                raise ValueError(f"{gym_id}: pair {s}->{g} touches a wall")
        return layout

    @property
    def rows(self) -> int:
        return len(self.grid)

    @property
    def cols(self) -> int:
        return len(self.grid[0])

    def free(self, cell: Cell) -> bool:
        r, c = cell
        return 0 <= r < self.rows and 0 <= c < self.cols and self.grid[r][c] == 0

    @cached_property
    def free_cells(self) -> tuple[Cell, ...]:
        return tuple((r, c) for r in range(self.rows) for c in range(self.cols) if self.grid[r][c] == 0)

    def in_region_pairs(self) -> list[Pair]:
        return sorted({p for region in self.regions for p in region.pairs()})

    # ---- geometry --------------------------------------------------------------------------
    def cell_to_xy(self, cell: Cell) -> np.ndarray:
        r, c = cell
        return np.array([(c + 0.5) - self.cols / 2, self.rows / 2 - (r + 0.5)])

    def xy_to_cells(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) xy -> (N, 2) int rows/cols, as gymnasium-robotics' `cell_xy_to_rowcol`."""
        xy = np.asarray(xy, dtype=np.float64)
        rows = np.floor(self.rows / 2 - xy[..., 1]).astype(np.int64)
        cols = np.floor(xy[..., 0] + self.cols / 2).astype(np.int64)
        return np.stack([rows, cols], -1)

    # ---- planning --------------------------------------------------------------------------
    def neighbours(self, cell: Cell, allowed: frozenset[Cell] | None = None) -> list[Cell]:
        r, c = cell
        out = [(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)]
        return [n for n in out if self.free(n) and (allowed is None or n in allowed)]

    def bfs_path(self, start: Cell, goal: Cell, allowed: frozenset[Cell] | None = None) -> list[Cell] | None:
        """Shortest cell path start..goal (both included) through `allowed` cells, or None."""
        prev: dict[Cell, Cell | None] = {start: None}
        queue = deque([start])
        while queue:
            cell = queue.popleft()
            if cell == goal:
                path = [cell]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])  # type: ignore[arg-type]
                return path[::-1]
            for n in self.neighbours(cell, allowed):
                if n not in prev:
                    prev[n] = cell
                    queue.append(n)
        return None

    def bfs_distances(self, start: Cell) -> dict[Cell, int]:
        dist = {start: 0}
        queue = deque([start])
        while queue:
            cell = queue.popleft()
            for n in self.neighbours(cell):
                if n not in dist:
                    dist[n] = dist[cell] + 1
                    queue.append(n)
        return dist


def pairs_within(cells: np.ndarray, pairs: list[Pair] | tuple[Pair, ...]) -> list[Pair]:
    """The pairs (s, g) such that the cell sequence visits s at some step and g at a later one."""
    first: dict[Cell, int] = {}
    last: dict[Cell, int] = {}
    for t, (r, c) in enumerate(np.asarray(cells).tolist()):
        first.setdefault((r, c), t)
        last[(r, c)] = t
    return [(s, g) for s, g in pairs if s in first and g in last and first[s] < last[g]]
