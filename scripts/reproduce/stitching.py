"""Goal stitching (Ghugare et al. 2024): RvS and DT, each with and without temporal augmentation,
and GCIQL, on region datasets of the point mazes; writes a success table (train vs held-out pairs).

    python scripts/reproduce/stitching.py --variant cpu   # ~30 min on a 2-core CPU
    python scripts/reproduce/stitching.py --variant paper # 1M transitions, 1M updates, 2x1024 MLP (GPU)

Datasets are built once under --data (recipes datasets/maze-<maze>-regions.toml).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from rlgen.config import parse_count

METHODS = {
    "RvS": ("rvs", {}),
    "RvS + aug": ("rvs", {"temporal_augmentation": True, "augmentation_epsilon": 0.5}),
    "DT": ("gcdt", {}),
    "DT + aug": ("gcdt", {"temporal_augmentation": True, "augmentation_epsilon": 0.5}),
    "GCIQL": ("gciql", {}),
}

VARIANTS = {
    # CPU: small nets and budgets; numbers are indicative only.
    # GCIQL as in scripts/reproduce/maze_onestitch_effects.py (2x256, lr 1e-3, target tau 0.02).
    "cpu": {"transitions": "200k", "episodes": 20,
            "tasks": ["pointmaze-umaze", "pointmaze-medium", "pointmaze-large"],
            "steps": {"rvs": 5000, "gcdt": 1500, "gciql": 20000},
            "overrides": {"rvs": {"hidden": [256, 256]},
                          "gcdt": {"batch_size": 64, "dropout": 0.0, "lr": 3e-4},
                          "gciql": {"hidden": [256, 256], "batch_size": 256, "lr": 1e-3,
                                    "target_tau": 0.02}}},
    # Paper: 1M transitions, 1M updates, RvS 2x1024 MLP, DT 3x128 context 5, 10 episodes per pair.
    "paper": {"transitions": "1M", "episodes": 100,
              "tasks": ["pointmaze-umaze", "pointmaze-medium", "pointmaze-large"],
              "steps": {"rvs": 1_000_000, "gcdt": 1_000_000, "gciql": 1_000_000},
              "overrides": {"rvs": {}, "gcdt": {}, "gciql": {}}},
}


def region_recipe(task: str) -> Path:
    maze = task.removeprefix("pointmaze-")
    path = Path(__file__).resolve().parents[2] / "datasets" / f"maze-{maze}-regions.toml"
    if not path.exists():
        raise SystemExit(f"rlgen: error: {task} has no region recipe ({path.name}); this script runs "
                         "the paper's mazes (umaze, medium, large); one-stitch layouts: "
                         "scripts/reproduce/maze_onestitch_effects.py")
    return path


def build_dataset(task: str, data_root: Path, transitions: str) -> Path:
    import dataclasses

    from rlgen.data.recipes import build, load_recipe

    maze = task.removeprefix("pointmaze-")
    recipe = load_recipe(region_recipe(task))
    recipe = dataclasses.replace(recipe, transitions=parse_count(transitions))
    return build(recipe, out=data_root / f"maze-{maze}-regions-{transitions}")[0]


def per_pair(run: Path) -> dict[str, dict[str, float]]:
    out: dict[str, list] = defaultdict(list)
    for line in (run / "episodes.jsonl").read_text().splitlines():
        r = json.loads(line)
        out[f"{r['split']}:{r['level']}"].append(r["success"])
    return {k: sum(v) / len(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    from rlgen.registry import make_env_spec
    from rlgen.train import TrainRequest, train

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", choices=list(VARIANTS), default="cpu")
    p.add_argument("--tasks", help="comma list of maze tasks (default: the variant's)")
    p.add_argument("--methods", default=",".join(METHODS), help="comma list of " + ", ".join(METHODS))
    p.add_argument("--seeds", default="0")
    p.add_argument("--data", default="data/maze")
    p.add_argument("--out", default="runs/stitching")
    p.add_argument("--device", default="auto")
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply every update budget")
    p.add_argument("--transitions", help="dataset size per maze (default: the variant's)")
    p.add_argument("--episodes", type=int, help="evaluation episodes per split (default: the variant's)")
    args = p.parse_args(argv)
    v = dict(VARIANTS[args.variant])
    v["transitions"] = args.transitions or v["transitions"]
    v["episodes"] = args.episodes or v["episodes"]
    tasks = args.tasks.split(",") if args.tasks else v["tasks"]
    methods = args.methods.split(",")
    for m in methods:
        if m not in METHODS:
            raise SystemExit(f"rlgen: error: unknown method {m!r}; known: {', '.join(METHODS)}")
    for task in tasks:  # before any run starts
        region_recipe(task)
    out = Path(args.out) / args.variant
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for task in tasks:
        data = build_dataset(task, Path(args.data), v["transitions"])
        spec_splits = ["train", "test"] + (["ogbench"] if "ogbench" in
                                           make_env_spec(f"maze:{task}").splits else [])
        for method in methods:
            agent, extra = METHODS[method]
            for seed in [int(s) for s in args.seeds.split(",")]:
                name = f"{task}-{method.replace(' + ', '-').replace(' ', '')}-s{seed}-{int(time.time())}"
                steps = max(1, int(v["steps"][agent] * args.steps_scale))
                began = time.perf_counter()
                run = train(TrainRequest(
                    agent=agent, env=f"maze:{task}", steps=steps, seed=seed, device=args.device,
                    name=name, runs_root=str(out / "runs"), dataset=str(data),
                    overrides={**v["overrides"][agent], **extra}, episodes=v["episodes"],
                    splits=tuple(spec_splits), progress=False))
                summary = run.read_summary()
                row = {"task": task, "method": method, "seed": seed, "steps": steps,
                       "seconds": round(time.perf_counter() - began, 1), "run": str(run.path),
                       **{f"{s}_success": summary["splits"][s]["success_rate"] for s in spec_splits},
                       "per_pair": per_pair(run.path)}
                rows.append(row)
                print(json.dumps({k: x for k, x in row.items() if k != "per_pair"}), flush=True)
                (out / "results.json").write_text(json.dumps(rows, indent=2))
    table = ["| maze | method | seeds | updates | train-pair success | held-out (test) success | OGBench tasks |",
             "|---|---|---|---|---|---|---|"]
    grouped: dict[tuple, list] = defaultdict(list)
    for r in rows:
        grouped[(r["task"], r["method"])].append(r)
    for (task, method), rs in grouped.items():
        def mean(key, rs=rs):
            vals = [r[key] for r in rs if key in r]
            return f"{sum(vals) / len(vals):.2f}" if vals else "–"
        table.append(f"| {task} | {method} | {len(rs)} | {rs[0]['steps']} | {mean('train_success')} | "
                     f"{mean('test_success')} | {mean('ogbench_success')} |")
    (out / "table.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
