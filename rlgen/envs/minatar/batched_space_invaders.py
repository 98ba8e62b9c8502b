"""SpaceInvaders for N envs as torch arrays; the rules of
`minatar/environments/space_invaders.py`.

The cannon moves and fires (cool-down 5); bullets move one row per step; the alien block moves
sideways every `move timer` steps (the timer restarts at min(aliens left, move interval)) and
steps down and turns at a wall; the lowest alien of the occupied column nearest the cannon fires
every 10 steps. A shot alien pays +1. A cleared wave is replaced, and with ramping each new wave
moves faster (interval 12 down to 6). The game has no randomness.

Speed: each 10x10 grid (aliens, friendly and enemy bullets) is 10 row integers with bit c for
column c, so moving a grid is a row shift or a bit shift; counts and the nearest occupied column
are table look-ups.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

CANNON, ALIEN, ALIEN_LEFT, ALIEN_RIGHT, FRIENDLY_BULLET, ENEMY_BULLET = range(6)
SHOT_COOL_DOWN, ENEMY_MOVE_INTERVAL, ENEMY_SHOT_INTERVAL = 5, 12, 10
LEFT, RIGHT, FIRE = 1, 3, 5
WAVE_ROW = sum(1 << c for c in range(2, 8))  # a new wave: rows 0-3, columns 2-7
# Columns of the (N, 7) scalar state.
POS, DIR, INTERVAL, MOVE_TIMER, SHOT_TIMER, COOL_DOWN, RAMP = range(7)


def start_draw(rs: np.random.RandomState) -> int:
    """The package's reset draws nothing."""
    return 0


@cache
def _tables() -> tuple[np.ndarray, ...]:
    """(bits set per row value, nearest occupied column per (columns occupied, cannon column),
    cannon column after action, a row value with bit c moved to bit 6c, the 6 channel bytes of
    a 6-bit cell code)."""
    values = np.arange(1024)
    bits = (values[:, None] >> np.arange(10)) & 1
    popcount = bits.sum(1).astype(np.int64)
    spread = (bits << (6 * np.arange(10))).sum(1).astype(np.int64)
    channel_bytes = ((np.arange(64)[:, None] >> np.arange(6)) & 1).astype(np.uint8)
    nearest = np.zeros((1024, 10), dtype=np.int64)
    for occupied in range(1, 1024):
        for pos in range(10):
            # The package searches columns by distance, ties to the left (a stable sort).
            order = sorted(range(10), key=lambda c, p=pos: abs(c - p))
            nearest[occupied, pos] = next(c for c in order if occupied >> c & 1)
    paddle = np.array([[max(0, p - 1) if a == LEFT else min(9, p + 1) if a == RIGHT else p
                        for p in range(10)] for a in range(6)], dtype=np.int64)
    return popcount, nearest.reshape(-1), paddle.reshape(-1), spread, channel_bytes


def _any_row(grid: torch.Tensor) -> torch.Tensor:
    """Bitwise OR of the 10 rows: the occupied columns."""
    half = grid[:, :5] | grid[:, 5:]
    return half[:, 0] | half[:, 1] | half[:, 2] | half[:, 3] | half[:, 4]


