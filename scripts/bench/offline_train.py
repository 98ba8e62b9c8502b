"""Offline gradient steps/s: rlgen BC and CQL vs d3rlpy 2.8 DiscreteBC and DiscreteCQL at equal
network, on the same in-memory coinrun dataset. Target (issue 3): rlgen >= 2x d3rlpy, or explain.

    PYTHONPATH=$PWD nice -n 5 python scripts/bench/offline_train.py --dataset /tmp/bench_ds

Network on both sides: IMPALA CNN [16,32,32] -> 256 (`rlgen.nets.impala.ImpalaEncoder`, plugged
into d3rlpy through a custom EncoderFactory) and a linear head over the 15 actions. d3rlpy gets
the dataset through `rlgen.data.export.to_d3rlpy` (channel-first frames, as it expects) and
scales pixels with its PixelObservationScaler; rlgen samples HWC uint8 frames and runs its
convolutions channels-last. Settings: Adam; BC cross-entropy (d3rlpy beta=0, so no logit
penalty), lr 5e-4; CQL alpha 4, gamma 0.99, one Q-network with a target copy, lr 5e-4.
A timed step includes sampling the batch on both sides (d3rlpy: `sample_transition_batch` +
`update`, as its `fit` loop does; rlgen: `agent.update(agent.sample_batch())`). Repetitions
are interleaved.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import time
import warnings
from dataclasses import dataclass

from _timing import (
    RATE_HEADER,
    interleave,
    load_average,
    median,
    quiet_torch_threads,
    rate_rows,
    table,
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="/tmp/bench_ds", help="an rlgen dataset of procgen:coinrun")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10, help="gradient steps per timed repetition")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--algos", default="bc,cql")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    quiet_torch_threads(args.threads)

    import torch

    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        import d3rlpy
        from d3rlpy.models.encoders import EncoderFactory
        from d3rlpy.models.torch import Encoder

    from rlgen.agents.bc import BC, BCConfig
    from rlgen.agents.cql import CQL, CQLConfig
    from rlgen.data.export import to_d3rlpy
    from rlgen.data.storage import EpisodeDataset
    from rlgen.nets.impala import ImpalaEncoder
    from rlgen.registry import make_env_spec

    torch.set_num_threads(args.threads)
    start_load = load_average()
    print(f"load average at start: {start_load}; torch {torch.__version__}, {args.threads} threads")

    class ImpalaD3Encoder(Encoder):
        """rlgen's IMPALA encoder on d3rlpy's scaled CHW float frames."""

        def __init__(self):
            super().__init__()
            self.impala = ImpalaEncoder((64, 64, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.impala.convs(x))
            return torch.relu(self.impala.fc(h.flatten(1)))

    @dataclass()
    class ImpalaEncoderFactory(EncoderFactory):
        def create(self, observation_shape):
            return ImpalaD3Encoder()

        @staticmethod
        def get_type() -> str:
            return "rlgen_impala"

    spec = make_env_spec("procgen:coinrun")
    source = EpisodeDataset.load(args.dataset)
    mdp = to_d3rlpy(source)
    print(f"dataset: {source.num_transitions} transitions; d3rlpy episodes: {len(mdp.episodes)}")
    device = torch.device("cpu")

    def rlgen_agent(cls, cfg):
        torch.manual_seed(0)
        agent = cls(spec, cfg, device, seed=0)
        agent.attach(source)  # as prepare() does, without re-reading the files
        return agent

    def d3_algo(kind: str):
        torch.manual_seed(0)
        common = {"batch_size": args.batch, "learning_rate": 5e-4,
                  "encoder_factory": ImpalaEncoderFactory(),
                  "observation_scaler": d3rlpy.preprocessing.PixelObservationScaler()}
        if kind == "bc":
            cfg = d3rlpy.algos.DiscreteBCConfig(beta=0.0, **common)
        else:
            cfg = d3rlpy.algos.DiscreteCQLConfig(alpha=4.0, gamma=0.99, n_critics=1,
                                                 target_update_interval=1000, **common)
        algo = cfg.create(device="cpu:0")
        algo.build_with_dataset(mdp)
        return algo

    def time_rlgen(agent):
        def go() -> float:
            t0 = time.perf_counter()
            for _ in range(args.steps):
                agent.update(agent.sample_batch())  # one step of the fit loop
            return args.steps / (time.perf_counter() - t0)
        return go

    def time_d3(algo):
        def go() -> float:
            t0 = time.perf_counter()
            for _ in range(args.steps):
                algo.update(mdp.sample_transition_batch(args.batch))
            return args.steps / (time.perf_counter() - t0)
        return go

    def sample_only_d3() -> float:
        t0 = time.perf_counter()
        for _ in range(args.steps):
            mdp.sample_transition_batch(args.batch)
        return args.steps / (time.perf_counter() - t0)

    sections, ratios = [], {}
    for kind in args.algos.split(","):
        if kind == "bc":
            ours = rlgen_agent(BC, BCConfig(batch_size=args.batch, lr=5e-4))
            net = ours.nets["policy"]
        else:
            ours = rlgen_agent(CQL, CQLConfig(batch_size=args.batch, lr=5e-4, alpha=4.0))
            net = ours.nets["q"]
        theirs = d3_algo(kind)
        n_ours = sum(p.numel() for p in net.parameters())
        names = {"bc": ("rlgen BC", "d3rlpy DiscreteBC"), "cql": ("rlgen CQL", "d3rlpy DiscreteCQL")}[kind]
        cases = {names[0]: time_rlgen(ours), names[1]: time_d3(theirs)}
        print(f"{kind}: rlgen trainable parameters {n_ours:,}; warm-up (not timed)", flush=True)
        for fn in cases.values():
            fn()
        if kind == args.algos.split(",")[0]:
            cases["d3rlpy sample_transition_batch only (batches/s)"] = sample_only_d3
        rates = interleave(cases, args.reps)
        ratios[kind] = median(rates[names[0]]) / median(rates[names[1]])
        sections.append(f"### {kind.upper()} (batch {args.batch}, {args.steps} steps x {args.reps} interleaved reps)\n\n"
                        + table(RATE_HEADER, rate_rows(rates, names[1], "grad steps/s", ",.2f"))
                        + f"\n\n{names[0]} / {names[1]} = {ratios[kind]:.2f} "
                        f"(target ≥ 2: {'met' if ratios[kind] >= 2 else 'MISSED'})")
        print(sections[-1], flush=True)
    end_load = load_average()
    print(f"\n## Offline gradient steps/s, rlgen vs d3rlpy {d3rlpy.__version__}, {dt.date.today()}\n"
          f"load average: {start_load} -> {end_load}\n")
    print("\n\n".join(sections))


if __name__ == "__main__":
    main()
