"""Drift objectives: the mirror-learning constraints for any weights, DPO's closed form, and
how LPO, TA-LPO and PPO relate."""

import math

import pytest
import torch

from rlgen.agents.drift import DPO, LPO, TALPO, ppo_drift
from rlgen.agents.factory import make_agent
from rlgen.agents.objectives import ClippedSurrogate


def _random_net(obj, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in obj.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 2.0)
    return obj


def _samples(seed, n=4096):
    g = torch.Generator().manual_seed(seed)
    ratio = torch.exp(torch.randn(n, generator=g) * 0.7)
    adv = torch.randn(n, generator=g) * 2.0
    return ratio, adv


@pytest.mark.parametrize("make", [lambda: DPO(), lambda: LPO(ppo_init=False), lambda: LPO(),
                                  lambda: TALPO(ppo_init=False), lambda: TALPO()])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_drift_constraints_hold_for_random_weights(make, seed):
    obj = _random_net(make(), seed)
    ratio, adv = _samples(seed)
    for progress in (0.0, 0.37, 1.0):
        assert obj.drift(ratio, adv, progress).min() >= 0
        one = torch.ones_like(adv, requires_grad=True)
        d = obj.drift(one, adv, progress)
        assert torch.all(d == 0)
        (grad,) = torch.autograd.grad(d.sum(), one)
        assert torch.all(grad == 0)


def test_dpo_equals_its_closed_form():
    ratio, adv = _samples(5, 512)
    d = DPO(alpha=2.0, beta=0.6).drift(ratio, adv, 0.5)
    for r, a, got in zip(ratio.tolist(), adv.tolist(), d.tolist(), strict=True):
        if a >= 0:
            x = (r - 1) * a
            want = max(0.0, x - 2.0 * math.tanh(x / 2.0))
        else:
            x = math.log(r) * a
            want = max(0.0, x - 0.6 * math.tanh(x / 0.6))
        assert got == pytest.approx(want, abs=1e-6)


def test_talpo_at_progress_zero_is_lpo_with_the_same_first_weights():
    talpo = _random_net(TALPO(hidden=16), 3)
    lpo = LPO(hidden=16)
    with torch.no_grad():
        lpo.net[0].weight.copy_(talpo.net[0].weight[:, :8])
        lpo.net[2].weight.copy_(talpo.net[2].weight)
    ratio, adv = _samples(4)
    assert torch.allclose(talpo.drift(ratio, adv, 0.0), lpo.drift(ratio, adv, 0.0))
    assert not torch.allclose(talpo.drift(ratio, adv, 1.0), lpo.drift(ratio, adv, 1.0))


def test_zero_weight_lpo_is_ppo_up_to_the_shift():
    ratio, adv = _samples(6)
    lpo_loss, _ = LPO()(ratio, adv, 0.2, None)
    clip_loss, _ = ClippedSurrogate(0.2)(ratio, adv, 0.2, None)
    assert abs(float(lpo_loss - clip_loss)) <= 1e-4
    assert torch.allclose(ppo_drift(ratio, adv, 0.2), torch.relu((ratio - ratio.clamp(0.8, 1.2)) * adv))


def test_a_saved_drift_network_must_match_its_feature_order():
    with pytest.raises(ValueError, match="feature order"):
        LPO(feature_order="log r,(log r)^2,1-r,(1-r)^2,A*...")


@pytest.mark.parametrize("objective", ["dpo", "lpo", "talpo"])
def test_ppo_trains_with_each_drift_objective(objective):
    agent = make_agent("ppo", "toy:identity", {
        "objective": objective, "num_envs": 4, "num_steps": 32, "minibatches": 2, "epochs": 1,
        "encoder": {"channels": [4, 8], "out_dim": 32}}, device="cpu")
    result = agent.fit(None, 256, progress=False)
    assert result.steps == 256 and math.isfinite(result.metrics["loss/drift"])


def test_drift_agents_are_ppo_presets_that_extend_ppos():
    from rlgen.agents.factory import agent_config
    from rlgen.agents.ppo import PPO
    from rlgen.registry import agent_class

    ppo, _ = agent_config("ppo", "minihack")
    for name in ("dpo", "lpo", "talpo"):
        assert agent_class(name) is PPO
        config, _ = agent_config(name, "minihack", {"lr": 1e-3})
        assert config.objective in (name, f"bundled:{name}-minatar-cpu") and config.lr == 1e-3
        assert config.num_envs == ppo.num_envs == 16  # PPO's [minihack] table underneath


def test_an_unknown_bundled_objective_names_what_ships():
    from rlgen.agents.objectives import build_objective
    from rlgen.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="bundled objective"):
        build_objective("bundled:no-such-drift", {}, {}, torch.device("cpu"))


@pytest.mark.parametrize("name, cls", [("lpo", LPO), ("talpo", TALPO)])
def test_the_bundled_drift_networks_load_and_keep_the_constraints(name, cls):
    from rlgen.agents.objectives import build_objective

    obj = build_objective(f"bundled:{name}-minatar-cpu", {}, {"clip_coef": 0.2}, torch.device("cpu"))
    assert type(obj) is cls and any(p.abs().sum() > 0 for p in obj.parameters())  # trained
    ratio, adv = _samples(9)
    assert obj.drift(ratio, adv, 0.5).min() >= 0
    assert torch.all(obj.drift(torch.ones_like(adv), adv, 0.5) == 0)


def _wrong_shape(path):  # LPO's 8-feature weights saved as a 16-feature TA-LPO
    torch.save({"objective": "talpo", "state_dict": LPO().state_dict()}, path)


def _agent_checkpoint(path):  # a PPO network's weights, not a drift network
    agent = make_agent("ppo", "toy:identity", {"encoder": {"channels": [4], "out_dim": 8}}, device="cpu")
    torch.save({"model": agent.model.state_dict()}, path)


def _not_torch(path):
    path.write_text("not a checkpoint")


@pytest.mark.parametrize("objective, message", [
    ("tapo", "did you mean 'talpo'"),
    (_wrong_shape, "does not fit 'talpo'"),
    (_agent_checkpoint, "is not a saved objective"),
    (_not_torch, "is not a saved objective"),
])
def test_bad_objectives_end_in_one_line(tmp_path, capsys, objective, message):
    from rlgen.cli import main

    if callable(objective):
        path = tmp_path / "objective.pt"
        objective(path)
        objective = str(path)
    code = main(["train", "--agent", "lpo", "--env", "toy:identity", "--steps", "1k", "--quiet",
                 "--runs-root", str(tmp_path / "runs"), "--set", f"objective={objective}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("rlgen: error:"), err
    assert message in err[0].lower()
    assert not (tmp_path / "runs").exists()
