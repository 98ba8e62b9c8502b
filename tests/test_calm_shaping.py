"""The CALM shaping wrapper on real KeyRoom-S5 episodes: beta per subgoal, once per episode,
extrinsic rewards untouched and logged apart from the shaped ones."""

import pytest

from rlgen.calm.judges import make_judge
from rlgen.calm.judges.base import Judge, Judgement
from rlgen.calm.parse import parse_answer
from rlgen.calm.shaping import CalmShaping
from rlgen.envs.minihack.env import MiniHackEnv
from rlgen.envs.minihack.oracle import Oracle


class Scripted(Judge):
    """Answers each step with the next of `answers` (the last one repeats); keeps the prompts."""

    def __init__(self, *answers: str):
        self.answers, self.prompts = list(answers), []

    def judge(self, requests):
        self.prompts += [r.prompt for r in requests]
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [Judgement(parse_answer(answer), answer) for _ in requests]


@pytest.fixture(scope="module")
def episode():
    """Level 0 played by the scripted oracle on the bare env: (actions, rewards)."""
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
            return actions, rewards


def replay(wrapped, actions):
    wrapped.reset(options={"level": 0})
    steps = [wrapped.step(a) for a in actions]
    return [s[1] for s in steps], [s[4] for s in steps]


def test_oracle_shaping_adds_beta_at_pickup_and_unlock_only(episode):
    actions, rewards = episode
    env = CalmShaping(MiniHackEnv("KeyRoom-S5"), make_judge("oracle"), beta=0.5)
    shaped, infos = replay(env, actions)
    names = [env.action_names[a] for a in actions]
    assert [i["reward_extrinsic"] for i in infos] == rewards  # the env's own rewards, untouched
    bonus = {names[k]: s - r for k, (s, r) in enumerate(zip(shaped, rewards, strict=True)) if s != r}
    assert bonus == {"pickup": 0.5, "apply": 0.5}
    assert infos[-1]["return_extrinsic"] == pytest.approx(sum(rewards))
    assert infos[-1]["return_shaped"] == pytest.approx(sum(rewards) + 1.0)
    assert "return_extrinsic" not in infos[0]
    env.close()


def test_each_subgoal_pays_once_per_episode(episode):
    actions, _ = episode
    judge = Scripted('{"pick up the key": true}')
    env = CalmShaping(MiniHackEnv("KeyRoom-S5"), judge, beta=1.0)
    for _ in range(2):  # a new episode pays again
        _, infos = replay(env, actions)
        assert [i["reward_intrinsic"] for i in infos] == [1.0] + [0.0] * (len(actions) - 1)
    every = CalmShaping(MiniHackEnv("KeyRoom-S5"), judge, beta=1.0, once_per_episode=False)
    _, infos = replay(every, actions)
    assert all(i["reward_intrinsic"] == 1.0 for i in infos)
    assert "<gameplay>" in judge.prompts[0] and '"open the door"' in judge.prompts[0]
    env.close()
    every.close()


def test_a_models_own_names_fold_onto_the_subgoal(episode):
    actions, _ = episode
    judge = Scripted('{"Grab the key": true}', '{"pick up the key": true, "open door": false}',
                     '{"unlock the door": true}')
    env = CalmShaping(MiniHackEnv("KeyRoom-S5"), judge, beta=1.0)
    _, infos = replay(env, actions)
    assert [i["subgoals"] for i in infos[:3]] == [["pick up the key"], [], ["open the door"]]
    env.close()
