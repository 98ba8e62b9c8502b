"""The interface every execution backend implements, and what a job may ask of one.

A backend runs a picklable module-level function over a list of items and yields
`(index, result)` pairs as jobs finish. Backends hold resources (worker processes, a Ray
instance): use them as context managers so those are released even when the driver is
interrupted."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

from rlgen.errors import UnknownNameError

#: called with a job's index when it starts running (not when it is queued), so a manifest's
#: `running` means running
OnStart = Callable[[int], None] | None
#: turns the engine's failure of one job (a worker killed, a Slurm time limit) into that job's
#: result, so the other jobs go on; without it such a failure propagates
OnLost = Callable[[int, BaseException], Any] | None


@dataclass(frozen=True)
class Resources:
    """What one job reserves: CPUs and GPUs (fractions allowed where the engine allows them,
    e.g. Ray's `gpus = 0.5`)."""

    cpus: float = 1
    gpus: float = 0

    @classmethod
    def parse(cls, table: dict[str, Any] | None, where: str = "resources") -> Resources:
        table = dict(table or {})
        known = [f.name for f in fields(cls)]
        for key, value in table.items():
            if key not in known:
                raise UnknownNameError(f"key in {where}", key, known)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{where}.{key} must be a number >= 0, got {value!r}")
        if table.get("cpus", 1) <= 0:
            raise ValueError(f"{where}.cpus must be > 0")
        return cls(**table)


@dataclass
class BackendOptions:
    """Settings of every backend; each reads the ones it has a use for."""

    workers: int = 1                    # local: processes; ray: CPUs of a local instance;
    #                                     slurm: array jobs running at once
    address: str | None = None          # ray: join this cluster ("auto", "ray://host:10001")
    slurm_executor: str = "slurm"       # slurm: "local" runs arrays with submitit's LocalExecutor
    partition: str | None = None        # slurm partition
    time_min: int = 60                  # slurm: wall-time limit of one job, minutes
    log_folder: str | None = None       # slurm: submitit's job folder (pickles, stdout/stderr)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("--workers must be at least 1")
        if self.time_min < 1:
            raise ValueError("--time must be at least 1 minute")


class Backend:
    """Base of all backends: `map` and the context-manager protocol come from `imap`/`close`."""

    def __init__(self, options: BackendOptions | None = None):
        self.options = options or BackendOptions()

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any],
             resources: Sequence[Resources] | None = None,
             on_start: OnStart = None, on_lost: OnLost = None) -> Iterator[tuple[int, Any]]:
        """(index, fn(item)) in completion order; `resources[i]` is what job i reserves where
        the engine schedules by resources (default: one CPU each)."""
        raise NotImplementedError

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any],
            resources: Sequence[Resources] | None = None) -> list[Any]:
        out: list[Any] = [None] * len(items)
        for i, result in self.imap(fn, items, resources):
            out[i] = result
        return out

    def close(self) -> None:
        """Release what the backend started (idempotent)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_backend(name: str, options: BackendOptions | None = None) -> Backend:
    from rlgen.registry import BACKENDS, lookup

    return lookup("backend", name, BACKENDS)(options or BackendOptions())


def resources_for(items: Sequence[Any], resources: Sequence[Resources] | None) -> list[Resources]:
    if resources is None:
        return [Resources()] * len(items)
    if len(resources) != len(items):
        raise ValueError(f"{len(resources)} resource declarations for {len(items)} jobs")
    return list(resources)
