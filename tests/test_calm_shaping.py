"""The CALM shaping wrapper on real KeyRoom-S5 episodes in a same-step-autoreset vector env:
beta per subgoal, once per episode, the env's own rewards kept apart from the shaped ones."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from rlgen.calm.judges.base import Judge, Judgement
from rlgen.calm.parse import parse_answer
from rlgen.calm.shaping import CalmShaping
from rlgen.envs.base import LevelSampler
from rlgen.envs.minihack.env import MiniHackEnv
from rlgen.envs.minihack.oracle import Oracle


class Scripted(Judge):
    """Answers every transition of a call with the next of `answers` (the last one repeats)."""

    def __init__(self, *answers: str):
        self.answers, self.prompts = list(answers), []

    def judge(self, requests):
        self.prompts += [r.prompt for r in requests]
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [Judgement(parse_answer(answer), answer) for _ in requests]


@pytest.fixture(scope="module")
def episode():
    """Level 0 played by the scripted oracle on the bare env: (actions, rewards, names)."""
    env = MiniHackEnv("KeyRoom-S5")
    obs, _ = env.reset(options={"level": 0})
    oracle, actions, rewards = Oracle(env.action_names), [], []
    while True:
        a = oracle.act(obs)
        obs, r, term, trunc, _ = env.step(a)
        actions.append(a)
        rewards.append(r)
        if term or trunc:
            env.close()
            return actions, rewards, env.action_names


def vector(n: int = 2) -> gym.vector.VectorEnv:
    return gym.vector.SyncVectorEnv(
        [lambda: LevelSampler(MiniHackEnv("KeyRoom-S5"), [0]) for _ in range(n)],
        autoreset_mode=AutoresetMode.SAME_STEP)


def play(envs, actions, episodes: int = 1):
    """The same action list in every env, `episodes` times in a row (autoreset in between)."""
    envs.reset(seed=0)
    steps = [envs.step(np.full(envs.num_envs, a)) for _ in range(episodes) for a in actions]
    return (np.array([s[1] for s in steps]), np.array([s[4]["extrinsic_reward"] for s in steps]),
            np.array([s[4]["intrinsic_reward"] for s in steps]), [s[2] | s[3] for s in steps])


def test_oracle_shaping_pays_beta_at_pickup_and_unlock_in_every_episode(episode):
    actions, rewards, names = episode
    envs = CalmShaping(vector(2), "oracle", beta=0.5)
    shaped, extrinsic, intrinsic, ended = play(envs, actions, episodes=2)
    assert ended[len(actions) - 1].all() and ended[-1].all()  # both episodes end where they did
    expected = np.tile(np.array(rewards)[:, None], (2, 2))
    np.testing.assert_allclose(extrinsic, expected)  # the env's own rewards, untouched
    np.testing.assert_allclose(shaped, extrinsic + 0.5 * intrinsic)
    paid = [names[actions[k % len(actions)]] for k in np.flatnonzero(intrinsic[:, 0])]
    assert paid == ["pickup", "apply", "pickup", "apply"]  # again after the autoreset
    assert (intrinsic[:, 0] == intrinsic[:, 1]).all()
    envs.close()


def test_each_subgoal_pays_once_per_episode(episode):
    actions, _, _ = episode
    judge = Scripted('{"pick up the key": true}')
    envs = CalmShaping(vector(1), judge, beta=1.0)
    _, _, intrinsic, _ = play(envs, actions, episodes=2)
    first = [0, len(actions)]  # the first step of each episode
    assert np.flatnonzero(intrinsic[:, 0]).tolist() == first
    every = CalmShaping(vector(1), judge, beta=1.0, once_per_episode=False)
    _, _, intrinsic, _ = play(every, actions)
    assert (intrinsic == 1.0).all()
    assert "<gameplay>" in judge.prompts[0] and '"open the door"' in judge.prompts[0]
    envs.close()
    every.close()


def test_a_models_own_names_fold_onto_the_subgoal(episode):
    actions, _, _ = episode
    judge = Scripted('{"Grab the key": true}', '{"pick up the key": true, "open door": false}',
                     '{"unlock the door": true}')
    envs = CalmShaping(vector(1), judge, beta=1.0)
    _, _, intrinsic, _ = play(envs, actions)
    assert intrinsic[:3, 0].tolist() == [1.0, 0.0, 1.0]
    envs.close()


def test_next_step_autoreset_is_refused():
    envs = gym.vector.SyncVectorEnv([lambda: MiniHackEnv("KeyRoom-S5")],
                                    autoreset_mode=AutoresetMode.NEXT_STEP)
    with pytest.raises(ValueError, match="same-step"):
        CalmShaping(envs, "oracle")
    envs.close()


def test_ppo_trains_with_calm_shaping_through_the_training_wrapper_hook(tmp_path):
    """`--set wrappers=["calm"]`: PPO's training envs get the judge's bonus, its logged training
    return stays the env's own, and evaluation runs the bare env."""
    import json

    from rlgen import train as T

    overrides = {"num_envs": 4, "num_steps": 32, "minibatches": 2, "epochs": 1,
                 "wrappers": ["calm"], "wrapper_args": {"calm": {"judge": "oracle", "beta": 5.0}}}
    run = T.train(T.TrainRequest("ppo", "minihack:KeyRoom-S5", steps=256, name="c",
                                 runs_root=str(tmp_path), overrides=overrides,
                                 env_options={"max_episode_steps": 16}, episodes=2,
                                 splits=("test",), progress=False))
    logs = [json.loads(x) for x in (run.path / "metrics.jsonl").read_text().splitlines()]
    ended = [m for m in logs if "train/episode_return" in m]
    assert ended, "no training episode ended"
    for m in ended:
        assert m["train/shaped_episode_return"] >= m["train/episode_return"]
    from rlgen.agents.factory import build_agent

    agent, _ = build_agent(run.read_config())
    from rlgen.calm.shaping import CalmShaping

    assert isinstance(agent.make_training_envs(seed=0), CalmShaping)
    assert not isinstance(agent.spec.make_vec_env("test", 2), CalmShaping)
