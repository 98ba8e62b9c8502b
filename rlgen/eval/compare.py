"""Paired comparison of two evaluated runs on the levels both played (`rlgen compare`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.eval import stats


@dataclass(frozen=True)
class SplitComparison:
    split: str
    episodes_a: int
    episodes_b: int
    normalized: stats.PairedDifference
    success: stats.PairedDifference | None  # where both runs' records carry success


def _records(run) -> list[dict[str, Any]]:
    path = run.path / "episodes.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: evaluate the run first (rlgen evaluate {run.path})")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def compare_runs(path_a: str | Path, path_b: str | Path, splits: tuple[str, ...] | None = None,
                 seed: int = 0) -> tuple[list[SplitComparison], list[str]]:
    """Per split both runs evaluated: A − B in mean normalized return (and success rate) over
    the episodes on shared levels, with a paired level bootstrap; and notes for the reader."""
    from rlgen.registry import make_env_spec
    from rlgen.runs import RunDir

    runs = [RunDir.open(p) for p in (path_a, path_b)]
    configs = [r.read_config() for r in runs]
    specs = [make_env_spec(c["env"], **c.get("env_options", {})) for c in configs]
    if specs[0].id != specs[1].id:
        raise ValueError(f"the runs are on different envs ({specs[0].id} vs {specs[1].id}); "
                         "compare runs of one env")
    notes = [f"env options differ: {k} = {specs[0].options.get(k)!r} vs {specs[1].options.get(k)!r}"
             for k in sorted(set(specs[0].options) | set(specs[1].options))
             if specs[0].options.get(k) != specs[1].options.get(k)]
    records = [_records(r) for r in runs]
    by_split: list[dict[str, list[dict]]] = [{}, {}]
    for recs, out in zip(records, by_split, strict=True):
        for r in recs:
            out.setdefault(r["split"], []).append(r)
    common = [k for k in by_split[0] if k in by_split[1]]
    if splits:
        missing = [k for k in splits if k not in common]
        if missing:
            raise ValueError(f"split(s) {', '.join(missing)} not evaluated in both runs "
                             f"(both have: {', '.join(common) or 'none'})")
        common = list(splits)
    out = []
    for k in common:
        a, b = by_split[0][k], by_split[1][k]
        shared = {str(r["level"]) for r in a} & {str(r["level"]) for r in b}
        if not shared:
            continue
        levels_a, levels_b = [r["level"] for r in a], [r["level"] for r in b]
        norm_a = specs[0].normalize(np.array([r["return"] for r in a], dtype=np.float64))
        norm_b = specs[1].normalize(np.array([r["return"] for r in b], dtype=np.float64))
        rng_seed = int(stats.split_rng(seed, k).integers(2**31))
        normalized = stats.paired_level_difference(norm_a, levels_a, norm_b, levels_b, rng_seed)
        success = None
        if all("success" in r for r in a) and all("success" in r for r in b):
            success = stats.paired_level_difference(
                [float(r["success"]) for r in a], levels_a,
                [float(r["success"]) for r in b], levels_b, rng_seed)
        out.append(SplitComparison(k, len(a), len(b), normalized, success))
    if not out:
        raise ValueError(f"{path_a} and {path_b} share no evaluated levels on "
                         f"{', '.join(common) or 'any split'}")
    return out, notes


def format_comparison(rows: list[SplitComparison]) -> str:
    lines = []
    for c in rows:
        n = c.normalized
        line = (f"{c.split:>5}: {n.levels} shared levels ({c.episodes_a} / {c.episodes_b} episodes "
                f"in A / B): mean normalized return A {n.mean_a:.3f}, B {n.mean_b:.3f}, "
                f"A − B {n.value:+.3f} [{n.ci[0]:+.3f}, {n.ci[1]:+.3f}], P(A > B) {n.p_a_greater:.2f}")
        if c.success is not None:
            s = c.success
            line += (f"; success A {s.mean_a:.2f}, B {s.mean_b:.2f}, A − B {s.value:+.2f} "
                     f"[{s.ci[0]:+.2f}, {s.ci[1]:+.2f}], P(A > B) {s.p_a_greater:.2f}")
        lines.append(line)
    return "\n".join(lines)
