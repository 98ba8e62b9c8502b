"""Breakout for N envs as torch arrays; the rules of `minatar/environments/breakout.py`.

The ball moves one diagonal cell per step (directions 0 up-left, 1 up-right, 2 down-right,
3 down-left); walls reflect it, a brick is removed (+1) and reflects it unless the previous step
also struck a brick, the paddle returns it (which way depends on the side it is hit on), and the
episode ends when it reaches the bottom row past the paddle. Three rows of bricks return once
all are gone and the ball reaches the bottom row. The only randomness is the start side.

Speed: one step of one env is a pure function of a few small integers, so `ball_rule` (the
rules, written once for one env) is tabulated over all its inputs and a batched step is a
handful of table look-ups. Bricks only ever occupy rows 1-3, so they are a 30-bit integer.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

PADDLE, BALL, TRAIL, BRICK = range(4)
_DX = (-1, 1, 1, -1)
_DY = (-1, -1, 1, 1)
_FLIP_X = (1, 0, 3, 2)
_FLIP_Y = (3, 2, 1, 0)
_FLIP_BOTH = (2, 3, 0, 1)
LEFT, RIGHT = 1, 3
NO_BRICK = 30  # a bit that is never set: "the target cell cannot hold a brick"
ALL_BRICKS = (1 << 30) - 1
# Columns of the step table.
NEXT_BALL, STRIKE, REWARD, TERMINAL, BRICK_CHANGE = range(5)


def start_draw(rs: np.random.RandomState) -> int:
    """What the package's reset draws: 0 starts the ball at column 0 moving down-right,
    1 at column 9 moving down-left."""
    return int(rs.randint(2))


def ball_code(x: int, y: int, direction: int) -> int:
    """Ball state as one integer: its cell (y * 10 + x) times 4 plus its direction."""
    return (y * 10 + x) * 4 + direction


def _target(x: int, y: int, d: int) -> tuple[int, int, int, bool]:
    """Where the ball heads before bricks and paddle: (x, y, direction, off the top)."""
    nx, ny = x + _DX[d], y + _DY[d]
    if nx < 0 or nx > 9:
        nx, d = min(9, max(0, nx)), _FLIP_X[d]
    return nx, ny, d, ny < 0


def ball_rule(x: int, y: int, d: int, pos: int, strike: bool, brick: bool, no_bricks: bool):
    """One env's ball update, as the package's `act` after the paddle moved to `pos`; `brick`
    says whether a brick sits in the target cell. -> (x, y, direction, struck a brick,
    broke it, terminal, refill the bricks)."""
    nx, ny, d, top = _target(x, y, d)
    on_brick = hit = terminal = refill = False
    if top:
        ny, d = 0, _FLIP_Y[d]
    elif brick:
        on_brick = True
        if not strike:
            hit, ny, d = True, y, _FLIP_Y[d]
    elif ny >= 9:
        refill = no_bricks
        if x == pos:
            d, ny = _FLIP_Y[d], y
        elif nx == pos:
            d, ny = _FLIP_BOTH[d], y
        else:
            terminal = True
    ny = min(ny, 9)  # only reached from a finished episode's state, which is never stepped
    return nx, ny, d, on_brick, hit, terminal, refill


@cache
def _tables() -> tuple[np.ndarray, ...]:
    """(target brick bit per ball code, step outputs, paddle position after action, frame bytes
    of a brick row). A step row is indexed by (ball code, paddle, strike, brick in the target
    cell, no bricks left) and holds the next ball code, strike, reward, terminal, and what to
    add to the brick integer (remove the struck brick, or refill all)."""
    cell = np.full(400, NO_BRICK, dtype=np.int64)
    step = np.zeros((400 * 10 * 8, 5), dtype=np.int64)
    for y in range(10):
        for x in range(10):
            for d in range(4):
                b = ball_code(x, y, d)
                nx, ny, _, top = _target(x, y, d)
                if not top and 1 <= ny <= 3:
                    cell[b] = (ny - 1) * 10 + nx
                for pos in range(10):
                    for flags in range(8):
                        strike, brick, empty = bool(flags & 4), bool(flags & 2), bool(flags & 1)
                        nx, ny, nd, on, hit, term, refill = ball_rule(x, y, d, pos, strike, brick, empty)
                        change = -(1 << int(cell[b])) if hit else ALL_BRICKS if refill else 0
                        step[(b * 10 + pos) * 8 + flags] = (ball_code(nx, ny, nd), on, hit, term, change)
    # A 10-bit brick row -> its 10 cells of the flat (10, 10, 4) frame, brick channel set.
    rows = np.zeros((1024, 10, 4), dtype=np.uint8)
    rows[:, :, BRICK] = (np.arange(1024)[:, None] >> np.arange(10)) & 1
    paddle = np.array([[max(0, p - 1) if a == LEFT else min(9, p + 1) if a == RIGHT else p
                        for p in range(10)] for a in range(6)], dtype=np.int64).reshape(-1)
    return cell, step, paddle, rows.reshape(1024, 40)


class BatchedBreakout:
    """State: one (N, 5) int64 tensor of columns ball, previous ball, paddle, strike, bricks."""

    channels = 4

    def __init__(self, num_envs: int, device: torch.device | str = "cpu"):
        self.num_envs, self.device = num_envs, torch.device(device)
        self._cell, self._step, self._paddle, self._rows = (
            torch.as_tensor(t, device=self.device) for t in _tables())
        starts = [[ball_code(x, 3, d), ball_code(x, 3, d), 4, 0, ALL_BRICKS] for x, d in ((0, 2), (9, 3))]
        self._starts = torch.tensor(starts, dtype=torch.long, device=self.device)
        self._row_shift = torch.tensor([0, 10, 20], device=self.device)
        self.state = self._starts[0].expand(num_envs, 5).clone()

    def reset(self, mask: torch.Tensor, start: torch.Tensor) -> None:
        self.state = torch.where(mask[:, None], self._starts.index_select(0, start), self.state)

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Package action indices (N,) -> (reward float32 (N,), terminated bool (N,))."""
        ball, pos, strike, bricks = self.state[:, 0], self.state[:, 2], self.state[:, 3], self.state[:, 4]
        pos = self._paddle.index_select(0, action * 10 + pos)
        cell = self._cell.index_select(0, ball)
        brick = (bricks >> cell) & 1
        out = self._step.index_select(0, (ball * 10 + pos) * 8 + strike * 4 + brick * 2 + (bricks == 0))
        self.state = torch.stack([out[:, NEXT_BALL], ball, pos, out[:, STRIKE],
                                  bricks + out[:, BRICK_CHANGE]], 1)
        return out[:, REWARD].float(), out[:, TERMINAL].bool()

    def obs(self) -> torch.Tensor:
        """(N, 10, 10, 4) uint8, channels last."""
        n = self.num_envs
        out = torch.zeros(n, 400, dtype=torch.uint8, device=self.device)
        rows = (self.state[:, 4:5] >> self._row_shift) & 1023
        out[:, 40:160] = self._rows.index_select(0, rows.view(-1)).view(n, 120)
        # A ball code less its direction is the cell's offset in the flat (10, 10, 4) frame.
        ball, prev, pos = self.state[:, 0], self.state[:, 1], self.state[:, 2]
        cells = torch.stack([(ball & ~3) + BALL, (prev & ~3) + TRAIL, pos * 4 + (360 + PADDLE)], 1)
        out.scatter_(1, cells, 1)
        return out.view(n, 10, 10, 4)
