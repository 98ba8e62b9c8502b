"""Level signatures: find Procgen levels that recur under different seeds.

A level's signature hashes the frames produced by a fixed action script from the level's start
(first frame plus `SCRIPT_STEPS` frames, stopping early if the episode ends). Two seeds with the
same signature start from pixel-identical frames and respond identically to the script, which
for Procgen's generators means the same layout, theme and start position. It misses levels that
share a layout but differ in theme or background (counted as distinct), and it can merge levels
that coincide for the scripted steps but differ beyond what the script reaches.

Signatures for the default lists (levels 0..249 and the default test seeds) ship in
`envs/procgen-levels/<mode>/<game>.json`; others are computed on demand and cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from rlgen.paths import cache_dir, spec_root

SCRIPT_STEPS = 16
SCRIPT = np.random.default_rng(0).integers(0, 15, size=SCRIPT_STEPS).astype(np.int32)


def level_signature(game: str, mode: str, seed: int) -> str:
    from rlgen.envs.procgen import _gym3_env

    env = _gym3_env(game, mode, seed, 1, rand_seed=0)
    h = hashlib.blake2b(digest_size=8)
    _, obs, _ = env.observe()
    h.update(obs["rgb"].tobytes())
    for action in SCRIPT:
        env.act(action[None])
        _, obs, first = env.observe()
        if first[0]:
            h.update(b"end")
            break
        h.update(obs["rgb"].tobytes())
    env.close()
    return h.hexdigest()


def _signature_job(args: tuple[str, str, int]) -> tuple[int, str]:
    game, mode, seed = args
    return seed, level_signature(game, mode, seed)


def shipped_path(game: str, mode: str) -> Path:
    return spec_root() / "envs" / "procgen-levels" / mode / f"{game}.json"


def _cache_path(game: str, mode: str) -> Path:
    return cache_dir() / "procgen-levels" / mode / f"{game}.json"


def _read(path: Path) -> dict[int, str]:
    if not path.exists():
        return {}
    with open(path) as f:
        return {int(k): v for k, v in json.load(f)["signatures"].items()}


def write_json_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def signatures(game: str, mode: str, seeds: Iterable[int], progress: bool = True,
               workers: int | None = None) -> dict[int, str]:
    """Signatures of `seeds`, from the shipped table, the cache, or computed (then cached)."""
    seeds = [int(s) for s in seeds]
    known = {**_read(shipped_path(game, mode)), **_read(_cache_path(game, mode))}
    missing = [s for s in dict.fromkeys(seeds) if s not in known]
    if missing:
        from tqdm.auto import tqdm

        workers = workers or min(len(missing), os.cpu_count() or 1)
        jobs = [(game, mode, s) for s in missing]
        bar = tqdm(total=len(jobs), desc=f"level signatures {game}/{mode}", disable=not progress,
                   unit="level")
        fresh: dict[int, str] = {}
        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                for seed, sig in pool.map(_signature_job, jobs, chunksize=16):
                    fresh[seed] = sig
                    bar.update()
        else:
            for job in jobs:
                seed, sig = _signature_job(job)
                fresh[seed] = sig
                bar.update()
        bar.close()
        cached = {**_read(_cache_path(game, mode)), **fresh}
        write_json_atomic(_cache_path(game, mode), _payload(game, mode, cached))
        known.update(fresh)
    return {s: known[s] for s in seeds}


def _payload(game: str, mode: str, sigs: dict[int, str]) -> dict:
    return {"game": game, "distribution_mode": mode, "script_steps": SCRIPT_STEPS,
            "signatures": {str(k): v for k, v in sorted(sigs.items())}}


def duplicate_test_levels(game: str, mode: str, reference: Sequence[int],
                          candidates: Sequence[int]) -> list[int]:
    """The candidate seeds whose signature equals that of some reference (train/val) seed."""
    sigs = signatures(game, mode, list(reference) + list(candidates))
    ref = {sigs[int(s)] for s in reference}
    return [int(s) for s in candidates if sigs[int(s)] in ref]


def ship_signatures(game: str, mode: str, seeds: Sequence[int]) -> Path:
    """Compute and write the shipped table for `seeds` (used to build `envs/procgen-levels`)."""
    sigs = signatures(game, mode, seeds)
    path = shipped_path(game, mode)
    write_json_atomic(path, _payload(game, mode, sigs))
    return path
