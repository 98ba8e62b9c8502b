"""CALM judge throughput: judged transitions/s through the in-process llama.cpp judge, against
one fresh prompt per call through the same model and the same server settings, in the same run
(interleaved repetitions, scripts/bench/_timing.py), plus where each case's time goes.

Cases (all preset-subgoal prompts, JSON-schema constrained, greedy):
- `fresh prompt per call`: CALM's dataset prompt (tty screens, cells joined by a space), the
  whole prompt evaluated on every call (`prompt_cache=False`), one verdict dict per call;
- `prefix reuse`: the same prompts; the slot keeps the KV cache of the constant prefix;
- `K per request`: up to K transitions in one request (`per_request=K`: the prefix once, then
  a run of consecutive steps as one window Time 0..K, each screen once, or else numbered
  transitions; one whitespace-free list of boolean lists as the answer), same rendering;
- `K per request, no separator`: the same with map cells not separated by spaces (CALM's RL
  annotator's rendering; about a third fewer tokens per screen);
- `K/2 per request x 2 slots`: two such requests at once on two server slots.

The transitions are a stretch of the natural step stream (an unbalanced dataset: the oracle's
episodes in order), as a training run or an episode annotation sees them; a window stops at an
episode's end. Every run judges transitions no run has judged before (llama.cpp also keeps earlier prompts in
a RAM prompt cache, so a repeated prompt would time a cache hit). The profile columns come from
the server's own timings per request: prompt tokens evaluated and the milliseconds spent on
them, answer tokens and their milliseconds, and the rest of the wall time (Python, HTTP-free
call overhead, grammar setup), all per judged transition.

    PYTHONPATH=$PWD python scripts/bench/calm_judge.py --dataset D --n 16 --k 8 --reps 3

Needs n x reps x 5 + 1 transitions of an unbalanced dataset (`rlgen calm dataset ...
--unbalanced`); without --dataset it builds one for KeyRoom-S5.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import RATE_HEADER, interleave, load_average, median, rate_rows, table  # noqa: E402

from rlgen.calm.dataset import CalmDataset, build  # noqa: E402
from rlgen.calm.judges import JudgeRequest  # noqa: E402
from rlgen.calm.judges.llamacpp import LlamaCppJudge  # noqa: E402
from rlgen.calm.prompts import PRESET_SUBGOALS, PromptConfig, transition_prompt  # noqa: E402


class Timed:
    """The server object with its per-request timings recorded (llama.cpp reports them)."""

    def __init__(self, server, log: list):
        self.server, self.log, self.lock = server, log, threading.Lock()

    def handle_chat_completions(self, body):
        out = self.server.handle_chat_completions(body)
        with self.lock:
            self.log.append(out.get("timings") or {})
        return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset")
    p.add_argument("--n", type=int, default=16, help="transitions per repetition")
    p.add_argument("--k", type=int, default=8, help="transitions per request")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", help="GGUF (default: the bundled SmolLM2-135M-Instruct)")
    args = p.parse_args()
    k = args.k
    cases = 5
    need = args.n * args.reps * cases + 1
    path = args.dataset or build("minihack:KeyRoom-S5", "train", need,
                                 Path(tempfile.mkdtemp()) / "D", balanced=False, progress=False)
    ds = CalmDataset(path)
    if len(ds) < need:
        raise SystemExit(f"{path} has {len(ds)} transitions; this needs {need}")
    spaced, tight = PromptConfig.preset(), PromptConfig.preset(separator="")
    trs = [ds.transition(i) for i in range(need)]
    fresh = iter(range(1, need, args.n))  # trs[0] is the warm-up
    common = dict(cache=False, subgoals=PRESET_SUBGOALS, max_tokens=48, threads=args.threads)
    setups = {  # name: (judge, prompt config)
        "fresh prompt per call": (LlamaCppJudge(args.model, prompt_cache=False, **common), spaced),
        "prefix reuse": (LlamaCppJudge(args.model, **common), spaced),
        f"{k} per request": (LlamaCppJudge(args.model, per_request=k, prompt=spaced, **common),
                             spaced),
        f"{k} per request, no separator": (
            LlamaCppJudge(args.model, per_request=k, prompt=tight, **common), tight),
        f"{k // 2} per request x 2 slots, no separator": (
            LlamaCppJudge(args.model, per_request=max(1, k // 2), prompt=tight, concurrency=2,
                          **common), tight),
    }
    logs: dict[str, list] = {name: [] for name in setups}
    walls: dict[str, list] = {name: [] for name in setups}
    for name, (judge, _) in setups.items():
        judge.server = Timed(judge.server, logs[name])

    def rate(name):
        judge, cfg = setups[name]

        def run() -> float:
            lo = next(fresh)
            reqs = [JudgeRequest(transition_prompt(tr, cfg), tr) for tr in trs[lo:lo + args.n]]
            logs[name].append("start")
            start = time.perf_counter()
            out = judge.judge(reqs)
            walls[name].append(time.perf_counter() - start)
            print(f"  {name}: {len(out) / walls[name][-1]:.4f} transitions/s", flush=True)
            return len(out) / walls[name][-1]
        return run

    for name, (judge, cfg) in setups.items():  # page the model in, and fill each slot's prefix
        judge.judge([JudgeRequest(transition_prompt(trs[0], cfg), trs[0])])
        logs[name].clear()
    print(f"load average before: {load_average()}; {args.n} new prompts per run, model "
          f"{setups['prefix reuse'][0].model}, {args.threads} threads", flush=True)
    rates = interleave({name: rate(name) for name in setups}, args.reps, verbose=False)
    print(table(RATE_HEADER, rate_rows(rates, "fresh prompt per call", "transitions/s", ",.3f")))

    print("\nWhere the time goes, per judged transition (medians over repetitions; server "
          "timings):")
    rows = []
    for name in setups:
        per_rep, cur = [], None
        for t in logs[name]:
            if t == "start":
                cur = {"prompt_n": 0, "prompt_ms": 0.0, "predicted_n": 0, "predicted_ms": 0.0,
                       "cache_n": 0, "requests": 0}
                per_rep.append(cur)
            elif cur is not None:
                for key in ("prompt_n", "prompt_ms", "predicted_n", "predicted_ms", "cache_n"):
                    cur[key] += t.get(key, 0)
                cur["requests"] += 1
        n = args.n
        wall = [w * 1000 / n for w in walls[name]]
        pm = [r["prompt_ms"] / n for r in per_rep]
        dm = [r["predicted_ms"] / n for r in per_rep]
        slots = 2 if "slots" in name else 1  # two slots overlap: server ms add up past the wall
        rest = [w - (a + b) / slots for w, a, b in zip(wall, pm, dm, strict=True)]
        rows.append([name, f"{median([r['requests'] for r in per_rep]):.0f}",
                     f"{median([r['prompt_n'] / n for r in per_rep]):.0f}",
                     f"{median([r['cache_n'] / n for r in per_rep]):.0f}",
                     f"{median(pm):,.0f}", f"{median([r['predicted_n'] / n for r in per_rep]):.1f}",
                     f"{median(dm):,.0f}", f"{median(rest):,.0f}", f"{median(wall):,.0f}"])
    print(table(["case", "requests per run", "prompt tokens evaluated", "prompt tokens reused",
                 "prompt eval ms", "answer tokens", "answer decode ms", "other ms (wall - server)",
                 "wall ms"], rows))
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
