"""Configs refuse what they cannot honour: every preset and override value is checked against
its dataclass field's type, budgets must be positive counts, agents must fit the env, and a bad
input ends in one `rlgen: error:` line with no run directory left behind."""

import dataclasses
import tomllib
from typing import Literal

import gymnasium as gym
import pytest

from rlgen import make_env_spec
from rlgen import train as T
from rlgen.agents.base import fitting_agents
from rlgen.agents.ppo import PPOConfig
from rlgen.cli import main
from rlgen.config import (
    ConfigError,
    build_config,
    dataclass_schema,
    load_preset,
    parse_count,
    parse_override,
    preset_path,
    split_preset,
)
from rlgen.registry import AGENTS, ENV_FAMILIES, UnknownNameError, agent_class


@dataclasses.dataclass(frozen=True)
class Sample:
    count: int = 1
    rate: float = 0.5
    flag: bool = False
    name: str = "a"
    sizes: tuple[int, ...] = (8, 8)
    label: str | None = None
    mode: Literal["fast", "slow"] = "fast"
    table: dict = dataclasses.field(default_factory=lambda: {"keep": 1})


def sample(*pairs: str) -> Sample:
    return build_config(Sample, dict(parse_override(p) for p in pairs))


# ---- values against field types ---------------------------------------------------------------
@pytest.mark.parametrize("text, value", [("flag=False", False), ("flag=TRUE", True),
                                         ("flag=true", True), ("flag=false", False)])
def test_bools_accept_true_and_false_in_any_case(text, value):
    assert sample(text).flag is value


def test_values_are_converted_to_their_field_type():
    s = sample("rate=1", "count=1e3", "sizes=[4,16,32]", "label=x", "mode=slow")
    assert s.rate == 1.0 and isinstance(s.rate, float)
    assert s.count == 1000 and isinstance(s.count, int)
    assert s.sizes == (4, 16, 32) and s.label == "x" and s.mode == "slow"


@pytest.mark.parametrize("text, message", [
    ("count=3.5", "Sample.count: expected int, got 3.5 (float)"),
    ("count=true", "Sample.count: expected int, got True (bool)"),
    ("rate=abc", "Sample.rate: expected float, got 'abc' (str)"),
    ("flag=yes", "Sample.flag: expected bool (true or false), got 'yes' (str)"),
    ("flag=1", "Sample.flag: expected bool (true or false), got 1 (int)"),
    ("name=3", "Sample.name: expected str, got 3 (int)"),
    ("sizes=8", "Sample.sizes: expected list of int, got 8 (int)"),
    ("sizes=[8,1.5]", "Sample.sizes[1]: expected int, got 1.5 (float)"),
    ("label=[1]", "Sample.label: expected str or none, got [1] (list)"),
    ("mode=medium", "Sample.mode: expected one of 'fast', 'slow', got 'medium' (str)"),
    ("table=3", "Sample.table: expected table, got 3 (int)"),
    ("count.x=1", "count takes int, not a table"),
])
def test_bad_values_name_field_value_and_type(text, message):
    with pytest.raises(ConfigError) as e:
        sample(text)
    assert message in str(e.value)


def test_dotted_keys_reach_into_table_fields():
    s = sample("table.deep.x=2", "table.other=[1,2]")
    assert s.table == {"keep": 1, "deep": {"x": 2}, "other": [1, 2]}
    layered = build_config(Sample, {"table": {"a": 1}}, {"table.b": 2})
    assert layered.table == {"a": 1, "b": 2}
    with pytest.raises(UnknownNameError, match="'table'"):
        sample("tabel.x=1")


@pytest.mark.parametrize("text, count", [("5000", 5000), ("100k", 100_000), ("25M", 25_000_000),
                                         ("1e6", 10**6), ("1.5k", 1500), (7, 7)])
def test_counts(text, count):
    assert parse_count(text) == count


@pytest.mark.parametrize("text", ["-5", "0", "abc", "2.5", "", "k", True, 0, -3])
def test_bad_counts_are_refused(text):
    with pytest.raises(ConfigError, match="steps: expected a positive whole count"):
        parse_count(text, "steps")


# ---- presets ------------------------------------------------------------------------------------
@pytest.mark.parametrize("agent", list(AGENTS))
def test_every_agent_ships_a_valid_preset_for_every_family(agent):
    assert preset_path(agent).exists()
    for family in ENV_FAMILIES:
        layer = load_preset(agent, family)
        layer.pop("steps", None)
        build_config(agent_class(agent).config_class, layer)


