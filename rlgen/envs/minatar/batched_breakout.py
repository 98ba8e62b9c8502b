"""Breakout for N envs as torch arrays; the rules of `minatar/environments/breakout.py`.

The ball moves one diagonal cell per step (directions 0 up-left, 1 up-right, 2 down-right,
3 down-left); walls reflect it, a brick is removed (+1) and reflects it unless the previous step
also struck a brick, the paddle returns it (which way depends on the side it is hit on), and the
episode ends when it reaches the bottom row past the paddle. Three rows of bricks return once
all are gone and the ball reaches the bottom row. The only randomness is the start side.

Speed: one step of one env is a pure function of a few small integers, so `ball_rule` (the
rules, written once for one env) is tabulated over all its inputs and a batched step is a
handful of table look-ups. The state is kept in the form the look-ups index with: the ball as
`key = ball code * 80 + strike * 4`, the paddle as `8 * column`, and the bricks (which only
ever occupy rows 1-3) as bits 1-30 of an integer, so the table row of a step is
`key + paddle + 2 * (brick in the target cell) + (no bricks left)`.
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
NO_BRICK = 31  # a bit that is never set: "the target cell cannot hold a brick"
ALL_BRICKS = ((1 << 30) - 1) << 1  # bricks in row r, column c: bit 1 + (r - 1) * 10 + c
KEYS = 400 * 80


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


def ball_key(x: int, y: int, direction: int, strike: bool = False) -> int:
    return ball_code(x, y, direction) * 80 + 4 * strike


@cache
def _tables() -> dict[str, np.ndarray]:
    """The look-up tables (numpy), by name:
    - cell: ball key -> the brick bit of its target cell less one (NO_BRICK - 1 if no brick can
      be there), so `(bricks >> cell) & 2` is 2 * (brick in the target cell);
    - step: step row -> (next ball key, reward, terminal, what to add to the bricks integer:
      minus the struck brick's bit, or all bricks when they are refilled);
    - paddle: action * 80 + paddle -> paddle after the action;
    - frame: ball key -> the ball's offset in the flat (10, 10, 4) frame, then (at KEYS +)
      a previous ball key -> the trail's offset, then (at 2 * KEYS +) paddle -> its offset;
    - rows: a 10-bit brick row -> its 40 bytes of the frame."""
    cell = np.full(KEYS, NO_BRICK - 1, dtype=np.int64)
    step = np.zeros((KEYS, 4), dtype=np.int64)
    frame = np.zeros(3 * KEYS, dtype=np.int64)
    for y in range(10):
        for x in range(10):
            for d in range(4):
                nx, ny, _, top = _target(x, y, d)
                target = 1 + (ny - 1) * 10 + nx if not top and 1 <= ny <= 3 else NO_BRICK
                for strike in (False, True):
                    k = ball_key(x, y, d, strike)
                    cell[k] = target - 1
                    frame[k] = (y * 10 + x) * 4 + BALL
                    frame[KEYS + k] = (y * 10 + x) * 4 + TRAIL
                    for pos in range(10):
                        for brick in (False, True):
                            for empty in (False, True):
                                nx, ny, nd, on, hit, term, refill = ball_rule(x, y, d, pos, strike,
                                                                              brick, empty)
                                change = -(1 << target) if hit else ALL_BRICKS if refill else 0
                                step[k + 8 * pos + 2 * brick + empty] = (
                                    ball_key(nx, ny, nd, on), hit, term, change)
    for pos in range(10):
        frame[2 * KEYS + 8 * pos] = (90 + pos) * 4 + PADDLE
    paddle = np.zeros(6 * 80, dtype=np.int64)
    for a in range(6):
        for pos in range(10):
            moved = max(0, pos - 1) if a == LEFT else min(9, pos + 1) if a == RIGHT else pos
            paddle[a * 80 + 8 * pos] = 8 * moved
    rows = np.zeros((1024, 10, 4), dtype=np.uint8)
    rows[:, :, BRICK] = (np.arange(1024)[:, None] >> np.arange(10)) & 1
    return {"cell": cell, "step": step, "paddle": paddle, "frame": frame,
            "rows": rows.reshape(1024, 40)}


class BatchedBreakout:
    """State: one (N, 4) int64 tensor of columns ball key, previous ball key, 8 * paddle,
    bricks (see the module docstring)."""

    channels = 4

    def __init__(self, num_envs: int, device: torch.device | str = "cpu", ramping: bool = True):
        # `ramping` is accepted for a uniform constructor: Breakout's difficulty does not ramp.
        self.num_envs, self.device = num_envs, torch.device(device)
        t = {k: torch.as_tensor(v, device=self.device) for k, v in _tables().items()}
        self._cell, self._step, self._paddle, self._frame, self._rows = (
            t["cell"], t["step"], t["paddle"], t["frame"], t["rows"])
        starts = [[ball_key(x, 3, d), ball_key(x, 3, d), 8 * 4, ALL_BRICKS] for x, d in ((0, 2), (9, 3))]
        self._starts = torch.tensor(starts, dtype=torch.long, device=self.device)
        self._row_shift = torch.tensor([1, 11, 21], device=self.device)
        self._frame_base = torch.tensor([0, KEYS, 2 * KEYS], device=self.device)
        self.state = self._starts[0].expand(num_envs, 4).clone()

    def reset(self, mask: torch.Tensor, start: torch.Tensor) -> None:
        self.state = torch.where(mask[:, None], self._starts.index_select(0, start), self.state)

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Package action indices (N,) -> (reward float32 (N,), terminated bool (N,))."""
        key, _, paddle, bricks = self.state.unbind(1)
        paddle = self._paddle.index_select(0, action * 80 + paddle)
        brick2 = (bricks >> self._cell.index_select(0, key)) & 2
        out = self._step.index_select(0, key + paddle + brick2 + (bricks == 0))
        self.state = torch.stack([out[:, 0], key, paddle, bricks + out[:, 3]], 1)
        return out[:, 1].float(), out[:, 2].bool()

    def obs(self) -> torch.Tensor:
        """(N, 10, 10, 4) uint8, channels last."""
        n = self.num_envs
        out = torch.zeros(n, 400, dtype=torch.uint8, device=self.device)
        rows = (self.state[:, 3:4] >> self._row_shift) & 1023
        out[:, 40:160] = self._rows.index_select(0, rows.view(-1)).view(n, 120)
        cells = self._frame.index_select(0, (self.state[:, :3] + self._frame_base).view(-1))
        out.scatter_(1, cells.view(n, 3), 1)
        return out.view(n, 10, 10, 4)
