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
