"""Breakout for N envs as torch arrays; the rules of `minatar/environments/breakout.py`.

The ball moves one diagonal cell per step (directions 0 up-left, 1 up-right, 2 down-right,
3 down-left); walls reflect it, a brick is removed (+1) and reflects it unless the previous step
also struck a brick, the paddle returns it (which way depends on the side it is hit on), and the
episode ends when it reaches the bottom row past the paddle. Three rows of bricks return once
all are gone and the ball reaches the bottom row. The only randomness is the start side.
"""

from __future__ import annotations

import numpy as np
import torch

PADDLE, BALL, TRAIL, BRICK = range(4)
# Direction tables, indexed by the current direction.
_DX = (-1, 1, 1, -1)
_DY = (-1, -1, 1, 1)
_FLIP_X = (1, 0, 3, 2)
_FLIP_Y = (3, 2, 1, 0)
_FLIP_BOTH = (2, 3, 0, 1)
LEFT, RIGHT = 1, 3


def start_draw(rs: np.random.RandomState) -> int:
    """What the package's reset draws: 0 starts the ball at column 0 moving down-right,
    1 at column 9 moving down-left."""
    return int(rs.randint(2))


class BatchedBreakout:
    channels = 4

    def __init__(self, num_envs: int, device: torch.device | str = "cpu"):
        self.num_envs, self.device = num_envs, torch.device(device)
        n, dev = num_envs, self.device

        def table(values):
            return torch.tensor(values, dtype=torch.long, device=dev)

        self._dx, self._dy = table(_DX), table(_DY)
        self._flip_x, self._flip_y, self._flip_both = table(_FLIP_X), table(_FLIP_Y), table(_FLIP_BOTH)
        self._rows = torch.arange(n, device=dev)
        self._full = torch.zeros(10, 10, dtype=torch.bool, device=dev)
        self._full[1:4] = True
        self.ball_x = torch.zeros(n, dtype=torch.long, device=dev)
        self.ball_y = torch.full((n,), 3, dtype=torch.long, device=dev)
        self.last_x, self.last_y = self.ball_x.clone(), self.ball_y.clone()
        self.ball_dir = torch.full((n,), 2, dtype=torch.long, device=dev)
        self.pos = torch.full((n,), 4, dtype=torch.long, device=dev)
        self.bricks = self._full.expand(n, 10, 10).clone()
        self.strike = torch.zeros(n, dtype=torch.bool, device=dev)

    def reset(self, mask: torch.Tensor, start: torch.Tensor) -> None:
        right = start.to(self.device) == 1
        x = torch.where(right, 9, 0)
        self.ball_x = torch.where(mask, x, self.ball_x)
        self.ball_y = torch.where(mask, 3, self.ball_y)
        self.last_x = torch.where(mask, x, self.last_x)
        self.last_y = torch.where(mask, 3, self.last_y)
        self.ball_dir = torch.where(mask, torch.where(right, 3, 2), self.ball_dir)
        self.pos = torch.where(mask, 4, self.pos)
        self.bricks = torch.where(mask[:, None, None], self._full, self.bricks)
        self.strike = self.strike & ~mask

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Package action indices (N,) -> (reward float32 (N,), terminated bool (N,))."""
        pos = torch.where(action == LEFT, (self.pos - 1).clamp(min=0), self.pos)
        pos = torch.where(action == RIGHT, (pos + 1).clamp(max=9), pos)
        d = self.ball_dir
        old_x, old_y = self.ball_x, self.ball_y
        new_x, new_y = old_x + self._dx[d], old_y + self._dy[d]
        off_side = (new_x < 0) | (new_x > 9)
        new_x = new_x.clamp(0, 9)
        d = torch.where(off_side, self._flip_x[d], d)
        # The package's if / elif chain on the new row: top wall, brick, bottom row.
        top = new_y < 0
        on_brick = ~top & self.bricks[self._rows, new_y.clamp(min=0), new_x]
        hit = on_brick & ~self.strike
        bottom = ~top & ~on_brick & (new_y == 9)
        no_bricks = ~self.bricks.flatten(1).any(1)
        self.bricks = torch.where((bottom & no_bricks)[:, None, None], self._full, self.bricks)
        back = bottom & (old_x == pos)
        edge = bottom & ~back & (new_x == pos)
        terminated = bottom & ~back & ~edge
        cell = (new_y.clamp(min=0) * 10 + new_x)[:, None]
        flat = self.bricks.view(self.num_envs, 100)
        flat.scatter_(1, cell, flat.gather(1, cell) & ~hit[:, None])  # no boolean indexing: no sync
        d = torch.where(top | hit | back, self._flip_y[d], d)
        d = torch.where(edge, self._flip_both[d], d)
        new_y = torch.where(top, 0, new_y)
        new_y = torch.where(hit | back | edge, old_y, new_y)
        self.strike = on_brick
        self.last_x, self.last_y = old_x, old_y
        self.ball_x, self.ball_y, self.ball_dir, self.pos = new_x, new_y, d, pos
        return hit.float(), terminated

    def obs(self) -> torch.Tensor:
        """(N, 10, 10, 4) uint8, channels last."""
        n = self.num_envs
        out = torch.zeros(n, 10, 10, 4, dtype=torch.uint8, device=self.device)
        out[..., BRICK] = self.bricks
        flat = out.view(n, 400)
        cells = torch.stack([(9 * 10 + self.pos) * 4 + PADDLE,
                             (self.ball_y * 10 + self.ball_x) * 4 + BALL,
                             (self.last_y * 10 + self.last_x) * 4 + TRAIL], 1)
        flat.scatter_(1, cells, 1)
        return out
