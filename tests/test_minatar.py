"""MinAtar family: the package env behind Gymnasium, splits, and the batched torch games
checked step for step against the package on the same random draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("minatar")

from gymnasium.utils.env_checker import check_env  # noqa: E402

from rlgen.cli import main as cli_main  # noqa: E402
from rlgen.envs.minatar import batched_breakout, batched_space_invaders  # noqa: E402
from rlgen.envs.minatar.batched import BatchedMinAtar  # noqa: E402
from rlgen.envs.minatar.env import GAMES as ALL_GAMES  # noqa: E402
from rlgen.envs.minatar.env import _package  # noqa: E402
from rlgen.eval.evaluate import run_episodes  # noqa: E402
from rlgen.policy import Policy  # noqa: E402
from rlgen.registry import UnknownNameError, make_env_spec  # noqa: E402


def _has_compiler() -> bool:
    import shutil

    return any(shutil.which(c) for c in ("cc", "gcc", "clang"))


#: torch.compile (inductor) needs a C compiler on a CPU
needs_compiler = pytest.mark.skipif(not _has_compiler(), reason="no C compiler for torch.compile")

GAMES = {
    "breakout": (batched_breakout, batched_breakout.BatchedBreakout),
    "space_invaders": (batched_space_invaders, batched_space_invaders.BatchedSpaceInvaders),
}


class PackageDraws:
    """Feeds the batched envs the draws N package envs make: env i's RandomState gives one
    uniform per step (sticky actions) and the game's draw at each reset, in that order."""

    def __init__(self, states: list[np.random.RandomState], module):
        self.states, self.module = states, module

    def sticky(self) -> torch.Tensor:
        return torch.tensor([rs.rand() for rs in self.states])

    def new_episodes(self, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start = [self.module.start_draw(rs) if m else 0 for rs, m in zip(self.states, mask.tolist(), strict=True)]
        return torch.zeros(len(self.states), dtype=torch.long), torch.tensor(start)


def package_envs(game: str, seeds: list[int], sticky: float, ramping: bool = True):
    envs = []
    for s in seeds:
        env = _package().Environment(game, sticky_action_prob=sticky, difficulty_ramping=ramping)
        env.seed(s)
        env.reset()
        envs.append(env)
    return envs


def scripted_action(game: str, s: np.ndarray) -> int:
    """A decent player read off the grid, so long runs reach what random play rarely does
    (Breakout brick refills; SpaceInvaders cleared waves)."""
    if game == "breakout":
        (by, bx), = np.argwhere(s[:, :, 1])
        (ty, tx), = np.argwhere(s[:, :, 2])
        px = int(np.argwhere(s[9, :, 0])[0][0])
        target = min(9, max(0, bx + (bx - tx) if by > ty else bx))
        return 1 if target < px else 3 if target > px else 0
    px = int(np.argwhere(s[9, :, 0])[0][0])
    danger = s[5:9, :, 5].any(0)
    if danger[px]:
        for a, q in ((1, px - 1), (3, px + 1)):
            if 0 <= q <= 9 and not danger[q]:
                return a
    cols = np.flatnonzero(s[:, :, 1].any(0))
    c = int(cols[np.argmin(abs(cols - px))])
    if c == px:
        return 5
    return 0 if danger[px - 1 if c < px else px + 1] else (1 if c < px else 3)


def thin_wave(env, game, i: int, rng: np.random.Generator) -> None:
    """SpaceInvaders only: start env i (package and batched alike) with a few aliens left and
    a random move interval, so waves get cleared and the speed ramp is exercised."""
    inner = env.env
    alien = np.zeros((10, 10))
    cells = rng.choice(24, size=int(rng.integers(1, 4)), replace=False)
    alien[cells // 6, 2 + cells % 6] = 1
    interval = int(rng.integers(6, 13))
    inner.alien_map, inner.enemy_move_interval, inner.alien_move_timer = alien, interval, interval
    rows = (alien.astype(np.int64) << np.arange(10)).sum(1)
    game.grids[i, 0] = torch.from_numpy(rows)
    game.scalars[i, batched_space_invaders.INTERVAL] = interval
    game.scalars[i, batched_space_invaders.MOVE_TIMER] = interval
    game.scalars[i, batched_space_invaders.COUNT] = int(alien.sum())


def run_both(game: str, n: int, steps: int, sticky: float, seed: int = 0, inject: bool = False,
             action_set: list[int] | None = None, compile: bool = False):
    """Step n package envs and the batched game on the same actions and draws, asserting equal
    observations, rewards and terminations at every step. Envs play uniformly at random, or
    the scripted player with 2% or 20% random actions; with `action_set` (a minimal set), all play
    uniformly at random over it. Returns (episodes, total reward,
    best episode return, highest speed ramp reached)."""
    module, cls = GAMES[game]
    seeds = list(range(seed, seed + n))
    envs = package_envs(game, seeds, sticky)
    draws = PackageDraws([np.random.RandomState(s) for s in seeds], module)
    engine = BatchedMinAtar(cls(n), draws, action_set or list(range(6)), sticky_action_prob=sticky,
                            compile=compile)
    obs = engine.reset().numpy()
    rng = np.random.default_rng(seed + 1)
    eps = np.array([1.0, 0.2, 0.02])[np.arange(n) % 3] if action_set is None else np.ones(n)
    choices = len(action_set or range(6))
    if inject:
        for i in range(n):
            thin_wave(envs[i], engine.game, i, rng)
        obs = engine.game.obs().numpy()
    episodes, total, ep_ret, best, ramp = 0, 0.0, np.zeros(n), 0.0, 0
    for t in range(steps):
        expected = np.stack([e.state() for e in envs]).astype(np.uint8)
        np.testing.assert_array_equal(obs, expected, err_msg=f"{game} obs differ at step {t}")
        actions = np.array([rng.integers(choices) if rng.random() < eps[i] else scripted_action(game, obs[i])
                            for i in range(n)])
        obs_t, rew, term, trunc, _ = engine.step(torch.as_tensor(actions))
        for i, env in enumerate(envs):
            r, done = env.act(int(action_set[actions[i]] if action_set else actions[i]))
            assert float(rew[i]) == r, f"{game} env {i} reward differs at step {t}"
            assert bool(term[i]) == bool(done), f"{game} env {i} termination differs at step {t}"
            total += r
            ep_ret[i] += r
            ramp = max(ramp, env.env.difficulty_ramp() or 0)
            if done:
                best, ep_ret[i] = max(best, ep_ret[i]), 0.0
                env.reset()
                episodes += 1
                if inject:
                    thin_wave(env, engine.game, i, rng)
        obs = engine.game.obs().numpy() if inject else obs_t.numpy()
        assert not trunc.any()
    return episodes, total, max(best, ep_ret.max()), ramp


@pytest.mark.parametrize("game", list(GAMES))
@pytest.mark.parametrize("sticky", [0.0, 0.1, 0.5])
def test_batched_matches_package(game, sticky):
    episodes, total, best, _ = run_both(game, n=16, steps=1500, sticky=sticky)
    # Long enough for many resets; without sticky actions a Breakout run clears all 30 bricks.
    assert episodes >= 50 and total > 0
    if game == "breakout" and sticky == 0.0:
        assert best > 30


@pytest.mark.parametrize("game", list(GAMES))
def test_batched_minimal_action_set_matches_package(game):
    minimal = list(_package().Environment(game).minimal_action_set())
    episodes, total, _, _ = run_both(game, n=8, steps=600, sticky=0.1, seed=3, action_set=minimal)
    assert episodes >= 20 and total > 0
    spec = make_env_spec(f"minatar:{game}", minimal_action_set=True)
    assert spec.num_actions == len(minimal)
    assert spec.make_vec_env("train", 2).single_action_space.n == len(minimal)


@pytest.mark.parametrize("compile", [False, pytest.param(True, marks=[needs_compiler, pytest.mark.slow])])
def test_space_invaders_waves_and_ramp_match_package(compile):
    """Thinned waves: cleared waves, respawns and the speed ramp, step for step."""
    episodes, total, _, ramp = run_both("space_invaders", n=12, steps=1500, sticky=0.1, seed=7,
                                        inject=True, compile=compile)
    assert episodes >= 20 and total > 0 and ramp >= 1


# ---- the compiled step (torch.compile): the same numbers as the eager one ----
# Compiling costs seconds per graph, so only Breakout's one-call step is checked by default;
# `-m slow` runs the rest (each game against the package, SpaceInvaders' waves above).

@needs_compiler
@pytest.mark.slow
@pytest.mark.parametrize("game", list(GAMES))
def test_compiled_step_matches_package(game):
    """The compiled step (two calls: these draws need to know which episodes ended) against the
    package, step for step, as the eager step above."""
    episodes, total, _, _ = run_both(game, n=16, steps=1500, sticky=0.1, compile=True)
    assert episodes >= 50 and total > 0


@needs_compiler
@pytest.mark.parametrize("game", ["breakout", pytest.param("space_invaders", marks=pytest.mark.slow)])
def test_compiled_vector_env_equals_eager(game, caplog):
    """The one-call compiled step (the vector env's own draws, truncation at 30 steps, a
    minimal action set) gives the eager vector env's outputs exactly, resets included, and
    was compiled by the direct inductor path, not the torch.compile fallback."""
    options = dict(max_episode_steps=30, minimal_action_set=True)
    envs = [make_env_spec(f"minatar:{game}", compile=c, **options) for c in (False, True)]
    eager, fused = (s.impl.make_batched(s, s.splits["train"].levels, 24, seed=5, as_tensors=True)
                    for s in envs)
    for _ in range(2):   # a second reset goes through the compiled restart too
        a, b = eager.reset(seed=5), fused.reset(seed=5)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1]["level"], b[1]["level"])
        rng = torch.Generator().manual_seed(0)
        ends = 0
        for _ in range(200):
            act = torch.randint(envs[0].num_actions, (24,), generator=rng)
            x, y = eager.step(act), fused.step(act)
            for u, v in zip(x[:4], y[:4], strict=True):
                assert u.dtype == v.dtype and torch.equal(u, v)
            assert torch.equal(x[4]["level"], y[4]["level"])
            ends += int((x[2] | x[3]).sum())
        assert ends >= 24 * 4 and not y[0].requires_grad
    assert not [r for r in caplog.records if "direct path failed" in r.getMessage()]


