"""Export the bundled Procgen behaviour policies from a finished PPO run, with model cards.

    python scripts/make_experts.py runs/expert-coinrun --game coinrun

Writes rlgen/experts/procgen-<game>.pt (final weights) and procgen-<game>-mixed.pt (the kept
snapshot whose training return is closest to 75% of the final one, as gen_dgrl picks its
"mixed" policy), each with a markdown card built from the run's own files.
"""

from __future__ import annotations

import argparse
import json

import torch

from rlgen.agents.loading import BUNDLED, save_policy_file
from rlgen.runs import RunDir


def _train_return_at(metrics: list[dict], step: int, window: int = 5) -> float:
    rows = [m["train/episode_return"] for m in metrics if "train/episode_return" in m and m["step"] <= step]
    rows = rows[-window:]
    return sum(rows) / len(rows) if rows else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--game", default="coinrun")
    parser.add_argument("--fraction", type=float, default=0.75)
    args = parser.parse_args()
    run = RunDir.open(args.run)
    metrics = run.metrics()
    summary = run.read_summary() if (run.path / "summary.json").exists() else None
    final_state = torch.load(run.checkpoint_path, weights_only=True)
    final_step = int(final_state["global_step"])
    final_return = _train_return_at(metrics, final_step)
    snapshots = sorted((run.path / "checkpoints").glob("step-*.pt"))
    target = args.fraction * final_return
    best = min(snapshots, key=lambda p: abs(_train_return_at(metrics, int(p.stem[5:])) - target))
    mixed_step = int(best.stem[5:])
    command = (run.path / "command.txt").read_text().strip()
    prov = json.loads((run.path / "provenance.json").read_text())
    config = (run.path / "config.toml").read_text()

    def card(kind: str, step: int, train_ret: float, extra: str) -> str:
        lines = [f"# procgen-{args.game}{'-mixed' if kind == 'mixed' else ''}: PPO behaviour policy ({kind})", "",
                 f"- Trained by this project's own command: `{command.splitlines()[0]}`",
                 f"  (run `{run.path.name}`; resumed {len(command.splitlines()) - 1} times).",
                 f"- Weights at **{step:,} env steps** of {final_step:,} trained; device: {prov.get('device')} "
                 f"on a {prov.get('cpus')}-core machine; git commit {prov.get('git_commit')}; {prov.get('time')}.",
                 f"- Mean training-episode return around that step (last 5 updates): {train_ret:.2f}.",
                 extra, "", "Resolved configuration:", "", "```toml", config.strip(), "```", ""]
        return "\n".join(lines)

    eval_lines = ""
    if summary:
        sp = summary["splits"]
        eval_lines = "- Final evaluation (`rlgen train`'s own, {} episodes per split on listed levels): ".format(
            summary.get("eval_episodes_per_split")) + "; ".join(
            f"{k} mean return {v['mean_return']:.2f} (normalized IQM {v['iqm']:.2f} {[round(x, 2) for x in v['iqm_ci']]})"
            for k, v in sp.items()) + "."
    BUNDLED.mkdir(exist_ok=True)
    save_policy_file(run, BUNDLED / f"procgen-{args.game}.pt")
    (BUNDLED / f"procgen-{args.game}.md").write_text(card("expert", final_step, final_return, eval_lines))
    save_policy_file(run, BUNDLED / f"procgen-{args.game}-mixed.pt", snapshot=best)
    (BUNDLED / f"procgen-{args.game}-mixed.md").write_text(card(
        "mixed", mixed_step, _train_return_at(metrics, mixed_step),
        f"- Chosen as the kept snapshot whose training return is closest to {args.fraction:.0%} of the "
        f"final training return ({final_return:.2f} -> target {target:.2f}); not separately evaluated."))
    print(f"expert: step {final_step}, train return {final_return:.2f}; mixed: step {mixed_step}, "
          f"train return {_train_return_at(metrics, mixed_step):.2f}")


if __name__ == "__main__":
    main()
