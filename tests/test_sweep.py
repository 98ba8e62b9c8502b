import json
import re

import pytest
from conftest import interrupted_at_log

from rlgen.cli import main
from rlgen.sweep import run as sweep_run
from rlgen.sweep.spec import expand, load_sweep, sweep_names

PPO = "{ num_envs = 4, num_steps = 32, minibatches = 2, epochs = 1, checkpoint_every_s = 0.0 }"
BC = "{ batch_size = 64, lr = 1e-3, log_every = 10, encoder = { channels = [8], out_dim = 32 } }"


def _write(folder, name, text):
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def _two_agents(folder):
    """PPO and BC (on a tiny recipe built once by the sweep) × seeds 0, 1 on toy:identity."""
    _write(folder, "toy-data", 'env = "toy:identity"\npolicy = "oracle:0.3"\ntransitions = 1000\n'
           "num_envs = 8\n")
    return _write(folder, "two", f"""
[base]
env = "toy:identity"
episodes = 4
splits = ["train", "test"]
[axes]
seed = [0, 1]
[[trials]]
agent = "ppo"
steps = 128
overrides = {PPO}
[[trials]]
agent = "bc"
steps = 30
recipe = "toy-data.toml"
overrides = {BC}
""")


def _ppo_seeds(folder, extra=""):
    return _write(folder, "ppo", f"""
[base]
agent = "ppo"
env = "toy:identity"
steps = 384
episodes = 4
splits = ["train", "test"]
overrides = {PPO}
[axes]
seed = [0, 1]
{extra}
""")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RLGEN_CACHE", str(tmp_path / "cache"))


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())["trials"]


def _rows(text):
    """Per-run rows of the report's first table (env | agent | dataset | seed | ...)."""
    return [line for line in text.splitlines() if re.match(r"\| toy:identity \| \w+ \| [^|]+ \| \d \|", line)]


def test_expansion_names_and_variants(tmp_path):
    path = _ppo_seeds(tmp_path, '"overrides.lr" = [1e-3, 3e-4]\n[variants.cpu]\nepisodes = 2\n'
                      '[variants.paper]\naxes = { seed = [0, 1, 2] }')
    trials = expand(load_sweep(path))
    assert len(trials) == 4 and len({t.name for t in trials}) == 4
    assert [t.name for t in trials] == [t.name for t in expand(load_sweep(path))]  # stable
    assert all(re.fullmatch(r"ppo-toy-identity-s[01]-[0-9a-f]{6}", t.name) for t in trials)
    assert {t.params["overrides"]["lr"] for t in trials} == {1e-3, 3e-4}
    assert trials[0].params["overrides"]["num_envs"] == 4  # the axis merges into base overrides
    assert {t.params["episodes"] for t in expand(load_sweep(path, "cpu"))} == {2}
    assert len(expand(load_sweep(path, "paper"))) == 6
    (tmp_path / "plain").mkdir()
    plain = expand(load_sweep(_ppo_seeds(tmp_path / "plain")))
    assert [t.name for t in plain] == ["ppo-toy-identity-s0", "ppo-toy-identity-s1"]


def test_meta_split_files_are_not_sweeps():
    from rlgen.meta.splits import load_meta_split

    assert "toy-smoke" in sweep_names() and not any(n.startswith("meta-") for n in sweep_names())
    assert load_meta_split("meta-minatar-cpu", ["minatar:breakout"], 1000).test


@pytest.mark.parametrize("args,message", [
    (["toy-smok"], "Did you mean 'toy-smoke'"),
    (["toy-smoke", "--variant", "gpu"], "unknown variant of sweep toy-smoke 'gpu'"),
    (["{ppo}", "--backend", "slurn"], "unknown backend 'slurn'. Did you mean 'slurm'"),
    (["{ppo}", "--backend", "ray", "--workers", "0"], "--workers must be at least 1"),
    (["{axis}"], "unknown sweep key in [axes] 'overides.lr'"),
    (["{base}"], "unknown sweep key in [base] 'sed'"),
])
def test_bad_input_is_one_error_line(args, message, tmp_path, capsys):
    files = {"{ppo}": _ppo_seeds(tmp_path),
             "{axis}": _write(tmp_path, "a", '[base]\nagent = "ppo"\nenv = "toy:identity"\n'
                              '[axes]\n"overides.lr" = [1e-3]'),
             "{base}": _write(tmp_path, "b", '[base]\nagent = "ppo"\nenv = "toy:identity"\nsed = 1')}
    argv = [str(files.get(a, a)) for a in args]
    assert main(["sweep", *argv, "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlgen: error:") and message in err[0]
    assert not (tmp_path / "out").exists()


def test_two_agents_two_seeds_on_two_workers_then_rerun_skips(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["sweep", str(_two_agents(tmp_path)), "--workers", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert len(_rows(text)) == 4 and "4 done, 0 failed" in text
    trials = _manifest(out)
    assert {t["state"] for t in trials.values()} == {"done"}
    assert all(t["wall_s"] > 0 and t["host"] and t["attempts"] == 1 for t in trials.values())
    for name, t in trials.items():
        assert (out / name / "summary.json").exists() and t["run"] == str(out / name)
    assert (out / "report.md").read_text().strip() in text
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "4 skipped" in again and _rows(again) == _rows(text)
    assert _manifest(out) == trials  # nothing rerun, nothing rewritten


def test_a_failing_trial_is_recorded_and_retried_only_when_asked(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["sweep", str(_ppo_seeds(tmp_path, '"overrides.epochs" = [1, "x"]')), "--out", str(out),
            "--quiet"]
    assert main(argv) == 1
    text = capsys.readouterr().out
    assert "2 done, 2 failed" in text and len(_rows(text)) == 2
    trials = _manifest(out)
    failed = {n: t for n, t in trials.items() if t["state"] == "failed"}
    assert len(failed) == 2 and all("PPOConfig.epochs" in t["error"] for t in failed.values())
    assert main(argv) == 1
    assert _manifest(out) == trials  # failed trials are not rerun by default
    assert main([*argv, "--retry-failed"]) == 1
    after = _manifest(out)
    assert {n: t["attempts"] for n, t in after.items()} == \
        {n: 2 if n in failed else 1 for n in trials}
    changed = _ppo_seeds(tmp_path, '"overrides.epochs" = [1, "x"]').read_text().replace(
        "episodes = 4", "episodes = 5")
    _write(tmp_path, "ppo", changed)
    assert main(argv) == 2  # the same trial names with other parameters: refused, not mixed
    assert "was run with other parameters" in capsys.readouterr().err


def test_killed_driver_resumes_and_reports_as_an_uninterrupted_sweep(tmp_path, capsys):
    path = _ppo_seeds(tmp_path)
    assert main(["sweep", str(path), "--out", str(tmp_path / "whole"), "--quiet"]) == 0
    whole = _rows(capsys.readouterr().out)
    out = tmp_path / "cut"
    # 3 updates (logs) per trial: interrupt the second trial after its first checkpoint
    with interrupted_at_log(5):
        sweep_run.run_sweep(load_sweep(path), out, progress=False)
    states = {n: t["state"] for n, t in _manifest(out).items()}
    assert sorted(states.values()) == ["done", "running"]
    cut = next(n for n, s in states.items() if s == "running")
    assert [m["step"] for m in map(json.loads, (out / cut / "metrics.jsonl").read_text().splitlines())] == [128]
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "1 skipped" in text and _rows(text) == whole
    steps = [json.loads(line)["step"] for line in (out / cut / "metrics.jsonl").read_text().splitlines()]
    assert steps == [128, 256, 384]  # resumed from the checkpoint, not restarted
