"""Typed configs: frozen dataclasses are the schema, presets are partial TOML, overrides use
one grammar (`key=value` with TOML literals, e.g. `lr=3e-4`, `hidden=[256,256]`).

Every value is checked against the type its field declares before anything is built: a value
the config cannot honour ends in one `ConfigError` naming the field, the value and the type."""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from rlgen.paths import spec_root

C = TypeVar("C")

#: field name -> type hint (`typing.Any` accepts anything)
Schema = dict[str, Any]


class ConfigError(ValueError):
    """A config, preset or budget value that does not fit its declared type."""


def parse_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not of the form key=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word reads as a string
    return key.strip(), value


# ---- schemas ------------------------------------------------------------------------------------
def dataclass_schema(cls: type) -> Schema:
    try:
        hints = typing.get_type_hints(cls)
    except NameError:  # an annotation names a type imported only for type checkers: check less
        hints = {}
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def signature_schema(fn: Callable[..., Any], skip: tuple[str, ...] = ()) -> Schema | None:
    """The keyword arguments `fn` takes, typed by annotation or else by default value; None when
    it also takes `**kwargs` (then any key may be meant)."""
    schema: Schema = {}
    for name, p in inspect.signature(fn, eval_str=True).parameters.items():
        if p.kind is p.VAR_KEYWORD:
            return None
        if name in skip or p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        if p.annotation is not p.empty:
            schema[name] = p.annotation
        else:
            schema[name] = _hint_from_default(p.default)
    return schema


def _hint_from_default(default: Any) -> Any:
    if isinstance(default, bool | int | float | str):
        return type(default)
    if isinstance(default, tuple | list) and default:
        kinds = {type(v) for v in default}
        inner = kinds.pop() if len(kinds) == 1 else Any
        return tuple[inner, ...] if isinstance(default, tuple) else list[inner]
    return Any


