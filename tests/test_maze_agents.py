"""Maze agents through the common training path: prepare -> fit -> checkpoint -> evaluate."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from rlgen.agents.goal_sampling import GoalData
from rlgen.config import build_config
from rlgen.data.storage import EpisodeDataset
from rlgen.envs.maze.collect import CollectConfig, collect
from rlgen.eval.evaluate import evaluate
from rlgen.registry import agent_class, make_env_spec
from rlgen.train import TrainRequest, resume, train

TINY = {"rvs": {"hidden": [32, 32], "batch_size": 32},
        "gcdt": {"width": 16, "layers": 1, "batch_size": 8, "dropout": 0.0},
        "gciql": {"hidden": [32, 32], "batch_size": 32}}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("maze") / "umaze"
    return collect(CollectConfig(env="maze:pointmaze-umaze-onestitch", transitions=4_000,
                                 num_envs=16), path, progress=False)


@pytest.mark.parametrize("agent", ["rvs"])
def test_train_evaluate_and_resume(tmp_path, dataset, agent):
    req = TrainRequest(agent=agent, env="maze:pointmaze-umaze-onestitch", steps=20,
                       dataset=str(dataset), runs_root=str(tmp_path), name="r", evaluate=False,
                       progress=False,
                       overrides={**TINY[agent], "temporal_augmentation": True}
                       if agent != "gciql" else TINY[agent])
    run = train(req)
    assert run.load_checkpoint()["step"] == 20
    # the trained policy plays through the common evaluator (short episodes keep this fast)
    from rlgen.agents.factory import build_agent

    trained, spec = build_agent(run.read_config())
    trained.load_state(run.load_checkpoint())
    _, summary = evaluate(trained.policy(), spec, ["test"], episodes=2, num_envs=2, max_steps=25,
                          progress=False)
    assert summary["splits"]["test"]["levels"] == 2
    assert 0.0 <= summary["splits"]["test"]["success_rate"] <= 1.0
    # a longer budget continues from the checkpoint
    cfg = run.read_config()
    cfg["steps"], cfg["eval"]["enabled"] = 30, False
    run.write_config(cfg)
    resume(run.path, progress=False)
    assert run.load_checkpoint()["step"] == 30


@pytest.mark.parametrize("agent", ["gcdt", "gciql"])
def test_fit_and_act(dataset, agent):
    spec = make_env_spec("maze:pointmaze-umaze-onestitch")
    cls = agent_class(agent)
    a = cls(spec, build_config(cls.config_class, TINY[agent]), torch.device("cpu"))
    a.attach(GoalData.from_dataset(EpisodeDataset.load(dataset), spec.impl.goal_layout(spec)))
    before = {k: v.clone() for k, v in a.nets[next(iter(a.nets))].state_dict().items()}
    a.fit(None, 10, progress=False)
    after = a.nets[next(iter(a.nets))].state_dict()
    assert a.step == 10 and any(not torch.equal(before[k], after[k]) for k in before)
    _, summary = evaluate(a.policy(), spec, ["test"], episodes=2, num_envs=2, max_steps=25,
                          progress=False)
    assert summary["splits"]["test"]["episodes"] == 2


def test_dataset_is_required(tmp_path):
    req = TrainRequest(agent="rvs", env="maze:pointmaze-umaze", steps=5, runs_root=str(tmp_path),
                       progress=False, overrides=TINY["rvs"])
    with pytest.raises(ValueError, match="--dataset"):
        train(req)


def test_dt_policy_keeps_per_slot_history(dataset):
    spec = make_env_spec("maze:pointmaze-umaze-onestitch")
    cls = agent_class("gcdt")
    agent = cls(spec, build_config(cls.config_class, TINY["gcdt"]), torch.device("cpu"))
    agent.attach(GoalData.from_dataset(EpisodeDataset.load(dataset), spec.impl.goal_layout(spec)))
    pol = agent.policy()
    obs = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    a1 = pol.act(obs)
    for _ in range(6):
        pol.act(obs)
    pol.begin(np.array([1]))
    a2 = pol.act(obs)
    assert a1.shape == (3, 2) and np.all(np.abs(a2) <= 1)
    np.testing.assert_allclose(a2[1], a1[1], atol=1e-5)  # fresh history, same first step


def test_stitching_sweep_paper_variant_runs_and_reports(tmp_path, monkeypatch):
    """sweeps/stitching.toml's paper variant (network sizes, all splits of the medium maze) at a
    toy budget, through `rlgen sweep`'s runner and the sweep report."""
    from rlgen.eval import sweep_report
    from rlgen.sweep.run import run_sweep
    from rlgen.sweep.spec import load_sweep

    monkeypatch.setenv("RLGEN_CACHE", str(tmp_path / "cache"))
    sweep = load_sweep("stitching", "paper")
    sweep.axes["maze"] = [m for m in sweep.axes["maze"] if m["label"] == "medium"]
    sweep.axes["method"] = [m for m in sweep.axes["method"] if m["label"] in ("RvS + aug", "GCIQL")]
    sweep.base.update(steps=10, episodes=1, device="cpu", recipe_options={"transitions": "4k"})
    result = run_sweep(sweep, tmp_path / "out", progress=False)
    assert result.count("done") == 2, result.failed()
    text = sweep_report.build(sweep_report.load_sweep_dir(tmp_path / "out")).markdown()
    rows = [ln for ln in text.splitlines() if re.match(r"\| (RvS \+ aug|GCIQL) \| 1 × 1 \|", ln)]
    assert [r.split(" | ")[0] for r in rows] == ["| RvS + aug", "| GCIQL"]  # one group per method
    assert "ogbench success: mean [95% CI]" in text
    assert (tmp_path / "cache" / "datasets" / "maze-medium-regions-transitions4000" / "card.json").exists()


