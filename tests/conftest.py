import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture
def runs_root(tmp_path):
    return tmp_path / "runs"


def load_script(relative: str):
    """A script under scripts/ as a module (tests call its main() or reuse its settings)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
