"""SpaceInvaders for N envs as torch arrays; the rules of
`minatar/environments/space_invaders.py`.

The cannon moves and fires (cool-down 5); bullets move one row per step; the alien block moves
sideways every `move timer` steps (the timer restarts at min(aliens left, move interval)) and
steps down and turns at a wall; the lowest alien of the occupied column nearest the cannon fires
every 10 steps. A shot alien pays +1. A cleared wave is replaced, and with ramping each new wave
moves faster (interval 12 down to 6). The game has no randomness.

Speed: each 10x10 grid (aliens, friendly and enemy bullets) is 10 row integers with bit c for
column c, so moving a grid is a row shift or a bit shift; counts, the nearest occupied column and
the frame's rows are table look-ups.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

CANNON, ALIEN, ALIEN_LEFT, ALIEN_RIGHT, FRIENDLY_BULLET, ENEMY_BULLET = range(6)
SHOT_COOL_DOWN, ENEMY_MOVE_INTERVAL, ENEMY_SHOT_INTERVAL = 5, 12, 10
LEFT, RIGHT, FIRE = 1, 3, 5
WAVE_ROW = sum(1 << c for c in range(2, 8))  # a new wave: rows 0-3, columns 2-7
# Columns of the (N, 8) scalar state. WALL is the column bit of the wall the aliens move
# towards (1: left, 512: right), COUNT the aliens left.
POS, WALL, INTERVAL, MOVE_TIMER, SHOT_TIMER, COOL_DOWN, RAMP, COUNT = range(8)
LEFT_WALL, RIGHT_WALL = 1, 1 << 9


def start_draw(rs: np.random.RandomState) -> int:
    """The package's reset draws nothing."""
    return 0


@cache
def _tables() -> tuple[np.ndarray, ...]:
    """(bits set per row value, nearest occupied column per (columns occupied, cannon column),
    cannon column after action, frame rows). A frame row is the 60 bytes (10 cells x 6
    channels) that one grid's row value contributes to a frame row; the grids' channels are
    disjoint, so a frame row is the sum of its grids' rows. Its index: aliens moving left
    (value), aliens moving right (1024 + value), friendly bullets (2048 + value), enemy
    bullets (3072 + value)."""
    bits = ((np.arange(1024)[:, None] >> np.arange(10)) & 1).astype(np.uint8)
    popcount = bits.sum(1).astype(np.int64)
    rows = np.zeros((4, 1024, 10, 6), dtype=np.uint8)
    for i, channels in enumerate([(ALIEN, ALIEN_LEFT), (ALIEN, ALIEN_RIGHT), (FRIENDLY_BULLET,),
                                  (ENEMY_BULLET,)]):
        for c in channels:
            rows[i, :, :, c] = bits
    nearest = np.zeros((1024, 10), dtype=np.int64)
    for occupied in range(1, 1024):
        for pos in range(10):
            # The package searches columns by distance, ties to the left (a stable sort).
            order = sorted(range(10), key=lambda c, p=pos: abs(c - p))
            nearest[occupied, pos] = next(c for c in order if occupied >> c & 1)
    paddle = np.array([[max(0, p - 1) if a == LEFT else min(9, p + 1) if a == RIGHT else p
                        for p in range(10)] for a in range(6)], dtype=np.int64)
    return popcount, nearest.reshape(-1), paddle.reshape(-1), rows.reshape(4 * 1024, 60)


