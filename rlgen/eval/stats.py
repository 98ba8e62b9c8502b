"""Confidence intervals for the two questions rlgen asks (docs/statistics.md says which is which).

Within one run: how well does the policy do on a split's levels? Episodes on the same level are
not independent draws (same layout, same difficulty), so the bootstrap resamples **levels** and
keeps each level's episodes together (a cluster bootstrap); the statistic is a plain mean.

Across runs: how well does an agent do, given seed-to-seed variance? Per-run scores form a
(runs × tasks) matrix, aggregated with rliable's IQM or mean and its stratified bootstrap over
runs, and compared with rliable's probability of improvement.

Every bootstrap here takes a fixed seed, so the same records give the same intervals. rliable's
own stratified bootstraps draw from numpy's global random state whatever `random_state` they are
given (rliable 1.2.0, `np.random.choice` in `update_indices`), so their intervals change from
call to call; the across-runs bootstrap below is rliable's scheme (runs resampled with
replacement within each task, percentile interval) drawn from a seeded generator, vectorised.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

REPS = 2000
CONFIDENCE = 0.95
_TAIL = 100 * (1 - CONFIDENCE) / 2


def _percentile_ci(draws: np.ndarray) -> list[float]:
    lo, hi = np.percentile(draws, [_TAIL, 100 - _TAIL])
    return [float(lo), float(hi)]


def split_rng(seed: int, name: str) -> np.random.Generator:
    """A generator for one split: independent of other splits' draws (so a gap's two halves are
    independent) and the same whichever other splits were evaluated alongside it."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


# --- within one run: the level-cluster bootstrap --------------------------------------------


@dataclass(frozen=True)
class Clusters:
    """Episodes grouped by level: per-level sums of each metric column and episode counts."""

    keys: list[str]          # level ids as strings, sorted (a fixed order makes draws reproducible)
    sums: np.ndarray         # (levels, metrics)
    counts: np.ndarray       # (levels,)

    @classmethod
    def of(cls, values: np.ndarray, levels: Sequence[Any]) -> Clusters:
        values = np.asarray(values, dtype=np.float64)
        values = values[:, None] if values.ndim == 1 else values
        if len(values) != len(levels) or len(values) == 0:
            raise ValueError(f"need one level per episode and at least one episode "
                             f"({len(values)} values, {len(levels)} levels)")
        keys = sorted({str(level) for level in levels})
        index = {k: i for i, k in enumerate(keys)}
        idx = np.array([index[str(level)] for level in levels])
        sums = np.zeros((len(keys), values.shape[1]))
        np.add.at(sums, idx, values)
        return cls(keys, sums, np.bincount(idx, minlength=len(keys)).astype(np.float64))

    def restrict(self, keys: Sequence[str]) -> Clusters:
        index = {k: i for i, k in enumerate(self.keys)}
        rows = [index[k] for k in keys]
        return Clusters(list(keys), self.sums[rows], self.counts[rows])

    def mean(self) -> np.ndarray:
        return self.sums.sum(0) / self.counts.sum()

    def draws(self, weights: np.ndarray) -> np.ndarray:
        """Episode-weighted means under level multiplicities `weights` (reps × levels) → (reps, metrics)."""
        return (weights @ self.sums) / (weights @ self.counts)[:, None]


def level_weights(n_levels: int, rng: np.random.Generator, reps: int = REPS) -> np.ndarray:
    """How often each level is drawn in each of `reps` resamples of `n_levels` levels with replacement."""
    return rng.multinomial(n_levels, np.full(n_levels, 1.0 / n_levels), size=reps).astype(np.float64)


