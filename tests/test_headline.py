"""The pieces behind `rlgen train --agent bc --env procgen:coinrun` with no dataset argument."""

import numpy as np

from rlgen.agents.loading import BUNDLED, load_policy
from rlgen.data.recipes import default_recipe
from rlgen.registry import make_env_spec


def test_default_dataset_recipe_uses_the_bundled_expert():
    recipe = default_recipe("procgen:coinrun")
    assert recipe is not None and recipe.policy == "bundled:procgen-coinrun"
    assert recipe.split == "train" and recipe.transitions <= 100_000
    assert (BUNDLED / "procgen-coinrun.pt").exists()
    card = (BUNDLED / "procgen-coinrun.md").read_text()
    assert "rlgen train --agent ppo" in card and "env steps" in card


def test_bundled_expert_loads_and_acts():
    spec = make_env_spec("procgen:coinrun")
    policy, behavior = load_policy("bundled:procgen-coinrun", spec)
    assert behavior["kind"] == "ppo" and behavior["global_step"] > 0
    env = spec.make_env()
    obs = np.stack([env.reset(options={"level": lvl})[0] for lvl in (0, 1, 2)])
    actions = policy.act(obs)
    assert actions.shape == (3,) and ((0 <= actions) & (actions < 15)).all()


def test_unknown_policy_source_is_a_clear_error():
    import pytest

    with pytest.raises(FileNotFoundError, match="neither a run directory"):
        load_policy("bundled-nope", make_env_spec("procgen:coinrun"))
