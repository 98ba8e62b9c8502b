import json
import shutil

import numpy as np
import pytest

from rlgen.agents.loading import load_policy
from rlgen.cli import main
from rlgen.data.collect import collect
from rlgen.data.storage import DatasetError, EpisodeDataset, EpisodeWriter
from rlgen.policy import Policy
from rlgen.registry import make_env_spec


@pytest.fixture(scope="module")
def coinrun_dataset(tmp_path_factory):
    """A tiny real Procgen dataset (random behaviour, 10 train levels)."""
    out = tmp_path_factory.mktemp("data") / "coinrun"
    spec = make_env_spec("procgen:coinrun", num_levels=10)
    policy, behavior = load_policy("random", spec)
    collect(spec, policy, out, 600, num_envs=4, behavior=behavior, progress=False)
    return out


def test_round_trip_and_card(coinrun_dataset):
    ds = EpisodeDataset.load(coinrun_dataset)
    card = ds.card
    assert card["complete"] and card["format"] == "rlgen-episodes/1"
    assert card["env"]["id"] == "procgen:coinrun" and card["split"] == "train"
    assert card["behavior_policy"]["kind"] == "random"
    assert card["episodes"] == ds.num_episodes and card["transitions"] == ds.num_transitions >= 600
    assert ds.fields["observations"].shape == (ds.num_transitions, 64, 64, 3)
    assert ds.fields["observations"].dtype == np.uint8
    for f in ("actions", "rewards", "terminations", "truncations"):
        assert len(ds.fields[f]) == ds.num_transitions
    assert all(0 <= lvl < 10 for lvl in ds.levels)
    ends = ds.starts + ds.lengths - 1
    assert ds.fields["terminations"][ends].all()  # every saved episode is whole
    assert np.isclose(card["returns"]["mean"], ds.episode_returns().mean())
    assert card["bytes_on_disk"] / card["transitions"] < 1500


def test_frames_are_stored_losslessly(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(37, 64, 64, 3), dtype=np.uint8)
    w = EpisodeWriter(tmp_path / "d")
    w.add_episode(level=5, observations=frames, actions=np.arange(37) % 15,
                  rewards=np.zeros(37, np.float32), terminations=np.eye(37, dtype=bool)[-1],
                  truncations=np.zeros(37, bool))
    w.finalize({"env": {"id": "x"}})
    ds = EpisodeDataset.load(tmp_path / "d")
    assert np.array_equal(ds.fields["observations"], frames) and ds.levels == [5]


def test_wrong_shapes_are_refused(tmp_path):
    w = EpisodeWriter(tmp_path / "d")
    with pytest.raises(ValueError, match="rewards"):
        w.add_episode(level=0, observations=np.zeros((5, 2)), actions=np.zeros(5),
                      rewards=np.zeros(4), terminations=np.zeros(5, bool), truncations=np.zeros(5, bool))


def test_interrupted_collection_never_looks_complete_and_resumes(tmp_path):
    spec = make_env_spec("toy:identity")
    policy, _ = load_policy("oracle", spec)

    class Interrupt(Policy):
        def __init__(self):
            self.calls = 0

        def act(self, obs, infos=None):
            self.calls += 1
            if self.calls > 40:
                raise KeyboardInterrupt
            return policy.act(obs)

    import rlgen.data.storage as storage

    out = tmp_path / "d"
    old = storage.EpisodeWriter.__init__.__defaults__
    storage.EpisodeWriter.__init__.__defaults__ = (64, 5, False)  # small shards
    try:
        with pytest.raises(KeyboardInterrupt):
            collect(spec, Interrupt(), out, 10_000, num_envs=2, progress=False)
    finally:
        storage.EpisodeWriter.__init__.__defaults__ = old
    assert not (out / "card.json").exists()
    with pytest.raises(DatasetError, match="not a complete dataset"):
        EpisodeDataset.load(out)
    with pytest.raises(DatasetError, match="--resume"):
        EpisodeWriter(out)
    partial = EpisodeDataset.load(out, require_complete=False).num_transitions
    assert partial > 0
    collect(spec, policy, out, 400, num_envs=2, resume=True, progress=False)
    ds = EpisodeDataset.load(out)
    assert ds.num_transitions >= 400 and ds.num_transitions > partial


def test_corrupted_or_truncated_files_name_the_file(coinrun_dataset, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(coinrun_dataset, broken)
    obs = broken / "shards" / "000000" / "observations.zst"
    data = obs.read_bytes()
    obs.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="observations.zst.*truncated"):
        EpisodeDataset.load(broken)
    obs.write_bytes(data[:100] + bytes(len(data) - 100))
    with pytest.raises(DatasetError, match="observations.zst"):
        EpisodeDataset.load(broken)
    (broken / "card.json").write_text("{not json")
    with pytest.raises(DatasetError, match="card.json"):
        EpisodeDataset.load(broken)
    assert main(["train", "--agent", "bc", "--env", "procgen:coinrun", "--dataset", str(broken),
                 "--runs-root", str(tmp_path / "runs")]) == 2


