"""MinAtar family: the package env behind Gymnasium, splits, and the batched torch games
checked step for step against the package on the same random draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("minatar")

from rlgen.envs.minatar import batched_breakout, batched_space_invaders  # noqa: E402
from rlgen.envs.minatar.batched import BatchedMinAtar  # noqa: E402
from rlgen.envs.minatar.env import _package  # noqa: E402
from rlgen.registry import UnknownNameError, make_env_spec  # noqa: E402

GAMES = {
    "breakout": (batched_breakout, batched_breakout.BatchedBreakout),
    "space_invaders": (batched_space_invaders, batched_space_invaders.BatchedSpaceInvaders),
}


class PackageDraws:
    """Feeds the batched envs the draws N package envs make: env i's RandomState gives one
    uniform per step (sticky actions) and the game's draw at each reset, in that order."""

    def __init__(self, states: list[np.random.RandomState], module):
        self.states, self.module = states, module

    def sticky(self) -> torch.Tensor:
        return torch.tensor([rs.rand() for rs in self.states])

    def new_episodes(self, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start = [self.module.start_draw(rs) if m else 0 for rs, m in zip(self.states, mask.tolist())]
        return torch.zeros(len(self.states), dtype=torch.long), torch.tensor(start)


def package_envs(game: str, seeds: list[int], sticky: float, ramping: bool = True):
    envs = []
    for s in seeds:
        env = _package().Environment(game, sticky_action_prob=sticky, difficulty_ramping=ramping)
        env.seed(s)
        env.reset()
        envs.append(env)
    return envs


def scripted_action(game: str, s: np.ndarray) -> int:
    """A decent player read off the grid, so long runs reach what random play rarely does
    (Breakout brick refills; SpaceInvaders cleared waves)."""
    if game == "breakout":
        (by, bx), = np.argwhere(s[:, :, 1])
        (ty, tx), = np.argwhere(s[:, :, 2])
        px = int(np.argwhere(s[9, :, 0])[0][0])
        target = min(9, max(0, bx + (bx - tx) if by > ty else bx))
        return 1 if target < px else 3 if target > px else 0
    px = int(np.argwhere(s[9, :, 0])[0][0])
    danger = s[5:9, :, 5].any(0)
    if danger[px]:
        for a, q in ((1, px - 1), (3, px + 1)):
            if 0 <= q <= 9 and not danger[q]:
                return a
    cols = np.flatnonzero(s[:, :, 1].any(0))
    c = int(cols[np.argmin(abs(cols - px))])
    if c == px:
        return 5
    return 0 if danger[px - 1 if c < px else px + 1] else (1 if c < px else 3)


def thin_wave(env, game, i: int, rng: np.random.Generator) -> None:
    """SpaceInvaders only: start env i (package and batched alike) with a few aliens left and
    a random move interval, so waves get cleared and the speed ramp is exercised."""
    inner = env.env
    alien = np.zeros((10, 10))
    cells = rng.choice(24, size=int(rng.integers(1, 4)), replace=False)
    alien[cells // 6, 2 + cells % 6] = 1
    interval = int(rng.integers(6, 13))
    inner.alien_map, inner.enemy_move_interval, inner.alien_move_timer = alien, interval, interval
    rows = (alien.astype(np.int64) << np.arange(10)).sum(1)
    game.grids[i, 0] = torch.from_numpy(rows)
    game.scalars[i, batched_space_invaders.INTERVAL] = interval
    game.scalars[i, batched_space_invaders.MOVE_TIMER] = interval


def run_both(game: str, n: int, steps: int, sticky: float, seed: int = 0, inject: bool = False):
    """Step n package envs and the batched game on the same actions and draws, asserting equal
    observations, rewards and terminations at every step. Envs play uniformly at random, or
    the scripted player with 2% or 20% random actions. Returns (episodes, total reward,
    best episode return, highest speed ramp reached)."""
    module, cls = GAMES[game]
    seeds = list(range(seed, seed + n))
    envs = package_envs(game, seeds, sticky)
    draws = PackageDraws([np.random.RandomState(s) for s in seeds], module)
    engine = BatchedMinAtar(cls(n), draws, list(range(6)), sticky_action_prob=sticky)
    obs = engine.reset().numpy()
    rng = np.random.default_rng(seed + 1)
    eps = np.array([1.0, 0.2, 0.02])[np.arange(n) % 3]
    if inject:
        for i in range(n):
            thin_wave(envs[i], engine.game, i, rng)
        obs = engine.game.obs().numpy()
    episodes, total, ep_ret, best, ramp = 0, 0.0, np.zeros(n), 0.0, 0
    for t in range(steps):
        expected = np.stack([e.state() for e in envs]).astype(np.uint8)
        np.testing.assert_array_equal(obs, expected, err_msg=f"{game} obs differ at step {t}")
        actions = np.array([rng.integers(6) if rng.random() < eps[i] else scripted_action(game, obs[i])
                            for i in range(n)])
        obs_t, rew, term, trunc, _ = engine.step(torch.as_tensor(actions))
        for i, env in enumerate(envs):
            r, done = env.act(int(actions[i]))
            assert float(rew[i]) == r, f"{game} env {i} reward differs at step {t}"
            assert bool(term[i]) == bool(done), f"{game} env {i} termination differs at step {t}"
            total += r
            ep_ret[i] += r
            ramp = max(ramp, env.env.difficulty_ramp() or 0)
            if done:
                best, ep_ret[i] = max(best, ep_ret[i]), 0.0
                env.reset()
                episodes += 1
                if inject:
                    thin_wave(env, engine.game, i, rng)
        obs = engine.game.obs().numpy() if inject else obs_t.numpy()
        assert not trunc.any()
    return episodes, total, max(best, ep_ret.max()), ramp


@pytest.mark.parametrize("game", list(GAMES))
@pytest.mark.parametrize("sticky", [0.0, 0.1, 0.5])
def test_batched_matches_package(game, sticky):
    episodes, total, best, _ = run_both(game, n=16, steps=1500, sticky=sticky)
    # Long enough for many resets; without sticky actions a Breakout run clears all 30 bricks.
    assert episodes >= 50 and total > 0
    if game == "breakout" and sticky == 0.0:
        assert best > 30


def test_space_invaders_waves_and_ramp_match_package():
    """Thinned waves: cleared waves, respawns and the speed ramp, step for step."""
    episodes, total, _, ramp = run_both("space_invaders", n=12, steps=1500, sticky=0.1, seed=7,
                                        inject=True)
    assert episodes >= 20 and total > 0 and ramp >= 1
