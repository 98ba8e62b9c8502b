"""`rlgen report SWEEP_OUT`: a sweep's trials grouped by the sweep's axes.

The manifest a sweep writes (rlgen.sweep.run) records every trial's parameters and state. Trials
that differ only in `seed` (and `env`, the task) form a group; the group's per-run scores form
rliable's (seeds × tasks) matrix. The columns shown for a group are the fewest of the sweep
file's axes (then its [[trials]] keys) that tell the groups apart; settings that follow from
them (a [[when]] rule's batch size for DT) do not get columns of their own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.eval import report as R
from rlgen.eval import stats
from rlgen.eval.tables import Table

SEED, TASK = "seed", "env"
#: where a trial ran, not what it computed (rlgen.sweep.spec's scheduling keys): never a group
SCHEDULING = ("resources.", "device")


@dataclass
class SweepTrial:
    name: str
    params: dict[str, Any]
    state: str
    entry: dict[str, Any]              # the manifest's record: host, wall_s, error, run ...
    summary: dict[str, Any] | None     # None unless done and evaluated with current statistics
    run: Path


@dataclass
class SweepData:
    out: Path
    name: str
    variant: str | None
    sweep_path: Path | None
    sweep_text: str | None
    declared: list[str]                # axis keys, then [[trials]] keys, from the sweep file
    trials: list[SweepTrial]
    problems: list[str] = field(default_factory=list)


def is_sweep_dir(path: str | Path) -> bool:
    return (Path(path) / "manifest.json").is_file()


def _flat(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, dict):  # an empty table adds no key: `{}` and absent are the same
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def load_sweep_dir(out: str | Path) -> SweepData:
    """A sweep's output folder: its manifest, its trials' summaries and the sweep file."""
    from rlgen.sweep.spec import expand, load_sweep

    out = Path(out)
    manifest = json.loads((out / "manifest.json").read_text())
    problems: list[str] = []
    sweep_path = Path(manifest["sweep"]) if manifest.get("sweep") else None
    text, declared = None, []
    if sweep_path is not None and sweep_path.exists():
        text = sweep_path.read_text()
        try:
            sweep = load_sweep(sweep_path, manifest.get("variant"))
            if {t.name for t in expand(sweep)} != set(manifest.get("trials", {})):
                problems.append(f"sweep file {sweep_path} now expands to other trials than the "
                                "manifest holds (edited since they ran?); the report shows the file as it is now")
            bundles = sweep.bundle_axes()
            declared = [f"labels.{k}" if k in bundles else k for k in sweep.axes] + \
                [k for entry in sweep.trials for k in _flat(entry)]
        except (ValueError, FileNotFoundError) as e:  # edited since: group by what varies
            problems.append(f"sweep file {sweep_path} no longer loads ({e}); grouping by the "
                            "parameters that vary between trials")
    else:
        problems.append(f"sweep file {sweep_path} is not here: the report leaves it out and "
                        "groups by the parameters that vary between trials")
    trials = []
    for name, entry in manifest.get("trials", {}).items():
        # the trial's folder in this sweep folder (which may have been moved or copied), else
        # where the manifest says it ran
        run = out / name if (out / name).exists() or not entry.get("run") else Path(entry["run"])
        summary = None
        if entry.get("state") == "done":
            loaded = R.load_summaries([run])
            problems += loaded.problems
            summary = loaded.summaries[0] if loaded.summaries else None
        trials.append(SweepTrial(name, entry.get("params", {}), entry.get("state", "pending"),
                                 entry, summary, run))
    return SweepData(out, manifest.get("name") or out.name, manifest.get("variant"), sweep_path,
                     text, list(dict.fromkeys(declared)), trials, problems)


@dataclass
class Group:
    values: dict[str, Any]             # the display keys' values
    trials: list[SweepTrial]

    @property
    def label(self) -> str:
        return " / ".join(str(v) for v in self.values.values()) or "all trials"


@dataclass
class Grouping:
    keys: list[str]                    # display columns
    tasks: list[str]                   # envs
    groups: list[Group]
    varying: list[str]                 # every parameter that differs between trials

    @property
    def multi_task(self) -> bool:
        """Some group spans several envs (else each group's one task is its env)."""
        return any(len({t.params.get(TASK) for t in g.trials}) > 1 for g in self.groups)


def group_trials(data: SweepData) -> Grouping:
    flats = [_flat(t.params) for t in data.trials]
    every = list(dict.fromkeys(k for f in flats for k in f))
    varying = [k for k in every if len({_key(f.get(k)) for f in flats}) > 1]
    if data.declared:  # the sweep's own axes; what [[when]] rules or ${seed} derive follows them
        split_by = [k for k in data.declared if k in varying and k not in (SEED, TASK)]
    else:
        split_by = [k for k in varying if k not in (SEED, TASK) and not k.startswith(SCHEDULING)
                    and not _follows_seed(k, flats)]
    parts: dict[str, list[int]] = {}
    for i, f in enumerate(flats):
        parts.setdefault(_key([f.get(k) for k in split_by]), []).append(i)
    # fewest display keys, in the file's order, that tell the groups apart
    preferred = [k for k in data.declared if k in split_by] + \
        [k for k in split_by if k not in data.declared]
    def distinct(ks: list[str]) -> int:
        return len({_key([flats[idx[0]].get(j) for j in ks]) for idx in parts.values()})

    keys: list[str] = []
    for k in preferred:
        if distinct(keys) == len(parts):
            break
        if distinct(keys + [k]) > distinct(keys):
            keys.append(k)
    groups = [Group({k: flats[idx[0]].get(k) for k in keys}, [data.trials[i] for i in idx])
              for idx in parts.values()]
    tasks = list(dict.fromkeys(str(f.get(TASK)) for f in flats))
    return Grouping(keys, tasks, groups, varying)


def _follows_seed(key: str, flats: list[dict[str, Any]]) -> bool:
    """A key whose value is one per seed and changes with it (a per-seed dataset): not a group."""
    by_seed: dict[str, set[str]] = {}
    for f in flats:
        by_seed.setdefault(_key(f.get(SEED)), set()).add(_key(f.get(key)))
    per_seed = [len(v) for v in by_seed.values()]
    repeated = len(flats) > len(by_seed)  # else any key would look like it follows the seed
    return repeated and max(per_seed) == 1 and len({_key(f.get(key)) for f in flats}) == len(by_seed)


def _matrix(group: Group, split: str, metric: str = "normalized_mean") -> np.ndarray | None:
    """(seeds × tasks) scores of the group's evaluated trials; None when some task has a
    different number of evaluated seeds (rliable needs a full matrix)."""
    per_task: dict[str, list[float]] = {}
    for t in sorted(group.trials, key=lambda t: _key(t.params.get(SEED))):
        if t.summary is None:
            continue
        if metric == "gap":
            gap = t.summary.get("generalization_gap")
            value = gap["value"] if gap else None
        else:
            value = t.summary["splits"].get(split, {}).get(metric)
        if value is not None:
            per_task.setdefault(str(t.params.get(TASK)), []).append(float(value))
    if not per_task or len({len(v) for v in per_task.values()}) != 1:
        return None
    return np.array(list(per_task.values())).T


def _title(key: str) -> str:
    return key.removeprefix("labels.")  # a bundle axis is shown by its name


def _fmt(value: float, ci: Sequence[float]) -> str:
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _splits(data: SweepData) -> list[str]:
    return R._splits([t.summary for t in data.trials if t.summary is not None])


def group_table(data: SweepData, grouping: Grouping, seed: int = 0) -> Table:
    splits = _splits(data)
    if grouping.multi_task:
        tasks = f"{len(grouping.tasks)} tasks: {', '.join(grouping.tasks)}"
    else:
        tasks = "1 task: " + (grouping.tasks[0] if len(grouping.tasks) == 1 else "the group's env")
    head = [_title(k) for k in grouping.keys] + ["runs (seeds × tasks)"]
    head += [f"{k}: IQM [95% CI]" for k in splits]
    has_gap = any(t.summary and t.summary.get("generalization_gap") for t in data.trials)
    success = [k for k in splits if any("success_rate" in t.summary["splits"].get(k, {})
                                        for t in data.trials if t.summary)]
    if has_gap:
        head.append("gap train − test: IQM [95% CI]")
    head += [f"{k} success: mean [95% CI]" for k in success]
    rows = []
    for g in grouping.groups:
        cells = [str(v) for v in g.values.values()]
        m = _matrix(g, splits[0]) if splits else None
        done = sum(t.summary is not None for t in g.trials)
        shape = f"{m.shape[0]} × {m.shape[1]}" if m is not None else "–"
        cells.append(shape + (f" ({done} of {len(g.trials)} trials)" if done < len(g.trials) else ""))
        for k in splits:
            m = _matrix(g, k)
            cells.append(_fmt(*stats.iqm_with_ci(m, seed)) if m is not None else "–")
        if has_gap:
            m = _matrix(g, "", "gap")
            cells.append(_fmt(*stats.iqm_with_ci(m, seed)) if m is not None else "–")
        for k in success:
            m = _matrix(g, k, "success_rate")
            cells.append(_fmt(*stats.mean_with_ci(m, seed)) if m is not None else "–")
        rows.append(cells)
    caption = (
        f"Per group (the trials that differ only in seed{' and env' if grouping.multi_task else ''}): "
        f"each run's score on a split is its mean normalized return over that split's evaluation "
        f"episodes; the group's scores form a seeds × tasks matrix ({tasks}), aggregated by the "
        f"interquartile mean (IQM) with rliable's "
        f"stratified-bootstrap 95% CI over seeds ({stats.REPS} reps; with fewer than 4 runs per task "
        "the IQM trims nothing and equals the mean; one run: no interval). The gap is each run's "
        "train mean − test mean, aggregated the same way; success rates (where the env defines "
        "success) by their mean. The CIs cover seed variance, not the choice of evaluation levels.")
    return Table(head, rows, caption, [f"group-{i}" for i in range(len(rows))])


def poi_split(data: SweepData) -> str | None:
    splits = _splits(data)
    return "test" if "test" in splits else (splits[-1] if splits else None)


def improvement_table(data: SweepData, grouping: Grouping, seed: int = 0) -> Table | None:
    """P(X > Y) on the test split for every pair of groups that differ in exactly one of the
    display keys (the other pairs mix two effects); None when there is no such pair."""
    split = poi_split(data)
    if split is None:
        return None
    rows = []
    for gx, gy in combinations(grouping.groups, 2):
        differ = [k for k in grouping.keys if _key(gx.values[k]) != _key(gy.values[k])]
        if len(differ) != 1:
            continue
        x, y = _matrix(gx, split), _matrix(gy, split)
        if x is None or y is None or x.shape[1] != y.shape[1]:
            continue
        same = ", ".join(f"{_title(k)}={gx.values[k]}" for k in grouping.keys if k not in differ) or "–"
        value, ci = stats.probability_of_improvement(x, y, seed)
        rows.append([_title(differ[0]), same, str(gx.values[differ[0]]), str(gy.values[differ[0]]),
                     _fmt(value, ci), f"{x.shape[0]} × {y.shape[0]}"])
    if not rows:
        return None
    order = [_title(k) for k in grouping.keys]  # one axis's comparisons together
    rows.sort(key=lambda r: order.index(r[0]))
    caption = (f"Probability of improvement on the {split} split (rliable): the chance that a "
               "random run of X scores above a random run of Y on a task (ties count ½), averaged "
               "over tasks, for each pair of groups that differ in one setting only; 95% CI by "
               "stratified bootstrap over both groups' seeds.")
    return Table(["differs in", "same", "X", "Y", "P(X > Y) [95% CI]", "runs X × Y"], rows, caption)


def trial_table(data: SweepData, grouping: Grouping) -> Table:
    """Every trial of the manifest, whatever its state."""
    splits = _splits(data)
    show_task = len(grouping.tasks) > 1
    head = ["trial", "state"] + [_title(k) for k in grouping.keys] + ([TASK] if show_task else []) + [SEED]
    head += [f"{k}: mean [95% CI]" for k in splits] + ["gap train − test [95% CI]", "wall s", "host", "note"]
    rows, ids, classes = [], [], []
    for t in data.trials:
        flat = _flat(t.params)
        cells = [t.name, t.state] + [str(flat.get(k)) for k in grouping.keys]
        cells += ([str(flat.get(TASK))] if show_task else []) + [str(flat.get(SEED))]
        sp = t.summary["splits"] if t.summary else {}
        cells += [_fmt(sp[k]["normalized_mean"], sp[k]["normalized_mean_ci"]) if k in sp else "–"
                  for k in splits]
        gap = t.summary.get("generalization_gap") if t.summary else None
        cells.append(_fmt(gap["value"], gap["ci"]) if gap else "–")
        wall = t.entry.get("wall_s")
        cells += [f"{wall:.1f}" if isinstance(wall, int | float) else "–", str(t.entry.get("host") or "–")]
        note = t.entry.get("error") or ("" if t.state != "done" or t.summary else "not evaluated")
        cells.append(str(note).splitlines()[0][:200] if note else "")
        rows.append(cells)
        ids.append(t.name)
        classes.append(t.state)
    caption = ("Every trial in the manifest. Per run: mean normalized return over the split's "
               f"evaluation episodes, 95% CI from resampling the split's levels ({stats.REPS} reps); "
               "gap = train mean − test mean.")
    return Table(head, rows, caption, ids, classes)


@dataclass
class SweepReport:
    data: SweepData
    grouping: Grouping
    tables: list[tuple[str, Table]]    # (title, table) in page order
    plots: list[tuple[str, Path]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.data.trials:
            out[t.state] = out.get(t.state, 0) + 1
        return out

    def headline(self) -> str:
        d = self.data
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items())
        return (f"Sweep {d.name}" + (f" (variant {d.variant})" if d.variant else "") +
                f": {len(d.trials)} trials ({counts}) in {d.out}; grouped by "
                f"{', '.join(map(_title, self.grouping.keys)) or 'nothing (one group)'}, over seeds"
                + (" × tasks (env)" if self.grouping.multi_task else "") + ".")

    def markdown(self) -> str:
        parts = [self.headline()]
        for title, table in self.tables:
            parts += ["", f"### {title}", "", table.caption, "", table.markdown()]
        return "\n".join(parts)


def build(data: SweepData, seed: int = 0) -> SweepReport:
    grouping = group_trials(data)
    tables = [("Groups", group_table(data, grouping, seed))]
    poi = improvement_table(data, grouping, seed)
    if poi is not None:
        tables.append(("Probability of improvement", poi))
    tables.append(("Trials", trial_table(data, grouping)))
    return SweepReport(data, grouping, tables)


def write_plots(rep: SweepReport, base: str | Path, seed: int = 0) -> list[tuple[str, Path]]:
    """Group bars (IQM per split with CIs), performance profiles, per-trial bars: BASE-groups.png,
    BASE-profile.png, BASE.png. Returns (caption, path) for each plot written."""
    base = Path(base)
    stem = base.with_suffix("")
    done = [t for t in rep.data.trials if t.summary is not None]
    if not done:
        return []
    out = []
    splits = _splits(rep.data)
    iqms = {}
    for g in rep.grouping.groups:
        for k in splits:
            m = _matrix(g, k)
            if m is not None:
                iqms[g.label, k] = stats.iqm_with_ci(m, seed)
    if iqms:
        path = R.group_plot([g.label for g in rep.grouping.groups], splits, iqms,
                            stem.with_name(stem.name + "-groups.png"))
        out.append(("IQM per group and split, 95% stratified-bootstrap CI over seeds", path))
    panels = []
    for k in [s for s in ("train", "test") if s in splits]:
        scores = {g.label: m for g in rep.grouping.groups if (m := _matrix(g, k)) is not None}
        if scores:
            panels.append((f"{k} levels", scores))
    if panels:
        path = R.profile_panels(panels, stem.with_name(stem.name + "-profile.png"), seed)
        out.append(("Performance profiles (rliable): fraction of runs × tasks scoring above τ, "
                    "95% bands over seeds", path))
    if any({"train", "test"} <= set(t.summary["splits"]) for t in done):
        label = {t.name: f"{g.label} s{t.params.get(SEED)}" for g in rep.grouping.groups for t in g.trials}
        path = R.plot([t.summary for t in done], base.with_suffix(".png"),
                      labels=[label[t.name] for t in done])
        out.append(("Per trial: train and test mean normalized return, level-bootstrap 95% CIs",
                    path))
    rep.plots = out
    return out
