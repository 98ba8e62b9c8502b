"""Discovered temporally-aware objectives (Jackson et al., ICLR 2024): meta-train TA-LPO and LPO
drift networks by evolution strategies on MinAtar SpaceInvaders at one training horizon, then
meta-test them against PPO and DPO on held-out (game, horizon) pairs.

    python scripts/reproduce/talpo.py --variant cpu     # about two hours on a 2-core CPU
    python scripts/reproduce/talpo.py --variant paper --device cuda   # the references' sizes
    python scripts/reproduce/talpo.py --variant paper --device cuda --objectives talpo \
        --generations 1 --out runs/talpo-paper-timing     # time one paper-sized generation

Every stage is an ordinary rlgen run directory under --out and resumes where it stopped when
the script is run again (meta-training continues its ES state; meta-test skips finished
lifetimes). Equivalent commands: `rlgen meta-train ...`, `rlgen meta-test RUN --extra lpo=...`.

The CPU variant is tiny next to the paper (population 16, 20 generations, 64k-step lifetimes
of 16 envs x 32 steps instead of 1e7 steps of 64 x 128): it exercises the whole pipeline and
shows what such a budget discovers, not the paper's numbers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

VARIANTS = {
    # Lifetimes of 16 envs x 32 steps (128 PPO updates in 65k steps) instead of the [minatar]
    # preset's 64 x 128 (8 updates): at 65k steps the small batch learns SpaceInvaders (normalized
    # return 0.155 mean over 4 seeds against 0.021 for the preset, docs/results.md), and at this
    # per-agent batch the batched population is the fast path on a CPU (docs/benchmarks.md §7).
    "cpu": {"env": "minatar:space_invaders", "horizon": 65_536, "population": 16,
            "generations": 20, "meta_split": "meta-minatar-cpu", "batched": True,
            "overrides": {"num_envs": 16, "num_steps": 32, "minibatches": 4, "lr": 2e-3}},
    # Goldie et al.'s LPO settings (pop 64, sigma 0.03, lr 0.03, both x0.99 per generation) at
    # the TA-LPO paper's horizon (1e7 steps per lifetime); 300 generations as in the issue.
    "paper": {"env": "minatar:space_invaders", "horizon": 10_000_000, "population": 64,
              "generations": 300, "meta_split": "meta-minatar", "batched": True},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", choices=list(VARIANTS), default="cpu")
    p.add_argument("--out", default="runs/talpo-{variant}")
    p.add_argument("--objectives", default="talpo,lpo")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--device", default="cpu", help="where lifetimes train (cuda for --variant paper)")
    p.add_argument("--generations", type=int,
                   help="stop after this many ES generations (e.g. 1 to time one generation)")
    p.add_argument("--seeds", type=int, help="meta-test seeds per held-out pair (default: the split's); "
                   "a rerun with more adds seeds to the finished ones")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--bundle", action="store_true",
                   help="also copy each discovered objective into rlgen/objectives/ with a model card")
    args = p.parse_args()
    v = VARIANTS[args.variant]
    out = Path(args.out.format(variant=args.variant))

    from rlgen.meta.test import meta_test
    from rlgen.meta.train import MetaTrainRequest, meta_train, resume_meta_train

    runs = {}
    for objective in args.objectives.split(","):
        path = out / objective
        t0 = time.time()
        if (path / "config.toml").exists():
            runs[objective] = resume_meta_train(path, args.generations, progress=not args.quiet)
        else:
            runs[objective] = meta_train(MetaTrainRequest(
                objective=objective, envs=(v["env"],), horizon=v["horizon"],
                population=v["population"], generations=args.generations or v["generations"],
                overrides=dict(v.get("overrides", {})),
                out=str(path), meta_split=v["meta_split"], workers=args.workers, batched=v["batched"],
                device=args.device, progress=not args.quiet))
        print(f"meta-train {objective}: {runs[objective].path} ({time.time() - t0:.0f} s this call)")
        if args.generations:   # a timing run: no meta-test
            continue
    if args.generations:
        return
    first, *others = list(runs)
    extra = {o: str(runs[o].path / "objective.pt") for o in others}
    t0 = time.time()
    report = meta_test(runs[first].path, extra=extra, seeds=args.seeds, workers=args.workers,
                       progress=not args.quiet)
    print(f"meta-test ({time.time() - t0:.0f} s this call)")
    print(report["table"])
    print("files: " + ", ".join(report["files"]))
    if args.bundle:
        for objective, run in runs.items():
            print(f"bundled: {bundle(run.path, f'{objective}-minatar-{args.variant}', report, args.variant)}")


def bundle(run_dir: Path, name: str, report: dict, variant: str) -> Path:
    """rlgen/objectives/<name>.pt (the final ES mean) and <name>.md, its model card: how it was
    trained, the fitness curve and the meta-test table, all read from the run directory."""
    import json
    import platform
    import shutil
    import tomllib

    from rlgen.agents.objectives import BUNDLED_DIR

    cfg = tomllib.loads((run_dir / "config.toml").read_text())
    metrics = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    prov = json.loads((run_dir / "provenance.json").read_text())
    BUNDLED_DIR.mkdir(exist_ok=True)
    target = BUNDLED_DIR / f"{name}.pt"
    shutil.copyfile(run_dir / "objective.pt", target)
    curve = "\n".join(f"| {int(m['step'])} | {m['fitness/mean']:.4f} | {m['fitness/max']:.4f} | "
                       f"{m['es/sigma']:.4f} | {m['time/generation_s']:.0f} |" for m in metrics)
    hours = sum(m["time/generation_s"] for m in metrics) / 3600
    from rlgen.agents.factory import agent_config

    ppo, _ = agent_config("ppo", "minatar", {**cfg.get("overrides", {}), "objective": cfg["objective"]})
    batch = ppo.num_envs * ppo.num_steps
    ends = [sum(m["fitness/mean"] for m in part) / len(part) for part in (metrics[:3], metrics[-3:])]
    device = str(cfg.get("device", "cpu"))
    seeds_note = f" with --seeds {report['seeds']}"
    where = "no GPU" if device == "cpu" else f"lifetimes trained on {device}"
    paper_name = {"talpo": "TA-LPO", "lpo": "LPO"}.get(cfg["objective"], cfg["objective"])
    size = ("This is a CPU-sized run, far smaller than the paper's (population 64, 1e7-step lifetimes):"
            if variant == "cpu" else f"The {variant} variant of scripts/reproduce/talpo.py:")
    card = f"""# {name}: a {cfg['objective']} drift network meta-trained by rlgen

