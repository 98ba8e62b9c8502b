"""lid speed against peers in the same run (issue 13's targets: evaluation >= 5x, training >= 1x).

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD nice python scripts/bench/lid.py --layers 2

1. Evaluation episodes/s on `babyai:GoToLocal` test seeds: lid's policy (every slot in one
   forward per step, each goal's key/value prefix computed once per episode) vs a naive policy
   that runs the full [goal | items] sequence through the same network for one env at a time
   (the evaluator with one slot). Both act greedily with the same weights, so they play the
   same episodes.
2. Training tokens/s: lid's own step (`agent.update(agent.sample_batch())`: sampling, item
   naming, goal tokenising, forward, backward, clipping, AdamW) vs a plain transformers loop
   on the same decoder blocks and batch shape: `LlamaModel` with its full 49,152-row token
   table fed token ids (B, T) with a padding mask, mean pooling, the same head, cross-entropy,
   clipping and `torch.optim.AdamW`, batches prepared before the clock starts. Tokens = real
   (unpadded) positions of the batch. Repetitions are interleaved.

`--profile` instead runs one batched evaluation under cProfile and prints where its time went
(the decoder's matrix products, attention, the env's own step) and the products' GFLOP/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from _timing import RATE_HEADER, interleave, load_average, quiet_torch_threads, rate_rows, table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--episodes", type=int, default=32, help="evaluation episodes per repetition")
    p.add_argument("--batch", type=int, default=32, help="training batch")
    p.add_argument("--steps", type=int, default=3, help="training steps per repetition")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--dataset", default="/tmp/lid/GoToLocal-50k", help="a babyai:GoToLocal dataset")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip", default="", help="eval or train")
    p.add_argument("--profile", action="store_true", help="profile one batched evaluation and stop")
    args = p.parse_args()
    quiet_torch_threads(args.threads)

    import numpy as np
    import torch
    from torch import nn

    from rlgen.agents.factory import make_agent
    from rlgen.data.storage import EpisodeDataset
    from rlgen.eval.evaluate import run_episodes
    from rlgen.policy import Policy

    torch.set_num_threads(args.threads)
    agent = make_agent("lid", "babyai:GoToLocal", {"layers": args.layers, "batch_size": args.batch},
                       seed=0, device="cpu")
    agent.attach(EpisodeDataset.load(args.dataset))
    agent.fit(None, 20, progress=False)  # a little training, so episodes are not all timeouts
    net, spec = agent.nets["policy"].eval(), agent.spec
    print(f"lid: SmolLM2-135M, {args.layers} blocks, load {load_average()}", flush=True)

    class Naive(Policy):
        @torch.inference_mode()
        def act(self, obs, infos=None):
            logits = net(net.goal_rows(net.view.goals(obs)), net.step_inputs(net.view.items(obs), None))
            return logits.argmax(-1).numpy()

    if args.profile:
        profile(agent, spec, args.episodes)
        return
    out = []
    if "eval" not in args.skip:
        def batched() -> float:
            start = time.perf_counter()
            run_episodes(agent.policy(deterministic=True), spec, "test", args.episodes,
                         num_envs=args.episodes, progress=False)
            return args.episodes / (time.perf_counter() - start)

        def naive() -> float:
            start = time.perf_counter()
            run_episodes(Naive(), spec, "test", args.episodes, num_envs=1, progress=False)
            return args.episodes / (time.perf_counter() - start)

        a = run_episodes(agent.policy(deterministic=True), spec, "test", args.episodes,
                         num_envs=args.episodes, progress=False)
        b = run_episodes(Naive(), spec, "test", args.episodes, num_envs=1, progress=False)
        same = sum(x["length"] == y["length"] and x["return"] == y["return"] for x, y in zip(a, b, strict=True))
        print(f"same episodes: {same}/{args.episodes}; mean length {np.mean([x['length'] for x in a]):.1f}")
        rates = interleave({"naive, one env per forward": naive,
                            "lid: batched + goal KV prefix": batched}, args.reps)
        out.append(f"Evaluation, {args.episodes} episodes of babyai:GoToLocal test seeds "
                   f"(load {load_average()}):\n\n"
                   + table(RATE_HEADER, rate_rows(rates, "naive, one env per forward", "episodes/s", ",.2f")))

    if "train" not in args.skip:
        from rlgen.lm.backbone import load_backbone

        plain = load_backbone("smollm2-135m", "pretrained", args.layers).model  # full token table
        head = nn.Sequential(nn.Linear(576, 576), nn.ReLU(), nn.Linear(576, spec.num_actions))
        params = list(plain.parameters()) + list(head.parameters())
        opt = torch.optim.AdamW(params, lr=1e-4)
        agent.nets["policy"].train()
        plain.train()
        # the same sampled steps for both; the plain loop gets token ids of the same shape and
        # padding as lid's sequences, built before its clock starts
        indices = [agent.sample_batch() for _ in range(args.steps)]
        batches, tokens = [], 0
        for idx in indices:
            goal, step = agent.batch_inputs(idx)
            mask = torch.cat([goal[1], step["mask"]], 1)
            batches.append((torch.randint(0, 49152, mask.shape), mask.long(),
                            torch.as_tensor(agent.sampler.actions[idx])))
            tokens += int(mask.sum())

        def ours() -> float:
            start = time.perf_counter()
            for idx in indices:
                agent.update(idx)
            return tokens / (time.perf_counter() - start)

        def plain_loop() -> float:
            start = time.perf_counter()
            for ids, mask, actions in batches:
                h = plain(input_ids=ids, attention_mask=mask).last_hidden_state
                m = mask.unsqueeze(-1).float()
                loss = nn.functional.cross_entropy(head((h * m).sum(1) / m.sum(1)), actions)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
            return tokens / (time.perf_counter() - start)

        rates = interleave({"plain transformers loop": plain_loop, "lid update": ours}, args.reps)
        n_ours = sum(p.numel() for p in agent.nets["policy"].parameters())
        n_plain = sum(p.numel() for p in plain.parameters()) + sum(p.numel() for p in head.parameters())
        out.append(f"Training, batch {args.batch}, {tokens / len(indices):.0f} real tokens a batch, "
                   f"{args.layers} blocks; parameters lid {n_ours / 1e6:.1f}M, plain "
                   f"{n_plain / 1e6:.1f}M (load {load_average()}):\n\n"
                   + table(RATE_HEADER, rate_rows(rates, "plain transformers loop", "tokens/s")))
    print(f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n")
    print("\n\n".join(out))


def profile(agent, spec, episodes: int) -> None:
    import cProfile
    import pstats

    from rlgen.eval.evaluate import run_episodes

    net, positions = agent.nets["policy"], []
    hook = net.lm.register_forward_pre_hook(
        lambda _, args, kw: positions.append(kw["inputs_embeds"].shape[1]), with_kwargs=True)
    prof = cProfile.Profile()
    prof.enable()
    run_episodes(agent.policy(deterministic=True), spec, "test", episodes, num_envs=episodes, progress=False)
    prof.disable()
    hook.remove()
    stats = pstats.Stats(prof).stats  # {(file, line, name): (calls, primitive, own, cumulative, callers)}
    total = max(v[3] for v in stats.values())

    def own(name: str) -> float:
        return sum(v[2] for k, v in stats.items() if k[2] == name)

    def cumulative(file_end: str, name: str) -> float:
        return sum(v[3] for k, v in stats.items() if k[0].endswith(file_end) and k[2] == name)

    cfg = net.lm.config
    d = cfg.hidden_size
    kv = cfg.num_key_value_heads * (d // cfg.num_attention_heads)
    per_position = 2 * cfg.num_hidden_layers * (2 * d * d + 2 * d * kv + 3 * d * cfg.intermediate_size)
    linear = own("<built-in method torch._C._nn.linear>")
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load {load_average()}: {episodes} episodes in "
          f"{total:.2f} s; {sum(positions):,} LM positions in {len(positions)} calls")
    for label, t in [("linear layers (decoder, item MLP, head)", linear),
                     ("attention (SDPA)", own("<built-in method torch._C._nn.scaled_dot_product_attention>")),
                     ("env step (minigrid)", cumulative("babyai/env.py", "step"))]:
        print(f"  {label}: {t:.2f} s ({t / total:.0%})")
    print(f"  decoder projections: {per_position * sum(positions) / 1e9:.0f} GFLOP, "
          f"{per_position * sum(positions) / 1e9 / linear:.0f} GFLOP/s over all linear layers' time")


if __name__ == "__main__":
    main()
