"""The replay judge: answers read from an answer cache file, never a model call.

A recorded annotation replays offline bit for bit: the same raw answers, parsed the same way.
The file may hold answers from several models or decoding settings; `model` (and, if one model
was run with several settings, `decoding`) picks which. A prompt with no recorded answer is an
error, not a guess.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from rlgen.calm.cache import AnswerCache, cache_key
from rlgen.calm.judges.base import (
    Judge,
    JudgeError,
    Judgement,
    JudgeRequest,
    as_requests,
    from_record,
)


class ReplayJudge(Judge):
    """Answers from a recorded answer cache (JSONL), bit for bit; a prompt it lacks is an error."""
    name = "replay"

    def __init__(self, path: str | os.PathLike, model: str | None = None,
                 decoding: Mapping[str, Any] | None = None):
        if not os.path.exists(path):
            raise FileNotFoundError(f"replay file {path} does not exist")
        self.cache = AnswerCache(path)
        runs = {(r["model"], json.dumps(r["decoding"], sort_keys=True)) for r in self.cache}
        if model is not None:
            runs = {x for x in runs if x[0] == model}
        if decoding is not None:
            runs = {x for x in runs if x[1] == json.dumps(dict(decoding), sort_keys=True)}
        if len(runs) != 1:
            found = sorted({m for m, _ in runs}) or sorted({r["model"] for r in self.cache})
            what = "no answers" if not runs else "answers from several models or settings"
            raise JudgeError(f"replay file {path} holds {what} for this selection "
                             f"(models: {', '.join(found) or 'none'}); pass model= (and decoding=)")
        (self.model, dec), = runs
        self.decoding = json.loads(dec)

    @classmethod
    def check_spec(cls, arg: str = "") -> None:
        if not arg:
            raise ValueError("the replay judge needs a file: replay:ANSWERS.jsonl")
        if not os.path.exists(arg):
            raise FileNotFoundError(f"replay file {arg} does not exist")

    @classmethod
    def from_spec(cls, arg: str = "", model: str | None = None, **options) -> ReplayJudge:
        cls.check_spec(arg)
        return cls(arg, model=model)

    def judge(self, requests: Sequence[JudgeRequest | str]) -> list[Judgement]:
        reqs = as_requests(requests)
        recs = [self.cache.get(cache_key(self.model, r.prompt, self.decoding)) for r in reqs]
        missing = sum(r is None for r in recs)
        if missing:
            raise JudgeError(f"{missing} of {len(reqs)} prompts have no recorded answer from "
                             f"{self.model} in {self.cache.path}; annotate them with a live "
                             "judge first")
        return [from_record(r) for r in recs]
