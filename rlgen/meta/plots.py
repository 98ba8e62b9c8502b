"""What was discovered: a drift objective's D(r, A) at early, middle and late training progress
(the TA-LPO paper's picture of a drift that changes over the lifetime)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch


def plot_drift(objective_file: str | Path, path: str | Path,
               progress: Sequence[float] = (0.0, 0.5, 1.0), title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlgen.agents.objectives import build_objective

    objective = build_objective(str(objective_file), {}, {}, torch.device("cpu"))
    if not hasattr(objective, "drift"):
        raise ValueError(f"{objective_file} is not a drift objective")
    r = torch.linspace(0.5, 2.0, 121)
    a = torch.linspace(-2.0, 2.0, 121)
    aa, rr = torch.meshgrid(a, r, indexing="xy")  # columns: A (x axis), rows: r (y axis)
    with torch.no_grad():
        maps = [objective.drift(rr, aa, float(p)).numpy() for p in progress]
    vmax = max(float(np.max(m)) for m in maps) or 1.0
    fig, axes = plt.subplots(1, len(progress), figsize=(3.6 * len(progress) + 1, 3.6), squeeze=False,
                             layout="constrained")
    for i, (ax, p, m) in enumerate(zip(axes[0], progress, maps, strict=True)):
        im = ax.imshow(m, origin="lower", aspect="auto", extent=(-2, 2, 0.5, 2.0), vmin=0, vmax=vmax,
                       cmap="viridis")
        ax.set_xlabel("advantage A")
        if i == 0:
            ax.set_ylabel("ratio r")
        ax.set_title(f"n/N = {p:g}")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="drift D(r, A)")
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
