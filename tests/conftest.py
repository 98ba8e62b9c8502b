import contextlib
import importlib.util
import os
from pathlib import Path
from unittest import mock

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture
def runs_root(tmp_path):
    return tmp_path / "runs"


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory):
    """Noisy-expert demonstrations on toy:identity (random play scores 0.25 normalized)."""
    from rlgen.agents.loading import load_policy
    from rlgen.data.collect import collect
    from rlgen.registry import make_env_spec

    out = tmp_path_factory.mktemp("data") / "toy"
    spec = make_env_spec("toy:identity")
    policy, behavior = load_policy("oracle:0.3", spec)
    collect(spec, policy, out, 2000, num_envs=8, behavior=behavior, progress=False)
    return str(out)


def load_script(relative: str):
    """A script under scripts/ as a module (tests call its main() or reuse its settings)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def interrupted_at_log(n: int):
    """Inside the block, the n-th `RunDir.log` call raises KeyboardInterrupt, as Ctrl-C would
    there; the block must end in that interrupt."""
    from rlgen.runs import RunDir

    calls = {"n": 0}
    original = RunDir.log

    def log(self, step, metrics):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        original(self, step, metrics)

    with mock.patch.object(RunDir, "log", log), pytest.raises(KeyboardInterrupt):
        yield
