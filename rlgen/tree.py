"""Helpers over observation trees: an array/tensor, or a dict of them (nested), as the env
families return (Procgen: one uint8 array; MiniHack: a dict of glyph/message arrays)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch


def map_tree(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """`fn` applied to every leaf (to matching leaves of several trees), keeping the dict
    structure of the first."""
    if isinstance(tree, dict):
        return {k: map_tree(fn, v, *(r[k] for r in rest)) for k, v in tree.items()}
    return fn(tree, *rest)


def to_tensor(tree: Any, device: torch.device) -> Any:
    """numpy leaves -> tensors on `device` (non-blocking copies where the source allows); tensor
    leaves (an env stepping on the device) are moved only if they live elsewhere."""
    def leaf(x):
        if isinstance(x, torch.Tensor):
            return x.to(device, non_blocking=True)
        return torch.from_numpy(np.ascontiguousarray(x)).to(device, non_blocking=True)

    return map_tree(leaf, tree)


def stack(rows: Sequence[Any]) -> Any:
    """Per-env leaves -> one batch: arrays (and scalars) stacked, dicts per key, anything else
    (e.g. WebShop's strings) as a list."""
    if isinstance(rows[0], dict):
        return {k: stack([r[k] for r in rows]) for k in rows[0]}
    if isinstance(rows[0], np.ndarray | np.generic | int | float | bool):
        return np.stack([np.asarray(r) for r in rows])
    return list(rows)


def index(tree: Any, idx: Any) -> Any:
    """Rows `idx` of every leaf (a tensor index uses index_select, which keeps memory format)."""
    if isinstance(idx, torch.Tensor):
        return map_tree(lambda x: x.index_select(0, idx), tree)
    return map_tree(lambda x: x[idx], tree)


def batch_size(tree: Any) -> int:
    """Length of the leading axis (of the first leaf of a dict)."""
    while isinstance(tree, dict):
        tree = next(iter(tree.values()))
    return len(tree)


def zeros_buffer(like: Any, steps: int) -> Any:
    """(steps, *leaf.shape) zero tensors shaped after `like`'s tensor leaves."""
    return map_tree(lambda x: torch.zeros((steps, *x.shape), dtype=x.dtype, device=x.device), like)


def store(buffer: Any, step: int, value: Any) -> None:
    """buffer[step] = value, leaf by leaf."""
    if isinstance(buffer, dict):
        for k in buffer:
            store(buffer[k], step, value[k])
    else:
        buffer[step] = value


def flatten_time(buffer: Any) -> Any:
    """(steps, envs, ...) leaves -> (steps * envs, ...)."""
    return map_tree(lambda x: x.reshape(-1, *x.shape[2:]), buffer)


def stack_tensors(trees: Sequence[Any], dim: int = 0) -> Any:
    """torch.stack of matching tensor trees along a new `dim`."""
    if isinstance(trees[0], dict):
        return {k: stack_tensors([t[k] for t in trees], dim) for k in trees[0]}
    return torch.stack(list(trees), dim)
