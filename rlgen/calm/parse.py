"""An LLM's answer -> a per-subgoal verdict, or "unparseable" as its own outcome.

Accepted: a python or JSON dict, fenced (```python / ```json / bare fence, closed or not) or
inline; when several dicts appear (models often echo the prompt's example first) the last one
that holds a verdict wins. Values must be booleans (python True/False or JSON true/false):
1/0, "yes" or "True" are not verdicts, because CALM's original scoring read ints as truthy by
accident (an integer time 0 counted as "not achieved"). Swapped pairs ({True: "open the door"},
or a bool mapped to a list of names) are turned around. A dict wrapping a single dict is
unwrapped. An answer with no dict, or whose dicts hold no boolean verdict, is unparseable and
is reported as such, never silently scored as "nothing achieved".
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

OK, UNPARSEABLE = "ok", "unparseable"


@dataclass(frozen=True)
class Verdict:
    """`subgoals` maps each subgoal name the answer gave to achieved (True) or not."""

    status: str
    subgoals: dict[str, bool] = field(default_factory=dict)
    reason: str = ""  # why an answer is unparseable, or which entries were ignored

    @property
    def parsed(self) -> bool:
        return self.status == OK

    @property
    def any(self) -> bool:
        """CALM's binary view: some subgoal was achieved."""
        return any(self.subgoals.values())

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "subgoals": self.subgoals, "reason": self.reason}


def dict_spans(text: str) -> list[str]:
    """Every top-level balanced {...} substring, in order (braces inside quotes are skipped)."""
    spans, depth, start, quote, escaped = [], 0, -1, "", False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
            continue
        if ch in "\"'" and depth:
            quote = ch
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start:i + 1])
    return spans


_JSON_WORDS = {"true": "True", "false": "False", "null": "None"}


def _python_pairs(span: str) -> list[tuple[Any, Any]] | None:
    # Walk the dict node rather than literal_eval the whole span, so repeated keys (two
    # subgoals both swapped under True) are all kept.
    try:
        node = ast.parse(span.strip(), mode="eval").body
        if not isinstance(node, ast.Dict) or any(k is None for k in node.keys):
            return None
        return [(ast.literal_eval(k), ast.literal_eval(v)) for k, v in zip(node.keys, node.values, strict=True)]
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def pairs(span: str) -> list[tuple[Any, Any]] | None:
    """The (key, value) pairs of a dict literal written as python (True/False), as JSON
    (true/false) or as python with JSON's words; None when it is not a dict."""
    found = _python_pairs(span)
    if found is not None:
        return found
    try:
        obj = json.loads(span, object_pairs_hook=list)
        return obj if isinstance(obj, list) and all(isinstance(p, tuple) for p in obj) else None
    except ValueError:
        pass
    return _python_pairs(re.sub(r"\b(true|false|null)\b", lambda m: _JSON_WORDS[m.group(1)], span))


def verdicts(entries: list[tuple[Any, Any]]) -> tuple[dict[str, bool], list[str]]:
    """(name -> bool, descriptions of entries that are not verdicts)."""
    if len(entries) == 1 and isinstance(entries[0][1], dict | list):
        inner = entries[0][1]  # {"subgoals": {...}} and similar wrappers
        if isinstance(inner, dict):
            entries = list(inner.items())
        elif all(isinstance(p, tuple) for p in inner):  # JSON pairs
            entries = inner
    out: dict[str, bool] = {}
    ignored: list[str] = []
    for k, v in entries:
        if isinstance(k, str) and isinstance(v, bool):
            out[k.strip()] = v
        elif isinstance(k, bool) and isinstance(v, str):  # swapped pair
            out[v.strip()] = k
        elif isinstance(k, bool) and isinstance(v, list | tuple) and v and \
                all(isinstance(x, str) for x in v):
            out.update({x.strip(): k for x in v})
        else:
            ignored.append(f"{k!r}: {v!r}")
    return out, ignored


def parse_answer(text: str) -> Verdict:
    """The verdict in `text` (see the module docstring for what is accepted)."""
    if not text or not text.strip():
        return Verdict(UNPARSEABLE, reason="empty answer")
    spans = dict_spans(text)
    if not spans:
        return Verdict(UNPARSEABLE, reason="no {...} dict in the answer")
    seen_dict = False
    for span in reversed(spans):
        entries = pairs(span)
        if entries is None:
            continue
        seen_dict = True
        found, ignored = verdicts(entries)
        if found:
            return Verdict(OK, found, ("ignored " + ", ".join(ignored)) if ignored else "")
    if seen_dict:
        return Verdict(UNPARSEABLE, reason="no boolean verdict in the answer's dicts")
    return Verdict(UNPARSEABLE, reason="no dict in the answer parses as python or JSON")


def parse_batch_answer(text: str, n: int, subgoals: Sequence[str]) -> list[Verdict]:
    """The n verdicts of a batched answer: a JSON list of n lists of one boolean per subgoal
    (`rlgen.calm.prompts.batch_schema`). An answer that is not exactly that makes every one
    of the n verdicts unparseable, with the reason."""
    t = text.strip()
    start, end = t.find("["), t.rfind("]")
    reason = ""
    try:
        rows = json.loads(t[start:end + 1]) if start >= 0 < end else None
    except ValueError:
        rows, reason = None, "the list does not parse as JSON"
    if rows is None:
        reason = reason or "no [...] list in the answer"
    elif not isinstance(rows, list) or len(rows) != n:
        reason, rows = f"expected a list of {n} verdict lists", None
    elif not all(isinstance(r, list) and len(r) == len(subgoals)
                 and all(isinstance(v, bool) for v in r) for r in rows):
        reason, rows = f"each verdict must be {len(subgoals)} booleans", None
    if rows is None:
        return [Verdict(UNPARSEABLE, reason=reason) for _ in range(n)]
    return [Verdict(OK, dict(zip(subgoals, r, strict=True))) for r in rows]