@pytest.mark.parametrize("agent", list(AGENTS))
def test_presets_list_only_what_differs_from_the_defaults(agent):
    """A preset value equal to the default it replaces hides which settings are the agent's own
    (and goes stale when the default changes)."""
    cls = agent_class(agent)
    config = cls.config_class
    defaults = {f.name: getattr(config(), f.name) for f in dataclasses.fields(config)}
    defaults["steps"] = parse_count(getattr(cls, "default_budget", 100_000))
    with open(preset_path(agent), "rb") as f:
        base, tables = split_preset(agent, tomllib.load(f))
    schema = dataclass_schema(config)

    def as_field(key, value):
        return parse_count(value) if key == "steps" else getattr(build_config(config, {key: value}), key)

    for key, value in base.items():
        assert as_field(key, value) != defaults[key], f"{agent}.toml: {key} repeats the default"
        assert key == "steps" or key in schema
    for family, table in tables.items():
        for key, value in table.items():
            inherited = as_field(key, base[key]) if key in base else defaults[key]
            assert as_field(key, value) != inherited, f"{agent}.toml [{family}]: {key} repeats {inherited!r}"


@pytest.fixture
def spec_root(tmp_path, monkeypatch):
    """A spec folder with only the agents/ presets written by the test (toy needs no env file)."""
    (tmp_path / "agents").mkdir()
    monkeypatch.setenv("RLGEN_SPEC_ROOT", str(tmp_path))
    return tmp_path


def test_a_missing_preset_is_an_error(spec_root):
    with pytest.raises(ConfigError, match=r"no preset file .*ppo\.toml"):
        load_preset("ppo", "toy")


def test_an_unreadable_preset_is_an_error_naming_the_file(spec_root):
    (spec_root / "agents" / "ppo.toml").write_text("lr = = 3\n")
    with pytest.raises(ConfigError, match=r"cannot read preset .*ppo\.toml"):
        load_preset("ppo", "toy")


def test_a_bad_value_in_any_table_is_an_error_naming_file_and_table(spec_root):
    (spec_root / "agents" / "ppo.toml").write_text("[minihack]\nepochs = 3.5\n")
    with pytest.raises(ConfigError, match=r"ppo\.toml \[minihack\]: PPOConfig\.epochs: expected int"):
        load_preset("ppo", "toy")
    (spec_root / "agents" / "ppo.toml").write_text("[procgn]\nepochs = 3\n")
    with pytest.raises(ValueError, match="Did you mean 'procgen'"):
        load_preset("ppo", "toy")
    (spec_root / "agents" / "ppo.toml").write_text("steps = -5\n")
    with pytest.raises(ConfigError, match="steps: expected a positive whole count"):
        load_preset("ppo", "toy")


def test_a_preset_may_set_a_table_field(spec_root):
    (spec_root / "agents" / "ppo.toml").write_text("[toy.encoder]\nout_dim = 8\n")
    assert load_preset("ppo", "toy") == {"encoder": {"out_dim": 8}}


# ---- agents and envs ------------------------------------------------------------------------------
def test_capabilities_match_what_the_env_really_offers():
    for env in ("toy:identity", "procgen:coinrun", "maze:pointmaze-umaze"):
        spec = make_env_spec(env)
        caps = spec.capabilities
        env_ = spec.make_env()
        assert ("discrete_actions" in caps) == isinstance(env_.action_space, gym.spaces.Discrete), env
        env_.close()
        try:
            spec.impl.make_encoder(spec)
            has_encoder = True
        except NotImplementedError:
            has_encoder = False
        assert ("encoder" in caps) == has_encoder, env
        assert ("goal_conditioned" in caps) == (spec.family == "maze")


def test_agents_that_fit():
    assert fitting_agents(make_env_spec("maze:pointmaze-umaze")) == ["rvs", "gcdt", "gciql"]
    toy = fitting_agents(make_env_spec("toy:identity"))
    assert {"ppo", "bc", "dt"} <= set(toy) and not {"rvs", "gcdt", "gciql"} & set(toy)


