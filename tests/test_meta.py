"""Evolution strategies and the meta-train -> meta-test round trip on a CPU-seconds budget."""

import json

import pytest
import torch
from conftest import interrupted_at_log

from rlgen.cli import main
from rlgen.meta.es import ESConfig, OpenES, centered_ranks
from rlgen.meta.test import meta_test
from rlgen.meta.train import MetaTrainRequest, meta_train, resume_meta_train
from rlgen.runs import RunDir

TINY = {"num_envs": 4, "num_steps": 32, "minibatches": 2, "epochs": 1,
        "encoder": {"channels": [4, 8], "out_dim": 32}}


def test_centered_ranks_scatter_onto_members():
    assert centered_ranks(torch.tensor([3.0, 1.0, 2.0])).tolist() == [0.5, -0.5, 0.0]
    # ties share their average rank: a population that scored alike gives no direction
    assert centered_ranks(torch.tensor([2.0, 5.0, 2.0, 1.0, 2.0])).tolist() == [0.0, 0.5, 0.0, -0.5, 0.0]
    assert centered_ranks(torch.full((4,), 0.7)).tolist() == [0.0] * 4


def test_a_generation_of_tied_fitness_leaves_the_mean_in_place():
    es = OpenES(ESConfig(population=4), torch.ones(3), seed=0)
    es.ask()
    es.tell(torch.zeros(4, dtype=torch.float64))
    assert es.mean.tolist() == [1.0, 1.0, 1.0]


def test_openes_maximises_a_quadratic():
    target = torch.linspace(-1, 1, 10, dtype=torch.float64)
    es = OpenES(ESConfig(population=32, sigma=0.1, sigma_decay=1.0, lr=0.05, lr_decay=1.0),
                torch.zeros(10), seed=0)
    for _ in range(300):
        x = es.ask()
        es.tell(-((x - target) ** 2).sum(1))
    assert (es.mean - target).norm() < 0.1 < target.norm()


def test_es_state_round_trips_exactly():
    a = OpenES(ESConfig(population=4), torch.zeros(3), seed=1)
    a.ask()
    a.tell(torch.tensor([1.0, 2.0, 0.0, 3.0]))
    b = OpenES(ESConfig(population=4), torch.zeros(3), seed=99)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.ask(), b.ask())


@pytest.fixture
def split_file(tmp_path):
    path = tmp_path / "meta-toy.toml"
    path.write_text('[meta_test]\nenvs = ["toy:identity"]\nhorizons = [1, 2]\n'
                    'seeds = 2\neval_episodes = 4\n')
    return str(path)


def _request(out, split_file, generations=2):
    return MetaTrainRequest(objective="talpo", envs=("toy:identity",), horizon=128, population=2,
                            generations=generations, out=str(out), overrides=TINY,
                            es={"sigma": 0.5}, meta_split=split_file, progress=False)


def test_meta_train_resumes_the_same_es_state(tmp_path, split_file, monkeypatch):
    straight = meta_train(_request(tmp_path / "straight", split_file, generations=3))

    with interrupted_at_log(2):
        meta_train(_request(tmp_path / "cut", split_file, generations=2))
    cut = RunDir.open(tmp_path / "cut")
    assert len(cut.metrics()) == 1
    resume_meta_train(cut.path, progress=False)            # finishes generation 2
    resume_meta_train(cut.path, generations=3, progress=False)  # and one more
    a = torch.load(straight.checkpoint_path, weights_only=True)["es"]
    b = torch.load(cut.checkpoint_path, weights_only=True)["es"]
    assert a["generation"] == b["generation"] == 3
    assert torch.equal(a["mean"], b["mean"]) and a["sigma"] == b["sigma"]
    assert [m["fitness/mean"] for m in straight.metrics()] == [m["fitness/mean"] for m in cut.metrics()]
    assert sorted(p.name for p in (cut.path / "objectives").iterdir()) == \
        ["gen-0001.pt", "gen-0002.pt", "gen-0003.pt"]
    with pytest.raises(ValueError, match="already run 3 generations"):
        resume_meta_train(cut.path, generations=2, progress=False)
    assert cut.read_config()["generations"] == 3


def test_meta_train_then_meta_test_round_trip(tmp_path, split_file, capsys):
    run = meta_train(_request(tmp_path / "m", split_file, generations=1))
    report = meta_test(run.path, progress=False)
    assert report["pairs"] == 1 and report["seeds"] == 2  # (toy, N) is meta-train, not test
    assert set(report["iqm"]) == {"talpo", "ppo", "dpo"}
    assert 0.0 <= report["poi_vs_ppo"] <= 1.0
    results = [json.loads(x) for x in (run.path / "meta-test" / "results.jsonl").read_text().splitlines()]
    assert len(results) == 1 * 3 * 2 and {r["horizon"] for r in results} == {256}
    assert (run.path / "meta-test" / "horizons.png").stat().st_size > 1000
    assert (run.path / "meta-test" / "drift.png").stat().st_size > 1000
    again = meta_test(run.path, progress=False)  # everything is on disk: nothing reruns
    assert again["iqm"] == report["iqm"]
    assert main(["meta-test", str(run.path), "--quiet"]) == 0
    assert "P(talpo > ppo)" in capsys.readouterr().out
    # another split (--split) with per-env agent overrides, into its own directory
    other = tmp_path / "meta-other.toml"
    other.write_text('[meta_test]\nenvs = ["toy:identity"]\nhorizons = [0.5]\nseeds = 1\n'
                     'eval_episodes = 2\n[meta_test.overrides."toy:identity"]\nnum_steps = 16\n')
    extra = meta_test(run.path, baselines=("ppo",), split=str(other), progress=False)
    lines = (run.path / "meta-test-meta-other" / "results.jsonl").read_text().splitlines()
    assert extra["pairs"] == 1 and {json.loads(x)["horizon"] for x in lines} == {64} and len(lines) == 2
    assert "| toy:identity | 64 |" in extra["table"]
    other.write_text(other.read_text().replace('overrides."toy:identity"', 'overrides."toy:idnetity"'))
    with pytest.raises(ValueError, match="not in envs"):
        meta_test(run.path, split=str(other), progress=False)


