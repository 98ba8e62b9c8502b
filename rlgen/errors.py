"""Errors every layer may raise; this module imports nothing from rlgen, so low-level modules
(env families, splits, config) can use it without importing the registry."""

from __future__ import annotations

import difflib


class UnknownNameError(ValueError):
    """A name that is not registered; the message lists the close matches."""

    def __init__(self, kind: str, name: str, known: list[str]):
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}.{hint} Known: {', '.join(sorted(known))}.")
        self.kind, self.name, self.suggestions = kind, name, close
