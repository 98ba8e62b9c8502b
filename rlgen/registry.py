"""The one registry: names to `module:attr` entry points, loaded lazily.

Adding an env family or an agent is one module, one line here and one spec file under the
top-level `envs/` or `agents/` folder.
"""

from __future__ import annotations

import importlib
from typing import Any

from rlgen.errors import UnknownNameError

ENV_FAMILIES: dict[str, Any] = {
    "procgen": "rlgen.envs.procgen:ProcgenFamily",
    "minihack": "rlgen.envs.minihack:MiniHackFamily",
    "toy": "rlgen.envs.toy:ToyFamily",
    "maze": "rlgen.envs.maze:MazeFamily",
    "minatar": "rlgen.envs.minatar:MinAtarFamily",
    "babyai": "rlgen.envs.babyai:BabyAIFamily",
    "webshop": "rlgen.envs.webshop.family:WebShopFamily",
}

AGENTS: dict[str, Any] = {
    "ppo": "rlgen.agents.ppo:PPO",
    # PPO with a drift objective (agents/<name>.toml sets `objective`); no PPO copy
    "dpo": "rlgen.agents.ppo:PPO",
    "lpo": "rlgen.agents.ppo:PPO",
    "talpo": "rlgen.agents.ppo:PPO",
    "bc": "rlgen.agents.bc:BC",
    "cql": "rlgen.agents.cql:CQL",
    "iql": "rlgen.agents.iql:IQL",
    "bcq": "rlgen.agents.bcq:BCQ",
    "dt": "rlgen.agents.dt:DT",
    "bct": "rlgen.agents.dt:BCT",
    "rvs": "rlgen.agents.rvs:RvS",
    "gcdt": "rlgen.agents.gcdt:GCDT",
    "gciql": "rlgen.agents.gciql:GCIQL",
    "llm-zeroshot": "rlgen.agents.llm_zeroshot:LLMZeroShot",  # an LM picks actions, no training
    "lid": "rlgen.agents.lid:LID",
}

#: PPO actor objectives (see rlgen.agents.objectives); a config's `objective` names one.
OBJECTIVES: dict[str, Any] = {
    "clip": "rlgen.agents.objectives:ClippedSurrogate",
    "dpo": "rlgen.agents.drift:DPO",
    "lpo": "rlgen.agents.drift:LPO",
    "talpo": "rlgen.agents.drift:TALPO",
}

#: Wrappers for online agents' training envs only (see rlgen.envs.wrappers).
TRAINING_WRAPPERS: dict[str, Any] = {
    "calm": "rlgen.calm.shaping:CalmShaping",  # CALM: beta per subgoal the judge sees achieved
}

#: CALM judges (rlgen.calm): whether an action achieved a subgoal; `make_judge` in
#: rlgen.calm.judges builds one from `name[:argument]`.
JUDGES: dict[str, str] = {
    "oracle": "rlgen.calm.judges.oracle:OracleJudge",
    "replay": "rlgen.calm.judges.replay:ReplayJudge",
    "openai": "rlgen.calm.judges.openai:OpenAIJudge",
    "llamacpp": "rlgen.calm.judges.llamacpp:LlamaCppJudge",
}

#: Execution backends (rlgen.exec): where `rlgen sweep` trials and `rlgen meta-train`
#: populations run.
BACKENDS: dict[str, Any] = {
    "local": "rlgen.exec.local:LocalBackend",
    "ray": "rlgen.exec.ray_tasks:RayBackend",
    "slurm": "rlgen.exec.submitit_arrays:SlurmBackend",
}

TABLES: dict[str, dict[str, Any]] = {
    "env family": ENV_FAMILIES, "agent": AGENTS, "objective": OBJECTIVES,
    "training wrapper": TRAINING_WRAPPERS, "judge": JUDGES, "backend": BACKENDS,
}


def register(kind: str, name: str, target: Any, replace: bool = False) -> None:
    """Add `name` to the `kind` table ("agent", "objective", "training wrapper", "env family",
    "judge", "backend"):
    `target` is a `module:attr` string or the object itself (e.g. a class defined in a notebook
    or test). A name already taken is refused unless `replace`."""
    if kind not in TABLES:
        raise UnknownNameError("registry table", kind, list(TABLES))
    table = TABLES[kind]
    if name in table and not replace:
        raise ValueError(f"{kind} {name!r} is already registered (as {table[name]!r})")
    table[name] = target


def load_entry_point(entry: Any) -> Any:
    """`module:attr` -> the object (anything else registered directly is returned as is)."""
    if not isinstance(entry, str):
        return entry
    module, _, attr = entry.partition(":")
    return getattr(importlib.import_module(module), attr)


def lookup(kind: str, name: str, table: dict[str, Any]) -> Any:
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
