import numpy as np

from rlgen import make_env_spec
from rlgen.eval import stats
from rlgen.eval.evaluate import evaluate, run_episodes
from rlgen.policy import Policy


class RandomPolicy(Policy):
    def __init__(self, n: int, seed: int = 0):
        self.rng, self.n = np.random.default_rng(seed), n

    def act(self, obs, infos=None):
        return self.rng.integers(self.n, size=len(obs))


def test_evaluation_visits_exactly_the_listed_levels():
    spec = make_env_spec("procgen:coinrun")
    records = run_episodes(RandomPolicy(15), spec, "test", episodes=5, num_envs=3, max_steps=30,
                           progress=False)
    assert [r["level"] for r in records] == list(spec.splits["test"].levels[:5])
    assert [r["episode"] for r in records] == list(range(5))
    assert all(r["split"] == "test" for r in records)


def test_two_agents_see_the_same_levels_and_cycling():
    spec = make_env_spec("toy:identity", num_levels=3)
    a = run_episodes(RandomPolicy(4, 0), spec, "train", 7, num_envs=2, progress=False)
    b = run_episodes(RandomPolicy(4, 1), spec, "train", 7, num_envs=4, progress=False)
    assert [r["level"] for r in a] == [r["level"] for r in b] == [0, 1, 2, 0, 1, 2, 0]



def test_slots_are_told_when_they_fall_idle():
    """`end` names each slot once its last episode is over, after which it is never stepped."""

    class Recorder(RandomPolicy):
        def __init__(self):
            super().__init__(4)
            self.idle: set[int] = set()
            self.ended: list[int] = []

        def begin(self, slots):
            assert not self.idle & set(slots.tolist())

        def end(self, slots):
            self.ended += slots.tolist()
            self.idle |= set(slots.tolist())

    spec = make_env_spec("toy:identity", num_levels=3)
    policy = Recorder()
    records = run_episodes(policy, spec, "train", 5, num_envs=3, progress=False)
    assert len(records) == 5 and sorted(policy.ended) == [0, 1, 2]

def test_summary_schema_and_gap():
    spec = make_env_spec("toy:identity")
    records, summary = evaluate(RandomPolicy(4), spec, ["train", "val", "test"], 20, progress=False)
    assert len(records) == 60
    for split in ("train", "val", "test"):
        s = summary["splits"][split]
        assert s["episodes"] == 20
        assert set(s) >= {"episodes", "levels", "mean_return", "normalized_mean", "normalized_mean_ci"}
        assert "iqm" not in s and "success_rate" not in s  # toy:identity defines no success
        assert s["normalized_mean_ci"][0] <= s["normalized_mean"] <= s["normalized_mean_ci"][1]
        assert abs(s["normalized_mean"] - s["mean_return"] / 8) < 1e-12
    gap = summary["generalization_gap"]
    train, test = summary["splits"]["train"], summary["splits"]["test"]
    assert abs(gap["value"] - (train["normalized_mean"] - test["normalized_mean"])) < 1e-12
    assert gap["ci"][0] <= gap["value"] <= gap["ci"][1] and "mean" in gap["metric"]
    assert "generalization_gap_success" not in summary


def test_iqm_over_runs_and_its_ci():
    x = np.arange(100, dtype=float)
    assert stats.iqm(x) == np.mean(x[25:75])
    value, ci = stats.iqm_with_ci(x)
    assert ci[0] < value < ci[1]
    mean, mci = stats.mean_with_ci(x)
    assert mean == x.mean() and mci[0] < mean < mci[1]


def test_normalization_uses_procgen_constants_unclipped():
    spec = make_env_spec("procgen:coinrun")
    assert np.allclose(spec.normalize([0.0, 5.0, 10.0]), [-1.0, 0.0, 1.0])
    hard = make_env_spec("procgen:starpilot", distribution_mode="hard")
    assert np.isclose(hard.normalize(35.0), 1.0)


def test_fast_iqm_equals_rliable():
    from rliable import metrics

    rng = np.random.default_rng(0)
    for n in (4, 7, 50, 101):
        x = rng.normal(size=(n, 3))
        assert abs(stats.iqm(x) - metrics.aggregate_iqm(x)) < 1e-12
