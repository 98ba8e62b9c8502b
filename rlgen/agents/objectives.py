"""PPO's actor objective as a replaceable piece.

An objective maps (probability ratio, advantages, training progress n/N, the minibatch) to the
policy loss and its logs. PPO's clipped surrogate is the default; learned objectives (LPO,
TA-LPO: a drift network with its own parameters) plug in through `rlgen.registry.OBJECTIVES`
and an agent preset, never through a copy of PPO.

`objective` in a PPO config is either a registered name, built with `objective_args` as
keyword arguments, the path of a saved objective file written by `save_objective`
({"objective": name, "args": {...}, "state_dict": {...}}, loaded with `weights_only=True`), or
`bundled:<name>` for one shipped in `rlgen/objectives/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn


@dataclass
class Minibatch:
    """What one actor update sees, besides ratio and advantages (for objectives that need it)."""

    obs: Any
    actions: torch.Tensor
    old_logprobs: torch.Tensor
    new_logprobs: torch.Tensor
    entropy: torch.Tensor
    old_values: torch.Tensor
    new_values: torch.Tensor
    returns: torch.Tensor


class Objective(Protocol):
    def __call__(self, ratio: torch.Tensor, advantages: torch.Tensor, progress: float,
                 batch: Minibatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


class ClippedSurrogate(nn.Module):
    """PPO's clipped surrogate (Schulman et al. 2017): E[max(-A r, -A clip(r, 1-ε, 1+ε))]."""

    def __init__(self, clip_coef: float = 0.2):
        super().__init__()
        self.clip_coef = clip_coef

    def forward(self, ratio: torch.Tensor, advantages: torch.Tensor, progress: float,
                batch: Minibatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        eps = self.clip_coef
        loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - eps, 1 + eps)).mean()
        with torch.no_grad():
            clipfrac = ((ratio - 1).abs() > eps).float().mean()
        return loss, {"loss/clipfrac": clipfrac}


def build_objective(name_or_path: str, args: dict[str, Any], defaults: dict[str, Any],
                    device: torch.device) -> nn.Module:
    """The objective a PPO config names. `defaults` are PPO-config values an objective may take
    (e.g. `clip_coef`), used when its constructor has that argument and `args` do not set it."""
    import inspect

    from rlgen.registry import OBJECTIVES, lookup

    state = None
    if name_or_path.startswith("bundled:"):
        name_or_path = str(bundled_objective(name_or_path.partition(":")[2]))
    if name_or_path not in OBJECTIVES and Path(name_or_path).suffix == ".pt":
        path = Path(name_or_path)
        if not path.exists():
            raise FileNotFoundError(f"objective file {path} does not exist")
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises several types for a file that is not a checkpoint
            first = (str(e).strip().splitlines() or [""])[0]   # torch's messages span lines
            raise ValueError(f"{path} is not a saved objective ({type(e).__name__}: {first})") from None
        if not isinstance(saved, dict) or not {"objective", "state_dict"} <= saved.keys():
            raise ValueError(f"{path} is not a saved objective (needs 'objective' and 'state_dict')")
        name_or_path, state = saved["objective"], saved["state_dict"]
        args = {**saved.get("args", {}), **args}
    cls = lookup("objective", name_or_path, OBJECTIVES)
    accepted = inspect.signature(cls).parameters
    kwargs = {k: v for k, v in defaults.items() if k in accepted}
    unknown = sorted(set(args) - set(accepted))
    if unknown:
        raise ValueError(f"objective {name_or_path!r} takes no argument(s) {', '.join(unknown)}; "
                         f"it takes: {', '.join(accepted) or 'none'}")
    objective = cls(**{**kwargs, **args}).to(device)
    if state is not None:
        try:
            objective.load_state_dict(state)
        except RuntimeError as e:  # torch's message spans lines; the CLI prints one
            detail = "; ".join(line.strip() for line in str(e).splitlines()[1:] if line.strip())
            raise ValueError(f"saved objective does not fit {name_or_path!r} "
                             f"(a drift network of another shape?): {detail or e}") from None
    return objective


BUNDLED_DIR = Path(__file__).resolve().parents[1] / "objectives"


def bundled_objective(name: str) -> Path:
    """`rlgen/objectives/<name>.pt`: a drift network meta-trained by this project (its model
    card is `<name>.md` beside it); `objective = "bundled:<name>"` in a preset or `--set`."""
    path = BUNDLED_DIR / f"{name}.pt"
    if not path.exists():
        from rlgen.errors import UnknownNameError

        raise UnknownNameError("bundled objective", name, sorted(p.stem for p in BUNDLED_DIR.glob("*.pt")))
    return path


def save_objective(objective: nn.Module, name: str, args: dict[str, Any], path: str | Path) -> Path:
    """Write an objective file `build_objective` can load (atomically)."""
    from rlgen.runs import atomic_write_bytes

    path = Path(path)
    payload = {"objective": name, "args": dict(args),
               "state_dict": {k: v.detach().cpu() for k, v in objective.state_dict().items()}}
    atomic_write_bytes(path, lambda f: torch.save(payload, f))
    return path
