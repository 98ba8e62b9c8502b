"""CALM judges without a model: the answer cache, resume, replay, the oracle, and the openai
backend against a small local OpenAI-style HTTP server (real sockets, scripted answers)."""

import json
import socket
import time

import pytest
from calm_helpers import Endpoint, keyroom_transitions

from rlgen.calm.cache import AnswerCache, cache_key
from rlgen.calm.judges import JudgeError, JudgeRequest, make_judge
from rlgen.calm.judges.openai import OpenAIJudge, api_base
from rlgen.calm.labels import oracle_labels
from rlgen.calm.prompts import PromptConfig, transition_prompt
from rlgen.cli import main
from rlgen.registry import UnknownNameError


@pytest.fixture
def endpoint():
    ep = Endpoint()
    yield ep
    ep.close()


def _judge(url, cache, **kw):
    return OpenAIJudge(url, cache=cache, backoff=0.01, **kw)


def test_cache_round_trip_and_torn_last_line(tmp_path):
    path = tmp_path / "answers.jsonl"
    cache = AnswerCache(path)
    dec = {"max_tokens": 8, "temperature": 0.0, "schema": None}
    cache.put("m", "p1", dec, "a1", prompt_tokens=3)
    cache.put("m", "p2", dec, "a2")
    again = AnswerCache(path)
    assert again.get(cache_key("m", "p1", dec))["answer"] == "a1"
    assert again.get(cache_key("m", "p1", dec))["prompt_tokens"] == 3
    assert cache_key("m", "p1", dec) != cache_key("m", "p1", {**dec, "temperature": 0.5})
    assert cache_key("m", "p1", dec) != cache_key("other", "p1", dec)
    with open(path, "ab") as f:  # the process died while writing a third answer
        f.write(b'{"key": "abc", "answer": "half')
    torn = AnswerCache(path)
    assert len(torn) == 2
    torn.put("m", "p3", dec, "a3")  # the torn tail is cut before appending
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(x) for x in lines)
    assert len(AnswerCache(path)) == 3


def test_a_damaged_middle_line_is_an_error(tmp_path):
    path = tmp_path / "answers.jsonl"
    AnswerCache(path).put("m", "p", {}, "a")
    path.write_text("garbage\n" + path.read_text())
    with pytest.raises(ValueError, match="line 1"):
        AnswerCache(path)


def test_openai_judge_parses_counts_tokens_and_caches(endpoint, tmp_path):
    cache = tmp_path / "a.jsonl"
    judge = _judge(endpoint.url, cache)
    assert judge.model == "stub-model"  # the first model /v1/models lists
    prompts = ["alpha prompt text", "bravo prompt text", "alpha prompt text"]
    out = judge.judge(prompts)
    assert endpoint.calls == 2  # a prompt repeated within a batch is asked once
    assert [o.verdict.subgoals for o in out] == [{"alpha prompt": True}, {"bravo prompt": True},
                                                {"alpha prompt": True}]
    assert out[0].prompt_tokens == 3 and out[0].completion_tokens == 7 and out[0].latency_s > 0
    assert not any(o.cached for o in out)
    again = _judge(endpoint.url, cache).judge(prompts)  # a new process, same cache file
    assert endpoint.calls == 2 and all(o.cached for o in again)
    assert [o.answer for o in again] == [o.answer for o in out]
    assert endpoint.bodies[0]["temperature"] == 0.0 and "response_format" not in endpoint.bodies[0]


def test_interrupted_annotation_resumes_without_repeating_calls(tmp_path):
    ep = Endpoint(fail_on="prompt 3")
    try:
        cache = tmp_path / "a.jsonl"
        prompts = [f"prompt {i}" for i in range(6)]
        with pytest.raises(JudgeError, match="HTTP 400"):
            _judge(ep.url, cache).judge(prompts)  # sequential: 0, 1, 2 answered, 3 fails
        assert len(AnswerCache(cache)) == 3
        ep.fail_on = "\0"
        before = ep.calls
        out = _judge(ep.url, cache).judge(prompts)
        assert ep.calls - before == 3  # only the unanswered prompts are asked again
        assert [o.cached for o in out] == [True] * 3 + [False] * 3
    finally:
        ep.close()


def test_retries_with_backoff_then_succeeds(tmp_path):
    ep = Endpoint(fail_first=2)
    try:
        out = _judge(ep.url, tmp_path / "a.jsonl", model="m", retries=3).judge(["retry me"])
        assert ep.calls == 3 and out[0].verdict.parsed
    finally:
        ep.close()


def test_concurrency_is_used_and_limited(tmp_path):
    ep = Endpoint(delay=0.2)
    try:
        judge = _judge(ep.url, tmp_path / "a.jsonl", model="m", concurrency=3)
        out = judge.judge([f"p{i}" for i in range(9)])
        assert [o.verdict.subgoals for o in out] == [{f"p{i}": True} for i in range(9)]  # in order
        assert 1 < ep.max_in_flight <= 3
    finally:
        ep.close()


def test_schema_is_sent_when_asked(endpoint, tmp_path):
    judge = _judge(endpoint.url, tmp_path / "a.jsonl", schema=True,
                   subgoals=["pick up the key", "open the door"])
    judge.judge(["with schema"])
    fmt = endpoint.bodies[-1]["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"]["required"] == ["pick up the key", "open the door"]


