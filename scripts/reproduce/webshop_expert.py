"""Score and success of the scripted WebShop policies on train and test goals, through the
common evaluator, with 95% bootstrap confidence intervals.

    python scripts/reproduce/webshop_expert.py [--policies expert,noisy,uniform] [--episodes N]
        [--split instruction|product]

--episodes 0 plays every goal of each split once.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def mean_ci(x: np.ndarray, seed: int = 0, reps: int = 2000) -> list[float]:
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), (reps, len(x)))].mean(1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def main() -> None:
    from rlgen.eval.evaluate import evaluate
    from rlgen.registry import make_env_spec

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", default="expert,noisy,uniform")
    ap.add_argument("--episodes", type=int, default=0)
    ap.add_argument("--split", default="instruction")
    ap.add_argument("--splits", default="train,test")
    ap.add_argument("--data-dir", default="")
    args = ap.parse_args()
    spec = make_env_spec("webshop", split=args.split, data_dir=args.data_dir or None)
    for name in args.policies.split(","):
        for split in args.splits.split(","):
            n = args.episodes or len(spec.splits[split])
            records, _ = evaluate(spec.impl.make_policy(spec, name), spec, [split], n, progress=False)
            r = np.array([rec["return"] for rec in records])
            s = np.array([rec["success"] for rec in records], dtype=float)
            print(json.dumps({"policy": name, "split_kind": args.split, "split": split, "episodes": n,
                              "score": round(100 * r.mean(), 2),
                              "score_ci": [round(100 * v, 2) for v in mean_ci(r)],
                              "success": round(100 * s.mean(), 2),
                              "success_ci": [round(100 * v, 2) for v in mean_ci(s)],
                              "mean_length": float(np.mean([rec["length"] for rec in records]))}),
                  flush=True)


if __name__ == "__main__":
    main()
