"""Agents from names or from a run's resolved config: the one place that turns a preset, the
overrides and an env spec into an agent instance (train, evaluation, loading, benches and
meta-training all come through here)."""

from __future__ import annotations

from typing import Any

from rlgen.agents.base import Agent, resolve_device, setup_torch
from rlgen.config import build_config, load_preset
from rlgen.envs.base import EnvSpec
from rlgen.envs.wrappers import route_shaping_options
from rlgen.registry import agent_class, make_env_spec


def agent_config(agent: str, family: str, overrides: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """(config, the preset's `steps` or None): the agent's config dataclass from its preset for
    this family (agents/<agent>.toml), with `overrides` on top."""
    cls = agent_class(agent)
    preset = load_preset(agent, family)
    preset_steps = preset.pop("steps", None)  # a preset may size the default budget
    # the `shaping` wrapper's options may be set as top-level keys (--set judge=oracle)
    layers = route_shaping_options(cls.config_class, [preset, overrides or {}])
    return build_config(cls.config_class, *layers), preset_steps


def make_agent(agent: str, spec: EnvSpec | str, overrides: dict[str, Any] | None = None,
               seed: int = 0, device: str = "auto") -> Agent:
    """An agent built from its preset and `overrides`, for in-process use (no run directory):
    `make_agent("ppo", "toy:identity", {"lr": 1e-3}).fit(None, 10_000)`."""
    spec = make_env_spec(spec) if isinstance(spec, str) else spec
    config, _ = agent_config(agent, spec.family, overrides)
    dev = resolve_device(device)
    setup_torch(seed, dev)
    return agent_class(agent)(spec, config, dev, seed=seed)


def build_agent(resolved: dict[str, Any], device_name: str | None = None) -> tuple[Agent, EnvSpec]:
    """Agent instance from a resolved config (as stored in a run's config.toml)."""
    spec = make_env_spec(resolved["env"], **resolved.get("env_options", {}))
    cls = agent_class(resolved["agent"])
    config = build_config(cls.config_class, resolved.get("agent_config", {}))
    device = resolve_device(device_name or resolved.get("device", "auto"))
    setup_torch(int(resolved["seed"]), device)
    agent = cls(spec, config, device, seed=int(resolved["seed"]))
    return agent, spec
