"""Library entry points behind the CLI: train (with resume), evaluate, report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlgen.agents.factory import agent_config, build_agent
from rlgen.config import parse_count, to_dict
from rlgen.registry import agent_class, make_env_spec
from rlgen.runs import RunDir

DEFAULT_SPLITS = ("train", "val", "test")  # what a run recorded before splits were resolved


@dataclass
class TrainRequest:
    agent: str
    env: str
    steps: int | None = None
    seed: int = 0
    device: str = "auto"
    name: str | None = None
    runs_root: str = "runs"
    overrides: dict[str, Any] = field(default_factory=dict)
    env_options: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    evaluate: bool = True
    episodes: int = 100
    #: evaluation splits; None: every split the env declares (e.g. BabyAI's test_instructions)
    splits: tuple[str, ...] | None = None
    progress: bool = True


def _default_steps(agent_cls) -> int:
    return int(getattr(agent_cls, "default_budget", 100_000))


def start_run(req: TrainRequest) -> tuple[RunDir, dict[str, Any]]:
    """Check everything the request asks for, then create the run directory: a request that
    cannot be honoured fails before anything is written."""
    if req.dataset is not None and not Path(req.dataset).exists():
        raise FileNotFoundError(f"dataset {req.dataset} does not exist")
    spec = make_env_spec(req.env, **req.env_options)
    cls = agent_class(req.agent)
    cls.check_fits(spec, req.dataset)
    config, preset_steps = agent_config(req.agent, spec.family, req.overrides)
    config = cls.check_config(config, spec)
    if req.steps is not None:
        steps = parse_count(req.steps, "steps")
    else:
        steps = parse_count(preset_steps, "steps") if preset_steps is not None else _default_steps(cls)
    splits = tuple(req.splits) if req.splits else tuple(spec.splits.splits)
    if req.evaluate:
        parse_count(req.episodes, "episodes")
        for split in splits:
            spec.splits[split]  # unknown split names fail here, not after training
    name = req.name or f"{req.agent}-{spec.task or spec.family}-s{req.seed}-" + \
        dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    resolved = {
        "agent": req.agent, "env": spec.id, "seed": req.seed, "device": req.device,
        "steps": steps, "dataset": str(Path(req.dataset).resolve()) if req.dataset else None,
        "env_options": spec.options, "agent_config": to_dict(config),
        "eval": {"enabled": req.evaluate, "episodes": req.episodes, "splits": list(splits)},
    }
    run = RunDir.create(req.runs_root, name, unique=req.name is None)
    run.write_config(resolved)
    return run, resolved


def train(req: TrainRequest) -> RunDir:
    run, resolved = start_run(req)
    return continue_run(run, resolved, progress=req.progress)


def resume(path: str | Path, device: str | None = None, progress: bool = True) -> RunDir:
    run = RunDir.open(path)
    return continue_run(run, run.read_config(), device, progress)


def continue_run(run: RunDir, resolved: dict[str, Any], device: str | None = None,
                 progress: bool = True) -> RunDir:
    with run.lock():
        agent, spec = build_agent(resolved, device)
        run.write_command()
        run.write_provenance(str(agent.device))
        state = run.load_checkpoint(str(agent.device))
        budget = int(resolved["steps"])
        if getattr(agent, "kind", "online") == "offline":
            agent.prepare(resolved, run, progress=progress)
        try:
            agent.fit(run, budget, state, progress=progress)
        finally:
            run.close()
        ev = resolved.get("eval", {})
        if ev.get("enabled", True):
            evaluate_run(run, tuple(ev.get("splits", DEFAULT_SPLITS)), int(ev.get("episodes", 100)),
                         agent=agent, progress=progress)
    return run


def evaluate_run(run: RunDir | str | Path, splits: tuple[str, ...] | None = None,
                 episodes: int = 100, agent=None, device: str | None = None, seed: int = 0,
                 num_envs: int | None = None, progress: bool = True) -> dict[str, Any]:
    from rlgen.eval.evaluate import evaluate

    run = run if isinstance(run, RunDir) else RunDir.open(run)
    resolved = run.read_config()
    if agent is None:
        agent, _ = build_agent(resolved, device)
        state = run.load_checkpoint(str(agent.device))
        if state is None:
            raise FileNotFoundError(f"{run.path} has no checkpoint to evaluate")
        agent.load_state(state)
    spec = agent.spec
    # None: the agent's own number of slots (LM policies step many at once; others 8)
    num_envs = num_envs or int(getattr(agent, "eval_envs", 8))
    splits = tuple(splits) if splits else tuple(spec.splits.splits)
    for split in splits:
        spec.splits[split]  # unknown split names fail before any episode runs
    records, summary = evaluate(agent.policy(seed=seed), spec, splits, episodes, num_envs=num_envs,
                                seed=seed, progress=progress)
    run.write_episodes(records)
    full = {"env": spec.id, "agent": resolved["agent"], "seed": resolved["seed"],
            "steps": resolved.get("steps"), "run": str(run.path),
            "eval_episodes_per_split": episodes, **summary}
    run.write_summary(full)
    return full