def level_bootstrap(values: np.ndarray, levels: Sequence[Any], rng: np.random.Generator,
                    reps: int = REPS) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each column of `values` (episodes × metrics, or 1-D) over episodes, and its
    bootstrap draws (reps × metrics) from resampling levels, each with all its episodes.

    With one level there is nothing to resample: every draw equals the mean (CI of width 0)."""
    clusters = Clusters.of(values, levels)
    return clusters.mean(), clusters.draws(level_weights(len(clusters.keys), rng, reps))


def level_mean_with_ci(values: np.ndarray, levels: Sequence[Any], seed: int = 0,
                       reps: int = REPS) -> tuple[float, list[float]]:
    """Mean over episodes with a 95% CI from resampling levels (episodes clustered by level)."""
    mean, draws = level_bootstrap(values, levels, np.random.default_rng(seed), reps)
    return float(mean[0]), _percentile_ci(draws[:, 0])


def ci_of(draws: np.ndarray) -> list[float]:
    """95% percentile interval of bootstrap draws."""
    return _percentile_ci(np.asarray(draws))


@dataclass(frozen=True)
class PairedDifference:
    levels: int             # levels both runs played
    mean_a: float
    mean_b: float
    value: float            # mean_a − mean_b
    ci: list[float]
    p_a_greater: float      # share of level resamples in which A's mean beats B's (ties count ½)


def paired_level_difference(values_a: np.ndarray, levels_a: Sequence[Any], values_b: np.ndarray,
                            levels_b: Sequence[Any], seed: int = 0,
                            reps: int = REPS) -> PairedDifference:
    """Mean(A) − mean(B) over the episodes both runs played on their shared levels, with the
    same level resample applied to both (a paired bootstrap: level difficulty cancels out)."""
    a, b = Clusters.of(values_a, levels_a), Clusters.of(values_b, levels_b)
    shared = sorted(set(a.keys) & set(b.keys))
    if not shared:
        raise ValueError("the two runs share no levels")
    a, b = a.restrict(shared), b.restrict(shared)
    weights = level_weights(len(shared), np.random.default_rng(seed), reps)
    diff = a.draws(weights)[:, 0] - b.draws(weights)[:, 0]
    mean_a, mean_b = float(a.mean()[0]), float(b.mean()[0])
    # Identical runs give all-zero draws; rounding noise must not read as a difference.
    diff = np.where(np.abs(diff) < 1e-12, 0.0, diff)
    p = float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))
    return PairedDifference(len(shared), mean_a, mean_b, mean_a - mean_b, _percentile_ci(diff), p)


# --- across runs: rliable's estimators on (runs × tasks) matrices ------------------------------


def _matrix(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    return scores[:, None] if scores.ndim == 1 else scores


def _iqm(scores: np.ndarray) -> float:
    """Interquartile mean over all entries: scipy's trim_mean(x, 0.25), as rliable's
    aggregate_iqm."""
    x = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    cut = int(0.25 * len(x))
    return float(x[cut:len(x) - cut].mean())


def iqm(scores: np.ndarray) -> float:
    return _iqm(_matrix(scores))


def stratified_draws(scores: np.ndarray, rng: np.random.Generator, reps: int = REPS) -> np.ndarray:
    """(reps, runs, tasks): each draw resamples the runs of every task with replacement,
    independently per task (rliable's StratifiedBootstrap)."""
    m = _matrix(scores)
    n, tasks = m.shape
    idx = rng.integers(0, n, size=(reps, n, tasks))
    return m[idx, np.arange(tasks)[None, None, :]]


def _iqm_rows(draws: np.ndarray) -> np.ndarray:
    flat = np.sort(draws.reshape(len(draws), -1), axis=1)
    cut = int(0.25 * flat.shape[1])
    return flat[:, cut:flat.shape[1] - cut].mean(axis=1)


def _stratified(scores: np.ndarray, aggregate: Callable[[np.ndarray], float],
                rows: Callable[[np.ndarray], np.ndarray], seed: int) -> tuple[float, list[float]]:
    m = _matrix(scores)
    value = aggregate(m)
    if m.shape[0] < 2:  # one run per task: no spread to resample
        return value, [value, value]
    return value, _percentile_ci(rows(stratified_draws(m, np.random.default_rng(seed))))


def iqm_with_ci(scores: np.ndarray, seed: int = 0) -> tuple[float, list[float]]:
    """IQM of a (runs × tasks) matrix of per-run scores, with a 95% stratified-bootstrap CI
    (runs resampled within each task)."""
    return _stratified(scores, _iqm, _iqm_rows, seed)


def mean_with_ci(scores: np.ndarray, seed: int = 0) -> tuple[float, list[float]]:
    """Mean of a (runs × tasks) matrix of per-run scores, with a stratified-bootstrap CI."""
    return _stratified(scores, lambda x: float(np.mean(x)), lambda d: d.mean(axis=(1, 2)), seed)


def _poi_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) per leading index of (…, runs, tasks) arrays: per task the share of (x, y) run
    pairs with x > y, ties ½ (Mann-Whitney U / (n·m)), averaged over tasks."""
    xs, ys = x[..., :, None, :], y[..., None, :, :]
    per_task = (xs > ys).mean(axis=(-3, -2)) + 0.5 * (xs == ys).mean(axis=(-3, -2))
    return per_task.mean(axis=-1)


def probability_of_improvement(x: np.ndarray, y: np.ndarray,
                               seed: int = 0) -> tuple[float, list[float]]:
    """rliable's P(X > Y): the chance that a random run of X scores above a random run of Y on
    a task (Mann-Whitney U, ties ½), averaged over tasks; CI by stratified bootstrap of both
    sets of runs, each resampled independently. `x` and `y` are (runs × tasks), same tasks."""
    mx, my = _matrix(x), _matrix(y)
    if mx.shape[1] != my.shape[1]:
        raise ValueError(f"X and Y cover different numbers of tasks ({mx.shape[1]} vs {my.shape[1]})")
    value = float(_poi_rows(mx, my))
    if mx.shape[0] < 2 or my.shape[0] < 2:
        return value, [value, value]
    rng = np.random.default_rng(seed)
    return value, _percentile_ci(_poi_rows(stratified_draws(mx, rng), stratified_draws(my, rng)))


def _profile(flat_sorted: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Share of entries above each τ, given the entries sorted."""
    return 1.0 - np.searchsorted(flat_sorted, taus, side="right") / len(flat_sorted)


def performance_profile(score_dict: dict[str, np.ndarray], taus: np.ndarray,
                        seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """rliable's score-distribution profiles (fraction of runs × tasks with score > τ) and their
    stratified-bootstrap 95% bands, as `rly.create_performance_profile` returns them:
    ({key: profile}, {key: (2, len(taus)) lower and upper band})."""
    taus = np.asarray(taus, dtype=np.float64)
    profiles, cis = {}, {}
    for key, scores in score_dict.items():
        m = _matrix(scores)
        profiles[key] = _profile(np.sort(m.ravel()), taus)
        draws = np.sort(stratified_draws(m, np.random.default_rng(seed)).reshape(REPS, -1), axis=1)
        rows = np.array([_profile(d, taus) for d in draws])
        cis[key] = np.percentile(rows, [_TAIL, 100 - _TAIL], axis=0)
    return profiles, cis
