import contextlib
import json
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


#: tiny PPO (checkpointing every update, so a cut trial has a checkpoint to resume) and BC
#: settings for sweeps on toy:identity
TOY_PPO = "{ num_envs = 4, num_steps = 32, minibatches = 2, epochs = 1, checkpoint_every_s = 0.0 }"
TOY_BC = "{ batch_size = 64, lr = 1e-3, log_every = 10, encoder = { channels = [8], out_dim = 32 } }"


def write_toy_sweep(folder: Path, name: str = "toy", *, bc: bool = True, ppo_steps: int = 384,
                    recipe: str = "toy-identity-oracle", axes: str = "seed = [0, 1]",
                    base: str = "", extra: str = "",
                    description: str | None = None) -> Path:
    """`folder/name.toml`, a small real sweep on toy:identity over `axes` (TOML lines of
    [axes]): PPO alone, in [base] (trials named `ppo-toy-identity-sSEED`), or with `bc` PPO and
    BC (30 steps on `recipe`, a name under datasets/ or a .toml beside the sweep file) as
    two [[trials]]. `base` adds lines to
    [base]; `extra` is TOML after [axes] ([[trials]], [variants.x], ...)."""
    ppo = f"steps = {ppo_steps}\noverrides = {TOY_PPO}\n"
    agents = (f'[[trials]]\nagent = "ppo"\n{ppo}[[trials]]\nagent = "bc"\nsteps = 30\n'
              f'recipe = "{recipe}"\noverrides = {TOY_BC}\n') if bc else ""
    text = (f"description = {description!r}\n" if description else "") + \
        '[base]\nenv = "toy:identity"\nepisodes = 4\nsplits = ["train", "test"]\n' + \
        ("" if bc else f'agent = "ppo"\n{ppo}') + (base + "\n" if base else "") + \
        f"[axes]\n{axes}\n{agents}{extra}\n"
    path = Path(folder) / f"{name}.toml"
    path.write_text(text)
    return path


def manifest_trials(out: Path) -> dict:
    """A sweep folder's manifest entries, by trial name."""
    return json.loads((Path(out) / "manifest.json").read_text())["trials"]


def sweep_report_rows(text: str) -> dict[str, list[list[str]]]:
    """The tables of a sweep report as printed (`rlgen sweep`, `rlgen report SWEEP_DIR`), by
    title, without the trials' wall time and host: what must agree between two runs of the same
    sweep."""
    from rlgen.eval.tables import Table

    out = {}
    for section in text.split("\n### ")[1:]:
        title, _, body = section.partition("\n")
        table = Table.from_markdown(body)
        keep = [i for i, h in enumerate(table.header) if h not in ("wall s", "host")]
        out[title] = [[row[i] for i in keep] for row in table.rows]
    return out


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
