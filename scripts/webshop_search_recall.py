"""How often the target product is among the top-k search hits when each synthetic goal's
instruction is the query (the original reports about 90% for the top 10).

    python scripts/webshop_search_recall.py [--data-dir DIR] [--k 10] [--split all|train|test]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def recall(spec, levels, ks=(1, 5, 10, 50)) -> dict:
    from rlgen.envs.webshop.family import catalogue_for, data_key
    from rlgen.envs.webshop.search import search_engine

    catalogue, engine = catalogue_for(spec.options), search_engine(data_key(spec.options))
    ranks = []
    start = time.perf_counter()
    for i in levels:
        goal = catalogue.goals[i]
        hits = engine.search(goal["instruction_text"].lower())
        ranks.append(hits.index(goal["asin"]) if goal["asin"] in hits else len(hits) + 10**6)
    seconds = time.perf_counter() - start
    ranks = np.array(ranks)
    out = {f"recall@{k}": float((ranks < k).mean()) for k in ks}
    out.update(goals=len(ranks), ms_per_query=1000 * seconds / max(1, len(ranks)))
    return out


def main() -> None:
    from rlgen.registry import make_env_spec

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="")
    ap.add_argument("--split", default="all", help="all goals, or a split name")
    args = ap.parse_args()
    spec = make_env_spec("webshop", data_dir=args.data_dir or None)
    if args.split == "all":
        levels = range(len(spec.make_env().catalogue.goals))
    else:
        levels = spec.splits[args.split].levels
    print(json.dumps({"split": args.split, **recall(spec, levels)}, indent=1))


if __name__ == "__main__":
    main()
