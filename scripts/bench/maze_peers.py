"""Maze speed against peers, interleaved in one process (ratios; see docs/benchmarks.md):

- data generation: rlgen's maze collector (BFS waypoints, PD control, episode storage, test-pair
  check) vs stepping the raw gymnasium-robotics PointMaze with random actions, same step count;
- RvS update: rlgen (hindsight goal sampler + MLP step) vs the bare MLP regression step on
  pre-drawn random rows (no goal sampling): the sampler's overhead;
- GCIQL update: rlgen vs d3rlpy IQL (not goal-conditioned) with the same 2x256 networks, batch
  and dataset: a TD update of the same size in a well-kept library.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python scripts/bench/maze_peers.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import (  # noqa: E402
    RATE_HEADER,
    interleave,
    load_average,
    quiet_torch_threads,
    rate_rows,
    table,
)

quiet_torch_threads(1)

import argparse  # noqa: E402
import copy  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import d3rlpy  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

warnings.filterwarnings("ignore")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="pointmaze-umaze")
    p.add_argument("--transitions", type=int, default=100_000, help="per collection repetition")
    p.add_argument("--updates", type=int, default=300, help="per training repetition")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)

    from rlgen.agents.factory import agent_config
    from rlgen.agents.goal_sampling import GoalData
    from rlgen.data.storage import EpisodeDataset
    from rlgen.envs.maze.collect import CollectConfig, collect
    from rlgen.envs.maze.env import make_point_maze
    from rlgen.registry import agent_class, make_env_spec

    spec = make_env_spec(f"maze:{args.task}")
    layout = spec.impl.layout(args.task)
    tmp = Path(tempfile.mkdtemp())
    print(f"# maze peers, {args.task}, load average {load_average()}")

    # ---- data generation ------------------------------------------------------------------
    counter = iter(range(10**6))

    def rlgen_collect() -> float:
        t0 = time.perf_counter()
        card = collect(CollectConfig(env=spec.id, transitions=args.transitions, num_envs=16,
                                     seed=next(counter)), tmp / f"c{time.time_ns()}", progress=False)
        steps = EpisodeDataset.load(card).card["throughput"]["env_steps"]
        return steps / (time.perf_counter() - t0)

    raw = make_point_maze(layout.gym_id, layout.maze_map)
    rng = np.random.default_rng(0)

    def raw_env() -> float:
        raw.reset(seed=0)
        t0 = time.perf_counter()
        for t in range(args.transitions):
            raw.step(rng.uniform(-1, 1, 2))
            if t % layout.max_steps == layout.max_steps - 1:
                raw.reset()
        return args.transitions / (time.perf_counter() - t0)

    rates = interleave({"rlgen maze collector": rlgen_collect, "raw PointMaze steps": raw_env},
                       args.reps)
    print(f"\n## Data generation, env steps/s ({args.transitions:,} per rep)\n")
    print(table(RATE_HEADER, rate_rows(rates, "raw PointMaze steps", "steps/s")))

    # ---- training -------------------------------------------------------------------------
    path = collect(CollectConfig(env=spec.id, transitions=50_000, num_envs=16, seed=0),
                   tmp / "train", progress=False)
    data = GoalData.from_dataset(EpisodeDataset.load(path), spec.impl.goal_layout(spec))

    def agent(name: str, overrides: dict):
        a = agent_class(name)(spec, agent_config(name, spec.family, overrides)[0], torch.device("cpu"))
        a.attach(data)
        for m in a.nets.values():
            m.train()
        return a

    def timed(update) -> float:
        t0 = time.perf_counter()
        for n in range(args.updates):
            update(n)
        return args.updates / (time.perf_counter() - t0)

    rvs = agent("rvs", {"hidden": [256, 256]})
    net = copy.deepcopy(rvs.nets["actor"])  # same architecture, trained on its own
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x_all = torch.as_tensor(np.concatenate([data.observations, data.observations[:, :2]], 1))
    a_all = torch.as_tensor(data.actions)
    rows = torch.randint(len(data), (args.updates, 256))

    def bare_step(n: int) -> None:
        idx = rows[n]
        loss = ((net(x_all[idx]) - a_all[idx]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 0.25)
        opt.step()

    gciql = agent("gciql", {"hidden": [256, 256], "batch_size": 256, "lr": 1e-3})

    ends = np.zeros(len(data), dtype=bool)
    ends[np.unique(data.last)] = True
    mdp = d3rlpy.dataset.MDPDataset(data.observations, data.actions,
                                    np.zeros(len(data), np.float32), ends.astype(np.float32))
    enc = d3rlpy.models.encoders.VectorEncoderFactory(hidden_units=[256, 256], use_layer_norm=True)
    iql = d3rlpy.algos.IQLConfig(batch_size=256, actor_learning_rate=1e-3,
                                 critic_learning_rate=1e-3, actor_encoder_factory=enc,
                                 critic_encoder_factory=enc, value_encoder_factory=enc,
                                 ).create(device="cpu:0")
    iql.build_with_dataset(mdp)

    cases = {
        "rlgen RvS 2x256 (hindsight goals)": lambda: timed(lambda n: rvs.update(rvs.sample_batch())),
        "bare MLP regression step": lambda: timed(bare_step),
        "rlgen GCIQL 2x256": lambda: timed(lambda n: gciql.update(gciql.sample_batch())),
        "d3rlpy IQL 2x256": lambda: timed(lambda n: iql.update(mdp.sample_transition_batch(256))),
    }
    rates = interleave(cases, args.reps)
    print(f"\n## Training updates/s, batch 256 ({args.updates} updates per rep, torch 1 thread)\n")
    print(table(RATE_HEADER, rate_rows({k: rates[k] for k in list(cases)[:2]},
                                       "bare MLP regression step", "upd/s", ",.1f")))
    print()
    print(table(RATE_HEADER, rate_rows({k: rates[k] for k in list(cases)[2:]},
                                       "d3rlpy IQL 2x256", "upd/s", ",.1f")))
    print(f"\nload average after: {load_average()}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
