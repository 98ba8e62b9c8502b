"""The maze family: levels are (start, goal) cell pairs, splits are disjoint and declared."""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.envs.maze.collect import _centres, _next_hop_table
from rlgen.envs.maze.layout import level_id, parse_level
from rlgen.eval.evaluate import evaluate
from rlgen.policy import Policy
from rlgen.registry import UnknownNameError, make_env_spec

TASKS = ["pointmaze-umaze", "pointmaze-medium", "pointmaze-large", "pointmaze-umaze-onestitch",
         "pointmaze-serpentine-onestitch", "pointmaze-pocket-onestitch", "pointmaze-hook"]


@pytest.mark.parametrize("task", TASKS)
def test_splits_are_disjoint_and_test_pairs_are_cross_region(task):
    spec = make_env_spec(f"maze:{task}")
    layout = spec.impl.layout(task)
    splits = spec.splits
    in_region = {level_id(s, g) for s, g in layout.in_region_pairs()}
    assert set(splits["train"].levels) | set(splits["val"].levels) == in_region
    assert not in_region & set(splits["test"].levels)
    assert len(splits["test"]) == len(layout.test) > 0
    if task in ("pointmaze-medium", "pointmaze-large"):
        assert len(splits["ogbench"]) == 5
        assert all(lvl.startswith("og:") for lvl in splits["ogbench"].levels)


def test_reset_pins_the_pair_and_reports_level():
    spec = make_env_spec("maze:pointmaze-umaze")
    env = spec.make_env()
    obs, info = env.reset(seed=3, options={"level": "r1c1-r3c1"})
    assert obs.shape == (6,) and obs.dtype == np.float32
    layout = spec.impl.layout("pointmaze-umaze")
    assert np.all(np.abs(obs[:2] - layout.cell_to_xy((1, 1))) <= 0.25 + 1e-6)
    assert np.all(np.abs(obs[4:] - layout.cell_to_xy((3, 1))) <= 0.25 + 1e-6)
    assert info == {"level": "r1c1-r3c1", "success": False}
    _, r, term, trunc, info = env.step(np.zeros(2))
    assert (r, term, trunc, info["level"], info["success"]) == (0.0, False, False, "r1c1-r3c1", False)
    # OGBench tasks put the goal exactly at the cell centre
    med = make_env_spec("maze:pointmaze-medium")
    obs, _ = med.make_env().reset(seed=0, options={"level": "og:r1c1-r6c6"})
    assert np.allclose(obs[4:], med.impl.layout("pointmaze-medium").cell_to_xy((6, 6)))


def test_bad_names_and_levels_fail_clearly():
    with pytest.raises(UnknownNameError, match="pointmaze-umaze"):
        make_env_spec("maze:pointmaze-umaz")
    env = make_env_spec("maze:pointmaze-umaze").make_env()
    with pytest.raises(ValueError, match="wall"):
        env.reset(options={"level": "r2c1-r1c1"})
    with pytest.raises(ValueError, match="r1c1-r3c1"):
        parse_level("1,1->3,1")


class OraclePolicy(Policy):
    """Unit vector towards the next BFS cell (the goal itself in the goal cell)."""

    def __init__(self, layout):
        self.layout, self.table = layout, _next_hop_table(layout)

    def act(self, obs, infos=None):
        xy, goal = obs[:, :2], obs[:, 4:6]
        cur, g = self.layout.xy_to_cells(xy), self.layout.xy_to_cells(goal)
        nxt = self.table[g[:, 0], g[:, 1], cur[:, 0], cur[:, 1]]
        target = np.where((nxt == cur).all(1, keepdims=True), goal, _centres(self.layout, nxt))
        d = target - xy
        return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)


def test_evaluate_reports_success_per_split():
    spec = make_env_spec("maze:pointmaze-umaze")
    oracle = OraclePolicy(spec.impl.layout("pointmaze-umaze"))
    records, summary = evaluate(oracle, spec, ["test"], episodes=4, num_envs=4, progress=False)
    assert {r["level"] for r in records} == set(spec.splits["test"].levels)
    assert summary["splits"]["test"]["success_rate"] == 1.0
    assert summary["splits"]["test"]["normalized_mean"] == 1.0

    class Still(Policy):
        def act(self, obs, infos=None):
            return np.zeros((len(obs), 2))

    records, summary = evaluate(Still(), spec, ["test"], episodes=2, num_envs=2, progress=False)
    assert summary["splits"]["test"]["success_rate"] == 0.0
    assert all(r["truncated"] and r["length"] == 300 for r in records)


def test_custom_maze_map_is_the_simulated_map():
    """The serpentine task's `maze_map` reaches MuJoCo: the held-out start sits in its cell, and
    the only route to the goal directly below runs through the far-left connector."""
    task = "pointmaze-serpentine-onestitch"
    spec = make_env_spec(f"maze:{task}")
    layout = spec.impl.layout(task)
    assert layout.grid[2][5] == 1 and layout.grid[2][1] == 0 and layout.grid[4][5] == 0
    assert (2, 1) in layout.bfs_path((1, 5), (3, 5))
    env = spec.make_env()
    obs, _ = env.reset(seed=0, options={"level": "r1c5-r3c5"})
    assert tuple(layout.xy_to_cells(obs[None, :2])[0]) == (1, 5)
    assert tuple(layout.xy_to_cells(obs[None, 4:6])[0]) == (3, 5)
    assert env.unwrapped._env.maze.map_length == 7
    env.close()


def test_bad_maze_map_is_a_clear_error():
    from rlgen.envs.maze.layout import Layout

    with pytest.raises(ValueError, match="maze_map"):
        Layout.from_spec({"gym_id": "PointMaze_UMaze-v3", "maze_map": [[1, 2], [1, 1]],
                          "regions": [], "max_steps": 10, "kmeans_k": 2})
