"""Execution backends (rlgen.exec) under `rlgen sweep` on a small real sweep: sweeps/toy-smoke.toml
--variant cpu (PPO and BC × seeds 0, 1 on toy:identity). One local Ray instance serves the module."""

import json
import re

import pytest

from rlgen.cli import main

SMOKE = ["sweep", "toy-smoke", "--variant", "cpu", "--quiet"]


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


def _rows(text):
    return [line for line in text.splitlines() if re.match(r"\| toy:identity \| \w+ \| [^|]+ \| \d \|", line)]


def _steps(metrics):
    """Logged steps, complete lines only (the file may be being written)."""
    return [json.loads(line)["step"] for line in metrics.read_text().split("\n")[:-1] if line]


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())["trials"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: the same sweep in the driver's own process."""
    from rlgen.sweep.run import run_sweep
    from rlgen.sweep.spec import load_sweep

    out = tmp_path_factory.mktemp("reference")
    result = run_sweep(load_sweep("toy-smoke", "cpu"), out, progress=False)
    return _report_rows(result.done_runs())


def _report_rows(runs):
    from rlgen.eval import report as R

    return _rows(R.report(R.load_summaries(runs).summaries))


def test_ray_sweep_matches_the_in_process_one(ray_instance, uninterrupted, tmp_path, capsys):
    out = tmp_path / "ray"
    argv = [*SMOKE, "--backend", "ray", "--workers", "2", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "4 done, 0 failed" in text and _rows(text) == uninterrupted and len(uninterrupted) == 4
    trials = _manifest(out)
    assert all(t["state"] == "done" and t["host"] and t["wall_s"] > 0 and t["attempts"] == 1
               and t["backend"] == "ray" for t in trials.values())
    assert main(argv) == 0
    assert "4 skipped" in capsys.readouterr().out and _manifest(out) == trials


def _write_ppo(tmp_path, resources):
    path = tmp_path / "res.toml"
    path.write_text(f"""[base]
agent = "ppo"
env = "toy:identity"
steps = 64
evaluate = false
overrides = {{ num_envs = 4, num_steps = 16, minibatches = 1, epochs = 1 }}
resources = {resources}
[axes]
seed = [0, 1]
""")
    return path


def test_ray_trials_reserve_their_declared_cpus(ray_instance, tmp_path):
    """Two trials of 2 CPUs each on a 2-CPU instance never overlap."""
    out = tmp_path / "out"
    assert main(["sweep", str(_write_ppo(tmp_path, "{ cpus = 2 }")), "--backend", "ray",
                 "--out", str(out), "--quiet"]) == 0
    a, b = sorted(_manifest(out).values(), key=lambda t: t["started"])
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


def test_slurm_local_executor_sweep_matches_the_in_process_one(uninterrupted, tmp_path, capsys):
    out = tmp_path / "slurm"
    argv = [*SMOKE, "--backend", "slurm", "--slurm-executor", "local", "--workers", "2",
            "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "4 done, 0 failed" in text and _rows(text) == uninterrupted
    trials = _manifest(out)
    assert all(t["state"] == "done" and t["backend"] == "slurm" for t in trials.values())
    logs = list((out / "slurm").glob("*/*_log.out"))
    assert len(logs) == 4  # one submitit job (process) per trial, its logs beside the sweep


PPO_CUT = """[base]
agent = "ppo"
env = "toy:identity"
steps = 768
episodes = 4
splits = ["train", "test"]
overrides = { num_envs = 4, num_steps = 32, minibatches = 2, epochs = 1, checkpoint_every_s = 0.0 }
[axes]
seed = [0, 1]
"""


@pytest.fixture(scope="module")
def ppo_cut(tmp_path_factory):
    """A PPO sweep of 6 updates per trial, and its report rows run without interruption."""
    from rlgen.sweep.run import run_sweep
    from rlgen.sweep.spec import load_sweep

    folder = tmp_path_factory.mktemp("cut")
    path = folder / "ppo-cut.toml"
    path.write_text(PPO_CUT)
    return path, _report_rows(run_sweep(load_sweep(path), folder / "whole", progress=False).done_runs())


@pytest.mark.parametrize("backend", [
    ["--backend", "local"],
    ["--backend", "ray", "--address", "{ray}"],
    ["--backend", "slurm", "--slurm-executor", "local", "--workers", "2"],
], ids=["local", "ray", "slurm"])
def test_sigkilled_driver_resumes_to_the_uninterrupted_result(backend, ppo_cut, request,
                                                              tmp_path, capsys):
    """SIGKILL the driver once a trial has checkpointed mid-run; the rerun resumes that trial
    from its checkpoint and the report equals an uninterrupted sweep's. On Ray the driver joins
    the running instance with --address, as on a cluster, so its tasks must be stopped by Ray."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    if "ray" in backend:  # the killed driver and the rerun join the module's instance
        address = request.getfixturevalue("ray_instance")
        backend = [address if a == "{ray}" else a for a in backend]
    path, whole = ppo_cut
    out = tmp_path / "out"
    argv = ["sweep", str(path), "--out", str(out), "--quiet", *backend]
    root = Path(__file__).resolve().parents[1]
    driver = subprocess.Popen([sys.executable, "-m", "rlgen.cli", *argv], cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and driver.poll() is None:
            # two metrics lines: the first update's checkpoint is on disk (log, then checkpoint)
            if any(len(_steps(m)) >= 2 and not (m.parent / "summary.json").exists()
                   for m in out.glob("*/metrics.jsonl")):
                break
            time.sleep(0.05)
        assert driver.poll() is None, "the sweep ended before a trial was cut"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        at_kill = {m.parent.name: _steps(m) for m in out.glob("*/metrics.jsonl")}
    finally:
        if driver.poll() is None:
            driver.kill()
    states = {t["state"] for t in _manifest(out).values()}
    assert states <= {"pending", "running", "done"} and states != {"done"}
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert _rows(text) == whole and len(whole) == 2
    assert any(len(s) >= 2 and s[-1] < 768 for s in at_kill.values())
    for name, before in at_kill.items():
        steps = _steps(out / name / "metrics.jsonl")
        assert set(steps) == {128, 256, 384, 512, 640, 768} and steps == sorted(steps)
        # resumed from its checkpoint, not restarted: every update before the last one logged
        # at the kill (whose checkpoint was written before the next log) appears once; only a
        # kill between an update's log and its checkpoint repeats that one update (train's order)
        assert all(steps.count(step) == 1 for step in before[:-1])
