"""Real KeyRoom-S5 transitions for the CALM tests: the scripted oracle plays level 0."""

from __future__ import annotations

from functools import lru_cache

from rlgen.calm.transition import Transition


@lru_cache(maxsize=1)
def keyroom_transitions(level: int = 0) -> tuple[Transition, ...]:
    from rlgen.envs.minihack.env import MiniHackEnv
    from rlgen.envs.minihack.oracle import Oracle

    env = MiniHackEnv("KeyRoom-S5")
    obs, _ = env.reset(options={"level": level})
    oracle = Oracle(env.action_names)
    out, prev = [], None
    for t in range(100):
        a = oracle.act(obs)
        nobs, _, term, trunc, _ = env.step(a)
        out.append(Transition(obs, a, nobs, tuple(env.action_names), t, prev_action=prev))
        obs, prev = nobs, a
        if term or trunc:
            break
    env.close()
    # The next action is known inside an episode.
    return tuple(Transition(tr.obs, tr.action, tr.next_obs, tr.action_names, tr.time,
                            tr.prev_action, out[i + 1].action if i + 1 < len(out) else None)
                 for i, tr in enumerate(out))


def by_action(name: str, level: int = 0) -> Transition:
    trs = keyroom_transitions(level)
    return next(tr for tr in trs if tr.action_names[tr.action] == name)
