"""A population trained in lockstep equals its members trained alone, up to float rounding."""

import pytest
import torch

from rlgen.agents.factory import make_agent
from rlgen.agents.ppo_population import PopulationPPO

TINY = {"num_envs": 4, "num_steps": 16, "minibatches": 2, "epochs": 2, "anneal_lr": True,
        "encoder": {"channels": [4, 8], "out_dim": 32}}


def _agent(seed, objective="talpo", scale=None):
    agent = make_agent("ppo", "toy:identity", {**TINY, "objective": objective}, seed=seed, device="cpu")
    if scale is not None:  # a distinct drift network per member, as ES candidates have
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in agent.objective.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * scale)
    return agent


def test_each_member_learns_as_it_would_alone():
    seeds = [3, 8]
    alone = [_agent(s, scale=0.3) for s in seeds]
    results_alone = [a.fit(None, 128, progress=False) for a in alone]
    members = [_agent(s, scale=0.3) for s in seeds]
    results = PopulationPPO(members).fit(128)
    for a, b, ra, rb in zip(alone, members, results_alone, results, strict=True):
        for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
            assert torch.allclose(pa, pb, atol=1e-6, rtol=0)
        assert rb.metrics["train/episode_return"] == ra.metrics["train/episode_return"]
        for key in ("loss/policy", "loss/value", "loss/drift"):
            assert rb.metrics[key] == pytest.approx(ra.metrics[key], rel=1e-4, abs=1e-6)
        assert rb.steps == ra.steps == 128
    # members really differ: different seeds and drift networks give different weights
    assert not torch.allclose(next(members[0].model.parameters()), next(members[1].model.parameters()))


def test_members_must_share_config_and_env():
    a = _agent(0)
    b = make_agent("ppo", "toy:identity", {**TINY, "lr": 1e-2}, seed=1, device="cpu")
    with pytest.raises(ValueError, match="share one config"):
        PopulationPPO([a, b])


def test_members_on_one_concatenated_minatar_env_learn_as_alone():
    """MinAtar's batched envs concatenate: the population steps its K * n envs as one array,
    each member on its own draws, and still matches each member trained alone."""
    cfg = {"num_envs": 4, "num_steps": 16, "minibatches": 2, "epochs": 1, "objective": "clip",
           "encoder": {"conv_channels": 4, "hidden": 16}}

    def agent(seed):
        return make_agent("ppo", "minatar:breakout", cfg, seed=seed, device="cpu")

    seeds = [1, 5, 9]
    alone = [agent(s) for s in seeds]
    results_alone = [a.fit(None, 128, progress=False) for a in alone]
    members = [agent(s) for s in seeds]
    population = PopulationPPO(members)
    results = population.fit(128)
    for a, b, ra, rb in zip(alone, members, results_alone, results, strict=True):
        for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
            assert torch.allclose(pa, pb, atol=1e-6, rtol=0)
        assert rb.metrics.get("train/episode_return") == ra.metrics.get("train/episode_return")
        assert rb.metrics["loss/policy"] == pytest.approx(ra.metrics["loss/policy"], rel=1e-4, abs=1e-6)


def test_last_episode_return_outlives_a_rollout_that_ends_no_episode():
    """Goldie et al.'s fitness: each env's last finished episode, even when the final rollout
    ends none (long episodes, short rollouts), the case where the per-rollout mean is absent."""
    from rlgen.registry import make_env_spec
    from rlgen.runs import NullRun

    spec = make_env_spec("toy:identity", episode_length=12)
    cfg = {**TINY, "num_steps": 8, "objective": "clip"}
    # 4 updates of 4 envs x 8 steps: episodes end on steps 12 and 24 (updates 2 and 3), none in
    # update 4
    run = NullRun(keep_history=True)
    make_agent("ppo", spec, cfg, seed=2, device="cpu").fit(run, 128, progress=False)
    ended = [h["train/episode_return"] for h in run.history if "train/episode_return" in h]
    assert len(ended) == 2 and "train/episode_return" not in run.history[-1]
    # every env finished its second episode in update 3: the mean of those is what stays
    assert run.history[-1]["train/last_episode_return"] == pytest.approx(ended[1])
    assert run.history[1]["train/last_episode_return"] == pytest.approx(ended[0])
    assert "train/last_episode_return" not in run.history[0]
    # a population member keeps the same value
    member = make_agent("ppo", spec, cfg, seed=2, device="cpu")
    result = PopulationPPO([member, make_agent("ppo", spec, cfg, seed=3, device="cpu")]).fit(128)[0]
    assert result.metrics["train/last_episode_return"] == run.history[-1]["train/last_episode_return"]
    assert "train/episode_return" not in result.metrics
