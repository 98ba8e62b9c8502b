"""Sweep overhead per trial (scheduling and bookkeeping, excluding the trials' own work) on
trivial trials: 20 PPO runs of 32 steps on toy:identity, no evaluation, per backend. Target
(issue 14): under 0.5 s per trial locally.

    PYTHONPATH=$PWD python scripts/bench/sweep_overhead.py --backend local ray --workers 1 2

overhead per trial = (sweep wall time - summed trial wall times / workers) / trials; then the
same sweep again, every trial already done (the cost of skipping). The peer is the plain loop:
the same trials trained one after another by `rlgen.train` in this process (after one untimed
warm-up trial), no sweep around them; the ratio is the sweep's wall time over the loop's.
Ray's instance (as many CPUs as workers) is started before its sweep; its start-up time is
printed on its own.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

SWEEP = """[base]
agent = "ppo"
env = "toy:identity"
steps = 32
evaluate = false
overrides = { num_envs = 4, num_steps = 8, minibatches = 1, epochs = 1, checkpoint_every_s = 60.0 }
[axes]
seed = [%s]
"""


def plain_loop(sweep, out: Path) -> float:
    from rlgen.sweep.run import run_trial
    from rlgen.sweep.spec import expand

    trials = expand(sweep)
    warm = trials[0]  # imports and first-call costs, paid once by any process, untimed
    run_trial({"name": "warm-up", "params": warm.params, "out": str(out), "dataset": None})
    t = time.perf_counter()
    for trial in trials:
        result = run_trial({"name": trial.name, "params": trial.params, "out": str(out),
                            "dataset": None})
        assert result["state"] == "done", result
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", nargs="+", default=["local", "ray"])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--trials", type=int, default=20)
    args = p.parse_args()

    from rlgen.exec import BackendOptions
    from rlgen.sweep.run import run_sweep
    from rlgen.sweep.spec import load_sweep

    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trivial.toml"
        path.write_text(SWEEP % ", ".join(str(s) for s in range(args.trials)))
        sweep = load_sweep(str(path))
        plain = plain_loop(sweep, Path(tmp) / "plain")  # also warms imports for workers=1
        print(f"plain loop, trials={args.trials}: {plain:.2f}s ({plain / args.trials:.3f} s/trial)")
        for backend, workers in [(b, w) for b in args.backend for w in args.workers]:
            ray = None
            if backend == "ray":  # an instance of `workers` CPUs, started outside the timing
                from rlgen.exec.ray_tasks import RayBackend

                t = time.perf_counter()
                ray = RayBackend(BackendOptions(workers=workers))
                ray.start()
                print(f"ray: local instance with {workers} CPUs started in "
                      f"{time.perf_counter() - t:.2f}s")
            out = Path(tmp) / f"{backend}{workers}"
            t = time.perf_counter()
            result = run_sweep(sweep, out, backend, BackendOptions(workers=workers),
                               progress=False)
            total = time.perf_counter() - t
            work = sum(s["wall_s"] for s in result.states.values())
            n = len(result.trials)
            t = time.perf_counter()
            run_sweep(sweep, out, backend, BackendOptions(workers=workers), progress=False)
            rerun = time.perf_counter() - t
            ratio = f" sweep/plain loop={total / plain:.2f}x"
            print(f"{backend} workers={workers} trials={n} total={total:.2f}s "
                  f"trial work={work:.2f}s overhead/trial={(total - work / workers) / n:.3f}s "
                  f"rerun, all done={rerun:.3f}s ({rerun / n * 1000:.1f} ms/trial){ratio}")
            if ray is not None:
                ray.close()


if __name__ == "__main__":
    main()