def test_collect_cli_and_dataset_env_mismatch(tmp_path, capsys):
    out = tmp_path / "toy"
    assert main(["collect", "--env", "toy:identity", "--policy", "oracle:0.1", "--transitions",
                 "200", "--out", str(out), "--quiet"]) == 0
    assert "transitions" in capsys.readouterr().out
    card = json.loads((out / "card.json").read_text())
    assert card["behavior_policy"]["kind"] == "oracle"
    assert main(["train", "--agent", "bc", "--env", "procgen:coinrun", "--dataset", str(out),
                 "--runs-root", str(tmp_path / "runs"), "--quiet"]) == 2
    assert "collected on toy:identity" in capsys.readouterr().err


def test_exports_to_d3rlpy_and_minari(coinrun_dataset, tmp_path):
    from rlgen.data.export import to_d3rlpy

    ds = EpisodeDataset.load(coinrun_dataset)
    mdp = to_d3rlpy(ds)
    assert mdp.transition_count == ds.num_transitions and mdp.size() == ds.num_episodes
    assert mdp.episodes[0].observations.shape[1:] == (3, 64, 64)
    assert main(["dataset", "export", str(coinrun_dataset), "--id", "procgen/coinrun-test-v0",
                 "--root", str(tmp_path / "minari")]) == 0
    import minari

    m = minari.load_dataset("procgen/coinrun-test-v0")
    assert m.total_steps == ds.num_transitions and m.total_episodes == ds.num_episodes


def test_collected_levels_are_the_levels_that_ran(tmp_path):
    # toy:identity draws each episode's colour sequence from its level seed, so the first
    # frame of a stored episode tells which level really ran.
    from rlgen.envs.toy import COLOURS

    spec = make_env_spec("toy:identity", episode_length=3)
    policy, _ = load_policy("oracle", spec)
    collect(spec, policy, tmp_path / "d", 120, num_envs=3, progress=False)
    ds = EpisodeDataset.load(tmp_path / "d")
    for ep in ds.episodes():
        first = np.random.default_rng(ep["level"]).integers(len(COLOURS), size=3)[0]
        assert (ep["observations"][0, 0, 0] == COLOURS[first]).all()


def test_decoded_cache_is_memory_mapped_and_identical(coinrun_dataset, tmp_path):
    from rlgen.nets.scorer import _take

    copy = tmp_path / "d"
    shutil.copytree(coinrun_dataset, copy)
    first = EpisodeDataset.load(copy, decoded_cache=True)
    assert (copy / "decoded" / "observations.npy").exists()
    second = EpisodeDataset.load(copy, decoded_cache=True)
    obs = second.fields["observations"]
    assert isinstance(obs, np.memmap) and not obs.flags.writeable
    assert np.array_equal(obs, first.fields["observations"])
    assert np.array_equal(second.fields["actions"], first.fields["actions"])
    idx = np.array([5, 0, 17])
    assert np.array_equal(_take(obs, idx, "cpu").numpy(), first.fields["observations"][idx])
    (copy / "decoded" / "stamp.json").write_text("{}")  # stale cache: decoded again, not trusted
    assert not isinstance(EpisodeDataset.load(copy, decoded_cache=True).fields["observations"], np.memmap)


def test_level_sweep_recipe_makes_one_dataset_per_level_count(tmp_path):
    from rlgen.data.recipes import build, load_recipe

    path = tmp_path / "sweep.toml"
    path.write_text('env = "procgen:coinrun"\npolicy = "random"\ntransitions = 300\n'
                    'num_envs = 4\n[sweep]\nnum_levels = [1, 3]\n')
    recipe = load_recipe(path)
    outs = build(recipe, out=tmp_path / "data", progress=False)
    assert [p.name for p in outs] == ["sweep-num_levels1", "sweep-num_levels3"]
    for out, n in zip(outs, (1, 3), strict=True):
        ds = EpisodeDataset.load(out)
        assert ds.card["env"]["options"]["num_levels"] == n
        assert set(ds.levels) <= set(range(n)) and ds.card["recipe"] == out.name
    assert build(recipe, out=tmp_path / "data", progress=False) == outs  # finished: reused


def test_collect_recipe_honours_transitions(tmp_path, capsys):
    path = tmp_path / "small.toml"
    path.write_text('env = "toy:identity"\npolicy = "oracle"\ntransitions = "50k"\nnum_envs = 2\n')
    assert main(["collect", "--recipe", str(path), "--transitions", "64", "--out",
                 str(tmp_path / "d"), "--quiet"]) == 0
    assert 64 <= EpisodeDataset.load(tmp_path / "d").num_transitions < 100
