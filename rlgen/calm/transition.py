"""One step of a MiniHack episode as the judge sees it: s_t, a_t, s_{t+1}."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Transition:
    """`obs` and `next_obs` are MiniHack dict observations (rlgen's MiniHackEnv keys).

    `prev_action` (a_{t-1}) and `next_action` (a_{t+1}) are only known inside a recorded
    episode; the crop rendering names them when present.
    """

    obs: Mapping[str, np.ndarray]
    action: int
    next_obs: Mapping[str, np.ndarray]
    action_names: Sequence[str]
    time: int = 0
    prev_action: int | None = None
    next_action: int | None = None

    def action_name(self, action: int | None) -> str | None:
        if action is None:
            return None
        if not 0 <= int(action) < len(self.action_names):
            raise ValueError(f"action {action} is not one of the {len(self.action_names)} actions")
        return self.action_names[int(action)]
