"""Every registered agent obeys the run contract (d3rlpy's shared algorithm tester, SB3's
parametrized-model tests), on the smallest env setting of the first family it fits
(`[smoke]` in the family's spec file): built from its preset, a few updates, saved and reloaded
with `torch.load(weights_only=True)` to the same actions, `rlgen evaluate RUN` equal to the
in-process evaluation, and an interrupted + resumed run ending with the weights of an
uninterrupted one (bitwise, or as the agent documents in `resume_exact`). A new agent or family
in the registry is picked up automatically."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import interrupted_at_log

from rlgen import registry
from rlgen import train as T
from rlgen.agents.factory import build_agent
from rlgen.runs import RunDir
from rlgen.tree import stack

# Family order: the cheapest envs first, so each agent runs on the smallest env it fits.
PREFERENCE = ["toy", "maze", "minatar", "minihack", "babyai", "procgen", "webshop"]
# Budget-sizing fields shrunk wherever a config has them; everything else comes from the preset.
SHRINK = {"num_envs": 4, "num_steps": 16, "minibatches": 2, "epochs": 1, "batch_size": 16,
          "log_every": 2, "eval_every": 0, "checkpoint_every_s": 0.0, "context": 4, "layers": 1,
          "d_model": 32, "width": 16, "hidden": [32, 32]}
STEPS = {"online": 128, "offline": 6}


def _families() -> list[str]:
    known = list(registry.ENV_FAMILIES)
    return [f for f in PREFERENCE if f in known] + [f for f in known if f not in PREFERENCE]


def _smoke_spec(family: str):
    smoke = registry.env_family(family).smoke
    env = f"{family}:{smoke['task']}" if smoke["task"] else family
    return registry.make_env_spec(env, **smoke.get("options", {})), smoke


def _setting(agent: str):
    cls = registry.agent_class(agent)
    for family in _families():
        try:
            spec, smoke = _smoke_spec(family)
        except ImportError:
            continue
        if cls.misfit(spec) is None:
            return cls, spec, smoke
    pytest.fail(f"agent {agent} fits none of the families' smoke settings")


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """One small dataset per family smoke setting, made on first use."""
    made: dict[str, str] = {}

    def get(spec, smoke) -> str:
        if spec.id not in made:
            from rlgen.agents.loading import load_policy
            from rlgen.data.collect import collect
            from rlgen.data.recipes import build, load_recipe

            out = tmp_path_factory.mktemp("data") / spec.family
            how = smoke["dataset"]
            if "recipe" in how:
                recipe = replace(load_recipe(how["recipe"]), transitions=int(how["transitions"]))
                build(recipe, out=out, progress=False)
            else:
                policy, behavior = load_policy(how["policy"], spec)
                collect(spec, policy, out, int(how["transitions"]), num_envs=4, behavior=behavior,
                        progress=False)
            made[spec.id] = str(out)
        return made[spec.id]

    return get


def _request(agent, cls, spec, dataset, root, name, **kw):
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    overrides = {k: v for k, v in SHRINK.items() if k in fields}
    return T.TrainRequest(agent, spec.id, steps=STEPS[cls.kind], seed=1, name=name,
                          runs_root=str(root), overrides=overrides, env_options=spec.options,
                          dataset=dataset, episodes=3, splits=("test",), progress=False, **kw)


def _observations(spec, n=4):
    env = spec.make_env()
    obs = [env.reset(seed=0, options={"level": lv})[0] for lv in spec.splits["test"].levels[:n]]
    env.close()
    return stack(obs)


def _weights(run: RunDir) -> dict[str, torch.Tensor]:
    state = run.load_checkpoint()
    nets = state.get("nets") or {"model": state["model"]}
    return {f"{n}.{k}": v for n, sd in nets.items() for k, v in sd.items()}


@pytest.mark.parametrize("agent", list(registry.AGENTS))
def test_agent_run_contract(agent, datasets, tmp_path, monkeypatch):
    cls, spec, smoke = _setting(agent)
    dataset = datasets(spec, smoke) if cls.kind == "offline" else None
    run = T.train(_request(agent, cls, spec, dataset, tmp_path, "a"))

    # the checkpoint loads with weights_only=True and acts as the trained agent did
    trained, _ = build_agent(run.read_config())
    trained.load_state(run.load_checkpoint())
    fresh, _ = build_agent(run.read_config())
    fresh.load_state(torch.load(run.checkpoint_path, map_location="cpu", weights_only=True))
    obs = _observations(spec)
    for a, b in ((trained, fresh),):
        pa, pb = a.policy(deterministic=True, seed=0), b.policy(deterministic=True, seed=0)
        for p in (pa, pb):
            p.begin(np.arange(len(spec.splits["test"].levels[:4])))
        acts = [np.asarray(p.act(obs, [{} for _ in range(4)]), dtype=object) for p in (pa, pb)]
        assert (acts[0] == acts[1]).all()

    # `rlgen evaluate RUN` from the files == the evaluation at the end of training
    in_process = json.loads((run.path / "summary.json").read_text())
    again = T.evaluate_run(run.path, ("test",), 3, progress=False)
    assert again["splits"] == in_process["splits"]

    # interrupted after its first log, resumed: the same end as uninterrupted
    with interrupted_at_log(2):
        T.train(_request(agent, cls, spec, dataset, tmp_path, "b", evaluate=False))
    resumed = T.resume(tmp_path / "b", progress=False)
    straight, cut = _weights(run), _weights(resumed)
    assert straight.keys() == cut.keys()
    if cls.resume_exact:
        assert all(torch.equal(straight[k], cut[k]) for k in straight), \
            f"{agent}: resumed weights differ from an uninterrupted run"
    else:
        assert all(torch.isfinite(v.float()).all() for v in cut.values())
    assert Path(resumed.checkpoint_path).exists()
