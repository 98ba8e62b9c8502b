"""Samplers over a goal-conditioned episode dataset: hindsight goals and temporal augmentation.

Goals are achieved goals of dataset states (the maze's xy; which part of a state is its achieved
goal comes from the env's `GoalLayout`). A step i of an episode that ends at
step `end` may be paired with a future time j in (i, end + 1], where time end + 1 is the final
next observation. Achieved goal at time j = xy of that state.

Temporal data augmentation (Ghugare et al. 2024): with probability epsilon, replace the hindsight
goal by one reached *after a similar state in another trajectory*: take the K-means cluster of
the state at j, pick any dataset state w in that cluster, then a later time k >= w of w's own
episode, and use the achieved goal at k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlgen.data.storage import EpisodeDataset
from rlgen.envs.base import GoalLayout


@dataclass
class GoalData:
    """Flat per-step arrays plus, for each step, the index of its episode's first and last step."""

    observations: np.ndarray       # (N, state_dim), e.g. the maze's [x, y, vx, vy]
    next_observations: np.ndarray  # (N, state_dim)
    actions: np.ndarray            # (N, action_dim)
    first: np.ndarray              # (N,) index of the episode's first step
    last: np.ndarray               # (N,) index of the episode's last step
    achieved: slice                # the part of a state that is its achieved goal (GoalLayout)

    @classmethod
    def from_dataset(cls, ds: EpisodeDataset, layout: GoalLayout) -> GoalData:
        for name in ("next_observations",):
            if name not in ds.fields:
                raise ValueError(f"{ds.path}: field {name!r} missing: not a maze dataset "
                                 "(build one with `rlgen collect --recipe datasets/maze-*.toml`)")
        starts, lengths = ds.starts, ds.lengths
        first = np.repeat(starts, lengths)
        last = np.repeat(starts + lengths - 1, lengths)
        obs = np.asarray(ds.fields["observations"], dtype=np.float32)
        if obs.ndim != 2 or obs.shape[1] != layout.state_dim:
            raise ValueError(f"{ds.path}: observations have shape {obs.shape}, expected "
                             f"(N, {layout.state_dim})")
        return cls(obs, np.asarray(ds.fields["next_observations"], np.float32),
                   np.asarray(ds.fields["actions"], np.float32), first, last, layout.achieved)

    def __len__(self) -> int:
        return len(self.observations)

    def state_at(self, t: np.ndarray, last: np.ndarray) -> np.ndarray:
        """State at time t, where t = last + 1 means the final next observation."""
        after = t > last
        out = self.observations[np.minimum(t, last)].copy()
        out[after] = self.next_observations[last[after]]
        return out

    def goal_at(self, t: np.ndarray, last: np.ndarray) -> np.ndarray:
        return self.state_at(t, last)[:, self.achieved]

    def goals_of(self, states: np.ndarray) -> np.ndarray:
        """Achieved goals of states (..., state_dim)."""
        return states[..., self.achieved]


class HindsightSampler:
    """Steps i uniform over the dataset, goal times j uniform in (i, last(i) + 1]."""

    def __init__(self, data: GoalData, seed: int = 0):
        self.data, self.rng = data, np.random.default_rng(seed)

    def steps(self, batch: int) -> np.ndarray:
        return self.rng.integers(len(self.data), size=batch)

    def future(self, i: np.ndarray, geometric: float | None = None) -> np.ndarray:
        """A time in (i, last + 1]: uniform, or geometric with this discount (OGBench)."""
        last = self.data.last[i]
        if geometric is None:
            return i + 1 + (self.rng.random(len(i)) * (last + 1 - i)).astype(np.int64)
        offset = self.rng.geometric(1 - geometric, size=len(i))
        return np.minimum(i + offset, last + 1)

    def sample(self, batch: int) -> dict[str, np.ndarray]:
        i = self.steps(batch)
        j = self.future(i)
        return {"i": i, "j": j, "goal": self.data.goal_at(j, self.data.last[i]),
                "augmented": np.zeros(batch, dtype=bool)}


class TemporalAugmentation:
    """Hindsight sampler whose goal is, with probability `epsilon`, taken from another
    trajectory through a K-means cluster of the state at j (Ghugare et al. 2024)."""

    def __init__(self, data: GoalData, k: int, epsilon: float, seed: int = 0,
                 features: str = "obs", fit_on: int = 200_000):
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"augmentation epsilon must be in [0, 1], got {epsilon}")
        from sklearn.cluster import KMeans

        self.data, self.epsilon = data, float(epsilon)
        self.hindsight = HindsightSampler(data, seed)
        self.rng = self.hindsight.rng
        x = data.observations if features == "obs" else data.goals_of(data.observations)
        # Clustering every state is the reference; fitting on a subsample and assigning all is
        # the same up to K-means noise and keeps 1M-state datasets fast.
        fit = x if len(x) <= fit_on else x[self.rng.choice(len(x), fit_on, replace=False)]
        self.kmeans = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(fit)
        self.features = features
        self.labels = self.kmeans.predict(x).astype(np.int64)
        order = np.argsort(self.labels, kind="stable")
        self._members = order
        self._bounds = np.searchsorted(self.labels[order], np.arange(k + 1))

    def cluster_of(self, states: np.ndarray) -> np.ndarray:
        x = states if self.features == "obs" else self.data.goals_of(states)
        return self.kmeans.predict(np.asarray(x, dtype=self.kmeans.cluster_centers_.dtype))

    def sample(self, batch: int) -> dict[str, np.ndarray]:
        d = self.data
        out = self.hindsight.sample(batch)
        aug = self.rng.random(batch) < self.epsilon
        out["augmented"] = aug
        out["w"] = np.full(batch, -1)
        out["k"] = np.full(batch, -1)
        if aug.any():
            i, j = out["i"][aug], out["j"][aug]
            last = d.last[i]
            # the state at j: time last+1 has no label; cluster it on the fly
            inside = j <= last
            c = np.empty(len(j), dtype=np.int64)
            c[inside] = self.labels[j[inside]]
            if (~inside).any():
                c[~inside] = self.cluster_of(d.state_at(j[~inside], last[~inside]))
            lo, hi = self._bounds[c], self._bounds[c + 1]
            w = self._members[lo + (self.rng.random(len(c)) * (hi - lo)).astype(np.int64)]
            wlast = d.last[w]
            k = w + (self.rng.random(len(w)) * (wlast + 2 - w)).astype(np.int64)  # k in [w, wlast+1]
            out["goal"][aug] = d.goal_at(k, wlast)
            out["w"][aug], out["k"][aug] = w, k
        return out


def make_goal_sampler(data: GoalData, augment: bool, epsilon: float, k: int, seed: int,
                      features: str = "obs"):
    if augment:
        if epsilon <= 0:
            raise ValueError("temporal_augmentation is on but augmentation_epsilon is 0: "
                             "that samples no augmented goals (the reference code's silent default)")
        return TemporalAugmentation(data, k, epsilon, seed, features)
    return HindsightSampler(data, seed)
