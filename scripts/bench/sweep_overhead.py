"""Sweep overhead per trial (scheduling and bookkeeping, excluding the trials' own work) on
trivial trials: 20 PPO runs of 32 steps on toy:identity, no evaluation. Target (issue 14):
under 0.5 s per trial with the local backend.

    PYTHONPATH=$PWD python scripts/bench/sweep_overhead.py --workers 1 2

overhead per trial = (sweep wall time - summed trial wall times / workers) / trials; then the
same sweep again, every trial already done (the cost of skipping).
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--trials", type=int, default=20)
    args = p.parse_args()

    from rlgen.sweep.run import run_sweep
    from rlgen.sweep.spec import load_sweep

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trivial.toml"
        path.write_text(SWEEP % ", ".join(str(s) for s in range(args.trials)))
        sweep = load_sweep(str(path))
        for workers in args.workers:
            out = Path(tmp) / f"out{workers}"
            t = time.perf_counter()
            result = run_sweep(sweep, out, workers=workers, progress=False)
            total = time.perf_counter() - t
            work = sum(s["wall_s"] for s in result.states.values())
            n = len(result.trials)
            t = time.perf_counter()
            run_sweep(sweep, out, workers=workers, progress=False)
            rerun = time.perf_counter() - t
            print(f"workers={workers} trials={n} total={total:.2f}s trial work={work:.2f}s "
                  f"overhead/trial={(total - work / workers) / n:.3f}s "
                  f"rerun, all done={rerun:.3f}s ({rerun / n * 1000:.1f} ms/trial)")


if __name__ == "__main__":
    main()