class BatchedSpaceInvaders:
    """State: `scalars` (N, 7) int64 (columns POS ... RAMP) and `grids` (N, 3, 10) int64 row
    bitmasks of aliens, friendly bullets and enemy bullets."""

    channels = 6

    def __init__(self, num_envs: int, device: torch.device | str = "cpu", ramping: bool = True):
        self.num_envs, self.device, self.ramping = num_envs, torch.device(device), ramping
        dev = self.device
        self._popcount, self._nearest, self._paddle, self._spread, self._channel_bytes = (
            torch.as_tensor(t, device=dev) for t in _tables())
        self._cell_shift = 6 * torch.arange(10, device=dev)
        start = [0] * 7
        start[POS], start[DIR], start[INTERVAL] = 5, -1, ENEMY_MOVE_INTERVAL
        start[MOVE_TIMER], start[SHOT_TIMER] = ENEMY_MOVE_INTERVAL, ENEMY_SHOT_INTERVAL
        self._start_scalars = torch.tensor(start, device=dev)
        self._wave = torch.tensor([WAVE_ROW] * 4 + [0] * 6, device=dev)
        self._start_grids = torch.zeros(3, 10, dtype=torch.long, device=dev)
        self._start_grids[0] = self._wave
        self._rows = torch.arange(1, 11, device=dev)
        self._zero_row = torch.zeros(num_envs, 1, dtype=torch.long, device=dev)
        self.scalars = self._start_scalars.expand(num_envs, 7).clone()
        self.grids = self._start_grids.expand(num_envs, 3, 10).clone()

    def reset(self, mask: torch.Tensor, start: torch.Tensor) -> None:
        self.scalars = torch.where(mask[:, None], self._start_scalars, self.scalars)
        self.grids = torch.where(mask[:, None, None], self._start_grids, self.grids)

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Package action indices (N,) -> (reward float32 (N,), terminated bool (N,))."""
        n = self.num_envs
        pos, adir, interval, move_timer, shot_timer, cool, ramp = self.scalars.unbind(1)
        aliens, friendly, enemy = self.grids.unbind(1)
        fire = (action == FIRE) & (cool == 0)
        pos = self._paddle.index_select(0, action * 10 + pos)
        cool = torch.where(fire, SHOT_COOL_DOWN, cool)
        cannon = 1 << pos
        # Bullets move; a new friendly bullet starts in row 9 and moves to row 8 at once
        # (row 9 of the friendly grid is always empty between steps).
        friendly = torch.cat([friendly[:, 1:], self._zero_row], 1)
        friendly[:, 8] |= cannon * fire
        enemy = torch.cat([self._zero_row, enemy[:, :9]], 1)
        terminated = ((enemy[:, 9] | aliens[:, 9]) & cannon) != 0

        move = move_timer == 0
        count = self._popcount.index_select(0, aliens.reshape(-1)).view(n, 10).sum(1)
        move_timer = torch.where(move, torch.minimum(count, interval), move_timer)
        occupied = _any_row(aliens)
        at_wall = torch.where(adir < 0, occupied & 1, occupied & 512) != 0
        turn = move & at_wall
        adir = torch.where(turn, -adir, adir)
        terminated |= turn & (aliens[:, 9] != 0)
        # The package rolls the grid down (row 9 wraps to row 0; the episode ends then).
        sideways = torch.where((adir > 0)[:, None], aliens << 1, aliens >> 1)
        aliens = torch.where(turn[:, None], torch.roll(aliens, 1, 1),
                             torch.where((move & ~turn)[:, None], sideways, aliens))
        terminated |= move & ((aliens[:, 9] & cannon) != 0)

        shoot = shot_timer == 0
        shot_timer = torch.where(shoot, ENEMY_SHOT_INTERVAL, shot_timer)
        occupied = _any_row(aliens)
        col = self._nearest.index_select(0, occupied * 10 + pos)
        in_col = (aliens >> col[:, None]) & 1
        row = ((in_col * self._rows).amax(1) - 1).clamp(min=0)[:, None]
        shot = (shoot & (occupied != 0)).long() << col
        enemy.scatter_(1, row, enemy.gather(1, row) | shot[:, None])

        kill = aliens & friendly
        reward = self._popcount.index_select(0, kill.reshape(-1)).view(n, 10).sum(1).float()
        aliens, friendly = aliens & ~kill, friendly & ~kill
        cool = cool - (cool > 0).long()
        cleared = aliens.sum(1) == 0
        if self.ramping:
            faster = (cleared & (interval > 6)).long()
            interval, ramp = interval - faster, ramp + faster
        aliens = torch.where(cleared[:, None], self._wave, aliens)
        self.scalars = torch.stack([pos, adir, interval, move_timer - 1, shot_timer - 1, cool, ramp], 1)
        self.grids = torch.stack([aliens, friendly, enemy], 1)
        return reward, terminated

    def obs(self) -> torch.Tensor:
        """(N, 10, 10, 6) uint8, channels last."""
        # Each cell's 6 channel bits as one code (bit k = channel k), for a whole row at once:
        # spread rows keep column c in bits 6c..6c+5, so the channels add without carries.
        n = self.num_envs
        spread = self._spread.index_select(0, self.grids.view(-1)).view(n, 3, 10)
        left = (self.scalars[:, DIR:DIR + 1] < 0).long()
        alien_bits = (1 << ALIEN) + (1 << ALIEN_LEFT) * left + (1 << ALIEN_RIGHT) * (1 - left)
        rows = (spread[:, 0] * alien_bits + spread[:, 1] * (1 << FRIENDLY_BULLET)
                + spread[:, 2] * (1 << ENEMY_BULLET))
        rows[:, 9] += self._spread.index_select(0, 1 << self.scalars[:, POS]) << CANNON
        codes = (rows[:, :, None] >> self._cell_shift) & 63
        return self._channel_bytes.index_select(0, codes.view(-1)).view(n, 10, 10, 6)