# ---- values -------------------------------------------------------------------------------------
def describe(hint: Any) -> str:
    """A type hint as the user should read it in an error message."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return "bool (true or false)"
    if isinstance(hint, type) and origin is None:
        return {dict: "table"}.get(hint, hint.__name__)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("none" if a is type(None) else describe(a) for a in args)
    if origin in (tuple, list, collections.abc.Sequence):
        inner = args[0] if args else Any
        return "list" if inner is Any else f"list of {describe(inner)}"
    if origin in (dict, collections.abc.Mapping):
        return "table"
    return str(hint)


def _refuse(where: str, value: Any, hint: Any) -> ConfigError:
    return ConfigError(f"{where}: expected {describe(hint)}, got {value!r} ({type(value).__name__})")


def check_value(value: Any, hint: Any, where: str) -> Any:
    """`value` as `hint` asks for it (ints as floats, lists as tuples, 'False' as False), or a
    ConfigError naming `where`, the value and the expected type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return check_value(value, option, where)
            except ConfigError:
                continue
        raise _refuse(where, value, hint)
    if origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise _refuse(where, value, hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
        # a bare `False` on the command line is not TOML (which wants `false`): read it anyway
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _refuse(where, value, hint)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():  # 1e6
            return int(value)
        raise _refuse(where, value, hint)
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _refuse(where, value, hint)
    if hint is str:
        if isinstance(value, str):
            return value
        raise _refuse(where, value, hint)
    if origin in (tuple, list, collections.abc.Sequence) or hint in (tuple, list):
        if not isinstance(value, list | tuple):
            raise _refuse(where, value, hint)
        fixed = origin is tuple and args and args[-1] is not Ellipsis
        if fixed and len(value) != len(args):
            raise _refuse(where, value, hint)
        inner = list(args) if fixed else [args[0] if args else Any] * len(value)
        items = [check_value(v, h, f"{where}[{i}]") for i, (v, h) in enumerate(zip(value, inner, strict=True))]
        return items if (origin or hint) is list else tuple(items)
    if origin in (dict, collections.abc.Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise _refuse(where, value, hint)
        inner = args[1] if len(args) == 2 else Any
        return {k: check_value(v, inner, f"{where}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and not isinstance(value, hint):
        raise _refuse(where, value, hint)
    return value


def check_mapping(values: Mapping[str, Any], schema: Schema | None, where: str,
                  what: str) -> dict[str, Any]:
    """Each key known to `schema` (None: any key) and each value of its type."""
    from rlgen.errors import UnknownNameError

    out = {}
    for key, value in values.items():
        if schema is None:
            out[key] = value
            continue
        if key not in schema:
            raise UnknownNameError(what, key, list(schema))
        out[key] = check_value(value, schema[key], f"{where}.{key}")
    return out


def _is_table(hint: Any) -> bool:
    return hint is dict or typing.get_origin(hint) in (dict, collections.abc.Mapping)


def build_config(cls: type[C], *layers: Mapping[str, Any]) -> C:
    """Merge layers (later wins) into `cls`, refusing unknown keys with a did-you-mean and values
    that do not fit their field's type. A dotted key (`encoder.out_dim=32`) sets one key inside
    a table field, keeping the table's other keys."""
    from rlgen.errors import UnknownNameError

    schema = dataclass_schema(cls)
    label = cls.__name__
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            name, dot, inner = key.partition(".")
            if name not in schema:
                raise UnknownNameError(f"{label} field", name, list(schema))
            if not dot:
                merged[name] = value
                continue
            if not _is_table(schema[name]):
                raise ConfigError(f"{label}.{key}: {name} takes {describe(schema[name])}, "
                                  "not a table; dotted keys reach into table fields only")
            table = merged[name] if name in merged else _default(cls, name)
            if not isinstance(table, Mapping):
                raise _refuse(f"{label}.{name}", table, schema[name])
            merged[name] = _set_dotted(dict(table), inner, value)
    return cls(**{name: check_value(value, schema[name], f"{label}.{name}")
                  for name, value in merged.items()})


def _default(cls: type, name: str) -> Any:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return {} if f.default is dataclasses.MISSING or f.default is None else f.default


def _set_dotted(table: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    head, dot, rest = key.partition(".")
    if dot:
        sub = table.get(head)
        value = _set_dotted(dict(sub) if isinstance(sub, Mapping) else {}, rest, value)
    table[head] = value
    return table


# ---- presets ------------------------------------------------------------------------------------
def preset_path(agent: str) -> Path:
    return spec_root() / "agents" / f"{agent}.toml"


def read_preset(agent: str) -> dict[str, Any]:
    """The raw preset file of a registered agent; every one ships a file, even an empty one."""
    from rlgen.errors import UnknownNameError
    from rlgen.registry import AGENTS

    if agent not in AGENTS:
        raise UnknownNameError("agent", agent, list(AGENTS))
    path = preset_path(agent)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"agent {agent!r} has no preset file {path} "
                          "(every registered agent ships one, even an empty one)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read preset {path}: {e}") from None


def split_preset(agent: str, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(top-level values, family name -> its table). A table named after a registered env family
    is that family's; any other table is a value (e.g. `encoder`); a name that is neither is
    refused with a did-you-mean."""
    from rlgen.errors import UnknownNameError
    from rlgen.registry import ENV_FAMILIES, agent_class

    schema = dataclass_schema(agent_class(agent).config_class)
    base: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if key in PRESET_META:
            continue
        if key in ENV_FAMILIES and isinstance(value, dict):
            tables[key] = value
        elif isinstance(value, dict) and not _is_table(schema.get(key)):
            raise UnknownNameError(f"env family (a table of {preset_path(agent).name})", key,
                                   list(ENV_FAMILIES))
        else:
            base[key] = value
    return base, tables


#: preset keys about the preset itself, not config values
PRESET_META = ("extends", "description")


def preset_meta(agent: str) -> dict[str, Any]:
    """`extends` (another agent whose preset lies underneath, e.g. `lpo` extends `ppo`) and
    `description` (one line for `rlgen list agents`)."""
    data = read_preset(agent)
    return {k: data[k] for k in PRESET_META if k in data}


def load_preset(agent: str, family: str) -> dict[str, Any]:
    """`agents/<agent>.toml`: the preset it `extends` (if any), its top-level keys, then its
    `[<family>]` table on top. Every table is checked against the agent's config (and `steps`
    read as a budget), so a bad preset fails naming its file whichever family it is used for."""
    from rlgen.registry import agent_class

    data = read_preset(agent)
    parent = data.get("extends")
    if parent == agent:
        raise ConfigError(f"{preset_path(agent)} extends itself")
    base, tables = split_preset(agent, data)
    cls = agent_class(agent).config_class
    for name, table in [("", {})] + list(tables.items()):
        layer = {**(load_preset(parent, name) if parent else {}), **base, **table}
        where = f"{preset_path(agent)}" + (f" [{name}]" if name else "")
        try:
            steps = layer.pop("steps", None)
            if steps is not None:
                parse_count(steps, "steps")
            build_config(cls, layer)
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
    inherited = load_preset(parent, family) if parent else {}
    return {**inherited, **base, **tables.get(family, {})}


# ---- run records --------------------------------------------------------------------------------
def to_dict(config: Any) -> dict[str, Any]:
    """A config as TOML can hold it (tuples as lists, also inside tables)."""
    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return [plain(x) for x in v] if isinstance(v, tuple | list) else v

    return plain(dataclasses.asdict(config))


def dump_toml(data: dict[str, Any], path: Path) -> None:
    import tomli_w

    def clean(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {str(k): clean(v) for k, v in obj.items() if v is not None}
        if isinstance(obj, list | tuple):
            return [clean(v) for v in obj]
        return obj

    path.write_text(tomli_w.dumps(clean(data)))


def parse_count(text: str | int, what: str = "count") -> int:
    """`25M`, `100k`, `1e6`, `5000` -> a positive int; anything else is a ConfigError."""
    scale = {"k": 10**3, "K": 10**3, "m": 10**6, "M": 10**6, "g": 10**9, "G": 10**9, "B": 10**9}
    value: float | None = None
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    elif isinstance(text, str):
        t = text.strip().replace("_", "")
        factor = scale.get(t[-1:], 1)
        try:
            value = float(t[:-1] if t[-1:] in scale else t) * factor
        except ValueError:
            value = None
    if value is None or not value.is_integer() or value < 1:
        raise ConfigError(f"{what}: expected a positive whole count such as 5000, 100k or 25M, "
                          f"got {text!r}")
    return int(value)
