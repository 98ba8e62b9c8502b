"""Wrappers for the *training* envs of online agents only (reward shaping, intrinsic rewards).

Evaluation always builds the family's unwrapped envs. A training wrapper is a Gymnasium
`VectorWrapper` over the batch of training envs, so it works the same for Procgen's native
batched env and for vectors of single envs. Shaping wrappers subclass `RewardShaping` and
implement `bonus`; the env's own reward travels on in `info["extrinsic_reward"]`, which is what
agents log as `train/episode_return`.

A wrapper may declare its options as a frozen dataclass in its `Options` attribute. Then
`wrapper_args[name]` is checked against it field by field (unknown keys get a did-you-mean,
values their declared type) and recorded with every default filled in, and, when an agent's
config names the wrapper in `shaping`, its fields are also valid top-level config keys
(`--set shaping=calm --set judge=oracle`), routed into `wrapper_args[name]` by
`route_shaping_options`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

EXTRINSIC = "extrinsic_reward"


class RewardShaping(gym.vector.VectorWrapper):
    """reward = extrinsic + bonus(...); `info["extrinsic_reward"]` keeps the env's reward."""

    def bonus(self, obs: Any, actions: np.ndarray, rewards: np.ndarray, terminations: np.ndarray,
              truncations: np.ndarray, infos: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError

    def step(self, actions):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        infos = dict(infos)
        extrinsic = np.asarray(infos.get(EXTRINSIC, rewards), dtype=np.float64)
        infos[EXTRINSIC] = extrinsic
        shaped = np.asarray(rewards, dtype=np.float64) + self.bonus(
            obs, actions, extrinsic, terminations, truncations, infos)
        return obs, shaped, terminations, truncations, infos


def extrinsic_rewards(rewards: np.ndarray, infos: dict[str, Any]) -> np.ndarray:
    """The env's own reward of a (possibly shaped) vector step."""
    return np.asarray(infos.get(EXTRINSIC, rewards), dtype=np.float64)


def applied_wrappers(config: Any) -> tuple[str, ...]:
    """The training wrappers an agent config applies, innermost first: its `wrappers`, then its
    `shaping` wrapper (if any and not already listed)."""
    names = tuple(getattr(config, "wrappers", ()) or ())
    shaping = getattr(config, "shaping", "") or ""
    return names + ((shaping,) if shaping and shaping not in names else ())


def wrapper_options(cls: type) -> type | None:
    """The wrapper's options dataclass (its `Options` attribute), or None: any keyword arguments."""
    import dataclasses

    opts = getattr(cls, "Options", None)
    return opts if opts is not None and dataclasses.is_dataclass(opts) else None


def resolve_wrapper_args(name: str, cls: type, args: dict[str, Any]) -> dict[str, Any]:
    """`args` checked against the wrapper's `Options` (every field filled in), or as given."""
    from rlgen.config import ConfigError, build_config, to_dict

    opts = wrapper_options(cls)
    if opts is None:
        return dict(args)
    try:
        options = build_config(opts, args)
        check = getattr(cls, "check_options", None)
        if check is not None:  # what the types cannot say (a judge name), before any run starts
            check(options)
        return to_dict(options)
    except ValueError as e:
        raise ConfigError(f"training wrapper {name!r}: {e}") from None


def check_training_wrappers(names: Sequence[str], args: dict[str, dict[str, Any]]) -> list[type]:
    """The wrapper classes `names` (unknown names fail with a did-you-mean), refusing
    `args` for wrappers that are not applied and option values their `Options` do not take."""
    from rlgen.registry import TRAINING_WRAPPERS, lookup

    unused = sorted(set(args) - set(names))
    if unused:
        raise ValueError(f"wrapper_args names wrappers that are not in wrappers: {', '.join(unused)}")
    classes = [lookup("training wrapper", name, TRAINING_WRAPPERS) for name in names]
    for name, cls in zip(names, classes, strict=True):
        resolve_wrapper_args(name, cls, args.get(name, {}))
    return classes


def resolved_wrapper_args(config: Any) -> dict[str, dict[str, Any]]:
    """`config.wrapper_args` with every applied wrapper's options filled in from its `Options`
    defaults (what a run records, so its config.toml names every value the wrapper used)."""
    names = applied_wrappers(config)
    args = dict(getattr(config, "wrapper_args", {}) or {})
    out = {}
    for name, cls in zip(names, check_training_wrappers(names, args), strict=True):
        if name in args or wrapper_options(cls) is not None:
            out[name] = resolve_wrapper_args(name, cls, args.get(name, {}))
    return out


def route_shaping_options(config_cls: type, layers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Config layers with the `shaping` wrapper's option keys moved into
    `wrapper_args.<shaping>.<key>`: `{"shaping": "calm", "judge": "oracle"}` becomes
    `{"shaping": "calm", "wrapper_args.calm.judge": "oracle"}`. Keys the config does not have
    and the wrapper's `Options` do not have either are refused with a did-you-mean over both."""
    from rlgen.config import dataclass_schema
    from rlgen.errors import UnknownNameError
    from rlgen.registry import TRAINING_WRAPPERS, lookup

    schema = dataclass_schema(config_cls)
    if "shaping" not in schema or "wrapper_args" not in schema:
        return list(layers)
    shaping = ""
    for layer in layers:
        shaping = layer.get("shaping", shaping)
    if not shaping or not isinstance(shaping, str):
        return list(layers)
    opts = wrapper_options(lookup("training wrapper", shaping, TRAINING_WRAPPERS))
    fields = dataclass_schema(opts) if opts is not None else {}
    out = []
    for layer in layers:
        routed = {}
        for key, value in layer.items():
            head = key.partition(".")[0]
            if head in schema:
                routed[key] = value
            elif head in fields:
                routed[f"wrapper_args.{shaping}.{key}"] = value
            else:
                raise UnknownNameError(f"{config_cls.__name__} field or {shaping} option", head,
                                       list(schema) + list(fields))
        out.append(routed)
    return out


def wrap_training_envs(envs: gym.vector.VectorEnv, names: Sequence[str],
                       args: dict[str, dict[str, Any]], spec: Any) -> gym.vector.VectorEnv:
    """Apply the registered training wrappers `names` in order (the first is innermost);
    `args[name]` holds each one's keyword arguments. Each wrapper is built as
    `cls(envs, spec=spec, **kwargs)` when it takes a `spec`, else `cls(envs, **kwargs)`."""
    import inspect

    for name, cls in zip(names, check_training_wrappers(names, args), strict=True):
        kwargs = resolve_wrapper_args(name, cls, args.get(name, {}))
        if "spec" in inspect.signature(cls).parameters:
            kwargs["spec"] = spec
        try:
            envs = cls(envs, **kwargs)
        except TypeError as e:
            raise ValueError(f"training wrapper {name!r}: {e}") from None
    return envs

