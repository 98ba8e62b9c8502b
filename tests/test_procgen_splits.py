import json

import numpy as np
import pytest

from rlgen import make_env_spec
from rlgen.envs.procgen_levels import level_signature, shipped_path


def test_default_splits_are_enumerated_disjoint_and_stable():
    a = make_env_spec("procgen:coinrun").splits
    b = make_env_spec("procgen:coinrun").splits
    assert a["train"].levels == tuple(range(200))
    assert a["val"].levels == tuple(range(200, 250))
    for name in ("train", "val", "test"):
        assert a[name].levels == b[name].levels
    train, val, test = (set(a[n].levels) for n in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert all(10**6 <= s < 2**31 for s in test)
    assert len(test) + len(a.excluded["test"]) == 1000


def test_test_split_drops_duplicates_of_train_levels():
    spec = make_env_spec("procgen:maze")
    raw = make_env_spec("procgen:maze", exclude_duplicates=False).splits
    excluded = set(spec.splits.excluded["test"])
    assert excluded, "maze easy has known duplicates of train levels"
    assert excluded <= set(raw["test"].levels)
    assert not excluded & set(spec.splits["test"].levels)
    sigs = json.loads(shipped_path("maze", "easy").read_text())["signatures"]
    ref = {sigs[str(s)] for s in range(250)}
    assert all(sigs[str(s)] in ref for s in excluded)
    kept = [s for s in spec.splits["test"].levels if sigs[str(s)] in ref]
    assert kept == []


@pytest.mark.parametrize(("game", "mode"), [("coinrun", "easy"), ("maze", "easy"), ("ninja", "hard")])
def test_shipped_signatures_match_recomputation(game, mode):
    sigs = json.loads(shipped_path(game, mode).read_text())["signatures"]
    rng = np.random.default_rng(1)
    for seed in rng.choice([int(k) for k in sigs], size=5, replace=False):
        assert level_signature(game, mode, int(seed)) == sigs[str(seed)]


def test_signature_identifies_a_level():
    assert level_signature("coinrun", "easy", 3) == level_signature("coinrun", "easy", 3)
    assert level_signature("coinrun", "easy", 3) != level_signature("coinrun", "easy", 4)


def test_custom_num_levels_changes_train_only():
    spec = make_env_spec("procgen:coinrun", num_levels=20, val_levels=5)
    assert spec.splits["train"].levels == tuple(range(20))
    assert spec.splits["val"].levels == tuple(range(20, 25))
