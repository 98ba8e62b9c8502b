import json

from rlgen import train as T


def test_ppo_beats_random_on_a_tiny_task(runs_root):
    # Random play scores 0.25 normalized on toy:identity; PPO should clearly exceed it.
    overrides = {"num_envs": 8, "num_steps": 64, "minibatches": 4, "lr": 2e-3, "gamma": 0.9,
                 "ent_coef": 0.0, "encoder": {"channels": [8, 16], "out_dim": 64}}
    run = T.train(T.TrainRequest("ppo", "toy:identity", steps=4096, name="p", seed=1,
                                 runs_root=str(runs_root), overrides=overrides, episodes=30,
                                 splits=("test",), progress=False))
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["splits"]["test"]["normalized_mean"] > 0.5
