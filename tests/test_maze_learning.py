"""Learning checks on `maze:pointmaze-umaze-onestitch` (slow: several CPU minutes; run with -m slow).

The layout (envs/maze.toml): region A = the U-maze's top row, region B = (1,3) down the right
side and along the bottom row; they share only (1,3), and the 8 held-out pairs cross the wall
between the rows, so each needs one stitch at (1,3). Data: 50k transitions of region data
(collection seed = training seed), RvS 2x256, 3000 updates, 40 test episodes.

Measured on 2026-11-26 (2-core CPU sandbox, no GPU, shared, load average ~9), held-out success:

    seed | RvS  | RvS + aug (eps 0.5, K 20)
    0    | 0.72 | 1.00
    1    | 0.97 | 0.95

So augmentation helped on seed 0 and made no difference on seed 1: plain RvS often generalizes
here by itself (it fails mostly on the bottom-to-top pairs, and not on every seed). That is not
a repeatable effect, which is why these checks stay `slow` and assert the two-seed mean with a
0.1 margin (measured: 0.975 vs 0.845). The TD check's numbers are in its docstring.
Neither claim is shown at this budget: expect the TD check to fail (see below).
Numbers: scripts/reproduce/maze_onestitch_effects.py (same settings).
"""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.envs.maze.collect import CollectConfig, collect
from rlgen.train import TrainRequest, train

pytestmark = pytest.mark.slow

TASK = "pointmaze-umaze-onestitch"
SEEDS = (0, 1)
RVS = {"hidden": [256, 256]}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("maze")
    return {s: collect(CollectConfig(env=f"maze:{TASK}", transitions=50_000, num_envs=16, seed=s),
                       root / f"d{s}", progress=False) for s in SEEDS}


def _held_out(tmp_path, dataset, seed, agent, steps, **overrides) -> float:
    run = train(TrainRequest(agent=agent, env=f"maze:{TASK}", steps=steps, seed=seed,
                             dataset=str(dataset), runs_root=str(tmp_path), episodes=40,
                             splits=("test",), progress=False, overrides=overrides))
    return run.read_summary()["splits"]["test"]["success_rate"]


def test_augmentation_raises_held_out_success(tmp_path, data):
    plain = np.mean([_held_out(tmp_path / f"p{s}", data[s], s, "rvs", 3000, **RVS) for s in SEEDS])
    aug = np.mean([_held_out(tmp_path / f"a{s}", data[s], s, "rvs", 3000, **RVS,
                             temporal_augmentation=True, augmentation_epsilon=0.5) for s in SEEDS])
    assert aug >= plain + 0.1, (plain, aug)


def test_td_baseline_beats_rvs_on_held_out_pairs(tmp_path, data):
    """GCIQL 2x256, batch 256, lr 1e-3, 2000 updates (~2.5 CPU minutes per seed under load).

    Measured on seed 0 only (2026-11-26): held-out 0.72 (train 1.00), equal to plain RvS's 0.72,
    so this check FAILS at this budget; with half the actor's goals random
    (`actor_p_random=0.5`) it was worse (held-out 0.17, train 0.90). After 2000 updates the
    mean value estimate was only -4.3 (paths take ~50-100 steps), i.e. the critic had not
    propagated far: the TD baseline needs a much longer run than this CPU budget allows.
    """
    plain = np.mean([_held_out(tmp_path / f"p{s}", data[s], s, "rvs", 3000, **RVS) for s in SEEDS])
    td = np.mean([_held_out(tmp_path / f"q{s}", data[s], s, "gciql", 2000, hidden=[256, 256],
                            batch_size=256, lr=1e-3) for s in SEEDS])
    assert td >= plain + 0.1, (plain, td)
