"""The judge interface: requests in, one `Judgement` per request out.

A request carries the prompt and, when there is one, the transition itself (the oracle judges
the transition, language models the prompt). `LLMJudge` holds what every language-model
backend shares: decoding parameters, write-through caching, concurrent calls, parsing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rlgen.calm.cache import AnswerCache, cache_key, default_cache_path
from rlgen.calm.parse import Verdict, parse_answer, parse_batch_answer
from rlgen.calm.prompts import (
    PromptConfig,
    batch_prompt,
    batch_schema,
    chat_messages,
    verdict_schema,
    window_prompt,
)
from rlgen.calm.render import is_chain, render_transition, render_window
from rlgen.calm.transition import Transition

#: `complete(schema=DEFAULT)`: the judge's own schema
DEFAULT: Any = object()


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

    @classmethod
    def check_spec(cls, arg: str = "") -> None:
        """Refuse a spec argument that cannot work (a missing file) without loading anything,
        so `rlgen train --set judge=...` fails before its run directory exists."""

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

    `per_request=K` asks about up to K transitions in one request (`rlgen.calm.prompts.batch_prompt`:
    the constant prefix once, the K rendered transitions, one JSON list of boolean lists as the
    answer, `max_tokens` per transition); when the K are consecutive steps of one episode they
    are rendered as one window, Time 0 .. K, each screen once (`window_prompt`). It needs named subgoals, `prompt` (the PromptConfig the
    requests' prompts were built with; it renders the batch) and requests that carry their
    transitions. Answers are still cached per transition prompt, under decoding parameters
    that include the batch size, each with its share of the request's tokens and seconds.
    """

    name = "llm"

    def __init__(self, model: str, *, max_tokens: int = 256, temperature: float = 0.0,
                 schema: bool = True, subgoals: Sequence[str] | None = None,
                 cache: str | os.PathLike | bool | None = None, concurrency: int = 1,
                 per_request: int = 1, prompt: PromptConfig | None = None):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if per_request < 1:
            raise ValueError("per_request must be at least 1")
        self.model = model
        self.schema = verdict_schema(subgoals) if schema else None
        self.decoding: dict[str, Any] = {"max_tokens": int(max_tokens),
                                         "temperature": float(temperature), "schema": self.schema}
        self.per_request, self.prompt_config = int(per_request), prompt
        if self.per_request > 1:
            if not subgoals or prompt is None or tuple(subgoals) != prompt.named_subgoals:
                raise ValueError("batched judging (per_request > 1) needs named subgoals "
                                 "(subgoals=preset) and the prompt config the prompts use")
            self.subgoals = tuple(subgoals)
            self.decoding["per_request"] = self.per_request  # only then, so unbatched cache keys are unchanged
        self.concurrency = int(concurrency)
        self.cache = None if cache is False else AnswerCache(
            default_cache_path() if cache in (None, True) else cache)

    def complete(self, prompt: str, schema: Any = DEFAULT, max_tokens: int | None = None) -> Completion:
        """One chat completion of `prompt` under `self.decoding` (`schema` and `max_tokens`,
        when given, replace the judge's own for this call)."""
        raise NotImplementedError

    def _schema(self, schema: Any) -> dict | None:
        return self.schema if schema is DEFAULT else schema

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

    def _chunks(self, reqs: list[JudgeRequest]) -> list[list[JudgeRequest]]:
        """Requests per model call: runs of consecutive steps as windows of up to K, the
        transitions that continue no run K at a time."""
        k = self.per_request
        runs: list[list[JudgeRequest]] = []
        for r in reqs:
            if runs and is_chain([runs[-1][-1].transition, r.transition]):
                runs[-1].append(r)
            else:
                runs.append([r])
        chunks = [run[i:i + k] for run in runs if len(run) > 1 for i in range(0, len(run), k)]
        # a window's remainder of one transition is judged with the loose ones
        loose = [c[0] for c in chunks if len(c) == 1] + [run[0] for run in runs if len(run) == 1]
        chunks = [c for c in chunks if len(c) > 1]
        return chunks + [loose[i:i + k] for i in range(0, len(loose), k)]

    def _answer_batch(self, reqs: Sequence[JudgeRequest]) -> list[Judgement]:
        cfg, n = self.prompt_config, len(reqs)
        assert cfg is not None
        trs = [r.transition for r in reqs]
        if n > 1 and is_chain(trs):  # consecutive steps: every screen once
            prompt = window_prompt(render_window(trs, cfg.view, cfg.separator, cfg.show_actions),
                                   cfg)
        else:
            prompt = batch_prompt([render_transition(tr, cfg.view, cfg.separator,
                                                     cfg.show_actions) for tr in trs], cfg)
        schema = batch_schema(n, self.subgoals) if self.schema is not None else None
        start = time.perf_counter()
        c = self.complete(prompt, schema=schema, max_tokens=self.decoding["max_tokens"] * n)
        latency = (time.perf_counter() - start) / n
        tokens_in, tokens_out = c.prompt_tokens / n, c.completion_tokens / n
        out = []
        for r, v in zip(reqs, parse_batch_answer(c.text, n, self.subgoals), strict=True):
            # a parsed verdict is kept as its own dict; an unparseable answer as the whole text
            answer = json.dumps(v.subgoals) if v.parsed else c.text
            if self.cache is not None:
                self.cache.put(self.model, r.prompt, self.decoding, answer,
                               prompt_tokens=tokens_in, completion_tokens=tokens_out,
                               latency_s=latency)
            out.append(Judgement(v if v.parsed else parse_answer(answer), answer, tokens_in,
                                 tokens_out, latency))
        return out

    def judge(self, requests: Sequence[JudgeRequest | str]) -> list[Judgement]:
        reqs = as_requests(requests)
        prompts = [r.prompt for r in reqs]
        done: dict[str, Judgement] = {}
        for p in prompts:
            rec = self.cache.get(cache_key(self.model, p, self.decoding)) if self.cache else None
            if rec is not None:
                done[p] = from_record(rec)
        todo = list(dict.fromkeys(p for p in prompts if p not in done))  # each prompt once
        if self.per_request > 1:
            by_prompt = {r.prompt: r for r in reqs}
            if any(by_prompt[p].transition is None for p in todo):
                raise JudgeError("batched judging renders the transitions itself; pass "
                                 "JudgeRequest(prompt, transition)")
            chunks = self._chunks([by_prompt[p] for p in todo])
            if self.concurrency == 1 or len(chunks) < 2:
                answers = [self._answer_batch(c) for c in chunks]
            else:
                with ThreadPoolExecutor(self.concurrency) as pool:
                    answers = list(pool.map(self._answer_batch, chunks))
            for chunk, got in zip(chunks, answers, strict=True):
                done.update((r.prompt, j) for r, j in zip(chunk, got, strict=True))
        elif self.concurrency == 1 or len(todo) < 2:
            done.update((p, self._answer(p)) for p in todo)
        else:
            with ThreadPoolExecutor(self.concurrency) as pool:
                done.update(zip(todo, pool.map(self._answer, todo), strict=True))
        return [done[p] for p in prompts]
