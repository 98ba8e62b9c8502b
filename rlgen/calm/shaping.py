"""CALM's auxiliary reward for training envs: r' = r + beta * r_int, where r_int counts the
subgoals the judge says a step achieved, each at most once per episode by default.

A `RewardShaping` training wrapper (rlgen.envs.wrappers: a vector wrapper over the batch of
training envs; shaped reward out, the env's own reward kept in `info["extrinsic_reward"]`,
which agents log as the training return); `info["intrinsic_reward"]`
holds r_int per env. Each vector step judges all envs' transitions in one batch (one call per
step for a language model, through its answer cache). It needs same-step autoreset (what rlgen's
families build): the transition that ends an episode is judged on `final_obs`.
Evaluation runs the bare envs, so evaluation returns stay extrinsic.
Not built: CALM's offline mode (an annotated (observation, action) table with min-max
normalised counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from rlgen.calm.judges.base import Judge, JudgeRequest
from rlgen.calm.prompts import PromptConfig, transition_prompt
from rlgen.calm.score import match_subgoal
from rlgen.calm.transition import Transition
from rlgen.envs.wrappers import RewardShaping

INTRINSIC = "intrinsic_reward"


def _action_names(envs: gym.vector.VectorEnv, spec: Any) -> tuple[str, ...]:
    if spec is not None:
        env = spec.make_env()
        try:
            return tuple(env.action_names)
        finally:
            env.close()
    inner = getattr(envs.unwrapped, "envs", None)  # SyncVectorEnv
    if inner:
        return tuple(inner[0].unwrapped.action_names)
    raise ValueError("CalmShaping needs action_names= or spec= for this vector env")


class CalmShaping(RewardShaping):
    """CALM's shaping: + beta for each subgoal the judge says a step achieved (training only).

    `judge` is a Judge or a spec string ("oracle", "llamacpp", "replay:FILE", ...; extra
    keyword arguments go to it). `subgoals` and `view` pick the prompt (PromptConfig)."""

    def __init__(self, envs: gym.vector.VectorEnv, judge: str | Judge = "oracle",
                 beta: float = 0.1, once_per_episode: bool = True, subgoals: str = "preset",
                 view: str = "tty", action_names: Sequence[str] | None = None, spec: Any = None,
                 **judge_options: Any):
        super().__init__(envs)
        mode = str(envs.metadata.get("autoreset_mode", "")).lower()
        if "next" in mode:
            raise ValueError("CalmShaping needs same-step autoreset (AutoresetMode.SAME_STEP)")
        if isinstance(judge, str):
            from rlgen.calm.judges import make_judge

            config_subgoals = PromptConfig(subgoals=subgoals).named_subgoals
            if config_subgoals is not None:
                judge_options.setdefault("subgoals", config_subgoals)
            judge = make_judge(judge, **(judge_options if judge != "oracle" else {}))
        self.judge, self.beta, self.once = judge, float(beta), bool(once_per_episode)
        self.config = PromptConfig(subgoals=subgoals, view=view)
        self.names = tuple(action_names) if action_names else _action_names(envs, spec)

    def _slice(self, obs: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
        return {k: v[i] for k, v in obs.items()}

    def _start(self, i: int, obs: dict[str, np.ndarray]) -> None:
        self._obs[i], self._prev[i], self._t[i], self._done[i] = obs, None, 0, set()

    def reset(self, *, seed=None, options=None):
        obs, infos = self.env.reset(seed=seed, options=options)
        n = self.num_envs
        self._obs: list[Any] = [None] * n
        self._prev: list[int | None] = [None] * n
        self._t, self._done = [0] * n, [set() for _ in range(n)]
        for i in range(n):
            self._start(i, self._slice(obs, i))
        return obs, infos

    def _achieved(self, transitions: list[Transition]) -> list[set[str]]:
        reqs = [JudgeRequest(transition_prompt(tr, self.config) if self.judge.reads_prompt else "",
                             tr) for tr in transitions]
        # A model's own names are folded onto KeyRoom's subgoals where they match, so "grab the
        # key" and "pick up the key" are one subgoal for the once-per-episode rule.
        return [{match_subgoal(k) or k.lower() for k, v in j.verdict.subgoals.items() if v}
                for j in self.judge.judge(reqs)]

    def bonus(self, obs, actions, rewards, terminations, truncations, infos) -> np.ndarray:
        ended = np.logical_or(terminations, truncations)
        final, has_final = infos.get("final_obs"), infos.get("_final_obs")
        after = [final[i] if ended[i] and final is not None and has_final[i]
                 else self._slice(obs, i) for i in range(self.num_envs)]
        acts = np.asarray(actions).reshape(-1)
        trs = [Transition(self._obs[i], int(acts[i]), after[i], self.names, self._t[i],
                          self._prev[i]) for i in range(self.num_envs)]
        intrinsic = np.zeros(self.num_envs)
        for i, got in enumerate(self._achieved(trs)):
            new = got - self._done[i] if self.once else got
            self._done[i] |= got
            intrinsic[i] = len(new)
            if ended[i]:
                self._start(i, self._slice(obs, i))  # obs holds the next episode's first step
            else:
                self._obs[i], self._prev[i], self._t[i] = after[i], int(acts[i]), self._t[i] + 1
        infos[INTRINSIC] = intrinsic  # RewardShaping hands over its own copy of the infos
        return self.beta * intrinsic
