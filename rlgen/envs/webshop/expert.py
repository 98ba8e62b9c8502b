"""Scripted WebShop policies: a privileged expert, noisy variants of it, and a random baseline.

The expert knows the goal (from `info["level"]`) and replays the search engine, so it needs no
memory: search (the instruction, or the target's title when the instruction does not retrieve
the target), page to the target, open it, click each goal option value, buy. When no query finds
the target it buys the first hit. The noisy expert makes a random valid move with probability
`mistake_prob` and takes detours (opens a sub-page or a wrong product) with probability
`detour_prob`; the expert's next moves undo them.

All policies follow the evaluator's protocol: `uses_info = True`, `act(obs, infos)` returns one
action string per env.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlgen.envs.base import EnvSpec
from rlgen.envs.webshop.env import (
    BACK_TO_SEARCH,
    BUY_NOW,
    NEXT_PAGE,
    PREV_PAGE,
    RESULTS_PER_PAGE,
    SUB_PAGES,
)


class ExpertPolicy:
    uses_info = True

    def __init__(self, spec: EnvSpec):
        from rlgen.envs.webshop.family import _data_key, catalogue_for
        from rlgen.envs.webshop.search import search_engine

        self.catalogue = catalogue_for(spec.options)
        self.engine = search_engine(_data_key(spec.options))
        self._query_cache: dict[int, str] = {}

    def query(self, level: int) -> str:
        """The instruction if it retrieves the target, else the target's title."""
        if level not in self._query_cache:
            goal = self.catalogue.goals[level]
            query = goal["instruction_text"].lower()
            if goal["asin"] not in self.engine.search(query):
                title = self.catalogue.by_asin[goal["asin"]].name.lower()
                if goal["asin"] in self.engine.search(title):
                    query = title
            self._query_cache[level] = query
        return self._query_cache[level]

    def expert_action(self, info: dict[str, Any]) -> str:
        valid = info.get("valid_actions") or []
        if not valid:
            return f"click[{BACK_TO_SEARCH}]"  # an ended episode; the evaluator ignores it
        goal = self.catalogue.goals[info["level"]]
        target = goal["asin"]
        page = info["page"]
        if page == "index":
            return f"search[{self.query(info['level'])}]"
        results = self.engine.search(info["keywords"] or "")
        if page == "results":
            if target in results:
                wanted_page = results.index(target) // RESULTS_PER_PAGE + 1
                if wanted_page == info["results_page"]:
                    return f"click[{target.lower()}]"
                return f"click[{NEXT_PAGE if wanted_page > info['results_page'] else PREV_PAGE}]"
            if results:
                first_page = info["results_page"] == 1
                return f"click[{results[0].lower()}]" if first_page else f"click[{PREV_PAGE}]"
            return f"click[{BACK_TO_SEARCH}]"
        if page == "sub":
            return f"click[{PREV_PAGE}]"
        if page == "item":
            if info["asin"] != target:
                return f"click[{PREV_PAGE}]" if target in results else f"click[{BUY_NOW}]"
            chosen = info["chosen_options"]
            for name, value in goal["goal_options"].items():
                if chosen.get(name) != value and f"click[{value}]" in valid:
                    return f"click[{value}]"
            return f"click[{BUY_NOW}]"
        return valid[0]

    def act(self, obs: Any, infos: list[dict]) -> list[str]:
        return [self.expert_action(info) for info in infos]


class NoisyExpertPolicy(ExpertPolicy):
    def __init__(self, spec: EnvSpec, mistake_prob: float = 0.1, detour_prob: float = 0.1,
                 seed: int = 0):
        super().__init__(spec)
        if not (0 <= mistake_prob <= 1 and 0 <= detour_prob <= 1):
            raise ValueError("mistake_prob and detour_prob must lie in [0, 1]")
        self.mistake_prob, self.detour_prob = float(mistake_prob), float(detour_prob)
        self.rng = np.random.default_rng(seed)

    def noisy_action(self, info: dict[str, Any]) -> str:
        best = self.expert_action(info)
        valid = info.get("valid_actions") or []
        others = [a for a in valid if a != best]
        if others and self.rng.random() < self.mistake_prob:
            return others[int(self.rng.integers(len(others)))]
        if self.rng.random() < self.detour_prob:
            if info.get("page") == "item":
                detours = [f"click[{p}]" for p in SUB_PAGES]
            elif info.get("page") == "results":
                target = f"click[{self.catalogue.goals[info['level']]['asin'].lower()}]"
                detours = [a for a in valid if a != target and a[6:-1] not in
                           (BACK_TO_SEARCH, PREV_PAGE, NEXT_PAGE)]
            else:
                detours = []
            if detours:
                return detours[int(self.rng.integers(len(detours)))]
        return best

    def act(self, obs: Any, infos: list[dict]) -> list[str]:
        return [self.noisy_action(info) for info in infos]


class RandomPolicy:
    """Uniform over the valid actions (the lower reference point)."""

    uses_info = True

    def __init__(self, spec: EnvSpec | None = None, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def act(self, obs: Any, infos: list[dict]) -> list[str]:
        out = []
        for info in infos:
            valid = info.get("valid_actions") or [f"click[{BACK_TO_SEARCH}]"]
            out.append(valid[int(self.rng.integers(len(valid)))])
        return out


POLICIES = {"expert": ExpertPolicy, "noisy": NoisyExpertPolicy, "random": RandomPolicy}


def make_policy(spec: EnvSpec, name: str, **kwargs: Any):
    from rlgen.registry import lookup

    cls = lookup("webshop policy", name, {k: f"{__name__}:{v.__name__}" for k, v in POLICIES.items()})
    return cls(spec, **kwargs)
