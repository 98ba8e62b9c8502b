"""Where independent jobs run: in this process, or in local worker processes. Meta-training maps
a population's lifetimes over it; `rlgen sweep` streams trials through `imap` so its manifest
is updated as each trial finishes, not when the whole sweep does."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

OnStart = Callable[[int], None] | None


class Backend(Protocol):
    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]: ...

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any],
             on_start: OnStart = None) -> Iterator[tuple[int, Any]]: ...


class InProcess:
    def map(self, fn, items):
        return [fn(x) for x in items]

    def imap(self, fn, items, on_start=None):
        for i, x in enumerate(items):
            if on_start:
                on_start(i)
            yield i, fn(x)


class LocalProcesses:
    """`workers` spawned processes (each a fresh interpreter: no torch state shared)."""

    def __init__(self, workers: int):
        self.workers = workers

    def _pool(self):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))

    def map(self, fn, items):
        with self._pool() as pool:
            return list(pool.map(fn, items))

    def imap(self, fn, items, on_start=None):
        """(index, result) in completion order. At most `workers` jobs are submitted at once, so
        `on_start` marks jobs that really run, and a killed driver loses only those."""
        from concurrent.futures import FIRST_COMPLETED, wait

        todo = list(enumerate(items))[::-1]
        with self._pool() as pool:
            pending: dict[Any, int] = {}
            try:
                while todo or pending:
                    while todo and len(pending) < self.workers:
                        i, x = todo.pop()
                        if on_start:
                            on_start(i)
                        pending[pool.submit(fn, x)] = i
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield pending.pop(future), future.result()
            finally:
                for future in pending:
                    future.cancel()


def make_backend(name: str, workers: int = 1) -> Backend:
    if name == "local":
        return InProcess() if workers <= 1 else LocalProcesses(workers)
    from rlgen.errors import UnknownNameError

    raise UnknownNameError("backend", name, ["local"])
