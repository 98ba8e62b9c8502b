"""The `maze:` family: PointMaze tasks whose levels are (start cell, goal cell) pairs."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from rlgen.envs.base import EnvFamily, EnvSpec, GoalLayout
from rlgen.envs.maze.env import GOAL_LAYOUT, MazeEnv
from rlgen.envs.maze.layout import Layout, level_id
from rlgen.envs.splits import Split, Splits


class MazeFamily(EnvFamily):
    name = "maze"
    capabilities = frozenset({"goal_conditioned"})  # continuous actions, no encoder

    @property
    def default_options(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(self.spec_file["defaults"])

    def check_options(self, task: str, options: dict[str, Any]) -> None:
        if int(options["val_every"]) < 2:
            raise ValueError("val_every must be at least 2 (every n-th in-region pair goes to val)")

    def layout(self, task: str) -> Layout:
        from rlgen.errors import UnknownNameError

        tables = self.spec_file.get("maze", {})
        if task not in tables:
            raise UnknownNameError("maze task", task, list(tables))
        return Layout.from_spec(tables[task])

    def build_splits(self, task: str, options: dict[str, Any]) -> Splits:
        layout = self.layout(task)
        every = int(options["val_every"])
        in_region = [level_id(s, g) for s, g in layout.in_region_pairs()]
        val = tuple(p for i, p in enumerate(in_region) if i % every == every - 1)
        train = tuple(p for i, p in enumerate(in_region) if i % every != every - 1)
        splits = {
            "train": Split("train", train, f"{len(train)} start/goal pairs inside one data region"),
            "val": Split("val", val, f"every {every}th in-region pair (sorted), {len(val)} pairs"),
            "test": Split("test", tuple(level_id(s, g) for s, g in layout.test),
                          "held-out pairs of Ghugare et al. (2024): never together in one trajectory"),
        }
        if layout.ogbench:
            og = tuple(level_id(s, g, ogbench=True) for s, g in layout.ogbench)
            splits["ogbench"] = Split("ogbench", og, "OGBench's 5 evaluation tasks (noise-free goal, "
                                      f"{layout.ogbench_max_steps}-step cap)")
        return Splits(splits)

    def make_env(self, task: str, options: dict[str, Any], **kwargs: Any) -> gym.Env:
        levels = kwargs.pop("levels", None)
        if levels is None:
            levels = self.build_splits(task, options)["train"].levels
        return MazeEnv(self.layout(task), levels)

    def return_bounds(self, task: str, options: dict[str, Any]) -> tuple[float, float]:
        return 0.0, 1.0  # sparse reward 1 at the goal, episode ends there: return = success

    def goal_layout(self, spec: EnvSpec) -> GoalLayout:
        return GOAL_LAYOUT

    def make_encoder(self, spec: EnvSpec):
        raise NotImplementedError("maze agents read the flat [x, y, vx, vy, goal_x, goal_y] vector")
