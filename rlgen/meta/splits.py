"""Meta-train / meta-test splits of (env, training horizon) pairs, declared as data in
`sweeps/<name>.toml` under `[meta_test]`: which envs and which multiples of the meta-train
horizon are held out. The meta-train pairs are never among the meta-test pairs.

`[meta_test.overrides."<env>"]` tables hold agent config for one held-out env (e.g. a smaller
PPO batch for Procgen on a CPU); they apply on top of the meta-training run's overrides, which
reach only held-out envs of a meta-train env's family (`rlgen.meta.test.lifetime_overrides`)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlgen.paths import spec_root


@dataclass(frozen=True)
class MetaSplit:
    name: str
    train: tuple[tuple[str, int], ...]
    test: tuple[tuple[str, int], ...]
    seeds: int
    eval_episodes: int
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # env -> agent config

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "train": [list(p) for p in self.train],
                "test": [list(p) for p in self.test], "seeds": self.seeds,
                "eval_episodes": self.eval_episodes, "overrides": self.overrides}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetaSplit:
        return cls(d["name"], tuple((e, int(h)) for e, h in d["train"]),
                   tuple((e, int(h)) for e, h in d["test"]), int(d["seeds"]), int(d["eval_episodes"]),
                   {e: dict(o) for e, o in d.get("overrides", {}).items()})


def _path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.exists():
            raise FileNotFoundError(f"meta split file {path} does not exist")
        return path
    folder = spec_root() / "sweeps"
    path = folder / f"{name_or_path}.toml"
    if not path.exists():
        from rlgen.errors import UnknownNameError

        known = [p.stem for p in folder.glob("*.toml")
                 if "meta_test" in tomllib.loads(p.read_text())]
        raise UnknownNameError("meta split", name_or_path, known)
    return path


def load_meta_split(name_or_path: str, train_envs: tuple[str, ...] | list[str],
                    horizon: int) -> MetaSplit:
    from rlgen.registry import make_env_spec

    path = _path(name_or_path)
    data = tomllib.loads(path.read_text()).get("meta_test")
    if data is None:
        raise ValueError(f"{path} has no [meta_test] table")
    for env in [*train_envs, *data["envs"]]:
        make_env_spec(env)  # unknown families/tasks fail here, with a did-you-mean
    train = tuple((env, int(horizon)) for env in train_envs)
    test = tuple((env, max(1, round(float(m) * horizon))) for env in data["envs"]
                 for m in data["horizons"])
    test = tuple(p for p in dict.fromkeys(test) if p not in train)
    if not test:
        raise ValueError(f"{path}: no meta-test pair is left once the meta-train pairs are removed")
    overrides = {env: dict(o) for env, o in data.get("overrides", {}).items()}
    for env in overrides:
        if env not in data["envs"]:
            raise ValueError(f"{path}: [meta_test.overrides] names {env!r}, which is not in envs")
    return MetaSplit(path.stem, train, test, int(data.get("seeds", 3)),
                     int(data.get("eval_episodes", 20)), overrides)
