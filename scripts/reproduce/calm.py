"""CALM in RL: PPO vs PPO + oracle shaping vs PPO + LLM shaping on MiniHack KeyRoom-S5, several
seeds; success on the train levels, held-out KeyRoom-S5 levels and KeyRoom-S15, with CIs.

    OMP_NUM_THREADS=1 nice python scripts/reproduce/calm.py --out runs/calm_repro \\
        [--variant cpu] [--workers 2] [--seed-cache OLD/answers.jsonl]

Every run trains on `minihack:KeyRoom-S5-to-S15` (its train split is KeyRoom-S5's train levels,
`test_in_task` KeyRoom-S5's test levels, `test` KeyRoom-S15's test levels), so one evaluation
scores all three. Arms (the shaping options are `rlgen train --set shaping=calm` keys):
- `ppo`: the preset, no shaping;
- `ppo+oracle`: the oracle judge online (CALM's "human" shaping): + beta per subgoal, once per
  episode;
- `ppo+llm`: CALM's offline mode with SmolLM2-135M-Instruct: the first `llm_transitions` of a
  balanced KeyRoom-S5 train dataset annotated through the answer cache, then the
  (observation, action) table looked up during training.
Resumable: a finished run (summary.json) is skipped, an interrupted one resumed with
`rlgen train --resume`, and the annotation reads its answer cache (`--seed-cache` copies in an
earlier cache of the same model and prompts). The table is written to OUT/results.md and
OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV = "minihack:KeyRoom-S5-to-S15"
SPLITS = {"train": "KeyRoom-S5 train levels", "test_in_task": "KeyRoom-S5 test levels",
          "test": "KeyRoom-S15 test levels"}


@dataclass(frozen=True)
class Variant:
    seeds: tuple[int, ...]
    steps: int
    episodes: int  # evaluation episodes per split
    beta: float
    llm_transitions: int  # annotated transitions behind the LLM table


VARIANTS = {
    "cpu": Variant(seeds=(0, 1, 2), steps=20_480, episodes=30, beta=0.5, llm_transitions=60),
    "smoke": Variant(seeds=(0,), steps=1024, episodes=4, beta=0.5, llm_transitions=3),
    "full": Variant(seeds=tuple(range(5)), steps=1_000_000, episodes=200, beta=0.5,
                    llm_transitions=300),
}


def arms(v: Variant, annotations: Path) -> dict[str, list[str]]:
    beta = f"beta={v.beta}"
    return {
        "ppo": [],
        "ppo+oracle": ["shaping=calm", "judge=oracle", beta],
        "ppo+llm": ["shaping=calm", "judge=llamacpp", "mode=offline",
                    f'annotations="{annotations}"', beta],
    }


def annotate_llm(out: Path, v: Variant, seed_cache: str | None, threads: int) -> Path:
    """The SmolLM2 annotation behind the LLM arm's table (resumable through its answer cache)."""
    from rlgen.calm.annotate import annotate
    from rlgen.calm.dataset import build
    from rlgen.calm.prompts import PromptConfig

    data = out / "dataset"
    if not (data / "card.json").exists():
        shutil.rmtree(data, ignore_errors=True)
        build("minihack:KeyRoom-S5", "train", 300, data, progress=False)
    folder = out / "annotations_smollm2"
    folder.mkdir(parents=True, exist_ok=True)
    cache = folder / "answers.jsonl"
    if seed_cache and not cache.exists():
        shutil.copy(seed_cache, cache)
    if (folder / "card.json").exists() and \
            json.loads((folder / "card.json").read_text())["transitions"] == v.llm_transitions:
        return folder
    start = time.time()
    annotate(data, "llamacpp", folder, limit=v.llm_transitions, config=PromptConfig.preset(),
             cache=cache, threads=threads, progress=False)
    print(f"annotated {v.llm_transitions} transitions with SmolLM2 in {time.time() - start:.0f} s",
          flush=True)
    return folder


def train(out: Path, name: str, seed: int, sets: list[str], v: Variant) -> Path:
    runs = out / "runs"
    run = runs / name
    if (run / "summary.json").exists():
        return run
    cli = [sys.executable, "-m", "rlgen.cli", "train"]
    if (run / "config.toml").exists():
        cmd = cli + ["--resume", str(run), "--quiet"]
    else:
        cmd = cli + ["--agent", "ppo", "--env", ENV, "--steps", str(v.steps), "--seed", str(seed),
                     "--name", name, "--runs-root", str(runs), "--episodes", str(v.episodes),
                     "--splits", ",".join(SPLITS), "--quiet"]
        for s in sets:
            cmd += ["--set", s]
    start = time.time()
    with open(out / "logs" / f"{name}.log", "a") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)  # run the script itself under nice
    if rc != 0:
        raise RuntimeError(f"{name} failed (rc {rc}); see {out / 'logs' / (name + '.log')}")
    print(f"{name}: {time.time() - start:.0f} s", flush=True)
    return run


