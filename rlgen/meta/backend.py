"""Where a population's lifetimes run: in this process, or in local worker processes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol


class Backend(Protocol):
    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]: ...


class InProcess:
    def map(self, fn, items):
        return [fn(x) for x in items]


class LocalProcesses:
    """`workers` spawned processes (each a fresh interpreter: no torch state shared)."""

    def __init__(self, workers: int):
        self.workers = workers

    def map(self, fn, items):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn")) as pool:
            return list(pool.map(fn, items))


def make_backend(name: str, workers: int = 1) -> Backend:
    if name == "local":
        return InProcess() if workers <= 1 else LocalProcesses(workers)
    from rlgen.errors import UnknownNameError

    raise UnknownNameError("meta-training backend", name, ["local"])
