"""Episode datasets on disk: shards of zstd-compressed fields, finished by a dataset card.

Layout (Minari's field names, so the layout reads familiar)::

    <dataset>/card.json                 written last: its presence with "complete": true marks a
                                        finished dataset
    <dataset>/shards/000000/<field>.zst one file per field, rows compressed in chunks
    <dataset>/shards/000000/<field>.json dtype, shape and chunk offsets (or "json" for strings)
    <dataset>/shards/000000/episodes.json level id and length of each episode in the shard

Fields per step: `observations` (an array, a dict of arrays, or strings), `actions`, `rewards`,
`terminations`, `truncations`, plus any extra per-step field (e.g. valid actions, goals).
`observations` has one row per step (unlike Minari's T + 1): the observation after the last step
is stored only by datasets with a `next_observations` field. `episodes.json` records, per episode,
whether it is (`final_observation`), since TD learning must not treat a truncated episode's last
step as terminal and can bootstrap from it only when it is stored.
A shard is written to a temporary folder and renamed, so an interrupted collection leaves only
whole shards: it can be resumed or discarded, and it never looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

from rlgen.tree import map_tree

FORMAT = "rlgen-episodes/1"
STEP_FIELDS = ("observations", "actions", "rewards", "terminations", "truncations")
CHUNK_BYTES = 4 << 20


class DatasetError(ValueError):
    """A dataset that is missing, incomplete, truncated or corrupted; the message names the file."""


# ---- one field ---------------------------------------------------------------------------------

def _write_field(folder: Path, name: str, values: Any, level: int) -> None:
    if isinstance(values, dict):
        for key, sub in values.items():
            _write_field(folder, f"{name}.{key}", sub, level)
        return
    cctx = zstandard.ZstdCompressor(level=level)
    if isinstance(values, list) and (not values or not isinstance(values[0], np.ndarray | int | float | bool | np.generic)):
        blob = cctx.compress(json.dumps(values).encode())
        (folder / f"{name}.zst").write_bytes(blob)
        (folder / f"{name}.json").write_text(json.dumps({"kind": "json", "rows": len(values)}))
        return
    arr = np.ascontiguousarray(np.asarray(values))
    row_bytes = max(1, arr[0].nbytes if len(arr) else 1)
    rows = max(1, CHUNK_BYTES // row_bytes)
    offsets, pieces, pos = [0], [], 0
    for start in range(0, len(arr), rows):
        piece = cctx.compress(arr[start:start + rows].tobytes())
        pieces.append(piece)
        pos += len(piece)
        offsets.append(pos)
    with open(folder / f"{name}.zst", "wb") as f:
        for piece in pieces:
            f.write(piece)
    meta = {"kind": "array", "dtype": arr.dtype.str, "shape": list(arr.shape), "chunk_rows": rows,
            "offsets": offsets}
    (folder / f"{name}.json").write_text(json.dumps(meta))


def _field_names(folder: Path) -> list[str]:
    return sorted(p.name[:-5] for p in folder.glob("*.json") if p.name != "episodes.json")


def _read_field(folder: Path, name: str, out: np.ndarray | None = None, pool=None) -> Any:
    meta_path, data_path = folder / f"{name}.json", folder / f"{name}.zst"
    try:
        meta = json.loads(meta_path.read_text())
        blob = data_path.read_bytes()
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"{meta_path if 'meta' not in locals() else data_path}: unreadable ({e})") from e
    dctx = zstandard.ZstdDecompressor()
    try:
        if meta["kind"] == "json":
            return json.loads(dctx.decompress(blob))
        dtype, shape, rows = np.dtype(meta["dtype"]), tuple(meta["shape"]), meta["chunk_rows"]
        offsets = meta["offsets"]
        if offsets[-1] != len(blob):
            raise DatasetError(f"{data_path}: truncated ({len(blob)} bytes, expected {offsets[-1]})")
        if out is None:
            out = np.empty(shape, dtype)
        flat = out.reshape(-1).view(np.uint8)
        row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize

        def decode(i: int) -> None:
            raw = zstandard.ZstdDecompressor().decompress(blob[offsets[i]:offsets[i + 1]])
            start = i * rows * row_bytes
            if start + len(raw) > flat.size:
                raise DatasetError(f"{data_path}: chunk {i} larger than the declared shape")
            flat[start:start + len(raw)] = np.frombuffer(raw, np.uint8)

        chunks = range(len(offsets) - 1)
        if pool is not None and len(chunks) > 1:
            list(pool.map(decode, chunks))
        else:
            for i in chunks:
                decode(i)
        return out
    except zstandard.ZstdError as e:
        raise DatasetError(f"{data_path}: corrupted ({e})") from e


# ---- writing -------------------------------------------------------------------------------------

def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], dict):
        return {k: _concat([p[k] for p in parts]) for k in parts[0]}
    if isinstance(parts[0], list):
        return [x for p in parts for x in p]
    return np.concatenate([np.asarray(p) for p in parts])


class EpisodeWriter:
    """Collects episodes into shards. `finalize(card)` marks the dataset complete."""

    def __init__(self, path: str | Path, shard_transitions: int = 50_000, level: int = 5,
                 resume: bool = False):
        self.path = Path(path)
        self.shard_transitions, self.level = shard_transitions, level
        if (self.path / "card.json").exists():
            raise DatasetError(f"{self.path} is already a complete dataset; choose another --out")
        if self.path.exists() and any(self.path.iterdir()) and not resume:
            raise DatasetError(f"{self.path} holds an unfinished collection; pass --resume to "
                               "continue it or delete the folder")
        (self.path / "shards").mkdir(parents=True, exist_ok=True)
        for tmp in (self.path / "shards").glob(".tmp-*"):
            shutil.rmtree(tmp)  # a shard whose write was interrupted
        self._pending: list[dict[str, Any]] = []
        self._pending_steps = 0
        self._pool = ThreadPoolExecutor(1)
        self._inflight = None
        existing = EpisodeDataset.scan_shards(self.path)
        self.shards = len(existing)
        self.transitions = sum(s["transitions"] for s in existing)
        self.episodes = sum(s["episodes"] for s in existing)

    def add_episode(self, level: Any, **fields: Any) -> None:
        missing = [f for f in STEP_FIELDS if f not in fields]
        if missing:
            raise ValueError(f"episode lacks fields {missing}")
        n = len(fields["actions"])
        for name, values in fields.items():
            lengths = [len(v) for v in values.values()] if isinstance(values, dict) else [len(values)]
            if any(length != n for length in lengths):
                raise ValueError(f"field {name!r} has {lengths} rows, expected {n} (one per step)")
        self._pending.append({"level": level, "length": n, **fields})
        self._pending_steps += n
        if self._pending_steps >= self.shard_transitions:
            self.flush()

    def flush(self) -> None:
        """Hand the pending episodes to the writer thread as one shard. Compression runs beside
        the caller (zstd releases the GIL), so collection keeps stepping envs meanwhile."""
        if not self._pending:
            return
        self._wait()
        episodes, shard = self._pending, self.shards
        self.shards += 1
        self.transitions += self._pending_steps
        self.episodes += len(episodes)
        self._pending, self._pending_steps = [], 0
        self._inflight = self._pool.submit(self._write_shard, shard, episodes)

    def close(self) -> None:
        """Wait for the shard being written (an interrupted collection keeps only whole shards)."""
        self._wait()

    def _wait(self) -> None:
        if self._inflight is not None:
            self._inflight.result()
            self._inflight = None

    def _write_shard(self, shard: int, episodes: list[dict[str, Any]]) -> None:
        tmp = self.path / "shards" / f".tmp-{shard:06d}"
        tmp.mkdir()
        names = [k for k in episodes[0] if k not in ("level", "length")]
        for name in names:
            _write_field(tmp, name, _concat([e[name] for e in episodes]), self.level)
        meta = {"levels": [e["level"] for e in episodes],
                "lengths": [int(e["length"]) for e in episodes],
                "final_observation": ["next_observations" in e for e in episodes]}
        (tmp / "episodes.json").write_text(json.dumps(meta))
        os.replace(tmp, self.path / "shards" / f"{shard:06d}")

    @property
    def total_transitions(self) -> int:
        return self.transitions + self._pending_steps

    def finalize(self, card: dict[str, Any]) -> Path:
        self.flush()
        self._wait()
        data = EpisodeDataset.load(self.path, require_complete=False)
        card = {**card, "format": FORMAT, "complete": True, "episodes": data.num_episodes,
                "transitions": data.num_transitions, "returns": data.return_stats(),
                "distinct_levels": len({json.dumps(lvl) for lvl in data.levels}),
                "truncated_without_final_observation": data.num_truncated_without_final_obs,
                "bytes_on_disk": sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())}
        tmp = self.path / ".card.json.tmp"
        tmp.write_text(json.dumps(card, indent=2, default=str))
        os.replace(tmp, self.path / "card.json")
        return self.path


# ---- reading -------------------------------------------------------------------------------------

@dataclass
class EpisodeDataset:
    """All episodes in memory as flat per-step arrays with episode offsets."""

    path: Path
    card: dict[str, Any]
    fields: dict[str, Any]
    levels: list[Any]
    lengths: np.ndarray
    #: per episode: is the observation after its last step stored (`next_observations`)?
    final_obs: np.ndarray | None = None

    def __post_init__(self) -> None:
        stored = "next_observations" in self.fields
        if self.final_obs is None:
            # Datasets written before the flag existed: only a `next_observations` field stores it.
            self.final_obs = np.full(len(self.lengths), stored)
        self.final_obs = np.asarray(self.final_obs, dtype=bool)
        if self.final_obs.any() and not stored:
            raise DatasetError(f"{self.path}: episodes claim a final observation but the dataset "
                               "has no next_observations field")

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    @property
    def num_episodes(self) -> int:
        return len(self.lengths)

    @property
    def num_transitions(self) -> int:
        return int(self.lengths.sum())

    @property
    def num_truncated_without_final_obs(self) -> int:
        """Episodes that end without termination and lack the observation after their last step
        (offline TD learning drops their last transition from its targets)."""
        ends = self.starts + self.lengths - 1
        terminated = np.asarray(self.fields["terminations"], dtype=bool)[ends]
        return int((~terminated & ~self.final_obs).sum())

    def episode_returns(self) -> np.ndarray:
        return np.add.reduceat(self.fields["rewards"].astype(np.float64), self.starts) \
            if self.num_episodes else np.zeros(0)

    def return_stats(self) -> dict[str, float]:
        r = self.episode_returns()
        if not len(r):
            return {}
        return {"mean": float(r.mean()), "std": float(r.std()), "min": float(r.min()),
                "max": float(r.max())}

    def episode_ids(self) -> np.ndarray:
        """Episode index of every transition."""
        return np.repeat(np.arange(self.num_episodes), self.lengths)

    def episodes(self) -> Iterator[dict[str, Any]]:
        for i, (s, n) in enumerate(zip(self.starts, self.lengths, strict=True)):
            yield {"level": self.levels[i], **map_tree(lambda x, s=s, n=n: x[s:s + n], self.fields)}

    @staticmethod
    def scan_shards(path: Path) -> list[dict[str, Any]]:
        out = []
        for shard in sorted((path / "shards").glob("[0-9]*")):
            try:
                meta = json.loads((shard / "episodes.json").read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise DatasetError(f"{shard / 'episodes.json'}: unreadable ({e})") from e
            out.append({"path": shard, "episodes": len(meta["lengths"]),
                        "transitions": int(sum(meta["lengths"])), **meta})
        return out

    @classmethod
    def load(cls, path: str | Path, require_complete: bool = True, threads: int | None = None,
             decoded_cache: bool = False) -> EpisodeDataset:
        """Load every episode into memory.

        `decoded_cache=True` keeps a decompressed copy of each array field in
        `<dataset>/decoded/*.npy` (about 12 KB per Procgen frame on disk) and memory-maps it on
        later loads, so they cost no decompression; the first load writes it."""
        path = Path(path)
        if not path.exists():
            raise DatasetError(f"dataset {path} does not exist")
        card: dict[str, Any] = {}
        if (path / "card.json").exists():
            try:
                card = json.loads((path / "card.json").read_text())
            except json.JSONDecodeError as e:
                raise DatasetError(f"{path / 'card.json'}: corrupted ({e})") from e
        if require_complete and not card.get("complete"):
            raise DatasetError(f"{path} is not a complete dataset (no finished card.json): an "
                               "interrupted collection; resume it with `rlgen collect ... --resume` "
                               "or delete it")
        shards = cls.scan_shards(path)
        if not shards:
            raise DatasetError(f"{path} holds no episodes")
        cached = _read_decoded(path, card) if decoded_cache and card.get("complete") else None
        names = _field_names(shards[0]["path"])
        total = sum(s["transitions"] for s in shards)
        fields: dict[str, Any] = {}
        with ThreadPoolExecutor(threads or os.cpu_count()) as pool:
            for name in names:
                meta = json.loads((shards[0]["path"] / f"{name}.json").read_text())
                if meta["kind"] == "json":
                    value: Any = []
                    for s in shards:
                        value += _read_field(s["path"], name)
                elif cached is not None and name in cached:
                    value = cached[name]
                else:
                    value = np.empty((total, *meta["shape"][1:]), np.dtype(meta["dtype"]))
                    pos = 0
                    for s in shards:
                        m = json.loads((s["path"] / f"{name}.json").read_text())
                        if m["shape"][0] != s["transitions"]:
                            raise DatasetError(f"{s['path'] / (name + '.json')}: {m['shape'][0]} rows "
                                               f"but the shard has {s['transitions']} steps")
                        _read_field(s["path"], name, value[pos:pos + s["transitions"]], pool)
                        pos += s["transitions"]
                _assign(fields, name, value)
        levels = [lvl for s in shards for lvl in s["levels"]]
        lengths = np.array([n for s in shards for n in s["lengths"]], dtype=np.int64)
        final_obs = None
        if all("final_observation" in s for s in shards):
            final_obs = np.array([f for s in shards for f in s["final_observation"]], dtype=bool)
        for f in STEP_FIELDS:
            if f not in fields:
                raise DatasetError(f"{path}: field {f!r} missing")
        if card.get("transitions") not in (None, int(lengths.sum())):
            raise DatasetError(f"{path / 'card.json'} declares {card['transitions']} transitions, "
                               f"the shards hold {int(lengths.sum())}")
        if decoded_cache and card.get("complete") and cached is None:
            _write_decoded(path, card, fields)
        return cls(path, card, fields, levels, lengths, final_obs)


def _flat_arrays(fields: dict[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for k, v in fields.items():
        if isinstance(v, dict):
            out.update(_flat_arrays(v, f"{prefix}{k}."))
        elif isinstance(v, np.ndarray):
            out[prefix + k] = v
    return out


def _decoded_stamp(card: dict[str, Any]) -> dict[str, Any]:
    return {"transitions": card.get("transitions"), "created": card.get("collection", {}).get("created"),
            "bytes_on_disk": card.get("bytes_on_disk")}


def _write_decoded(path: Path, card: dict[str, Any], fields: dict[str, Any]) -> None:
    folder = path / "decoded"
    folder.mkdir(exist_ok=True)
    for name, arr in _flat_arrays(fields).items():
        tmp = folder / f".{name}.npy.tmp"
        with open(tmp, "wb") as f:
            np.save(f, arr)
        os.replace(tmp, folder / f"{name}.npy")
    (folder / "stamp.json").write_text(json.dumps(_decoded_stamp(card)))


def _read_decoded(path: Path, card: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """Memory-mapped decoded fields, or None when absent or made for another version of the data."""
    folder = path / "decoded"
    try:
        if json.loads((folder / "stamp.json").read_text()) != _decoded_stamp(card):
            return None
        return {p.name[:-4]: np.load(p, mmap_mode="r") for p in folder.glob("*.npy")}
    except (OSError, ValueError):
        return None


def _assign(fields: dict[str, Any], dotted: str, value: Any) -> None:
    head, _, rest = dotted.partition(".")
    if rest:
        _assign(fields.setdefault(head, {}), rest, value)
    else:
        fields[head] = value


def select_episodes(ds: EpisodeDataset, keep: Sequence[int]) -> EpisodeDataset:
    """A dataset holding only the episodes `keep` (in memory), e.g. for filtered BC."""
    keep = np.asarray(sorted(keep), dtype=np.int64)
    starts, lengths = ds.starts, ds.lengths
    idx = np.concatenate([np.arange(starts[i], starts[i] + lengths[i]) for i in keep]) if len(keep) \
        else np.zeros(0, np.int64)

    def take(v: Any) -> Any:
        return [v[i] for i in idx] if isinstance(v, list) else v[idx]

    return EpisodeDataset(ds.path, ds.card, map_tree(take, ds.fields),
                          [ds.levels[i] for i in keep], lengths[keep], ds.final_obs[keep])
