"""The vector step of `BatchedMinAtar` as functions of tensors, and their compilation.

`whole_step` is one step of N envs: sticky actions, the game's rules (`advance`), truncation,
auto-reset (`restart`) and the frame (`render`); `until_ends` then `restart_render` is the same
step in two calls, for draw sources that must know which episodes ended before drawing their
starts. The keyword-only options are constants of the compiled graph.

`CompiledStep` compiles one of them for one engine: traced once into an ATen graph
(`make_fx`, functionalized) and compiled by inductor (`compile_fx_inner`: on a CPU a C++
function with a few loops over the envs), then called directly. That skips torch.compile's
per-call frame handling (15-30 µs a call on the 2-core dev box, against a ~60 µs 1,024-env
Breakout step; docs/benchmarks.md §6c); the
price is that nothing re-checks the inputs but inductor's own size and stride asserts, so the
graph is keyed by every input's shape, stride, dtype and device, and an assert failure
recompiles. Where that path fails (another torch version), `torch.compile` is used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
import torch._dynamo

log = logging.getLogger(__name__)


def until_ends(consts, state, action_set, last_action, t, actions, u, *, game, p, max_steps, identity):
    a = actions if identity else action_set[actions]
    a = torch.where(u < p, last_action, a)
    state, reward, terminated = game.advance(consts, state, a)
    if max_steps:
        t = t + 1
        done = (t >= max_steps) | terminated
        truncated = done & ~terminated
        t = torch.where(done, 0, t)
    else:
        done, truncated = terminated, torch.zeros_like(terminated)
    return state, a, t, reward, terminated, truncated, done


def restart_render(consts, state, done, level, new_level, start, *, game, **_):
    state = game.restart(consts, state, done, start)
    return state, torch.where(done, new_level, level), game.render(consts, state)


def whole_step(consts, state, action_set, last_action, t, actions, u, level, new_level, start, **static):
    state, a, t, reward, terminated, truncated, done = until_ends(
        consts, state, action_set, last_action, t, actions, u, **static)
    state, new_level, obs = restart_render(consts, state, done, level, new_level, start, **static)
    return state, a, t, new_level, obs, reward, terminated, truncated


FUNCTIONS = {"whole_step": whole_step, "until_ends": until_ends, "restart_render": restart_render}
_GRAPHS: dict[tuple, Callable[[list], Any]] = {}   # compiled graphs, shared by engines alike


class CompiledStep:
    """`FUNCTIONS[name]` for one engine: `step(state, *rest)` -> (state, *other outputs), with
    the game's `consts` and the engine's options bound."""

    def __init__(self, name: str, game: Any, static: dict[str, Any]):
        self.name, self.static, self.fn = name, static, FUNCTIONS[name]
        consts = game.consts
        self.tensors = [c for c in consts if isinstance(c, torch.Tensor)]
        self.others = tuple((i, c) for i, c in enumerate(consts) if not isinstance(c, torch.Tensor))
        self.n_consts, self.n_state = len(consts), len(game.state())
        self._call: Callable[[list], Any] | None = None

    def __call__(self, state: tuple, *rest: torch.Tensor) -> tuple:
        inputs = [*self.tensors, *state, *rest]
        if self._call is None:
            self._call = self._graph(inputs)
        try:
            out = self._call(list(inputs))
        except AssertionError:   # an input's size or stride changed: a graph for the new ones
            self._call = self._graph(inputs)
            out = self._call(list(inputs))
        k = self.n_state
        return (tuple(out[:k]), *out[k:])

    def _flat(self, *xs: torch.Tensor) -> list[torch.Tensor]:
        """The function on a flat list of tensors (what is traced)."""
        tensors = iter(xs[:len(self.tensors)])
        others = dict(self.others)
        consts = tuple(others[i] if i in others else next(tensors) for i in range(self.n_consts))
        i = len(self.tensors)
        state, rest = tuple(xs[i:i + self.n_state]), xs[i + self.n_state:]
        out = self.fn(consts, state, *rest, **self.static)
        return [*out[0], *out[1:]]

    def _graph(self, inputs: list[torch.Tensor]) -> Callable[[list], Any]:
        key = (self.name, tuple(sorted(self.static.items(), key=lambda kv: kv[0])), self.others,
               tuple((tuple(x.shape), x.stride(), x.dtype, x.device) for x in inputs))
        if key not in _GRAPHS:
            _GRAPHS[key] = self._compile(inputs)
        return _GRAPHS[key]

    def _compile(self, inputs: list[torch.Tensor]) -> Callable[[list], Any]:
        try:
            from torch._inductor.compile_fx import compile_fx_inner
            from torch._inductor.decomposition import select_decomp_table
            from torch.fx.experimental.proxy_tensor import make_fx

            traced = make_fx(torch.func.functionalize(self._flat, remove="mutations"),
                             decomposition_table=select_decomp_table(), tracing_mode="fake")(*inputs)
            return compile_fx_inner(traced, inputs)
        except Exception as e:  # noqa: BLE001 (internal API: any failure means "use torch.compile")
            log.warning("MinAtar compiled step: inductor's direct path failed (%s: %s); using torch.compile",
                        type(e).__name__, e)
            # each env count is its own graph of the same code: allow more than the default 8
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
            fn = torch.compile(self._flat, dynamic=False)
            return lambda xs: fn(*xs)
