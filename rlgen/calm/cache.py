"""The answer cache: one JSON line per LLM answer, keyed by a hash of (model, prompt, decoding).

Every live judge writes through it, one appended and flushed line per answer, so an annotation
that is interrupted resumes without repeating a call, and a finished one replays offline with
the same answers (the replay judge reads this file). A torn last line (the process died while
writing it) is dropped on load and cut off before the next append; a damaged line elsewhere is
an error, since it means the file was edited or mixed up.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


def cache_key(model: str, prompt: str, decoding: Mapping[str, Any]) -> str:
    blob = json.dumps({"model": model, "prompt": prompt, "decoding": dict(decoding)},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def default_cache_path() -> Path:
    from rlgen.paths import cache_dir

    return cache_dir() / "calm" / "answers.jsonl"


class AnswerCache:
    """Records by key, loaded from `path` (created on first write). Thread-safe appends."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.records: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._torn = 0  # bytes of a torn last line still in the file
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        # A file written by this class ends in "\n", so the last element is b"" unless the
        # final write was cut short.
        tail = lines.pop()
        if tail:
            self._torn = len(tail)
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise ValueError(f"{self.path}: line {n} is not JSON ({e}); the answer cache is "
                                 "damaged") from None
            self.records[rec["key"]] = rec

    def __len__(self) -> int:
        return len(self.records)

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records.values())

    def put(self, model: str, prompt: str, decoding: Mapping[str, Any], answer: str,
            **extra: Any) -> dict[str, Any]:
        """Store one answer (appended and flushed at once); returns the record."""
        rec = {"key": cache_key(model, prompt, decoding), "model": model,
               "decoding": dict(decoding), "answer": answer, **extra, "prompt": prompt,
               "time": time.time()}
        line = (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._torn:
                with open(self.path, "r+b") as f:
                    f.truncate(f.seek(0, os.SEEK_END) - self._torn)
                self._torn = 0
            with open(self.path, "ab") as f:
                f.write(line)
                f.flush()
            self.records[rec["key"]] = rec
        return rec
