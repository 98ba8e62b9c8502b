"""CALM judge datasets: transitions from scripted-oracle episodes, each with its oracle label,
level and renderings, balanced over key / door / non-rewarding bins as in the paper.

A dataset is a folder:
- `card.json`: env, split, counts per bin, levels, episodes, oracle noise, seed, action names;
- `transitions.jsonl`: one line per transition (id, level, time, action, bin, labels, both
  renderings) for reading and scoring;
- `obs.npz`: the observation keys a judge or a re-rendering needs (before and after).
Balanced (default): n // 3 transitions per bin, the remainder going to the first bins (CALM's
split of 50 is 17 / 17 / 16); non-rewarding ones are drawn uniformly from every non-rewarding
step played; the result is shuffled, so any first k are balanced too. Unbalanced: the first n
steps of the episode stream, in order, at the natural rate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.calm.labels import oracle_labels
from rlgen.calm.prompts import DOOR_SUBGOAL, KEY_SUBGOAL
from rlgen.calm.render import render_transition
from rlgen.calm.transition import Transition

BINS = ("key", "door", "none")
ABSENT_AFTER = 20  # episodes
STORED_KEYS = ("glyphs", "glyphs_crop", "chars_crop", "blstats", "message", "tty_chars")


def bin_of(labels: dict[str, bool]) -> str:
    return "key" if labels[KEY_SUBGOAL] else "door" if labels[DOOR_SUBGOAL] else "none"


def quotas(n: int) -> dict[str, int]:
    base, extra = divmod(n, len(BINS))
    return {b: base + (i < extra) for i, b in enumerate(BINS)}


@dataclass
class Step:
    transition: Transition
    level: Any
    episode: int
    labels: dict[str, bool]

    @property
    def bin(self) -> str:
        return bin_of(self.labels)


def play(spec, levels, noise: float, seed: int) -> Iterator[list[Step]]:
    """Episodes of the scripted oracle on `levels`, cycled; each as its list of steps."""
    from rlgen.envs.minihack.oracle import Oracle

    env = spec.make_env()
    names = tuple(env.action_names)
    oracle = Oracle(names, noise=noise, seed=seed)
    try:
        for episode in range(10**9):
            level = levels[episode % len(levels)]
            obs, _ = env.reset(options={"level": level})
            oracle.reset()
            steps: list[Transition] = []
            while True:
                a = oracle.act(obs)
                nobs, _, term, trunc, _ = env.step(a)
                steps.append(Transition({k: obs[k] for k in STORED_KEYS}, int(a),
                                        {k: nobs[k] for k in STORED_KEYS}, names, len(steps),
                                        steps[-1].action if steps else None))
                obs = nobs
                if term or trunc:
                    break
            # The next action is known once the episode is played.
            full = [Transition(t.obs, t.action, t.next_obs, names, t.time, t.prev_action,
                               steps[i + 1].action if i + 1 < len(steps) else None)
                    for i, t in enumerate(steps)]
            yield [Step(t, level, episode, oracle_labels(t)) for t in full]
    finally:
        env.close()


def select(episodes: Iterator[list[Step]], n: int, balanced: bool, seed: int,
           max_episodes: int, progress=None) -> tuple[list[Step], int]:
    """(chosen steps, episodes played)."""
    played, pool = 0, []
    want = quotas(n) if balanced else None
    have = dict.fromkeys(BINS, 0)
    for ep in episodes:
        played += 1
        for s in ep:
            if balanced and s.bin != "none" and have[s.bin] >= want[s.bin]:
                continue
            pool.append(s)
            have[s.bin] += 1
        if progress is not None:
            progress.update(1)
        # A bin never seen in the first episodes does not occur in this task (MultiRoom has
        # doors but no key): stop waiting for it.
        open_bins = [b for b in BINS if have[b] or played < ABSENT_AFTER]
        if (not balanced and len(pool) >= n) or (balanced and all(
                have[b] >= want[b] for b in open_bins)) or played >= max_episodes:
            break
    if not balanced:
        return pool[:n], played
    rng = np.random.default_rng(seed)
    none = [i for i, s in enumerate(pool) if s.bin == "none"]
    keep = set(rng.choice(none, size=min(want["none"], len(none)), replace=False).tolist())
    chosen = [s for i, s in enumerate(pool) if s.bin != "none" or i in keep]
    # Shuffled, so that the first k (annotate --limit k) are balanced too.
    return [chosen[i] for i in rng.permutation(len(chosen))], played


def build(env: str, split: str, n: int, out: str | Path, *, balanced: bool = True, seed: int = 0,
          noise: float = 0.1, max_episodes: int | None = None, progress: bool = True) -> Path:
    """Build a dataset folder at `out` (which must not exist yet)."""
    from rlgen.registry import make_env_spec

    if n < len(BINS):
        raise ValueError(f"a CALM dataset needs at least {len(BINS)} transitions, got {n}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"oracle noise must be in [0, 1], got {noise}")
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; choose a new --out folder")
    spec = make_env_spec(env)
    if spec.family != "minihack":
        raise ValueError(f"CALM datasets are built on MiniHack tasks, not {spec.id}")
    levels = list(spec.splits[split].levels)  # an unknown split name says which exist
    start = time.time()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc="episodes", unit="ep")
    try:
        chosen, played = select(play(spec, levels, noise, seed), n, balanced, seed,
                                max_episodes or 50 * n, bar)
    finally:
        if bar is not None:
            bar.close()
    _write(out, chosen, {
        "env": spec.id, "split": split, "requested": n, "transitions": len(chosen),
        "balanced": balanced, "bins": {b: sum(s.bin == b for s in chosen) for b in BINS},
        "quotas": quotas(n) if balanced else None, "episodes_played": played,
        "levels": len({str(s.level) for s in chosen}), "policy": f"oracle:{noise}", "seed": seed,
        "action_names": list(chosen[0].transition.action_names) if chosen else [],
        "build_seconds": round(time.time() - start, 1),
    })
    return out


def _write(out: Path, steps: list[Step], card: dict[str, Any]) -> None:
    out.mkdir(parents=True)
    with open(out / "transitions.jsonl", "w") as f:
        for i, s in enumerate(steps):
            t = s.transition
            f.write(json.dumps({
                "id": i, "level": s.level, "episode": s.episode, "time": t.time,
                "action": t.action, "action_name": t.action_name(t.action),
                "prev_action": t.prev_action, "next_action": t.next_action,
                "bin": s.bin, "labels": s.labels,
                "render": {"tty": render_transition(t, "tty"), "crop": render_transition(t, "crop")},
            }) + "\n")
    arrays = {}
    for side in ("obs", "next_obs"):
        for k in STORED_KEYS:
            arrays[f"{side}/{k}"] = np.stack([np.asarray(getattr(s.transition, side)[k]) for s in steps])
    np.savez_compressed(out / "obs.npz", **arrays)
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")


class CalmDataset:
    """A dataset folder, read back: `records` (the JSON lines), `card`, `transition(i)`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / "card.json").exists():
            raise FileNotFoundError(f"{self.path} is not a CALM dataset (no card.json); build one "
                                    "with rlgen calm dataset")
        self.card = json.loads((self.path / "card.json").read_text())
        self.records = [json.loads(line) for line in
                        (self.path / "transitions.jsonl").read_text().splitlines() if line]
        self._arrays = None

    def __len__(self) -> int:
        return len(self.records)

    def transition(self, i: int) -> Transition:
        if self._arrays is None:
            with np.load(self.path / "obs.npz") as z:
                self._arrays = {k: z[k] for k in z.files}
        r = self.records[i]
        side = {s: {k: self._arrays[f"{s}/{k}"][i] for k in STORED_KEYS} for s in ("obs", "next_obs")}
        return Transition(side["obs"], r["action"], side["next_obs"],
                          tuple(self.card["action_names"]), r["time"], r["prev_action"],
                          r["next_action"])
