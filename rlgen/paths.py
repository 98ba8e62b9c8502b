"""Where the declarative spec folders and caches live."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def spec_root() -> Path:
    """Folder holding `envs/`, `agents/` and `datasets/` (the repo root for an editable install)."""
    return Path(os.environ.get("RLGEN_SPEC_ROOT", REPO_ROOT))


def cache_dir() -> Path:
    path = Path(os.environ.get("RLGEN_CACHE", Path.home() / ".cache" / "rlgen"))
    path.mkdir(parents=True, exist_ok=True)
    return path
