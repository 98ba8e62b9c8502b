"""The one registry: names to `module:attr` entry points, loaded lazily.

Adding an env family or an agent is one module, one line here and one spec file under the
top-level `envs/` or `agents/` folder.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

ENV_FAMILIES: dict[str, str] = {
    "procgen": "rlgen.envs.procgen:ProcgenFamily",
    "minihack": "rlgen.envs.minihack:MiniHackFamily",
    "toy": "rlgen.envs.toy:ToyFamily",
    "maze": "rlgen.envs.maze:MazeFamily",
    "webshop": "rlgen.envs.webshop.family:WebShopFamily",
}

AGENTS: dict[str, str] = {
    "ppo": "rlgen.agents.ppo:PPO",
    "bc": "rlgen.agents.bc:BC",
    "cql": "rlgen.agents.cql:CQL",
    "iql": "rlgen.agents.iql:IQL",
    "bcq": "rlgen.agents.bcq:BCQ",
    "dt": "rlgen.agents.dt:DT",
    "bct": "rlgen.agents.dt:BCT",
    "rvs": "rlgen.agents.rvs:RvS",
    "gcdt": "rlgen.agents.gcdt:GCDT",
    "gciql": "rlgen.agents.gciql:GCIQL",
}


class UnknownNameError(ValueError):
    """A name that is not registered; the message lists the close matches."""

    def __init__(self, kind: str, name: str, known: list[str]):
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}.{hint} Known: {', '.join(sorted(known))}.")
        self.kind, self.name, self.suggestions = kind, name, close


def load_entry_point(entry: str) -> Any:
    module, _, attr = entry.partition(":")
    return getattr(importlib.import_module(module), attr)


def lookup(kind: str, name: str, table: dict[str, str]) -> Any:
    if name not in table:
        raise UnknownNameError(kind, name, list(table))
    return load_entry_point(table[name])


def env_family(name: str):
    return lookup("env family", name, ENV_FAMILIES)()


def agent_class(name: str):
    return lookup("agent", name, AGENTS)


def make_env_spec(spec: str, **options: Any):
    """Parse `family:task` into a resolved `EnvSpec` (task checked, splits built lazily)."""
    family_name, _, task = spec.partition(":")
    family = env_family(family_name)
    return family.spec(task, **options)


def make_env(spec: str, **options: Any):
    """A single `gymnasium.Env` for `family:task`."""
    return make_env_spec(spec, **options).make_env()


#: CALM judges (rlgen.calm): whether an action achieved a subgoal; `make_judge` in
#: rlgen.calm.judges builds one from `name[:argument]`.
JUDGES: dict[str, str] = {
    "oracle": "rlgen.calm.judges.oracle:OracleJudge",
    "replay": "rlgen.calm.judges.replay:ReplayJudge",
    "openai": "rlgen.calm.judges.openai:OpenAIJudge",
    "llamacpp": "rlgen.calm.judges.llamacpp:LlamaCppJudge",
}
