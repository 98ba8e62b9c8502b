"""CALM judge throughput: judged transitions/s through the in-process llama.cpp judge, with a
fresh prompt evaluated on every call vs the judge's default (the slot reuses the KV cache of
the constant prompt prefix) vs that plus several slots answering concurrently. Same model,
same server settings, interleaved repetitions (scripts/bench/_timing.py). Every run judges
transitions no run has judged before: llama.cpp also keeps earlier prompts in a RAM prompt
cache, so repeating a prompt would time a cache hit, not a judgement.

    PYTHONPATH=$PWD python scripts/bench/calm_judge.py --dataset D --n 12 --reps 3

Needs n x reps x 3 + 1 transitions; without --dataset it builds a KeyRoom-S5 dataset of that
size in a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import RATE_HEADER, interleave, load_average, rate_rows, table  # noqa: E402

from rlgen.calm.dataset import CalmDataset, build  # noqa: E402
from rlgen.calm.judges.llamacpp import LlamaCppJudge  # noqa: E402
from rlgen.calm.prompts import PRESET_SUBGOALS, PromptConfig, transition_prompt  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset")
    p.add_argument("--n", type=int, default=12, help="transitions per repetition")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--view", default="tty", choices=["tty", "crop"])
    p.add_argument("--model", help="GGUF (default: the bundled SmolLM2-135M-Instruct)")
    args = p.parse_args()
    need = args.n * args.reps * 3 + 1
    path = args.dataset or build("minihack:KeyRoom-S5", "train", need,
                                 Path(tempfile.mkdtemp()) / "D", progress=False)
    ds = CalmDataset(path)
    if len(ds) < need:
        raise SystemExit(f"{path} has {len(ds)} transitions; this needs {need}")
    cfg = PromptConfig.preset(view=args.view)
    prompts = [transition_prompt(ds.transition(i), cfg) for i in range(need)]
    fresh = iter(range(1, need, args.n))  # prompts[0] is the warm-up
    common = dict(cache=False, subgoals=PRESET_SUBGOALS, max_tokens=48, threads=args.threads)
    judges = {
        "fresh prompt per call": LlamaCppJudge(args.model, prompt_cache=False, **common),
        "prefix reuse (default)": LlamaCppJudge(args.model, **common),
        f"prefix reuse + {args.slots} slots": LlamaCppJudge(args.model, concurrency=args.slots,
                                                            **common),
    }
    tokens = []

    def rate(judge):
        def run() -> float:
            lo = next(fresh)
            start = time.perf_counter()
            out = judge.judge(prompts[lo:lo + args.n])
            tokens.append(sum(o.prompt_tokens for o in out) / len(out))
            return len(out) / (time.perf_counter() - start)
        return run

    judges[next(iter(judges))].judge(prompts[:1])  # page the model in once before timing
    print(f"load average before: {load_average()}; {args.n} new {args.view} prompts per run, "
          f"model {judges[next(iter(judges))].model}")
    rates = interleave({k: rate(j) for k, j in judges.items()}, args.reps)
    print(table(RATE_HEADER, rate_rows(rates, "fresh prompt per call", "transitions/s", ",.3f")))
    print(f"mean prompt tokens per transition: {sum(tokens) / len(tokens):.0f}; "
          f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