# ---- the family: single envs, splits, options, the vector env, the CLI ----

@pytest.mark.parametrize("game", ALL_GAMES)
def test_single_env_passes_check_env_and_levels_replay(game):
    spec = make_env_spec(f"minatar:{game}")
    env = spec.make_env()
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (10, 10, spec.impl.spec_file["channels"][game])
    assert env.action_space.n == 6

    def rollout(level: int) -> tuple[list[bytes], list[float]]:
        obs, info = env.reset(seed=0, options={"level": level})
        assert info["level"] == level and obs.dtype == np.uint8 and set(np.unique(obs)) <= {0, 1}
        frames, rewards = [obs.tobytes()], []
        for a in np.random.default_rng(level).integers(6, size=300):
            obs, r, term, trunc, info = env.step(int(a))
            assert info["level"] == level
            frames.append(obs.tobytes())
            rewards.append(r)
            if term or trunc:
                break
        return frames, rewards

    first = rollout(5)
    assert rollout(5) == first  # a level replays exactly for the same actions
    env.close()


def test_seed_gives_the_same_first_observation():
    spec = make_env_spec("minatar:breakout")
    env = spec.make_env()
    starts = {}
    for seed in range(8):
        obs, info = env.reset(seed=seed)
        again, info2 = env.reset(seed=seed)
        np.testing.assert_array_equal(obs, again)
        assert info["level"] == info2["level"]
        starts[seed] = obs.tobytes()
    assert len(set(starts.values())) == 2  # Breakout's only start draw: the ball's side


