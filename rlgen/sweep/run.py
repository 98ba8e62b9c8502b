"""Run a sweep's trials on a backend, resumably: `OUT/manifest.json` (rewritten atomically
after every state change) records each trial's state, host, wall time and error.

A rerun skips done trials, resumes interrupted ones (`running`/`pending`) from their
checkpoints, and reruns failed ones only when asked; a failing trial never stops the others.
"""

from __future__ import annotations

import json
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlgen.exec import BackendOptions, Resources
from rlgen.runs import write_json
from rlgen.sweep.spec import SCHEDULING_KEYS, Sweep, Trial, expand

STATES = ("pending", "running", "done", "failed")


def run_trial(job: dict[str, Any]) -> dict[str, Any]:
    """One trial as an ordinary run directory `job["out"]/<name>`: started if absent, resumed
    if it has a config but no summary. Module-level so worker processes can receive it.

    If another process still holds the run (a job of a killed driver that its engine did not
    stop, e.g. a Slurm job), this waits for it to end, then resumes or skips as its files say."""
    start = time.perf_counter()
    path = Path(job["out"]) / job["name"]
    result: dict[str, Any] = {"host": platform.node(), "run": str(path), "error": None,
                              "traceback": None}  # clears a failed attempt's
    try:
        while True:
            try:
                _train_or_resume(job, path)
                break
            except FileExistsError as e:
                if "in use by another process" not in str(e):
                    raise
                _wait_for_lock(path / ".lock")
        result["state"] = "done"
    except Exception as e:  # recorded in the manifest; the other trials go on
        result["state"] = "failed"
        result["error"] = f"{type(e).__name__}: {e}"
        result["traceback"] = traceback.format_exc(limit=8)
    result["wall_s"] = round(time.perf_counter() - start, 3)
    return result


def _train_or_resume(job: dict[str, Any], path: Path) -> None:
    from rlgen import train as T

    p = job["params"]
    if (path / "summary.json").exists():
        return
    if (path / "config.toml").exists():
        T.resume(path, progress=False)
        return
    T.train(T.TrainRequest(
        agent=p["agent"], env=p["env"], steps=p["steps"], seed=int(p["seed"]),
        device=p["device"], name=job["name"], runs_root=job["out"],
        overrides=p["overrides"], env_options=p["env_options"], dataset=job["dataset"],
        evaluate=bool(p["evaluate"]), episodes=int(p["episodes"]),
        splits=tuple(p["splits"]), progress=False))


def _wait_for_lock(lock: Path) -> None:
    import fcntl
    import os

    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks until the other process ends
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _lost(i: int, error: BaseException) -> dict[str, Any]:
    """A trial whose job the engine lost (worker killed, time limit): failed, the rest go on."""
    return {"state": "failed", "error": f"{type(error).__name__}: {str(error)[:500]}",
            "host": None, "wall_s": None}


@dataclass
class SweepResult:
    out: Path
    trials: list[Trial]
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: int = 0

    def count(self, state: str) -> int:
        return sum(self.states[t.name]["state"] == state for t in self.trials)

    def failed(self) -> dict[str, str | None]:
        return {t.name: self.states[t.name].get("error") for t in self.trials
                if self.states[t.name]["state"] == "failed"}

    def done_runs(self) -> list[Path]:
        return [Path(self.states[t.name]["run"]) for t in self.trials
                if self.states[t.name]["state"] == "done"]


class Manifest:
    def __init__(self, out: Path, sweep: Sweep):
        self.path = out / "manifest.json"
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.trials: dict[str, dict[str, Any]] = data.get("trials", {})
        self.header = {"sweep": str(sweep.path.resolve()), "name": sweep.name,
                       "variant": sweep.variant}

    def update(self, name: str, **fields: Any) -> None:
        self.trials.setdefault(name, {}).update(fields, updated=time.time())
        self.save()

    def save(self) -> None:
        write_json(self.path, {**self.header, "trials": self.trials})


