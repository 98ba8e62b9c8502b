"""Stitching datasets: Ghugare-style region datasets and OGBench-style 4-cell stitch datasets.

Both run a batch of real gymnasium-robotics PointMaze envs in lockstep with one vectorized
controller (the MuJoCo step is per env; everything else is one numpy call per batch step).

* `regions` (Ghugare et al. 2024): episode k uses region k mod R; start and goal cells are drawn
  uniformly inside it (distinct); a BFS through the region's own cells gives the waypoint cells;
  each waypoint target is the cell centre minus U(0, 0.2) per axis (the last one is the env's
  goal); a = clip(10 (target - xy) - 1.0 v + N(0, 0.5^2), -1, 1); the waypoint advances within
  0.1. Only episodes that reach the goal within the task's cap are kept.
* `stitch` (OGBench): start in any free cell, goal a cell exactly 4 BFS steps away; action = unit
  vector towards the next BFS cell's centre + N(0, 0.5^2), clipped; fixed-length episodes
  (200 steps) that do not end at the goal.

Every kept trajectory is checked: the cells it visits must not contain any held-out test pair
(start cell visited, goal cell visited later). Trajectories that would are dropped and counted;
the card records the check and its result.

Per step fields: `observations` [x, y, vx, vy] (float32), `actions` (float32, 2), `rewards`
(float32, 1 within 0.45 of the episode's goal), `terminations`, `truncations`,
`next_observations` [x, y, vx, vy], `desired_goals` (the episode's goal xy). The achieved goal of
a step is `observations[:, :2]`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.data.recipes import Recipe
from rlgen.data.storage import EpisodeWriter
from rlgen.envs.maze.env import SUCCESS_RADIUS, make_point_maze
from rlgen.envs.maze.layout import Cell, Layout, level_id, pairs_within


@dataclass(frozen=True)
class CollectConfig:
    """One dataset recipe (datasets/maze-*.toml)."""

    env: str                      # maze:<task>
    style: str = "regions"        # "regions" (Ghugare) or "stitch" (OGBench)
    transitions: int = 1_000_000  # stop once this many kept transitions are written
    num_envs: int = 32            # envs stepped in lockstep
    seed: int = 0
    kp: float = 10.0              # PD gains and noise of the Ghugare controller
    kd: float = 1.0
    action_noise: float = 0.5
    waypoint_jitter: float = 0.2  # waypoint target = centre - U(0, jitter) per axis
    waypoint_radius: float = 0.1
    stitch_distance: int = 4      # OGBench: goal exactly this many BFS steps away
    stitch_length: int = 200      # OGBench: steps per episode
    drop_test_pairs: bool = True  # drop (and count) trajectories that contain a test pair


def _task(env: str) -> str:
    family, _, task = env.partition(":")
    if family != "maze":
        raise ValueError(f"maze datasets need a maze:<task> env, got {env!r}")
    return task


class _Batch:
    """Per-env episode buffers."""

    def __init__(self, n: int):
        self.rows: list[list[tuple]] = [[] for _ in range(n)]
        self.level: list[str] = [""] * n


def collect(cfg: CollectConfig, out: str | Path, progress: bool = True, resume: bool = False,
            card_extra: dict[str, Any] | None = None) -> Path:
    from tqdm.auto import tqdm

    from rlgen.registry import env_family

    if cfg.style not in ("regions", "stitch"):
        raise ValueError(f"style must be 'regions' or 'stitch', got {cfg.style!r}")
    task = _task(cfg.env)
    layout: Layout = env_family("maze").layout(task)
    rng = np.random.default_rng(cfg.seed)
    n = cfg.num_envs
    envs = [make_point_maze(layout.gym_id, layout.maze_map) for _ in range(n)]
    writer = EpisodeWriter(out, resume=resume)
    start_transitions = writer.total_transitions
    cap = layout.max_steps if cfg.style == "regions" else cfg.stitch_length
    test_pairs = list(layout.test)
    allowed = [frozenset(r.goals) | frozenset(r.starts) for r in layout.regions]
    next_hop = _next_hop_table(layout) if cfg.style == "stitch" else None
    far = {c: [g for g, d in layout.bfs_distances(c).items() if d == cfg.stitch_distance]
           for c in layout.free_cells}
    stitch_starts = [c for c in layout.free_cells if far[c]]

    # controller state, one row per env
    xy_targets = np.zeros((n, 32, 2))
    n_targets = np.zeros(n, dtype=np.int64)
    target_i = np.zeros(n, dtype=np.int64)
    goal_cell = np.zeros((n, 2), dtype=np.int64)
    t = np.zeros(n, dtype=np.int64)
    obs = np.zeros((n, 4))
    goal = np.zeros((n, 2))
    buf = _Batch(n)
    episode_counter = writer.episodes
    stats = {"episodes_started": 0, "kept": 0, "failed": 0, "dropped_test_pair": 0,
             "test_pairs_found_in_kept": 0}

    def start(i: int) -> None:
        nonlocal episode_counter
        k = episode_counter
        episode_counter += 1
        stats["episodes_started"] += 1
        if cfg.style == "regions":
            region = layout.regions[k % len(layout.regions)]
            while True:
                s = region.starts[int(rng.integers(len(region.starts)))]
                g = region.goals[int(rng.integers(len(region.goals)))]
                if s != g:
                    break
            path = layout.bfs_path(s, g, allowed[k % len(layout.regions)]) or layout.bfs_path(s, g)
        else:
            s = stitch_starts[int(rng.integers(len(stitch_starts)))]
            g = far[s][int(rng.integers(len(far[s])))]
            path = [s, g]
        o, _ = envs[i].reset(seed=int(rng.integers(2**31)),
                             options={"reset_cell": np.array(s), "goal_cell": np.array(g)})
        obs[i], goal[i] = o["observation"], o["desired_goal"]
        wp = path[1:]
        centres = np.array([layout.cell_to_xy(c) for c in wp])
        centres -= rng.uniform(0, cfg.waypoint_jitter, size=centres.shape)
        centres[-1] = goal[i]
        xy_targets[i, :len(wp)] = centres
        n_targets[i], target_i[i], t[i] = len(wp), 0, 0
        goal_cell[i] = g
        buf.rows[i] = []
        buf.level[i] = level_id(s, g)

    def finish(i: int, success: bool) -> None:
        rows = buf.rows[i]
        if cfg.style == "regions" and not success:
            stats["failed"] += 1
            return
        o, a, r, term, trunc, o2, dg = (np.array(x) for x in zip(*rows, strict=True))
        cells = layout.xy_to_cells(np.concatenate([o[:, :2], o2[-1:, :2]]))
        found = pairs_within(cells, test_pairs)
        if found and cfg.drop_test_pairs:
            stats["dropped_test_pair"] += 1
            return
        stats["test_pairs_found_in_kept"] += len(found)
        stats["kept"] += 1
        writer.add_episode(buf.level[i], observations=o.astype(np.float32),
                           actions=a.astype(np.float32), rewards=r.astype(np.float32),
                           terminations=term, truncations=trunc,
                           next_observations=o2.astype(np.float32),
                           desired_goals=dg.astype(np.float32))

    for i in range(n):
        start(i)
    bar = tqdm(total=cfg.transitions, initial=start_transitions, desc=f"collect {cfg.env} ({cfg.style})",
               unit="step", disable=not progress, smoothing=0.05)
    began = time.perf_counter()
    steps = 0
    while writer.total_transitions < cfg.transitions:
        xy, vel = obs[:, :2], obs[:, 2:4]
        if cfg.style == "regions":
            target = xy_targets[np.arange(n), target_i]
            close = np.linalg.norm(target - xy, axis=1) <= cfg.waypoint_radius
            advance = close & (target_i < n_targets - 1)
            target_i[advance] += 1
            target = xy_targets[np.arange(n), target_i]
            action = cfg.kp * (target - xy) - cfg.kd * vel
        else:
            cur = np.clip(layout.xy_to_cells(xy), 0, [layout.rows - 1, layout.cols - 1])
            nxt = next_hop[goal_cell[:, 0], goal_cell[:, 1], cur[:, 0], cur[:, 1]]
            target = np.where((nxt == cur).all(1, keepdims=True) | (nxt < 0).any(1, keepdims=True),
                              goal, _centres(layout, nxt))
            d = target - xy
            action = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
        action = np.clip(action + rng.normal(0, cfg.action_noise, size=(n, 2)), -1, 1)
        before = writer.total_transitions
        for i in range(n):
            o, r, term, _, info = envs[i].step(action[i])
            t[i] += 1
            success = bool(info["success"])
            ends_here = cfg.style == "regions" and success
            truncated = t[i] >= cap and not ends_here
            buf.rows[i].append((obs[i].copy(), action[i], float(r), ends_here, truncated,
                                o["observation"], goal[i].copy()))
            obs[i] = o["observation"]
            if ends_here or truncated:
                finish(i, success)
                start(i)
        steps += n
        bar.update(writer.total_transitions - before)
    bar.close()
    elapsed = time.perf_counter() - began
    for env in envs:
        env.close()
    card = {
        **(card_extra or {}),
        "name": Path(out).name, "env": cfg.env, "task": task, "style": cfg.style,
        "collector": asdict(cfg),
        "fields": {"observations": "[x, y, vx, vy] float32", "next_observations": "[x, y, vx, vy]",
                   "actions": "float32 (2,) in [-1, 1]", "desired_goals": "episode goal xy",
                   "achieved goal": "observations[:, :2]"},
        "success_radius": SUCCESS_RADIUS,
        "test_pair_check": {
            "pairs": [level_id(s, g) for s, g in test_pairs],
            "rule": "a trajectory contains pair (s, g) if it visits cell s and later cell g "
                    "(cells of every observation and the final next observation)",
            "dropped_trajectories": stats["dropped_test_pair"],
            "pairs_found_in_kept_trajectories": stats["test_pairs_found_in_kept"],
            "passed": stats["test_pairs_found_in_kept"] == 0,
        },
        "stats": stats,
        "throughput": {"env_steps": steps, "seconds": round(elapsed, 2),
                       "env_steps_per_s": round(steps / max(elapsed, 1e-9), 1)},
    }
    return writer.finalize(card)


def _centres(layout: Layout, cells: np.ndarray) -> np.ndarray:
    return np.stack([(cells[:, 1] + 0.5) - layout.cols / 2, layout.rows / 2 - (cells[:, 0] + 0.5)], 1)


def _next_hop_table(layout: Layout) -> np.ndarray:
    """table[gr, gc, r, c] = next cell on a shortest path from (r, c) to goal (gr, gc); the cell
    itself at the goal; -1 where undefined (walls, outside)."""
    table = -np.ones((layout.rows, layout.cols, layout.rows, layout.cols, 2), dtype=np.int64)
    for g in layout.free_cells:
        dist = layout.bfs_distances(g)
        for c, d in dist.items():
            if d == 0:
                table[g[0], g[1], c[0], c[1]] = c
                continue
            nxt: Cell = min(layout.neighbours(c), key=lambda x: dist.get(x, 10**9))
            table[g[0], g[1], c[0], c[1]] = nxt
    return table


#: recipe `policy` names -> collection style
POLICIES = {"region-planner": "regions", "stitch-planner": "stitch"}


def collect_recipe(recipe: Recipe, out: Path, *, progress: bool, resume: bool) -> Path:
    """The `collector` of datasets/maze-*.toml: `policy` picks the style, `[collector_options]`
    holds further `CollectConfig` fields (gains, noise, ...); the recipe is copied to the card."""
    from rlgen.config import build_config

    if recipe.policy not in POLICIES:
        from rlgen.errors import UnknownNameError

        raise UnknownNameError("maze collection policy", recipe.policy, list(POLICIES))
    if "style" in recipe.collector_options:
        raise ValueError(f"recipe {recipe.name}: the style comes from `policy`, not collector_options")
    if recipe.split != "train" or recipe.env_options:
        raise ValueError(f"recipe {recipe.name}: maze data covers the data regions (split 'train') "
                         "and takes no env_options")
    cfg = build_config(CollectConfig, {"env": recipe.env, "style": POLICIES[recipe.policy],
                                       "transitions": recipe.transitions,
                                       "num_envs": recipe.num_envs, "seed": recipe.seed},
                       recipe.collector_options)
    card = {"recipe": recipe.name, "description": recipe.description, "policy": recipe.policy}
    return collect(cfg, out, progress=progress, resume=resume, card_extra=card)
