"""Chat conversations through the judge backends: the prompt is the JSON text of a list of
chat messages, and the answer is constrained to one of a few choices.

`chat_client("llamacpp", choices)` etc. returns a judge of the named backend whose `judge(
prompts)` answers such conversations. Because the prompt string is the whole conversation, the
answer cache (and `replay:FILE`) works unchanged: the key is (model, conversation, decoding).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rlgen.calm.judges.base import Judge, LLMJudge

#: How the answer is constrained: `enum` a JSON string that is one of the choices (llama.cpp and
#: vLLM turn the schema into a grammar), `object` {"action": <choice>} (OpenAI's structured
#: outputs want an object at the root), `none` free text read by `parse_choice`.
CONSTRAINTS = ("enum", "object", "none")


def action_schema(choices: Sequence[str], constrain: str = "enum") -> dict[str, Any] | None:
    if constrain not in CONSTRAINTS:
        raise ValueError(f"constrain must be one of {CONSTRAINTS}, got {constrain!r}")
    enum = {"type": "string", "enum": list(choices)}
    if constrain == "enum":
        return enum
    if constrain == "object":
        return {"type": "object", "properties": {"action": enum}, "required": ["action"],
                "additionalProperties": False}
    return None


def parse_choice(text: str, choices: Sequence[str]) -> str | None:
    """The choice an answer names, or None. JSON answers ("go forward", {"action": ...}) are
    unwrapped; free text must equal a choice once reduced to lower-case letters, spaces and
    colons (BALROG's rule), so a rambling answer counts as invalid rather than guessed at."""
    t = text.strip()
    try:
        value = json.loads(t)
    except ValueError:
        value = None
    if isinstance(value, dict):
        value = value.get("action")
    if isinstance(value, str):
        t = value
    cleaned = " ".join(re.sub(r"[^a-z: ]", " ", t.lower()).split())
    lookup = {" ".join(c.lower().split()): c for c in choices}
    return lookup.get(cleaned)


class ChatMixin:
    """Put before an LLMJudge backend: `messages()` reads the conversation from the prompt and
    the answer is held to `response_schema` (None: free text)."""

    def __init__(self, *args: Any, response_schema: dict[str, Any] | None = None, **options: Any):
        super().__init__(*args, **{**options, "schema": False})
        self.schema = response_schema
        self.decoding["schema"] = response_schema

    def messages(self, prompt: str) -> list[dict[str, str]]:
        return json.loads(prompt)


@functools.cache
def _chat_class(backend: type) -> type:
    return type(f"Chat{backend.__name__}", (ChatMixin, backend),
                {"__doc__": f"{backend.__name__} answering chat conversations."})


def _accepted(backend: type) -> set[str]:
    """Keyword arguments some __init__ along the backend's class chain names."""
    names: set[str] = set()
    for cls in backend.__mro__:
        init = cls.__dict__.get("__init__")
        if init is not None:
            names |= {n for n, p in inspect.signature(init).parameters.items()
                      if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return names


ChatClient = Judge  # what chat_client returns: `judge(prompts)` -> Judgements, `close()`


def chat_client(spec: str, choices: Sequence[str], *, constrain: str = "enum",
                max_tokens: int = 16, temperature: float = 0.0, model: str | None = None,
                cache: str | os.PathLike | bool | None = None, **options: Any) -> ChatClient:
    """A client for `spec` = `llamacpp[:GGUF]`, `openai[:URL]` or `replay:ANSWERS.jsonl` (any
    judge in rlgen.registry.JUDGES that is an LLMJudge, or one that replays recorded answers).
    `options` go to the backend when it takes them (n_ctx, threads, concurrency for llama.cpp;
    timeout, retries, concurrency for openai) and are dropped otherwise. A replay client is
    selected by `model` and by the decoding settings a live client would use, so it finds
    exactly the answers that client cached."""
    from rlgen.registry import JUDGES, lookup

    name, _, arg = spec.partition(":")
    backend = lookup("judge", name, JUDGES)
    schema = action_schema(choices, constrain)
    if issubclass(backend, LLMJudge):
        # One agent config serves every backend: settings a backend has no use for are dropped.
        options = {k: v for k, v in options.items() if k in _accepted(backend)}
        if model:
            if "model" not in inspect.signature(backend.__init__).parameters:
                raise ValueError(f"the {name} backend takes no model name; give its model file "
                                 f"as {name}:PATH")
            options["model"] = model
        return _chat_class(backend).from_spec(
            arg, response_schema=schema, max_tokens=max_tokens, temperature=temperature,
            cache=cache, **options)
    decoding: Mapping[str, Any] = {"max_tokens": int(max_tokens),
                                   "temperature": float(temperature), "schema": schema}
    if not arg:
        raise ValueError(f"the {name} backend needs a file: {name}:ANSWERS.jsonl")
    try:
        return backend(arg, model=model or None, decoding=decoding)
    except TypeError:
        raise ValueError(f"judge {name!r} cannot answer chat prompts (not a language model)") from None
