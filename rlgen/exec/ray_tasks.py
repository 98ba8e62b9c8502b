"""`ray`: each job a Ray task reserving the CPUs/GPUs it declares.

With `--address` the backend joins an existing cluster (rlgen must be importable on its
nodes); otherwise it starts a local Ray instance with `workers` CPUs and stops it on close. If
this process already has Ray initialised (a notebook, a test module sharing one instance), that
instance is used and left running."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from rlgen.exec.base import Backend, resources_for

#: the object store holds only jobs' small arguments and results (trials write their own run
#: directories), so a local instance needs little of it
LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024


class RayBackend(Backend):
    """Ray tasks, each reserving its declared CPUs/GPUs, on a local instance or a cluster
    (`--address`)."""

    _started = False

    def start(self):
        """Ray, initialised: the given cluster joined, or a local instance started."""
        try:
            import ray
        except ImportError as e:
            raise ImportError("the ray backend needs ray: pip install 'rlgen[distributed]'") from e
        if not ray.is_initialized():
            # the package's parent folder, so workers import this rlgen (a source checkout too)
            root = str(Path(__file__).resolve().parents[2])
            env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
                p for p in (root, os.environ.get("PYTHONPATH")) if p)}}
            if self.options.address:
                ray.init(address=self.options.address, runtime_env=env,
                         logging_level=logging.WARNING)
            else:
                ray.init(num_cpus=self.options.workers, include_dashboard=False,
                         object_store_memory=LOCAL_OBJECT_STORE_BYTES, runtime_env=env,
                         logging_level=logging.WARNING)
            self._started = True
        return ray

    def imap(self, fn, items, resources=None, on_start=None, on_lost=None):
        ray = self.start()
        needs = resources_for(items, resources)
        capacity = {k: ray.cluster_resources().get(k, 0.0) for k in ("CPU", "GPU")}
        if not self.options.address:  # a local instance never grows: refuse what cannot run
            for r in needs:
                if r.cpus > capacity["CPU"] or r.gpus > capacity["GPU"]:
                    raise ValueError(f"a job reserves {r.cpus:g} CPUs and {r.gpus:g} GPUs; the "
                                     f"local Ray instance has {capacity['CPU']:g} and "
                                     f"{capacity['GPU']:g} (raise --workers or join a cluster "
                                     "with --address)")
        remote = ray.remote(fn)
        todo = list(enumerate(items))[::-1]
        pending: dict[Any, int] = {}
        used = {"CPU": 0.0, "GPU": 0.0}
        try:
            while todo or pending:
                if self.options.address:  # a cluster may have grown (autoscaling) or shrunk
                    capacity = {k: ray.cluster_resources().get(k, 0.0) for k in ("CPU", "GPU")}
                # submit only what the cluster can run now (Ray would queue the rest), so
                # on_start marks running jobs and a killed driver loses only those
                while todo:
                    i, x = todo[-1]
                    r = needs[i]
                    fits = (used["CPU"] + r.cpus <= capacity["CPU"] + 1e-9
                            and used["GPU"] + r.gpus <= capacity["GPU"] + 1e-9)
                    if pending and not fits:
                        break
                    todo.pop()
                    if on_start:
                        on_start(i)
                    pending[remote.options(num_cpus=r.cpus, num_gpus=r.gpus).remote(x)] = i
                    used["CPU"] += r.cpus
                    used["GPU"] += r.gpus
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    i = pending.pop(ref)
                    used["CPU"] -= needs[i].cpus
                    used["GPU"] -= needs[i].gpus
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as e:
                        if on_lost is None:
                            raise
                        result = on_lost(i, e)
                    yield i, result
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False
