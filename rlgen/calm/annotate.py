"""Annotate a CALM dataset with a judge: one JSON line per transition with the verdict, the raw
answer, tokens and latency, next to a card naming the judge, model, decoding and prompt.

Language-model judges write every answer through the answer cache (by default
`OUT/answers.jsonl`), so an interrupted annotation resumes without repeating a call, and the
folder replays offline with `--judge replay:OUT/answers.jsonl`.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import time
from pathlib import Path
from typing import Any

from rlgen.calm.dataset import CalmDataset
from rlgen.calm.judges import JudgeRequest, LLMJudge, make_judge
from rlgen.calm.prompts import PromptConfig, transition_prompt


def judge_options(spec: str, options: dict[str, Any],
                  implied: tuple[str, ...] = ("cache", "subgoals", "prompt")) -> dict[str, Any]:
    """The set options the judge takes. `implied` ones (annotate's defaults) are dropped where
    they do not apply; an explicitly set option that does not apply is an error."""
    from rlgen.registry import JUDGES, lookup

    name = spec.partition(":")[0]
    cls = lookup("judge", name, JUDGES)
    takes = set(inspect.signature(cls.__init__).parameters) - {"self", "args", "kwargs", "options"}
    if issubclass(cls, LLMJudge):
        takes |= set(inspect.signature(LLMJudge.__init__).parameters) - {"self", "model"}
    out = {}
    for k, v in options.items():
        if v is None:
            continue
        if k in takes:
            out[k] = v
        elif k not in implied:
            raise ValueError(f"option --{k.replace('_', '-')} does not apply to the {name} judge")
    return out


def annotate(dataset: str | Path, judge: str, out: str | Path, *, limit: int | None = None,
             config: PromptConfig | None = None, batch: int = 8, progress: bool = True,
             **options: Any) -> Path:
    """Annotate the first `limit` transitions (all by default) into the folder `out`."""
    ds = CalmDataset(dataset)
    config = config or PromptConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if options.get("cache") is None:  # unset or passed as None by the command line
        options["cache"] = out / "answers.jsonl"
    if options.get("subgoals") is None:
        options["subgoals"] = config.named_subgoals
    options["prompt"] = config  # what a batching judge renders its requests with
    # each judge call holds enough transitions to fill every slot with a full request
    batch = max(batch, (options.get("per_request") or 1) * (options.get("concurrency") or 1))
    n = len(ds) if limit is None else min(int(limit), len(ds))
    if n < 1:
        raise ValueError("nothing to annotate (--limit must be at least 1)")
    start = time.time()
    j = make_judge(judge, **judge_options(judge, options))
    card: dict[str, Any] = {
        "dataset": str(ds.path), "env": ds.card["env"], "split": ds.card["split"],
        "judge": judge, "model": getattr(j, "model", judge), "decoding": getattr(j, "decoding", None),
        "prompt": dataclasses.asdict(config), "transitions": n, "truth": "oracle labels",
    }
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc=f"annotate ({judge.partition(':')[0]})", unit="tr")
    counts = {"unparseable": 0, "cached": 0}
    try:
        # written beside the last complete annotation and moved over it only when done, so a
        # run that fails (endpoint gone, model missing) leaves that one whole; every answer it
        # got is in the answer cache for the rerun
        partial = out / "annotations.jsonl.partial"
        with j, open(partial, "w") as f:
            for lo in range(0, n, batch):
                ids = range(lo, min(lo + batch, n))
                trs = [ds.transition(i) for i in ids]
                got = j.judge([JudgeRequest(transition_prompt(tr, config), tr) for tr in trs])
                for i, g in zip(ids, got, strict=True):
                    r = ds.records[i]
                    f.write(json.dumps({"id": r["id"], "bin": r["bin"], "labels": r["labels"],
                                        "level": r["level"], "action_name": r["action_name"],
                                        **g.to_json()}) + "\n")
                    counts["unparseable"] += not g.verdict.parsed
                    counts["cached"] += g.cached
                f.flush()
                if bar is not None:
                    bar.update(len(ids))
    finally:
        if bar is not None:
            bar.close()
    partial.replace(out / "annotations.jsonl")
    card.update(counts, seconds=round(time.time() - start, 1))
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return out
