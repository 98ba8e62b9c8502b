"""WebShop's own metrics for an evaluated run: score (100 x mean reward) and success rate
(reward == 1) per split, with 95% bootstrap confidence intervals.

    python -m rlgen.envs.webshop.report RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def mean_ci(x: np.ndarray, seed: int = 0, reps: int = 2000) -> tuple[float, float]:
    means = x[np.random.default_rng(seed).integers(0, len(x), (reps, len(x)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def split_metrics(records: list[dict]) -> dict[str, dict[str, float]]:
    by_split: dict[str, list[dict]] = {}
    for r in records:
        by_split.setdefault(r["split"], []).append(r)
    out = {}
    for split, recs in by_split.items():
        reward = np.array([r["return"] for r in recs], dtype=np.float64)
        success = np.array([r.get("success", r["return"] == 1.0) for r in recs], dtype=np.float64)
        (slo, shi), (clo, chi) = mean_ci(reward), mean_ci(success)
        out[split] = {"episodes": len(recs), "score": 100 * reward.mean(), "score_lo": 100 * slo,
                      "score_hi": 100 * shi, "success": 100 * success.mean(),
                      "success_lo": 100 * clo, "success_hi": 100 * chi}
    return out


def main(argv: list[str] | None = None) -> int:
    runs = argv if argv is not None else sys.argv[1:]
    if not runs:
        print("usage: python -m rlgen.envs.webshop.report RUN_DIR [RUN_DIR ...]", file=sys.stderr)
        return 2
    print("| run | split | episodes | score [95% CI] | success % [95% CI] |")
    print("|---|---|---|---|---|")
    for run in runs:
        path = Path(run) / "episodes.jsonl"
        if not path.exists():
            print(f"rlgen: error: {path} not found (evaluate the run first)", file=sys.stderr)
            return 2
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for split, m in split_metrics(records).items():
            print(f"| {Path(run).name} | {split} | {m['episodes']} | {m['score']:.1f} "
                  f"[{m['score_lo']:.1f}, {m['score_hi']:.1f}] | {m['success']:.1f} "
                  f"[{m['success_lo']:.1f}, {m['success_hi']:.1f}] |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
