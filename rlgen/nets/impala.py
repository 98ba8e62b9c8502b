"""IMPALA CNN (Espeholt et al. 2018) as used by Procgen's baselines: three conv sequences
[16, 32, 32], each conv -> max-pool -> two residual blocks, then a 256-unit linear layer."""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


class ConvSequence(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.res0 = ResidualBlock(out_channels)
        self.res1 = ResidualBlock(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res1(self.res0(self.pool(self.conv(x))))


class ImpalaEncoder(nn.Module):
    """uint8 HWC frames (B, H, W, C) -> features (B, out_dim).

    The permute to NCHW is a view whose memory is already channels-last, which is the fast
    layout for CPU convolutions, so no copy is made.
    """

    def __init__(self, obs_shape: tuple[int, int, int] = (64, 64, 3),
                 channels: tuple[int, ...] = (16, 32, 32), out_dim: int = 256):
        super().__init__()
        h, w, c = obs_shape
        layers = []
        for out_channels in channels:
            layers.append(ConvSequence(c, out_channels))
            c, h, w = out_channels, (h + 1) // 2, (w + 1) // 2
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(c * h * w, out_dim)
        self.out_dim = out_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.permute(0, 3, 1, 2).float().div_(255.0)
        x = torch.relu(self.convs(x))
        return torch.relu(self.fc(x.flatten(1)))


def layer_init(layer: nn.Linear, std: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.zeros_(layer.bias)
    return layer
