"""`rlgen meta-train`: OpenES over an objective's parameters, fitness = the normalized final
return of fresh PPO lifetimes on the meta-train envs at one horizon.

A run directory like `train`'s: `config.toml` (resolved), `metrics.jsonl` (one record per
generation: fitness mean / max / min, σ, wall time), `objectives/gen-NNNN.pt` (the ES mean as a
saved objective after each generation; `objective.pt` is the latest) and
`checkpoints/latest.pt` (the whole ES state, written atomically), so `--resume` continues the
same ES state, optionally to more generations."""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rlgen.config import parse_count
from rlgen.exec import BackendOptions, make_backend
from rlgen.meta.es import ESConfig, OpenES
from rlgen.meta.lifetime import Lifetime, objective_size, ppo_batch, run_lifetimes, run_sequentially
from rlgen.runs import RunDir


@dataclass
class MetaTrainRequest:
    objective: str
    envs: tuple[str, ...]
    horizon: int | str
    population: int = 32
    generations: int = 300
    out: str | None = None
    seed: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)   # inner PPO config
    es: dict[str, Any] = field(default_factory=dict)          # ESConfig fields
    meta_split: str = "meta-minatar"
    backend: str = "local"   # a name in rlgen.registry.BACKENDS
    workers: int = 1          # chunks of a generation (local processes, Ray CPUs, Slurm jobs)
    #: other backend settings (a Ray cluster's address, Slurm partition); not saved in the run,
    #: as a cluster is where this session runs, not what it computes
    backend_options: BackendOptions | None = None
    #: train a generation's lifetimes as one PopulationPPO per worker (the GPU path); on a CPU
    #: with large per-agent batches sequential lifetimes are faster (docs/benchmarks.md)
    batched: bool = True
    #: where every lifetime trains ("cuda" for the paper-sized variant)
    device: str = "cpu"
    progress: bool = True


def _check(req: MetaTrainRequest, horizon: int) -> None:
    from rlgen.registry import BACKENDS, lookup

    lookup("backend", req.backend, BACKENDS)

    try:  # a bad device fails here, before the run directory exists
        torch.device(req.device)
    except RuntimeError:
        raise ValueError(f"unknown device {req.device!r} (cpu, cuda, cuda:N, mps)") from None
    if req.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {req.device!r}: CUDA is not available on this machine")
    if "objective" in req.overrides:  # the ES candidates replace it in every lifetime
        raise ValueError("meta-train takes the objective to meta-train from --objective, not "
                         f"--set objective={req.overrides['objective']}")
    if objective_size(req.objective) == 0:
        raise ValueError(f"objective {req.objective!r} has no parameters to meta-train "
                         "(use a learnable one, e.g. lpo or talpo)")
    if req.generations < 1:
        raise ValueError(f"generations must be >= 1, got {req.generations}")
    for env in req.envs:
        n, t = ppo_batch(env, {**req.overrides, "objective": req.objective})
        if horizon < n * t:
            raise ValueError(f"horizon {horizon} is smaller than one PPO batch on {env} "
                             f"({n} envs x {t} steps = {n * t})")


def meta_train(req: MetaTrainRequest) -> RunDir:
    from rlgen.meta.splits import load_meta_split
    from rlgen.meta.test import check_horizons

    horizon = parse_count(req.horizon)
    ESConfig.build(req.population, req.es)  # refuse bad ES settings before any file
    _check(req, horizon)
    split = load_meta_split(req.meta_split, train_envs=req.envs, horizon=horizon)
    # a held-out horizon meta-test could not train is better refused now than after meta-training
    check_horizons({"envs": list(req.envs), "overrides": req.overrides}, split)
    name = f"{req.objective}-{'+'.join(e.replace(':', '-') for e in req.envs)}-" + \
        dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if req.out:
        run = RunDir.create(Path(req.out).parent, Path(req.out).name)
    else:
        run = RunDir.create("runs", name, unique=True)
    resolved = {"kind": "meta-train", "objective": req.objective, "envs": list(req.envs),
                "horizon": horizon, "population": req.population, "generations": req.generations,
                "seed": req.seed, "overrides": req.overrides, "es": req.es,
                "backend": req.backend, "workers": req.workers, "batched": req.batched,
                "device": req.device,
                "meta_split": split.to_dict()}
    run.write_config(resolved)
    return continue_meta_train(run, progress=req.progress, options=req.backend_options)


