"""Scripted WebShop policies: a privileged expert, noisy variants of it, and a uniform baseline.

The expert knows the goal (from `info["goal_index"]`, the level the page belongs to) and
replays the search engine, so it needs no memory: search with the instruction (the one search offered), page to the target, open it,
click each goal option value, buy. When the search does not retrieve the target, it buys the
retrieved product that earns the most. It only takes offered actions, so every step of its
demonstrations is a choice among `valid_actions`.

The noisy expert makes a random valid move with probability `mistake_prob` and takes detours
(opens a sub-page or a wrong product) with probability `detour_prob`; the expert's next moves
undo them. `uniform` picks uniformly among the valid actions.

All policies follow the evaluator's protocol (rlgen.policy.Policy): `needs_infos = True`, `act(obs, infos)` returns one
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
from rlgen.envs.webshop.reward import purchase_reward
from rlgen.policy import Policy


class ExpertPolicy(Policy):
    needs_infos = True

    def __init__(self, spec: EnvSpec):
        from rlgen.envs.webshop.family import catalogue_for, data_key
        from rlgen.envs.webshop.search import search_engine

        self.catalogue = catalogue_for(spec.options)
        self.engine = search_engine(data_key(spec.options))
        self._target_cache: dict[int, str] = {}

    def target(self, level: int) -> str:
        """The goal's product when the instruction retrieves it, else the retrieved product whose
        purchase (with the goal's option values it offers) earns the most."""
        if level not in self._target_cache:
            goal = self.catalogue.goals[level]
            results = self.engine.search(goal["instruction_text"].lower())
            best = goal["asin"]
            if best not in results and results:
                goal_nouns = self.catalogue.title_nouns(self.catalogue.by_asin[goal["asin"]])

                def value(asin: str) -> float:
                    product = self.catalogue.by_asin[asin]
                    options = {n: v for n, v in goal["goal_options"].items()
                               if v in product.options.get(n, [])}
                    return purchase_reward(vars(product), goal, product.price, options,
                                           self.catalogue.title_nouns(product), goal_nouns)[0]

                best = max(results, key=value)  # first of the best, in ranking order
            self._target_cache[level] = best
        return self._target_cache[level]

    def expert_action(self, info: dict[str, Any]) -> str:
        valid = info.get("valid_actions") or []
        if not valid:
            return f"click[{BACK_TO_SEARCH}]"  # an ended episode; the evaluator ignores it
        if info["page"] == "index":
            return valid[0]  # the instruction as the query
        goal = self.catalogue.goals[info["goal_index"]]
        target = self.target(info["goal_index"])
        results = self.engine.search(info["keywords"] or "")
        page = info["page"]
        if target not in results:  # after a detour through another search
            return f"click[{BACK_TO_SEARCH}]"
        if page == "results":
            wanted_page = results.index(target) // RESULTS_PER_PAGE + 1
            if wanted_page == info["results_page"]:
                return f"click[{target.lower()}]"
            return f"click[{NEXT_PAGE if wanted_page > info['results_page'] else PREV_PAGE}]"
        if page == "sub" or (page == "item" and info["asin"] != target):
            return f"click[{PREV_PAGE}]"
        if page == "item":
            chosen = dict(info["chosen_options"])
            for name, value in goal["goal_options"].items():
                if chosen.get(name) != value and f"click[{value}]" in valid:
                    return f"click[{value}]"
            return f"click[{BUY_NOW}]"
        return valid[0]

    def act(self, obs: Any, infos: list[dict] | None = None) -> list[str]:
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
                target = f"click[{self.catalogue.goals[info['goal_index']]['asin'].lower()}]"
                detours = [a for a in valid if a != target and a[6:-1] not in
                           (BACK_TO_SEARCH, PREV_PAGE, NEXT_PAGE)]
            else:
                detours = []
            if detours:
                return detours[int(self.rng.integers(len(detours)))]
        return best

    def act(self, obs: Any, infos: list[dict] | None = None) -> list[str]:
        return [self.noisy_action(info) for info in infos]


class RandomValidPolicy(Policy):
    """Uniform over the valid actions (the lower reference point)."""

    needs_infos = True

    def __init__(self, spec: EnvSpec | None = None, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def act(self, obs: Any, infos: list[dict] | None = None) -> list[str]:
        out = []
        for info in infos:
            valid = info.get("valid_actions") or [f"click[{BACK_TO_SEARCH}]"]
            out.append(valid[int(self.rng.integers(len(valid)))])
        return out


POLICIES = {"expert": ExpertPolicy, "noisy": NoisyExpertPolicy, "uniform": RandomValidPolicy}


def make_policy(spec: EnvSpec, name: str, **kwargs: Any):
    from rlgen.registry import lookup

    cls = lookup("webshop policy", name, {k: f"{__name__}:{v.__name__}" for k, v in POLICIES.items()})
    return cls(spec, **kwargs)
