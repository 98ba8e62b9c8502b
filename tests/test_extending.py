"""The extension points: PPO objectives, training-env wrappers, fit with no run directory.
The walk-through in docs/extending.md is executed here as written."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rlgen import registry
from rlgen import train as T
from rlgen.agents.factory import make_agent
from rlgen.agents.objectives import ClippedSurrogate, Minibatch, build_objective, save_objective

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
TINY = {"num_envs": 4, "num_steps": 32, "minibatches": 2, "epochs": 1,
        "encoder": {"channels": [4, 8], "out_dim": 32}}


@pytest.fixture
def clean_registry():
    saved = {k: dict(v) for k, v in registry.TABLES.items()}
    yield
    for kind, table in registry.TABLES.items():
        table.clear()
        table.update(saved[kind])


def _doc_namespace(capsys) -> tuple[dict, str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 3, "docs/extending.md: objective, wrapper and run blocks"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    return namespace, capsys.readouterr().out


def test_the_extending_walkthrough_runs_as_written(clean_registry, capsys):
    ns, out = _doc_namespace(capsys)
    result = ns["result"]
    steps, extrinsic, shaped, kl = (float(x) for x in out.split())
    assert steps == result.steps == 1024
    # toy:identity episodes last 8 steps, so the step penalty costs exactly 8 * 0.05 each.
    assert shaped == pytest.approx(extrinsic - 0.4)
    assert kl >= 0.0
    assert isinstance(ns["agent"].objective, ns["KLPenalty"])
    assert ns["agent"].objective.beta == 0.5


def test_wrappers_shape_training_only(clean_registry, capsys, runs_root):
    ns, _ = _doc_namespace(capsys)
    overrides = {**TINY, "wrappers": ["step_penalty"], "wrapper_args": {"step_penalty": {"cost": 10.0}}}
    run = T.train(T.TrainRequest("ppo", "toy:identity", steps=256, name="w", runs_root=str(runs_root),
                                 overrides=overrides, episodes=4, splits=("test",), progress=False))
    logs = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    last = [m for m in logs if "train/episode_return" in m][-1]
    assert 0 <= last["train/episode_return"] <= 8  # extrinsic: at most one reward per step
    assert last["train/shaped_episode_return"] == pytest.approx(last["train/episode_return"] - 80)
    episodes = [json.loads(line) for line in (run.path / "episodes.jsonl").read_text().splitlines()]
    assert all(0 <= e["return"] <= 8 for e in episodes)  # evaluation never sees the penalty


def test_unknown_objective_or_wrapper_names_the_close_match():
    with pytest.raises(registry.UnknownNameError, match="clip"):
        make_agent("ppo", "toy:identity", {**TINY, "objective": "clp"}, device="cpu")
    agent = make_agent("ppo", "toy:identity", {**TINY, "wrappers": ["nope"]}, device="cpu")
    with pytest.raises(registry.UnknownNameError, match="training wrapper"):
        agent.fit(None, 128, progress=False)


def test_clipped_surrogate_is_the_textbook_loss():
    g = torch.Generator().manual_seed(0)
    ratio = (torch.rand(64, generator=g) * 0.8 + 0.6).requires_grad_()
    adv = torch.randn(64, generator=g)
    loss, logs = ClippedSurrogate(0.2)(ratio, adv, 0.3, None)
    (grad,) = torch.autograd.grad(loss, ratio)
    ref = ratio.detach().clone().requires_grad_()
    expected = torch.max(-adv * ref, -adv * ref.clamp(0.8, 1.2)).mean()
    (ref_grad,) = torch.autograd.grad(expected, ref)
    assert torch.equal(loss.detach(), expected.detach()) and torch.equal(grad, ref_grad)
    assert logs["loss/clipfrac"] == ((ratio.detach() - 1).abs() > 0.2).float().mean()


class Scaled(torch.nn.Module):
    """A tiny 'learned' objective: a parameter scales the clipped surrogate."""

    def __init__(self, clip_coef: float = 0.2, width: int = 1):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(width))
        self.inner = ClippedSurrogate(clip_coef)

    def forward(self, ratio, advantages, progress, batch: Minibatch):
        loss, logs = self.inner(ratio, advantages, progress, batch)
        return self.scale.sum() * loss, logs


def test_saved_objective_round_trip_and_bad_files(clean_registry, tmp_path):
    registry.register("objective", "scaled", Scaled)
    obj = Scaled(width=3)
    with torch.no_grad():
        obj.scale.copy_(torch.tensor([0.5, 0.25, 2.0]))
    path = save_objective(obj, "scaled", {"width": 3}, tmp_path / "obj.pt")
    agent = make_agent("ppo", "toy:identity", {**TINY, "objective": str(path)}, device="cpu")
    assert torch.equal(agent.objective.scale, obj.scale.detach())
    assert agent.objective.inner.clip_coef == 0.2  # from the PPO config

    wrong_shape = save_objective(Scaled(width=2), "scaled", {}, tmp_path / "wrong.pt")
    with pytest.raises(ValueError, match="does not fit"):
        build_objective(str(wrong_shape), {}, {}, torch.device("cpu"))
    torch.save({"model": {}}, tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match="not a saved objective"):
        build_objective(str(tmp_path / "ckpt.pt"), {}, {}, torch.device("cpu"))
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a saved objective"):
        build_objective(str(tmp_path / "junk.pt"), {}, {}, torch.device("cpu"))
    with pytest.raises(FileNotFoundError):
        build_objective(str(tmp_path / "missing.pt"), {}, {}, torch.device("cpu"))
    with pytest.raises(ValueError, match="takes no argument"):
        build_objective("clip", {"beta": 1.0}, {}, torch.device("cpu"))


def test_fit_without_a_run_directory_repeats_in_one_process(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = []
    for _ in range(2):
        agent = make_agent("ppo", "toy:identity", TINY, seed=7, device="cpu")
        results.append((agent.fit(None, 256, progress=False),
                        {k: v.clone() for k, v in agent.model.state_dict().items()}))
    (first, w1), (second, w2) = results
    assert first.steps == second.steps == 256 and first.wall_time_s > 0
    assert "loss/policy" in first.metrics and np.isfinite(first.metrics["loss/policy"])
    assert all(torch.equal(w1[k], w2[k]) for k in w1)  # same seed, same weights
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_ppo_through_the_objective_hook_is_bitwise_the_textbook_loss(monkeypatch):
    """PPO with objective="clip" trains to exactly the weights of a PPO whose loss is written
    out in one piece (CleanRL's form), so the hook costs no numerical change."""
    from rlgen.agents import ppo as P

    def textbook(cfg, objective, mb, advantages, progress):
        log_ratio = mb.new_logprobs - mb.old_logprobs
        ratio = log_ratio.exp()
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        pg = torch.max(-advantages * ratio,
                       -advantages * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)).mean()
        clipped = mb.old_values + (mb.new_values - mb.old_values).clamp(-cfg.clip_coef, cfg.clip_coef)
        v = 0.5 * torch.max((mb.new_values - mb.returns) ** 2, (clipped - mb.returns) ** 2).mean()
        return pg - cfg.ent_coef * mb.entropy.mean() + cfg.vf_coef * v, {}

    def trained():
        agent = make_agent("ppo", "toy:identity", {**TINY, "anneal_lr": True}, seed=5, device="cpu")
        agent.fit(None, 256, progress=False)
        return agent.model.state_dict()

    hooked = trained()
    monkeypatch.setattr(P, "ppo_loss", textbook)
    reference = trained()
    assert all(torch.equal(hooked[k], reference[k]) for k in hooked)


@pytest.mark.parametrize("override, message", [
    ("objective=clp", "did you mean 'clip'"),
    ("objective=/nonexistent/drift.pt", "does not exist"),
    ('wrappers=["nope"]', "unknown training wrapper"),
    ("objective_args.beta=1", "takes no argument"),
])
def test_bad_objective_or_wrapper_fails_before_the_run_directory(tmp_path, capsys, override, message):
    from rlgen.cli import main

    root = tmp_path / "runs"
    assert main(["train", "--agent", "ppo", "--env", "toy:identity", "--set", override,
                 "--runs-root", str(root), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0].lower() and not root.exists()
