"""`slurm`: jobs as Slurm job arrays through submitit, one array per distinct resource request
(`cpus_per_task`, `gpus_per_node`), at most `workers` array tasks running at once.

`--slurm-executor local` runs the same jobs with submitit's LocalExecutor (one process per job,
`workers` at a time) for tests and for a workstation without Slurm. Jobs outlive a killed
driver on Slurm; a rerun's trial waits for the orphaned job that still holds its run directory
(rlgen.sweep.run.run_trial), so nothing is trained twice."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from rlgen.exec.base import Backend, Resources, resources_for

#: seconds between polls of job states (Slurm's are read through sacct, rate-limited by
#: submitit's watcher; local ones from the processes)
POLL_S = {"slurm": 5.0, "local": 0.1}
STARTED = {"RUNNING", "COMPLETING", "COMPLETED", "FINISHED", "FAILED", "CANCELLED", "TIMEOUT",
           "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "INTERRUPTED"}


class SlurmBackend(Backend):
    """submitit job arrays on Slurm (partition, time limit from the options), or its
    LocalExecutor."""

    def _executor(self, r: Resources):
        cache = self.__dict__.setdefault("_executors", {})
        if r not in cache:
            cache[r] = self._make_executor(r)
        return cache[r]

    def _make_executor(self, r: Resources):
        # submitit's import runs logging.config.dictConfig, which closes every logging handler
        # the process has (a test runner's, an application's) unless told not to configure
        os.environ.setdefault("SUBMITIT_LOG_LEVEL", "NOCONFIG")
        try:
            import submitit
        except ImportError as e:
            raise ImportError("the slurm backend needs submitit: pip install 'rlgen[distributed]'") from e
        o = self.options
        folder = Path(o.log_folder or "runs/slurm") / "%j"
        executor = submitit.AutoExecutor(folder=folder, cluster=o.slurm_executor)
        # jobs import this rlgen (a source checkout too), not whatever the node's path holds
        root = str(Path(__file__).resolve().parents[2])
        setup = [f"export PYTHONPATH={root}${{PYTHONPATH:+:$PYTHONPATH}}"]
        executor.update_parameters(
            name="rlgen", timeout_min=o.time_min, cpus_per_task=max(1, math.ceil(r.cpus)),
            gpus_per_node=math.ceil(r.gpus), slurm_partition=o.partition,
            slurm_array_parallelism=o.workers, slurm_setup=setup, local_setup=setup)
        return executor

    def imap(self, fn, items, resources=None, on_start=None, on_lost=None):
        needs = resources_for(items, resources)
        kind = self.options.slurm_executor
        if kind not in POLL_S:
            from rlgen.errors import UnknownNameError

            raise UnknownNameError("slurm executor", kind, list(POLL_S))
        pending: dict[int, Any] = {}
        started: set[int] = set()
        todo = list(range(len(items)))[::-1]
        if kind == "slurm":  # Slurm queues the arrays and runs `workers` tasks of each at once
            groups: dict[Resources, list[int]] = {}
            for i in todo[::-1]:
                groups.setdefault(needs[i], []).append(i)
            for r, idx in groups.items():
                jobs = self._executor(r).map_array(fn, [items[i] for i in idx])
                pending.update(zip(idx, jobs, strict=True))
            todo = []
        try:
            while todo or pending:
                # locally, at most `workers` processes at a time (LocalExecutor starts each
                # submitted job at once)
                while todo and len(pending) < self.options.workers:
                    i = todo.pop()
                    pending[i] = self._executor(needs[i]).submit(fn, items[i])
                for i, job in list(pending.items()):
                    if i not in started and (kind == "local" or job.state in STARTED):
                        started.add(i)
                        if on_start:
                            on_start(i)
                    if job.done():
                        del pending[i]
                        if i not in started and on_start:
                            on_start(i)
                        try:
                            result = job.result()
                        except Exception as e:  # submitit's job failed / timed out
                            if on_lost is None:
                                raise
                            result = on_lost(i, e)
                        yield i, result
                if pending:
                    time.sleep(POLL_S[kind])
        finally:
            if kind == "local":  # a driver that stops (Ctrl-C) stops its local processes
                for job in pending.values():
                    job.cancel(check=False)
