"""CALM's auxiliary reward as a Gymnasium wrapper: r' = r + beta * r_int, where r_int counts
the subgoals the judge says this step achieved, each at most once per episode by default.

The judge is queried online, one transition per step (through its answer cache for language
models, so a repeated transition is never asked twice). The wrapper is for training envs only:
evaluation must run the bare env, which is what keeps evaluation returns extrinsic. Every step's
info carries `reward_extrinsic` and `reward_intrinsic`; the last step of an episode also carries
`return_extrinsic` and `return_shaped`, so the two are logged separately.
Not built yet: CALM's offline mode (an annotated (observation, action) table with min-max
normalised counts), and the hook that puts this wrapper into `rlgen train`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from rlgen.calm.judges.base import Judge, JudgeRequest
from rlgen.calm.prompts import PromptConfig, transition_prompt
from rlgen.calm.score import match_subgoal
from rlgen.calm.transition import Transition


class CalmShaping(gym.Wrapper):
    def __init__(self, env: gym.Env, judge: Judge, beta: float = 0.1,
                 config: PromptConfig | None = None, once_per_episode: bool = True):
        super().__init__(env)
        self.judge, self.beta = judge, float(beta)
        self.config = config or PromptConfig.preset()
        self.once = bool(once_per_episode)
        self.action_names = tuple(env.unwrapped.action_names)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._obs, self._prev_action, self._t = obs, None, 0
        self._achieved: set[str] = set()
        self._ext = self._shaped = 0.0
        return obs, info

    def _subgoals(self, tr: Transition) -> set[str]:
        prompt = transition_prompt(tr, self.config) if self.judge.reads_prompt else ""
        verdict = self.judge.judge([JudgeRequest(prompt, tr)])[0].verdict
        # A model's own names are folded onto KeyRoom's subgoals where they match, so "grab the
        # key" and "pick up the key" are one subgoal for the once-per-episode rule.
        return {match_subgoal(k) or k.lower() for k, v in verdict.subgoals.items() if v}

    def step(self, action) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        tr = Transition(self._obs, int(action), obs, self.action_names, self._t, self._prev_action)
        done = self._subgoals(tr)
        new = done - self._achieved if self.once else done
        self._achieved |= done
        intrinsic = float(len(new))
        shaped = float(reward) + self.beta * intrinsic
        self._ext += float(reward)
        self._shaped += shaped
        info = {**info, "reward_extrinsic": float(reward), "reward_intrinsic": intrinsic,
                "subgoals": sorted(new)}
        if terminated or truncated:
            info.update(return_extrinsic=self._ext, return_shaped=self._shaped)
        self._obs, self._prev_action, self._t = obs, int(action), self._t + 1
        return obs, shaped, terminated, truncated, info
