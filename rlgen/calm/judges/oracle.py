"""The rule-based judge: KeyRoom's subgoals from the env's own events (rlgen.calm.labels).

It is the ground truth of the judge evaluation and CALM's "human shaping" baseline. Its answer
is the label dict written as a python literal and read back through the same parser as a
model's, so an oracle annotation scores F1 = 1 only if the whole scoring path is consistent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rlgen.calm.judges.base import Judge, JudgeError, Judgement, JudgeRequest, as_requests
from rlgen.calm.labels import oracle_labels
from rlgen.calm.parse import parse_answer


class OracleJudge(Judge):
    """Ground truth from the env's own events (key picked up, door opened); no model."""
    name = "oracle"
    model = "oracle"
    reads_prompt = False

    @classmethod
    def check_spec(cls, arg: str = "") -> None:
        if arg:
            raise ValueError(f"the oracle judge takes no argument, got 'oracle:{arg}'")

    @classmethod
    def from_spec(cls, arg: str = "", **options) -> OracleJudge:
        cls.check_spec(arg)
        return cls()

    def judge(self, requests: Sequence[JudgeRequest | str]) -> list[Judgement]:
        out = []
        for r in as_requests(requests):
            if r.transition is None:
                raise JudgeError("the oracle judges transitions, not prompt text; pass "
                                 "JudgeRequest(prompt, transition)")
            start = time.perf_counter()
            answer = repr(oracle_labels(r.transition))
            out.append(Judgement(parse_answer(answer), answer,
                                 latency_s=time.perf_counter() - start))
        return out