@pytest.mark.parametrize("agent", ["rvs", "gciql"])
def test_goal_agents_share_the_offline_loop(dataset, agent):
    """Same loop as the discrete agents: `loss/...` metrics, validation-based model selection on
    the val levels, the same checkpoint keys, a FitResult from a NullRun."""
    from rlgen.runs import NullRun

    spec = make_env_spec("maze:pointmaze-umaze-onestitch")
    cls = agent_class(agent)
    cfg = build_config(cls.config_class, {**TINY[agent], "log_every": 5, "eval_every": 5,
                                          "eval_episodes": 2})
    a = cls(spec, cfg, torch.device("cpu"))
    a.attach(GoalData.from_dataset(EpisodeDataset.load(dataset), spec.impl.goal_layout(spec)))
    run = NullRun(keep_history=True)
    result = a.fit(run, 10, progress=False)
    assert result.steps == 10 and "loss/actor" in result.metrics
    assert "perf/grad_steps_per_s" in result.metrics
    assert [h["val/episode_return"] for h in run.history if "val/episode_return" in h]
    assert result.metrics["val/best_step"] in (5.0, 10.0)
    state = a.state(final=True)
    assert {"step", "final", "nets", "optimizers", "rngs", "best"} <= set(state)


def test_goal_agents_read_the_observation_layout_from_the_spec():
    import dataclasses

    from rlgen.envs.base import GoalLayout

    spec = make_env_spec("maze:pointmaze-umaze")

    class Wide(type(spec.impl)):
        def goal_layout(self, spec):
            return GoalLayout(state_dim=5, goal_dim=3, action_dim=4)

    wide = dataclasses.replace(spec, impl=Wide())
    for name, first, last in (("rvs", lambda a: a.nets["actor"][0], lambda a: a.nets["actor"][-2]),
                              ("gciql", lambda a: a.nets["q"].q1[0], lambda a: a.nets["actor"][-2]),
                              ("gcdt", lambda a: a.nets["model"].embed_sg,
                               lambda a: a.nets["model"].head[0])):
        cls = agent_class(name)
        a = cls(wide, build_config(cls.config_class, TINY[name]), torch.device("cpu"))
        inp = 8 + 4 if name == "gciql" else 8  # Q reads (state, goal, action)
        assert first(a).in_features == inp and last(a).out_features == 4
    with pytest.raises(ValueError, match="goal-conditioned env"):
        cls = agent_class("rvs")
        cls(make_env_spec("toy:identity"), build_config(cls.config_class, TINY["rvs"]),
            torch.device("cpu"))
