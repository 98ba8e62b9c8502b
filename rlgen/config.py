"""Typed configs: frozen dataclasses are the schema, presets are partial TOML, overrides use
one grammar (`key=value` with TOML literals, e.g. `lr=3e-4`, `hidden=[256,256]`)."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from rlgen.paths import spec_root

C = TypeVar("C")


def parse_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override {text!r} is not of the form key=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word reads as a string
    return key.strip(), value


def load_preset(agent: str, family: str) -> dict[str, Any]:
    """`agents/<agent>.toml`: top-level keys, then the `[<family>]` table on top."""
    path = spec_root() / "agents" / f"{agent}.toml"
    if not path.exists():
        return {}
    with open(path, "rb") as f:
        data = tomllib.load(f)
    base = {k: v for k, v in data.items() if not isinstance(v, dict)}
    base.update(data.get(family, {}))
    return base


def build_config(cls: type[C], *layers: dict[str, Any]) -> C:
    """Merge layers (later wins) into `cls`, refusing unknown keys with a did-you-mean."""
    from rlgen.registry import UnknownNameError

    fields = {f.name: f for f in dataclasses.fields(cls)}
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key not in fields:
                raise UnknownNameError(f"{cls.__name__} field", key, list(fields))
            merged[key] = value
    for key, value in merged.items():
        default = fields[key].default
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            merged[key] = float(value)
        if isinstance(default, tuple) and isinstance(value, list):
            merged[key] = tuple(value)
    return cls(**merged)


def to_dict(config: Any) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()}


def dump_toml(data: dict[str, Any], path: Path) -> None:
    import tomli_w

    def clean(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {str(k): clean(v) for k, v in obj.items() if v is not None}
        if isinstance(obj, list | tuple):
            return [clean(v) for v in obj]
        return obj

    path.write_text(tomli_w.dumps(clean(data)))


def parse_count(text: str | int) -> int:
    """`25M`, `100k`, `1e6`, `5000` -> int."""
    if isinstance(text, int):
        return text
    t = str(text).strip().replace("_", "")
    scale = {"k": 10**3, "K": 10**3, "m": 10**6, "M": 10**6, "g": 10**9, "G": 10**9, "B": 10**9}
    if t and t[-1] in scale:
        return int(float(t[:-1]) * scale[t[-1]])
    return int(float(t))
