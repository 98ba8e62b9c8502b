"""Build a maze dataset from a recipe: python scripts/maze_collect.py datasets/maze-umaze-regions.toml --out DIR

Flags override the recipe (e.g. --transitions 200k). Prints the card's check and throughput.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from rlgen.config import parse_count
from rlgen.envs.maze.collect import collect, load_recipe


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipe")
    p.add_argument("--out", required=True)
    p.add_argument("--transitions", help="override the recipe's size, e.g. 200k")
    p.add_argument("--seed", type=int)
    p.add_argument("--num-envs", type=int)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        cfg, extra = load_recipe(args.recipe)
        changes = {k: v for k, v in {"transitions": args.transitions and parse_count(args.transitions),
                                     "seed": args.seed, "num_envs": args.num_envs}.items() if v is not None}
        cfg = dataclasses.replace(cfg, **changes)
        path = collect(cfg, args.out, progress=not args.quiet, resume=args.resume,
                       card_extra={**extra, "recipe": args.recipe})
    except (ValueError, FileNotFoundError) as e:
        print(f"rlgen: error: {e}", file=sys.stderr)
        return 2
    card = json.loads((path / "card.json").read_text())
    print(f"{path}: {card['episodes']} episodes, {card['transitions']} transitions")
    print("test-pair check:", json.dumps(card["test_pair_check"]))
    print("throughput:", json.dumps(card["throughput"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
