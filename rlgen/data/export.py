"""Export episode datasets to Minari and d3rlpy, for users who work with those tools.

rlgen's own storage stays the source of truth: Minari's backends re-encode image frames lossily
(see docs/benchmarks.md), and d3rlpy wants channel-first frames in memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rlgen.data.storage import EpisodeDataset
from rlgen.tree import map_tree


def to_minari(ds: EpisodeDataset, dataset_id: str, root: str | Path, env_spec=None):
    """Write `ds` as a local Minari dataset under `root` (Minari's MINARI_DATASETS_PATH).

    Minari stores T+1 observations per episode; Procgen never shows the frame after the last
    step, so the last observation is repeated there (terminations mark those steps)."""
    os.environ["MINARI_DATASETS_PATH"] = str(Path(root).resolve())
    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    episodes = []
    for i, ep in enumerate(ds.episodes()):
        obs = ep["observations"]
        n = len(ep["actions"])
        episodes.append(EpisodeBuffer(
            id=i, observations=map_tree(lambda x, n=n: np.concatenate([x, x[n - 1:n]]), obs), actions=np.asarray(ep["actions"]),
            rewards=list(np.asarray(ep["rewards"])), terminations=list(np.asarray(ep["terminations"])),
            truncations=list(np.asarray(ep["truncations"])), infos={}))
    if env_spec is None:
        from rlgen.registry import make_env_spec

        env_info = ds.card["env"]
        env_spec = make_env_spec(env_info["id"], **env_info.get("options", {}))
    env = env_spec.make_env()
    try:
        return minari.create_dataset_from_buffers(
            dataset_id=dataset_id, buffer=episodes, observation_space=env.observation_space,
            action_space=env.action_space, algorithm_name=str(ds.card.get("behavior_policy", {}).get("kind")),
            author="rlgen export", description=f"exported from {ds.path}")
    finally:
        env.close()


def to_d3rlpy(ds: EpisodeDataset, channels_first: bool = True):
    """A d3rlpy `MDPDataset` (frames transposed to CHW when `channels_first`)."""
    from d3rlpy.dataset import MDPDataset

    obs = ds.fields["observations"]
    if isinstance(obs, dict):
        raise ValueError("d3rlpy's MDPDataset takes array observations; this dataset stores a dict")
    if channels_first and obs.ndim == 4:
        obs = np.ascontiguousarray(obs.transpose(0, 3, 1, 2))
    ends = ds.starts + ds.lengths - 1
    terminals = np.zeros(ds.num_transitions, dtype=np.float32)
    timeouts = np.zeros(ds.num_transitions, dtype=np.float32)
    term = np.asarray(ds.fields["terminations"], dtype=bool)
    terminals[ends] = term[ends]
    timeouts[ends] = ~term[ends]
    return MDPDataset(observations=obs, actions=np.asarray(ds.fields["actions"]),
                      rewards=np.asarray(ds.fields["rewards"], dtype=np.float32),
                      terminals=terminals, timeouts=timeouts)
