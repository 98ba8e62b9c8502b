"""`local`: jobs in this process (one worker) or in N spawned worker processes."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from rlgen.exec.base import Backend, resources_for


class LocalBackend(Backend):
    """Run jobs on this machine: in the driver's process with one worker, else in `workers`
    spawned processes (fresh interpreters: no torch state is shared). A job reserving k CPUs
    takes k of the `workers` slots, so at most `workers` CPUs' worth of jobs run at once.
    A worker that dies hard breaks the whole pool (`BrokenProcessPool`): `on_lost` is not
    consulted, the failure propagates and the jobs in flight stay unfinished."""

    _pool: Any = None

    def imap(self, fn, items, resources=None, on_start=None, on_lost=None):
        needs = resources_for(items, resources)
        if self.options.workers <= 1:
            for i, x in enumerate(items):
                if on_start:
                    on_start(i)
                yield i, fn(x)
            return
        yield from self._imap_pool(fn, items, needs, on_start)

    def _imap_pool(self, fn, items, needs, on_start):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        slots = self.options.workers
        if self._pool is None:  # kept across calls: a meta-training generation reuses workers
            self._pool = ProcessPoolExecutor(slots, mp_context=mp.get_context("spawn"))
        todo = list(enumerate(items))[::-1]
        pending: dict[Future, int] = {}
        used = 0
        try:
            while todo or pending:
                # submit only what fits, so a killed driver loses only the jobs really running
                while todo:
                    i, x = todo[-1]
                    take = min(max(1, round(needs[i].cpus)), slots)
                    if pending and used + take > slots:
                        break
                    todo.pop()
                    if on_start:
                        on_start(i)
                    pending[self._pool.submit(fn, x)] = i
                    used += take
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    i = pending.pop(future)
                    used -= min(max(1, round(needs[i].cpus)), slots)
                    yield i, future.result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
