"""OpenES (Salimans et al. 2017) as the LPO / TA-LPO references run it: antithetic sampling,
centered-rank fitness shaping, Adam on the mean, σ decayed towards a floor (Goldie et al.'s
defaults: σ 0.03 ×0.99, lr 0.03 ×0.99). Maximises fitness.

Written here rather than taken from evotorch: evotorch has PGPE (which adapts σ per dimension)
but no OpenES, and the references' fixed-schedule σ is part of what is being reproduced. The
whole state is a few tensors, so a checkpoint round-trips exactly (`state_dict`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class ESConfig:
    population: int = 64
    sigma: float = 0.03
    sigma_decay: float = 0.99
    sigma_floor: float = 0.0
    lr: float = 0.03
    lr_decay: float = 0.99
    lr_floor: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.population < 2 or self.population % 2:
            raise ValueError(f"population must be even and >= 2 under antithetic sampling, "
                             f"got {self.population}")
        if self.sigma <= 0 or self.lr <= 0:
            raise ValueError("ES sigma and lr must be positive")

    @classmethod
    def build(cls, population: int, settings: dict[str, Any]) -> ESConfig:
        """From `--es KEY=VALUE` settings: unknown keys get a did-you-mean, values must be
        numbers, and the population comes from its own flag only."""
        from dataclasses import fields

        from rlgen.errors import UnknownNameError

        known = [f.name for f in fields(cls) if f.name != "population"]
        values = {}
        for key, value in settings.items():
            if key == "population":
                raise ValueError("the ES population is set by --population, not --es population=...")
            if key not in known:
                raise UnknownNameError("ES setting", key, known)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"ES setting {key} must be a number, got {value!r}")
            values[key] = float(value)
        return cls(population=population, **values)


def centered_ranks(fitness: torch.Tensor) -> torch.Tensor:
    """Ranks scaled to [-0.5, 0.5]; tied members share their average rank, so an antithetic
    pair that scored alike pulls the mean nowhere (ranks by position would give it a direction
    that Adam's normalization then turns into a full-size step)."""
    values, order = torch.sort(fitness)
    _, counts = torch.unique_consecutive(values, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    average = (starts + (counts - 1) / 2).to(torch.float64).repeat_interleave(counts)
    ranks = torch.empty_like(average).scatter_(0, order, average)
    return ranks / (len(fitness) - 1) - 0.5


class OpenES:
    """ask() -> (population, dim) candidates; tell(fitness) updates the mean."""

    def __init__(self, config: ESConfig, mean: torch.Tensor, seed: int = 0):
        self.config = config
        self.mean = mean.detach().to(torch.float64).clone()
        self.m = torch.zeros_like(self.mean)
        self.v = torch.zeros_like(self.mean)
        self.sigma, self.lr = config.sigma, config.lr
        self.generation = 0
        self.generator = torch.Generator().manual_seed(seed)
        self._noise: torch.Tensor | None = None

    def ask(self) -> torch.Tensor:
        half = torch.randn((self.config.population // 2, self.mean.numel()),
                           generator=self.generator, dtype=torch.float64)
        # partners sit at i and i + population/2, as evosax places them
        self._noise = torch.cat([half, -half])
        return self.mean + self.sigma * self._noise

    def tell(self, fitness: torch.Tensor) -> None:
        if self._noise is None:
            raise RuntimeError("tell() before ask()")
        fitness = torch.as_tensor(fitness, dtype=torch.float64)
        if fitness.shape != (self.config.population,):
            raise ValueError(f"need {self.config.population} fitness values, got {tuple(fitness.shape)}")
        cfg = self.config
        weights = centered_ranks(fitness)
        # gradient of expected fitness; Adam below minimises, so step on its negative
        grad = -(weights @ self._noise) / (cfg.population * self.sigma)
        self.generation += 1
        self.m = cfg.beta1 * self.m + (1 - cfg.beta1) * grad
        self.v = cfg.beta2 * self.v + (1 - cfg.beta2) * grad * grad
        m_hat = self.m / (1 - cfg.beta1 ** self.generation)
        v_hat = self.v / (1 - cfg.beta2 ** self.generation)
        self.mean = self.mean - self.lr * m_hat / (v_hat.sqrt() + cfg.eps)
        self.sigma = max(cfg.sigma_floor, self.sigma * cfg.sigma_decay)
        self.lr = max(cfg.lr_floor, self.lr * cfg.lr_decay)
        self._noise = None

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "m": self.m, "v": self.v, "sigma": self.sigma, "lr": self.lr,
                "generation": self.generation, "rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["mean"].shape != self.mean.shape:
            raise ValueError(f"ES state has {state['mean'].numel()} parameters, the objective "
                             f"{self.mean.numel()}")
        self.mean, self.m, self.v = state["mean"].clone(), state["m"].clone(), state["v"].clone()
        self.sigma, self.lr = float(state["sigma"]), float(state["lr"])
        self.generation = int(state["generation"])
        self.generator.set_state(state["rng"])
        self._noise = None
