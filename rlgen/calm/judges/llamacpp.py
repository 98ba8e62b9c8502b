"""The in-process llama.cpp judge: any GGUF file (default: the bundled SmolLM2-135M-Instruct),
answers constrained to the verdict JSON schema by default, through xllamacpp's server API
without HTTP (its loopback listener on a free port is unused)."""

from __future__ import annotations

import os
from typing import Any

from rlgen.calm.judges.base import DEFAULT, Completion, JudgeError, LLMJudge
from rlgen.calm.llama import model_name, resolve_model, start_server
from rlgen.calm.prompts import batch_grammar


class LlamaCppJudge(LLMJudge):
    """llama.cpp in-process (xllamacpp) on any GGUF file; the bundled SmolLM2-135M by default."""
    name = "llamacpp"

    def __init__(self, model_path: str | os.PathLike | None = None, *, n_ctx: int = 4096,
                 threads: int | None = None, concurrency: int = 1, prompt_cache: bool = True,
                 **options: Any):
        """`prompt_cache=False` makes every call evaluate its whole prompt (the benchmark's
        baseline); by default a slot reuses the KV cache of the prompt prefix it last saw."""
        self.path = resolve_model(model_path)
        self.prompt_cache = bool(prompt_cache)
        super().__init__(model_name(self.path), concurrency=concurrency, **options)
        # One slot per concurrent call, each with the whole context.
        self.server = start_server(self.path, n_ctx=n_ctx * concurrency, n_parallel=concurrency,
                                   threads=threads)

    @classmethod
    def check_spec(cls, arg: str = "") -> None:
        resolve_model(arg or None)

    @classmethod
    def from_spec(cls, arg: str = "", **options: Any) -> LlamaCppJudge:
        return cls(arg or options.pop("model_path", None), **options)

    def complete(self, prompt: str, schema: Any = DEFAULT, max_tokens: int | None = None) -> Completion:
        schema = self._schema(schema)
        body: dict[str, Any] = {"messages": self.messages(prompt),
                                "max_tokens": max_tokens or self.decoding["max_tokens"],
                                "temperature": self.decoding["temperature"],
                                "cache_prompt": self.prompt_cache}
        if schema is not None and schema.get("type") == "array":
            # a batched answer: the same language as the schema minus optional whitespace
            body["grammar"] = batch_grammar(schema["maxItems"], schema["items"]["maxItems"])
        elif schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "verdict", "schema": schema}}
        out = self.server.handle_chat_completions(body)
        if "error" in out:
            raise JudgeError(f"llama.cpp ({self.path.name}): {out['error'].get('message', out)}")
        usage = out.get("usage") or {}
        return Completion(out["choices"][0]["message"]["content"] or "",
                          int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))

    def close(self) -> None:
        self.server = None  # the server stops when the object is freed
