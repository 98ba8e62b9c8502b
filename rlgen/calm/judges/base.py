"""The judge interface: requests in, one `Judgement` per request out.

A request carries the prompt and, when there is one, the transition itself (the oracle judges
the transition, language models the prompt). `LLMJudge` holds what every language-model
backend shares: decoding parameters, write-through caching, concurrent calls, parsing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rlgen.calm.cache import AnswerCache, cache_key, default_cache_path
from rlgen.calm.parse import Verdict, parse_answer
from rlgen.calm.prompts import chat_messages, verdict_schema
from rlgen.calm.transition import Transition


class JudgeError(ValueError):
    """A judge cannot answer (endpoint unreachable, model file missing, answer not recorded).
    A ValueError so that the command line reports it as one `rlgen: error:` line."""


@dataclass(frozen=True)
class JudgeRequest:
    prompt: str
    transition: Transition | None = None


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    answer: str  # the raw text the judge returned
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0  # seconds the answer took when it was produced (kept in the cache)
    cached: bool = False  # read from the answer cache rather than produced now

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict.to_json(), "answer": self.answer,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "latency_s": self.latency_s, "cached": self.cached}


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


def as_requests(items: Sequence[JudgeRequest | str]) -> list[JudgeRequest]:
    return [i if isinstance(i, JudgeRequest) else JudgeRequest(str(i)) for i in items]


class Judge:
    """Base of every judge. `judge(requests)` answers a batch, in order."""

    name = "judge"
    reads_prompt = True  # False: the judge reads the transition only (no need to render one)

    def judge(self, requests: Sequence[JudgeRequest | str]) -> list[Judgement]:
        raise NotImplementedError

    def close(self) -> None:
        """Free what the judge holds (a loaded model, a connection pool)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def from_record(rec: dict[str, Any]) -> Judgement:
    """A cached answer as a judgement (parsed again, so a parser fix applies to old answers)."""
    return Judgement(parse_answer(rec["answer"]), rec["answer"], rec.get("prompt_tokens", 0),
                     rec.get("completion_tokens", 0), rec.get("latency_s", 0.0), cached=True)


class LLMJudge(Judge):
    """A language model answering CALM prompts. Subclasses implement `complete`.

    `subgoals` names the verdict keys for constrained decoding (None: any names, boolean
    values). `cache` is the answer cache path (None: the default under RLGEN_CACHE; False: no
    cache). At most `concurrency` calls run at once.
    """

    name = "llm"

    def __init__(self, model: str, *, max_tokens: int = 256, temperature: float = 0.0,
                 schema: bool = True, subgoals: Sequence[str] | None = None,
                 cache: str | os.PathLike | bool | None = None, concurrency: int = 1):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.model = model
        self.schema = verdict_schema(subgoals) if schema else None
        self.decoding: dict[str, Any] = {"max_tokens": int(max_tokens),
                                         "temperature": float(temperature), "schema": self.schema}
        self.concurrency = int(concurrency)
        self.cache = None if cache is False else AnswerCache(
            default_cache_path() if cache in (None, True) else cache)

    def complete(self, prompt: str) -> Completion:
        """One chat completion of `prompt` under `self.decoding`."""
        raise NotImplementedError

    def messages(self, prompt: str) -> list[dict[str, str]]:
        return chat_messages(prompt)

    def _answer(self, prompt: str) -> Judgement:
        start = time.perf_counter()
        c = self.complete(prompt)
        latency = time.perf_counter() - start
        if self.cache is not None:
            self.cache.put(self.model, prompt, self.decoding, c.text, prompt_tokens=c.prompt_tokens,
                           completion_tokens=c.completion_tokens, latency_s=latency)
        return Judgement(parse_answer(c.text), c.text, c.prompt_tokens, c.completion_tokens, latency)

    def judge(self, requests: Sequence[JudgeRequest | str]) -> list[Judgement]:
        prompts = [r.prompt for r in as_requests(requests)]
        done: dict[str, Judgement] = {}
        for p in prompts:
            rec = self.cache.get(cache_key(self.model, p, self.decoding)) if self.cache else None
            if rec is not None:
                done[p] = from_record(rec)
        todo = list(dict.fromkeys(p for p in prompts if p not in done))  # each prompt once
        if self.concurrency == 1 or len(todo) < 2:
            done.update((p, self._answer(p)) for p in todo)
        else:
            with ThreadPoolExecutor(self.concurrency) as pool:
                done.update(zip(todo, pool.map(self._answer, todo), strict=True))
        return [done[p] for p in prompts]
