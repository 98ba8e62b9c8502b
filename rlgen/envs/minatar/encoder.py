"""The MinAtar network body: one 3x3 convolution and a hidden layer, as in the MinAtar paper's
DQN and actor-critic agents (Young & Tian 2019); `conv_channels=0` gives a plain MLP on the
flattened grid (the form gymnax-based PPO uses)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MinAtarEncoderConfig:
    conv_channels: int = 16
    hidden: int = 128
    layers: int = 1  # hidden layers after the convolution (or on the flat grid)


class MinAtarEncoder(nn.Module):
    """uint8 0/1 grids (B, 10, 10, C) -> features (B, hidden)."""

    def __init__(self, in_channels: int, config: MinAtarEncoderConfig = MinAtarEncoderConfig()):
        super().__init__()
        self.conv = (nn.Conv2d(in_channels, config.conv_channels, 3) if config.conv_channels
                     else None)
        width = config.conv_channels * 8 * 8 if config.conv_channels else in_channels * 100
        layers: list[nn.Module] = []
        for _ in range(max(1, config.layers)):
            layers += [nn.Linear(width, config.hidden), nn.ReLU()]
            width = config.hidden
        self.mlp = nn.Sequential(*layers)
        self.out_dim = config.hidden

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.permute(0, 3, 1, 2).float()  # a channels-last view, no copy
        if self.conv is not None:
            x = torch.relu(self.conv(x))
        return self.mlp(x.flatten(1))