def table(out: Path, v: Variant, names: dict[str, list[str]]) -> dict:
    from rlgen.eval import stats

    result: dict = {"variant": v.__dict__, "env": ENV, "arms": {}}
    lines = ["| arm | " + " | ".join(SPLITS.values())
             + " | training return, last 3 logged updates | shaping bonus per training episode |",
             "|---" * (len(SPLITS) + 3) + "|"]
    for arm in names:
        per_seed = {s: [] for s in SPLITS}
        intrinsic, seeds, late = [], [], []
        for seed in v.seeds:
            run = out / "runs" / f"{arm}-s{seed}"
            if not (run / "summary.json").exists():
                continue  # --table before every run finished: the seeds done so far
            seeds.append(seed)
            summary = json.loads((run / "summary.json").read_text())
            for s in SPLITS:
                per_seed[s].append(float(summary["splits"][s]["success_rate"]))
            logs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
            ended = [m for m in logs if "train/episode_return" in m]
            shaped = [m.get("train/shaped_episode_return", m["train/episode_return"])
                      - m["train/episode_return"] for m in ended]
            intrinsic.append(float(np.mean(shaped)) if shaped else 0.0)
            # the sampling policy's extrinsic return near the end of training
            late.append(float(np.mean([m["train/episode_return"] for m in ended[-3:]])))
        if not seeds:
            continue
        row, cells = {"seeds": seeds}, []
        for s in SPLITS:
            mean, ci = stats.mean_with_ci(np.array(per_seed[s])[:, None])
            row[s] = {"mean": mean, "ci": ci, "per_seed": per_seed[s]}
            cells.append(f"{mean:.2f} [{ci[0]:.2f}, {ci[1]:.2f}] ("
                         + ", ".join(f"{x:.2f}" for x in per_seed[s]) + ")")
        row["shaping_return_per_episode"] = intrinsic
        row["late_training_return"] = late
        result["arms"][arm] = row
        lines.append(f"| {arm} (seeds {', '.join(map(str, seeds))}) | " + " | ".join(cells) + " | "
                     + ", ".join(f"{x:.2f}" for x in late) + " | "
                     + ", ".join(f"{x:.3f}" for x in intrinsic) + " |")
    md = "\n".join(lines)
    (out / "results.md").write_text(md + "\n")
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(md)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--variant", default="cpu", choices=sorted(VARIANTS))
    ap.add_argument("--workers", type=int, default=2, help="training runs at once")
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp threads for the annotation")
    ap.add_argument("--seed-cache", help="an earlier answer cache (same model and prompts) to "
                    "start the annotation's cache from")
    ap.add_argument("--arms", help="comma-separated subset of ppo,ppo+oracle,ppo+llm")
    ap.add_argument("--seeds", help="comma-separated subset of the variant's seeds (e.g. to run "
                    "two seeds in two processes)")
    ap.add_argument("--table", action="store_true",
                    help="only write the table from the runs finished so far")
    args = ap.parse_args()
    v = VARIANTS[args.variant]
    out = Path(args.out)
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else list(v.seeds)
    if args.table:
        table(out, v, arms(v, (out / "annotations_smollm2").resolve()))
        return
    (out / "logs").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    started = time.time()
    names = arms(v, (out / "annotations_smollm2").resolve())
    if args.arms:
        names = {k: names[k] for k in args.arms.split(",")}
    jobs = [(f"{arm}-s{seed}", seed, sets) for seed in seeds for arm, sets in names.items()]
    with ThreadPoolExecutor(args.workers) as pool:
        # the annotation runs beside the arms that do not need it
        llm = pool.submit(annotate_llm, out, v, args.seed_cache, args.threads) \
            if "ppo+llm" in names else None
        first = [pool.submit(train, out, n, s, sets, v) for n, s, sets in jobs if "llm" not in n]
        if llm is not None:
            llm.result()
        rest = [pool.submit(train, out, n, s, sets, v) for n, s, sets in jobs if "llm" in n]
        for f in first + rest:
            f.result()
    table(out, v, names)
    print(f"wall {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