def resume_meta_train(path: str | Path, generations: int | None = None,
                      progress: bool = True, backend: str | None = None,
                      options: BackendOptions | None = None) -> RunDir:
    """Continue the ES state, optionally to more generations, optionally on another backend
    (the ES state does not depend on where lifetimes ran)."""
    run = RunDir.open(path)
    config = run.read_config()
    if config.get("kind") != "meta-train":
        raise ValueError(f"{path} is not a meta-training run (use rlgen train --resume)")
    if generations is not None:
        if generations < 1:
            raise ValueError(f"generations must be >= 1, got {generations}")
        state = run.load_checkpoint()
        done = int(state["generation"]) if state is not None else 0
        if generations < done:  # the config would claim fewer generations than the ES state holds
            raise ValueError(f"{path} has already run {done} generations; --generations must be "
                             f">= {done}")
        config["generations"] = generations
    if backend is not None:
        config["backend"] = backend
    if options is not None:
        config["workers"] = options.workers
    run.write_config(config)
    return continue_meta_train(run, progress=progress, options=options)


def saved_workers(path: str | Path) -> int:
    return int(RunDir.open(path).read_config().get("workers", 1))


def continue_meta_train(run: RunDir, progress: bool = True,
                        options: BackendOptions | None = None) -> RunDir:
    from tqdm.auto import tqdm

    from rlgen.agents.objectives import build_objective, save_objective

    cfg = run.read_config()
    objective = build_objective(cfg["objective"], {}, {}, torch.device("cpu"))
    es = OpenES(ESConfig.build(int(cfg["population"]), cfg.get("es", {})),
                torch.nn.utils.parameters_to_vector(objective.parameters()), seed=int(cfg["seed"]))
    with run.lock():
        run.write_command()
        run.write_provenance("cpu")
        state = run.load_checkpoint()
        if state is not None:
            es.load_state_dict(state["es"])
        options = options or BackendOptions()
        options.workers = int(cfg["workers"])
        options.log_folder = options.log_folder or str(run.path / "slurm")
        backend = make_backend(cfg["backend"], options)
        total = int(cfg["generations"])
        bar = tqdm(total=total, initial=es.generation, unit="gen", disable=not progress,
                   desc=f"meta-train {cfg['objective']}", dynamic_ncols=True)
        try:
            while es.generation < total:
                t0 = time.time()
                candidates = es.ask()
                fitness = torch.tensor(evaluate_population(
                    backend, int(cfg["workers"]), _lifetimes(cfg, es.generation, candidates),
                    batched=bool(cfg.get("batched", True))), dtype=torch.float64)
                fitness = fitness.view(len(candidates), len(cfg["envs"])).mean(1)
                # a lifetime with no finished episode scores as the worst of its generation
                finite = fitness[torch.isfinite(fitness)]
                fitness = torch.nan_to_num(fitness, nan=float(finite.min()) if len(finite) else 0.0)
                sigma = es.sigma
                es.tell(fitness)
                gen = es.generation
                torch.nn.utils.vector_to_parameters(es.mean.float(), objective.parameters())
                save_objective(objective, cfg["objective"], {}, run.path / "objectives" / f"gen-{gen:04d}.pt")
                save_objective(objective, cfg["objective"], {}, run.path / "objective.pt")
                run.log(gen, {"fitness/mean": float(fitness.mean()), "fitness/max": float(fitness.max()),
                              "fitness/min": float(fitness.min()), "es/sigma": sigma,
                              "es/mean_norm": float(es.mean.norm()), "time/generation_s": time.time() - t0})
                run.save_checkpoint({"es": es.state_dict(), "generation": gen})
                bar.update()
                bar.set_postfix(fitness=f"{float(fitness.mean()):.3f}", best=f"{float(fitness.max()):.3f}")
        finally:
            bar.close()
            backend.close()
            run.close()
    return run


def evaluate_population(backend, workers: int, lifetimes: list[Lifetime],
                        batched: bool = True) -> list[float]:
    """Scores of all lifetimes of a generation: split into one chunk per worker, each chunk
    trained as one batched population (`run_lifetimes`) or one lifetime after another."""
    workers = max(1, min(workers, len(lifetimes)))
    fn = run_lifetimes if batched else run_sequentially
    chunk_scores = backend.map(fn, [lifetimes[i::workers] for i in range(workers)])
    scores = [0.0] * len(lifetimes)
    for i, chunk in enumerate(chunk_scores):
        scores[i::workers] = chunk
    return scores


def _lifetimes(cfg: dict[str, Any], generation: int, candidates: torch.Tensor) -> list[Lifetime]:
    """One lifetime per (candidate, meta-train env); antithetic partners (i, i + P/2) share a
    seed, so a pair differs only in the direction of its perturbation."""
    half = len(candidates) // 2
    out = []
    for i, params in enumerate(candidates):
        seed = int(cfg["seed"]) * 1_000_003 + generation * half + i % half
        for env in cfg["envs"]:
            out.append(Lifetime(env=env, horizon=int(cfg["horizon"]), seed=seed,
                                objective=cfg["objective"], params=tuple(params.float().tolist()),
                                overrides=dict(cfg.get("overrides", {})),
                                device=str(cfg.get("device", "cpu"))))
    return out


def fitness_curve(run: RunDir) -> list[dict[str, float]]:
    return [m for m in run.metrics() if "fitness/mean" in m and math.isfinite(m["fitness/mean"])]

