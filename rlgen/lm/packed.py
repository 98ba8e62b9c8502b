"""Attention for several short sequences packed into one, each after its own cached prefix.

An evaluation step of an LM policy runs the new positions of many slots as one packed sequence
(no padding in the projections and MLPs, which are most of the compute) after their prefixes'
cached keys and values, also laid end to end. Plain SDPA over that pack computes every query
against every key and masks all but its own slot's: the work grows with the square of the pack
while the useful part grows linearly. `packed_attention` instead gathers each slot's queries
and keys into a small padded batch (slots x their longest new part, against their longest
prefix plus that), runs one SDPA call over it and scatters the outputs back into pack order.

It is registered with transformers' attention interface as `ATTENTION` and reads its layout
from the `slot_layout` keyword that `model(..., slot_layout=...)` forwards to every layer; any
call without one (training, the prefix pass) is transformers' own SDPA attention, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ATTENTION = "rlgen_packed_sdpa"


@dataclass(frozen=True)
class SlotLayout:
    """Where each slot's positions sit. Queries: `query_index` (B, Q) into the pack's new
    positions. Keys: `key_index` (B, G + Q) into [prefixes | new positions]. `mask` (B, 1, Q,
    G + Q): a slot's query sees its own prefix and its own earlier new positions. `rows`,
    `cols`: slot and place (in the padded query batch) of each new position, in pack order."""

    query_index: torch.Tensor
    key_index: torch.Tensor
    mask: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor


def slot_layout(rows: torch.Tensor, prefix_length: torch.Tensor, slots: int) -> SlotLayout:
    """Layout of a pack whose new position n belongs to slot `rows[n]` (rows non-decreasing: the
    pack is slot-major), after prefixes of `prefix_length` (slots,) laid end to end."""
    device = rows.device
    count = torch.bincount(rows, minlength=slots)
    start = torch.cumsum(count, 0) - count                      # first new position of each slot
    cols = torch.arange(len(rows), device=device) - start[rows]
    q, g = max(1, int(count.max())), int(prefix_length.max())
    prefix_start = torch.cumsum(prefix_length, 0) - prefix_length
    j, i = torch.arange(g, device=device), torch.arange(q, device=device)
    prefix_valid = j[None] < prefix_length[:, None]
    new_valid = i[None] < count[:, None]
    query_index = torch.where(new_valid, start[:, None] + i[None], 0)
    key_index = torch.cat([torch.where(prefix_valid, prefix_start[:, None] + j[None], 0),
                           int(prefix_length.sum()) + query_index], 1)
    causal = (i[:, None] >= i[None]) & new_valid[:, None, :]  # (B, Q, Q)
    # every slot has a non-empty prefix, so no query row (padding ones included) is all masked
    mask = torch.cat([prefix_valid[:, None, :].expand(-1, q, -1), causal], 2)[:, None]
    return SlotLayout(query_index, key_index, mask, rows, cols)


def packed_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                     slot_layout: SlotLayout | None = None, **kwargs):
    """transformers attention function: (1, heads, N, d) queries of a pack against (1, kv
    heads, P + N, d) keys and values -> (1, N, heads, d)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if slot_layout is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling,
                                      dropout=dropout, **kwargs)
    lay = slot_layout
    q = query[0][:, lay.query_index].transpose(0, 1)            # (B, heads, Q, d)
    k = key[0][:, lay.key_index].transpose(0, 1)                # (B, kv heads, G + Q, d)
    v = value[0][:, lay.key_index].transpose(0, 1)
    out = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=lay.mask, scale=scaling, enable_gqa=q.shape[1] != k.shape[1])
    return out.transpose(1, 2)[lay.rows, lay.cols][None], None   # (1, N, heads, d)


def register() -> str:
    """Register `packed_attention` with transformers (idempotent); returns its name."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION, packed_attention)
    return ATTENTION
