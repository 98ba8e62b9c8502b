import json
import re

import pytest
from conftest import interrupted_at_log, manifest_trials, sweep_report_rows, write_toy_sweep

from rlgen.cli import main
from rlgen.sweep import run as sweep_run
from rlgen.sweep.spec import expand, load_sweep, sweep_names


def _write(folder, name, text):
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def _ppo_seeds(folder, extra=""):
    """PPO × seeds 0, 1 (plus `extra` lines of [axes] and tables after them)."""
    return write_toy_sweep(folder, "ppo", bc=False, extra=extra)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RLGEN_CACHE", str(tmp_path / "cache"))


def _trials(text):
    """The rows of the printed report's Trials table (name, state, ...)."""
    return sweep_report_rows(text)["Trials"]


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
    """The sweep ends by printing `rlgen report`'s grouped report over its folder; a rerun skips."""
    _write(tmp_path, "toy-data", 'env = "toy:identity"\npolicy = "oracle:0.3"\ntransitions = 1000\n'
           "num_envs = 8\n")  # a recipe beside the sweep file, built once by the sweep
    out = tmp_path / "out"
    path = write_toy_sweep(tmp_path, "two", ppo_steps=128, recipe="toy-data.toml")
    argv = ["sweep", str(path), "--workers", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "4 done, 0 failed" in text and "Sweep two: 4 trials (4 done) in" in text
    rows = sweep_report_rows(text)
    assert [r[:2] for r in rows["Groups"]] == [["ppo", "2 × 1"], ["bc", "2 × 1"]]
    assert [r[0] for r in rows["Probability of improvement"]] == ["agent"]
    assert [r[1] for r in _trials(text)] == ["done"] * 4
    trials = manifest_trials(out)
    assert {t["state"] for t in trials.values()} == {"done"}
    assert all(t["wall_s"] > 0 and t["host"] and t["attempts"] == 1 for t in trials.values())
    for name, t in trials.items():
        assert (out / name / "summary.json").exists() and t["run"] == str(out / name)
    report = (out / "report.md").read_text().strip()
    assert report in text
    assert main(["report", str(out), "--plot", str(tmp_path / "plots.png")]) == 0
    assert report in capsys.readouterr().out  # what `rlgen report` prints over the same folder
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "4 skipped" in again and sweep_report_rows(again) == rows
    assert manifest_trials(out) == trials  # nothing rerun, nothing rewritten


def test_a_failing_trial_is_recorded_and_retried_only_when_asked(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["sweep", str(_ppo_seeds(tmp_path, '"overrides.epochs" = [1, "x"]')), "--out", str(out),
            "--quiet"]
    assert main(argv) == 1
    text = capsys.readouterr().out
    assert "2 done, 2 failed" in text
    assert sorted(r[1] for r in _trials(text)) == ["done", "done", "failed", "failed"]
    trials = manifest_trials(out)
    failed = {n: t for n, t in trials.items() if t["state"] == "failed"}
    assert len(failed) == 2 and all("PPOConfig.epochs" in t["error"] for t in failed.values())
    assert main(argv) == 1
    assert manifest_trials(out) == trials  # failed trials are not rerun by default
    assert main([*argv, "--retry-failed"]) == 1
    after = manifest_trials(out)
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
    whole = sweep_report_rows(capsys.readouterr().out)
    out = tmp_path / "cut"
    # 3 updates (logs) per trial: interrupt the second trial after its first checkpoint
    with interrupted_at_log(5):
        sweep_run.run_sweep(load_sweep(path), out, progress=False)
    states = {n: t["state"] for n, t in manifest_trials(out).items()}
    assert sorted(states.values()) == ["done", "running"]
    cut = next(n for n, s in states.items() if s == "running")
    assert [m["step"] for m in map(json.loads, (out / cut / "metrics.jsonl").read_text().splitlines())] == [128]
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "1 skipped" in text and sweep_report_rows(text) == whole
    steps = [json.loads(line)["step"] for line in (out / cut / "metrics.jsonl").read_text().splitlines()]
    assert steps == [128, 256, 384]  # resumed from the checkpoint, not restarted
