"""The sweep files under sweeps/ and the spec features they use ([[when]] rules, dataset axes)."""

import pytest

from rlgen.cli import main
from rlgen.sweep.spec import expand, load_sweep, sweep_names

RULES = """
[base]
agent = "bc"
env = "toy:identity"
overrides = { batch_size = 64 }
[axes]
agent = ["bc", "dt"]
seed = [0, 1]
[[when]]
agent = "dt"
set = { overrides = { batch_size = 16 }, episodes = 3 }
[variants.small]
steps = 10
[[variants.small.when]]
agent = ["dt"]
seed = [1]
set = { "overrides.lr" = 1e-4 }
"""


def test_when_rules_set_fields_on_matching_trials_only(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    plain = {(t.params["agent"], t.params["seed"]): t.params for t in expand(load_sweep(path))}
    assert plain["bc", 0]["overrides"] == {"batch_size": 64} and plain["bc", 0]["episodes"] == 100
    assert plain["dt", 0]["overrides"] == {"batch_size": 16} and plain["dt", 0]["episodes"] == 3
    small = {(t.params["agent"], t.params["seed"]): t for t in expand(load_sweep(path, "small"))}
    assert small["dt", 1].params["overrides"] == {"batch_size": 16, "lr": 1e-4}
    assert "lr" not in small["dt", 0].params["overrides"] and small["bc", 1].params["steps"] == 10
    assert len({t.name for t in small.values()}) == 4


@pytest.mark.parametrize("rule,message", [
    ('[[when]]\nagnt = "dt"\nset = { steps = 1 }', "unknown sweep key in [[when]] #1 'agnt'"),
    ('[[when]]\nagent = "dt"', "needs conditions"),
    ('[[when]]\nagent = "dt"\nset = { stpes = 1 }', "unknown sweep key in [[when]] #1 set 'stpes'"),
])
def test_bad_when_rule_is_one_error_line(rule, message, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[base]\nagent = "bc"\nenv = "toy:identity"\n' + rule)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlgen: error:") and message in err[0]


def test_offline_procgen_variants():
    cpu = expand(load_sweep("offline_procgen", "cpu"))
    assert len(cpu) == 2 * 6 * 2 and len({t.name for t in cpu}) == len(cpu)
    assert {t.params["recipe"] for t in cpu} == {"procgen-coinrun-expert", "procgen-coinrun-mixed-50k"}
    by_agent = {t.params["agent"]: t.params for t in cpu}
    assert all(p["steps"] == 300 and p["episodes"] == 30 and p["splits"] == ["train", "test"]
               for p in by_agent.values())
    assert by_agent["dt"]["overrides"]["batch_size"] == 16 and by_agent["dt"]["overrides"]["layers"] == 2
    assert by_agent["dt"]["overrides"]["encoder"] == by_agent["cql"]["overrides"]["encoder"]
    assert by_agent["cql"]["overrides"]["batch_size"] == 64
    paper = expand(load_sweep("offline_procgen", "paper"))
    assert len(paper) == 2 * 6 * 5 and {t.params["steps"] for t in paper} == {100_000}


def test_every_sweep_file_expands_in_every_variant():
    import tomllib

    from rlgen.sweep.spec import sweep_path

    for name in sweep_names():
        variants = tomllib.loads(sweep_path(name).read_text()).get("variants", {})
        for variant in [None, *variants]:
            assert expand(load_sweep(name, variant)), (name, variant)


BUNDLES = """
[base]
env = "toy:identity"
recipe = "toy-identity-oracle"
recipe_options = { seed = "${seed}", transitions = "2k" }
[axes]
method = [
  { label = "small", agent = "bc", overrides = { batch_size = 16 } },
  { label = "big", agent = "bc", "overrides.batch_size" = 64, steps = 5 },
]
seed = [0, 1]
"""


def test_bundle_axes_interpolation_and_recipe_options(tmp_path):
    from rlgen.sweep.spec import trial_recipe

    path = tmp_path / "b.toml"
    path.write_text(BUNDLES)
    sweep = load_sweep(path)
    assert sweep.bundle_axes() == ["method"]
    trials = expand(sweep)
    assert [(t.params["labels"]["method"], t.params["seed"]) for t in trials] == \
        [("small", 0), ("small", 1), ("big", 0), ("big", 1)]
    assert [t.params["overrides"]["batch_size"] for t in trials] == [16, 16, 64, 64]
    assert [t.params["recipe_options"]["seed"] for t in trials] == [0, 1, 0, 1]  # ${seed}
    recipes = [trial_recipe(t.params, path) for t in trials]
    assert [(r.seed, r.transitions) for r in recipes] == [(0, 2000), (1, 2000)] * 2
    assert recipes[0].name == "toy-identity-oracle-seed0-transitions2000" != recipes[1].name
    path.write_text(BUNDLES.replace("transitions = ", "transitons = "))
    with pytest.raises(ValueError, match="unknown recipe option of toy-identity-oracle 'transitons'"):
        trial_recipe(expand(load_sweep(path))[0].params, path)
    path.write_text(BUNDLES.replace("${seed}", "${sed}"))
    with pytest.raises(ValueError, match=r"\$\{sed\} names no set trial parameter"):
        expand(load_sweep(path))
    path.write_text(BUNDLES.replace('"overrides.batch_size"', '"overides.batch_size"'))
    with pytest.raises(ValueError, match=r"unknown sweep key in \[axes\] method #2 'overides.batch_size'"):
        load_sweep(path)


def test_stitching_and_maze_effect_sweeps_keep_the_scripts_settings():
    """The cpu variants equal what scripts/reproduce/{stitching,maze_onestitch_effects}.py ran."""
    from rlgen.sweep.spec import trial_recipe

    stitch = load_sweep("stitching", "cpu")
    trials = expand(stitch)
    assert len(trials) == 3 * 5
    by = {(t.params["labels"]["maze"], t.params["labels"]["method"]): t.params for t in trials}
    assert by["umaze", "RvS"]["steps"] == 5000 and by["umaze", "RvS"]["overrides"] == {"hidden": [256, 256]}
    assert by["large", "DT + aug"]["overrides"] == {"temporal_augmentation": True, "augmentation_epsilon": 0.5,
                                                    "batch_size": 64, "dropout": 0.0, "lr": 3e-4}
    assert by["medium", "GCIQL"]["steps"] == 20000 and by["medium", "GCIQL"]["overrides"]["target_tau"] == 0.02
    assert by["umaze", "GCIQL"]["splits"] == ["train", "test"]
    assert by["large", "RvS"]["splits"] == ["train", "test", "ogbench"] and by["large", "RvS"]["episodes"] == 20
    assert {trial_recipe(p, stitch.path).transitions for p in by.values()} == {200_000}
    effects = load_sweep("maze-onestitch-effects", "cpu")
    e = {(t.params["labels"]["method"], t.params["seed"]): t.params for t in expand(effects)}
    assert len(e) == 3 * 4 and e["rvs+aug", 2]["overrides"] == {"hidden": [256, 256], "temporal_augmentation": True}
    assert (e["rvs", 0]["steps"], e["gciql", 0]["steps"], e["rvs", 0]["episodes"]) == (10_000, 20_000, 50)
    r = trial_recipe(e["gciql", 3], effects.path)
    assert (r.env, r.transitions, r.seed, r.num_envs) == ("maze:pointmaze-hook", 50_000, 3, 16)
