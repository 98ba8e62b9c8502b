"""`rlgen meta-test RUN`: fresh agents trained with the discovered objective and with the
baselines (PPO's clipped surrogate, DPO, optionally another saved objective) on every held-out
(env, horizon) pair of the run's meta split, several seeds each, scored on test levels.

Results go to `RUN/meta-test/results.jsonl` one lifetime per line as it finishes (an interrupted
meta-test resumes where it stopped), then `table.md` and `horizons.png`. Statistics: per method,
IQM and mean over seeds × held-out pairs with rliable's stratified bootstrap (95%), and the
probability that the discovered objective improves on PPO (rliable, averaged over pairs)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.exec import BackendOptions, make_backend
from rlgen.meta.lifetime import Lifetime, ppo_batch, run_lifetimes, run_sequentially
from rlgen.meta.splits import MetaSplit
from rlgen.runs import RunDir

BASELINES = {"ppo": "clip", "dpo": "dpo"}


def meta_test(path: str | Path, baselines: Sequence[str] = ("ppo", "dpo"),
              extra: dict[str, str] | None = None, seeds: int | None = None,
              eval_episodes: int | None = None, backend: str = "local",
              workers: int | BackendOptions = 1, progress: bool = True,
              split: str | None = None) -> dict[str, Any]:
    """`extra` maps a label to another saved objective file (e.g. {"lpo": "runs/lpo/objective.pt"}).
    `split` (a sweeps/<name>.toml with `[meta_test]`, or its path) replaces the run's own
    meta-test split; its results go to `RUN/meta-test-<name>/` instead of `RUN/meta-test/`."""
    from tqdm.auto import tqdm

    run = RunDir.open(path)
    cfg = run.read_config()
    if cfg.get("kind") != "meta-train":
        raise ValueError(f"{path} is not a meta-training run")
    discovered = run.path / "objective.pt"
    if not discovered.exists():
        raise FileNotFoundError(f"{discovered} not found: the run has finished no generation yet")
    if split is None:
        meta_split, out = MetaSplit.from_dict(cfg["meta_split"]), run.path / "meta-test"
    else:
        from rlgen.meta.splits import load_meta_split

        meta_split = load_meta_split(split, cfg["envs"], int(cfg["horizon"]))
        out = run.path / f"meta-test-{meta_split.name}"
    methods = {cfg["objective"]: str(discovered)}
    for b in baselines:
        if b not in BASELINES:
            from rlgen.errors import UnknownNameError

            raise UnknownNameError("meta-test baseline", b, list(BASELINES))
        methods[b] = BASELINES[b]
    for label, file in (extra or {}).items():
        if label in methods:
            raise ValueError(f"--extra label {label!r} is already a method of this meta-test "
                             f"({', '.join(methods)}); pick another")
        _check_objective_file(file)
        methods[label] = file
    check_horizons(cfg, meta_split)
    seeds = meta_split.seeds if seeds is None else seeds
    episodes = meta_split.eval_episodes if eval_episodes is None else eval_episodes
    out.mkdir(exist_ok=True)
    results_path = out / "results.jsonl"
    done = _read(results_path)
    todo = [(m, env, h, s) for (env, h) in meta_split.test for m in methods for s in range(seeds)
            if (m, env, h, s) not in done]
    groups: dict[tuple, list[int]] = {}
    for method, env, horizon, seed in todo:
        groups.setdefault((method, env, horizon), []).append(seed)
    options = workers if isinstance(workers, BackendOptions) else BackendOptions(workers=workers)
    bar = tqdm(total=len(todo), unit="lifetime", desc="meta-test", disable=not progress)
    # the seeds of one (method, env, horizon) train together (one population, unless the run
    # trains lifetimes one by one); each group's results reach the disk before the next starts
    with make_backend(backend, options) as runner:
        _run_groups(runner, groups, methods, cfg, meta_split, episodes, results_path, done, bar)
    bar.close()
    report = summarize(done, meta_split, list(methods), cfg["objective"], int(cfg["horizon"]))
    (out / "table.md").write_text(report["table"] + "\n")
    plot_horizons(report, out / "horizons.png")
    from rlgen.meta.plots import plot_drift

    plot_drift(discovered, out / "drift.png", title=f"discovered {cfg['objective']}")
    report["files"] = [str(out / f) for f in ("table.md", "horizons.png", "drift.png")] + [str(results_path)]
    return report


def _check_objective_file(file: str) -> None:
    """A saved objective must load before any lifetime trains (not an hour into the run)."""
    import torch

    from rlgen.agents.objectives import build_objective

    if not Path(file).exists():
        raise FileNotFoundError(f"objective file {file} does not exist")
    build_objective(file, {}, {}, torch.device("cpu"))


def check_horizons(cfg: dict[str, Any], meta_split: MetaSplit) -> None:
    """A held-out horizon below one PPO batch would train one full batch anyway, so its point on
    the horizon curve would be mislabelled."""
    for env, horizon in meta_split.test:
        n, t = ppo_batch(env, lifetime_overrides(cfg, meta_split, env))
        if horizon < n * t:
            raise ValueError(f"held-out pair ({env}, {horizon}) has a horizon smaller than one PPO "
                             f"batch ({n} envs x {t} steps = {n * t}); "
                             f"raise the meta-train horizon, lower that env's batch in the split's "
                             f"[meta_test.overrides] or use another meta split than {meta_split.name!r}")


def lifetime_overrides(cfg: dict[str, Any], meta_split: MetaSplit, env: str) -> dict[str, Any]:
    """Agent config of a held-out env's lifetimes: the meta-training run's inner-PPO overrides
    where the env is of a meta-train env's family (they were chosen for that family: a MinAtar
    batch and lr say nothing about Procgen), then the split's own overrides for the env."""
    train_families = {e.split(":")[0] for e in cfg["envs"]}
    base = cfg.get("overrides", {}) if env.split(":")[0] in train_families else {}
    return {**base, **meta_split.overrides.get(env, {})}


