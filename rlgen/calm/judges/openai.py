"""A judge behind any OpenAI-compatible `/v1/chat/completions` endpoint: vLLM, llama.cpp's
server (`rlgen calm serve`), a hosted API.

Settings come from arguments, else the environment: RLGEN_OPENAI_BASE_URL or OPENAI_BASE_URL
(e.g. http://127.0.0.1:8080/v1; a bare http://host:port gets /v1 appended), RLGEN_OPENAI_API_KEY
or OPENAI_API_KEY (optional for local servers), RLGEN_OPENAI_MODEL (default: the first model
the server lists under /v1/models). Plain urllib, so the judge needs no client package.
Connection failures, timeouts, 429 and 5xx answers are retried with exponential backoff; after
the last try the judge raises one JudgeError naming the endpoint.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from rlgen.calm.judges.base import DEFAULT, Completion, JudgeError, LLMJudge

RETRY_STATUS = (408, 409, 429, 500, 502, 503, 504)


def _env(*names: str) -> str | None:
    for n in names:
        if os.environ.get(n):
            return os.environ[n]
    return None


def api_base(url: str) -> str:
    """`http://host:port` -> `http://host:port/v1`; a URL with a path is kept (minus a trailing
    /chat/completions), since hosted APIs put their version elsewhere."""
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        url = url[: -len("/chat/completions")]
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"endpoint {url!r} is not an http(s) URL")
    return url if parts.path not in ("", "/") else url + "/v1"


class OpenAIJudge(LLMJudge):
    """Any OpenAI-compatible /v1/chat/completions endpoint (vLLM, llama.cpp's server, a hosted API)."""
    name = "openai"

    def __init__(self, base_url: str | None = None, model: str | None = None,
                 api_key: str | None = None, *, timeout: float = 120.0, retries: int = 3,
                 backoff: float = 0.5, schema: bool = False, **options: Any):
        url = base_url or _env("RLGEN_OPENAI_BASE_URL", "OPENAI_BASE_URL")
        if not url:
            raise ValueError("the openai judge needs an endpoint: openai:URL, --base-url, or "
                             "RLGEN_OPENAI_BASE_URL / OPENAI_BASE_URL")
        self.base_url = api_base(url)
        self.api_key = api_key or _env("RLGEN_OPENAI_API_KEY", "OPENAI_API_KEY")
        self.timeout, self.retries, self.backoff = float(timeout), int(retries), float(backoff)
        model = model or _env("RLGEN_OPENAI_MODEL") or self._first_model()
        super().__init__(model, schema=schema, **options)

    @classmethod
    def from_spec(cls, arg: str = "", **options: Any) -> OpenAIJudge:
        return cls(arg or options.pop("base_url", None), **options)

    def _request(self, path: str, body: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None if body is None else json.dumps(body).encode("utf-8")
        url = self.base_url + path
        for attempt in range(self.retries + 1):
            try:
                req = urllib.request.Request(url, data=data, headers=headers)
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")[:300]
                if e.code not in RETRY_STATUS or attempt == self.retries:
                    raise JudgeError(f"{url} answered HTTP {e.code}: {detail}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                if attempt == self.retries:
                    reason = getattr(e, "reason", e)
                    raise JudgeError(f"cannot reach the OpenAI-compatible endpoint {url}: "
                                     f"{reason} (tried {self.retries + 1} times)") from None
            time.sleep(self.backoff * 2 ** attempt)
        raise AssertionError("unreachable")

    def _first_model(self) -> str:
        listed = self._request("/models").get("data") or []
        if not listed:
            raise JudgeError(f"{self.base_url}/models lists no model; pass model=")
        return str(listed[0]["id"])

    def complete(self, prompt: str, schema: Any = DEFAULT, max_tokens: int | None = None) -> Completion:
        schema = self._schema(schema)
        body: dict[str, Any] = {"model": self.model, "messages": self.messages(prompt),
                                "max_tokens": max_tokens or self.decoding["max_tokens"],
                                "temperature": self.decoding["temperature"]}
        if schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "verdict", "schema": schema}}
        out = self._request("/chat/completions", body)
        try:
            text = out["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise JudgeError(f"{self.base_url}/chat/completions returned no message: "
                             f"{json.dumps(out)[:300]}") from None
        usage = out.get("usage") or {}
        return Completion(text, int(usage.get("prompt_tokens", 0)),
                          int(usage.get("completion_tokens", 0)))