Use: `rlgen train --agent {cfg['objective']} --env minatar:breakout --set objective=bundled:{name}`
(add {' '.join(f'`--set {k}={v}`' for k, v in cfg.get('overrides', {}).items()) or 'nothing'} to train
with the PPO batch it was meta-trained with).

- Made by: `python scripts/reproduce/talpo.py --variant {variant} --bundle`, on
  {prov.get('host', platform.node())}, {prov.get('cpus')} CPUs, {where}; the run directory was last
  (re)started at {prov.get('time')} with rlgen commit {prov.get('git_commit')}
  ({len(prov.get('resumes', []))} earlier starts are in its provenance.json).
- Meta-train env and horizon: {', '.join(cfg['envs'])}, {cfg['horizon']:,} env steps per lifetime
  (PPO: the `[minatar]` preset with {cfg.get('overrides') or 'no overrides'}: {ppo.num_envs} envs x
  {ppo.num_steps} steps per update, so {cfg['horizon'] // batch} updates).
- ES: OpenES, population {cfg['population']} (antithetic), {len(metrics)} generations,
  settings {cfg.get('es') or 'default (sigma 0.03, lr 0.03, both x0.99 per generation)'};
  fitness = each training env's last finished episode's return at the final update, mean over envs, normalized
  ((return - random) / (PPO 1e7 reference - random), envs/minatar.toml).
- Wall time of the generations: {hours:.2f} h on that machine.

{size}
mean fitness over the first three generations {ends[0]:.4f}, over the last three {ends[1]:.4f}
(the whole curve is below). Treat the network as what such a budget discovers, not as the
paper's {paper_name}, and read the meta-test below before using it.

What it learned: D(r, A) at training progress 0, 0.5 and 1 (early, middle, late) is the
meta-test's `drift.png` (`rlgen.meta.plots.plot_drift` on this file; docs/figures/ keeps a copy).

## Fitness per generation

| generation | fitness mean | fitness max | sigma | seconds |
|---|---|---|---|---|
{curve}

## Meta-test (held-out games and horizons, from the same script{seeds_note})

{report['table']}
"""
    target.with_suffix(".md").write_text(card)
    return target


if __name__ == "__main__":
    main()
