"""Export bundled Procgen behaviour policies from a PPO run's kept weights, each evaluated on
train / val / test levels, with a model card built from the run's files and that evaluation.

    python scripts/make_experts.py runs/expert-coinrun --game coinrun \\
        --expert runs/expert-coinrun/checkpoints/step-0000507904.pt \\
        --mixed runs/expert-coinrun/checkpoints/step-0000106496.pt

gen_dgrl's "mixed" policy is a checkpoint whose return is about 75% of the expert's; pick the
snapshot accordingly and check the evaluated returns in the cards.
"""

from __future__ import annotations

import argparse
import json

import torch

from rlgen.agents.loading import BUNDLED, load_policy, save_policy_file
from rlgen.eval.evaluate import evaluate
from rlgen.registry import make_env_spec
from rlgen.runs import RunDir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--game", default="coinrun")
    parser.add_argument("--expert", required=True, help="weights file (a kept snapshot or latest.pt)")
    parser.add_argument("--mixed", required=True)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--note", default="", help="a line for both cards (e.g. how the run went)")
    args = parser.parse_args()
    run = RunDir.open(args.run)
    command = (run.path / "command.txt").read_text().strip().splitlines()[0]
    prov = json.loads((run.path / "provenance.json").read_text())
    prov = (prov.get("resumes") or [prov])[0]  # the run's first start, not its latest resume
    config = (run.path / "config.toml").read_text().strip()
    spec = make_env_spec(f"procgen:{args.game}")
    BUNDLED.mkdir(exist_ok=True)
    for kind, weights in (("expert", args.expert), ("mixed", args.mixed)):
        name = f"procgen-{args.game}" + ("" if kind == "expert" else "-mixed")
        path = save_policy_file(run, BUNDLED / f"{name}.pt", snapshot=weights)
        policy, _ = load_policy(str(path), spec)
        _, summary = evaluate(policy, spec, ["train", "val", "test"], args.episodes, seed=0)
        step = int(torch.load(path, weights_only=True)["global_step"])
        rows = "\n".join(
            f"| {k} | {v['episodes']} | {v['mean_return']:.2f} | {v['normalized_mean']:.3f} | "
            f"[{v['normalized_mean_ci'][0]:.3f}, {v['normalized_mean_ci'][1]:.3f}] | "
            f"{v.get('success_rate', float('nan')):.2f} |"
            for k, v in summary["splits"].items())
        gap = summary["generalization_gap"]
        card = f"""# {name}: PPO behaviour policy ({kind})

- Trained by this project's own command: `{command}`
- These weights: **{step:,} env steps** (`{weights}`), device {prov.get('device')} on a
  {prov.get('cpus')}-core CPU machine, no GPU; run started {prov.get('time')} at git commit
  {prov.get('git_commit')}. A narrower IMPALA encoder ([8, 16, 16] -> 128) than the paper's
  [16, 32, 32] -> 256, so that training fit on the CPU; a paper-grade expert needs the GPU script
  (`scripts/gpu/ppo_coinrun.sh`), 25M steps.
{('- ' + args.note) if args.note else ''}

Evaluation of exactly these weights (`python scripts/make_experts.py ...`, policy sampling from
its softmax, {args.episodes} episodes per split on listed levels, seed 0, 2026-11-26):

| split | episodes | mean return | normalized mean | 95% CI (levels resampled) | success |
|---|---|---|---|---|---|
{rows}

Generalization gap (train − test, mean normalized return): {gap['value']:.3f}
[{gap['ci'][0]:.3f}, {gap['ci'][1]:.3f}].

Resolved configuration of the run:

```toml
{config}
```
"""
        (BUNDLED / f"{name}.md").write_text(card)
        print(f"{name}: step {step}; " + "; ".join(
            f"{k} {v['mean_return']:.2f}" for k, v in summary["splits"].items()), flush=True)


if __name__ == "__main__":
    main()
