"""What the reported numbers mean: level-cluster bootstrap within a run, rliable across runs,
paired comparison of two runs (docs/statistics.md)."""

import json

import numpy as np
import pytest

from rlgen import make_env_spec
from rlgen import train as T
from rlgen.agents.loading import load_policy
from rlgen.cli import main
from rlgen.data.collect import collect
from rlgen.eval import stats
from rlgen.eval.evaluate import summarize
from rlgen.runs import RunDir

PPO = {"num_envs": 4, "num_steps": 32, "minibatches": 2, "epochs": 1, "checkpoint_every_s": 0.0,
       "encoder": {"channels": [4, 8], "out_dim": 32}}
BC = {"batch_size": 32, "log_every": 5, "encoder": {"channels": [4], "out_dim": 16}}
SEEDS = (0, 1, 2)


def _records(split: str, levels, outcomes) -> list[dict]:
    return [{"split": split, "episode": i, "level": lvl, "return": float(o), "success": bool(o)}
            for i, (lvl, o) in enumerate(zip(levels, outcomes, strict=True))]


def test_success_rate_is_a_mean_not_a_stretched_iqm():
    """68% success on 0/1 returns: normalized mean 0.68 (the old per-episode IQM said 0.86)."""
    spec = make_env_spec("toy:identity", episode_length=1)  # return bounds (0, 1): return = success
    outcomes = np.r_[np.ones(68), np.zeros(32)]
    records = _records("train", range(100), outcomes) + _records("test", range(100, 200), outcomes[::-1])
    summary = summarize(records, spec)
    train = summary["splits"]["train"]
    assert train["normalized_mean"] == pytest.approx(0.68) and train["success_rate"] == pytest.approx(0.68)
    assert stats.iqm(outcomes) == pytest.approx(0.86)  # the old per-episode IQM: stretched
    lo, hi = train["success_rate_ci"]
    assert lo < 0.68 < hi and hi - lo < 0.25
    assert set(train) >= {"episodes", "levels", "mean_return", "normalized_mean", "normalized_mean_ci",
                          "success_rate", "success_rate_ci"}
    assert summary["generalization_gap"]["value"] == pytest.approx(0.0)
    assert summary["generalization_gap_success"]["metric"].startswith("success rate")


def test_level_bootstrap_covers_the_mean_and_widens_when_a_level_repeats_one_outcome():
    rng = np.random.default_rng(1)
    spread = rng.random(100) < 0.5                      # 100 levels, one episode each
    clustered = np.repeat(rng.random(10) < 0.5, 10)     # 10 levels, each with one outcome ×10
    m1, ci1 = stats.level_mean_with_ci(spread, np.arange(100))
    m2, ci2 = stats.level_mean_with_ci(clustered, np.repeat(np.arange(10), 10))
    assert ci1[0] < m1 < ci1[1] and ci2[0] < m2 < ci2[1]
    assert m1 == spread.mean() and m2 == clustered.mean()
    # 10 correlated episodes carry about as much information as one: the CI is ~√10 wider.
    assert (ci2[1] - ci2[0]) > 2 * (ci1[1] - ci1[0])
    # Same levels, same seed: same interval (reproducible); another seed moves it a little.
    assert stats.level_mean_with_ci(spread, np.arange(100)) == (m1, ci1)


def test_paired_difference_of_identical_and_shifted_runs():
    levels = np.arange(50)
    x = np.random.default_rng(0).random(50)
    same = stats.paired_level_difference(x, levels, x, levels)
    assert same.value == 0 and same.ci == [0.0, 0.0] and same.p_a_greater == 0.5
    better = stats.paired_level_difference(x + 0.1, levels, x, levels)
    assert better.value == pytest.approx(0.1) and better.ci[0] > 0 and better.p_a_greater == 1.0
    # Only shared levels count: B's extra levels are ignored.
    part = stats.paired_level_difference(x[:20], levels[:20], x, levels)
    assert part.levels == 20 and part.value == 0
    with pytest.raises(ValueError, match="share no levels"):
        stats.paired_level_difference(x, levels, x, levels + 100)


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """3 seeds each of PPO and BC on toy:identity, tiny budgets, 6 episodes on train and test."""
    root = tmp_path_factory.mktemp("runs")
    data = root / "demos"
    spec = make_env_spec("toy:identity")
    policy, behavior = load_policy("oracle:0.3", spec)
    collect(spec, policy, data, 500, num_envs=4, behavior=behavior, progress=False)
    runs = {}
    for agent, steps, overrides, dataset in (("ppo", 128, PPO, None), ("bc", 20, BC, str(data))):
        for seed in SEEDS:
            run = T.train(T.TrainRequest(agent, "toy:identity", steps=steps, seed=seed, dataset=dataset,
                                         name=f"{agent}-s{seed}", runs_root=str(root), overrides=overrides,
                                         episodes=6, splits=("train", "test"), progress=False))
            runs[agent, seed] = run.path
    return runs


