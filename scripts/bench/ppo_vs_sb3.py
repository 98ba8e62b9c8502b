"""Env-steps/s of rlgen PPO vs stable-baselines3 PPO at equal network and hyperparameters.
Target (issue 2): rlgen >= 1.3x SB3 (fp32, same math).

    PYTHONPATH=$PWD nice -n 5 python scripts/bench/ppo_vs_sb3.py --envs 8 --steps 128 --reps 3

Both sides train coinrun (easy, levels 0..199) with the IMPALA CNN [16,32,32] -> 256
(`rlgen.nets.impala.ImpalaEncoder`, the same module class and initial weights), linear policy and
value heads on shared features, Adam (eps 1e-5), and train-procgen's loss settings: gamma 0.999,
lambda 0.95, clip 0.2 (policy and value), entropy 0.01, value 0.5, grad-norm 0.5, advantage
normalization, reward scaling by the running std of the discounted return (SB3: VecNormalize with
norm_obs=False), E envs x T steps per update, 3 epochs x 8 minibatches.

SB3 sees rlgen's single-env `ProcgenEnv` (a plain gymnasium.Env) through its own DummyVecEnv, as
an SB3 user would plug it in; SB3 then adds VecTransposeImage (HWC -> CHW copy) by itself, stores
rollouts as float32 numpy and divides by 255 in its preprocessing, so the shared encoder gets
float CHW frames and skips its own permute/scale. rlgen runs its default path (one forward for
logits and values, inference-mode rollouts on uint8 HWC frames, channels-last convolutions).

Each repetition times whole `fit`/`learn` calls of `--updates` PPO updates (rollout + update +
rlgen's logging and checkpoint), interleaved rlgen, SB3, rlgen, ...; medians are reported.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import tempfile
import time
import warnings

from _timing import (
    RATE_HEADER,
    interleave,
    load_average,
    median,
    quiet_torch_threads,
    rate_rows,
    table,
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", type=int, default=8)
    p.add_argument("--steps", type=int, default=128, help="rollout steps per env per update")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--minibatches", type=int, default=8)
    p.add_argument("--updates", type=int, default=1, help="PPO updates per timed repetition")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="torch threads (both sides)")
    p.add_argument("--bf16", action="store_true", help="add an rlgen bf16-autocast row (not in the ratio)")
    args = p.parse_args()
    quiet_torch_threads(args.threads)

    import torch
    from torch import nn

    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        from stable_baselines3 import PPO as SB3PPO
        from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
        from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from rlgen.agents.ppo import PPO, PPOConfig
    from rlgen.envs.procgen import ProcgenEnv
    from rlgen.nets.impala import ImpalaEncoder
    from rlgen.registry import make_env_spec
    from rlgen.runs import RunDir

    torch.set_num_threads(args.threads)
    start_load = load_average()
    print(f"load average at start: {start_load}; torch {torch.__version__}, {args.threads} threads")
    batch = args.envs * args.steps

    class ImpalaExtractor(BaseFeaturesExtractor):
        """rlgen's IMPALA encoder on SB3's float CHW frames (already scaled to [0, 1])."""

        def __init__(self, observation_space, encoder: ImpalaEncoder | None = None):
            super().__init__(observation_space, features_dim=256)
            self.encoder = encoder or ImpalaEncoder((64, 64, 3))

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.encoder.convs(obs))
            return torch.relu(self.encoder.fc(x.flatten(1)))

    tmp = tempfile.TemporaryDirectory(prefix="rlgen-bench-ppo-")

    # ---- rlgen ----
    spec = make_env_spec("procgen:coinrun")

    def make_rlgen(precision: str) -> tuple[PPO, RunDir]:
        cfg = PPOConfig(num_envs=args.envs, num_steps=args.steps, epochs=args.epochs,
                        minibatches=args.minibatches, precision=precision, checkpoint_every_s=1e9)
        torch.manual_seed(0)
        agent = PPO(spec, cfg, torch.device("cpu"), seed=0)
        return agent, RunDir.create(tmp.name, f"rlgen-{precision}")

    rl_fp32, run_fp32 = make_rlgen("fp32")
    shared_init = {k: v.clone() for k, v in rl_fp32.model.encoder.state_dict().items()}

    def rlgen_case(agent: PPO, run: RunDir):
        def go() -> float:
            target = (agent.update + args.updates) * batch
            t0 = time.perf_counter()
            agent.fit(run, budget=target, progress=False)
            return args.updates * batch / (time.perf_counter() - t0)
        return go

    # ---- SB3 ----
    venv = DummyVecEnv([lambda: ProcgenEnv("coinrun", "easy", start_level=0, num_levels=200)
                        for _ in range(args.envs)])
    venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=0.999)
    encoder = ImpalaEncoder((64, 64, 3))
    encoder.load_state_dict(shared_init)
    sb3 = SB3PPO(
        "CnnPolicy", venv, n_steps=args.steps, batch_size=batch // args.minibatches,
        n_epochs=args.epochs, learning_rate=5e-4, gamma=0.999, gae_lambda=0.95, clip_range=0.2,
        clip_range_vf=0.2, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, normalize_advantage=True,
        device="cpu", seed=0, verbose=0,
        policy_kwargs={"features_extractor_class": ImpalaExtractor,
                       "features_extractor_kwargs": {"encoder": encoder},
                       "net_arch": [], "ortho_init": False,
                       "optimizer_kwargs": {"eps": 1e-5}})
    n_params = {"rlgen": sum(p.numel() for p in rl_fp32.model.parameters()),
                "sb3": sum(p.numel() for p in sb3.policy.parameters())}
    print(f"parameters: {n_params}")
    assert n_params["rlgen"] == n_params["sb3"], "the two networks differ"
    assert isinstance(sb3.policy.action_net, nn.Linear) and sb3.policy.action_net.out_features == 15

    def sb3_case() -> float:
        t0 = time.perf_counter()
        sb3.learn(total_timesteps=args.updates * batch, reset_num_timesteps=False)
        return args.updates * batch / (time.perf_counter() - t0)

    cases = {"rlgen PPO fp32": rlgen_case(rl_fp32, run_fp32), "SB3 2.9 PPO fp32": sb3_case}
    if args.bf16:
        rl_bf16, run_bf16 = make_rlgen("bf16")
        cases["rlgen PPO bf16 autocast (not in ratio)"] = rlgen_case(rl_bf16, run_bf16)
    print("warm-up: one update each (not timed)")
    for name, fn in cases.items():
        print(f"  {name}: {fn():,.1f} steps/s", flush=True)
    rates = interleave(cases, args.reps)
    end_load = load_average()
    base = "SB3 2.9 PPO fp32"
    print(f"\n## PPO env-steps/s, rlgen vs SB3 (coinrun easy, {args.envs} envs x {args.steps} steps, "
          f"{args.epochs} epochs x {args.minibatches} minibatches, {args.updates} update(s) per rep, "
          f"{args.reps} interleaved reps, {args.threads} torch threads), {dt.date.today()}")
    print(f"load average: {start_load} -> {end_load}\n")
    print(table(RATE_HEADER, rate_rows(rates, base, "steps/s", ",.1f")))
    ratio = median(rates["rlgen PPO fp32"]) / median(rates[base])
    paired = [a / b for a, b in zip(rates["rlgen PPO fp32"], rates[base], strict=True)]
    print(f"\nrlgen fp32 / SB3 = {ratio:.2f} (target >= 1.3: {'met' if ratio >= 1.3 else 'MISSED'}); "
          f"median of paired per-rep ratios: {median(paired):.2f}")
    venv.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()
