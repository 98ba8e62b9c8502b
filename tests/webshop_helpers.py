"""Shared helpers of the WebShop tests: where the reference cases live.

The catalogue itself is packaged with rlgen; only `reference_cases.json` (computed with the
original code) is read from outside: `$RLGEN_WEBSHOP_REFERENCE`, else `../shared/data/webshop`
beside the repository. Tests that need it are skipped without it.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import pytest

from rlgen.paths import REPO_ROOT

REFERENCE_ENV_VAR = "RLGEN_WEBSHOP_REFERENCE"


def reference_dir() -> Path:
    folder = Path(os.environ.get(REFERENCE_ENV_VAR) or REPO_ROOT.parent / "shared" / "data" / "webshop")
    if not (folder / "reference_cases.json").exists():
        pytest.skip(f"the WebShop reference cases ({folder}/reference_cases.json; set "
                    f"${REFERENCE_ENV_VAR}) are absent")
    return folder


@lru_cache(maxsize=1)
def _reference(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def reference() -> dict:
    return _reference(str(reference_dir() / "reference_cases.json"))