def test_splits_are_disjoint_explicit_seeds():
    s = make_env_spec("minatar:space_invaders").splits
    train, val, test = (set(s[n].levels) for n in ("train", "val", "test"))
    assert len(train) == 200 and len(val) == 50 and len(test) == 500
    assert not (train & val) and not (train & test) and not (val & test)
    assert s["train"].levels == tuple(range(200))


def test_bad_names_and_options():
    with pytest.raises(UnknownNameError, match="'breakout'"):
        make_env_spec("minatar:breakot")
    with pytest.raises(UnknownNameError, match="sticky_action_prob"):
        make_env_spec("minatar:breakout", sticky_action=0.2)
    with pytest.raises(ValueError, match="sticky_action_prob"):
        make_env_spec("minatar:breakout", sticky_action_prob=1.5)
    with pytest.raises(ValueError, match="vector"):
        make_env_spec("minatar:breakout", vector="async")


def test_unknown_game_exits_2_with_one_line(capsys, tmp_path):
    code = cli_main(["train", "--agent", "ppo", "--env", "minatar:space_invader", "--steps", "1k",
                     "--runs-root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Did you mean 'space_invaders'" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("game", list(GAMES))
def test_vector_env_autoresets_and_reports_levels(game):
    spec = make_env_spec(f"minatar:{game}", max_episode_steps=40)
    levels = spec.splits["val"].levels
    vec = spec.make_vec_env("val", num_envs=32, seed=3)
    obs, info = vec.reset(seed=3)
    assert obs.shape == (32, 10, 10, spec.impl.spec_file["channels"][game]) and obs.dtype == np.uint8
    assert set(info["level"].tolist()) <= set(levels)
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(120):
        obs, rew, term, trunc, info = vec.step(rng.integers(6, size=32))
        assert not (term & trunc).any() and set(info["level"].tolist()) <= set(levels)
        ended += int((term | trunc).sum())
    assert ended >= 32 * 2  # the 40-step cap alone ends 3 episodes per env
    again = spec.make_vec_env("val", num_envs=32, seed=3)
    np.testing.assert_array_equal(again.reset(seed=3)[0], vec.reset(seed=3)[0])
    tensors = spec.impl.make_batched(spec, levels, 4, seed=0, as_tensors=True)
    out, _ = tensors.reset(seed=0)
    assert isinstance(out, torch.Tensor) and out.shape[0] == 4


def test_batched_level_starts_match_the_package():
    """A level's first frame is the package's for that seed (the start draw is tabled)."""
    spec = make_env_spec("minatar:breakout")
    levels = list(range(40))
    vec = spec.impl.make_batched(spec, levels, 256, seed=1)
    obs, info = vec.reset(seed=1)
    env = spec.make_env()
    for i in range(0, 256, 16):
        expected, _ = env.reset(options={"level": int(info["level"][i])})
        np.testing.assert_array_equal(obs[i], expected)


def _random_returns_batched(spec, episodes: int, seed: int) -> np.ndarray:
    vec = spec.make_vec_env("train", num_envs=64, seed=seed)
    vec.reset(seed=seed)
    rng = np.random.default_rng(seed)
    ret, done = np.zeros(64), []
    while len(done) < episodes:
        _, rew, term, trunc, _ = vec.step(rng.integers(6, size=64))
        ret += rew
        end = term | trunc
        done.extend(ret[end].tolist())
        ret[end] = 0
    return np.array(done[:episodes])


class _Uniform(Policy):
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def act(self, obs, infos=None):
        return self.rng.integers(6, size=len(obs))


@pytest.mark.parametrize("game", list(GAMES))
def test_batched_vector_env_return_distribution_matches_package(game):
    """With its own draws (torch sticky draws, level starts), the batched vector env's random
    policy returns match the package's env within a 99% CI of the difference of means."""
    spec = make_env_spec(f"minatar:{game}")
    ours = _random_returns_batched(spec, 600, seed=0)
    theirs = np.array([r["return"] for r in run_episodes(_Uniform(1), spec, "train", 600,
                                                         num_envs=16, progress=False)])
    se = np.sqrt(ours.var(ddof=1) / len(ours) + theirs.var(ddof=1) / len(theirs))
    assert abs(ours.mean() - theirs.mean()) < 2.58 * se + 1e-9, (ours.mean(), theirs.mean(), se)


def test_ppo_trains_on_the_batched_env_end_to_end(tmp_path, capsys):
    code = cli_main(["train", "--agent", "ppo", "--env", "minatar:breakout", "--steps", "2048",
                     "--episodes", "4", "--set", "num_envs=16", "--set", "num_steps=64",
                     "--runs-root", str(tmp_path), "--quiet", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0 and "test:" in out and "train:" in out


def _policy_returns_batched(policy, spec, episodes: int, seed: int) -> np.ndarray:
    vec = spec.make_vec_env("test", num_envs=64, seed=seed)
    obs, _ = vec.reset(seed=seed)
    ret, done = np.zeros(64), []
    while len(done) < episodes:
        obs, rew, term, trunc, _ = vec.step(policy.act(obs))
        ret += rew
        end = term | trunc
        done.extend(ret[end].tolist())
        ret[end] = 0
    return np.array(done[:episodes])


@pytest.mark.slow
def test_ppo_learns_breakout_and_the_batched_env_agrees_on_its_returns(tmp_path):
    """PPO with the [minatar] preset for 300k steps (seed 0) beats random play (0.5) by a wide
    margin on test seeds; the trained policy then scores the same on the batched vector env as
    on the package's env (99% CI of the difference of means)."""
    import json

    from rlgen import train as T

    run = T.train(T.TrainRequest("ppo", "minatar:breakout", steps=300_000, seed=0, device="cpu",
                                 runs_root=str(tmp_path), name="b", episodes=200,
                                 splits=("test",), progress=False))
    summary = json.loads((run.path / "summary.json").read_text())
    print(f"PPO 300k on minatar:breakout: test mean return {summary['splits']['test']['mean_return']:.2f}"
          f" over 200 episodes")
    assert summary["splits"]["test"]["mean_return"] > 2.5
    agent, spec = T.build_agent(run.read_config(), "cpu")
    agent.load_state(run.load_checkpoint("cpu"))
    ours = _policy_returns_batched(agent.policy(seed=1), spec, 400, seed=1)
    theirs = np.array([r["return"] for r in run_episodes(agent.policy(seed=2), spec, "test", 400,
                                                         num_envs=16, progress=False)])
    se = np.sqrt(ours.var(ddof=1) / len(ours) + theirs.var(ddof=1) / len(theirs))
    print(f"trained policy: batched {ours.mean():.2f}, package {theirs.mean():.2f}, se {se:.2f}")
    assert abs(ours.mean() - theirs.mean()) < 2.58 * se


@pytest.mark.slow
def test_ppo_learns_space_invaders(tmp_path):
    """PPO with the [minatar] preset for 300k steps (seed 0) beats random play (2.81 per
    episode, envs/minatar.toml) on test seeds by a wide margin: more than twice its return."""
    import json

    from rlgen import train as T

    run = T.train(T.TrainRequest("ppo", "minatar:space_invaders", steps=300_000, seed=0,
                                 device="cpu", runs_root=str(tmp_path), name="si", episodes=100,
                                 splits=("test",), progress=False))
    summary = json.loads((run.path / "summary.json").read_text())
    mean = summary["splits"]["test"]["mean_return"]
    print(f"PPO 300k on minatar:space_invaders: test mean return {mean:.2f} over 100 episodes")
    assert mean > 2 * 2.81


def test_training_envs_step_on_the_agents_device():
    """PPO's training env for a batched game steps where the agent's tensors live and hands over
    observations as tensors there (no host round trip on a GPU); the numbers are the numpy env's."""
    from rlgen.agents.factory import make_agent
    from rlgen.registry import make_env_spec

    spec = make_env_spec("minatar:breakout")
    on_device = spec.make_vec_env("train", 4, seed=3, device=torch.device("cpu"))
    plain = spec.make_vec_env("train", 4, seed=3)
    obs_t, _ = on_device.reset(seed=3)
    obs_n, _ = plain.reset(seed=3)
    assert isinstance(obs_t, torch.Tensor) and isinstance(obs_n, np.ndarray)
    for _ in range(50):
        a = np.random.default_rng(0).integers(6, size=4)
        (o_t, r_t, t_t, *_), (o_n, r_n, t_n, *_) = on_device.step(a), plain.step(a)
        assert np.array_equal(o_t.numpy(), o_n) and np.array_equal(r_t, r_n) and np.array_equal(t_t, t_n)
        assert isinstance(r_t, np.ndarray)
    agent = make_agent("ppo", spec, {"num_envs": 2, "num_steps": 8}, seed=0, device="cpu")
    assert isinstance(agent.make_training_envs(seed=0).reset(seed=0)[0], torch.Tensor)
    # families whose envs are CPU programs keep the numpy env
    toy = make_env_spec("toy:identity").make_vec_env("train", 2, seed=0, device=torch.device("cpu"))
    assert isinstance(toy.reset(seed=0)[0], np.ndarray)
