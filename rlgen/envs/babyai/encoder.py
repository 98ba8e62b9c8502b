"""The BabyAI network body: per-cell embeddings of the symbolic view (object, colour and state
each embedded and summed, as in BabyAI 1.1's "bag of words" image input), two 3x3
convolutions, and a mean embedding bag over the mission's word ids."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rlgen.envs.babyai.env import VIEW, VOCAB

#: value ranges of the view's three channels (minigrid's object, colour and state indices)
CHANNEL_SIZES = (11, 6, 3)


@dataclass(frozen=True)
class BabyAIEncoderConfig:
    cell_dim: int = 16       # embedding width of a view cell
    channels: int = 32       # width of the two convolutions
    mission_dim: int = 32    # embedding width of a mission word
    hidden: int = 128        # output width


class BabyAIEncoder(nn.Module):
    """{"image": (B, 7, 7, 3) uint8, "mission_tokens": (B, T) uint8, ...} -> (B, hidden)."""

    def __init__(self, config: BabyAIEncoderConfig = BabyAIEncoderConfig()):
        super().__init__()
        self.cells = nn.Embedding(sum(CHANNEL_SIZES), config.cell_dim)
        self.register_buffer("offsets", torch.tensor([0, CHANNEL_SIZES[0], sum(CHANNEL_SIZES[:2])]),
                             persistent=False)
        self.register_buffer("largest", torch.tensor(CHANNEL_SIZES) - 1, persistent=False)
        self.conv = nn.Sequential(
            nn.Conv2d(config.cell_dim, config.channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(config.channels, config.channels, 3, stride=2), nn.ReLU())
        side = (VIEW - 3) // 2 + 1
        self.words = nn.EmbeddingBag(len(VOCAB), config.mission_dim, mode="mean", padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(config.channels * side * side + config.mission_dim,
                                           config.hidden), nn.ReLU())
        self.out_dim = config.hidden

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        # clamped so that an out-of-range index cannot read another channel's embeddings
        image = torch.minimum(obs["image"].long(), self.largest)
        x = self.cells(image + self.offsets).sum(-2)          # (B, 7, 7, cell_dim)
        x = self.conv(x.permute(0, 3, 1, 2)).flatten(1)
        words = self.words(obs["mission_tokens"].long())      # padding ids add nothing
        return self.mlp(torch.cat([x, words], dim=1))
