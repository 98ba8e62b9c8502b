"""Offline data path on a real coinrun dataset: rlgen's zstd shards vs gen_dgrl-style per-episode
`np.savez_compressed` files (bytes/transition, write, load-all), random minibatch sampling, and
collection overhead. Targets (issue 3): <= 1 KB/transition, load >= 10x faster than npz,
sampling >= 50k transitions/s, collection >= 0.8x stepping the same policy without recording.

    rlgen collect --env procgen:coinrun --policy bundled:procgen-coinrun --transitions 50k --out /tmp/bench_ds
    PYTHONPATH=$PWD nice -n 5 python scripts/bench/offline_data.py --dataset /tmp/bench_ds

Both formats are written here from the same in-memory episodes. Timed comparisons are
interleaved (A, B, A, B, ...) and medians reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

from _timing import (
    RATE_HEADER,
    interleave,
    load_average,
    median,
    quiet_torch_threads,
    rate_rows,
    table,
)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="/tmp/bench_ds", help="an rlgen dataset of procgen:coinrun")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--batches", type=int, default=400, help="minibatches per sampling repetition")
    p.add_argument("--collect-steps", type=int, default=3000,
                   help="env steps per collection repetition with the expert policy")
    p.add_argument("--collect-reps", type=int, default=3)
    p.add_argument("--policy", default="bundled:procgen-coinrun")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    quiet_torch_threads(args.threads)

    import numpy as np
    import torch

    from rlgen.agents.discrete import TransitionSampler
    from rlgen.agents.loading import load_policy
    from rlgen.data.collect import collect
    from rlgen.data.storage import EpisodeDataset, EpisodeWriter
    from rlgen.policy import Policy
    from rlgen.registry import make_env_spec

    torch.set_num_threads(args.threads)
    start_load = load_average()
    print(f"load average at start: {start_load}")
    source = EpisodeDataset.load(args.dataset)
    n = source.num_transitions
    print(f"dataset {args.dataset}: {source.num_episodes} episodes, {n} transitions, "
          f"behaviour {source.card.get('behavior_policy', {}).get('source')}")
    tmp = Path(tempfile.mkdtemp(prefix="rlgen-bench-data-"))
    report: list[str] = []

    # ---- storage: write both formats from the same episodes ----
    episodes = list(source.episodes())
    t0 = time.perf_counter()
    writer = EpisodeWriter(tmp / "rlgen")
    for ep in episodes:
        writer.add_episode(ep["level"], **{k: v for k, v in ep.items() if k != "level"})
    writer.finalize({"note": "benchmark copy"})
    rlgen_write = time.perf_counter() - t0
    t0 = time.perf_counter()
    (tmp / "npz").mkdir()
    for i, ep in enumerate(episodes):
        np.savez_compressed(tmp / "npz" / f"episode_{i:06d}.npz", **{k: np.asarray(v) for k, v in ep.items()})
    npz_write = time.perf_counter() - t0
    raw_bytes = sum(np.asarray(v).nbytes for v in source.fields.values())
    storage_rows = []
    for name, path, secs in (("rlgen zstd shards (level 3)", tmp / "rlgen", rlgen_write),
                             ("npz per episode (gen_dgrl style)", tmp / "npz", npz_write)):
        b = dir_bytes(path)
        storage_rows.append([name, f"{b / n:,.0f}", f"{b / 1e6:,.1f} MB", f"{secs:.1f} s"])
    storage_rows.append(["uncompressed arrays (reference)", f"{raw_bytes / n:,.0f}", f"{raw_bytes / 1e6:,.1f} MB", "–"])
    report.append(f"### Storage ({n} transitions, {source.num_episodes} episodes)\n\n" +
                  table(["format", "bytes/transition", "total", "write time (1 run)"], storage_rows))
    print(report[-1], flush=True)

    # ---- load everything into memory ----
    def load_rlgen() -> float:
        t0 = time.perf_counter()
        ds = EpisodeDataset.load(tmp / "rlgen")
        assert ds.num_transitions == n
        return n / (time.perf_counter() - t0)

    EpisodeDataset.load(tmp / "rlgen", decoded_cache=True)  # writes the decoded cache once

    def load_rlgen_cached() -> float:
        t0 = time.perf_counter()
        ds = EpisodeDataset.load(tmp / "rlgen", decoded_cache=True)
        # a memory map is ready at once; copy it into RAM so the comparison with npz is like for like
        fields = {k: np.array(v) for k, v in ds.fields.items() if isinstance(v, np.ndarray)}
        assert len(fields["observations"]) == n
        return n / (time.perf_counter() - t0)

    def load_npz() -> float:
        t0 = time.perf_counter()
        parts: dict[str, list[np.ndarray]] = {}
        for f in sorted((tmp / "npz").glob("*.npz")):
            with np.load(f) as z:
                for k in z.files:
                    parts.setdefault(k, []).append(z[k])
        fields = {k: np.concatenate(v) if k != "level" else v for k, v in parts.items()}
        assert len(fields["observations"]) == n
        return n / (time.perf_counter() - t0)

    print("load all:", flush=True)
    load_rates = interleave({"rlgen EpisodeDataset.load": load_rlgen,
                             "rlgen load, decoded cache, copied into RAM": load_rlgen_cached,
                             "npz episodes -> one array": load_npz}, args.reps)
    load_ratio = median(load_rates["rlgen load, decoded cache, copied into RAM"]) / median(load_rates["npz episodes -> one array"])
    rows = rate_rows(load_rates, "npz episodes -> one array", "transitions/s")
    for r, k in zip(rows, load_rates, strict=True):
        r.insert(2, f"{n / median(load_rates[k]):.2f} s")
    report.append(f"### Load all into memory ({args.reps} interleaved reps, files in page cache)\n\n" +
                  table(RATE_HEADER[:2] + ["time"] + RATE_HEADER[2:], rows) +
                  f"\n\nrlgen decoded cache / npz = {load_ratio:.1f}× (target ≥ 10×: {'met' if load_ratio >= 10 else 'MISSED'})")
    print(report[-1], flush=True)

    # ---- random minibatch sampling from memory ----
    obs = source.fields["observations"]
    obs_t = torch.from_numpy(obs)
    sampler = TransitionSampler(source, seed=0)
    from rlgen.nets.scorer import _take
    rng = np.random.default_rng(0)

    def sample_rlgen() -> float:
        t0 = time.perf_counter()
        for _ in range(args.batches):
            idx, *_ = sampler.sample(args.batch)
            _take(obs, idx, "cpu")  # what the scorers call
        return args.batches * args.batch / (time.perf_counter() - t0)

    def sample_index_select() -> float:
        t0 = time.perf_counter()
        for _ in range(args.batches):
            idx = rng.integers(n, size=args.batch)
            obs_t.index_select(0, torch.as_tensor(idx, dtype=torch.long))
        return args.batches * args.batch / (time.perf_counter() - t0)

    def sample_numpy() -> float:
        t0 = time.perf_counter()
        for _ in range(args.batches):
            idx = rng.integers(n, size=args.batch)
            obs[idx]
        return args.batches * args.batch / (time.perf_counter() - t0)

    print("sampling:", flush=True)
    s_rates = interleave({"rlgen: TransitionSampler + scorer _take": sample_rlgen,
                          "torch index_select": sample_index_select,
                          "numpy fancy indexing obs[idx]": sample_numpy}, args.reps)
    s_rlgen = median(s_rates["rlgen: TransitionSampler + scorer _take"])
    report.append(f"### Random minibatch sampling (batch {args.batch} frames 64x64x3 uint8, "
                  f"{args.batches} batches x {args.reps} interleaved reps, {args.threads} torch threads)\n\n" +
                  table(RATE_HEADER, rate_rows(s_rates, "numpy fancy indexing obs[idx]", "transitions/s")) +
                  f"\n\nrlgen: {s_rlgen:,.0f} transitions/s (target ≥ 50,000: {'met' if s_rlgen >= 50_000 else 'MISSED'})")
    print(report[-1], flush=True)

    # ---- collection vs stepping without recording ----
    spec = make_env_spec("procgen:coinrun")

    class Counting(Policy):
        """Counts the env steps a policy is asked for (collect steps past its target to finish
        episodes and drops the unfinished ones, so saved transitions undercount the work)."""

        def __init__(self, policy):
            self.policy, self.steps = policy, 0

        def act(self, obs, infos=None):
            self.steps += len(obs)
            return self.policy.act(obs)

    c_rows, c_ratios = [], {}
    for label, source_name, steps in (("expert (bundled PPO)", args.policy, args.collect_steps),
                                      ("random", "random", args.collect_steps * 5)):
        policy, _ = load_policy(source_name, spec, seed=0)
        runs = iter(range(10_000))

        def with_recording(policy=policy, steps=steps, runs=runs) -> float:
            counting = Counting(policy)
            out = tmp / f"collect-{next(runs)}"
            t0 = time.perf_counter()
            collect(spec, counting, out, steps, num_envs=16, seed=0, progress=False)
            rate = counting.steps / (time.perf_counter() - t0)
            shutil.rmtree(out)
            return rate

        def without_recording(policy=policy, steps=steps) -> float:
            envs = spec.make_vec_env("train", 16, seed=0)
            t0 = time.perf_counter()
            o, _ = envs.reset(seed=0)
            for _ in range(steps // 16):
                o, *_ = envs.step(policy.act(o))
            rate = (steps // 16) * 16 / (time.perf_counter() - t0)
            envs.close()
            return rate

        print(f"collection, {label}:", flush=True)
        rates = interleave({"rlgen collect (records, writes shards, card)": with_recording,
                            "same policy, env only": without_recording}, args.collect_reps)
        c_ratios[label] = median(rates["rlgen collect (records, writes shards, card)"]) / \
            median(rates["same policy, env only"])
        for r in rate_rows(rates, "same policy, env only", "env steps/s"):
            c_rows.append([label, *r])
    report.append(f"### Collection (16 envs; expert: >= {args.collect_steps} saved transitions per rep, "
                  f"random: >= {args.collect_steps * 5}; {args.collect_reps} interleaved reps)\n\n" +
                  table(["policy", *RATE_HEADER], c_rows) + "\n\n" +
                  "; ".join(f"{k}: collect / env-only = {v:.2f} (target ≥ 0.8: {'met' if v >= 0.8 else 'MISSED'})"
                            for k, v in c_ratios.items()))
    print(report[-1], flush=True)

    end_load = load_average()
    print(f"\n## Offline data benchmarks, {dt.date.today()}, {os.cpu_count()} CPUs\n"
          f"load average: {start_load} -> {end_load}\n")
    print("\n\n".join(report))
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
