"""Breakout for N envs as torch arrays; the rules of `minatar/environments/breakout.py`.

The ball moves one diagonal cell per step (directions 0 up-left, 1 up-right, 2 down-right,
3 down-left); walls reflect it, a brick is removed (+1) and reflects it unless the previous step
also struck a brick, the paddle returns it (which way depends on the side it is hit on), and the
episode ends when it reaches the bottom row past the paddle. Three rows of bricks return once
all are gone and the ball reaches the bottom row. The only randomness is the start side.

Speed: one step of one env is a pure function of a few small integers, so `ball_rule` (the
rules, written once for one env) is tabulated over all its inputs and a batched step is a
handful of table look-ups. At 1,024 envs each torch call costs more than its arithmetic, so
the state is kept in the form the look-ups index with and the tables fold in as much as they
can: ball and paddle are one integer `kp = ball code * 80 + strike * 4 + 8 * paddle column`,
the bricks (which only ever occupy rows 1-3) are bits 1-30 of another, and the step's table
row is `KEYS * action + kp + 2 * (brick in the target cell) + (no bricks left)`, which gives the
next `kp` with the paddle already moved.

`advance`, `restart` and `render` are the same step, start and frame as pure functions of the
state and the tables (`consts`), for the engine's fused step under `torch.compile`; the frame
there is computed per cell as one int32 word (its 4 channel bytes) instead of a zero fill, a
look-up and a scatter, which a compiler fuses into one loop.
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


def _rules() -> tuple[np.ndarray, np.ndarray]:
    """(cell, step) over ball key + paddle after the move (see `_tables`)."""
    cell = np.full(KEYS, NO_BRICK - 1, dtype=np.int64)
    step = np.zeros((KEYS, 4), dtype=np.int64)
    for y in range(10):
        for x in range(10):
            for d in range(4):
                nx, ny, _, top = _target(x, y, d)
                target = 1 + (ny - 1) * 10 + nx if not top and 1 <= ny <= 3 else NO_BRICK
                for strike in (False, True):
                    k = ball_key(x, y, d, strike)
                    cell[k] = target - 1
                    for pos in range(10):
                        for brick in (False, True):
                            for empty in (False, True):
                                nx, ny, nd, on, hit, term, refill = ball_rule(x, y, d, pos, strike,
                                                                              brick, empty)
                                change = -(1 << target) if hit else ALL_BRICKS if refill else 0
                                step[k + 8 * pos + 2 * brick + empty] = (
                                    ball_key(nx, ny, nd, on), hit, term, change)
    return cell, step


@cache
def _tables() -> dict[str, np.ndarray]:
    """The look-up tables (numpy), by name:
    - cell: kp -> the brick bit of the ball's target cell less one (NO_BRICK - 1 if no brick
      can be there), so `(bricks >> cell) & 2` is 2 * (brick in the target cell);
    - step: KEYS * action + kp + 2 * brick + empty -> (next kp, reward, terminal, what to add to
      the bricks integer: minus the struck brick's bit, or all bricks when they are refilled,
      then the next frame's sprite offsets: trail, ball, paddle);
    - rows: a 10-bit brick row -> its 40 bytes of the frame."""
    cell_key, step_key = _rules()
    kp = np.arange(KEYS)   # every row: a state's kp plus 2 * brick + empty in its low bits
    key, pos = kp - (kp % 80) + (kp % 8), (kp % 80) // 8     # the key keeps strike and those bits
    step = np.zeros((6 * KEYS, 7), dtype=np.int64)
    for a in range(6):
        moved = np.maximum(0, pos - 1) if a == LEFT else np.minimum(9, pos + 1) if a == RIGHT else pos
        rows = step_key[key + 8 * moved]  # the rules see the paddle after its move
        rows[:, 0] += 8 * moved
        step[a * KEYS + kp, :4] = rows
        step[a * KEYS + kp, 4] = _trail(kp)          # the ball's cell before the step
        step[a * KEYS + kp, 5:] = _sprites(rows[:, 0])
    rows = np.zeros((1024, 10, 4), dtype=np.uint8)
    rows[:, :, BRICK] = (np.arange(1024)[:, None] >> np.arange(10)) & 1
    return {"cell": cell_key[key], "step": step, "rows": rows.reshape(1024, 40)}


def _trail(kp):
    """Offset in the flat (10, 10, 4) frame of the trail a ball at `kp` leaves."""
    return kp // 320 * 4 + TRAIL    # kp // 320: the ball's cell, y * 10 + x


def _sprites(kp) -> np.ndarray:
    """(..., 2) frame offsets of the ball and the paddle of `kp`."""
    kp = np.asarray(kp)
    return np.stack([kp // 320 * 4 + BALL, (90 + kp % 80 // 8) * 4 + PADDLE], -1)


def _render_tables() -> tuple[np.ndarray, np.ndarray]:
    """(cell ids 0-99, the brick bit of each cell, 31 (never set) outside rows 1-3), int32."""
    cell = np.arange(100, dtype=np.int32)
    row = cell // 10
    bit = np.where((row >= 1) & (row <= 3), 1 + (row - 1) * 10 + cell % 10, NO_BRICK)
    return cell, bit.astype(np.int32)


class BatchedBreakout:
    """State: `kp` (ball and paddle) and `bricks`, (N,) int64 tensors (see the module
    docstring), and `sprites`, the (N, 3) frame offsets of trail, ball and paddle."""

    channels = 4

    def __init__(self, num_envs: int, device: torch.device | str = "cpu", ramping: bool = True):
        # `ramping` is accepted for a uniform constructor: Breakout's difficulty does not ramp.
        self.num_envs, self.device = num_envs, torch.device(device)
        t = {k: torch.as_tensor(v, device=self.device) for k, v in _tables().items()}
        self._cell, self._step, self._rows = t["cell"], t["step"], t["rows"]
        starts = [ball_key(0, 3, 2) + 8 * 4, ball_key(9, 3, 3) + 8 * 4]
        # a start's trail is where its ball stands
        self._starts = torch.tensor([[k, _trail(k), *_sprites(k)] for k in starts], device=self.device)
        self._row_shift = torch.tensor([1, 11, 21], device=self.device)   # frame rows 1-3
        self._ones = torch.ones(1, 1, dtype=torch.uint8, device=self.device).expand(num_envs, 3)
        self.kp = self._starts[0, 0].expand(num_envs).clone()
        self.sprites = self._starts[0, 1:].expand(num_envs, 3).clone()
        self.bricks = torch.full((num_envs,), ALL_BRICKS, dtype=torch.long, device=self.device)
        cells, bits = (torch.as_tensor(x, device=self.device) for x in _render_tables())
        self.consts = (self._cell, self._step, self._starts, cells, bits)

    # ---- the pure form (the engine's compiled step) ----

    def state(self) -> tuple[torch.Tensor, ...]:
        return self.kp, self.bricks, self.sprites

    def load(self, state: tuple[torch.Tensor, ...]) -> None:
        self.kp, self.bricks, self.sprites = state

    @staticmethod
    def advance(consts, state, action):
        """`step` as a function: -> (state, reward float32, terminated bool)."""
        cell, step = consts[0], consts[1]
        kp, bricks, _ = state
        row = ((bricks >> cell[kp]) & 2) + kp + (bricks == 0).long() + action * KEYS
        out = step[row]
        return (out[:, 0], bricks + out[:, 3], out[:, 4:]), out[:, 1].float(), out[:, 2] != 0

    @staticmethod
    def restart(consts, state, mask, start):
        """`reset` as a function."""
        new = consts[2][start]
        kp, bricks, sprites = state
        return (torch.where(mask, new[:, 0], kp), torch.where(mask, ALL_BRICKS, bricks),
                torch.where(mask[:, None], new[:, 1:], sprites))

    @staticmethod
    def render(consts, state):
        """`obs` as a function: each cell's 4 channel bytes as one little-endian int32 word."""
        cells, bits = consts[3], consts[4]
        _, bricks, sprites = state
        at = (sprites >> 2).int()    # the cells of trail, ball and paddle
        word = (((bricks.int()[:, None] >> bits) & 1) << (8 * BRICK)
                | (cells == at[:, 0:1]).int() << (8 * TRAIL)
                | (cells == at[:, 1:2]).int() << (8 * BALL)
                | (cells == at[:, 2:3]).int() << (8 * PADDLE))
        return word.view(torch.uint8).view(-1, 10, 10, 4)

    def reset(self, mask: torch.Tensor, start: torch.Tensor) -> None:
        with torch.inference_mode():
            new = self._starts.index_select(0, start)
            self.kp = torch.where(mask, new[:, 0], self.kp)
            self.sprites = torch.where(mask[:, None], new[:, 1:], self.sprites)
            self.bricks = torch.where(mask, ALL_BRICKS, self.bricks)

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Package action indices (N,) -> (reward float32 (N,), terminated bool (N,))."""
        # inference mode skips autograd's bookkeeping (a third of each small call); what is
        # returned is made outside it, so callers get ordinary tensors
        with torch.inference_mode():
            kp, bricks = self.kp, self.bricks
            row = (bricks >> self._cell.index_select(0, kp)).bitwise_and_(2)
            row += kp
            row += bricks == 0
            row.add_(action, alpha=KEYS)
            out = self._step.index_select(0, row)
            self.kp, self.bricks, self.sprites = out[:, 0], bricks + out[:, 3], out[:, 4:]
        return out[:, 1].float(), out[:, 2].bool()

    def obs(self) -> torch.Tensor:
        """(N, 10, 10, 4) uint8, channels last."""
        n = self.num_envs
        out = torch.zeros(n, 400, dtype=torch.uint8, device=self.device)
        with torch.inference_mode():   # filling an ordinary tensor, so callers get one
            rows = (self.bricks[:, None] >> self._row_shift).bitwise_and_(1023)
            out[:, 40:160] = self._rows.index_select(0, rows.view(-1)).view(n, 120)
            out.scatter_(1, self.sprites, self._ones)
        return out.view(n, 10, 10, 4)
