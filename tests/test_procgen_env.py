import numpy as np

from rlgen import make_env_spec
from rlgen.envs.procgen import ProcgenVecEnv


def test_single_env_pins_levels_and_reports_them():
    env = make_env_spec("procgen:coinrun").make_env()
    obs, info = env.reset(seed=0, options={"level": 1234567})
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert info["level"] == 1234567
    first = obs.copy()
    obs2, info2 = env.reset(seed=1, options={"level": 1234567})
    assert info2["level"] == 1234567 and np.array_equal(first, obs2)
    for _ in range(2000):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        assert info["level"] == 1234567
        if term:
            assert "success" in info
            break
    else:
        raise AssertionError("episode never ended")
    env.close()


def test_vector_env_batched_uint8_and_level_seeds_in_range():
    spec = make_env_spec("procgen:coinrun", num_levels=10)
    envs = spec.make_vec_env("train", num_envs=4, seed=0)
    assert isinstance(envs, ProcgenVecEnv)
    obs, info = envs.reset(seed=0)
    assert obs.shape == (4, 64, 64, 3) and obs.dtype == np.uint8
    assert set(info["level"]) <= set(range(10))
    seen, dones = set(), 0
    for _ in range(1500):
        obs, rew, term, trunc, info = envs.step(envs.action_space.sample())
        assert obs.shape == (4, 64, 64, 3) and rew.shape == (4,) and term.dtype == bool
        assert np.all((info["level"] >= 0) & (info["level"] < 10))
        seen |= set(info["level"][term].tolist())
        dones += term.sum()
    assert dones > 0 and seen <= set(range(10))
    envs.close()


def test_vector_env_seed_makes_rollouts_repeatable():
    spec = make_env_spec("procgen:coinrun", num_levels=50)

    def rollout():
        envs = spec.make_vec_env("train", num_envs=2, seed=7)
        obs, info = envs.reset(seed=7)
        rng = np.random.default_rng(0)
        total = obs.astype(np.int64).sum()
        for _ in range(50):
            obs, *_ = envs.step(rng.integers(15, size=2))
            total += obs.astype(np.int64).sum()
        envs.close()
        return total, tuple(info["level"])

    assert rollout() == rollout()


def test_non_contiguous_levels_use_listed_levels():
    spec = make_env_spec("procgen:coinrun")
    envs = spec.impl.make_vec_env(spec, [5, 17, 99], num_envs=2, seed=0)
    _, info = envs.reset(seed=0)
    assert set(info["level"].tolist()) <= {5, 17, 99}
    envs.close()


def test_sb3_can_use_the_single_env():
    from stable_baselines3.common.env_checker import check_env

    check_env(make_env_spec("procgen:coinrun").make_env(), warn=False, skip_render_check=True)
