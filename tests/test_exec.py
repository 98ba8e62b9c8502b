"""Execution backends (rlgen.exec) under `rlgen sweep` on a small real sweep: PPO and BC (on the
toy-identity-oracle recipe) × seeds 0, 1 on toy:identity, as in sweeps/toy-smoke.toml, with PPO
checkpointing every update so that a driver killed mid-sweep has something to resume. One local
Ray instance serves the module."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import manifest_trials, sweep_report_rows, write_toy_sweep

from rlgen.cli import main


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RLGEN_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def ray_instance():
    """Started once (a few seconds); the backend joins it instead of starting its own."""
    from rlgen.exec import BackendOptions
    from rlgen.exec.ray_tasks import RayBackend

    backend = RayBackend(BackendOptions(workers=2))
    ray = backend.start()
    yield ray.get_runtime_context().gcs_address
    backend.close()


def _steps(metrics):
    """Logged steps, complete lines only (the file may be being written)."""
    return [json.loads(line)["step"] for line in metrics.read_text().split("\n")[:-1] if line]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The sweep file, and the report's rows for the whole sweep run in the driver's own process."""
    from rlgen.eval import sweep_report as S
    from rlgen.sweep.run import run_sweep
    from rlgen.sweep.spec import load_sweep

    path = write_toy_sweep(tmp_path_factory.mktemp("sweep"), "two-agents")
    run_sweep(load_sweep(path), path.parent / "whole", progress=False)
    rows = sweep_report_rows(S.build(S.load_sweep_dir(path.parent / "whole")).markdown())
    assert len(rows["Groups"]) == 2 and [r[1] for r in rows["Trials"]] == ["done"] * 4
    return path, rows