def test_unreachable_endpoint_is_one_clear_error(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(JudgeError, match=f"cannot reach .*127.0.0.1:{port}") as e:
        _judge(f"http://127.0.0.1:{port}", tmp_path / "a.jsonl", retries=1)
    assert "\n" not in str(e.value) and time.perf_counter() - start < 10


def test_endpoint_from_the_environment(endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("RLGEN_OPENAI_BASE_URL", endpoint.url + "/v1")
    monkeypatch.setenv("RLGEN_OPENAI_MODEL", "env-model")
    judge = make_judge("openai", cache=tmp_path / "a.jsonl")
    assert judge.base_url == endpoint.url + "/v1" and judge.model == "env-model"
    assert api_base("http://h:1") == "http://h:1/v1"
    assert api_base("https://api.example.com/openai/v1/chat/completions") == \
        "https://api.example.com/openai/v1"
    with pytest.raises(ValueError, match="not an http"):
        api_base("127.0.0.1:8080")


def test_replay_answers_offline_bit_for_bit(endpoint, tmp_path):
    cache = tmp_path / "a.jsonl"
    prompts = ["one", "two"]
    live = _judge(endpoint.url, cache).judge(prompts)
    endpoint.close()
    replay = make_judge(f"replay:{cache}")
    assert replay.model == "stub-model"
    out = replay.judge(prompts)
    assert [o.answer for o in out] == [o.answer for o in live]
    assert [o.verdict for o in out] == [o.verdict for o in live]
    assert [o.prompt_tokens for o in out] == [o.prompt_tokens for o in live]
    with pytest.raises(JudgeError, match="1 of 1 prompts have no recorded answer"):
        replay.judge(["three"])


def test_oracle_judge_matches_the_labels():
    trs = keyroom_transitions()
    cfg = PromptConfig.preset()
    judge = make_judge("oracle")
    out = judge.judge([JudgeRequest(transition_prompt(tr, cfg), tr) for tr in trs])
    assert [o.verdict.subgoals for o in out] == [oracle_labels(tr) for tr in trs]
    assert sum(o.verdict.any for o in out) == 2
    with pytest.raises(JudgeError, match="transitions"):
        judge.judge(["a prompt without its transition"])


def test_judge_names_are_registered_with_suggestions(tmp_path):
    with pytest.raises(UnknownNameError, match="'oracle'"):
        make_judge("oracel")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_judge(f"replay:{tmp_path / 'missing.jsonl'}")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_judge(f"llamacpp:{tmp_path / 'missing.gguf'}")


def test_serve_with_a_missing_model_is_one_error_line(capsys, tmp_path):
    code = main(["calm", "serve", "--model", str(tmp_path / "none.gguf"), "--port", "8089"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("rlgen: error:") and len(err.strip().splitlines()) == 1


def test_batched_judging_asks_k_transitions_per_request_and_caches_each(tmp_path):
    """per_request=3: consecutive steps go as windows (each screen once, Time 0..3), other
    transitions as numbered ones; a list-of-boolean-lists schema; verdicts in order, one cache
    line per transition; a rerun asks nothing and the file replays; an answer that is not the
    list makes every verdict of its request unparseable."""
    import re

    def rows(prompt):  # the second action of every request achieved the first subgoal
        n = len(re.findall(r"^Transition \d+:$", prompt, re.M)) or \
            len(re.findall(r"^Time: \d+$", prompt, re.M)) - 1
        return json.dumps([[i == 1, False] for i in range(n)])

    cfg = PromptConfig.preset()
    trs = keyroom_transitions()[:7]  # one episode's consecutive steps
    reqs = [JudgeRequest(transition_prompt(tr, cfg), tr) for tr in trs]
    ep = Endpoint(answer=rows)

    def judge(cache):
        return _judge(ep.url, cache, per_request=3, prompt=cfg, schema=True,
                      subgoals=cfg.named_subgoals)
    try:
        out = judge(tmp_path / "a.jsonl").judge(reqs)
        assert ep.calls == 3  # windows of 3 + 3, then the last one alone
        text = ep.bodies[0]["messages"][-1]["content"]
        assert "Time: 3" in text and "Time: 4" not in text and "Transition 1:" not in text
        assert len(text) < 0.75 * sum(len(r.prompt) for r in reqs[:3])
        schema = ep.bodies[0]["response_format"]["json_schema"]["schema"]
        assert schema["minItems"] == schema["maxItems"] == 3
        assert [o.verdict.subgoals["pick up the key"] for o in out] == \
            [False, True, False, False, True, False, False]
        assert all(o.verdict.parsed for o in out) and len(AnswerCache(tmp_path / "a.jsonl")) == 7
        again = judge(tmp_path / "a.jsonl").judge(reqs)
        assert ep.calls == 3 and all(o.cached for o in again)
        loose = [reqs[4], reqs[0], reqs[2]]  # no step continues the one before
        judge(tmp_path / "c.jsonl").judge(loose)
        text = ep.bodies[-1]["messages"][-1]["content"]
        assert ep.calls == 4 and text.index("Transition 1:") < text.index("Transition 3:")
        ep.answer = lambda prompt: "I think the agent did well."
        bad = judge(tmp_path / "b.jsonl").judge(reqs[:3])
        assert [o.verdict.status for o in bad] == ["unparseable"] * 3
    finally:
        ep.close()
    replayed = make_judge(f"replay:{tmp_path / 'a.jsonl'}").judge([r.prompt for r in reqs])
    assert [o.verdict.subgoals for o in replayed] == [o.verdict.subgoals for o in out]
    with pytest.raises(ValueError, match="named subgoals"):
        _judge("http://127.0.0.1:1", False, per_request=3, prompt=PromptConfig(), model="m")