def test_report_over_seeds_prints_iqm_poi_and_writes_the_profile(tiny_runs, tmp_path, capsys):
    old = RunDir.create(tmp_path, "old-schema")  # a run evaluated before the new statistics
    old.write_config({"agent": "ppo", "env": "toy:identity", "seed": 9})
    (old.path / "summary.json").write_text(json.dumps(
        {"env": "toy:identity", "agent": "ppo", "seed": 9,
         "splits": {"test": {"episodes": 4, "iqm": 0.5, "iqm_ci": [0.2, 0.8]}}}))
    plot = tmp_path / "r.png"
    assert main(["report", *map(str, tiny_runs.values()), str(old.path), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert f"skipping {old.path}" in out and f"rlgen evaluate {old.path}" in out
    assert "IQM over seeds" in out and "seeds × tasks" in out and "resampling the split's levels" in out
    group_rows = [line for line in out.splitlines() if line.startswith("| toy:identity | ") and "| 3 |" in line]
    assert len(group_rows) == 2  # ppo, bc / demos: one aggregate row each over 3 seeds
    poi = [line for line in out.splitlines() if line.startswith("| toy:identity | test | ")]
    assert len(poi) == 1 and "3 × 3" in poi[0]
    value = float(poi[0].split("|")[5].split()[0])
    assert 0.0 <= value <= 1.0
    profile = tmp_path / "r-profile.png"
    assert plot.stat().st_size > 1000 and profile.stat().st_size > 1000
    assert f"performance profile: {profile}" in out


def test_probability_of_improvement_matches_rliable_on_separated_scores():
    x, y = np.array([[3.0], [4.0], [5.0]]), np.array([[0.0], [1.0], [2.0]])
    value, ci = stats.probability_of_improvement(x, y)
    assert value == 1.0 and ci == [1.0, 1.0]
    assert stats.probability_of_improvement(y, x)[0] == 0.0
    assert stats.probability_of_improvement(x, x)[0] == 0.5


def test_compare_command(tiny_runs, capsys):
    a, b = str(tiny_runs["ppo", 0]), str(tiny_runs["bc", 1])
    assert main(["compare", a, a]) == 0
    out = capsys.readouterr().out
    assert "A − B +0.000 [+0.000, +0.000], P(A > B) 0.50" in out and "6 shared levels" in out
    assert main(["compare", a, b, "--splits", "test"]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("test:")][0]
    summaries = [json.loads((tiny_runs[k] / "summary.json").read_text()) for k in (("ppo", 0), ("bc", 1))]
    diff = summaries[0]["splits"]["test"]["normalized_mean"] - summaries[1]["splits"]["test"]["normalized_mean"]
    assert float(line.split("A − B ")[1].split()[0]) == pytest.approx(diff, abs=1e-3)
    assert main(["compare", a, b, "--splits", "val"]) == 2
    assert "not evaluated in both runs" in capsys.readouterr().err


def test_compare_refuses_other_envs_and_disjoint_levels(tiny_runs, tmp_path, capsys):
    a = RunDir.open(tiny_runs["ppo", 0])
    for name, env, split in (("other-env", "procgen:coinrun", "test"), ("disjoint", "toy:identity", "val")):
        run = RunDir.create(tmp_path, name)
        run.write_config({**a.read_config(), "env": env, "env_options": {}})
        run.write_episodes([{"split": split, "episode": 0, "level": 10**6, "return": 1.0}])
        assert main(["compare", str(a.path), str(run.path)]) == 2
    err = capsys.readouterr().err
    assert "different envs (toy:identity vs procgen:coinrun)" in err
    assert "share no evaluated levels" in err
