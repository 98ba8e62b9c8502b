"""Bytes per frame and compression speed of zstd levels on a real dataset's frames (why
rlgen's EpisodeWriter uses level 5).

    python scripts/bench/zstd_levels.py --dataset ~/.cache/rlgen/datasets/procgen-coinrun-mixed-50k
"""

from __future__ import annotations

import argparse
import os
import time

import zstandard

from rlgen.data.storage import CHUNK_BYTES, EpisodeDataset


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", required=True)
    p.add_argument("--frames", type=int, default=16000)
    p.add_argument("--levels", type=int, nargs="*", default=[3, 5, 7, 9])
    args = p.parse_args()
    obs = EpisodeDataset.load(os.path.expanduser(args.dataset)).fields["observations"][: args.frames]
    rows = max(1, CHUNK_BYTES // obs[0].nbytes)
    print(f"load average {os.getloadavg()[0]:.2f}; {len(obs)} frames, {rows}-frame chunks\n")
    print("| zstd level | bytes/frame | compression frames/s (1 thread) |\n|---|---|---|")
    for level in args.levels:
        t0, total = time.perf_counter(), 0
        for start in range(0, len(obs), rows):
            total += len(zstandard.ZstdCompressor(level=level).compress(obs[start:start + rows].tobytes()))
        print(f"| {level} | {total / len(obs):,.0f} | {len(obs) / (time.perf_counter() - t0):,.0f} |")


if __name__ == "__main__":
    main()
