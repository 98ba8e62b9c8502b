import re

import pytest

from rlgen import UnknownNameError, make_env_spec
from rlgen.cli import main


@pytest.mark.parametrize(
    "argv, suggestion",
    [
        (["train", "--agent", "ppx", "--env", "procgen:coinrun"], "'ppo'"),
        (["train", "--agent", "ppo", "--env", "procgen:coinrn"], "'coinrun'"),
        (["train", "--agent", "ppo", "--env", "procgn:coinrun"], "'procgen'"),
        (["train", "--agent", "ppo", "--env", "procgen:coinrun", "--set", "lrr=1e-3"], "'lr'"),
        (["levels", "check", "procgen:mazee"], "'maze'"),
    ],
)
def test_unknown_names_exit_2_with_suggestion(argv, suggestion, capsys, tmp_path):
    code = main([*argv, "--runs-root", str(tmp_path)] if argv[0] == "train" else argv)
    err = capsys.readouterr().err
    assert code == 2
    assert "Did you mean" in err and suggestion in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unknown_env_option_is_refused():
    with pytest.raises(UnknownNameError, match="distribution_mode"):
        make_env_spec("procgen:coinrun", distribution_mod="hard")


def test_bad_option_values():
    with pytest.raises(ValueError, match="num_levels=0"):
        make_env_spec("procgen:coinrun", num_levels=0)
    with pytest.raises(ValueError, match="easy"):
        make_env_spec("procgen:coinrun", distribution_mode="medium")


def test_list_envs_and_agents(capsys):
    assert main(["list", "envs"]) == 0
    out = capsys.readouterr().out
    for game in ("coinrun", "maze", "bigfish", "starpilot"):
        assert f"procgen:{game}" in out
    assert len(re.findall(r"procgen:[a-z]+", out)) == 16
    assert main(["list", "agents"]) == 0
    assert "ppo" in capsys.readouterr().out


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--agent", "ppo", "--env", "procgen:coinrun", "--distribution-mode", "medium"])
    assert e.value.code == 2


@pytest.mark.parametrize("what, table", [("objectives", "objective"),
                                         ("wrappers", "training wrapper"), ("judges", "judge")])
def test_list_describes_every_registered_entry(what, table, capsys):
    from rlgen.cli import main
    from rlgen.registry import TABLES

    assert main(["list", what]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(TABLES[table])
    assert all(len(line.split()) > 2 for line in lines)  # each has a one-line description
