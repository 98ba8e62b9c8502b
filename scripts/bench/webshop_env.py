"""WebShop env speed: steps per second under the expert and a random policy, search latency,
catalogue + index load time.

    OMP_NUM_THREADS=1 python scripts/bench/webshop_env.py [--episodes 500] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np


def play(spec, policy, levels) -> tuple[int, float]:
    env = spec.make_env()
    steps, start = 0, time.perf_counter()
    for i, level in enumerate(levels):
        obs, info = env.reset(seed=i, options={"level": level})
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(policy.act([obs], [info])[0])
            steps += 1
            done = term or trunc
    return steps, time.perf_counter() - start


def main() -> None:
    from rlgen.envs.webshop.catalogue import load_catalogue
    from rlgen.envs.webshop.search import search_engine
    from rlgen.registry import make_env_spec

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=500)
    ap.add_argument("--data-dir", default="")
    args = ap.parse_args()
    key = args.data_dir or None
    t0 = time.perf_counter()
    catalogue = load_catalogue(key)
    t1 = time.perf_counter()
    engine = search_engine(key)
    t2 = time.perf_counter()
    spec = make_env_spec("webshop", data_dir=args.data_dir or None)
    levels = spec.splits["train"].episode_levels(args.episodes)
    out = {"machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
           "products": len(catalogue.products), "goals": len(catalogue.goals),
           "load_catalogue_s": t1 - t0, "build_index_s": t2 - t1}
    queries = [catalogue.goals[i]["instruction_text"].lower() for i in levels]
    lat = []
    for q in queries:
        s = time.perf_counter()
        engine.search(q)
        lat.append(time.perf_counter() - s)
    out["search_ms_median"] = 1000 * float(np.median(lat))
    out["search_ms_p95"] = 1000 * float(np.percentile(lat, 95))
    for name in ("expert", "uniform"):
        policy = spec.impl.make_policy(spec, name)
        steps, seconds = play(spec, policy, levels)
        out[f"{name}_steps"] = steps
        out[f"{name}_steps_per_s"] = steps / seconds
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