def _word_tables(frame_rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """For `render`: the frame rows as (4096, 15) int32 words, the cannon's row-9 words per
    column (10, 15), and a (10, 1) mask of row 9."""
    cannon = torch.zeros(10, 60, dtype=torch.uint8, device=frame_rows.device)
    cannon[torch.arange(10), 6 * torch.arange(10) + CANNON] = 1
    row9 = (torch.arange(10, device=frame_rows.device) == 9)[:, None]
    return frame_rows.view(torch.int32), cannon.view(torch.int32), row9


def _any_row(grid: torch.Tensor) -> torch.Tensor:
    """Bitwise OR of the 10 rows: the occupied columns."""
    half = grid[:, :5] | grid[:, 5:]
    return half[:, 0] | half[:, 1] | half[:, 2] | half[:, 3] | half[:, 4]


class BatchedSpaceInvaders:
    """State: `scalars` (N, 8) int64 (columns POS ... COUNT) and `grids` (N, 3, 10) int64 row
    bitmasks of aliens, friendly bullets and enemy bullets."""

    channels = 6

    def __init__(self, num_envs: int, device: torch.device | str = "cpu", ramping: bool = True):
        self.num_envs, self.device, self.ramping = num_envs, torch.device(device), ramping
        dev = self.device
        self._popcount, self._nearest, self._paddle, self._frame_rows = (
            torch.as_tensor(t, device=dev) for t in _tables())
        self._grid_base = torch.tensor([0, 2048, 3072], device=dev).view(1, 3, 1)
        start = [0] * 8
        start[POS], start[WALL], start[INTERVAL] = 5, LEFT_WALL, ENEMY_MOVE_INTERVAL
        start[MOVE_TIMER], start[SHOT_TIMER] = ENEMY_MOVE_INTERVAL, ENEMY_SHOT_INTERVAL
        start[COUNT] = 24
        self._start_scalars = torch.tensor(start, device=dev)
        self._tick = torch.zeros(8, dtype=torch.long, device=dev)
        self._tick[[MOVE_TIMER, SHOT_TIMER]] = 1
        self._wave = torch.tensor([WAVE_ROW] * 4 + [0] * 6, device=dev)
        self._start_grids = torch.zeros(3, 10, dtype=torch.long, device=dev)
        self._start_grids[0] = self._wave
        self._rows = torch.arange(10, device=dev)
        self._zero_row = torch.zeros(num_envs, 1, dtype=torch.long, device=dev)
        self.scalars = self._start_scalars.expand(num_envs, 8).clone()
        self.grids = self._start_grids.expand(num_envs, 3, 10).clone()
        self.consts = (self._popcount, self._nearest, self._paddle, self._frame_rows, self._grid_base,
                       self._start_scalars, self._tick, self._wave, self._start_grids, self._rows,
                       self._zero_row, self.ramping, *_word_tables(self._frame_rows))

    def state(self) -> tuple[torch.Tensor, ...]:
        return self.scalars, self.grids

    def load(self, state: tuple[torch.Tensor, ...]) -> None:
        self.scalars, self.grids = state

    def reset(self, mask: torch.Tensor, start: torch.Tensor) -> None:
        self.load(self.restart(self.consts, self.state(), mask, start))

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Package action indices (N,) -> (reward float32 (N,), terminated bool (N,))."""
        state, reward, terminated = self.advance(self.consts, self.state(), action)
        self.load(state)
        return reward, terminated

    def obs(self) -> torch.Tensor:
        """(N, 10, 10, 6) uint8, channels last."""
        n = self.num_envs
        index = self.grids + self._grid_base
        index[:, 0] += (self.scalars[:, WALL:WALL + 1] == RIGHT_WALL).long() << 10  # moving right
        rows = self._frame_rows.index_select(0, index.view(-1)).view(n, 3, 10, 60)
        out = (rows[:, 0] + rows[:, 1] + rows[:, 2]).view(n, 600)
        out.scatter_(1, (9 * 60 + CANNON) + 6 * self.scalars[:, POS:POS + 1], 1)
        return out.view(n, 10, 10, 6)

    # The rules as pure functions of the tables (`consts`) and the state: the eager methods
    # above call them, and the engine's fused step compiles them (`torch.compile`).

    @staticmethod
    def restart(consts, state, mask, start):
        scalars, grids = state
        return (torch.where(mask[:, None], consts[5], scalars),
                torch.where(mask[:, None, None], consts[8], grids))

    @staticmethod
    def advance(consts, state, action):
        """-> (state, reward float32 (N,), terminated bool (N,))."""
        popcount, nearest, paddle, _, _, _, tick, wave, _, rows, zero_row, ramping = consts[:12]
        pos, wall, interval, move_timer, shot_timer, cool, ramp, count = state[0].unbind(1)
        aliens, friendly, enemy = state[1].unbind(1)
        fire = (action == FIRE) & (cool == 0)
        pos = paddle.index_select(0, action * 10 + pos)
        cool = torch.where(fire, SHOT_COOL_DOWN, cool)
        cannon = 1 << pos
        # Bullets move. A new friendly bullet starts in row 9 and moves to row 8 at once (row 9
        # of the friendly grid is always empty between steps).
        friendly = torch.cat([friendly[:, 1:9], (cannon * fire)[:, None], zero_row], 1)
        enemy = torch.cat([zero_row, enemy[:, :9]], 1)
        bottom = aliens[:, 9]

        move = move_timer == 0
        move_timer = torch.where(move, torch.minimum(count, interval), move_timer)
        occupied = _any_row(aliens)
        turn = move & ((occupied & wall) != 0)
        wall = torch.where(turn, (LEFT_WALL + RIGHT_WALL) - wall, wall)
        # The package rolls the grid down (row 9 wraps to row 0; the episode ends then).
        sideways = torch.where((wall == RIGHT_WALL)[:, None], aliens << 1, aliens >> 1)
        aliens = torch.where(turn[:, None], torch.roll(aliens, 1, 1),
                             torch.where(move[:, None], sideways, aliens))
        # Hit by a bullet or an alien (before or after the aliens moved), or aliens landed.
        terminated = ((enemy[:, 9] | bottom | aliens[:, 9]) & cannon) != 0
        terminated = terminated | (turn & (bottom != 0))   # not |=: the compiled path functionalizes

        # The lowest alien of the occupied column nearest the cannon fires (there always is
        # one: a cleared wave is replaced before the step ends).
        shoot = shot_timer == 0
        shot_timer = torch.where(shoot, ENEMY_SHOT_INTERVAL, shot_timer)
        col = nearest.index_select(0, _any_row(aliens) * 10 + pos)
        row = (((aliens >> col[:, None]) & 1) * rows).amax(1, keepdim=True)
        enemy.scatter_(1, row, enemy.gather(1, row) | (shoot.long() << col)[:, None])

        kill = aliens & friendly
        killed = popcount.index_select(0, kill.view(-1)).view(-1, 10).sum(1)
        aliens, friendly = aliens ^ kill, friendly ^ kill
        count = count - killed
        cleared = count == 0
        if ramping:
            faster = (cleared & (interval > 6)).long()
            interval, ramp = interval - faster, ramp + faster
        aliens = torch.where(cleared[:, None], wave, aliens)
        count = torch.where(cleared, 24, count)
        scalars = torch.stack([pos, wall, interval, move_timer, shot_timer,
                               (cool - 1).clamp(min=0), ramp, count], 1) - tick
        return (scalars, torch.stack([aliens, friendly, enemy], 1)), killed.float(), terminated

    @staticmethod
    def render(consts, state):
        """`obs` for the compiled step: the same frame built from 4-byte words (a frame row is
        15 int32 words), which the compiler turns into one gather-and-OR loop; the eager `obs`
        gathers bytes, which compiles into a slow loop."""
        frame_words, cannon_words, row9 = consts[12], consts[13], consts[14]
        scalars, grids = state
        index = grids + consts[4]
        right = (scalars[:, WALL] == RIGHT_WALL).long() << 10   # aliens moving right
        words = frame_words[index[:, 0] + right[:, None]] | frame_words[index[:, 1]] | frame_words[index[:, 2]]
        words = words | torch.where(row9, cannon_words[scalars[:, POS]][:, None, :], 0)
        return words.view(torch.uint8).view(-1, 10, 10, 6)
