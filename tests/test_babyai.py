"""BabyAI family: seeds pin levels, seed and instruction-composition splits, the text rendering
on real views, the bot expert, the encoder and a PPO smoke run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("minigrid")

from minigrid.core.constants import DIR_TO_VEC  # noqa: E402

from rlgen.cli import main as cli_main  # noqa: E402
from rlgen.data.collect import collect  # noqa: E402
from rlgen.data.storage import EpisodeDataset  # noqa: E402
from rlgen.envs.babyai.env import VOCAB, decode_mission, encode_mission  # noqa: E402
from rlgen.envs.babyai.family import mission_pairs  # noqa: E402
from rlgen.envs.babyai.text import COLOURS, OBJECTS, describe, render_text  # noqa: E402
from rlgen.eval.evaluate import run_episodes  # noqa: E402
from rlgen.registry import UnknownNameError, env_family, make_env_spec  # noqa: E402

LEVELS = ("GoToRedBall", "GoToLocal", "PickupLoc", "PutNextLocal", "GoTo", "Open")


def _bot(spec, noise: float = 0.0):
    return env_family("babyai").named_policies(spec)["bot"](noise)


@pytest.mark.parametrize("task", ["GoToLocal", "GoTo"])
def test_a_seed_pins_the_level_and_mission(task):
    env = make_env_spec(f"babyai:{task}").make_env()
    first, info = env.reset(options={"level": 17})
    for _ in range(5):
        env.step(env.action_space.sample())
    env.reset(options={"level": 18})
    again, info2 = env.reset(seed=123, options={"level": 17})
    assert info["level"] == info2["level"] == 17 and info["mission"] == info2["mission"]
    for key in first:
        assert np.array_equal(first[key], again[key]), key
    missions = {env.reset(options={"level": s})[1]["mission"] for s in range(20)}
    assert len(missions) > 3  # seeds do change the level
    env.close()


def test_success_on_the_last_step_and_truncation():
    spec = make_env_spec("babyai:GoToLocal", max_episode_steps=3)
    env = spec.make_env()
    env.reset(options={"level": 0})
    infos = [env.step(1)[4] for _ in range(2)]  # turning in place never reaches the goal
    assert all("success" not in i and i["level"] == 0 for i in infos)
    _, reward, terminated, truncated, info = env.step(1)
    assert truncated and not terminated and info["success"] is False and reward == 0.0
    with pytest.raises(ValueError, match="max_episode_steps"):
        make_env_spec("babyai:GoToLocal", max_episode_steps=-1)
    with pytest.raises(UnknownNameError, match="GoToLocal"):
        make_env_spec("babyai:GoToLocl")


def test_mission_round_trips_and_uses_the_known_vocabulary():
    for task in LEVELS:
        env = make_env_spec(f"babyai:{task}").make_env()
        for seed in range(10):
            obs, info = env.reset(options={"level": seed})
            assert decode_mission(obs["mission"]) == info["mission"]
            tokens = obs["mission_tokens"][obs["mission_tokens"] > 0]
            assert len(tokens) and 1 not in tokens, info["mission"]  # no unknown words
            assert " ".join(VOCAB[t] for t in tokens) in info["mission"].replace(",", "")
        env.close()
    with pytest.raises(ValueError, match="longer"):
        encode_mission("go to " * 100)


@pytest.mark.parametrize("task", ["GoToLocal", "PutNextLocal", "Open"])
def test_composition_splits_never_leak_into_training_levels(task):
    spec = make_env_spec(f"babyai:{task}")
    heldout = env_family("babyai").heldout(task)
    assert heldout and {"train", "val", "test", "test_instructions"} <= set(spec.splits.splits)
    env = spec.make_env()
    named = {name: set() for name in spec.splits.splits}
    for name, split in spec.splits.splits.items():
        for level in split.levels:
            pairs = mission_pairs(env.reset(options={"level": level})[1]["mission"]) & heldout
            assert bool(pairs) == (name == "test_instructions"), (name, level)
            named[name] |= pairs
    env.close()
    assert named["test_instructions"] == heldout  # every held-out pair is tested
    excluded = spec.splits.excluded["heldout_instructions"]
    assert excluded and not set(excluded) & {s for sp in spec.splits.splits.values() for s in sp.levels}
    again = make_env_spec(f"babyai:{task}").splits
    assert {k: v.levels for k, v in again.splits.items()} == {k: v.levels for k, v in spec.splits.splits.items()}


def test_splits_are_pinned_to_minigrid_3_0_0_generation():
    # a minigrid release that changes level generation would silently move seeds between splits
    splits = make_env_spec("babyai:GoToLocal").splits
    assert splits["test_instructions"].levels[:5] == (1000000, 1000003, 1000004, 1000010, 1000016)
    assert splits.excluded["heldout_instructions"][:5] == (9, 10, 13, 16, 20)


def test_goto_red_ball_has_no_composition_split():
    spec = make_env_spec("babyai:GoToRedBall")
    assert "test_instructions" not in spec.splits and len(spec.splits["train"]) == 300


def test_collected_demonstrations_never_name_a_heldout_pair(tmp_path):
    spec = make_env_spec("babyai:PutNextLocal")
    collect(spec, _bot(spec), tmp_path / "d", transitions=300, num_envs=4, progress=False)
    ds = EpisodeDataset.load(tmp_path / "d")
    heldout = env_family("babyai").heldout("PutNextLocal")
    missions = {decode_mission(m) for m in ds.fields["observations"]["mission"]}
    assert len(missions) > 5 and not any(mission_pairs(m) & heldout for m in missions)
    assert "held-out pairs" in ds.card["split_levels"]["description"]
    assert set(ds.levels) <= set(spec.splits["train"].levels)


def test_text_rendering_of_a_hand_checked_view():
    env = make_env_spec("babyai:GoToLocal").make_env()
    obs, info = env.reset(options={"level": 3})
    assert info["mission"] == "go to the red key"
    assert render_text(obs).splitlines() == [
        "Mission: go to the red key",
        "a red box 1 step forward and 1 step right",
        "a green box 2 steps forward",
        "a grey ball 3 steps forward",
        "a red box 2 steps forward and 3 steps right",
        "a red key 3 steps forward and 2 steps right",
        "a red ball 4 steps forward and 3 steps right",
        "a wall 1 step left",
    ]
    obs, *_ = env.step(2)  # forward: everything comes one step closer
    assert describe(obs["image"])[:2] == ["a red box 1 step right", "a green box 1 step forward"]
    env.close()


@pytest.mark.parametrize("task", ["GoToLocal", "Open"])
def test_every_phrase_names_the_object_at_that_place_in_the_grid(task):
    env = make_env_spec(f"babyai:{task}").make_env()
    checked = 0
    for seed in range(15):
        obs, _ = env.reset(options={"level": seed})
        grid = env.minigrid
        forward_vec = np.array(DIR_TO_VEC[grid.agent_dir])
        right_vec = np.array([-forward_vec[1], forward_vec[0]])
        for phrase in describe(obs["image"]):
            if phrase.startswith("You carry"):
                continue
            words = phrase.split()
            fwd = int(words[words.index("forward") - 2]) if "forward" in words else 0
            side = 0
            for sign, word in ((1, "right"), (-1, "left")):
                if word in words:
                    side = sign * int(words[words.index(word) - 2])
            x, y = np.array(grid.agent_pos) + fwd * forward_vec + side * right_vec
            cell = grid.grid.get(int(x), int(y))
            assert cell is not None, (seed, phrase)
            name = "a wall" if cell.type == "wall" else f"{cell.color} {cell.type}"
            assert name in phrase, (seed, phrase)
            checked += 1
    assert checked > 20
    assert set(COLOURS) and "ball" in OBJECTS
    env.close()


def test_the_bot_solves_goto_local_and_recovers_from_noise():
    spec = make_env_spec("babyai:GoToLocal")
    records = run_episodes(_bot(spec), spec, "test", 12, num_envs=4, progress=False)
    assert all(r["success"] for r in records) and len({r["level"] for r in records}) == 12
    noisy = run_episodes(_bot(spec, 0.2), spec, "test", 8, num_envs=4, progress=False)
    assert np.mean([r["success"] for r in noisy]) >= 0.5
    with pytest.raises(ValueError, match="noise"):
        _bot(spec, 2.0)


def test_the_encoder_reads_image_and_mission():
    spec = make_env_spec("babyai:PutNextLocal")
    encoder = env_family("babyai").make_encoder(spec, hidden=32)
    env = spec.make_env()
    rows = [env.reset(options={"level": s})[0] for s in range(4)]
    batch = {k: torch.as_tensor(np.stack([np.asarray(r[k]) for r in rows])) for k in rows[0]}
    out = encoder(batch)
    assert out.shape == (4, encoder.out_dim) == (4, 32)
    other = dict(batch, mission_tokens=torch.flip(batch["mission_tokens"], [0]))
    assert not torch.allclose(encoder(other), out)  # the mission changes the features
    out.sum().backward()
    assert encoder.words.weight.grad is not None and encoder.cells.weight.grad is not None
    env.close()


def test_ppo_smoke_on_goto_red_ball(tmp_path, capsys):
    rc = cli_main(["train", "--agent", "ppo", "--env", "babyai:GoToRedBall", "--steps", "2048",
                   "--set", "num_envs=8", "--set", "num_steps=64", "--episodes", "4", "--quiet",
                   "--runs-root", str(tmp_path)])
    assert rc in (0, None)
    out = capsys.readouterr().out
    assert "test:" in out and "success" in out


def test_bot_demonstrations_train_bc_from_the_cli(tmp_path, capsys):
    data = tmp_path / "d"
    assert cli_main(["collect", "--env", "babyai:GoToLocal", "--policy", "bot", "--transitions",
                     "300", "--out", str(data)]) in (0, None)
    assert EpisodeDataset.load(data).card["behavior_policy"]["kind"] == "bot"
    rc = cli_main(["train", "--agent", "bc", "--env", "babyai:GoToLocal", "--dataset", str(data),
                   "--steps", "10", "--episodes", "2", "--quiet", "--runs-root", str(tmp_path),
                   "--splits", "train,test_instructions"])
    assert rc in (0, None)
    assert "test_instructions:" in capsys.readouterr().out


def test_training_evaluates_every_declared_split_by_default(tmp_path):
    """With no --splits, a run is scored on every split the env declares, so the held-out
    instructions appear in the summary next to train and test seeds."""
    import json

    from rlgen import train as T

    run = T.train(T.TrainRequest("ppo", "babyai:GoToLocal", steps=128, name="s",
                                 runs_root=str(tmp_path), episodes=2, progress=False,
                                 overrides={"num_envs": 4, "num_steps": 32, "minibatches": 2,
                                            "epochs": 1}))
    summary = json.loads((run.path / "summary.json").read_text())
    assert list(summary["splits"]) == ["train", "val", "test", "test_instructions"]
