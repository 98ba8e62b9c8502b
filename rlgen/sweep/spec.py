"""Sweep files (`sweeps/<name>.toml`) and their expansion into named trials.

A sweep file has a `[base]` run, an optional `[axes]` grid (key -> list of values), an
optional `[[trials]]` list (each entry overrides base fields; every entry is crossed with the
grid) and optional `[variants.<name>]` tables that override base fields (and may replace axes
under `axes` and add `[[variants.<name>.when]]` rules). Keys are base fields, `seed`, or dotted
`overrides.<key>` / `env_options.<key>`.

An axis whose name is not a field and whose values are tables is a *bundle* axis: each value
sets several fields at once (a maze and its dataset recipe; a method = agent + overrides), and
its optional `label` names it (kept in the trial's `labels`, which reports group by).

`[[when]]` rules set fields on the trials they match, after the grid is applied: every key but
`set` is a condition (a value, or a list of accepted values) on the trial's parameters, and
`set` holds the fields to change. They carry settings that belong to some trials only and
differ by variant (e.g. a smaller batch for the sequence models of a CPU run).

A string value that is exactly `${key}` (e.g. `recipe_options = { seed = "${seed}" }`) becomes
the trial's value of that (dotted) key once everything else is applied.
Files under sweeps/ without `[base]` (e.g. meta-training splits with `[meta_test]`) are not
sweeps and are never listed as such.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlgen.errors import UnknownNameError
from rlgen.paths import spec_root

#: fields of a trial and their defaults; `dataset` is a folder, `recipe` a dataset recipe
#: (name under datasets/ or a .toml path relative to the sweep file) built once before use.
FIELDS: dict[str, Any] = {
    "agent": None, "env": None, "seed": 0, "steps": None, "episodes": 100,
    "splits": ["train", "val", "test"], "dataset": None, "recipe": None, "device": "cpu",
    "evaluate": True, "overrides": {}, "env_options": {}, "resources": {"cpus": 1, "gpus": 0},
}
TABLES = ("overrides", "env_options", "resources")
NAME_KEYS = ("agent", "env", "seed")
#: where a trial runs, not what it computes (rlgen.exec.Resources): not part of its name
SCHEDULING_KEYS = ("resources",)


@dataclass(frozen=True)
class Trial:
    name: str
    params: dict[str, Any]


@dataclass
class Sweep:
    name: str
    path: Path
    variant: str | None
    base: dict[str, Any]
    axes: dict[str, list[Any]]
    trials: list[dict[str, Any]]
    when: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""  # the file as read, kept for reports (provenance)

    def bundle_axes(self) -> list[str]:
        return [k for k, values in self.axes.items() if _is_bundle(k, values)]


#: `recipe_options`: recipe fields this trial changes (transitions, seed, ...; the dataset is
#: cached under a name of its own); `labels`: names of the trial's bundle-axis values.
FIELDS.update({"recipe_options": {}, "labels": {}})
TABLES = TABLES + ("recipe_options", "labels")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")


def _is_bundle(key: str, values: Any) -> bool:
    head = key.partition(".")[0]
    return key not in FIELDS and head not in TABLES and isinstance(values, list) and \
        bool(values) and all(isinstance(v, dict) for v in values)


def _is_sweep(path: Path) -> bool:
    try:
        return "base" in tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False


def sweep_names() -> list[str]:
    return sorted(p.stem for p in (spec_root() / "sweeps").glob("*.toml") if _is_sweep(p))


def sweep_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"sweep file {path} does not exist")
        return path
    path = spec_root() / "sweeps" / f"{name_or_path}.toml"
    if not path.exists() or not _is_sweep(path):
        raise UnknownNameError("sweep", str(name_or_path), sweep_names())
    return path


def _check_key(key: str, where: str) -> None:
    head, _, rest = key.partition(".")
    if key in FIELDS or (head in TABLES and rest):
        return
    known = list(FIELDS) + [f"{t}.<key>" for t in TABLES]
    raise UnknownNameError(f"sweep key in {where}", key, known)


def _set(params: dict[str, Any], key: str, value: Any) -> None:
    """Set a field, or a (nested) dotted key inside `overrides` / `env_options`; a table given
    for a table field merges into it rather than replacing it."""
    parts = key.split(".")
    target = params
    for p in parts[:-1]:
        target = target.setdefault(p, {})
    if isinstance(value, dict) and isinstance(target.get(parts[-1]), dict):
        for k, v in value.items():
            _set(target, f"{parts[-1]}.{k}", v)
    else:
        target[parts[-1]] = copy.deepcopy(value)


def _apply(params: dict[str, Any], table: dict[str, Any], where: str) -> None:
    for key, value in table.items():
        _check_key(key, where)
        _set(params, key, value)


def load_sweep(name_or_path: str | Path, variant: str | None = None) -> Sweep:
    path = sweep_path(name_or_path)
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: {e}") from e
    if "base" not in data:
        raise ValueError(f"{path} is not a sweep file (no [base] table)")
    tables = ["base", "axes", "trials", "when", "variants", "description"]
    unknown = set(data) - set(tables)
    if unknown:
        raise UnknownNameError(f"table in sweep file {path.name}", sorted(unknown)[0], tables)
    base = copy.deepcopy(FIELDS)
    _apply(base, data["base"], "[base]")
    axes = dict(data.get("axes", {}))
    when = _rules(data.get("when", []), "[[when]]")
    variants = data.get("variants", {})
    if variant is not None:
        if variant not in variants:
            raise UnknownNameError(f"variant of sweep {path.stem}", variant, list(variants))
        table = dict(variants[variant])
        axes.update(table.pop("axes", {}))
        when += _rules(table.pop("when", []), f"[[variants.{variant}.when]]")
        _apply(base, table, f"[variants.{variant}]")
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{path}: axis {key!r} must be a non-empty list of values")
        if _is_bundle(key, values):
            for i, value in enumerate(values):
                for inner in value:
                    if inner != "label":
                        _check_key(inner, f"[axes] {key} #{i + 1}")
        else:
            _check_key(key, "[axes]")
    trials = list(data.get("trials", []))
    for i, entry in enumerate(trials):
        for key in entry:
            _check_key(key, f"[[trials]] #{i + 1}")
    return Sweep(path.stem, path, variant, base, axes, trials, when, text)


def _rules(rules: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ValueError(f"{where} must be an array of tables ([[when]] ...)")
    for i, rule in enumerate(rules):
        here = f"{where} #{i + 1}"
        if not isinstance(rule.get("set"), dict) or len(rule) < 2:
            raise ValueError(f"{here} needs conditions (e.g. agent = [\"dt\"]) and a `set` table")
        for key in rule:
            if key != "set":
                _check_key(key, here)
        for key in rule["set"]:
            _check_key(key, f"{here} set")
    return rules


def _lookup(params: dict[str, Any], key: str) -> Any:
    value: Any = params
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _matches(rule: dict[str, Any], params: dict[str, Any]) -> bool:
    for key, accepted in rule.items():
        if key == "set":
            continue
        accepted = accepted if isinstance(accepted, list) else [accepted]
        if _lookup(params, key) not in accepted:
            return False
    return True


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in str(text)).strip("-")


def trial_name(params: dict[str, Any], base: dict[str, Any]) -> str:
    """`agent-env-sSEED`, plus a short hash of every other parameter that differs from the
    base run: it depends on the trial's own values only, so a rerun finds the same name."""
    env = _slug(params["env"]).replace(":", "-")
    name = f"{_slug(params['agent'])}-{env}-s{params['seed']}"
    diff = {k: v for k, v in params.items()
            if k not in NAME_KEYS + SCHEDULING_KEYS and v != base.get(k)}
    if diff:
        digest = hashlib.sha1(json.dumps(diff, sort_keys=True, default=str).encode()).hexdigest()
        name += "-" + digest[:6]
    return name


