import json

import numpy as np
import pytest
import torch
from conftest import interrupted_at_log

from rlgen import train as T
from rlgen.agents.factory import build_agent
from rlgen.registry import make_env_spec

SMALL = {"batch_size": 64, "lr": 1e-3, "log_every": 10, "encoder": {"channels": [8], "out_dim": 32}}
SEQ = {**SMALL, "context": 4, "layers": 2, "heads": 2, "d_model": 32, "dropout": 0.0, "batch_size": 32}
AGENTS = {"bc": SMALL, "cql": {**SMALL, "alpha": 1.0}, "iql": SMALL, "bcq": SMALL, "dt": SEQ, "bct": SEQ}


@pytest.mark.parametrize("agent", list(AGENTS))
def test_agent_loss_decreases_and_beats_random(agent, toy_dataset, runs_root):
    run = T.train(T.TrainRequest(agent, "toy:identity", steps=100, dataset=toy_dataset, name=agent,
                                 runs_root=str(runs_root), overrides=AGENTS[agent], episodes=16,
                                 splits=("test",), progress=False))
    metrics = run.metrics()
    key = {"bc": "loss/bc", "cql": "loss/cql", "iql": "loss/policy", "bcq": "loss/imitation",
           "dt": "loss/action", "bct": "loss/action"}[agent]
    losses = [m[key] for m in metrics if key in m]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["splits"]["test"]["normalized_mean"] > 0.5, summary["splits"]["test"]
    assert torch.load(run.checkpoint_path, weights_only=True)["final"] is True


def _sequence_agent(name, toy_dataset, runs_root):
    from rlgen.train import TrainRequest, start_run

    run, resolved = start_run(TrainRequest(name, "toy:identity", steps=1, dataset=toy_dataset,
                                           name=name, runs_root=str(runs_root), overrides=SEQ))
    agent, _ = build_agent(resolved)
    agent.prepare(resolved, run, progress=False)
    return agent


def test_dt_target_return_changes_actions_and_bct_has_no_return_input(toy_dataset, runs_root):
    dt = _sequence_agent("dt", toy_dataset, runs_root)
    bct = _sequence_agent("bct", toy_dataset, runs_root)
    assert dt.nets["model"].return_embed is not None
    assert bct.nets["model"].return_embed is None
    assert not any("return_embed" in n for n, _ in bct.nets["model"].named_parameters())
    assert float(dt.nets["model"].max_return) > 0  # conditioned on the data's best return
    env = make_env_spec("toy:identity").make_env()
    obs = np.stack([env.reset(options={"level": i})[0] for i in range(16)])

    def logits(agent, target):
        model = agent.nets["model"].eval()
        with torch.no_grad():
            feats = model.encoder(torch.from_numpy(obs))[:, None]
            k = torch.zeros(16, 1, dtype=torch.long)
            return model(feats, torch.full((16, 1), model.num_actions), torch.full((16, 1), target), k)

    assert not torch.allclose(logits(dt, 0.0), logits(dt, 100.0))
    assert torch.allclose(logits(bct, 0.0), logits(bct, 100.0))


def test_model_selection_never_touches_test_levels(toy_dataset, runs_root, monkeypatch):
    import rlgen.eval.evaluate as ev

    seen = []
    original = ev.run_episodes

    def spy(policy, spec, split, *args, **kwargs):
        seen.append(split)
        return original(policy, spec, split, *args, **kwargs)

    monkeypatch.setattr(ev, "run_episodes", spy)
    T.train(T.TrainRequest("bc", "toy:identity", steps=40, dataset=toy_dataset, name="es",
                           runs_root=str(runs_root), evaluate=False, progress=False,
                           overrides={**SMALL, "eval_every": 10, "eval_episodes": 4, "patience": 2}))
    assert seen and set(seen) == {"val"}


def test_filtered_bc_keeps_top_episodes(toy_dataset):
    from rlgen.agents.bc import BC, BCConfig
    from rlgen.data.storage import EpisodeDataset

    ds = EpisodeDataset.load(toy_dataset)
    agent = BC(make_env_spec("toy:identity"), BCConfig(top_fraction=0.25, **{k: v for k, v in SMALL.items()}),
               torch.device("cpu"))
    kept = agent.filter_dataset(ds)
    assert kept.num_episodes == round(0.25 * ds.num_episodes)
    assert kept.episode_returns().min() >= np.quantile(ds.episode_returns(), 0.7)


