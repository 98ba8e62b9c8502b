"""Turn a `--policy` argument into a policy: a run directory, a policy file, `bundled:<name>`,
`random`, or a policy the env family names (e.g. a scripted expert)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlgen import tree
from rlgen.envs.base import EnvSpec
from rlgen.policy import Policy
from rlgen.runs import RunDir

BUNDLED = Path(__file__).resolve().parents[1] / "experts"


class RandomPolicy(Policy):
    """Uniform over a discrete action set (a batch of observations in, one action per row out)."""

    def __init__(self, num_actions: int, seed: int = 0):
        self.n, self.rng = num_actions, np.random.default_rng(seed)

    def act(self, obs: Any, infos: list[dict] | None = None) -> np.ndarray:
        return self.rng.integers(self.n, size=tree.batch_size(obs))


def save_policy_file(run: RunDir | str | Path, out: str | Path, snapshot: str | Path | None = None,
                     extra: dict[str, Any] | None = None) -> Path:
    """A self-contained policy file: the run's resolved config plus the model weights."""
    from rlgen.runs import atomic_write_bytes

    run = run if isinstance(run, RunDir) else RunDir.open(run)
    resolved = run.read_config()
    path = Path(snapshot) if snapshot else run.checkpoint_path
    state = torch.load(path, map_location="cpu", weights_only=True)
    payload = {"agent": resolved["agent"], "env": resolved["env"],
               "env_options": resolved["env_options"], "agent_config": resolved["agent_config"],
               "model": state["model"], "global_step": int(state.get("global_step", 0)),
               **(extra or {})}
    out = Path(out)
    atomic_write_bytes(out, lambda f: torch.save(payload, f))
    return out


def _from_resolved(resolved: dict[str, Any], state: dict[str, Any], device: str):
    from rlgen.agents.factory import build_agent

    agent, _ = build_agent({**resolved, "seed": resolved.get("seed", 0)}, device)
    agent.load_state(state)
    return agent


def load_policy(source: str, spec: EnvSpec, device: str = "cpu", seed: int = 0,
                deterministic: bool = False) -> tuple[Any, dict[str, Any]]:
    """(policy, behaviour description for the dataset card)."""
    named = spec.impl.named_policies(spec) if hasattr(spec.impl, "named_policies") else {}
    if source == "random":
        return RandomPolicy(spec.num_actions, seed), {"kind": "random", "description": "uniform random actions"}
    if source.split(":")[0] in named:
        name, _, arg = source.partition(":")
        policy = named[name](arg, seed=seed) if arg else named[name](seed=seed)
        return policy, {"kind": name, "source": source,
                        "description": (policy.__doc__ or "").strip().splitlines()[0:1]}
    path = BUNDLED / f"{source.split(':', 1)[1]}.pt" if source.startswith("bundled:") else Path(source)
    if path.is_dir():
        run = RunDir.open(path)
        state = run.load_checkpoint(device)
        if state is None:
            raise FileNotFoundError(f"{path} has no checkpoint")
        resolved = run.read_config()
        agent = _from_resolved(resolved, state, device)
        summary = run.read_summary() if (run.path / "summary.json").exists() else None
        behavior = {"kind": resolved["agent"], "source": str(path),
                    "global_step": int(state.get("global_step", 0)), "run_summary": summary}
    elif path.is_file():
        try:
            payload = torch.load(path, map_location=device, weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
            raise ValueError(f"{path}: not a readable policy file ({e})") from e
        if not {"agent", "env", "model"} <= set(payload):
            raise ValueError(f"{path}: not an rlgen policy file (needs agent, env and model)")
        agent = _from_resolved(payload, {"model": payload["model"]}, device)
        behavior = {"kind": payload["agent"], "source": str(source),
                    "global_step": payload.get("global_step"),
                    **{k: payload[k] for k in ("card",) if k in payload}}
    else:
        choices = ["random", "bundled:<name>", "RUN_DIR", "FILE.pt", *named]
        raise FileNotFoundError(f"policy {source!r} is neither a run directory, a policy file nor "
                                f"a named policy ({', '.join(choices)})")
    if agent.spec.id != spec.id:
        raise ValueError(f"policy {source} was trained on {agent.spec.id}, not {spec.id}")
    return agent.policy(deterministic=deterministic, seed=seed), behavior
