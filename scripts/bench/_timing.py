"""What the peer benchmarks share: interleaved repetitions, medians, load average, a markdown table.

The machine is shared, so a benchmark never compares numbers from different moments: it runs
A, B, A, B, ... and reports the median of each, so a busy neighbour slows both alike.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable


def quiet_torch_threads(threads: int) -> None:
    """Call before importing torch: passive OpenMP waits (spinning threads collapse under load)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (5-min {five:.2f})"


def interleave(cases: dict[str, Callable[[], float]], reps: int, verbose: bool = True) -> dict[str, list[float]]:
    """Run every case once per repetition, in turn; each call returns a rate (higher is better).
    The order rotates each repetition so that no case always runs first (or right after another)."""
    out: dict[str, list[float]] = {k: [] for k in cases}
    names = list(cases)
    for r in range(reps):
        for j in range(len(names)):
            name, fn = names[(r + j) % len(names)], cases[names[(r + j) % len(names)]]
            out[name].append(fn())
            if verbose:
                print(f"  rep {r + 1}/{reps} {name}: {out[name][-1]:,.1f}", flush=True)
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def rate_rows(rates: dict[str, list[float]], baseline: str, unit: str, fmt: str = ",.0f") -> list[list[str]]:
    """One row per case: median, min-max, all reps, ratio of medians to `baseline`."""
    base = median(rates[baseline])
    rows = []
    for name, xs in rates.items():
        rows.append([name, f"{median(xs):{fmt}} {unit}", f"{min(xs):{fmt}}–{max(xs):{fmt}}",
                     ", ".join(f"{x:{fmt}}" for x in xs), f"{median(xs) / base:.3f}×"])
    return rows


RATE_HEADER = ["case", "median", "min–max", "all reps", "ratio vs baseline"]
