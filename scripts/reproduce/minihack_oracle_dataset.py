"""Write an oracle (expert or noisy) dataset for a MiniHack task.

    PYTHONPATH=$PWD python scripts/reproduce/minihack_oracle_dataset.py \
        --env minihack:KeyRoom-S5 --episodes 200 --noise 0.0 --out data/keyroom-s5-oracle
"""

from __future__ import annotations

import argparse

from rlgen.envs.minihack.collect import collect_oracle
from rlgen.registry import make_env_spec


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--noise", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    path = collect_oracle(make_env_spec(args.env), args.out, args.split, args.episodes,
                          args.noise, args.seed)
    print(f"dataset: {path}")


if __name__ == "__main__":
    main()
