import json
import tomllib

import pytest
import torch
from conftest import interrupted_at_log

from rlgen import train as T
from rlgen.cli import main
from rlgen.runs import RunDir

TINY = {"num_envs": 4, "num_steps": 32, "minibatches": 2, "epochs": 1, "checkpoint_every_s": 0.0,
        "encoder": {"channels": [4, 8], "out_dim": 32}}


def test_train_writes_a_complete_run_directory(runs_root):
    req = T.TrainRequest("ppo", "toy:identity", steps=256, name="r", runs_root=str(runs_root),
                         overrides=TINY, episodes=6, progress=False)
    run = T.train(req)
    for f in ("config.toml", "command.txt", "provenance.json", "metrics.jsonl", "summary.json",
              "episodes.jsonl", "checkpoints/latest.pt"):
        assert (run.path / f).exists(), f
    config = tomllib.loads((run.path / "config.toml").read_text())
    assert config["agent"] == "ppo" and config["agent_config"]["num_envs"] == 4
    assert config["env_options"]["episode_length"] == 8
    summary = json.loads((run.path / "summary.json").read_text())
    assert {"env", "agent", "seed", "splits", "generalization_gap"} <= set(summary)
    for split in ("train", "val", "test"):
        assert {"episodes", "levels", "mean_return", "normalized_mean", "normalized_mean_ci"} \
            <= set(summary["splits"][split])
    assert {"value", "ci", "metric"} <= set(summary["generalization_gap"])
    state = torch.load(run.checkpoint_path, weights_only=True)
    assert state["global_step"] == 256
    prov = json.loads((run.path / "provenance.json").read_text())
    assert prov["packages"]["torch"] and prov["device"] == "cpu"
    with pytest.raises(FileExistsError):
        T.train(req)


def test_resume_continues_from_the_checkpoint(runs_root, monkeypatch):
    req = T.TrainRequest("ppo", "toy:identity", steps=3 * 128, name="r", runs_root=str(runs_root),
                         overrides=TINY, evaluate=False, progress=False)
    with interrupted_at_log(2):
        T.train(req)
    run = RunDir.open(runs_root / "r")
    assert torch.load(run.checkpoint_path, weights_only=True)["update"] == 1
    T.resume(run.path, progress=False)
    assert torch.load(run.checkpoint_path, weights_only=True)["update"] == 3
    steps = [m["step"] for m in run.metrics()]
    assert steps == [128, 256, 384]  # update 1 is not repeated
    assert len((run.path / "command.txt").read_text().splitlines()) == 2


def test_evaluate_and_report_commands(runs_root, tmp_path, capsys):
    run = T.train(T.TrainRequest("ppo", "toy:identity", steps=128, name="r", runs_root=str(runs_root),
                                 overrides=TINY, evaluate=False, progress=False))
    assert main(["evaluate", str(run.path), "--splits", "train,test", "--episodes", "4", "--quiet"]) == 0
    assert set(json.loads((run.path / "summary.json").read_text())["splits"]) == {"train", "test"}
    plot = tmp_path / "r.png"
    assert main(["report", str(run.path), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "test: 4 episodes on 4 levels" in out and "| toy:identity | ppo | – | 0 |" in out
    assert plot.stat().st_size > 1000
    assert main(["evaluate", str(run.path), "--splits", "tset", "--episodes", "2"]) == 2


def test_a_run_directory_has_one_writer(runs_root):
    run = RunDir.create(runs_root, "busy")
    with run.lock():
        with pytest.raises(FileExistsError, match="in use by another process"):
            with RunDir(run.path).lock():
                pass


def test_generated_run_names_never_collide(runs_root):
    first = RunDir.create(runs_root, "ppo-toy-s0-20261126-082647", unique=True)
    (first.path / "config.toml").write_text("")
    second = RunDir.create(runs_root, "ppo-toy-s0-20261126-082647", unique=True)
    assert second.path.name == "ppo-toy-s0-20261126-082647-2"
    assert RunDir.create(runs_root, "ppo-toy-s0-20261126-082647", unique=True).path.name.endswith("-3")
    with pytest.raises(FileExistsError, match="--resume"):
        RunDir.create(runs_root, "ppo-toy-s0-20261126-082647")
