"""Shared by the CALM tests: real KeyRoom-S5 transitions (the scripted oracle plays level 0)
and a small OpenAI-style HTTP endpoint with scripted answers."""

from __future__ import annotations

import json
import threading
import time
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rlgen.calm.transition import Transition


@lru_cache(maxsize=1)
def keyroom_transitions(level: int = 0) -> tuple[Transition, ...]:
    from rlgen.envs.minihack.env import MiniHackEnv
    from rlgen.envs.minihack.oracle import Oracle

    env = MiniHackEnv("KeyRoom-S5")
    obs, _ = env.reset(options={"level": level})
    oracle = Oracle(env.action_names)
    out, prev = [], None
    for t in range(100):
        a = oracle.act(obs)
        nobs, _, term, trunc, _ = env.step(a)
        out.append(Transition(obs, a, nobs, tuple(env.action_names), t, prev_action=prev))
        obs, prev = nobs, a
        if term or trunc:
            break
    env.close()
    # The next action is known inside an episode.
    return tuple(Transition(tr.obs, tr.action, tr.next_obs, tr.action_names, tr.time,
                            tr.prev_action, out[i + 1].action if i + 1 < len(out) else None)
                 for i, tr in enumerate(out))


def by_action(name: str, level: int = 0) -> Transition:
    trs = keyroom_transitions(level)
    return next(tr for tr in trs if tr.action_names[tr.action] == name)


class Endpoint:
    """A chat-completions server answering with a dict that names the prompt; `fail_first`
    requests get HTTP 503, `fail_on` prompts and every request after the first `fail_after`
    get HTTP 400 (a permanent error)."""

    def __init__(self, fail_first: int = 0, fail_on: str = "\0", delay: float = 0.0,
                 answer=None, fail_after: float = float("inf")):
        self.calls, self.in_flight, self.max_in_flight = 0, 0, 0
        self.fail_first, self.fail_on, self.delay = fail_first, fail_on, delay
        self.fail_after = fail_after
        self.answer = answer  # prompt -> answer text (default: a dict naming the prompt)
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code: int, obj: dict):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send(200, {"object": "list", "data": [{"id": "stub-model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with endpoint.lock:
                    endpoint.calls += 1
                    endpoint.bodies.append(body)
                    endpoint.in_flight += 1
                    endpoint.max_in_flight = max(endpoint.max_in_flight, endpoint.in_flight)
                    failing = endpoint.calls <= endpoint.fail_first
                    gone = endpoint.calls > endpoint.fail_after
                try:
                    time.sleep(endpoint.delay)
                    prompt = body["messages"][-1]["content"]
                    if failing:
                        return self._send(503, {"error": "loading"})
                    if gone or endpoint.fail_on in prompt:
                        return self._send(400, {"error": {"message": "prompt too long"}})
                    answer = endpoint.answer(prompt) if endpoint.answer else \
                        f'```python\n{{"{prompt[:12]}": True}}\n```'
                    self._send(200, {"choices": [{"message": {"content": answer}}],
                                     "usage": {"prompt_tokens": len(prompt.split()),
                                               "completion_tokens": 7}})
                finally:
                    with endpoint.lock:
                        endpoint.in_flight -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