def expand(sweep: Sweep) -> list[Trial]:
    """Every [[trials]] entry (or the base alone) crossed with the [axes] grid, in file order,
    then the matching [[when]] rules applied in file order (the variant's last)."""
    keys = list(sweep.axes)
    bundles = {k: sweep.axes[k] for k in sweep.bundle_axes()}
    out: list[Trial] = []
    seen: dict[str, dict[str, Any]] = {}
    for entry in sweep.trials or [{}]:
        for values in itertools.product(*(sweep.axes[k] for k in keys)):
            params = copy.deepcopy(sweep.base)
            _apply(params, entry, "[[trials]]")
            for key, value in zip(keys, values, strict=True):
                if key in bundles:
                    fields = {k: v for k, v in value.items() if k != "label"}
                    _apply(params, fields, f"[axes] {key}")
                    params["labels"][key] = str(value.get("label", bundles[key].index(value)))
                else:
                    _set(params, key, value)
            for rule in sweep.when:
                if _matches(rule, params):
                    _apply(params, rule["set"], "[[when]] set")
            params = _interpolate(params, params, sweep.path)
            for required in ("agent", "env"):
                if not params.get(required):
                    raise ValueError(f"{sweep.path}: a trial has no {required} (set it in [base])")
            name = trial_name(params, sweep.base)
            if name in seen:
                if seen[name] == params:
                    raise ValueError(f"{sweep.path}: trial {name} is listed twice")
                name = trial_name(params, {})  # same agent/env/seed, differing elsewhere
            seen[name] = params
            out.append(Trial(name, params))
    return out


def _interpolate(value: Any, params: dict[str, Any], where: Path) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, params, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, params, where) for v in value]
    if isinstance(value, str) and (m := INTERPOLATION.fullmatch(value)):
        found = _lookup(params, m.group(1))
        if found is None or isinstance(found, str) and INTERPOLATION.fullmatch(found):
            raise ValueError(f"{where}: {value} names no set trial parameter")
        return copy.deepcopy(found)
    return value


def trial_recipe(params: dict[str, Any], sweep_path: Path):
    """The dataset recipe a trial names (a name under datasets/ or a .toml path relative to the
    sweep file), with its `recipe_options` applied and a cache name of its own; None if none."""
    import dataclasses

    from rlgen.config import parse_count
    from rlgen.data import recipes

    ref = params.get("recipe")
    if ref is None:
        return None
    if params.get("dataset"):
        raise ValueError(f"a trial names both a dataset ({params['dataset']}) and a recipe ({ref})")
    ref = str(ref)
    if ref.endswith(".toml") and not Path(ref).is_absolute():
        ref = str(Path(sweep_path).parent / ref)
    recipe = recipes.load_recipe(ref)
    options = dict(params.get("recipe_options") or {})
    if not options:
        return recipe
    known = [f.name for f in dataclasses.fields(recipe) if f.name not in ("name", "sweep", "default")]
    for key in options:
        if key not in known:
            raise UnknownNameError(f"recipe option of {recipe.name}", key, known)
    if "transitions" in options:
        options["transitions"] = parse_count(options["transitions"])
    if recipe.sweep:
        raise ValueError(f"recipe {recipe.name} makes several datasets: a sweep trial needs one")
    suffix = "-".join(_slug(f"{k}{v}") for k, v in sorted(options.items()))
    if any(isinstance(v, dict | list) for v in options.values()) or len(suffix) > 40:
        suffix = hashlib.sha1(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return dataclasses.replace(recipe, name=f"{recipe.name}-{suffix}", **options)
