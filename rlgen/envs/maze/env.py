"""One PointMaze episode per (start cell, goal cell) level, with flat float observations.

Observation: float32 [x, y, vx, vy, goal_x, goal_y] (gymnasium-robotics' `observation` followed
by its `desired_goal`), so batches stack into one array. Reward 1 and `terminated` when the point
is within 0.45 of the goal (gymnasium-robotics' sparse reward, continuing_task=False);
`truncated` at the task's step cap. `info["level"]` and `info["success"]` on every step.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import gymnasium as gym
import numpy as np

from rlgen.envs.base import GoalLayout
from rlgen.envs.maze.layout import Layout, parse_level

#: [x, y, vx, vy] then the goal [goal_x, goal_y]; the achieved goal is xy; actions are 2-d forces.
GOAL_LAYOUT = GoalLayout(state_dim=4, goal_dim=2, action_dim=2)
OBS_DIM = GOAL_LAYOUT.obs_dim
SUCCESS_RADIUS = 0.45


def make_point_maze(gym_id: str, maze_map=None):
    """The unwrapped gymnasium-robotics env (no TimeLimit/checker wrappers: we cap ourselves)."""
    import gymnasium_robotics  # noqa: F401  (registers the ids)

    gym.register_envs(gymnasium_robotics)
    extra = {} if maze_map is None else {"maze_map": [list(row) for row in maze_map]}
    return gym.make(gym_id, continuing_task=False, disable_env_checker=True, **extra).unwrapped


class MazeEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, layout: Layout, levels: Sequence[Hashable] = ()):
        self.layout = layout
        self.levels = list(levels)
        self._env = make_point_maze(layout.gym_id, layout.maze_map)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (GOAL_LAYOUT.action_dim,), np.float32)
        self._level: str | None = None
        self._cap = layout.max_steps
        self._t = 0

    def _obs(self, point_obs: dict) -> np.ndarray:
        return np.concatenate([point_obs["observation"], point_obs["desired_goal"]]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        level = (options or {}).get("level")
        if level is None:
            if not self.levels:
                raise ValueError("MazeEnv.reset needs options={'level': 'r1c1-r3c1'} (no level list given)")
            level = self.levels[int(self.np_random.integers(len(self.levels)))]
        start, goal, ogbench = parse_level(str(level))
        for cell in (start, goal):
            if not self.layout.free(cell):
                raise ValueError(f"level {level!r}: cell {cell} is a wall or outside the maze")
        obs, info = self._env.reset(seed=seed, options={"reset_cell": np.array(start),
                                                         "goal_cell": np.array(goal)})
        if ogbench:
            # OGBench's tasks fix the goal at the cell centre; gymnasium-robotics adds noise.
            self._env.goal = self.layout.cell_to_xy(goal)
            self._env.update_target_site_pos()
            obs["desired_goal"] = self._env.goal.copy()
        self._cap = self.layout.ogbench_max_steps if ogbench else self.layout.max_steps
        self._level, self._t = str(level), 0
        return self._obs(obs), {"level": self._level, "success": bool(info["success"])}

    def step(self, action):
        if self._level is None:
            raise RuntimeError("call reset() before step()")
        obs, reward, terminated, _, info = self._env.step(np.asarray(action, dtype=np.float64))
        self._t += 1
        truncated = self._t >= self._cap and not terminated
        return (self._obs(obs), float(reward), bool(terminated), bool(truncated),
                {"level": self._level, "success": bool(info["success"])})

    def close(self) -> None:
        self._env.close()
