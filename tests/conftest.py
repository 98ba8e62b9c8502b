import os

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture
def runs_root(tmp_path):
    return tmp_path / "runs"
