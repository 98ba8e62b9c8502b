"""SpaceInvaders for N envs as torch arrays; the rules of
`minatar/environments/space_invaders.py`.

The cannon moves and fires (cool-down 5); bullets move one row per step; the alien block moves
sideways every `move timer` steps (the timer restarts at min(aliens left, move interval)) and
steps down and turns at a wall; the alien nearest the cannon's column fires every 10 steps. A
shot alien pays +1. A cleared wave is replaced, and with ramping each new wave moves faster
(interval 12 down to 6). The game has no randomness.
"""

from __future__ import annotations

import numpy as np
import torch

CANNON, ALIEN, ALIEN_LEFT, ALIEN_RIGHT, FRIENDLY_BULLET, ENEMY_BULLET = range(6)
SHOT_COOL_DOWN, ENEMY_MOVE_INTERVAL, ENEMY_SHOT_INTERVAL = 5, 12, 10
LEFT, RIGHT, FIRE = 1, 3, 5


def start_draw(rs: np.random.RandomState) -> int:
    """The package's reset draws nothing."""
    return 0


class BatchedSpaceInvaders:
    channels = 6

    def __init__(self, num_envs: int, device: torch.device | str = "cpu", ramping: bool = True):
        self.num_envs, self.device, self.ramping = num_envs, torch.device(device), ramping
        n, dev = num_envs, self.device
        self._rows = torch.arange(n, device=dev)
        self._cols = torch.arange(10, device=dev)
        self._wave = torch.zeros(10, 10, dtype=torch.bool, device=dev)
        self._wave[0:4, 2:8] = True
        self._empty = torch.zeros(10, 10, dtype=torch.bool, device=dev)

        def full(value):
            return torch.full((n,), value, dtype=torch.long, device=dev)

        self.pos, self.alien_dir = full(5), full(-1)
        self.move_interval, self.move_timer = full(ENEMY_MOVE_INTERVAL), full(ENEMY_MOVE_INTERVAL)
        self.shot_timer, self.alien_shot_timer = full(0), full(ENEMY_SHOT_INTERVAL)
        self.ramp_index = full(0)
        self.aliens = self._wave.expand(n, 10, 10).clone()
        self.f_bullets = torch.zeros(n, 10, 10, dtype=torch.bool, device=dev)
        self.e_bullets = torch.zeros(n, 10, 10, dtype=torch.bool, device=dev)

    def reset(self, mask: torch.Tensor, start: torch.Tensor) -> None:
        m, grid = mask, mask[:, None, None]
        self.pos = torch.where(m, 5, self.pos)
        self.alien_dir = torch.where(m, -1, self.alien_dir)
        self.move_interval = torch.where(m, ENEMY_MOVE_INTERVAL, self.move_interval)
        self.move_timer = torch.where(m, ENEMY_MOVE_INTERVAL, self.move_timer)
        self.alien_shot_timer = torch.where(m, ENEMY_SHOT_INTERVAL, self.alien_shot_timer)
        self.shot_timer = torch.where(m, 0, self.shot_timer)
        self.ramp_index = torch.where(m, 0, self.ramp_index)
        self.aliens = torch.where(grid, self._wave, self.aliens)
        self.f_bullets = torch.where(grid, self._empty, self.f_bullets)
        self.e_bullets = torch.where(grid, self._empty, self.e_bullets)

    def _at_cannon(self, grid: torch.Tensor) -> torch.Tensor:
        return grid[self._rows, 9, self.pos]

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Package action indices (N,) -> (reward float32 (N,), terminated bool (N,))."""
        n, rows = self.num_envs, self._rows
        fire = (action == FIRE) & (self.shot_timer == 0)
        pos = torch.where(action == LEFT, (self.pos - 1).clamp(min=0), self.pos)
        self.pos = torch.where(action == RIGHT, (pos + 1).clamp(max=9), pos)
        # A new bullet appears in row 9 and moves up with the others in the same step.
        f = self.f_bullets.clone()
        f[rows, 9, self.pos] |= fire
        self.shot_timer = torch.where(fire, SHOT_COOL_DOWN, self.shot_timer)
        no_row = torch.zeros(n, 1, 10, dtype=torch.bool, device=self.device)
        f = torch.cat([f[:, 1:], no_row], 1)
        e = torch.cat([no_row, self.e_bullets[:, :9]], 1)
        terminated = self._at_cannon(e) | self._at_cannon(self.aliens)

        aliens = self.aliens
        move = self.move_timer == 0
        count = aliens.flatten(1).sum(1)
        self.move_timer = torch.where(move, torch.minimum(count, self.move_interval), self.move_timer)
        at_wall = ((aliens[:, :, 0].any(1) & (self.alien_dir < 0))
                   | (aliens[:, :, 9].any(1) & (self.alien_dir > 0)))
        turn = move & at_wall
        self.alien_dir = torch.where(turn, -self.alien_dir, self.alien_dir)
        terminated |= turn & aliens[:, 9].any(1)
        # np.roll wraps: the package's down-roll moves row 9 to row 0 (the episode ends then).
        down = torch.roll(aliens, 1, 1)
        sideways = torch.where((self.alien_dir > 0)[:, None, None], torch.roll(aliens, 1, 2),
                               torch.roll(aliens, -1, 2))
        aliens = torch.where(turn[:, None, None], down,
                             torch.where((move & ~turn)[:, None, None], sideways, aliens))
        terminated |= move & self._at_cannon(aliens)

        # The alien that fires: the lowest one in the occupied column nearest the cannon
        # (ties to the left column, as the package's stable sort).
        shoot = self.alien_shot_timer == 0
        self.alien_shot_timer = torch.where(shoot, ENEMY_SHOT_INTERVAL, self.alien_shot_timer)
        occupied = aliens.any(1)
        key = (self._cols[None] - self.pos[:, None]).abs() * 16 + self._cols[None]
        col = torch.where(occupied, key, 1 << 20).argmin(1)
        in_col = aliens[rows, :, col]
        row = torch.where(in_col, self._cols[None], -1).amax(1)
        shoot = shoot & occupied.any(1)
        e[rows, row.clamp(min=0), col] |= shoot

        kill = aliens & f
        reward = kill.flatten(1).sum(1).float()
        aliens = aliens & ~kill
        self.f_bullets = f & ~kill
        self.e_bullets = e
        self.shot_timer = self.shot_timer - (self.shot_timer > 0).long()
        self.move_timer = self.move_timer - 1
        self.alien_shot_timer = self.alien_shot_timer - 1
        cleared = ~aliens.flatten(1).any(1)
        if self.ramping:
            faster = cleared & (self.move_interval > 6)
            self.move_interval = self.move_interval - faster.long()
            self.ramp_index = self.ramp_index + faster.long()
        self.aliens = torch.where(cleared[:, None, None], self._wave, aliens)
        return reward, terminated

    def obs(self) -> torch.Tensor:
        """(N, 10, 10, 6) uint8, channels last."""
        n = self.num_envs
        cannon = torch.zeros(n, 10, 10, dtype=torch.bool, device=self.device)
        cannon[self._rows, 9, self.pos] = True
        left = (self.alien_dir < 0)[:, None, None]
        planes = [cannon, self.aliens, self.aliens & left, self.aliens & ~left,
                  self.f_bullets, self.e_bullets]
        return torch.stack(planes, -1).to(torch.uint8)
