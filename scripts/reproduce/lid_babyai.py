"""LID's data-size sweep on BabyAI: pretrained vs random init of the same SmolLM2-135M policy,
behaviour-cloned from 10 / 50 / 250 bot demonstrations on GoToLocal and PickupLoc, three seeds,
scored on train seeds, test seeds and held-out instructions (sweeps/lid-babyai.toml).

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python scripts/reproduce/lid_babyai.py --variant cpu
    PYTHONPATH=$PWD python scripts/reproduce/lid_babyai.py --variant paper      # on a GPU

The sweep is resumable (rerun the same command); `--table-only` prints the table over the trials
finished so far. Per (level, demos, split): mean success over seeds with a 95% stratified-
bootstrap CI, and the probability that a pretrained run beats a random-init run (rliable's
P(X > Y), with its CI), both from rlgen.eval.stats; the last rows pool the levels and demo
counts as tasks. A second table gives a uniform random policy's success on the same splits and
episodes, as a floor. Writes OUT/table.md.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from rlgen.eval import stats

SPLITS = ("train", "test", "test_instructions")
INITS = ("pretrained", "random")


def _fmt(value: float, ci: list[float]) -> str:
    return f"{value:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def collect_scores(out: Path) -> dict[tuple[str, int, str, str], list[float]]:
    """(env, demos, init, split) -> success rate of each finished seed."""
    manifest = json.loads((out / "manifest.json").read_text())
    scores: dict[tuple[str, int, str, str], list[float]] = defaultdict(list)
    for entry in manifest["trials"].values() if "trials" in manifest else manifest.values():
        summary = Path(entry.get("run", "")) / "summary.json"
        if entry.get("state") != "done" or not summary.exists():
            continue
        p, s = entry["params"], json.loads(summary.read_text())
        for split in SPLITS:
            if split in s["splits"]:
                key = (p["env"], int(p["overrides"]["demos"]), p["overrides"]["init"], split)
                scores[key].append(float(s["splits"][split]["success_rate"]))
    return scores


def table(scores: dict[tuple[str, int, str, str], list[float]]) -> str:
    rows = ["| level | demos | split | seeds | pretrained success | random-init success | "
            "P(pretrained > random) |", "|---|---|---|---|---|---|---|"]
    cells = sorted({(e, d) for e, d, _, _ in scores})
    pooled: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    for env, demos in cells:
        for split in SPLITS:
            pre, rnd = (np.array(scores.get((env, demos, i, split), [])) for i in INITS)
            if not len(pre) or not len(rnd):
                continue
            n = min(len(pre), len(rnd))
            pooled[split]["pretrained"].append(pre[:n])
            pooled[split]["random"].append(rnd[:n])
            poi = stats.probability_of_improvement(pre[:, None], rnd[:, None])
            rows.append(f"| {env.split(':')[1]} | {demos} | {split} | {len(pre)}/{len(rnd)} | "
                        f"{_fmt(*stats.mean_with_ci(pre[:, None]))} | "
                        f"{_fmt(*stats.mean_with_ci(rnd[:, None]))} | {_fmt(*poi)} |")
    for split in SPLITS:
        if not pooled[split]["pretrained"]:
            continue
        n = min(len(a) for a in pooled[split]["pretrained"] + pooled[split]["random"])
        pre = np.stack([a[:n] for a in pooled[split]["pretrained"]], 1)   # seeds x tasks
        rnd = np.stack([a[:n] for a in pooled[split]["random"]], 1)
        rows.append(f"| all ({pre.shape[1]} tasks) | - | {split} | {n}/{n} | "
                    f"{_fmt(*stats.mean_with_ci(pre))} | {_fmt(*stats.mean_with_ci(rnd))} | "
                    f"{_fmt(*stats.probability_of_improvement(pre, rnd))} |")
    return "\n".join(rows)


def random_reference(envs: list[str], episodes: int, seeds: int = 3) -> str:
    """Success of a uniform random policy on the same splits and episodes, as a floor."""
    from rlgen.agents.loading import RandomPolicy
    from rlgen.eval.evaluate import run_episodes
    from rlgen.registry import make_env_spec

    rows = ["| level | split | uniform random success (3 seeds) |", "|---|---|---|"]
    for env in envs:
        spec = make_env_spec(env)
        for split in SPLITS:
            scores = np.array([[np.mean([r["success"] for r in run_episodes(
                RandomPolicy(spec.num_actions, seed), spec, split, episodes, num_envs=episodes,
                progress=False)])] for seed in range(seeds)])
            rows.append(f"| {env.split(':')[1]} | {split} | {_fmt(*stats.mean_with_ci(scores))} |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="cpu", choices=["cpu", "paper"])
    p.add_argument("--out", help="sweep folder (default runs/sweeps/lid-babyai-<variant>)")
    p.add_argument("--workers", type=int, default=2, help="local worker processes (the cpu variant is sized for 2)")
    p.add_argument("--table-only", action="store_true", help="tabulate the finished trials only")
    args = p.parse_args()
    out = Path(args.out or f"runs/sweeps/lid-babyai-{args.variant}")
    if not args.table_only:
        from rlgen.sweep.run import run_sweep
        from rlgen.sweep.spec import load_sweep

        result = run_sweep(load_sweep("lid-babyai", args.variant), out, workers=args.workers)
        failed = {n: s.get("error") for n, s in result.states.items() if s.get("state") == "failed"}
        if failed:
            print(f"{len(failed)} trial(s) failed: {failed}")
    scores = collect_scores(out)
    text = table(scores)
    if scores:
        from rlgen.sweep.spec import load_sweep

        episodes = int(load_sweep("lid-babyai", args.variant).base["episodes"])
        text += "\n\n" + random_reference(sorted({e for e, _, _, _ in scores}), episodes)
    (out / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
