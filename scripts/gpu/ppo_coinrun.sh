#!/usr/bin/env bash
# Train PPO on procgen:coinrun (easy, 200 levels, train-procgen settings) on one CUDA GPU and
# print env-steps/s. Usage: bash scripts/gpu/ppo_coinrun.sh [STEPS] [extra rlgen args...]
# Target (issue 2): 25M steps in <= 20 minutes on one H100. Not yet run on a GPU by the project:
# record what it prints in docs/benchmarks.md when it is.
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-25M}
shift || true
if [ ! -x .venv/bin/rlgen ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q torch  # the CUDA build on a GPU machine
  .venv/bin/pip install -q -e .
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
NAME=ppo-coinrun-gpu-$(date +%Y%m%d-%H%M%S)
start=$(date +%s)
.venv/bin/rlgen train --agent ppo --env procgen:coinrun --steps "$STEPS" --device cuda \
  --name "$NAME" --episodes 200 "$@"
end=$(date +%s)
.venv/bin/python - "$NAME" "$start" "$end" <<'PY'
import json, sys
name, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [json.loads(l) for l in open(f"runs/{name}/metrics.jsonl")]
sps = [r["perf/steps_per_s"] for r in rows if "perf/steps_per_s" in r]
steps = rows[-1]["step"]
print(f"{steps} env steps; median update steps/s {sorted(sps)[len(sps) // 2]:.0f}; "
      f"wall {end - start} s including final evaluation")
PY
