"""The one policy protocol that evaluation and data collection drive.

A policy acts on a batch of observations, one row per env slot. Stateful policies (sequence
models, scripted experts with a plan) learn that new episodes start in some slots through
`begin`, that slots fell idle (their last episode ended, none follows) through `end`, and see
the rewards their last actions earned through `feedback`; the defaults do nothing. Policies
that choose among per-state options (WebShop's clickables) set `needs_infos = True` and read
each slot's latest info dict in `act`."""

from __future__ import annotations

from typing import Any

import numpy as np


class Policy:
    #: pass each slot's latest `info` dict to `act` (building them costs time, so opt in)
    needs_infos: bool = False

    def act(self, obs: Any, infos: list[dict] | None = None) -> Any:
        """Actions for the batch `obs` (an array or list, one entry per slot)."""
        raise NotImplementedError

    def begin(self, slots: np.ndarray) -> None:
        """New episodes start in these batch slots."""

    def end(self, slots: np.ndarray) -> None:
        """These slots' episodes ended and no new ones follow (until a `begin` names them): their
        rows in later batches are stale and their actions are ignored, so a policy may skip them."""

    def feedback(self, rewards: np.ndarray) -> None:
        """Rewards of the last `act`, one per slot (slots with no running episode get 0)."""


def check_policy(policy: Any) -> Policy:
    if not isinstance(policy, Policy):
        raise TypeError(f"{type(policy).__name__} is not an rlgen.policy.Policy: subclass it and "
                        "implement act(obs, infos=None)")
    return policy
