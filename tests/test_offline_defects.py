"""Regression tests for the offline-agent defects of issue 10 §3. Each failed on the code before
its fix (the DT ones and the truncation ones were run against it)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rlgen import train as T
from rlgen.config import build_config
from rlgen.data.storage import EpisodeDataset, EpisodeWriter
from rlgen.registry import agent_class, make_env_spec

SMALL = {"batch_size": 256, "lr": 1e-3, "log_every": 10, "encoder": {"channels": [8], "out_dim": 32}}
SEQ = {**SMALL, "context": 2, "layers": 1, "heads": 2, "d_model": 16, "dropout": 0.0, "batch_size": 8}
SHAPE = (16, 16, 3)


# ---- decision transformer ------------------------------------------------------------------

def test_dt_acting_feeds_the_true_timestep_beyond_the_context():
    spec = make_env_spec("toy:identity")
    cls = agent_class("dt")
    agent = cls(spec, build_config(cls.config_class, SEQ), torch.device("cpu"))
    model = agent.nets["model"]
    seen = []
    forward = model.forward

    def spy(feats, actions, rtg, timesteps):
        seen.append(timesteps.clone())
        return forward(feats, actions, rtg, timesteps)

    model.forward = spy
    policy = agent.policy(deterministic=True)
    obs = np.zeros((2, *SHAPE), np.uint8)
    for _ in range(5):  # context is 2: steps 3 and 4 lie beyond it
        policy.act(obs)
    assert seen[-1].tolist() == [[3, 4], [3, 4]]
    policy.begin(np.array([1]))
    policy.act(obs)
    assert seen[-1].tolist() == [[4, 5], [0, 0]]  # slot 1 restarted at step 0 (padding after)


def test_bct_run_records_the_config_that_ran(tmp_path, toy_dataset):
    run, resolved = T.start_run(T.TrainRequest("bct", "toy:identity", steps=1, dataset=toy_dataset,
                                               name="bct", runs_root=str(tmp_path), overrides=SEQ))
    assert run.read_config()["agent_config"]["condition_on_return"] is False
    agent, _ = T.build_agent(run.read_config())
    assert agent.nets["model"].return_embed is None


def test_dt_without_return_conditioning_runs_unconditioned(tmp_path, toy_dataset):
    run, _ = T.start_run(T.TrainRequest("dt", "toy:identity", steps=1, dataset=toy_dataset,
                                        name="dt", runs_root=str(tmp_path),
                                        overrides={**SEQ, "condition_on_return": False}))
    assert run.read_config()["agent_config"]["condition_on_return"] is False
    agent, _ = T.build_agent(run.read_config())
    assert agent.nets["model"].return_embed is None


def test_bct_refuses_return_conditioning_before_any_run_dir(tmp_path, toy_dataset):
    with pytest.raises(ValueError, match="bct has no return input"):
        T.start_run(T.TrainRequest("bct", "toy:identity", steps=1, dataset=toy_dataset, name="x",
                                   runs_root=str(tmp_path), overrides={**SEQ, "condition_on_return": True}))
    assert not (tmp_path / "x").exists()


# ---- TD targets at truncated episode ends ----------------------------------------------------

FINAL = np.full(SHAPE, 7, np.uint8)  # the observation after the truncated episode's last step


def _dataset(path, with_next: bool) -> str:
    """Episode 0: 3 steps, terminated; episode 1: 4 steps, truncated. Reward = global step index,
    so sampled rows can be told apart."""
    spec = make_env_spec("toy:identity")
    writer = EpisodeWriter(path)
    rng = np.random.default_rng(0)
    step = 0
    for length, terminated in ((3, True), (4, False)):
        obs = rng.integers(0, 255, size=(length, *SHAPE), dtype=np.uint8)
        ends = np.arange(length) == length - 1
        fields = {"observations": obs, "actions": np.zeros(length, np.int64),
                  "rewards": np.arange(step, step + length, dtype=np.float32),
                  "terminations": ends & terminated, "truncations": ends & (not terminated)}
        if with_next:
            fields["next_observations"] = np.concatenate([obs[1:], FINAL[None]])
        writer.add_episode(level=step, **fields)
        step += length
    return str(writer.finalize({"env": spec.to_dict()}))


def _td_rows(path: str, agent_name: str = "cql"):
    spec = make_env_spec("toy:identity")
    cls = agent_class(agent_name)
    agent = cls(spec, build_config(cls.config_class, SMALL), torch.device("cpu"))
    agent.prepare({"dataset": path}, progress=False)
    b = agent.sample_transitions(agent.nets["q"])
    rows = {int(r): i for i, r in enumerate(b.rewards.tolist())}
    assert {2, 6} <= set(rows)  # both episode ends were drawn (256 draws from 7 rows)
    return agent, b, rows


@pytest.mark.parametrize("agent_name", ["cql", "iql", "bcq"])
def test_truncated_end_without_final_observation_is_not_terminal_and_leaves_the_td_loss(
        tmp_path, agent_name):
    agent, b, rows = _td_rows(_dataset(tmp_path / "d", with_next=False), agent_name)
    assert b.dones[rows[6]] == 0  # truncated: never a terminal target
    assert b.td_mask[rows[6]] == 0  # and s' is unknown: dropped from the TD loss
    assert b.dones[rows[2]] == 1 and b.td_mask[rows[2]] == 1  # terminated: target r, no bootstrap
    assert b.td_mask[rows[5]] == 1 and b.dones[rows[5]] == 0


def test_truncated_end_bootstraps_from_the_stored_final_observation(tmp_path):
    agent, b, rows = _td_rows(_dataset(tmp_path / "d", with_next=True))
    assert b.dones[rows[6]] == 0 and b.td_mask[rows[6]] == 1
    assert torch.equal(b.next_inputs[rows[6]], torch.from_numpy(FINAL))
    obs = agent.data.fields["observations"]
    assert torch.equal(b.next_inputs[rows[3]], torch.from_numpy(obs[4]))  # inside an episode


def test_masked_rows_contribute_nothing_to_the_td_loss(tmp_path):
    agent, b, _ = _td_rows(_dataset(tmp_path / "d", with_next=False))
    b.td_mask.zero_()
    assert agent.update(b)["loss/td"] == 0.0


def test_datasets_record_which_episodes_lack_their_final_observation(tmp_path):
    path = _dataset(tmp_path / "d", with_next=False)
    ds = EpisodeDataset.load(path)
    assert ds.final_obs.tolist() == [False, False] and ds.num_truncated_without_final_obs == 1
    assert ds.card["truncated_without_final_observation"] == 1
    with_next = EpisodeDataset.load(_dataset(tmp_path / "n", with_next=True))
    assert with_next.final_obs.tolist() == [True, True]
    assert with_next.num_truncated_without_final_obs == 0
    # a dataset written before the flag existed loads, inferring it from its fields
    meta_path = next((tmp_path / "d" / "shards").glob("*/episodes.json"))
    meta = json.loads(meta_path.read_text())
    del meta["final_observation"]
    meta_path.write_text(json.dumps(meta))
    assert EpisodeDataset.load(path).final_obs.tolist() == [False, False]


def test_gciql_bootstraps_at_the_end_of_a_truncated_episode():
    """GCIQL's targets read the stored next observation, so a time limit never ends its bootstrap
    (this already held before the fix; kept as a guard)."""
    from rlgen.agents.goal_sampling import GoalData
    from rlgen.envs.maze.env import GOAL_LAYOUT

    spec = make_env_spec("maze:pointmaze-umaze")
    cls = agent_class("gciql")
    agent = cls(spec, build_config(cls.config_class, {"hidden": [8], "batch_size": 16, "p_cur": 0.0,
                                                      "p_traj": 0.0}), torch.device("cpu"))
    n = 5
    obs = np.zeros((n, 4), np.float32)
    nxt = np.zeros((n, 4), np.float32)
    nxt[-1, :2] = 9.0  # the stored final next observation
    agent.attach(GoalData(obs, nxt, np.zeros((n, 2), np.float32), np.zeros(n, np.int64),
                          np.full(n, n - 1), GOAL_LAYOUT.achieved))
    agent.sampler.steps = lambda batch: np.full(batch, n - 1)  # only the truncated end
    b = agent.sample_batch()
    assert torch.all(b["s2g"][:, :2] == 9.0)
    far = torch.linalg.norm(b["s2g"][:, :2] - b["sg"][:, 4:], dim=1) > 0.45
    assert far.any() and torch.all(b["bootstrap"][far] == 1)
