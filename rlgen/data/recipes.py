"""Dataset recipes (TOML files under the top-level `datasets/` folder) and the dataset cache."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    #: one env option -> values: the recipe makes one dataset per value (e.g. a level sweep)
    sweep: dict[str, list[Any]] = field(default_factory=dict)

    def variants(self) -> list[Recipe]:
        if not self.sweep:
            return [self]
        (key, values), = self.sweep.items()
        return [Recipe(f"{self.name}-{key}{v}", self.env, self.policy, self.transitions, self.split,
                       {**self.env_options, key: v}, self.num_envs, self.seed, self.description)
                for v in values]


def recipe_dir() -> Path:
    return spec_root() / "datasets"


def load_recipe(path_or_name: str | Path) -> Recipe:
    path = Path(path_or_name)
    if not path.exists():
        path = recipe_dir() / f"{path_or_name}.toml"
    if not path.exists():
        from rlgen.registry import UnknownNameError

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
    from rlgen.registry import make_env_spec

    paths = []
    for variant in recipe.variants():
        target = Path(out) / variant.name if out and len(recipe.variants()) > 1 else \
            Path(out) if out else cached_path(variant)
        if (target / "card.json").exists():
            paths.append(target)
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
