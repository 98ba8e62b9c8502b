"""LID (Li et al. 2022, "Pre-Trained Language Models for Interactive Decision-Making"): a policy
whose backbone is a causal language model, fine-tuned by behaviour cloning.

Input sequence, one embedding per position: the goal's tokens through (a copy of) the LM's token
embeddings, then the last `history` actions (each its name's token embeddings, averaged), then
one vector per observed item (the mean of its name's token embeddings and its position, through
LID's small MLP). The LM's last hidden states are mean-pooled over the real positions and an MLP
head scores the actions. Loss: cross-entropy on the dataset's actions; AdamW with gradient-norm
clipping, every weight trained (or LoRA adapters on the blocks with `lora = r`).

Embedding tables are restricted to the token ids the env can produce (its goal words, item and
action names), copied from the LM's table: rows outside never reach the model, so this trains
the same function as fine-tuning the whole 49k-row table while AdamW and checkpoints skip ~28M
unused parameters. Each stream has its own copy, as in LID.

Evaluation batches all slots into one forward per step and computes each goal's key/value cache
once per episode: the goal comes first and attention is causal, so its keys, values and hidden
states do not depend on what follows (tests/test_lid.py checks the outputs match a full forward).
The slots' new positions run as one packed sequence without padding; attention gathers each
slot's own keys (rlgen.lm.packed). See docs/lid.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from rlgen.agents.offline import LearnerConfig, OfflineLearner
from rlgen.data.storage import EpisodeDataset, select_episodes
from rlgen.errors import UnknownNameError
from rlgen.lm.backbone import INITS, Backbone, LMPackageError, load_backbone
from rlgen.lm.packed import register as register_packed_attention
from rlgen.lm.packed import slot_layout
from rlgen.lm.views import Items, LMView
from rlgen.policy import Policy

GOAL_FORMATS = ("language", "ids")
_WORDS = re.compile(r"[a-z]+|[^\sa-z]")


@dataclass(frozen=True)
class LIDConfig(LearnerConfig):
    lm: str = "smollm2-135m"      # backbone (rlgen.lm.backbone): smollm2-135m or tiny
    init: str = "pretrained"      # pretrained | random | random_body (pretrained embeddings only)
    layers: int = 4               # keep the first k decoder blocks (0: all 30)
    goal_format: str = "language"  # language: the mission's tokens; ids: one arbitrary token per word
    history: int = 0              # previous actions in the input
    item_hidden: int = 256        # width of LID's item MLP (H)
    lora: int = 0                 # LoRA rank on the blocks (0: full fine-tuning)
    lora_alpha: float = 16.0
    bf16: bool = False            # bfloat16 autocast (GPU runs)
    gradient_checkpointing: bool = False
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    deterministic: bool = False   # act greedily instead of sampling
    eval_envs: int = 100          # evaluation slots stepped in one forward
    demos: int = 0                # learn from the dataset's first N episodes only (0: all)

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise UnknownNameError("LM init", self.init, list(INITS))
        if self.goal_format not in GOAL_FORMATS:
            raise UnknownNameError("goal_format", self.goal_format, list(GOAL_FORMATS))
        for name in ("layers", "history", "lora", "demos"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.item_hidden < 2 or self.eval_envs < 1:
            raise ValueError("item_hidden must be >= 2 and eval_envs >= 1")


class _Table(nn.Module):
    """Rows of the LM's token embeddings for a fixed set of token ids (row 0: the unknown token)
    and the token rows of a fixed list of phrases, pooled on demand."""

    def __init__(self, backbone: Backbone, phrases: list[list[int]], extra: list[int] = ()):
        super().__init__()
        ids = sorted({t for p in phrases for t in p} | set(extra))
        self.row = {t: i + 1 for i, t in enumerate(ids)}
        rows = backbone.embeddings[[backbone.tokenizer.unk_id] + ids]
        self.embed = nn.Embedding.from_pretrained(rows.clone(), freeze=False)
        width = max(1, max((len(p) for p in phrases), default=1))
        tokens = torch.zeros(len(phrases), width, dtype=torch.long)
        mask = torch.zeros(len(phrases), width, dtype=torch.bool)
        for i, p in enumerate(phrases):
            tokens[i, :len(p)] = torch.tensor([self.row[t] for t in p], dtype=torch.long)
            mask[i, :len(p)] = True
        self.register_buffer("tokens", tokens, persistent=False)
        self.register_buffer("mask", mask, persistent=False)

    def pooled(self, which: torch.Tensor) -> torch.Tensor:
        """Mean token embedding of phrases `which` (any shape) -> (*which.shape, width)."""
        uniq, inverse = torch.unique(which, return_inverse=True)
        mask = self.mask[uniq].unsqueeze(-1).float()
        vecs = (self.embed(self.tokens[uniq]) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        # not vecs[inverse]: its backward (index_put_ with accumulate) adds rows in thread order
        # on a multi-threaded CPU, so two identical runs (or a resumed one) drift apart bitwise;
        # index_select's backward (index_add_) sums in index order
        return vecs.index_select(0, inverse.reshape(-1)).reshape(*which.shape, vecs.shape[-1])


class LIDNet(nn.Module):
    """The LID policy network over a backbone and an env's LM view."""

    def __init__(self, backbone: Backbone, view: LMView, num_actions: int, cfg: LIDConfig):
        super().__init__()
        self.cfg, self.view, self.num_actions = cfg, view, num_actions
        tok = backbone.tokenizer
        self.tokenizer = tok
        d = backbone.model.config.hidden_size
        # goal: the lexicon's words as they tokenise at a sentence start and after a space
        if cfg.goal_format == "language":
            goal_phrases = [tok.encode(w) for w in view.lexicon] + [tok.encode(" " + w) for w in view.lexicon]
            self.word_token: dict[str, int] = {}
        else:  # one fixed, arbitrary vocabulary token per lexicon word (LID's "ids" ablation)
            words = sorted({w for phrase in view.lexicon for w in _WORDS.findall(phrase.lower())})
            picks = np.random.default_rng(0).choice(tok.vocab_size, size=len(words), replace=False)
            self.word_token = {w: int(t) for w, t in zip(words, picks, strict=True)}
            goal_phrases = [[t] for t in self.word_token.values()]
        self.goal = _Table(backbone, goal_phrases)
        self.items = _Table(backbone, [tok.encode(n) for n in view.names])
        self.actions = _Table(backbone, [tok.encode(n) for n in view.action_names]) if cfg.history else None
        h = cfg.item_hidden
        self.item_name = nn.Linear(d, h // 2)
        self.item_geo = nn.Sequential(nn.Linear(view.geometry_dim, h // 2), nn.ReLU(), nn.Linear(h // 2, h // 2))
        self.item_out = nn.Sequential(nn.ReLU(), nn.Linear(2 * (h // 2), d))
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, num_actions))
        lm = backbone.model
        lm.embed_tokens = nn.Identity()  # inputs arrive as embeddings; the table lives above
        # evaluation steps pass a slot layout; every other call is plain SDPA (rlgen.lm.packed)
        lm.config._attn_implementation = register_packed_attention()
        if cfg.lora:
            lm = _with_lora(lm, cfg)
        if cfg.gradient_checkpointing:
            lm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        self.lm = lm
        self._goal_rows: dict[str, list[int]] = {}

    # ---- inputs -------------------------------------------------------------------------------
    def goal_rows(self, goals: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Goal strings -> (rows (B, L) into the goal table, mask (B, L)); unknown tokens read
        row 0."""
        rows = []
        for g in goals:
            if g not in self._goal_rows:
                if self.word_token:
                    ids = [self.word_token.get(w, -1) for w in _WORDS.findall(g.lower())]
                else:
                    ids = self.tokenizer.encode(g)
                self._goal_rows[g] = [self.goal.row.get(t, 0) for t in ids] or [0]
            rows.append(self._goal_rows[g])
        width = max(len(r) for r in rows)
        out = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for i, r in enumerate(rows):
            out[i, :len(r)] = torch.tensor(r)
            mask[i, :len(r)] = True
        device = self.head[0].weight.device
        return out.to(device), mask.to(device)

    def step_inputs(self, items: Items, prev: np.ndarray | None) -> dict[str, torch.Tensor]:
        device = self.head[0].weight.device
        out = {"names": torch.as_tensor(items.names, dtype=torch.long, device=device),
               "positions": torch.as_tensor(np.ascontiguousarray(items.positions), device=device),
               "mask": torch.as_tensor(items.mask, device=device)}
        if self.actions is not None:
            out["prev"] = torch.as_tensor(prev, dtype=torch.long, device=device)
        return out

    def _item_vectors(self, names: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        name = self.item_name(self.items.pooled(names))
        return self.item_out(torch.cat([name, self.item_geo(positions.float())], -1))

    def embed_step(self, step: dict[str, torch.Tensor], real_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, d) embeddings and mask of the history actions and the observed items; with
        `real_only`, (N, d) for the N real positions only (slot-major, as `mask.nonzero()`
        orders them), so that no compute goes to padding."""
        mask = step["mask"]
        if real_only:
            x = self._item_vectors(step["names"][mask], step["positions"][mask])
        else:
            x = self._item_vectors(step["names"], step["positions"])
        if self.actions is not None:
            prev = step["prev"]                                    # (B, H); num_actions = none yet
            known = prev < self.num_actions
            if real_only:  # each slot's known actions, then its items (slot-major)
                both = torch.cat([known, mask], 1)
                seq = x.new_zeros(*both.shape, x.shape[-1])
                seq[:, :prev.shape[1]][known] = self.actions.pooled(prev[known])
                seq[:, prev.shape[1]:][mask] = x
                x = seq[both]
            else:
                x = torch.cat([self.actions.pooled(prev.clamp(max=self.num_actions - 1)), x], 1)
            mask = torch.cat([known, mask], 1)
        return x, mask

    # ---- the LM ---------------------------------------------------------------------------------
    def _attention(self, past_mask: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """4-D boolean mask (B, 1, T, P + T): causal over the new positions, padding excluded;
        a padding query sees itself so that no row is empty."""
        t = mask.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=mask.device).tril()
        new = causal[None] & mask[:, None, :]
        new = new | torch.eye(t, dtype=torch.bool, device=mask.device)[None]
        old = past_mask[:, None, :].expand(-1, t, -1)
        return torch.cat([old, new], -1)[:, None]

    def _run(self, x: torch.Tensor, mask: torch.Tensor, past_mask: torch.Tensor,
             past_len: torch.Tensor, cache: Any = None) -> Any:
        positions = past_len[:, None] + (mask.long().cumsum(1) - 1).clamp(min=0)
        return self.lm(inputs_embeds=x, attention_mask=self._attention(past_mask, mask),
                       position_ids=positions, past_key_values=cache, use_cache=cache is not None)

    @staticmethod
    def _pool(h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1), m.sum(1)

    def forward(self, goal: tuple[torch.Tensor, torch.Tensor], step: dict[str, torch.Tensor]) -> torch.Tensor:
        """Action logits (B, A) from a full sequence [goal | history | items]."""
        rows, gmask = goal
        sx, smask = self.embed_step(step)
        x = torch.cat([self.goal.embed(rows), sx], 1)
        mask = torch.cat([gmask, smask], 1)
        empty = mask[:, :0]
        h = self._run(x, mask, empty, torch.zeros(len(x), dtype=torch.long, device=x.device)).last_hidden_state
        total, count = self._pool(h, mask)
        return self.head(total / count.clamp(min=1e-9))

    def prefix(self, goal: tuple[torch.Tensor, torch.Tensor]) -> list[dict[str, Any]]:
        """Per goal: its per-layer keys/values (heads, length, head_dim), and the sum and count
        of its last hidden states (for the mean pooling)."""
        from transformers import DynamicCache

        rows, gmask = goal
        x = self.goal.embed(rows)
        cache = DynamicCache(config=self.lm.config)
        out = self._run(x, gmask, gmask[:, :0], torch.zeros(len(x), dtype=torch.long, device=x.device), cache)
        total, count = self._pool(out.last_hidden_state, gmask)
        kv = [(layer.keys, layer.values) for layer in cache.layers]
        lengths = gmask.sum(1).tolist()
        return [{"kv": [(k[i, :, :n], v[i, :, :n]) for k, v in kv], "sum": total[i], "count": count[i]}
                for i, n in enumerate(lengths)]

    @staticmethod
    def pack(prefixes: list[dict[str, Any]]) -> dict[str, Any]:
        """Goal prefixes of several slots laid end to end as one sequence (`length`: each slot's
        share, in slot order), so that a step packs the slots' new positions without padding."""
        lengths = [p["kv"][0][0].shape[1] for p in prefixes]
        device = prefixes[0]["sum"].device
        kv = [(torch.cat([p["kv"][i][0] for p in prefixes], 1)[None],
               torch.cat([p["kv"][i][1] for p in prefixes], 1)[None]) for i in range(len(prefixes[0]["kv"]))]
        return {"kv": kv, "length": torch.tensor(lengths, device=device),
                "sum": torch.stack([p["sum"] for p in prefixes]),
                "count": torch.stack([p["count"] for p in prefixes])}

    def step(self, packed: dict[str, Any], step: dict[str, torch.Tensor]) -> torch.Tensor:
        """Action logits for one step of each slot after its cached goal prefix (`pack`ed).
        The slots' real new positions run as one packed sequence (no compute on padding in the
        projections and MLPs); attention gathers each slot's own goal and earlier positions
        (rlgen.lm.packed), so it too grows with the slots, not with the square of the pack."""
        from transformers import DynamicCache

        x, mask = self.embed_step(step, real_only=True)          # x: (N, d), slot-major
        rows = mask.nonzero(as_tuple=True)[0]
        b = len(mask)
        total = x.new_zeros(b, x.shape[-1])
        if len(rows):
            layout = slot_layout(rows, packed["length"], b)
            positions = (packed["length"][rows] + layout.cols)[None]
            out = self.lm(inputs_embeds=x[None], attention_mask=None, position_ids=positions,
                          past_key_values=DynamicCache(ddp_cache_data=packed["kv"]), use_cache=True,
                          slot_layout=layout).last_hidden_state[0]
            total = total.index_add(0, rows, out.to(total.dtype))
        count = mask.sum(1, keepdim=True).to(total.dtype)
        return self.head((total + packed["sum"]) / (count + packed["count"]).clamp(min=1e-9))


def _with_lora(lm: nn.Module, cfg: LIDConfig) -> nn.Module:
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError:
        raise LMPackageError("lora needs the peft package: pip install -e '.[lm]'") from None
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    lm = inject_adapter_in_model(LoraConfig(r=cfg.lora, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                                            target_modules=targets), lm)
    for name, p in lm.named_parameters():
        p.requires_grad = "lora_" in name
    return lm


class StepSampler:
    """Uniform steps of the dataset and, for each, the previous `history` actions of its episode
    (oldest first; `num_actions` where the episode had not started)."""

    def __init__(self, ds: EpisodeDataset, history: int, num_actions: int, seed: int = 0):
        self.n, self.k, self.pad = ds.num_transitions, history, num_actions
        self.rng = np.random.default_rng(seed)
        self.start = ds.starts[ds.episode_ids()]
        self.actions = np.asarray(ds.fields["actions"]).astype(np.int64)

    def sample(self, batch: int) -> np.ndarray:
        return self.rng.integers(self.n, size=batch)

    def previous(self, idx: np.ndarray) -> np.ndarray:
        back = idx[:, None] - np.arange(self.k, 0, -1)[None]
        valid = back >= self.start[idx][:, None]
        return np.where(valid, self.actions[np.maximum(back, 0)], self.pad)


def _rows(obs: Any, idx: np.ndarray, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {k: np.asarray(obs[k][idx]) for k in keys}


class LID(OfflineLearner):
    """Offline: LID, a pretrained causal LM (SmolLM2-135M) as the policy, behaviour-cloned."""

    name = "lid"
    config_class = LIDConfig
    requires = ("discrete_actions",)

    @classmethod
    def misfit(cls, spec) -> str | None:
        reason = super().misfit(spec)
        if reason is None and not hasattr(spec.impl, "lm_view"):
            return f"lid needs an env with a language-model view (babyai, minihack), which {spec.id} lacks"
        return reason

    @classmethod
    def check_config(cls, config: LIDConfig, spec) -> LIDConfig:
        from rlgen.lm.backbone import check_backbone

        check_backbone(config.lm)  # a missing package or a broken cache fails before the run starts
        return super().check_config(config, spec)

    @property
    def eval_envs(self) -> int:
        return int(self.config.eval_envs)

    def build(self) -> None:
        cfg = self.config
        self.view = self.spec.impl.lm_view(self.spec)
        backbone = load_backbone(cfg.lm, cfg.init, cfg.layers)
        self.backbone_info = {"lm": backbone.name, "init": backbone.init, "layers": backbone.layers,
                              "total_layers": backbone.total_layers}
        self.nets = {"policy": LIDNet(backbone, self.view, self.spec.num_actions, cfg)}

    def make_optimizers(self) -> None:
        cfg = self.config
        params = [p for p in self.nets["policy"].parameters() if p.requires_grad]
        self.optimizers = {"policy": torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8,
                                                       weight_decay=cfg.weight_decay)}

    def filter_dataset(self, ds: EpisodeDataset) -> EpisodeDataset:
        n = self.config.demos
        if not n:
            return ds
        if n > ds.num_episodes:
            raise ValueError(f"demos={n} but the dataset holds {ds.num_episodes} episodes")
        return select_episodes(ds, np.arange(n))

    def make_sampler(self, ds: EpisodeDataset) -> StepSampler:
        return StepSampler(ds, self.config.history, self.spec.num_actions, self.seed)

    def sample_batch(self) -> np.ndarray:
        return self.sampler.sample(self.config.batch_size)

    def batch_inputs(self, idx: np.ndarray) -> tuple[Any, dict[str, torch.Tensor]]:
        net = self.nets["policy"]
        obs = _rows(self.data.fields["observations"], idx, self.view.keys)
        prev = self.sampler.previous(idx) if self.config.history else None
        return net.goal_rows(self.view.goals(obs)), net.step_inputs(self.view.items(obs), prev)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.bf16)

    def update(self, idx: np.ndarray) -> dict[str, float]:
        net, opt = self.nets["policy"], self.optimizers["policy"]
        goal, step = self.batch_inputs(idx)
        actions = torch.as_tensor(self.sampler.actions[idx], device=self.device)
        with self.autocast():
            logits = net(goal, step)
        loss = nn.functional.cross_entropy(logits.float(), actions)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(net.parameters(), self.config.grad_clip)
        opt.step()
        return {"loss/bc": float(loss.detach()), "train/grad_norm": float(norm)}

    def acting_policy(self, deterministic: bool, seed: int) -> LIDPolicy:
        return LIDPolicy(self.nets["policy"], self.device, deterministic, seed, self.config.bf16)


#: slots packed into one sequence per forward: attention costs grow linearly with a pack
#: (rlgen.lm.packed), so a large pack only bounds one forward's memory, and fewer forwards per
#: step mean fewer, larger matrix products
CHUNK = 128


class LIDPolicy(Policy):
    """All slots stepped together (packed in chunks of CHUNK slots, one forward each); each slot's
    goal prefix (keys/values, pooled sum) is computed when its goal changes and reused for the
    rest of the episode. Idle slots (`end`) run no positions of their own."""

    def __init__(self, net: LIDNet, device: torch.device, deterministic: bool, seed: int = 0,
                 bf16: bool = False):
        self.net, self.device, self.deterministic, self.bf16 = net, device, deterministic, bf16
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.k = net.cfg.history
        self.goals: list[str | None] = []
        self.slot_prefix: list[dict[str, Any] | None] = []
        self.prev = np.zeros((0, self.k), dtype=np.int64)
        self.idle = np.zeros(0, dtype=bool)
        self.packs: list[dict[str, Any]] = []
        self.slots_packed = 0

    def _grow(self, n: int) -> None:
        while len(self.goals) < n:
            self.goals.append(None)
            self.slot_prefix.append(None)
        if len(self.prev) < n:
            extra = np.full((n - len(self.prev), self.k), self.net.num_actions, dtype=np.int64)
            self.prev = np.concatenate([self.prev, extra])
            self.idle = np.concatenate([self.idle, np.zeros(n - len(self.idle), dtype=bool)])

    def begin(self, slots: np.ndarray) -> None:
        slots = np.asarray(slots, dtype=np.int64)
        if len(slots):
            self._grow(int(slots.max()) + 1)
            self.prev[slots] = self.net.num_actions
            self.idle[slots] = False

    def end(self, slots: np.ndarray) -> None:
        slots = np.asarray(slots, dtype=np.int64)
        if len(slots):
            self._grow(int(slots.max()) + 1)
            self.idle[slots] = True

    def _refresh(self, goals: list[str]) -> None:
        """Compute prefixes for the slots whose goal changed and re-pack the chunks they are in."""
        changed = [i for i, g in enumerate(goals) if self.goals[i] != g]
        if changed:
            for i, pre in zip(changed, self.net.prefix(self.net.goal_rows([goals[i] for i in changed])),
                              strict=True):
                self.slot_prefix[i], self.goals[i] = pre, goals[i]
        if len(self.packs) * CHUNK < len(goals) or self.slots_packed != len(goals):
            self.packs, self.slots_packed, changed = [], len(goals), list(range(len(goals)))
        for c in sorted({i // CHUNK for i in changed}):
            pack = self.net.pack(self.slot_prefix[c * CHUNK:min(len(goals), (c + 1) * CHUNK)])
            if c < len(self.packs):
                self.packs[c] = pack
            else:
                self.packs.append(pack)

    @torch.inference_mode()
    def act(self, obs: Any, infos: list[dict] | None = None) -> np.ndarray:
        view = self.net.view
        goals = view.goals(obs)
        self._grow(len(goals))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            self._refresh(goals)
            items, prev, idle = view.items(obs), self.prev[:len(goals)], self.idle[:len(goals)]
            if idle.any():  # stale rows: their logits come from the goal prefix alone
                items = replace(items, mask=items.mask & ~idle[:, None])
                prev = np.where(idle[:, None], self.net.num_actions, prev)
            step = self.net.step_inputs(items, prev if self.k else None)
            logits = torch.cat([self.net.step(pack, {k: v[c * CHUNK:(c + 1) * CHUNK] for k, v in step.items()})
                                for c, pack in enumerate(self.packs)]).float()
        if self.deterministic:
            choice = logits.argmax(-1)
        else:
            choice = torch.multinomial(torch.softmax(logits, -1), 1, generator=self.generator).squeeze(-1)
        actions = choice.cpu().numpy()
        if self.k:
            self.prev[:len(goals)] = np.concatenate([self.prev[:len(goals), 1:], actions[:, None]], 1)
        return actions
