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