def _kill_once_a_trial_is_half_done(argv, out):
    """Run the sweep's driver as a subprocess and SIGKILL it once a PPO trial has logged two of
    its three updates (so its first update's checkpoint is on disk: log, then checkpoint); the
    PPO trials' logged steps at that moment."""
    root = Path(__file__).resolve().parents[1]
    driver = subprocess.Popen([sys.executable, "-m", "rlgen.cli", *argv], cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and driver.poll() is None:
            seen = {m.parent.name: _steps(m) for m in out.glob("ppo-*/metrics.jsonl")}
            if any(len(s) >= 2 and not (out / n / "summary.json").exists() for n, s in seen.items()):
                break
            time.sleep(0.05)
        assert driver.poll() is None, "the sweep ended before a trial was cut"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        if driver.poll() is None:
            driver.kill()
    return seen


@pytest.mark.parametrize("backend", [
    ["--backend", "local"],
    ["--backend", "ray", "--address", "{ray}"],
    ["--backend", "slurm", "--slurm-executor", "local", "--workers", "2"],
], ids=["local", "ray", "slurm"])
def test_backend_runs_the_sweep_and_a_killed_driver_resumes_it(backend, sweep, request, tmp_path,
                                                               capsys):
    """Per backend: the driver is SIGKILLed mid-sweep; rerunning the command resumes the cut
    trials from their checkpoints, runs the rest, and the report equals the one of the whole
    sweep run in one process; a third run skips everything. On Ray both drivers join the
    module's instance with --address, as on a cluster, so the killed one's tasks are Ray's to
    stop."""
    if "ray" in backend:
        address = request.getfixturevalue("ray_instance")
        backend = [address if a == "{ray}" else a for a in backend]
    path, whole = sweep
    out = tmp_path / "out"
    argv = ["sweep", str(path), "--out", str(out), "--quiet", *backend]
    at_kill = _kill_once_a_trial_is_half_done(argv, out)
    states = {t["state"] for t in manifest_trials(out).values()}
    assert states <= {"pending", "running", "done"} and states != {"done"}

    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "4 done, 0 failed" in text and sweep_report_rows(text) == whole
    trials = manifest_trials(out)
    assert all(t["state"] == "done" and t["host"] and t["wall_s"] > 0 and t["backend"] == backend[1]
               for t in trials.values())
    assert any(t["attempts"] == 2 for t in trials.values())  # the cut one ran twice
    for name, before in at_kill.items():
        steps = _steps(out / name / "metrics.jsonl")
        assert set(steps) == {128, 256, 384} and steps == sorted(steps)
        # resumed from its checkpoint, not restarted: every update before the last one logged
        # before the kill (whose checkpoint was written before the next log) appears once; only
        # a kill between an update's log and its checkpoint repeats that one update (train's
        # order). A Ray task may run on for a moment after its driver died: that is fine too.
        assert all(steps.count(step) == 1 for step in before[:-1])
    if "slurm" in backend:  # one submitit job per trial attempt, its logs beside the sweep
        assert len(list((out / "slurm").glob("*/*_log.out"))) >= 4
    assert main(argv) == 0
    assert "4 skipped" in capsys.readouterr().out and manifest_trials(out) == trials


def _write_ppo(tmp_path, resources):
    return write_toy_sweep(tmp_path, "res", bc=False, ppo_steps=128,
                           base=f"evaluate = false\nresources = {resources}")


def test_ray_trials_reserve_their_declared_cpus(ray_instance, tmp_path):
    """Two trials of 2 CPUs each on a 2-CPU instance never overlap."""
    out = tmp_path / "out"
    assert main(["sweep", str(_write_ppo(tmp_path, "{ cpus = 2 }")), "--backend", "ray",
                 "--out", str(out), "--quiet"]) == 0
    a, b = sorted(manifest_trials(out).values(), key=lambda t: t["started"])
    assert a["state"] == b["state"] == "done" and b["started"] >= a["updated"]
    assert a["params"]["resources"] == {"cpus": 2, "gpus": 0}


def test_ray_refuses_a_trial_the_local_instance_cannot_hold(ray_instance, tmp_path, capsys):
    path = _write_ppo(tmp_path, "{ gpus = 1 }")
    assert main(["sweep", str(path), "--backend", "ray", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reserves 1 CPUs and 1 GPUs" in err[0] and "has 2 and 0" in err[0]


def test_unknown_resource_key_is_one_error_line(tmp_path, capsys):
    path = _write_ppo(tmp_path, "{ cpu = 2 }")
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'cpu'" in err[0] and "Did you mean 'cpus'" in err[0]


def test_meta_train_on_ray_reaches_the_local_es_state(ray_instance, tmp_path):
    """A generation's lifetimes as Ray tasks (2 chunks) give the ES state of one local process."""
    import torch

    from rlgen.meta.train import MetaTrainRequest, meta_train

    split = tmp_path / "meta-toy.toml"
    split.write_text('[meta_test]\nenvs = ["toy:identity"]\nhorizons = [1, 2]\nseeds = 1\n')
    tiny = {"num_envs": 4, "num_steps": 32, "minibatches": 2, "epochs": 1,
            "encoder": {"channels": [4, 8], "out_dim": 32}}

    def es_state(backend, workers):
        run = meta_train(MetaTrainRequest(
            objective="talpo", envs=("toy:identity",), horizon=128, population=4, generations=2,
            out=str(tmp_path / backend), overrides=tiny, es={"sigma": 0.5}, meta_split=str(split),
            backend=backend, workers=workers, batched=False, progress=False))
        return torch.load(run.checkpoint_path, weights_only=True)["es"], run.metrics()

    (local, local_log), (ray, ray_log) = es_state("local", 1), es_state("ray", 2)
    assert ray["generation"] == local["generation"] == 2
    assert torch.allclose(ray["mean"], local["mean"], atol=1e-6) and ray["sigma"] == local["sigma"]
    assert not torch.equal(local["mean"], torch.zeros_like(local["mean"]))  # ES moved
    assert [m["fitness/mean"] for m in ray_log] == pytest.approx(
        [m["fitness/mean"] for m in local_log], abs=1e-6)