def _datasets(trials: list[Trial], sweep: Sweep, progress: bool) -> dict[str, str | None]:
    """Dataset folder per trial; each recipe is built (or found in the cache) once, here."""
    from rlgen.data import recipes
    from rlgen.sweep.spec import trial_recipe

    built: dict[str, str] = {}
    out: dict[str, str | None] = {}
    for t in trials:
        try:
            recipe = trial_recipe(t.params, sweep.path)
        except ValueError as e:
            raise ValueError(f"trial {t.name}: {e}") from e
        if recipe is None:
            out[t.name] = t.params.get("dataset")
            continue
        ref = recipe.name  # recipe options give the recipe a name (and cache folder) of its own
        if ref not in built:
            paths = recipes.build(recipe, progress=progress)
            if len(paths) != 1:
                raise ValueError(f"recipe {recipe.name} makes {len(paths)} datasets: a sweep trial "
                                 "needs one (sweep its variants as an axis instead)")
            built[ref] = str(paths[0])
        out[t.name] = built[ref]
    return out



def _identity(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that define a trial's result (JSON-normalised): a rerun with other
    resources is the same trial."""
    return {k: v for k, v in json.loads(json.dumps(params, default=str)).items()
            if k not in SCHEDULING_KEYS}


def run_sweep(sweep: Sweep, out: str | Path, backend: str = "local",
              options: BackendOptions | int | None = None, retry_failed: bool = False,
              progress: bool = True) -> SweepResult:
    """Run the sweep's unfinished trials on `backend` (a name in rlgen.registry.BACKENDS);
    `options` are its settings (an int: that many workers)."""
    if not isinstance(options, BackendOptions):
        options = BackendOptions(workers=options or 1)
    from rlgen.registry import BACKENDS, lookup

    backend_cls = lookup("backend", backend, BACKENDS)  # a bad name fails before any file
    out = Path(out)
    trials = expand(sweep)
    needs = {t.name: Resources.parse(t.params.get("resources"), f"resources of trial {t.name}")
             for t in trials}
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out, sweep)
    for t in trials:
        old = manifest.trials.get(t.name)
        if old is not None and _identity(old.get("params", {})) != _identity(t.params):
            raise ValueError(f"trial {t.name} in {manifest.path} was run with other parameters; "
                             "use another --out for the changed sweep")
    result = SweepResult(out, trials, manifest.trials)
    todo = []
    for t in trials:
        state = manifest.trials.get(t.name, {}).get("state", "pending")
        if state == "done" and Path(manifest.trials[t.name]["run"]).exists():
            result.skipped += 1
        elif state == "failed" and not retry_failed:
            result.skipped += 1
        else:
            todo.append(t)
            entry = manifest.trials.setdefault(t.name, {"attempts": 0})
            entry.update(state="pending", params=t.params)
    manifest.header["backend"] = backend
    manifest.save()
    datasets = _datasets(todo, sweep, progress)
    jobs = [{"name": t.name, "params": t.params, "out": str(out.resolve()),
             "dataset": datasets[t.name]} for t in todo]
    bar = _bar(len(trials), result.skipped, progress)

    def started(i: int) -> None:
        name = todo[i].name
        manifest.update(name, state="running", attempts=manifest.trials[name]["attempts"] + 1,
                        started=time.time(), backend=backend)
        _postfix(bar, result)

    try:
        with backend_cls(options) as runner:
            for i, res in runner.imap(run_trial, jobs, [needs[t.name] for t in todo],
                                      on_start=started, on_lost=_lost):
                manifest.update(todo[i].name, **res)
                if bar is not None:
                    bar.update(1)
                _postfix(bar, result)
    finally:
        if bar is not None:
            bar.close()
    return result


def _bar(total: int, initial: int, progress: bool):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="trial", desc="sweep")


def _postfix(bar, result: SweepResult) -> None:
    if bar is not None:
        bar.set_postfix(done=result.count("done"), running=result.count("running"),
                        failed=result.count("failed"), refresh=True)
