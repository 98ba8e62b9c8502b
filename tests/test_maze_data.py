"""Maze datasets and goal samplers: held-out pairs never occur inside a training trajectory;
temporal augmentation creates (state cell, goal cell) combinations that hindsight cannot."""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.agents.goal_sampling import GoalData, HindsightSampler, TemporalAugmentation
from rlgen.data.storage import EpisodeDataset
from rlgen.envs.maze.collect import CollectConfig, collect
from rlgen.envs.maze.env import GOAL_LAYOUT
from rlgen.envs.maze.layout import level_id, pairs_within
from rlgen.registry import make_env_spec


@pytest.fixture(scope="module")
def onestitch(tmp_path_factory):
    path = tmp_path_factory.mktemp("maze") / "onestitch"
    collect(CollectConfig(env="maze:pointmaze-umaze-onestitch", transitions=20_000, num_envs=16,
                          seed=1), path, progress=False)
    return EpisodeDataset.load(path)


@pytest.mark.parametrize("task,style", [("pointmaze-umaze", "regions"),
                                        ("pointmaze-medium", "regions"),
                                        ("pointmaze-medium", "stitch")])
def test_no_test_pair_within_any_training_trajectory(tmp_path, task, style):
    path = collect(CollectConfig(env=f"maze:{task}", style=style, transitions=8_000, num_envs=16),
                   tmp_path / "d", progress=False)
    ds = EpisodeDataset.load(path)
    layout = make_env_spec(f"maze:{task}").impl.layout(task)
    assert ds.card["test_pair_check"]["passed"] is True
    assert ds.num_transitions >= 8_000
    for ep in ds.episodes():
        xy = np.concatenate([ep["observations"][:, :2], ep["next_observations"][-1:, :2]])
        assert pairs_within(layout.xy_to_cells(xy), layout.test) == []
        if style == "regions":  # successful episodes only, ending at the goal
            assert ep["terminations"][-1] and ep["rewards"][-1] == 1.0
        else:
            assert len(ep["actions"]) == 200 and not ep["terminations"].any()


def test_region_episodes_stay_in_their_region_round_robin(onestitch):
    layout = make_env_spec("maze:pointmaze-umaze-onestitch").impl.layout("pointmaze-umaze-onestitch")
    pairs = [set(level_id(s, g) for s, g in r.pairs()) for r in layout.regions]
    regions = [next(k for k, p in enumerate(pairs) if lvl in p) for lvl in onestitch.levels]
    counts = np.bincount(regions, minlength=2)
    assert abs(counts[0] - counts[1]) <= 0.1 * counts.sum()


def _reachable_combos(data: GoalData, cells: np.ndarray, next_cells: np.ndarray) -> set:
    """(state cell, goal cell) pairs that occur in order inside one trajectory."""
    combos = set()
    for f in np.unique(data.first):
        last = data.last[f]
        seq = [tuple(c) for c in cells[f:last + 1]] + [tuple(next_cells[last])]
        firsts = {}
        for t, c in enumerate(seq):
            firsts.setdefault(c, t)
        lasts = {c: t for t, c in enumerate(seq)}
        combos |= {(a, b) for a in firsts for b in lasts if firsts[a] <= lasts[b]}
    return combos


def test_augmentation_creates_unseen_combinations_more_with_larger_epsilon(onestitch):
    task = "pointmaze-umaze-onestitch"
    layout = make_env_spec(f"maze:{task}").impl.layout(task)
    data = GoalData.from_dataset(onestitch, GOAL_LAYOUT)
    cells = layout.xy_to_cells(data.observations[:, :2])
    seen = _reachable_combos(data, cells, layout.xy_to_cells(data.next_observations[:, :2]))
    test = set(layout.test)

    def rates(sampler, n=20_000):
        b = sampler.sample(n)
        s = [tuple(c) for c in cells[b["i"]]]
        g = [tuple(c) for c in layout.xy_to_cells(b["goal"])]
        unseen = np.mean([(a, c) not in seen for a, c in zip(s, g, strict=True)])
        held_out = np.mean([(a, c) in test for a, c in zip(s, g, strict=True)])
        return unseen, held_out

    assert rates(HindsightSampler(data, seed=0)) == (0.0, 0.0)
    low = rates(TemporalAugmentation(data, k=20, epsilon=0.2, seed=0))
    high = rates(TemporalAugmentation(data, k=20, epsilon=0.8, seed=0))
    assert 0 < low[0] < high[0]
    assert 0 < low[1] < high[1]


def test_zero_epsilon_with_augmentation_on_is_refused(onestitch):
    from rlgen.agents.goal_sampling import make_goal_sampler

    with pytest.raises(ValueError, match="epsilon is 0"):
        make_goal_sampler(GoalData.from_dataset(onestitch, GOAL_LAYOUT), True, 0.0, 20, 0)


def test_every_maze_recipe_loads_as_a_recipe_with_the_maze_collector():
    from rlgen.data.recipes import load_recipe, recipe_dir

    paths = sorted(recipe_dir().glob("maze-*.toml"))
    assert len(paths) >= 7
    for path in paths:
        r = load_recipe(path)
        assert r.collector == "rlgen.envs.maze.collect:collect_recipe", path
        assert r.env.startswith("maze:") and r.transitions >= 100_000


def test_cli_collect_recipe_passes_its_test_pair_check(tmp_path, capsys):
    from rlgen.cli import main

    recipe = tmp_path / "tiny.toml"
    recipe.write_text('description = "tiny"\nenv = "maze:pointmaze-umaze"\n'
                      'policy = "region-planner"\ncollector = "rlgen.envs.maze.collect:collect_recipe"\n'
                      'transitions = 3000\nnum_envs = 8\nseed = 3\n'
                      '[collector_options]\naction_noise = 0.5\n')
    assert main(["collect", "--recipe", str(recipe), "--out", str(tmp_path / "d"), "--quiet"]) == 0
    ds = EpisodeDataset.load(tmp_path / "d")
    check = ds.card["test_pair_check"]
    assert check["passed"] is True and check["pairs"] == ["r3c1-r1c1", "r1c1-r3c1"]
    assert ds.card["recipe"] == "tiny" and ds.card["collector"]["seed"] == 3
    assert ds.num_transitions >= 3000 and "3" in capsys.readouterr().out
    layout = make_env_spec("maze:pointmaze-umaze").impl.layout("pointmaze-umaze")
    for ep in ds.episodes():  # re-check independently of the card
        xy = np.concatenate([ep["observations"][:, :2], ep["next_observations"][-1:, :2]])
        assert pairs_within(layout.xy_to_cells(xy), layout.test) == []


def test_recipe_with_an_unknown_maze_policy_is_a_one_line_error(tmp_path, capsys):
    from rlgen.cli import main

    recipe = tmp_path / "bad.toml"
    recipe.write_text('env = "maze:pointmaze-umaze"\npolicy = "region-planer"\n'
                      'collector = "rlgen.envs.maze.collect:collect_recipe"\ntransitions = 100\n')
    assert main(["collect", "--recipe", str(recipe), "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rlgen: error:") and "region-planner" in err and "\n" not in err
