"""Scoring an annotation against the oracle labels: accuracy, precision, recall and F1 with
bootstrap confidence intervals, on CALM's binary view ("some subgoal achieved", whichever) and
per subgoal, plus the unparseable rate and tokens / latency per transition.

An unparseable answer counts as "nothing achieved" in the main rows (what CALM's scoring did);
a second row restricts the binary view to parsed answers. When the model named its own
subgoals, they are matched to KeyRoom's two by keywords (a heuristic, stated in the output).
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.calm.prompts import DOOR_SUBGOAL, KEY_SUBGOAL, PRESET_SUBGOALS

METRICS = ("accuracy", "precision", "recall", "f1")
_KEY = re.compile(r"\bkeys?\b")
_DOOR = re.compile(r"\bdoors?\b")
_GET = re.compile(r"\b(pick|picks|picked|get|gets|take|takes|grab|collect|obtain|acquire)")
_OPEN = re.compile(r"\b(open|opens|opened|unlock|unlocks|unlocked)")


def match_subgoal(name: str) -> str | None:
    """A model's subgoal name -> the KeyRoom subgoal it means, or None."""
    n = name.lower().strip()
    if n in PRESET_SUBGOALS:
        return n
    if _DOOR.search(n) and _OPEN.search(n):
        return DOOR_SUBGOAL
    if _KEY.search(n) and _GET.search(n):
        return KEY_SUBGOAL
    return None


def metrics(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """[..., 4] accuracy, precision, recall, F1 of boolean arrays over their last axis.

    Precision with no predicted positive and recall with no true positive are NaN (undefined),
    not 0; F1 is NaN only when there was nothing to find and nothing was flagged: a task
    without keys says nothing about finding keys."""
    tp = (pred & truth).sum(-1)
    fp = (pred & ~truth).sum(-1)
    fn = (~pred & truth).sum(-1)
    n = pred.shape[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = (n - fp - fn) / n if n else np.full(np.shape(tp), np.nan)
        prec = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), np.nan)
        rec = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), np.nan)
        # 2TP / (2TP + FP + FN): equal to 2PR / (P + R) where both are defined, and 0 for a
        # judge that never says yes when there was something to find.
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), np.nan)
    return np.stack(np.broadcast_arrays(acc, prec, rec, f1), -1).astype(float)


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def with_ci(pred: np.ndarray, truth: np.ndarray, bootstrap: int, rng) -> dict[str, Any]:
    """Point values and 95% percentile-bootstrap intervals (None where undefined)."""
    point = metrics(pred, truth)
    out: dict[str, Any] = {"n": int(len(pred)), "positives": int(truth.sum())}
    lo = hi = point
    if len(pred) and bootstrap:
        idx = rng.integers(0, len(pred), size=(bootstrap, len(pred)))
        boot = metrics(pred[idx], truth[idx])
        with warnings.catch_warnings():  # all-NaN columns stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanpercentile(boot, [2.5, 97.5], axis=0)
    for k, m in enumerate(METRICS):
        out[m] = [_num(point[k]), _num(lo[k]), _num(hi[k])]
    return out


def load(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    path = Path(path)
    if not (path / "annotations.jsonl").exists():
        raise FileNotFoundError(f"{path} holds no annotations.jsonl (run rlgen calm annotate)")
    card_file = path / "card.json"
    card = json.loads(card_file.read_text()) if card_file.exists() else {}
    rows = [json.loads(x) for x in (path / "annotations.jsonl").read_text().splitlines() if x]
    if not rows:
        raise ValueError(f"{path}/annotations.jsonl is empty")
    return card, rows


def score(path: str | Path, bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    card, rows = load(path)
    rng = np.random.default_rng(seed)
    parsed = np.array([r["verdict"]["status"] == "ok" for r in rows])
    named = [[(match_subgoal(k), v) for k, v in r["verdict"]["subgoals"].items()] for r in rows]

    def said(s: str) -> np.ndarray:
        return np.array([any(v for k, v in pairs if k == s) for pairs in named])

    truth_any = np.array([any(r["labels"].values()) for r in rows])
    pred_any = np.array([any(r["verdict"]["subgoals"].values()) for r in rows])
    views = {"any subgoal": with_ci(pred_any, truth_any, bootstrap, rng),
             "any subgoal, parsed answers only": with_ci(pred_any[parsed], truth_any[parsed],
                                                         bootstrap, rng)}
    for s in PRESET_SUBGOALS:
        views[s] = with_ci(said(s), np.array([r["labels"][s] for r in rows]), bootstrap, rng)
    fresh = [r for r in rows if not r["cached"]]
    return {
        "annotation": str(path), "judge": card.get("judge"), "model": card.get("model"),
        "env": card.get("env"), "split": card.get("split"), "truth": "oracle labels",
        "transitions": len(rows), "unparseable": int((~parsed).sum()),
        "unparseable_rate": float((~parsed).mean()), "views": views,
        "prompt_tokens": float(np.mean([r["prompt_tokens"] for r in rows])),
        "completion_tokens": float(np.mean([r["completion_tokens"] for r in rows])),
        # Seconds an answer took when it was produced (cached answers keep their time).
        "latency_s": float(np.mean([r["latency_s"] for r in rows])),
        "answered_now": len(fresh), "bootstrap": bootstrap,
    }


def _cell(v: list[float | None]) -> str:
    if v[0] is None:
        return f"{'n/a':>20}"
    return f"{v[0]:.3f} [{v[1]:.3f},{v[2]:.3f}]"


def format_score(s: dict[str, Any]) -> str:
    lines = [f"{s['annotation']}: judge {s['judge']} ({s['model']}) on {s['env']} {s['split']}, "
             f"{s['transitions']} transitions, truth: {s['truth']}",
             f"{'view':34} {'n':>4} {'pos':>4}  " + "  ".join(f"{m:>20}" for m in METRICS)]
    for name, v in s["views"].items():
        cells = "  ".join(_cell(v[m]) for m in METRICS)
        lines.append(f"{name:34} {v['n']:>4} {v['positives']:>4}  {cells}")
    lines.append(f"unparseable: {s['unparseable']}/{s['transitions']} "
                 f"({100 * s['unparseable_rate']:.1f}%, scored as 'nothing achieved' above; "
                 "n/a: undefined, no positive to find or none predicted)")
    lines.append(f"per transition: {s['prompt_tokens']:.0f} prompt tokens, "
                 f"{s['completion_tokens']:.1f} completion tokens, {s['latency_s']:.3f} s "
                 f"(95% bootstrap CIs over {s['bootstrap']} resamples; model-named subgoals "
                 "matched to KeyRoom's by keywords)")
    return "\n".join(lines)
