"""Dataset recipes (TOML files under the top-level `datasets/` folder) and the dataset cache."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol

from rlgen.config import parse_count
from rlgen.paths import cache_dir, spec_root


@dataclass(frozen=True)
class Recipe:
    name: str
    env: str
    policy: str
    transitions: int
    split: str = "train"
    env_options: dict[str, Any] = field(default_factory=dict)
    num_envs: int = 16
    seed: int = 0
    description: str = ""
    default: bool = False
    #: one key -> values: one dataset per value. The key is a recipe field (e.g. `transitions`)
    #: or else an env option (e.g. `num_levels` for a level-diversity sweep).
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    #: `module:attr` of a family-specific `Collector` used instead of playing `policy` through
    #: the generic collector (e.g. a planner that keeps only successful episodes);
    #: `collector_options` is passed to it untouched.
    collector: str = ""
    collector_options: dict[str, Any] = field(default_factory=dict)

    def variants(self) -> list[Recipe]:
        if not self.sweep:
            return [self]
        if len(self.sweep) != 1:
            raise ValueError(f"recipe {self.name}: sweep one key at a time, got {list(self.sweep)}")
        (key, values), = self.sweep.items()
        out = []
        for v in values:
            changes: dict[str, Any] = {"name": f"{self.name}-{key}{v}", "sweep": {}, "default": False}
            if key in {f.name for f in fields(Recipe)}:
                changes[key] = parse_count(v) if key == "transitions" else v
            else:
                changes["env_options"] = {**self.env_options, key: v}
            out.append(replace(self, **changes))
        return out


class Collector(Protocol):
    def __call__(self, recipe: Recipe, out: Path, *, progress: bool, resume: bool) -> Path: ...


def recipe_dir() -> Path:
    return spec_root() / "datasets"


def load_recipe(path_or_name: str | Path) -> Recipe:
    path = Path(path_or_name)
    if not path.exists():
        path = recipe_dir() / f"{path_or_name}.toml"
    if not path.exists():
        from rlgen.errors import UnknownNameError

        raise UnknownNameError("dataset recipe", str(path_or_name), [p.stem for p in recipe_dir().glob("*.toml")])
    with open(path, "rb") as f:
        data = tomllib.load(f)
    data.setdefault("name", path.stem)
    data["transitions"] = parse_count(data["transitions"])
    try:
        return Recipe(**data)
    except TypeError as e:
        raise ValueError(f"{path}: {e}") from e


def default_recipe(env_id: str) -> Recipe | None:
    for path in sorted(recipe_dir().glob("*.toml")):
        recipe = load_recipe(path)
        if recipe.default and recipe.env == env_id:
            return recipe
    return None


def cached_path(recipe: Recipe) -> Path:
    return cache_dir() / "datasets" / recipe.name


def build(recipe: Recipe, out: str | Path | None = None, progress: bool = True,
          device: str = "cpu") -> list[Path]:
    """Make each variant of `recipe` (skipping finished ones, resuming interrupted ones)."""
    from rlgen.agents.loading import load_policy
    from rlgen.data.collect import collect
    from rlgen.registry import load_entry_point, make_env_spec

    paths = []
    for variant in recipe.variants():
        target = Path(out) / variant.name if out and len(recipe.variants()) > 1 else \
            Path(out) if out else cached_path(variant)
        if (target / "card.json").exists():
            paths.append(target)
            continue
        if variant.collector:
            try:
                custom: Collector = load_entry_point(variant.collector)
            except (ImportError, AttributeError) as e:
                raise ValueError(f"recipe {variant.name}: cannot load collector "
                                 f"{variant.collector!r}: {e}") from e
            paths.append(custom(variant, target, progress=progress, resume=target.exists()))
            continue
        spec = make_env_spec(variant.env, **variant.env_options)
        policy, behavior = load_policy(variant.policy, spec, device=device, seed=variant.seed)
        paths.append(collect(spec, policy, target, variant.transitions, variant.split,
                             variant.num_envs, variant.seed, resume=target.exists(),
                             behavior=behavior, progress=progress,
                             extra_card={"recipe": variant.name, "description": variant.description}))
    return paths


def ensure_default_dataset(env_id: str, progress: bool = True) -> Path:
    recipe = default_recipe(env_id)
    if recipe is None:
        raise FileNotFoundError(f"{env_id} has no default dataset recipe; pass --dataset DIR "
                                "(make one with `rlgen collect`)")
    return build(recipe, progress=progress)[0]
