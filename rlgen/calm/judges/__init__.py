"""Judges by name (rlgen.registry.JUDGES): `oracle`, `replay:FILE`, `openai[:URL]`,
`llamacpp[:GGUF]`. `make_judge(spec, **options)` builds one from such a spec string."""

from __future__ import annotations

from typing import Any

from rlgen.calm.judges.base import Judge, JudgeError, Judgement, JudgeRequest, LLMJudge

__all__ = ["Judge", "JudgeError", "Judgement", "JudgeRequest", "LLMJudge", "make_judge"]


def make_judge(spec: str, **options: Any) -> Judge:
    """`name[:argument]`, e.g. "oracle", "llamacpp", "llamacpp:/models/x.gguf",
    "openai:http://127.0.0.1:8080/v1", "replay:answers.jsonl". Options go to the judge."""
    from rlgen.registry import JUDGES, lookup

    name, _, arg = spec.partition(":")
    return lookup("judge", name, JUDGES).from_spec(arg, **options)