def test_offline_resume_continues_from_the_checkpoint(toy_dataset, runs_root, monkeypatch):
    from rlgen.runs import RunDir

    overrides = {**SMALL, "batch_size": 32, "checkpoint_every_s": 0.0}
    with interrupted_at_log(3):
        T.train(T.TrainRequest(
            "cql", "toy:identity", steps=60, dataset=toy_dataset, name="r", runs_root=str(runs_root),
            overrides=overrides, evaluate=False, progress=False))
    run = RunDir.open(runs_root / "r")
    assert torch.load(run.checkpoint_path, weights_only=True)["step"] == 29
    T.resume(run.path, progress=False)
    assert torch.load(run.checkpoint_path, weights_only=True)["step"] == 60
    assert [m["step"] for m in run.metrics()] == [10, 20, 30, 40, 50, 60]


def test_resume_keeps_the_best_validation_weights(toy_dataset, runs_root, monkeypatch):
    from rlgen.runs import RunDir

    overrides = {**SMALL, "batch_size": 32, "checkpoint_every_s": 0.0, "eval_every": 10,
                 "eval_episodes": 4}
    # logs: train 10, val 10, train 20, val 20, train 30 <- interrupted there
    with interrupted_at_log(5):
        T.train(T.TrainRequest(
            "bc", "toy:identity", steps=60, dataset=toy_dataset, name="b", runs_root=str(runs_root),
            overrides=overrides, evaluate=False, progress=False))
    run = RunDir.open(runs_root / "b")
    mid = torch.load(run.checkpoint_path, weights_only=True)
    assert mid["best"]["step"] in (10, 20) and set(mid["best"]["nets"]) == set(mid["nets"])
    T.resume(run.path, progress=False)
    metrics = run.metrics()
    vals = [(m["step"], m["val/episode_return"]) for m in metrics if "val/episode_return" in m]
    assert [s for s, _ in vals] == [10, 20, 30, 40, 50, 60]
    best_step = max(vals, key=lambda sv: sv[1])[0]  # first maximum, as model selection keeps it
    assert [m["val/best_step"] for m in metrics if "val/best_step" in m] == [best_step]
    final = torch.load(run.checkpoint_path, weights_only=True)
    assert final["best"]["step"] == best_step and "nets" not in final["best"]
    saved = run.checkpoint_path.read_bytes()
    T.resume(run.path, progress=False)  # a finished run: nothing more to train, log or save
    assert run.metrics() == metrics and run.checkpoint_path.read_bytes() == saved


def test_fit_runs_in_process_with_a_null_run_many_times(toy_dataset, tmp_path, monkeypatch):
    from rlgen.config import build_config
    from rlgen.registry import agent_class
    from rlgen.runs import FitResult, NullRun

    monkeypatch.chdir(tmp_path)
    spec = make_env_spec("toy:identity")
    results = []
    for agent_name in ("bc", "cql", "bc"):  # several fits in one process, fresh agents
        cls = agent_class(agent_name)
        agent = cls(spec, build_config(cls.config_class, AGENTS[agent_name]), torch.device("cpu"))
        agent.prepare({"dataset": toy_dataset}, NullRun(), progress=False)
        run = NullRun(keep_history=True)
        result = agent.fit(run, 20, progress=False)
        assert isinstance(result, FitResult) and result.steps == 20 and result.wall_time_s > 0
        assert result.metrics == run.last and "perf/grad_steps_per_s" in result.metrics
        assert [h["step"] for h in run.history] == [10, 20]
        results.append(result)
    assert "loss/bc" in results[0].metrics and "loss/td" in results[1].metrics
    # the same agent continues to a larger budget
    more = agent.fit(NullRun(), 30, progress=False)
    assert more.steps == 30 and agent.step == 30
    assert not any(tmp_path.iterdir())  # no files anywhere


def test_null_run_fit_keeps_validation_model_selection(toy_dataset):
    from rlgen.config import build_config
    from rlgen.registry import agent_class

    cls = agent_class("bc")
    agent = cls(make_env_spec("toy:identity"),
                build_config(cls.config_class, {**SMALL, "eval_every": 10, "eval_episodes": 2}),
                torch.device("cpu"))
    agent.prepare({"dataset": toy_dataset}, progress=False)
    result = agent.fit(None, 20, progress=False)
    assert result.metrics["val/best_step"] in (10.0, 20.0)
    assert result.metrics["val/best_return"] == agent.best["score"]
