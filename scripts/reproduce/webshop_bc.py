"""Behaviour cloning of the WebShop choice model on expert demonstrations, pretrained vs random
init, scored on the train and test goals through the common evaluator.

    OMP_NUM_THREADS=1 python scripts/reproduce/webshop_bc.py --dataset DIR --steps 600 \
        --encoder embeddings --episodes 200

A stand-in until the generic `rlgen train --agent bc` drives `WebShopFamily.make_scorer`: the
loop is plain cross-entropy over the valid actions (padding masked by the scorer).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from torch.nn import functional as F


def fit_bc(scorer, ds, steps: int, batch_size: int = 32, lr: float = 3e-3, seed: int = 0,
           progress: bool = True) -> list[float]:
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    params = [p for p in scorer.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    scorer.train()
    for _ in tqdm(range(steps), desc="bc", disable=not progress):
        idx = rng.integers(0, ds.num_transitions, batch_size)
        scores, _ = scorer(scorer.batch_from_dataset(ds, idx))
        loss = F.cross_entropy(scores, scorer.actions_from_dataset(ds, idx))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    scorer.eval()
    return losses


def main() -> None:
    from rlgen.data.storage import EpisodeDataset
    from rlgen.envs.webshop.scorer import ScorerPolicy
    from rlgen.eval.evaluate import evaluate
    from rlgen.registry import make_env_spec

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--encoder", default="embeddings", help="embeddings or transformer")
    ap.add_argument("--inits", default="pretrained,random")
    ap.add_argument("--episodes", type=int, default=200, help="evaluation episodes per split")
    ap.add_argument("--splits", default="train,test")
    ap.add_argument("--env-opt", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from rlgen.config import parse_override

    torch.set_num_threads(1)  # on a shared CPU, more threads make every step slower
    spec = make_env_spec("webshop", **dict(parse_override(o) for o in args.env_opt))
    ds = EpisodeDataset.load(args.dataset)
    results = {}
    for init in args.inits.split(","):
        scorer = spec.impl.make_scorer(spec, init=init, encoder=args.encoder).to(args.device)
        losses = fit_bc(scorer, ds, args.steps, args.batch_size, args.lr, args.seed)
        _, summary = evaluate(ScorerPolicy(scorer), spec, args.splits.split(","), args.episodes,
                              seed=args.seed)
        results[init] = {"final_loss_avg50": float(np.mean(losses[-50:])),
                         **{k: {"score": 100 * v["mean_return"], "success": v.get("success_rate"),
                                "score_ci": [100 * c for c in v["mean_return_ci"]]} for k, v in summary["splits"].items()}}
        print(init, json.dumps(results[init]), flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
