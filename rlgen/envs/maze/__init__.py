"""Goal-stitching point mazes: env family, layouts and dataset collectors."""

from rlgen.envs.maze.family import MazeFamily

__all__ = ["MazeFamily"]
