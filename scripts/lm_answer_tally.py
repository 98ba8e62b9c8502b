"""Which actions a language-model agent's recorded answers name: one line per (world,
constraint) with the count of each action and of invalid answers, read from an answer cache
(default: $RLGEN_CACHE/lm/answers.jsonl, where `llm-zeroshot` writes).

    python scripts/lm_answer_tally.py [ANSWERS.jsonl]

Each record is one distinct prompt, so a prompt the agent met many times counts once.
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

from rlgen.calm.cache import AnswerCache
from rlgen.lm.chat import parse_choice
from rlgen.paths import cache_dir


def tally(path: Path) -> dict[tuple[str, str], collections.Counter]:
    out: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    for rec in AnswerCache(path):
        system = json.loads(rec["prompt"])[0]["content"]
        world = system.split("\n", 1)[0].removeprefix("You are playing ").split(":")[0]
        # The action list is in the prompt: the "- name: help" lines after its heading.
        listed = system.split("The actions you can take:\n", 1)[1].split("\n\n", 1)[0]
        names = [line[2:].split(":")[0] for line in listed.splitlines()]
        schema = rec["decoding"].get("schema")
        constraint = "free text" if schema is None else "constrained"
        out[(world, constraint)][parse_choice(rec["answer"], names) or "(invalid)"] += 1
    return out


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else cache_dir() / "lm" / "answers.jsonl"
    for (world, constraint), counts in sorted(tally(path).items()):
        total = sum(counts.values())
        listing = ", ".join(f"{n} {a!r}" for a, n in counts.most_common())
        print(f"{world} ({constraint}): {total} prompts: {listing}")


if __name__ == "__main__":
    main()