def test_encoder_table_is_checked_against_the_familys_make_encoder():
    spec = make_env_spec("toy:identity")
    ppo = agent_class("ppo")
    ok = ppo.check_config(PPOConfig(encoder={"channels": [4, 8], "out_dim": 1e2}), spec)
    assert ok.encoder == {"channels": (4, 8), "out_dim": 100}
    with pytest.raises(UnknownNameError, match="Did you mean 'out_dim'"):
        ppo.check_config(PPOConfig(encoder={"out_dims": 4}), spec)
    with pytest.raises(ConfigError, match=r"PPOConfig\.encoder\.channels\[0\]: expected int, got 'a'"):
        ppo.check_config(PPOConfig(encoder={"channels": ["a"]}), spec)


# ---- the command line -----------------------------------------------------------------------------
@pytest.mark.parametrize("args, words", [
    (["--set", "epochs=3.5"], ["PPOConfig.epochs", "3.5", "int"]),
    (["--set", "lr=abc"], ["PPOConfig.lr", "'abc'", "float"]),
    (["--set", "normalize_reward=maybe"], ["PPOConfig.normalize_reward", "'maybe'", "bool"]),
    (["--set", "precision=fp8"], ["PPOConfig.precision", "'fp8'", "'bf16'"]),
    (["--set", "encoder.out_dim=1.5"], ["PPOConfig.encoder.out_dim", "1.5", "int"]),
    (["--set", "encoder.hidden=256"], ["toy encoder option", "'hidden'"]),
    (["--set", "lr.x=1"], ["PPOConfig.lr.x", "not a table"]),
    (["--steps", "-5"], ["steps", "'-5'", "positive whole count"]),
    (["--steps", "abc"], ["steps", "'abc'", "positive whole count"]),
    (["--steps", "0.5"], ["steps", "'0.5'", "positive whole count"]),
    (["--episodes", "0"], ["episodes", "0", "positive whole count"]),
    (["--splits", "train,tset"], ["split", "'tset'", "Did you mean 'test'"]),
])
def test_bad_train_inputs_end_in_one_line_and_no_run_directory(args, words, runs_root, capsys):
    code = main(["train", "--agent", "ppo", "--env", "toy:identity", "--runs-root", str(runs_root),
                 "--quiet", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("rlgen: error: ") and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err
    assert not runs_root.exists() or not any(runs_root.iterdir())


@pytest.mark.parametrize("agent, env, words", [
    ("ppo", "maze:pointmaze-umaze",
     ["ppo needs", "discrete actions", "encoder", "Agents that fit maze:pointmaze-umaze: rvs, gcdt, gciql."]),
    ("rvs", "toy:identity", ["rvs needs", "goal-conditioned", "ppo"]),
    ("bc", "toy:identity", ["bc learns from a dataset", "--dataset"]),
])
def test_agent_env_mismatch_ends_in_one_line(agent, env, words, runs_root, capsys):
    code = main(["train", "--agent", agent, "--env", env, "--runs-root", str(runs_root), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for word in words:
        assert word in err
    assert not runs_root.exists()


def test_missing_preset_ends_in_one_line(spec_root, runs_root, capsys):
    assert main(["train", "--agent", "ppo", "--env", "toy:identity", "--runs-root", str(runs_root)]) == 2
    err = capsys.readouterr().err
    assert "no preset file" in err and len(err.strip().splitlines()) == 1
    assert not runs_root.exists()


def test_good_overrides_reach_the_run_config(runs_root):
    overrides = dict(parse_override(o) for o in ["normalize_reward=False", "lr=1", "num_envs=2",
                                                  "encoder.channels=[4,8]", "encoder.out_dim=16"])
    run, resolved = T.start_run(T.TrainRequest("ppo", "toy:identity", steps="1k", name="r",
                                               runs_root=str(runs_root), overrides=overrides))
    cfg = resolved["agent_config"]
    assert cfg["normalize_reward"] is False and cfg["lr"] == 1.0 and isinstance(cfg["lr"], float)
    assert cfg["encoder"] == {"channels": [4, 8], "out_dim": 16} and resolved["steps"] == 1000
    assert tomllib.loads((run.path / "config.toml").read_text())["agent_config"]["normalize_reward"] is False


def test_list_agents_for_an_env(capsys):
    assert main(["list", "agents", "--env", "maze:pointmaze-umaze"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == ["rvs", "gcdt", "gciql"]
    assert main(["list", "agents", "--env", "toy:identity"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ppo ") and "rvs" not in out and "(needs --dataset)" in out
