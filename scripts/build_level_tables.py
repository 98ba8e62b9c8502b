"""Compute the shipped Procgen level-signature tables (envs/procgen-levels/<mode>/<game>.json).

    python scripts/build_level_tables.py --mode easy [--games coinrun maze]

Covers levels 0..249 (default train + val) and the default test candidates of each game.
"""

from __future__ import annotations

import argparse

from rlgen.envs.procgen_levels import ship_signatures
from rlgen.registry import make_env_spec


def default_seeds(game: str, mode: str) -> list[int]:
    spec = make_env_spec(f"procgen:{game}", distribution_mode=mode, exclude_duplicates=False)
    return [int(level) for name in ("train", "val", "test") for level in spec.splits[name]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="easy", choices=["easy", "hard"])
    parser.add_argument("--games", nargs="*")
    args = parser.parse_args()
    games = args.games or make_env_spec("procgen:coinrun").impl.tasks()
    for game in games:
        print(ship_signatures(game, args.mode, default_seeds(game, args.mode)), flush=True)


if __name__ == "__main__":
    main()
