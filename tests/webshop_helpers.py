"""Shared fixtures' helpers for the WebShop tests: where the real reference data lives."""

from __future__ import annotations

import json
from functools import lru_cache

import pytest

from rlgen.envs.webshop.catalogue import default_data_dir


def real_data_dir():
    folder = default_data_dir()
    if folder is None or not (folder / "reference_cases.json").exists():
        pytest.skip("the real WebShop data (../shared/data/webshop or $RLGEN_WEBSHOP_DATA) is absent")
    return folder


@lru_cache(maxsize=1)
def _reference(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def reference() -> dict:
    return _reference(str(real_data_dir() / "reference_cases.json"))
