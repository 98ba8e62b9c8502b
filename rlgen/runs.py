"""Run directories: resolved config, command line, provenance, metrics, atomic checkpoints and
summaries, all in files a person can read."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import itertools
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from rlgen.config import dump_toml
from rlgen.paths import REPO_ROOT

PACKAGES = ("rlgen", "torch", "numpy", "gymnasium", "procgen2", "stable-baselines3", "d3rlpy",
            "rliable")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=5)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(device: str | None = None) -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    status = _git("status", "--porcelain")
    return {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "device": device,
        "packages": versions,
    }


def atomic_write_bytes(path: Path, write) -> None:
    """Write through a temporary file in the same folder and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, lambda f: f.write(json.dumps(payload, indent=2, default=str).encode()))


@dataclass
class RunDir:
    path: Path

    @classmethod
    def create(cls, root: Path | str, name: str, unique: bool = False) -> RunDir:
        """A new run directory. `unique` (generated names): take `name`, else `name-2`, `name-3`,
        ..., claimed by an exclusive mkdir, so runs started in the same second (a sweep launched
        in parallel) never share a directory. Otherwise an existing non-empty `name` is refused."""
        Path(root).mkdir(parents=True, exist_ok=True)
        if unique:
            for n in itertools.count(1):
                path = Path(root) / (name if n == 1 else f"{name}-{n}")
                try:
                    path.mkdir()
                    return cls(path)
                except FileExistsError:
                    continue
        path = Path(root) / name
        if path.exists() and any(path.iterdir()):
            raise FileExistsError(f"run directory {path} exists; pass --resume {path} to continue "
                                  "it or --name to start another")
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    @classmethod
    def open(cls, path: Path | str) -> RunDir:
        path = Path(path)
        if not (path / "config.toml").exists():
            raise FileNotFoundError(f"{path} is not an rlgen run directory (no config.toml)")
        return cls(path)

    @contextlib.contextmanager
    def lock(self):
        """Hold the run for one process: a second `train`/`--resume` on it fails at once instead
        of interleaving metrics and checkpoints (released when the process ends, even if killed)."""
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = os.pread(fd, 32, 0).decode().strip() or "?"
                raise FileExistsError(f"run {self.path} is in use by another process (pid {other})") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield self
        finally:
            os.close(fd)

    # --- configuration -------------------------------------------------------------------
    def write_config(self, config: dict[str, Any]) -> None:
        dump_toml(config, self.path / "config.toml")

    def read_config(self) -> dict[str, Any]:
        with open(self.path / "config.toml", "rb") as f:
            return tomllib.load(f)

    def write_command(self, argv: list[str] | None = None) -> None:
        argv = sys.argv if argv is None else argv
        with open(self.path / "command.txt", "a") as f:
            f.write(" ".join(shlex.quote(a) for a in ["rlgen", *argv[1:]]) + "\n")

    def write_provenance(self, device: str | None) -> None:
        history = []
        if (self.path / "provenance.json").exists():
            old = json.loads((self.path / "provenance.json").read_text())
            history = old.get("resumes", []) + [{k: v for k, v in old.items() if k != "resumes"}]
        write_json(self.path / "provenance.json", {**provenance(device), "resumes": history})

    # --- metrics ---------------------------------------------------------------------------
    def log(self, step: int, metrics: dict[str, float]) -> None:
        record = {"step": int(step), **{k: float(v) for k, v in metrics.items()}}
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        writer = self._tb()
        if writer is not None:
            for k, v in metrics.items():
                writer.add_scalar(k, float(v), step)

    def _tb(self):
        if not hasattr(self, "_writer"):
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(self.path / "tb"))
            except ImportError:
                self._writer = None
        return self._writer

    def close(self) -> None:
        if getattr(self, "_writer", None) is not None:
            self._writer.close()

    def metrics(self) -> list[dict[str, float]]:
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    # --- checkpoints -------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoints" / "latest.pt"

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        import torch

        atomic_write_bytes(self.checkpoint_path, lambda f: torch.save(state, f))

    def save_snapshot(self, step: int, state: dict[str, Any]) -> Path:
        """A kept copy of the weights at `step` (e.g. to pick a "mixed" behaviour policy later)."""
        import torch

        path = self.path / "checkpoints" / f"step-{step:010d}.pt"
        atomic_write_bytes(path, lambda f: torch.save(state, f))
        return path

    def load_checkpoint(self, map_location: str = "cpu") -> dict[str, Any] | None:
        import torch

        if not self.checkpoint_path.exists():
            return None
        return torch.load(self.checkpoint_path, map_location=map_location, weights_only=True)

    # --- results ---------------------------------------------------------------------------
    def write_episodes(self, records: list[dict]) -> None:
        lines = "".join(json.dumps(r, default=str) + "\n" for r in records)
        atomic_write_bytes(self.path / "episodes.jsonl", lambda f: f.write(lines.encode()))

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.path / "summary.json", summary)

    def read_summary(self) -> dict[str, Any]:
        path = self.path / "summary.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: the run has not been evaluated yet")
        return json.loads(path.read_text())


@dataclass
class FitResult:
    """What `Agent.fit` returns: the budget actually spent, wall time, and the last value of
    every metric it logged (meta-training reads fitness from here, with no files involved)."""

    steps: int
    wall_time_s: float
    metrics: dict[str, float]


class NullRun:
    """A run that writes nothing: `fit` in-process (meta-training calls it thousands of times).

    Logged metrics are kept in memory (`last`, and `history` when `keep_history`); checkpoints
    and snapshots are dropped."""

    path = None

    def __init__(self, keep_history: bool = False):
        self.last: dict[str, float] = {}
        self.keep_history = keep_history
        self.history: list[dict[str, float]] = []

    def log(self, step: int, metrics: dict[str, float]) -> None:
        values = {k: float(v) for k, v in metrics.items()}
        self.last.update(values)
        if self.keep_history:
            self.history.append({"step": int(step), **values})

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        pass

    def save_snapshot(self, step: int, state: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        pass