@pytest.mark.parametrize("args, message", [
    (["--objective", "tapo"], "did you mean 'talpo'"),
    (["--objective", "dpo"], "no parameters to meta-train"),
    (["--horizon", "100"], "smaller than one ppo batch"),
    (["--population", "3"], "even"),
    (["--backend", "rayy"], "did you mean 'ray'"),
    (["--env", "minatar:breakot"], "did you mean 'breakout'"),
    (["--objective", "lpo", "--set", "objective=talpo"], "from --objective, not --set"),
    (["--device", "tpu9"], "unknown device"),
    (["--es", "sigmaa=0.1"], "did you mean 'sigma'"),
    (["--es", "population=8"], "--population"),
    (["--es", "sigma=abc"], "must be a number"),
])
def test_meta_train_bad_input_is_one_line(tmp_path, split_file, capsys, args, message):
    base = ["meta-train", "--env", "toy:identity", "--horizon", "256", "--population", "4",
            "--generations", "1", "--out", str(tmp_path / "runs" / "x"), "--meta-split", split_file,
            "--quiet", *[f"--set={k}={v}" for k, v in (("num_envs", 4), ("num_steps", 32))]]
    assert main(base + args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlgen: error:") and message in err[0].lower()
    assert not (tmp_path / "runs").exists()


def _one_line_error(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlgen: error:") and message in err[0].lower(), err


def test_a_held_out_horizon_below_one_batch_is_refused_before_meta_training(tmp_path, capsys):
    split = tmp_path / "meta-short.toml"
    split.write_text('[meta_test]\nenvs = ["toy:identity"]\nhorizons = [0.5, 2]\n')
    out = tmp_path / "runs" / "x"
    _one_line_error(capsys, ["meta-train", "--env", "toy:identity", "--horizon", "128",
                             "--population", "2", "--generations", "1", "--out", str(out),
                             "--meta-split", str(split), "--quiet", "--set=num_envs=4",
                             "--set=num_steps=32"], "smaller than one ppo batch")
    assert not out.exists()


def test_meta_test_bad_input_is_one_line_before_any_lifetime(tmp_path, split_file, capsys):
    from rlgen.agents.drift import LPO

    run = meta_train(_request(tmp_path / "m", split_file, generations=1))
    wrong = tmp_path / "wrong.pt"  # LPO's 8-feature weights saved as TA-LPO's 16
    torch.save({"objective": "talpo", "state_dict": LPO().state_dict()}, wrong)
    short = tmp_path / "meta-short.toml"
    short.write_text('[meta_test]\nenvs = ["toy:identity"]\nhorizons = [0.25]\n')
    base = ["meta-test", str(run.path), "--quiet"]
    _one_line_error(capsys, [*base, "--extra", f"lpo={wrong}"], "does not fit 'talpo'")
    _one_line_error(capsys, [*base, "--extra", f"ppo={run.path / 'objective.pt'}"], "already a method")
    _one_line_error(capsys, [*base, "--split", str(short)], "smaller than one ppo batch")
    _one_line_error(capsys, [*base, "--baselines", "ppo,dop"], "did you mean 'dpo'")
    assert not (run.path / "meta-test").exists()


def test_batched_and_sequential_lifetimes_score_alike(tmp_path, split_file):
    """The batched population and one-by-one lifetimes are the same math (float rounding aside)."""
    from rlgen.exec import make_backend
    from rlgen.meta.lifetime import Lifetime
    from rlgen.meta.train import evaluate_population

    lives = [Lifetime(env="toy:identity", horizon=128, seed=s, objective="talpo", overrides=TINY)
             for s in (0, 1, 2)]
    batched = evaluate_population(make_backend("local"), 1, lives, batched=True)
    sequential = evaluate_population(make_backend("local"), 2, lives, batched=False)
    assert batched == pytest.approx(sequential, abs=1e-6)


def test_local_worker_processes_score_as_in_process():
    """--workers N: a generation split over spawned processes scores as in this process."""
    from rlgen.exec import BackendOptions, make_backend
    from rlgen.meta.lifetime import Lifetime
    from rlgen.meta.train import evaluate_population

    lives = [Lifetime(env="toy:identity", horizon=128, seed=s, objective="talpo", overrides=TINY)
             for s in (0, 1)]
    here = evaluate_population(make_backend("local"), 1, lives, batched=False)
    with make_backend("local", BackendOptions(workers=2)) as backend:
        there = evaluate_population(backend, 2, lives, batched=False)
    assert there == pytest.approx(here, abs=1e-6)


def test_run_overrides_reach_only_held_out_envs_of_the_meta_train_family():
    from rlgen.meta.splits import MetaSplit
    from rlgen.meta.test import lifetime_overrides

    cfg = {"envs": ["minatar:space_invaders"], "overrides": {"num_envs": 16, "lr": 2e-3}}
    split = MetaSplit("s", (("minatar:space_invaders", 64),),
                      (("minatar:breakout", 32), ("procgen:coinrun", 4)), 2, 2,
                      {"procgen:coinrun": {"num_envs": 8}, "minatar:breakout": {"lr": 1e-3}})
    assert lifetime_overrides(cfg, split, "minatar:breakout") == {"num_envs": 16, "lr": 1e-3}
    assert lifetime_overrides(cfg, split, "procgen:coinrun") == {"num_envs": 8}