def _run_groups(runner, groups, methods, cfg, meta_split, episodes, results_path, done, bar) -> None:
    for (method, env, horizon), group_seeds in groups.items():
        lives = [Lifetime(env=env, horizon=horizon, seed=10_000 + s, objective=methods[method],
                          overrides=lifetime_overrides(cfg, meta_split, env),
                          eval_episodes=episodes, device=str(cfg.get("device", "cpu")))
                 for s in group_seeds]
        train = run_lifetimes if cfg.get("batched", True) else run_sequentially
        scores = [x for chunk in runner.map(train, [lives]) for x in chunk]
        with open(results_path, "a") as f:
            for seed, score in zip(group_seeds, scores, strict=True):
                f.write(json.dumps({"method": method, "env": env, "horizon": horizon, "seed": seed,
                                    "score": score}) + "\n")
                done[(method, env, horizon, seed)] = score
        bar.update(len(group_seeds))


def _read(path: Path) -> dict[tuple, float]:
    done: dict[tuple, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:  # a line torn by an interruption: rerun that lifetime
                continue
            done[(r["method"], r["env"], int(r["horizon"]), int(r["seed"]))] = float(r["score"])
    return done


def _matrix(done, method: str, pairs, seeds: int) -> np.ndarray:
    """(seeds × pairs) normalized scores of one method."""
    return np.array([[done[(method, env, h, s)] for env, h in pairs] for s in range(seeds)])


def summarize(done: dict[tuple, float], split: MetaSplit, methods: list[str], discovered: str,
              horizon: int) -> dict[str, Any]:
    from rlgen.eval import stats

    pairs = list(split.test)
    seeds = 1 + max(s for (_, _, _, s) in done)
    mats = {m: _matrix(done, m, pairs, seeds) for m in methods}
    iqm = {m: stats.iqm_with_ci(mats[m]) for m in methods}
    mean = {m: stats.mean_with_ci(mats[m]) for m in methods}
    rows = ["| method | IQM [95% CI] | mean [95% CI] |", "|---|---|---|"]
    for m in methods:
        rows.append(f"| {m} | {iqm[m][0]:.3f} [{iqm[m][1][0]:.3f}, {iqm[m][1][1]:.3f}] | "
                    f"{mean[m][0]:.3f} [{mean[m][1][0]:.3f}, {mean[m][1][1]:.3f}] |")
    note = (f"Normalized return on test levels after training; IQM and mean over {seeds} seeds x "
            f"{len(pairs)} held-out (env, horizon) pairs, stratified bootstrap over seeds.")
    table = "\n".join([note, "", *rows])
    poi = None
    if "ppo" in mats and discovered in mats:
        poi = stats.probability_of_improvement(mats[discovered], mats["ppo"])
        table += (f"\n\nP({discovered} > ppo), averaged over held-out pairs: {poi[0]:.3f} "
                  f"[{poi[1][0]:.3f}, {poi[1][1]:.3f}]")
    # per held-out pair: which envs and horizons an aggregate hides
    per_pair = ["| env | horizon | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for j, (env, h) in enumerate(pairs):
        cells = []
        for m in methods:
            value, (lo, hi) = stats.mean_with_ci(mats[m][:, [j]])
            cells.append(f"{value:.3f} [{lo:.3f}, {hi:.3f}]")
        per_pair.append(f"| {env} | {h:,} | " + " | ".join(cells) + " |")
    table += "\n\nMean per held-out pair [95% CI over seeds]:\n\n" + "\n".join(per_pair)
    # the horizon curve: per horizon multiple, the mean over seeds x that multiple's pairs
    curve: dict[str, dict[float, tuple[float, float, float]]] = {m: {} for m in methods}
    for m in methods:
        for mult in sorted({h / horizon for _, h in pairs}):
            cols = [j for j, (_, h) in enumerate(pairs) if h / horizon == mult]
            value, (lo, hi) = stats.mean_with_ci(mats[m][:, cols])
            curve[m][mult] = (value, lo, hi)
    return {"table": table, "iqm": {m: iqm[m][0] for m in methods},
            "mean": {m: mean[m][0] for m in methods},
            "poi_vs_ppo": None if poi is None else poi[0], "horizon_curve": curve,
            "pairs": len(pairs), "seeds": seeds}


def plot_horizons(report: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for method, points in report["horizon_curve"].items():
        xs = sorted(points)
        ys = np.array([points[x] for x in xs])
        ax.plot(xs, ys[:, 0], marker="o", label=method)
        ax.fill_between(xs, ys[:, 1], ys[:, 2], alpha=0.2)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training horizon / meta-train horizon")
    ax.set_ylabel("normalized test return (mean, 95% CI)")
    ax.set_title("held-out envs and horizons")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
